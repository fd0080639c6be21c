package referral

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/db"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Store keeps the referral log in SQLite.
type Store struct {
	db *db.DB
	// Lookup snapshots services when a referral is created.
	Lookup ServiceLookup
	// Now is the clock; tests and the follow-up runner replace it.
	Now func() time.Time
	// Zone is where dates in API filters are read (created_from=2026-01-05
	// is midnight there); nil is UTC. cmd sets the configured zone
	// (America/Chicago by default). Times are stored in UTC regardless.
	Zone *time.Location
	// ReverifyAfter is how many referrals to a service must come back
	// "couldn't reach them" or "wrong information" (since its last review
	// was cleared) before the service is flagged for re-verification; 0 or
	// less never flags. NewStore sets DefaultReverifyAfter.
	ReverifyAfter int
	// Estimate holds the figures of the reports' estimate panel.
	Estimate EstimateConfig
	// Policy is the follow-up schedule; nil is DefaultPolicy.
	Policy *Policy

	// planner plans the hotline's referrals after they commit (planner.go).
	planner planner
}

// NewStore returns a Store on an open database that snapshots services
// through lookup (DirectorySnapshots in the application).
func NewStore(d *db.DB, lookup ServiceLookup) *Store {
	return &Store{db: d, Lookup: lookup, Now: time.Now, ReverifyAfter: DefaultReverifyAfter, Estimate: DefaultEstimate}
}

func (s *Store) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// inWrite runs fn as a job of the group commit (db.Batcher), with its
// statements prepared once, and returns what fn returned once it is
// committed (nothing when it is not).
func inWrite[T any](ctx context.Context, s *Store, fn func(ctx context.Context, tx querier) (T, error)) (T, error) {
	var out T
	err := s.db.Batch.Do(ctx, func(ctx context.Context, jobTx *sql.Tx) error {
		var err error
		out, err = fn(ctx, s.db.Batch.Prepared(jobTx))
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// CreateReferral logs a referral: it normalises the phone, finds the client
// by phone or creates one (an anonymous referral gets a client without a
// phone), copies name, organization and phone of each service from the
// directory, and records it all with its events and its follow-ups (the
// planner's planReferral, in the same transaction: the staff form, the API
// and "Text me this" show them in their answer) in one transaction.
//
// With an IdempotencyKey it is safe to retry: if a referral with that key
// exists, CreateReferral returns it with created false and writes nothing.
// Bad input is EINVALID with a message that names the field, e.g.
// "client.phone: ..." or "service_ids[1]: no service with id ...".
func (s *Store) CreateReferral(ctx context.Context, n NewReferral) (r *Referral, created bool, err error) {
	write, err := s.prepareReferral(ctx, n)
	if err != nil {
		return nil, false, err
	}
	err = s.db.Batch.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		r, created, err = write(ctx, tx)
		if err != nil || !created {
			return err
		}
		return s.planReferral(ctx, s.db.Batch.Prepared(tx), r, r.CreatedAt)
	})
	if err != nil {
		return nil, false, err
	}
	return r, created, nil
}

// ReferralWrite records a prepared referral in tx, a write transaction (a
// db.Batcher job's), and returns it, with created false when a referral
// with the same idempotency key was there first. Like any job it may run
// more than once (its batch could not commit) and gives the same answer.
type ReferralWrite func(ctx context.Context, tx *sql.Tx) (r *Referral, created bool, err error)

// PrepareReferral is CreateReferral up to the write: it checks n, finds
// an earlier referral with its key, and copies what the referral keeps of
// each service (reads, outside any write transaction). The caller runs the
// write in its own transaction, with what else must commit with it (the
// hotline's answer to a text). The write does not plan the follow-ups: it
// wakes the planner (planner.go), whose own write runs after the caller's
// has committed, so that the hotline answers without waiting for them.
func (s *Store) PrepareReferral(ctx context.Context, n NewReferral) (ReferralWrite, error) {
	write, err := s.prepareReferral(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *sql.Tx) (*Referral, bool, error) {
		r, created, err := write(ctx, tx)
		if err == nil && created {
			s.kickPlanner()
		}
		return r, created, err
	}, nil
}

// prepareReferral is PrepareReferral; its write leaves the referral's
// follow-ups unplanned.
func (s *Store) prepareReferral(ctx context.Context, n NewReferral) (ReferralWrite, error) {
	now := s.now()
	phone, err := NormalizePhone(n.Client.Phone)
	if err != nil {
		return nil, prefixed("client", err)
	}
	n.Client.Phone = phone
	n.Client.Name = strings.TrimSpace(n.Client.Name)
	if n.Client.Consent != nil {
		c := *n.Client.Consent
		if c.At.IsZero() {
			c.At = now
		}
		c.At = c.At.UTC().Truncate(time.Microsecond)
		n.Client.Consent = &c
	}
	n.ZIP = normalizeZIP(n.ZIP)
	n.IdempotencyKey = strings.TrimSpace(n.IdempotencyKey)
	ids := make([]string, len(n.ServiceIDs)) // the caller's slice stays as it was
	for i, id := range n.ServiceIDs {
		ids[i] = strings.TrimSpace(id)
	}
	n.ServiceIDs = ids
	if err := n.Validate(); err != nil {
		return nil, err
	}

	// A retry finds the first referral before looking anything up: the
	// listing may have changed since, and the answer must not.
	if n.IdempotencyKey != "" {
		first, err := s.findReferralByKey(ctx, s.db.Read, n.IdempotencyKey)
		if err == nil {
			return func(context.Context, *sql.Tx) (*Referral, bool, error) { return first, false, nil }, nil
		} else if apperr.Code(err) != apperr.ENOTFOUND {
			return nil, err
		}
	}

	r := &Referral{
		ID:             uuid.NewString(),
		Channel:        n.Channel,
		NeedCategory:   n.NeedCategory,
		ZIP:            n.ZIP,
		CreatedBy:      n.CreatedBy,
		Notes:          n.Notes,
		CreatedAt:      now,
		IdempotencyKey: n.IdempotencyKey,
		State:          StateOpen,
	}
	for i, id := range n.ServiceIDs {
		name, org, ph, err := s.Lookup.Snapshot(ctx, id)
		if apperr.Code(err) == apperr.ENOTFOUND {
			return nil, invalid(fmt.Sprintf("service_ids[%d]", i), "no service with id %s", clip(id))
		} else if err != nil {
			return nil, fmt.Errorf("snapshot service %s: %w", id, err)
		}
		r.Services = append(r.Services, ReferredService{ServiceID: id, Name: name, Organization: org, Phone: ph})
	}

	return func(ctx context.Context, jobTx *sql.Tx) (*Referral, bool, error) {
		tx := s.db.Batch.Prepared(jobTx) // statements parsed once
		if n.IdempotencyKey != "" {
			// Another process may have committed it since we looked; the
			// write transaction is exclusive, so this second look is final.
			first, err := s.findReferralByKey(ctx, tx, n.IdempotencyKey)
			if err == nil {
				return first, false, nil
			} else if apperr.Code(err) != apperr.ENOTFOUND {
				return nil, false, err
			}
		}
		cl, evs, err := upsertClient(ctx, tx, n.Client, n.CreatedBy, now)
		if err != nil {
			return nil, false, err
		}
		r.ClientID, r.Client = cl.ID, cl
		if err := r.Validate(); err != nil {
			return nil, false, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO referral (id, client_id, channel, need_category, zip, created_by, notes,
			created_at, idempotency_key) VALUES (?,?,?,?,?,?,?,?,?)`,
			r.ID, r.ClientID, r.Channel, r.NeedCategory, r.ZIP, r.CreatedBy, r.Notes, formatTime(r.CreatedAt), nullString(r.IdempotencyKey)); err != nil {
			return nil, false, constraintError(err)
		}
		for i, rs := range r.Services {
			if _, err := tx.ExecContext(ctx, `INSERT INTO referral_service (referral_id, position, service_id, name, organization, phone)
				VALUES (?,?,?,?,?,?)`, r.ID, i, rs.ServiceID, rs.Name, rs.Organization, rs.Phone); err != nil {
				return nil, false, constraintError(err)
			}
		}
		for i := range evs {
			evs[i].ReferralID = r.ID
		}
		evs = append(evs, newEvent{ReferralID: r.ID, ClientID: r.ClientID, Actor: r.CreatedBy, At: now, Action: ActionReferralCreated, After: referralView(r)})
		if err := writeEvents(ctx, tx, evs...); err != nil {
			return nil, false, err
		}
		return r, true, nil
	}, nil
}

// upsertClient finds the client with in.Phone, updating what in says that
// differs (name if given, language if given, consent if given), or creates
// one; an anonymous in always makes a new client. It returns the events to
// write once the referral exists.
func upsertClient(ctx context.Context, tx querier, in Client, actor string, now time.Time) (*Client, []newEvent, error) {
	var cl *Client
	var err error
	if in.Phone != "" {
		cl, err = findClient(ctx, tx, "c.phone = ?", in.Phone)
		if err != nil && apperr.Code(err) != apperr.ENOTFOUND {
			return nil, nil, err
		}
	}
	if cl == nil {
		cl = &Client{ID: uuid.NewString(), Phone: in.Phone, Name: in.Name, Language: in.Language, Consent: in.Consent, CreatedAt: now, UpdatedAt: now}
		if cl.Language == "" {
			cl.Language = LanguageEN
		}
		if err := insertClient(ctx, tx, cl); err != nil {
			return nil, nil, prefixed("client", err)
		}
		return cl, []newEvent{{ClientID: cl.ID, Actor: actor, At: now, Action: ActionClientCreated, After: clientView(cl)}}, nil
	}
	var evs []newEvent
	change := func(field string, before, after any) {
		evs = append(evs, newEvent{ClientID: cl.ID, Actor: actor, At: now, Action: ActionClientUpdated, Field: field, Before: before, After: after})
	}
	if in.Name != "" && in.Name != cl.Name {
		change("name", cl.Name, in.Name)
		cl.Name = in.Name
	}
	if in.Language != "" && in.Language != cl.Language {
		change("language", cl.Language, in.Language)
		cl.Language = in.Language
	}
	if in.Consent != nil && !cl.Consent.equal(in.Consent) {
		evs = append(evs, newEvent{ClientID: cl.ID, Actor: actor, At: now, Action: ActionConsentSet, Field: "consent", Before: cl.Consent, After: in.Consent})
		cl.Consent = in.Consent
	}
	if len(evs) == 0 {
		return cl, nil, nil
	}
	cl.UpdatedAt = now
	if err := updateClient(ctx, tx, cl); err != nil {
		return nil, nil, prefixed("client", err)
	}
	return cl, evs, nil
}

// GetReferral returns a referral with its client, services and outcomes.
func (s *Store) GetReferral(ctx context.Context, id string) (*Referral, error) {
	tx, err := s.db.Read.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findReferral(ctx, tx, id)
}

// ReferralFilter selects referrals; empty fields do not filter, the others
// are ANDed.
type ReferralFilter struct {
	Channel      string
	NeedCategory string
	// ServiceID selects referrals to this service.
	ServiceID string
	// CreatedFrom and CreatedTo bound created_at: From <= created_at < To.
	CreatedFrom, CreatedTo time.Time
	// Outcome selects by overall outcome: OutcomeOpen, OutcomeClosed,
	// OutcomeNone (nothing recorded, overall or per service), OutcomeReached,
	// OutcomeNotReached, OutcomeGotHelp, OutcomePartly, OutcomeNoHelp,
	// OutcomeStillNeedsHelp.
	Outcome string
	// Phone selects the referrals of the client with this phone, in any
	// usual format.
	Phone    string
	ClientID string
	// Offset and Limit page the result, newest first; Limit 0 is
	// DefaultLimit, more than MaxLimit is MaxLimit.
	Offset, Limit int
}

// Outcome filters of ReferralFilter.Outcome.
const (
	OutcomeOpen           = "open"
	OutcomeClosed         = "closed"
	OutcomeNone           = "none"
	OutcomeReached        = "reached"
	OutcomeNotReached     = "not_reached"
	OutcomeGotHelp        = "got_help"
	OutcomePartly         = "partly"
	OutcomeNoHelp         = "no_help"
	OutcomeStillNeedsHelp = "still_needs_help"
)

// outcomeFilters maps each Outcome filter to its condition on the referral
// r and its overall outcome o (LEFT JOINed, so NULL when none).
var outcomeFilters = map[string]string{
	OutcomeOpen:           "NOT " + closedSQL,
	OutcomeClosed:         closedSQL,
	OutcomeNone:           "NOT EXISTS (SELECT 1 FROM referral_outcome x WHERE x.referral_id = r.id)",
	OutcomeReached:        "o.reached = 1",
	OutcomeNotReached:     "o.reached = 0",
	OutcomeGotHelp:        "o.got_help = 'yes'",
	OutcomePartly:         "o.got_help = 'partly'",
	OutcomeNoHelp:         "o.got_help = 'no'",
	OutcomeStillNeedsHelp: "o.still_needs_help = 1",
}

// closedSQL is Outcome.Closed in SQL.
const closedSQL = "(o.still_needs_help IS NOT NULL OR COALESCE(o.got_help, '') = 'yes')"

// OutcomeFilters lists the values ReferralFilter.Outcome accepts.
var OutcomeFilters = []string{OutcomeOpen, OutcomeClosed, OutcomeNone, OutcomeReached, OutcomeNotReached,
	OutcomeGotHelp, OutcomePartly, OutcomeNoHelp, OutcomeStillNeedsHelp}

// Paging limits of ListReferrals.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Validate checks the filter values that can be wrong.
func (f *ReferralFilter) Validate() error {
	if f.Channel != "" && !slices.Contains(Channels, f.Channel) {
		return invalid("channel", "must be one of %s, got %q", strings.Join(Channels, ", "), clip(f.Channel))
	}
	if f.NeedCategory != "" && !slices.Contains(needCategories(), f.NeedCategory) {
		return invalid("need_category", "must be one of %s, got %q", strings.Join(needCategories(), ", "), clip(f.NeedCategory))
	}
	if f.Outcome != "" && outcomeFilters[f.Outcome] == "" {
		return invalid("outcome", "must be one of %s, got %q", strings.Join(OutcomeFilters, ", "), clip(f.Outcome))
	}
	if !f.CreatedFrom.IsZero() && !f.CreatedTo.IsZero() && !f.CreatedFrom.Before(f.CreatedTo) {
		return invalid("created_to", "must be after created_from")
	}
	if f.Offset < 0 {
		return invalid("offset", "must not be negative")
	}
	if f.Limit < 0 {
		return invalid("limit", "must not be negative")
	}
	return nil
}

// ListReferrals returns one page of the referrals that match f, newest
// first, and how many match in all.
func (s *Store) ListReferrals(ctx context.Context, f ReferralFilter) ([]*Referral, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if f.Channel != "" {
		add("r.channel = ?", f.Channel)
	}
	if f.NeedCategory != "" {
		add("r.need_category = ?", f.NeedCategory)
	}
	if f.ServiceID != "" {
		add("EXISTS (SELECT 1 FROM referral_service x WHERE x.referral_id = r.id AND x.service_id = ?)", f.ServiceID)
	}
	if !f.CreatedFrom.IsZero() {
		add("r.created_at >= ?", formatTime(f.CreatedFrom))
	}
	if !f.CreatedTo.IsZero() {
		add("r.created_at < ?", formatTime(f.CreatedTo))
	}
	if f.Outcome != "" {
		add(outcomeFilters[f.Outcome])
	}
	if f.Phone != "" {
		p, err := NormalizePhone(f.Phone)
		if err != nil {
			return nil, 0, err
		}
		add("c.phone = ?", p)
	}
	if f.ClientID != "" {
		add("r.client_id = ?", f.ClientID)
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)

	tx, err := s.db.Read.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	cond := "1"
	if len(where) > 0 {
		cond = strings.Join(where, " AND ")
	}
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM referral r JOIN referral_client c ON c.id = r.client_id
		LEFT JOIN referral_outcome o ON o.referral_id = r.id AND o.service_id = '' WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rs, err := loadReferrals(ctx, tx, cond+" ORDER BY r.created_at DESC, r.id DESC LIMIT ? OFFSET ?", append(args, limit, f.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	return rs, total, nil
}

func findReferral(ctx context.Context, q querier, id string) (*Referral, error) {
	rs, err := loadReferrals(ctx, q, "r.id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "No referral with id %s.", clip(id))
	}
	return rs[0], nil
}

// findReferralByKey is the referral made with an idempotency key, or
// ENOTFOUND. It probes the key on its own first (one prepared lookup in
// the key's unique index): nearly every key is new, and loading a
// referral whole takes two larger queries.
func (s *Store) findReferralByKey(ctx context.Context, q querier, key string) (*Referral, error) {
	const probe = `SELECT id FROM referral WHERE idempotency_key = ?`
	var row *sql.Row
	if q == querier(s.db.Read) {
		row = s.db.ReadStmts.QueryRow(ctx, probe, key)
	} else {
		row = q.QueryRowContext(ctx, probe, key) // a write transaction prepares its statements once
	}
	var id string
	if err := row.Scan(&id); errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "No referral with that idempotency key.")
	} else if err != nil {
		return nil, fmt.Errorf("look up idempotency key: %w", err)
	}
	return findReferral(ctx, q, id)
}

// loadReferrals loads the referrals matching where (on referral r, client c
// and overall outcome o, and may end in ORDER BY and LIMIT) with their
// clients, services and outcomes, in two queries.
func loadReferrals(ctx context.Context, q querier, where string, args ...any) ([]*Referral, error) {
	rows, err := q.QueryContext(ctx, `SELECT r.id, r.client_id, r.channel, r.need_category, r.zip, r.created_by, r.notes,
		r.created_at, COALESCE(r.idempotency_key, ''), `+clientCols+`, `+outcomeCols+`
		FROM referral r JOIN referral_client c ON c.id = r.client_id
		LEFT JOIN referral_outcome o ON o.referral_id = r.id AND o.service_id = ''
		WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("query referrals: %w", err)
	}
	defer rows.Close()
	var out []*Referral
	byID := map[string]*Referral{}
	for rows.Next() {
		r := &Referral{Services: []ReferredService{}}
		var created string
		var cr clientRow
		var or outcomeRow
		dest := append([]any{&r.ID, &r.ClientID, &r.Channel, &r.NeedCategory, &r.ZIP, &r.CreatedBy, &r.Notes,
			&created, &r.IdempotencyKey}, cr.dest()...)
		if err := rows.Scan(append(dest, or.dest()...)...); err != nil {
			return nil, err
		}
		if r.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if r.Client, err = cr.client(); err != nil {
			return nil, err
		}
		if r.Outcome, err = or.outcome(); err != nil {
			return nil, err
		}
		r.State = r.Outcome.state()
		out = append(out, r)
		byID[r.ID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]any, 0, len(out))
	for _, r := range out {
		ids = append(ids, r.ID)
	}
	rows, err = q.QueryContext(ctx, `SELECT s.referral_id, s.service_id, s.name, s.organization, s.phone, `+outcomeCols+`
		FROM referral_service s LEFT JOIN referral_outcome o ON o.referral_id = s.referral_id AND o.service_id = s.service_id
		WHERE s.referral_id IN (`+placeholders(len(ids))+`) ORDER BY s.referral_id, s.position`, ids...)
	if err != nil {
		return nil, fmt.Errorf("query referred services: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var refID string
		var rs ReferredService
		var or outcomeRow
		if err := rows.Scan(append([]any{&refID, &rs.ServiceID, &rs.Name, &rs.Organization, &rs.Phone}, or.dest()...)...); err != nil {
			return nil, err
		}
		if rs.Outcome, err = or.outcome(); err != nil {
			return nil, err
		}
		byID[refID].Services = append(byID[refID].Services, rs)
	}
	return out, rows.Err()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// constraintError turns a UNIQUE violation into ECONFLICT.
func constraintError(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return apperr.Errorf(apperr.ECONFLICT, "That record already exists.")
	}
	return err
}

// timeLayout has a fixed-width fraction so that stored times sort as text.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func formatNullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

func parseNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	return &t, err
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// referralView is what the audit trail records of a new referral: its
// facts, not the client's details (those are in the client's own events).
func referralView(r *Referral) map[string]any {
	services := make([]map[string]string, len(r.Services))
	for i, s := range r.Services {
		services[i] = map[string]string{"service_id": s.ServiceID, "name": s.Name, "organization": s.Organization, "phone": s.Phone}
	}
	return map[string]any{
		"client_id":       r.ClientID,
		"channel":         r.Channel,
		"need_category":   r.NeedCategory,
		"zip":             r.ZIP,
		"services":        services,
		"created_by":      r.CreatedBy,
		"notes":           r.Notes,
		"idempotency_key": r.IdempotencyKey,
	}
}
