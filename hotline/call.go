package hotline

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/secondchancekc/secondchance/internal/db"
)

// call is the state of one call, kept in hotline_call by CallSid so that a
// restart mid-call continues it.
type call struct {
	SID, From, To string
	Lang          string
	// Seq counts our answers; every action URL carries it.
	Seq int
	// Step is the prompt waiting for input; Tries the failed inputs at it.
	Step  string
	Tries int
	Need  string
	Query string
	ZIP   string
	// Results are the places found, Page the first one being read.
	Results    []Place
	Page       int
	ReferralID string
	TextRef    string
	Consent    string
	Recording  string
	Status     string
	DialStatus string
	StartedAt  time.Time
	stored     bool
}

// url is an action URL for the next request: the path and this answer's
// seq, which makes each step of a call unique (see hotline_call_step).
func (c *call) url(step string) string {
	return fmt.Sprintf("/hotline/voice/%s?s=%d", step, c.Seq)
}

// noInput is where a prompt goes when the caller gave nothing.
func (c *call) noInput(step string) string { return c.url(step) + "&none=1" }

func loadCall(ctx context.Context, q *db.Stmts, sid string) (*call, error) {
	c := &call{SID: sid, stored: true}
	var results, started string
	err := q.QueryRow(ctx, `SELECT from_number, to_number, language, seq, step, tries, need, query, zip, results, page,
		referral_id, text_ref, consent, recording_url, status, dial_status, started_at FROM hotline_call WHERE call_sid = ?`, sid).Scan(
		&c.From, &c.To, &c.Lang, &c.Seq, &c.Step, &c.Tries, &c.Need, &c.Query, &c.ZIP, &results, &c.Page,
		&c.ReferralID, &c.TextRef, &c.Consent, &c.Recording, &c.Status, &c.DialStatus, &started)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read call: %w", err)
	}
	if err := json.Unmarshal([]byte(results), &c.Results); err != nil {
		return nil, fmt.Errorf("read call results: %w", err)
	}
	c.StartedAt = parseTime(started)
	return c, nil
}

// storedStep returns the answer given before to this step of a call.
func storedStep(ctx context.Context, q *db.Stmts, sid, step string) (string, bool, error) {
	var x string
	err := q.QueryRow(ctx, `SELECT twiml FROM hotline_call_step WHERE call_sid = ? AND step = ?`, sid, step).Scan(&x)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	} else if err != nil {
		return "", false, fmt.Errorf("read call step: %w", err)
	}
	return x, true, nil
}

// saveStep records the call's new state and the answer to step in one
// transaction, with also (more writes of the same step) inside it, run
// first so that they may fill in the call's state (a referral's id).
// When the step was answered meanwhile (Twilio sent the same request twice
// at once, or another process answered it), nothing is written, also does
// not run, and the first answer is returned with saved false. The
// transaction goes through the group commit (db.Batcher): concurrent
// calls' steps share one disk sync, and saveStep returns only once this
// step's is durable.
func saveStep(ctx context.Context, d *db.DB, c *call, step, twiml string, now time.Time, also ...func(context.Context, *sql.Tx) error) (answer string, saved bool, err error) {
	results, err := json.Marshal(c.Results)
	if err != nil {
		return "", false, err
	}
	err = d.Batch.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		saved = false
		err := d.Batch.QueryRow(ctx, tx, `SELECT twiml FROM hotline_call_step WHERE call_sid = ? AND step = ?`, c.SID, step).Scan(&answer)
		if err == nil {
			return nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		for _, fn := range also {
			if err := fn(ctx, tx); err != nil {
				return err
			}
		}
		answer = twiml
		at := formatTime(now)
		if _, err := d.Batch.Exec(ctx, tx, `INSERT INTO hotline_call (call_sid, from_number, to_number, language, seq, step, tries, need, query,
		zip, results, page, referral_id, text_ref, consent, recording_url, status, dial_status, started_at, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (call_sid) DO UPDATE SET language = excluded.language, seq = excluded.seq, step = excluded.step,
		tries = excluded.tries, need = excluded.need, query = excluded.query, zip = excluded.zip, results = excluded.results,
		page = excluded.page, referral_id = excluded.referral_id, text_ref = excluded.text_ref, consent = excluded.consent,
		recording_url = excluded.recording_url, dial_status = excluded.dial_status, updated_at = excluded.updated_at`,
			c.SID, c.From, c.To, c.Lang, c.Seq, c.Step, c.Tries, c.Need, c.Query, c.ZIP, string(results), c.Page,
			c.ReferralID, c.TextRef, c.Consent, c.Recording, c.Status, c.DialStatus, formatTime(c.StartedAt), at); err != nil {
			return fmt.Errorf("save call: %w", err)
		}
		if _, err := d.Batch.Exec(ctx, tx, `INSERT INTO hotline_call_step (call_sid, step, twiml, at) VALUES (?,?,?,?)`,
			c.SID, step, twiml, at); err != nil {
			return fmt.Errorf("save call step: %w", err)
		}
		saved = true
		return nil
	})
	if err != nil {
		return "", false, err
	}
	return answer, saved, nil
}

// unsayText replaces the answer recorded for step, which said its text
// went, with twiml, which says it did not, and puts back the call's
// textRef (see Voice.sendText).
func unsayText(ctx context.Context, d *db.DB, tx *sql.Tx, sid, step, twiml, textRef string) error {
	if _, err := d.Batch.Exec(ctx, tx, `UPDATE hotline_call_step SET twiml = ? WHERE call_sid = ? AND step = ?`, twiml, sid, step); err != nil {
		return fmt.Errorf("save call step: %w", err)
	}
	if _, err := d.Batch.Exec(ctx, tx, `UPDATE hotline_call SET text_ref = ? WHERE call_sid = ?`, textRef, sid); err != nil {
		return fmt.Errorf("save call: %w", err)
	}
	return nil
}

// CallRecord is how a call went, for staff and tests.
type CallRecord struct {
	SID, Language, Need, ZIP string
	ReferralID, Consent      string
	Recording                string
	Status, DialStatus       string
	Duration                 int
	Steps                    int
	EndedAt                  *time.Time
}

// Call returns what is recorded of a call (ENOTFOUND-free: ok is false
// when the call is unknown).
func (v *Voice) Call(ctx context.Context, sid string) (rec CallRecord, ok bool, err error) {
	var dur sql.NullInt64
	var ended sql.NullString
	err = v.DB.Read.QueryRowContext(ctx, `SELECT call_sid, language, need, zip, referral_id, consent, recording_url, status, dial_status,
		duration_seconds, ended_at, (SELECT COUNT(*) FROM hotline_call_step s WHERE s.call_sid = c.call_sid)
		FROM hotline_call c WHERE call_sid = ?`, sid).Scan(&rec.SID, &rec.Language, &rec.Need, &rec.ZIP, &rec.ReferralID, &rec.Consent,
		&rec.Recording, &rec.Status, &rec.DialStatus, &dur, &ended, &rec.Steps)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, false, nil
	} else if err != nil {
		return rec, false, err
	}
	rec.Duration = int(dur.Int64)
	if ended.Valid {
		t := parseTime(ended.String)
		rec.EndedAt = &t
	}
	return rec, true, nil
}
