package referral

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Actions of the audit trail.
const (
	ActionReferralCreated = "referral.created"
	ActionClientCreated   = "client.created"
	ActionClientUpdated   = "client.updated" // Field is name or language
	ActionConsentSet      = "consent.set"
	ActionOptedOut        = "client.opted_out"
	ActionOptedIn         = "client.opted_in"
	ActionClientDeleted   = "client.deleted"
	ActionOutcomeRecorded = "outcome.recorded" // Field is outcome or outcome[<service id>]
)

// Event is one change in the audit trail: who did what, when, and the value
// before and after as JSON (null when there was none). Phones appear masked.
type Event struct {
	ID int64 `json:"id"`
	// ReferralID is "" for a change to a client alone (consent, opt-out,
	// deletion).
	ReferralID string    `json:"referral_id,omitempty"`
	ClientID   string    `json:"client_id,omitempty"`
	Actor      string    `json:"actor"`
	At         time.Time `json:"at"`
	Action     string    `json:"action"`
	Field      string    `json:"field,omitempty"`
	// Before and After are JSON; nil (null) when there was no value.
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// newEvent is an event to write; Before and After are encoded as JSON.
type newEvent struct {
	ReferralID, ClientID, Actor string
	At                          time.Time
	Action, Field               string
	Before, After               any
}

// Events returns the audit trail of a referral, oldest first: its own
// events and those of its client alone (consent, opt-out, deletion).
func (s *Store) Events(ctx context.Context, referralID string) ([]Event, error) {
	tx, err := s.db.Read.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	clientID, err := referralClient(ctx, tx, referralID)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, COALESCE(referral_id, ''), COALESCE(client_id, ''), actor, at, action, field, before, after
		FROM referral_event WHERE referral_id = ? OR (referral_id IS NULL AND client_id = ?) ORDER BY id`, referralID, clientID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	evs := []Event{}
	for rows.Next() {
		var e Event
		var at string
		var before, after sql.NullString
		if err := rows.Scan(&e.ID, &e.ReferralID, &e.ClientID, &e.Actor, &at, &e.Action, &e.Field, &before, &after); err != nil {
			return nil, err
		}
		if e.At, err = parseTime(at); err != nil {
			return nil, err
		}
		e.Before, e.After = rawJSON(before), rawJSON(after)
		evs = append(evs, e)
	}
	return evs, rows.Err()
}

func rawJSON(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}

// writeEvents appends events to the audit trail, in the caller's
// transaction.
func writeEvents(ctx context.Context, tx querier, evs ...newEvent) error {
	for _, e := range evs {
		before, err := eventJSON(e.Before)
		if err != nil {
			return fmt.Errorf("event %s: before: %w", e.Action, err)
		}
		after, err := eventJSON(e.After)
		if err != nil {
			return fmt.Errorf("event %s: after: %w", e.Action, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO referral_event (referral_id, client_id, actor, at, action, field, before, after)
			VALUES (?,?,?,?,?,?,?,?)`, nullString(e.ReferralID), nullString(e.ClientID), e.Actor, formatTime(e.At), e.Action, e.Field,
			before, after); err != nil {
			return err
		}
	}
	return nil
}

// eventJSON encodes v, and a nil pointer or nil as SQL NULL.
func eventJSON(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	return string(b), nil
}

// personalFields are the event fields, and the keys of event objects, that
// hold a person's details; DeleteClient blanks them.
var personalFields = map[string]bool{"phone": true, "name": true, "notes": true}

// removed replaces a deleted value in the audit trail.
const removed = "[deleted]"

// redactEvents blanks the personal values in the events of a client and of
// its referrals. Keys are blanked at the top level of an object only: a
// referral's services carry the name and phone of the service, which are not
// the person's.
func redactEvents(ctx context.Context, tx querier, clientID string) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, field, before, after FROM referral_event
		WHERE client_id = ? OR referral_id IN (SELECT id FROM referral WHERE client_id = ?)`, clientID, clientID)
	if err != nil {
		return err
	}
	type change struct {
		id            int64
		before, after any
	}
	var changes []change
	for rows.Next() {
		var id int64
		var field string
		var before, after sql.NullString
		if err := rows.Scan(&id, &field, &before, &after); err != nil {
			rows.Close()
			return err
		}
		b, changedB := redact(field, before)
		a, changedA := redact(field, after)
		if changedB || changedA {
			changes = append(changes, change{id, b, a})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range changes {
		if _, err := tx.ExecContext(ctx, `UPDATE referral_event SET before = ?, after = ? WHERE id = ?`, c.before, c.after, c.id); err != nil {
			return err
		}
	}
	return nil
}

// redact returns the stored JSON v with personal values blanked, and
// whether anything changed.
func redact(field string, v sql.NullString) (any, bool) {
	if !v.Valid {
		return nil, false
	}
	if personalFields[field] {
		if v.String == `""` || v.String == `"`+removed+`"` {
			return v.String, false
		}
		return `"` + removed + `"`, true
	}
	var obj map[string]any
	if json.Unmarshal([]byte(v.String), &obj) != nil {
		return v.String, false // not an object: nothing personal in it
	}
	changed := false
	for k, x := range obj {
		if s, ok := x.(string); personalFields[k] && (!ok || s != "" && s != removed) {
			obj[k] = removed
			changed = true
		}
	}
	if !changed {
		return v.String, false
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return `"` + removed + `"`, true
	}
	return string(b), true
}

// referralClient returns the client id of a referral; ENOTFOUND when there
// is no such referral.
func referralClient(ctx context.Context, tx querier, referralID string) (string, error) {
	var clientID string
	err := tx.QueryRowContext(ctx, `SELECT client_id FROM referral WHERE id = ?`, referralID).Scan(&clientID)
	if err == sql.ErrNoRows {
		return "", apperr.Errorf(apperr.ENOTFOUND, "No referral with id %s.", clip(referralID))
	}
	return clientID, err
}
