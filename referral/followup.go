package referral

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Kinds of follow-up: SMS ones the scheduler sends, tasks staff work.
const (
	KindCheckin  = "checkin"
	KindReminder = "reminder"
	KindFinal    = "final"
	KindCall     = "call"
	KindCallback = "callback"
)

// SMSKinds are the follow-ups the scheduler texts; the others are staff
// tasks.
var SMSKinds = []string{KindCheckin, KindReminder, KindFinal}

// States of a follow-up (see internal/db/migrations/0007_followup.sql).
const (
	FollowupPending   = "pending"
	FollowupSending   = "sending"
	FollowupSent      = "sent"
	FollowupAnswered  = "answered"
	FollowupUnsure    = "unsure"
	FollowupDone      = "done"
	FollowupCancelled = "cancelled"
	FollowupFailed    = "failed"
)

// Audit trail actions of follow-ups.
const (
	ActionFollowupScheduled = "followup.scheduled"
	ActionFollowupSent      = "followup.sent"
	ActionFollowupChanged   = "followup.changed" // Field is state, due_at, assignee
	ActionFollowupReply     = "followup.reply"
)

// Followup is one follow-up of a referral: a text to send or a task for
// staff.
type Followup struct {
	ID         string     `json:"id"`
	ReferralID string     `json:"referral_id"`
	Kind       string     `json:"kind"`
	State      string     `json:"state"`
	DueAt      time.Time  `json:"due_at"`
	Reason     string     `json:"reason"`
	Body       string     `json:"body,omitempty"`
	MessageRef string     `json:"message_ref,omitempty"`
	SentAt     *time.Time `json:"sent_at"`
	Attempts   int        `json:"attempts"`
	// Reply is the person's text, ReplyCode what it was read as.
	Reply     string     `json:"reply,omitempty"`
	ReplyCode string     `json:"reply_code,omitempty"`
	RepliedAt *time.Time `json:"replied_at"`
	Assignee  string     `json:"assignee"`
	ClosedBy  string     `json:"closed_by"`
	ClosedAt  *time.Time `json:"closed_at"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// IsTask reports whether staff work this follow-up (a call or callback).
func (f *Followup) IsTask() bool { return !slices.Contains(SMSKinds, f.Kind) }

const followupCols = `f.id, f.referral_id, f.kind, f.state, f.due_at, f.reason, f.body, f.message_ref, f.sent_at, f.attempts,
	f.reply, f.reply_code, f.replied_at, f.assignee, f.closed_by, f.closed_at, f.created_at, f.updated_at`

func scanFollowup(sc interface{ Scan(...any) error }) (*Followup, error) {
	var f Followup
	var due, created, updated string
	var sent, replied, closed sql.NullString
	if err := sc.Scan(&f.ID, &f.ReferralID, &f.Kind, &f.State, &due, &f.Reason, &f.Body, &f.MessageRef, &sent, &f.Attempts,
		&f.Reply, &f.ReplyCode, &replied, &f.Assignee, &f.ClosedBy, &closed, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if f.DueAt, err = parseTime(due); err != nil {
		return nil, err
	}
	if f.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if f.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	if f.SentAt, err = parseNullTime(sent); err != nil {
		return nil, err
	}
	if f.RepliedAt, err = parseNullTime(replied); err != nil {
		return nil, err
	}
	if f.ClosedAt, err = parseNullTime(closed); err != nil {
		return nil, err
	}
	return &f, nil
}

func queryFollowups(ctx context.Context, q querier, where string, args ...any) ([]*Followup, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+followupCols+` FROM followup f WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Followup
	for rows.Next() {
		f, err := scanFollowup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func findFollowup(ctx context.Context, q querier, id string) (*Followup, error) {
	fs, err := queryFollowups(ctx, q, `f.id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(fs) == 0 {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "No follow-up with that id.")
	}
	return fs[0], nil
}

// Followups returns a referral's follow-ups, oldest first.
func (s *Store) Followups(ctx context.Context, referralID string) ([]*Followup, error) {
	return queryFollowups(ctx, s.db.Read, `f.referral_id = ? ORDER BY f.due_at, f.created_at`, referralID)
}

// GetFollowup returns one follow-up.
func (s *Store) GetFollowup(ctx context.Context, id string) (*Followup, error) {
	return findFollowup(ctx, s.db.Read, id)
}

func (s *Store) policy() *Policy {
	if s.Policy == nil {
		p := DefaultPolicy()
		s.Policy = &p
	}
	return s.Policy
}

// insertFollowup adds a follow-up and its audit event.
func insertFollowup(ctx context.Context, tx querier, f *Followup, clientID, actor string) error {
	// The referral's need and channel are copied for the queue's filters
	// (0014_queue_filters.sql).
	res, err := tx.ExecContext(ctx, `INSERT INTO followup (id, referral_id, kind, state, due_at, reason, created_at, updated_at,
		need_category, channel) SELECT ?,?,?,?,?,?,?,?, r.need_category, r.channel FROM referral r WHERE r.id = ?`,
		f.ID, f.ReferralID, f.Kind, f.State, formatTime(f.DueAt), f.Reason, formatTime(f.CreatedAt), formatTime(f.UpdatedAt), f.ReferralID)
	if err != nil {
		return fmt.Errorf("insert follow-up: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("insert follow-up: referral %s not found (%d, %v)", f.ReferralID, n, err)
	}
	return writeEvents(ctx, tx, newEvent{ReferralID: f.ReferralID, ClientID: clientID, Actor: actor, At: f.CreatedAt,
		Action: ActionFollowupScheduled, Field: f.Kind, After: map[string]any{"id": f.ID, "kind": f.Kind, "due_at": f.DueAt, "reason": f.Reason}})
}

func newFollowup(referralID, kind string, due, now time.Time, reason string) *Followup {
	return &Followup{ID: uuid.NewString(), ReferralID: referralID, Kind: kind, State: FollowupPending,
		DueAt: due.UTC().Truncate(time.Microsecond), Reason: reason, CreatedAt: now, UpdatedAt: now}
}

// sameNeedWindow is how far back a referral for the same need covers a
// new one's follow-ups (see scheduleFollowups).
const sameNeedWindow = 24 * time.Hour

// scheduleFollowups plans a referral's check-in, reminder and, withCall,
// call task (by the policy for its need, counted from when the referral
// was made) when the client may be followed up, and returns how many it
// planned. The planner calls it (planReferral). A person given several
// lists for one need within a day (a text search, MORE, a call) is asked
// once: the follow-ups already planned for their earlier referral for
// that need cover the new one, which gets none.
func (s *Store) scheduleFollowups(ctx context.Context, tx querier, r *Referral, withCall bool, now time.Time) (int, error) {
	if r.Client == nil || !r.Client.CanFollowUp() {
		return 0, nil
	}
	var covered int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM referral p JOIN followup f ON f.referral_id = p.id
		WHERE p.client_id = ? AND p.id != ? AND p.need_category = ? AND p.created_at >= ?
		AND f.kind = 'checkin' AND f.state = 'pending'`,
		r.ClientID, r.ID, r.NeedCategory, formatTime(r.CreatedAt.Add(-sameNeedWindow))).Scan(&covered)
	if err != nil {
		return 0, fmt.Errorf("look for follow-ups planned for the same need: %w", err)
	}
	if covered > 0 {
		return 0, nil
	}
	st := s.policy().StepsFor(r.NeedCategory)
	day := func(n int) time.Time { return r.CreatedAt.AddDate(0, 0, n) }
	planned := 0
	for _, k := range []struct {
		kind string
		days int
	}{{KindCheckin, st.Checkin}, {KindReminder, st.Reminder}, {KindCall, st.Call}} {
		if k.days == 0 || (k.kind == KindCall && !withCall) {
			continue
		}
		reason := ""
		if k.kind == KindCall {
			reason = "scheduled call: no reply, or no help yet"
		}
		if err := insertFollowup(ctx, tx, newFollowup(r.ID, k.kind, day(k.days), now, reason), r.ClientID, r.CreatedBy); err != nil {
			return planned, err
		}
		planned++
	}
	return planned, nil
}

// setFollowupState moves f to state with a reason, recording the change.
func setFollowupState(ctx context.Context, tx querier, f *Followup, state, reason, actor, clientID string, now time.Time) error {
	closed := any(nil)
	closedBy := ""
	if state == FollowupDone || state == FollowupCancelled || state == FollowupFailed {
		closed, closedBy = formatTime(now), actor
	}
	if _, err := tx.ExecContext(ctx, `UPDATE followup SET state = ?, reason = ?, closed_at = COALESCE(?, closed_at),
		closed_by = CASE WHEN ? <> '' THEN ? ELSE closed_by END, updated_at = ? WHERE id = ?`,
		state, reason, closed, closedBy, closedBy, formatTime(now), f.ID); err != nil {
		return fmt.Errorf("update follow-up: %w", err)
	}
	ev := newEvent{ReferralID: f.ReferralID, ClientID: clientID, Actor: actor, At: now, Action: ActionFollowupChanged,
		Field: "state", Before: map[string]any{"id": f.ID, "kind": f.Kind, "state": f.State},
		After: map[string]any{"id": f.ID, "kind": f.Kind, "state": state, "reason": reason}}
	f.State, f.Reason = state, reason
	return writeEvents(ctx, tx, ev)
}

// cancelPending cancels a referral's pending follow-ups of the given kinds.
func cancelPending(ctx context.Context, tx querier, referralID, clientID string, kinds []string, reason, actor string, now time.Time) error {
	fs, err := queryFollowups(ctx, tx, `f.referral_id = ? AND f.state = 'pending' AND f.kind IN (`+placeholders(len(kinds))+`)`,
		append([]any{referralID}, anySlice(kinds)...)...)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if err := setFollowupState(ctx, tx, f, FollowupCancelled, reason, actor, clientID, now); err != nil {
			return err
		}
	}
	return nil
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// afterOutcome brings a referral's follow-ups in line with its overall
// outcome, in the transaction that recorded it:
//   - the person said whether they still need help: nothing more is asked;
//   - they got help (or partly): no more check-ins or calls, and a final
//     check at the policy's day (if they may be followed up);
//   - they answered whether they reached the provider: no more check-ins;
//     the call task stays.
func (s *Store) afterOutcome(ctx context.Context, tx querier, referralID, clientID string, o *Outcome, actor string, now time.Time) error {
	switch {
	case o.StillNeedsHelp != nil:
		return cancelPending(ctx, tx, referralID, clientID, []string{KindCheckin, KindReminder, KindFinal, KindCall},
			"outcome recorded: still needs help answered", actor, now)
	case o.GotHelp == GotHelpYes || o.GotHelp == GotHelpPartly:
		if err := cancelPending(ctx, tx, referralID, clientID, []string{KindCheckin, KindReminder, KindCall},
			"outcome recorded: got help", actor, now); err != nil {
			return err
		}
		return s.ensureFinal(ctx, tx, referralID, clientID, actor, now)
	case o.Reached != nil || o.Reason != "":
		return cancelPending(ctx, tx, referralID, clientID, []string{KindCheckin, KindReminder},
			"outcome recorded: reached answered", actor, now)
	}
	return nil
}

// ensureFinal schedules the final check of a referral once.
func (s *Store) ensureFinal(ctx context.Context, tx querier, referralID, clientID, actor string, now time.Time) error {
	var need, created string
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT r.need_category, r.created_at,
		(SELECT COUNT(*) FROM followup f WHERE f.referral_id = r.id AND f.kind = 'final')
		FROM referral r WHERE r.id = ?`, referralID).Scan(&need, &created, &n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	cl, err := findClient(ctx, tx, "c.id = ?", clientID)
	if err != nil {
		return err
	}
	days := s.policy().StepsFor(need).Final
	if days == 0 || !cl.CanFollowUp() {
		return nil
	}
	at, err := parseTime(created)
	if err != nil {
		return err
	}
	due := at.AddDate(0, 0, days)
	if due.Before(now) {
		due = now
	}
	return insertFollowup(ctx, tx, newFollowup(referralID, KindFinal, due, now, ""), clientID, actor)
}

// cancelClientSMS cancels every pending text to a client (they opted out
// or asked to be deleted). Call tasks stay: staff may still call.
func cancelClientSMS(ctx context.Context, tx querier, clientID, reason, actor string, now time.Time) error {
	fs, err := queryFollowups(ctx, tx, `f.state = 'pending' AND f.kind IN ('checkin','reminder','final')
		AND f.referral_id IN (SELECT id FROM referral WHERE client_id = ?)`, clientID)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if err := setFollowupState(ctx, tx, f, FollowupCancelled, reason, actor, clientID, now); err != nil {
			return err
		}
	}
	return nil
}

// RequestCallback adds a staff callback task to a referral (the person asked
// for a call by text, voicemail or in person). A pending call task of the
// referral is brought forward instead of adding a second.
func (s *Store) RequestCallback(ctx context.Context, referralID, reason, actor string) (*Followup, error) {
	if err := validateActor("actor", actor); err != nil {
		return nil, err
	}
	now := s.now()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	clientID, err := referralClient(ctx, tx, referralID)
	if err != nil {
		return nil, err
	}
	f, err := requestCallback(ctx, tx, referralID, clientID, reason, actor, now)
	if err != nil {
		return nil, err
	}
	return f, tx.Commit()
}

func requestCallback(ctx context.Context, tx querier, referralID, clientID, reason, actor string, now time.Time) (*Followup, error) {
	open, err := queryFollowups(ctx, tx, `f.referral_id = ? AND f.state = 'pending' AND f.kind IN ('call','callback')
		ORDER BY f.due_at LIMIT 1`, referralID)
	if err != nil {
		return nil, err
	}
	if len(open) > 0 {
		f := open[0]
		if f.Kind == KindCallback && !f.DueAt.After(now) {
			return f, nil // asked twice: one callback is enough
		}
		if _, err := tx.ExecContext(ctx, `UPDATE followup SET kind = 'callback', due_at = ?, reason = ?, updated_at = ? WHERE id = ?`,
			formatTime(now), reason, formatTime(now), f.ID); err != nil {
			return nil, err
		}
		ev := newEvent{ReferralID: referralID, ClientID: clientID, Actor: actor, At: now, Action: ActionFollowupChanged, Field: "due_at",
			Before: map[string]any{"id": f.ID, "kind": f.Kind, "due_at": f.DueAt},
			After:  map[string]any{"id": f.ID, "kind": KindCallback, "due_at": now, "reason": reason}}
		if err := writeEvents(ctx, tx, ev); err != nil {
			return nil, err
		}
		f.Kind, f.DueAt, f.Reason, f.UpdatedAt = KindCallback, now, reason, now
		return f, nil
	}
	f := newFollowup(referralID, KindCallback, now, now, reason)
	return f, insertFollowup(ctx, tx, f, clientID, actor)
}

// MayAnswer reports whether a text from phone could answer a follow-up:
// one was texted to them within the policy's ReplyDays and is waiting for
// an answer or was answered. It only reads; HandleReply decides.
func (s *Store) MayAnswer(ctx context.Context, phone string) (bool, error) {
	p, err := NormalizePhone(phone)
	if err != nil || p == "" {
		return false, nil
	}
	since := s.now().AddDate(0, 0, -s.policy().ReplyDays)
	var n int
	err = s.db.ReadStmts.QueryRow(ctx, `SELECT COUNT(*) FROM referral_client c JOIN referral r ON r.client_id = c.id
		JOIN followup f ON f.referral_id = r.id
		WHERE c.phone = ? AND f.kind IN ('checkin','reminder','final') AND f.sent_at >= ?
		AND f.state IN ('sent', 'answered')`, p, formatTime(since)).Scan(&n)
	return n > 0, err
}

// HandleReply reads an incoming text from phone as the answer to that
// person's latest follow-up text, when one was sent within the policy's
// ReplyDays and not yet answered (or answered with a request still open).
// It records the outcome, the reply and the audit trail in one transaction
// (through the group commit, with other writes) and returns the text to
// answer with. handled is false when the number has no such follow-up: the
// hotline's own SMS conversation then takes the text. A webhook delivered twice must be filtered by its message id before
// this is called; replaying the same answer twice changes no outcome.
func (s *Store) HandleReply(ctx context.Context, phone, body string) (answer string, handled bool, err error) {
	p, err := NormalizePhone(phone)
	if err != nil || p == "" {
		return "", false, nil
	}
	// Most texts answer no follow-up: look on a reader first, so that
	// they do not wait for the single writer (which would hold every
	// hotline text in line behind the others' writes).
	if may, err := s.MayAnswer(ctx, p); err != nil || !may {
		return "", false, err
	}
	type result struct {
		answer  string
		handled bool
	}
	r, err := inWrite(ctx, s, func(ctx context.Context, tx querier) (result, error) {
		answer, handled, err := s.replyTx(ctx, tx, p, body)
		return result{answer, handled}, err
	})
	return r.answer, r.handled, err
}

// replyTx is HandleReply's write, in tx (the group commit's).
func (s *Store) replyTx(ctx context.Context, tx querier, p, body string) (answer string, handled bool, err error) {
	now := s.now()
	since := now.AddDate(0, 0, -s.policy().ReplyDays)
	cl, err := findClient(ctx, tx, "c.phone = ?", p)
	if apperr.Code(err) == apperr.ENOTFOUND {
		return "", false, nil
	} else if err != nil {
		return "", false, err
	}
	// The latest text sent to them, unanswered or answered with 2-4 (which
	// offers a call).
	fs, err := queryFollowups(ctx, tx, `f.kind IN ('checkin','reminder','final') AND f.sent_at >= ?
		AND (f.state = 'sent' OR (f.state = 'answered' AND f.reply_code IN ('2','3','4')))
		AND f.referral_id IN (SELECT id FROM referral WHERE client_id = ?)
		ORDER BY f.sent_at DESC LIMIT 1`, formatTime(since), cl.ID)
	if err != nil {
		return "", false, err
	}
	if len(fs) == 0 {
		return "", false, nil
	}
	f := fs[0]
	code := ParseReply(f.Kind, body)
	if f.State == FollowupAnswered && code != ReplyCall {
		// They answered already and this is not a call request: a new
		// need, perhaps; the hotline's conversation takes it.
		return "", false, nil
	}
	lang := cl.Language
	actor := SystemActorPrefix + ChannelSMS
	reply := clipReply(body)
	var o *Outcome
	state := FollowupAnswered
	switch {
	case code == ReplyCall:
		reason := "asked for a call by text"
		if _, err := requestCallback(ctx, tx, f.ReferralID, cl.ID, reason, actor, now); err != nil {
			return "", false, err
		}
		answer = text(lang, "call")
	case code == ReplyUnclear || (code == ReplyReached && f.ReplyCode == ReplyReached):
		if f.ReplyCode == ReplyUnclear || f.ReplyCode == ReplyReached {
			// A second unclear answer: a person reads it.
			if _, err := requestCallback(ctx, tx, f.ReferralID, cl.ID, "unclear reply to a follow-up text", actor, now); err != nil {
				return "", false, err
			}
			answer = text(lang, "unclear")
		} else {
			state = FollowupSent // still waiting for the answer
			answer = text(lang, "clarify")
			if f.Kind == KindFinal {
				answer = text(lang, "clarifyF")
			}
		}
	case code == ReplyReached:
		// "Yes": they reached the provider; ask whether it helped.
		o = &Outcome{Reached: ptr(true)}
		state = FollowupSent
		answer = text(lang, "clarify")
	case f.Kind == KindFinal && code == ReplyGotHelp:
		o = &Outcome{StillNeedsHelp: ptr(false)}
		answer = text(lang, "done")
	case f.Kind == KindFinal:
		o = &Outcome{StillNeedsHelp: ptr(true)}
		if _, err := requestCallback(ctx, tx, f.ReferralID, cl.ID, "still needs help (final check)", actor, now); err != nil {
			return "", false, err
		}
		answer = text(lang, "call")
	case code == ReplyGotHelp:
		o = &Outcome{Reached: ptr(true), GotHelp: GotHelpYes}
		answer = text(lang, "thanks1")
	case code == ReplyNoHelpYet:
		o = &Outcome{Reached: ptr(true)}
		answer = text(lang, "offer")
	case code == ReplyCouldntReach:
		o = &Outcome{Reached: ptr(false), Reason: ReasonCouldntReach}
		answer = text(lang, "offer")
	case code == ReplyNotTried:
		o = &Outcome{Reached: ptr(false), Reason: ReasonDidntGo}
		answer = text(lang, "offer")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE followup SET state = ?, reply = ?, reply_code = ?, replied_at = ?, updated_at = ? WHERE id = ?`,
		state, reply, code, formatTime(now), formatTime(now), f.ID); err != nil {
		return "", false, err
	}
	if err := writeEvents(ctx, tx, newEvent{ReferralID: f.ReferralID, ClientID: cl.ID, Actor: actor, At: now,
		Action: ActionFollowupReply, Field: f.Kind, Before: map[string]any{"id": f.ID, "state": f.State, "reply_code": f.ReplyCode},
		After: map[string]any{"id": f.ID, "state": state, "reply_code": code}}); err != nil {
		return "", false, err
	}
	if o != nil {
		o.Source = SourceSMS
		if _, err := s.recordOutcome(ctx, tx, f.ReferralID, "", cl.ID, *o, actor, now); err != nil {
			// An answer that contradicts an earlier one (staff recorded
			// "not reached", the text says "got help") is kept in the
			// reply for staff; the outcome stays as it was.
			if apperr.Code(err) != apperr.EINVALID {
				return "", false, err
			}
			if _, err := requestCallback(ctx, tx, f.ReferralID, cl.ID, "reply does not fit the recorded outcome: check with the person", actor, now); err != nil {
				return "", false, err
			}
		}
	}
	return answer, true, nil
}

func ptr[T any](v T) *T { return &v }

// clipReply keeps a reply to 1,000 characters of one line.
func clipReply(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxNote {
		s = string(r[:maxNote])
	}
	return s
}
