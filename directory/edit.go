package directory

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Staff edits go through the importer's own machinery: each value is parsed
// by Field.Parse (the importer's validation), required fields and
// references are checked as the importer checks them, and the row is
// written by the importer's writer, which records every changed field in
// the HSDS metadata table, in the same transaction as the change feed entry
// that makes search reindex the listing.

// Editable lists the tables staff edit and, for each, the columns the
// generic form leaves out: the id, the links to the parent (set from the
// parent) and the columns the system keeps (verification, last change).
var Editable = map[string][]string{
	"organization":        {"parent_organization_id"},
	"service":             {"assured_date", "assurer_email", "last_modified"},
	"location":            {"organization_id"},
	"address":             {"location_id"},
	"service_at_location": {"service_id"},
	"phone":               {"location_id", "service_id", "organization_id", "contact_id", "service_at_location_id"},
	"schedule":            {"service_id", "location_id", "service_at_location_id"},
	"language":            {"service_id", "location_id", "phone_id"},
	"required_document":   {"service_id"},
	"attribute":           {"link_id", "link_type", "link_entity"},
}

// Deletable are the tables whose rows staff may remove outright: nothing
// hangs from them. Services are retired, not deleted.
var Deletable = []string{"service_at_location", "phone", "schedule", "language", "required_document", "attribute", "address"}

// ExtraFields are the extension properties staff edit beside a table's own
// fields (the Spanish texts of the public pages).
var ExtraFields = map[string][]Field{
	"organization": {{Name: "description_es", Type: "string"}},
	"service": {{Name: "name_es", Type: "string"}, {Name: "description_es", Type: "string"},
		{Name: "reopens_on", Type: "date"}},
}

func extraField(table, name string) (Field, bool) {
	for _, f := range ExtraFields[table] {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// EditableFields returns the fields of table the staff form shows, in HSDS
// order.
func EditableFields(table string) []Field {
	t := Schema.Table(table)
	var out []Field
	for _, f := range t.Fields {
		if f.Name == "id" || slices.Contains(Editable[table], f.Name) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// RowVersion is the optimistic-locking token of a row: a hash of every
// stored value. A form carries the version it was loaded with; a save whose
// version is not the row's current one is refused (ECONFLICT).
func RowVersion(r Row) string {
	return fmt.Sprintf("%016x", valuesHash(r.Values, r.Extra))
}

// Row returns one stored row of table (ENOTFOUND when absent).
func (s *Store) Row(ctx context.Context, table, id string) (Row, error) {
	t, ok := Schema.Tables[table]
	if !ok {
		return Row{}, apperr.Errorf(apperr.ENOTFOUND, "There is no such kind of record.")
	}
	return getRow(ctx, s.db.Read, t, id)
}

// Children returns the rows of table whose column col is id, in the order
// they were added.
func (s *Store) Children(ctx context.Context, table, col, id string) ([]Row, error) {
	return rows(ctx, s.db.Read, Schema.Table(table), col+" = ? ORDER BY rowid", id)
}

// FieldErrors is a refused edit: a message per field, beside which the
// form shows it. It is EINVALID for apperr.
type FieldErrors map[string]string

func (fe FieldErrors) Error() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(fe)) {
		parts = append(parts, k+": "+fe[k])
	}
	return "invalid: " + strings.Join(parts, "; ")
}

// Unwrap lets apperr.Code see EINVALID.
func (fe FieldErrors) Unwrap() error {
	return apperr.Errorf(apperr.EINVALID, "Some fields need another look: %s", strings.Join(slices.Sorted(maps.Keys(fe)), ", "))
}

// ConflictError is a save refused because the row changed since the form
// was loaded; Current is the row as it is now.
type ConflictError struct {
	Current Row
}

func (e *ConflictError) Error() string { return "conflict: the record changed since it was opened" }

// Unwrap lets apperr.Code see ECONFLICT.
func (e *ConflictError) Unwrap() error {
	return apperr.Errorf(apperr.ECONFLICT, "Someone else saved this record after you opened it. Nothing of yours was saved: compare the changes below and save again.")
}

// Edit is one staff change to one row.
type Edit struct {
	Table string
	// ID is the row to change; empty creates a row (with a new id).
	ID string
	// Version is RowVersion of the row as the form showed it; required
	// when ID is set.
	Version string
	// Values holds the text typed for each field shown; fields not in it
	// keep their stored values. Empty text clears a field.
	Values map[string]string
	// Fixed sets columns the form does not show (a new phone's service_id).
	Fixed map[string]any
	// Extra holds extension properties (name_es ...); empty text removes one.
	Extra map[string]string
	// Actor is who edits (their email), recorded as updated_by.
	Actor string
	// Listing is the service (or organization) the change belongs to, so
	// that the listing's history shows it even after the row is gone.
	Listing string
	// Note is kept with the change in the history (why, or what was
	// checked).
	Note string
	// VerifiedOn, for a service, also marks it verified by Actor on this
	// date (YYYY-MM-DD) in the same write: edit then verify in one step.
	VerifiedOn string
	// DryRun validates (in the transaction, against the stored rows) and
	// writes nothing: a partner's proposal is checked this way.
	DryRun bool
	// Check, if set, runs inside the transaction before anything is
	// written, with the row as it will be (partners' scope checks).
	Check func(ctx context.Context, q Querier, table string, values map[string]any) error
}

// Querier is what Edit.Check may read with: the editing transaction.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// maxNote bounds a note kept in the history.
const maxNote = 2000

// SaveRow validates and writes one edit; it returns the row's id. A refused
// edit is FieldErrors (EINVALID) or *ConflictError (ECONFLICT); a row that
// is gone is ENOTFOUND.
func (s *Store) SaveRow(ctx context.Context, e Edit) (string, error) {
	ids, err := s.saveRows(ctx, []Edit{e})
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// saveRows writes several edits in one transaction (all or nothing).
func (s *Store) saveRows(ctx context.Context, edits []Edit) ([]string, error) {
	now := s.Now().UTC()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var ids []string
	var touched []rowRef
	for _, e := range edits {
		id, err := s.saveInTx(ctx, tx, now, e)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
		touched = append(touched, rowRef{e.Table, id})
	}
	if len(edits) > 0 && edits[0].DryRun {
		return ids, nil // the deferred rollback undoes it
	}
	services, err := logChanges(ctx, tx, touched, now)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit edit: %w", err)
	}
	if s.OnChange != nil && len(services) > 0 {
		s.OnChange(services)
	}
	return ids, nil
}

func (s *Store) saveInTx(ctx context.Context, tx *sql.Tx, now time.Time, e Edit) (string, error) {
	t, ok := Schema.Tables[e.Table]
	if _, editable := Editable[e.Table]; !ok || !editable {
		return "", apperr.Errorf(apperr.ENOTFOUND, "There is no such kind of record.")
	}
	rec := Record{Table: t.Name, Values: map[string]any{}}
	var old *Row
	if e.ID != "" {
		r, err := getRow(ctx, tx, t, e.ID)
		if err != nil {
			return "", err
		}
		if e.Version != RowVersion(r) {
			return "", &ConflictError{Current: r}
		}
		old = &r
		rec.Values = maps.Clone(r.Values)
		rec.Extra = maps.Clone(r.Extra)
	} else {
		rec.Values["id"] = uuid.NewString()
	}
	errs := FieldErrors{}
	for name, text := range e.Values {
		f, ok := t.Field(name)
		if !ok || name == "id" || slices.Contains(Editable[t.Name], name) {
			errs[name] = "cannot be changed here"
			continue
		}
		v, err := f.Parse(text)
		if err != nil {
			errs[name] = err.Error()
			continue
		}
		rec.Values[name] = v
	}
	for name, v := range e.Fixed {
		rec.Values[name] = v
	}
	for name, text := range e.Extra {
		f, ok := extraField(t.Name, name)
		if !ok {
			errs[name] = "cannot be changed here"
			continue
		}
		v, err := f.Parse(text)
		if err != nil {
			errs[name] = err.Error()
			continue
		}
		if rec.Extra == nil {
			rec.Extra = map[string]any{}
		}
		if v == nil {
			delete(rec.Extra, name)
		} else {
			rec.Extra[name] = strings.TrimSpace(v.(string))
		}
	}
	if len(rec.Extra) == 0 {
		rec.Extra = nil
	}
	if e.VerifiedOn != "" {
		if t.Name != "service" {
			return "", apperr.Errorf(apperr.EINVALID, "Only services are verified.")
		}
		for name, text := range map[string]string{"assured_date": e.VerifiedOn, "assurer_email": e.Actor} {
			f, _ := t.Field(name)
			v, err := f.Parse(text)
			if err != nil || v == nil {
				return "", apperr.Errorf(apperr.EINVALID, "Cannot mark verified: %s %q is not usable.", Label(name), text)
			}
			rec.Values[name] = v
		}
	}
	note := strings.TrimSpace(e.Note)
	if !validText(note) || utf8.RuneCountInString(note) > maxNote {
		errs["note"] = fmt.Sprintf("must be text of at most %d characters", maxNote)
	}
	// Required fields and references, as the importer checks them.
	for _, f := range t.Fields {
		if f.Required && rec.Values[f.Name] == nil && errs[f.Name] == "" {
			errs[f.Name] = "is required and empty"
		}
		to, isRef := t.Refs[f.Name]
		id, _ := rec.Values[f.Name].(string)
		if !isRef || id == "" || errs[f.Name] != "" {
			continue
		}
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM "+to+" WHERE id = ?", id).Scan(&one); err == sql.ErrNoRows {
			errs[f.Name] = fmt.Sprintf("refers to %s %s, which is not in the directory", to, id)
		} else if err != nil {
			return "", err
		}
	}
	if len(errs) > 0 {
		return "", errs
	}
	if e.Check != nil {
		if err := e.Check(ctx, tx, t.Name, rec.Values); err != nil {
			return "", err
		}
	}
	if t.Name == "service" && old != nil && RowVersion(Row{Values: rec.Values, Extra: rec.Extra}) != RowVersion(*old) {
		rec.Values["last_modified"] = now.Format("2006-01-02T15:04:05.000Z07:00")
	} else if t.Name == "service" && old == nil {
		rec.Values["last_modified"] = now.Format("2006-01-02T15:04:05.000Z07:00")
	}
	w := newWriter(tx, now, e.Actor)
	defer w.close()
	w.stamp = map[string]any{"at": now.Format(time.RFC3339)}
	if e.Listing != "" {
		w.stamp["listing"] = e.Listing
	}
	if note != "" {
		w.stamp["note"] = note
	}
	if _, err := w.upsert(ctx, rec, false); err != nil {
		return "", err
	}
	return rec.ID(), nil
}

// DeleteRow removes a row of a Deletable table (a phone, a schedule ...),
// recording what it held in the history. version must be the row's
// current RowVersion.
func (s *Store) DeleteRow(ctx context.Context, table, id, version, actor, listing string) error {
	if !slices.Contains(Deletable, table) {
		return apperr.Errorf(apperr.EINVALID, "A %s cannot be removed; retire it instead.", strings.ReplaceAll(table, "_", " "))
	}
	t := Schema.Table(table)
	now := s.Now().UTC()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	r, err := getRow(ctx, tx, t, id)
	if err != nil {
		return err
	}
	if version != RowVersion(r) {
		return &ConflictError{Current: r}
	}
	// The feed is worked out while the row still leads to its service.
	services, err := logChanges(ctx, tx, []rowRef{{table, id}}, now)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE id = ?", id); err != nil {
		return fmt.Errorf("remove %s %s: %w", table, id, err)
	}
	w := newWriter(tx, now, actor)
	defer w.close()
	w.stamp = map[string]any{"at": now.Format(time.RFC3339)}
	if listing != "" {
		w.stamp["listing"] = listing
	}
	if err := w.record(ctx, table, id, "delete", "id", Summarize(table, r), ""); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if s.OnChange != nil && len(services) > 0 {
		s.OnChange(services)
	}
	return nil
}

// Summarize is a row in a few words, for lists and the history.
func Summarize(table string, r Row) string {
	v := func(k string) string { return strings.TrimSpace(Text(r.Values[k])) }
	var parts []string
	switch table {
	case "phone":
		parts = []string{v("number"), v("description")}
		if x := v("extension"); x != "" {
			parts[0] += " ext. " + x
		}
	case "schedule":
		parts = []string{v("byday"), v("opens_at") + "–" + v("closes_at"), v("description")}
		if v("opens_at") == "" && v("closes_at") == "" {
			parts[1] = ""
		}
	case "language":
		parts = []string{v("name"), v("code")}
	case "required_document":
		parts = []string{v("document")}
	case "address":
		parts = []string{v("address_1"), v("city"), v("postal_code")}
	case "attribute":
		parts = []string{v("taxonomy_term_id"), v("value")}
	default:
		parts = []string{v("name")}
	}
	out := strings.Join(nonEmpty(parts...), ", ")
	if out == "" {
		out = r.ID()
	}
	return out
}

// HistoryEntry is one entry of a listing's history: a row of the HSDS metadata
// table.
type HistoryEntry struct {
	ID, Table, ResourceID, Action, Field string
	Before, After, By, Note              string
	At                                   time.Time // the exact time for staff edits, else the day
	// Revertible: a field update of a table staff edit.
	Revertible bool
}

// History returns the changes to a listing, newest first: those recorded
// for it by staff edits (even of rows since removed) and, from imports,
// those of the rows it holds now.
func (s *Store) History(ctx context.Context, listing string, ids []string, limit int) ([]HistoryEntry, error) {
	ids = append([]string{listing}, ids...)
	args := []any{listing}
	for _, id := range ids {
		args = append(args, id)
	}
	args = append(args, limit)
	rs, err := s.db.Read.QueryContext(ctx, `SELECT id, resource_type, resource_id, last_action_type, field_name, previous_value,
		replacement_value, updated_by, last_action_date, COALESCE(extra, '') FROM metadata
		WHERE json_extract(extra, '$.listing') = ? OR resource_id IN (`+strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")+`)
		ORDER BY COALESCE(json_extract(extra, '$.at'), last_action_date) DESC, rowid DESC LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []HistoryEntry
	for rs.Next() {
		var h HistoryEntry
		var day, extra string
		if err := rs.Scan(&h.ID, &h.Table, &h.ResourceID, &h.Action, &h.Field, &h.Before, &h.After, &h.By, &day, &extra); err != nil {
			return nil, err
		}
		h.At, _ = time.Parse(time.DateOnly, day)
		if extra != "" {
			var ex struct{ At, Note string }
			if json.Unmarshal([]byte(extra), &ex) == nil {
				if at, err := time.Parse(time.RFC3339, ex.At); err == nil {
					h.At = at
				}
				h.Note = ex.Note
			}
		}
		_, editable := Editable[h.Table]
		h.Revertible = h.Action == "update" && editable && h.Field != "last_modified" && h.Field != "extra" &&
			!slices.Contains(Editable[h.Table], h.Field)
		out = append(out, h)
	}
	return out, rs.Err()
}

// Revert undoes one recorded field change: the field gets its previous
// value back, through the same write path (so the revert is itself in the
// history). It is refused (ECONFLICT) when the field changed again since.
func (s *Store) Revert(ctx context.Context, metadataID, actor, listing string) (HistoryEntry, error) {
	var h HistoryEntry
	err := s.db.Read.QueryRowContext(ctx, `SELECT id, resource_type, resource_id, last_action_type, field_name, previous_value, replacement_value
		FROM metadata WHERE id = ?`, metadataID).Scan(&h.ID, &h.Table, &h.ResourceID, &h.Action, &h.Field, &h.Before, &h.After)
	if err == sql.ErrNoRows {
		return h, apperr.Errorf(apperr.ENOTFOUND, "There is no such change in the history.")
	} else if err != nil {
		return h, err
	}
	_, editable := Editable[h.Table]
	if h.Action != "update" || !editable || slices.Contains(Editable[h.Table], h.Field) || h.Field == "extra" {
		return h, apperr.Errorf(apperr.EINVALID, "This change cannot be reverted with one click; edit the record instead.")
	}
	r, err := s.Row(ctx, h.Table, h.ResourceID)
	if err != nil {
		return h, err
	}
	unset := func(s string) string {
		if s == noValue {
			return ""
		}
		return s
	}
	if Text(r.Values[h.Field]) != unset(h.After) {
		return h, apperr.Errorf(apperr.ECONFLICT, "%s has changed again since (it is now %q), so this change was not reverted; edit the record instead.",
			Label(h.Field), clip(Text(r.Values[h.Field])))
	}
	_, err = s.SaveRow(ctx, Edit{Table: h.Table, ID: h.ResourceID, Version: RowVersion(r), Values: map[string]string{h.Field: unset(h.Before)},
		Actor: actor, Listing: listing, Note: "Reverted the change of " + h.At.Format(time.DateOnly)})
	return h, err
}

// Label is a field name as people read it: "eligibility_description" is
// "Eligibility description".
func Label(field string) string {
	return capitalize(strings.ReplaceAll(field, "_", " "))
}
