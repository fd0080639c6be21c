package directory

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

// ImportOptions change how Import behaves.
type ImportOptions struct {
	// DryRun validates everything and writes nothing.
	DryRun bool
	// SkipInvalid writes the valid units and reports each skipped one,
	// instead of refusing the whole run.
	SkipInvalid bool
	// Actor is recorded as updated_by in the change history.
	Actor string
	// Retire lists services to mark defunct in the same transaction as the
	// import (a bulk update's services left out of the upload), so that an
	// interrupted apply leaves either everything or nothing. Ignored by a
	// dry run.
	Retire []string
	// Progress, if set, is told the bytes read so far in each pass
	// ("checking", then "writing").
	Progress func(phase string, done, total int64)
}

// ImportResult says what an import did. Counts are of units: compiled
// services for JSON, rows for CSV.
type ImportResult struct {
	Created, Updated, Unchanged, Skipped int
	Problems                             []Problem
	Took                                 time.Duration
	DryRun                               bool
}

// Errors returns the problems that are not warnings.
func (r *ImportResult) Errors() []Problem {
	var out []Problem
	for _, p := range r.Problems {
		if !p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// Summary is the one line shown at the end of an import.
func (r *ImportResult) Summary() string {
	if r.DryRun {
		// A dry run does not compare values, so it cannot tell an update
		// from no change.
		return fmt.Sprintf("checked (dry run, nothing written): %d would be created, %d already in the directory (updated if changed), %d would be skipped, %d warnings, took %s",
			r.Created, r.Updated, r.Skipped, len(r.Problems)-len(r.Errors()), r.Took.Round(time.Millisecond))
	}
	verb := "imported"
	return fmt.Sprintf("%s: %d created, %d updated, %d unchanged, %d skipped, %d warnings, took %s",
		verb, r.Created, r.Updated, r.Unchanged, r.Skipped, len(r.Problems)-len(r.Errors()), r.Took.Round(time.Millisecond))
}

type unitInfo struct {
	file         string
	line, record int
	invalid      bool
	root         string // table and id of the unit's first record
	rootID       string
}

func (ui unitInfo) where() string {
	switch {
	case ui.line > 0:
		return fmt.Sprintf("%s line %d", ui.file, ui.line)
	case ui.record > 0:
		return fmt.Sprintf("%s record %d", ui.file, ui.record)
	}
	return ui.file
}

type idEntry struct {
	unit int
	hash uint64
}

type ref struct {
	unit               int
	table, col, to, id string
	recID              string
}

// Import reads src twice: first to validate every unit and every reference
// (nothing is written if anything is wrong, unless SkipInvalid), then to
// write, in one transaction, so that a failed or killed import leaves the
// directory exactly as it was.
func (s *Store) Import(ctx context.Context, src Source, opt ImportOptions) (*ImportResult, error) {
	start := time.Now()
	res := &ImportResult{DryRun: opt.DryRun}
	total := src.Size()
	progress := func(phase string) func(int64) {
		var done int64
		return func(n int64) {
			done += n
			if opt.Progress != nil {
				opt.Progress(phase, done, total)
			}
		}
	}

	var units []unitInfo
	ids := map[string]map[string]idEntry{}
	var refs []ref
	err := src.Each(ctx, progress("checking"), func(u *unit) error {
		n := len(units)
		ui := unitInfo{file: u.File, line: u.Line, record: u.Record}
		if len(u.Records) > 0 {
			ui.root, ui.rootID = u.Records[0].Table, u.Records[0].ID()
		}
		// A reference to an object the unit carries itself (a service's
		// nested organization) stands or falls with the unit.
		local := map[string]bool{}
		for _, rec := range u.Records {
			local[rec.Table+"/"+rec.ID()] = true
		}
		res.Problems = append(res.Problems, u.Problems...)
		for _, p := range u.Problems {
			if !p.Warning {
				ui.invalid = true
			}
		}
		for _, rec := range u.Records {
			t := Schema.Table(rec.Table)
			rid := rec.ID()
			for _, f := range t.Fields {
				// In a compiled record, a child is linked by its parent's id,
				// so a bad id leaves its children's links empty: that is
				// the one problem, not each empty link.
				unlinked := src.Compiled() && t.Refs[f.Name] != "" && fieldHasProblem(u, "", "id")
				if f.Required && rec.Values[f.Name] == nil && !unlinked && !fieldHasProblem(u, rid, f.Name) {
					u.problem(rid, fieldPath(u, rec, f.Name), "is required and empty")
					res.Problems = append(res.Problems, u.Problems[len(u.Problems)-1])
					ui.invalid = true
				}
			}
			if rid == "" {
				continue
			}
			h := recordHash(rec)
			if ids[rec.Table] == nil {
				ids[rec.Table] = map[string]idEntry{}
			}
			if prev, dup := ids[rec.Table][rid]; dup {
				// The same object nested twice in compiled JSON (a shared
				// location or phone) is fine when it is the same.
				sameShared := src.Compiled() && prev.hash == h
				if !sameShared {
					var reason string
					if prev.unit == n {
						reason = fmt.Sprintf("duplicate id: %s %s appears twice in this record with different content", t.Name, rid)
					} else {
						reason = fmt.Sprintf("duplicate id: %s %s also appears at %s", t.Name, rid, units[prev.unit].where())
						if src.Compiled() {
							reason += " with different content"
						}
					}
					p := Problem{File: u.File, Line: u.Line, Record: u.Record, ID: rid, Field: "id", Reason: reason}
					res.Problems = append(res.Problems, p)
					ui.invalid = true
				} else if prev.unit != n && units[prev.unit].invalid {
					ids[rec.Table][rid] = idEntry{unit: n, hash: h}
				}
			} else {
				ids[rec.Table][rid] = idEntry{unit: n, hash: h}
			}
			// In column order, not map order, so that a row with two
			// dangling references always reports the same one.
			for _, f := range t.Fields {
				to, ok := t.Refs[f.Name]
				if !ok {
					continue
				}
				if v, ok := rec.Values[f.Name].(string); ok && v != "" && !local[to+"/"+v] {
					refs = append(refs, ref{unit: n, table: t.Name, col: f.Name, to: to, id: v, recID: rid})
				}
			}
		}
		units = append(units, ui)
		return nil
	})
	if err != nil {
		return res, err
	}

	// References: to an object in this import that is valid, or already in
	// the directory. Skipping a unit can strand others, so repeat until
	// nothing changes.
	inDB := map[string]bool{}
	exists := func(table, id string) (bool, error) {
		k := table + "/" + id
		if v, ok := inDB[k]; ok {
			return v, nil
		}
		var one int
		err := s.db.Read.QueryRowContext(ctx, "SELECT 1 FROM "+table+" WHERE id = ?", id).Scan(&one)
		if err != nil && err != sql.ErrNoRows {
			return false, err
		}
		inDB[k] = err == nil
		return err == nil, nil
	}
	for changed := true; changed; {
		changed = false
		for _, r := range refs {
			if units[r.unit].invalid {
				continue
			}
			e, inImport := ids[r.to][r.id]
			if inImport && !units[e.unit].invalid {
				continue
			}
			ok, err := exists(r.to, r.id)
			if err != nil {
				return res, err
			}
			if ok {
				continue
			}
			ui := units[r.unit]
			reason := fmt.Sprintf("refers to %s %s, which is neither in this import nor in the directory", r.to, r.id)
			if inImport {
				reason = fmt.Sprintf("refers to %s %s, which is skipped because it is invalid (%s)", r.to, r.id, units[e.unit].where())
			}
			res.Problems = append(res.Problems, Problem{File: ui.file, Line: ui.line, Record: ui.record, ID: r.recID, Field: r.col, Reason: reason})
			units[r.unit].invalid = true
			changed = true
		}
	}
	for _, ui := range units {
		if ui.invalid {
			res.Skipped++
		}
	}
	res.Took = time.Since(start)
	if errs := res.Errors(); len(errs) > 0 && !opt.SkipInvalid {
		res.Skipped = 0
		return res, apperr.Errorf(apperr.EINVALID, "%s: %d problems; nothing was imported", src.Name(), len(errs))
	}
	if opt.DryRun {
		for _, ui := range units {
			if ui.invalid || ui.rootID == "" {
				continue
			}
			ok, err := exists(ui.root, ui.rootID)
			if err != nil {
				return res, err
			}
			if ok {
				res.Updated++
			} else {
				res.Created++
			}
		}
		res.Took = time.Since(start)
		return res, nil
	}

	touched, err := s.write(ctx, src, units, opt, res, progress("writing"))
	if err != nil {
		return res, err
	}
	res.Took = time.Since(start)
	if s.OnChange != nil && len(touched) > 0 {
		s.OnChange(touched)
	}
	return res, nil
}

func fieldHasProblem(u *unit, id, field string) bool {
	for _, p := range u.Problems {
		// A record whose id is bad has no id here, while its problems
		// carry the text of the bad id: the field alone must do.
		if (p.ID == id || id == "") && (p.Field == field || strings.HasSuffix(p.Field, "."+field)) {
			return true
		}
	}
	return false
}

// fieldPath names a field of a record inside a compiled unit well enough to
// find it: the table and the field.
func fieldPath(u *unit, rec Record, field string) string {
	if len(u.Records) > 0 && u.Records[0].Table != rec.Table {
		return rec.Table + "." + field
	}
	return field
}

func recordHash(r Record) uint64 { return valuesHash(r.Values, r.Extra) }

// valuesHash hashes stored values and extra fields: what an import skips
// when unchanged, and a row's version for optimistic locking.
func valuesHash(values, extra map[string]any) uint64 {
	h := fnv.New64a()
	for _, k := range slices.Sorted(maps.Keys(values)) {
		fmt.Fprintf(h, "%s=%s\x00", k, Text(values[k]))
	}
	if len(extra) > 0 {
		b, _ := json.Marshal(extra)
		h.Write(b)
	}
	return h.Sum64()
}

// write is the second pass: one transaction for the whole import.
func (s *Store) write(ctx context.Context, src Source, units []unitInfo, opt ImportOptions, res *ImportResult, read func(int64)) ([]string, error) {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	w := newWriter(tx, s.Now(), opt.Actor)
	defer w.close()
	touched := map[rowRef]bool{}
	n := 0
	err = src.Each(ctx, read, func(u *unit) error {
		i := n
		n++
		if i >= len(units) || units[i].invalid || len(u.Records) == 0 {
			return nil
		}
		var rootChange change
		for j, rec := range u.Records {
			// In a compiled document only the service itself is the whole
			// truth; nested shared objects (organization, location,
			// taxonomy term) may be abbreviated copies, so their missing
			// fields keep what is stored.
			c, err := w.upsert(ctx, rec, src.Compiled() && j > 0)
			if err != nil {
				return fmt.Errorf("%s: write %s %s: %w", units[i].where(), rec.Table, rec.ID(), err)
			}
			if j == 0 {
				rootChange = c
			} else if c != unchanged && rootChange == unchanged {
				rootChange = updated
			}
			if c != unchanged {
				touched[rowRef{rec.Table, rec.ID()}] = true
			}
		}
		// A service new in this transaction has no older child rows to
		// remove (the foreign keys saw to that), so a first import skips
		// the dozen lookups.
		if src.Compiled() && rootChange != created {
			removed, err := w.replaceChildren(ctx, u)
			if err != nil {
				return fmt.Errorf("%s: %w", units[i].where(), err)
			}
			if removed && rootChange == unchanged {
				rootChange = updated
				touched[rowRef{u.Records[0].Table, u.Records[0].ID()}] = true
			}
		}
		switch rootChange {
		case created:
			res.Created++
		case updated:
			res.Updated++
		default:
			res.Unchanged++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n != len(units) {
		return nil, fmt.Errorf("%s changed while it was being imported (%d units checked, %d read); nothing was imported", src.Name(), len(units), n)
	}
	for _, id := range opt.Retire {
		c, err := w.upsert(ctx, Record{Table: "service", Values: map[string]any{"id": id, "status": "defunct"}}, true)
		if err != nil {
			return nil, fmt.Errorf("retire service %s: %w", id, err)
		}
		if c != unchanged {
			touched[rowRef{"service", id}] = true
		}
	}
	w.close()
	services, err := logChanges(ctx, tx, slices.Collect(maps.Keys(touched)), s.Now())
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit import: %w", err)
	}
	return services, nil
}

type change int

const (
	unchanged change = iota
	created
	updated
)

// writer upserts records inside one transaction, recording each change in
// the HSDS metadata table.
type writer struct {
	tx    *sql.Tx
	now   time.Time
	actor string
	stmts map[string]*sql.Stmt
	// stamp, when set (staff edits), is kept in each metadata row's extra
	// column: the exact time, the listing the change belongs to and the
	// editor's note. Imports leave it nil.
	stamp map[string]any
}

func newWriter(tx *sql.Tx, now time.Time, actor string) *writer {
	if actor == "" {
		actor = "system"
	}
	return &writer{tx: tx, now: now.UTC(), actor: actor, stmts: map[string]*sql.Stmt{}}
}

func (w *writer) close() {
	for k, st := range w.stmts {
		st.Close()
		delete(w.stmts, k)
	}
}

func (w *writer) stmt(ctx context.Context, key, query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[key]; ok {
		return st, nil
	}
	st, err := w.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[key] = st
	return st, nil
}

// history says whether changes to a table are recorded in metadata.
func history(table string) bool {
	switch table {
	case "metadata", "taxonomy", "taxonomy_term", "meta_table_description":
		return false
	}
	return true
}

func (w *writer) upsert(ctx context.Context, rec Record, partial bool) (change, error) {
	t := Schema.Table(rec.Table)
	cols := t.Columns()
	sel, err := w.stmt(ctx, "select "+t.Name, "SELECT "+selectCols(t)+" FROM "+t.Name+" WHERE id = ?")
	if err != nil {
		return 0, err
	}
	rs, err := sel.QueryContext(ctx, rec.ID())
	if err != nil {
		return 0, err
	}
	var old *Row
	if rs.Next() {
		r, err := scanRow(rs, t)
		if err != nil {
			rs.Close()
			return 0, err
		}
		old = &r
	}
	rs.Close()

	if partial && old != nil {
		merged := Record{Table: rec.Table, Values: maps.Clone(rec.Values), Extra: rec.Extra}
		for _, c := range cols {
			if merged.Values[c] == nil {
				merged.Values[c] = old.Values[c]
			}
		}
		if merged.Extra == nil {
			merged.Extra = old.Extra
		}
		rec = merged
	}
	var diffs []string
	if old != nil {
		for _, c := range cols {
			if Text(old.Values[c]) != Text(rec.Values[c]) {
				diffs = append(diffs, c)
			}
		}
		oe, _ := json.Marshal(old.Extra)
		ne, _ := json.Marshal(rec.Extra)
		if string(oe) != string(ne) {
			diffs = append(diffs, "extra")
		}
		if len(diffs) == 0 {
			return unchanged, nil
		}
	}
	set := make([]string, 0, len(cols))
	for _, c := range cols[1:] {
		set = append(set, c+" = excluded."+c)
	}
	set = append(set, "extra = excluded.extra")
	// A new row gets a plain INSERT: SQLite gives an upsert a statement
	// journal, and writing it cost a third of a large import.
	insert := "INSERT INTO " + t.Name + " (" + selectCols(t) + ") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)+1), ", ") + ")"
	key := "insert " + t.Name
	if old != nil {
		key, insert = "upsert "+t.Name, insert+" ON CONFLICT(id) DO UPDATE SET "+strings.Join(set, ", ")
	}
	ups, err := w.stmt(ctx, key, insert)
	if err != nil {
		return 0, err
	}
	args := make([]any, 0, len(cols)+1)
	for _, c := range cols {
		args = append(args, rec.Values[c])
	}
	var extra any
	if len(rec.Extra) > 0 {
		b, _ := json.Marshal(rec.Extra)
		extra = string(b)
	}
	args = append(args, extra)
	if _, err := ups.ExecContext(ctx, args...); err != nil {
		return 0, err
	}
	if !history(t.Name) {
		if old == nil {
			return created, nil
		}
		return updated, nil
	}
	if old == nil {
		return created, w.record(ctx, t.Name, rec.ID(), "create", "id", "", rec.ID())
	}
	for _, c := range diffs {
		var before, after string
		if c == "extra" {
			b1, _ := json.Marshal(old.Extra)
			b2, _ := json.Marshal(rec.Extra)
			before, after = string(b1), string(b2)
		} else {
			before, after = Text(old.Values[c]), Text(rec.Values[c])
		}
		if err := w.record(ctx, t.Name, rec.ID(), "update", c, before, after); err != nil {
			return 0, err
		}
	}
	return updated, nil
}

// noValue stands for "empty" in the change history, whose previous_value
// and replacement_value HSDS requires to be non-empty.
const noValue = "(none)"

// record appends one change to the HSDS metadata table.
func (w *writer) record(ctx context.Context, table, id, action, field, before, after string) error {
	if before == "" {
		before = noValue
	}
	if after == "" {
		after = noValue
	}
	st, err := w.stmt(ctx, "metadata", `INSERT INTO metadata (id, resource_id, resource_type, last_action_date, last_action_type, field_name, previous_value, replacement_value, updated_by, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	var extra any
	if len(w.stamp) > 0 {
		b, _ := json.Marshal(w.stamp)
		extra = string(b)
	}
	_, err = st.ExecContext(ctx, uuid.NewString(), id, table, w.now.Format(time.DateOnly), action, field, before, after, w.actor, extra)
	return err
}

// replaceChildren makes a compiled service the whole truth about the rows it
// owns: a phone, schedule, attribute ... that hung from the service before
// and is not in the new document is deleted (and recorded as deleted).
func (w *writer) replaceChildren(ctx context.Context, u *unit) (bool, error) {
	root := u.Records[0]
	t := Schema.Table(root.Table)
	keep := map[string]bool{}
	for _, r := range u.Records {
		keep[r.Table+"/"+r.ID()] = true
	}
	removed := false
	for _, rel := range t.Relations {
		if !rel.Many || rel.Table == "metadata" {
			continue
		}
		sel, err := w.stmt(ctx, "children "+rel.Table+"."+rel.Col, "SELECT id FROM "+rel.Table+" WHERE "+rel.Col+" = ?")
		if err != nil {
			return false, err
		}
		rs, err := sel.QueryContext(ctx, root.ID())
		if err != nil {
			return false, err
		}
		var stale []string
		for rs.Next() {
			var id string
			if err := rs.Scan(&id); err != nil {
				rs.Close()
				return false, err
			}
			if !keep[rel.Table+"/"+id] {
				stale = append(stale, id)
			}
		}
		rs.Close()
		for _, id := range stale {
			if _, err := w.tx.ExecContext(ctx, "DELETE FROM "+rel.Table+" WHERE id = ?", id); err != nil {
				return false, fmt.Errorf("remove %s %s: %w", rel.Table, id, err)
			}
			if err := w.record(ctx, rel.Table, id, "delete", "id", id, ""); err != nil {
				return false, err
			}
			removed = true
		}
	}
	return removed, nil
}
