package referral

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Answers to "did you get help?".
const (
	GotHelpYes    = "yes"
	GotHelpPartly = "partly"
	GotHelpNo     = "no"
)

// Reasons a referral did not (fully) work.
const (
	ReasonCouldntReach = "couldnt_reach" // could not reach the provider
	ReasonNotEligible  = "not_eligible"
	ReasonWaitlist     = "waitlist"   // waitlist or no capacity
	ReasonWrongInfo    = "wrong_info" // wrong information in the listing
	ReasonDidntGo      = "didnt_go"
	ReasonOther        = "other"
)

// Sources of an outcome.
const (
	SourceStaff = "staff"
	SourceSMS   = "sms"
	SourceVoice = "voice"
)

var (
	gotHelpValues = []string{GotHelpYes, GotHelpPartly, GotHelpNo}
	reasonValues  = []string{ReasonCouldntReach, ReasonNotEligible, ReasonWaitlist, ReasonWrongInfo, ReasonDidntGo, ReasonOther}
	sourceValues  = []string{SourceStaff, SourceSMS, SourceVoice}
)

// Outcome is what came of a referral, overall or for one service, answered
// in stages: reached the provider? -> got help? -> if not, why? -> still
// needs help? Unanswered stages are nil or "".
type Outcome struct {
	Reached *bool `json:"reached"`
	// GotHelp is yes, partly or no; only once Reached is true.
	GotHelp string `json:"got_help"`
	// Reason is why not: only when GotHelp is no or partly, or Reached is
	// false.
	Reason string `json:"reason"`
	// ReasonNote says more about the reason; only with a Reason.
	ReasonNote     string `json:"reason_note"`
	StillNeedsHelp *bool  `json:"still_needs_help"`
	// RecordedBy, RecordedAt and Source are of the latest answer.
	RecordedBy string    `json:"recorded_by"`
	RecordedAt time.Time `json:"recorded_at"`
	// Source is staff, sms or voice.
	Source string `json:"source"`
}

// Validate checks the values and the stage rules.
func (o *Outcome) Validate() error {
	if err := o.checkAnswers(); err != nil {
		return err
	}
	if o.GotHelp != "" && (o.Reached == nil || !*o.Reached) {
		return invalid("got_help", "needs reached to be true: only someone who reached the provider can say whether they got help")
	}
	notReached := o.Reached != nil && !*o.Reached
	if o.Reason != "" && o.GotHelp != GotHelpNo && o.GotHelp != GotHelpPartly && !notReached {
		return invalid("reason", "only when got_help is no or partly, or reached is false")
	}
	if o.ReasonNote != "" && o.Reason == "" {
		return invalid("reason_note", "only with a reason")
	}
	if err := validateActor("recorded_by", o.RecordedBy); err != nil {
		return err
	}
	if o.RecordedAt.IsZero() {
		return invalid("recorded_at", "required")
	}
	return nil
}

// checkAnswers checks each answer on its own, without the stage rules.
func (o *Outcome) checkAnswers() error {
	if o.Reached == nil && o.GotHelp == "" && o.Reason == "" && o.StillNeedsHelp == nil {
		return apperr.Errorf(apperr.EINVALID, "an outcome needs at least one answer: reached, got_help, reason or still_needs_help")
	}
	if o.GotHelp != "" && !slices.Contains(gotHelpValues, o.GotHelp) {
		return invalid("got_help", "must be one of %s, got %q", strings.Join(gotHelpValues, ", "), clip(o.GotHelp))
	}
	if o.Reason != "" && !slices.Contains(reasonValues, o.Reason) {
		return invalid("reason", "must be one of %s, got %q", strings.Join(reasonValues, ", "), clip(o.Reason))
	}
	if !validText(o.ReasonNote) {
		return invalid("reason_note", "must be text without control characters")
	}
	if n := utf8.RuneCountInString(o.ReasonNote); n > maxNote {
		return invalid("reason_note", "at most %d characters, got %d", maxNote, n)
	}
	if !slices.Contains(sourceValues, o.Source) {
		return invalid("source", "must be one of %s, got %q", strings.Join(sourceValues, ", "), clip(o.Source))
	}
	return nil
}

// Closed reports whether the outcome settles the referral: the person got
// help, or said whether they still need it. A nil outcome is not closed.
func (o *Outcome) Closed() bool {
	return o != nil && (o.GotHelp == GotHelpYes || o.StillNeedsHelp != nil)
}

func (o *Outcome) state() string {
	if o.Closed() {
		return StateClosed
	}
	return StateOpen
}

// sameAnswers reports whether a and b give the same answers, whoever
// recorded them when.
func (o *Outcome) sameAnswers(b *Outcome) bool {
	if o == nil || b == nil {
		return o == b
	}
	return eqBool(o.Reached, b.Reached) && o.GotHelp == b.GotHelp && o.Reason == b.Reason &&
		o.ReasonNote == b.ReasonNote && eqBool(o.StillNeedsHelp, b.StillNeedsHelp)
}

func eqBool(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// merge lays the answers of in over prev: an answer given replaces the
// earlier one, an answer not given keeps it. When an earlier stage gets a
// different answer than before, the later stages not given with it are
// cleared, since they answered a question that no longer applies (changing
// reached from false to true drops "why not" and "still needs help").
func merge(prev *Outcome, in Outcome) Outcome {
	if prev == nil {
		return in
	}
	out := *prev
	reset := false
	if in.Reached != nil {
		reset = prev.Reached != nil && *prev.Reached != *in.Reached
		out.Reached = in.Reached
	}
	switch {
	case in.GotHelp != "":
		reset = reset || prev.GotHelp != "" && prev.GotHelp != in.GotHelp
		out.GotHelp = in.GotHelp
	case reset:
		out.GotHelp = ""
	}
	switch {
	case in.Reason != "":
		out.Reason, out.ReasonNote = in.Reason, in.ReasonNote
	case reset:
		out.Reason, out.ReasonNote = "", ""
	case in.ReasonNote != "":
		out.ReasonNote = in.ReasonNote
	}
	switch {
	case in.StillNeedsHelp != nil:
		out.StillNeedsHelp = in.StillNeedsHelp
	case reset:
		out.StillNeedsHelp = nil
	}
	out.RecordedBy, out.RecordedAt, out.Source = in.RecordedBy, in.RecordedAt, in.Source
	return out
}

// RecordOutcome records answers about a referral: overall when serviceID is
// "", else for that referred service. Answers build on those recorded before
// (see Outcome for the stages), so a follow-up may record one stage at a
// time; answering the same again changes nothing. It returns the outcome as
// it now stands. The referral must exist (ENOTFOUND) and the service must be
// one of it (EINVALID naming service_id).
func (s *Store) RecordOutcome(ctx context.Context, referralID, serviceID string, o Outcome, actor string) (*Outcome, error) {
	if err := validateActor("recorded_by", actor); err != nil {
		return nil, err
	}
	now := s.now()
	o.RecordedBy, o.RecordedAt = actor, now
	o.ReasonNote = strings.TrimSpace(o.ReasonNote)
	// The answers as given first; the stage rules once merged with the
	// earlier ones.
	if err := o.checkAnswers(); err != nil {
		return nil, err
	}

	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	clientID, err := referralClient(ctx, tx, referralID)
	if err != nil {
		return nil, err
	}
	out, err := s.recordOutcome(ctx, tx, referralID, serviceID, clientID, o, actor, now)
	if err != nil {
		return nil, err
	}
	return out, tx.Commit()
}

// recordOutcome is RecordOutcome inside the caller's transaction, with o's
// answers already checked. An overall outcome also brings the referral's
// follow-ups in line (afterOutcome).
func (s *Store) recordOutcome(ctx context.Context, tx querier, referralID, serviceID, clientID string, o Outcome, actor string, now time.Time) (*Outcome, error) {
	o.RecordedBy, o.RecordedAt = actor, now
	field := "outcome"
	if serviceID != "" {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM referral_service WHERE referral_id = ? AND service_id = ?`,
			referralID, serviceID).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, invalid("service_id", "this referral did not refer to service %s", clip(serviceID))
		}
		field = "outcome[" + serviceID + "]"
	}
	prev, err := findOutcome(ctx, tx, referralID, serviceID)
	if err != nil {
		return nil, err
	}
	merged := merge(prev, o)
	if err := merged.Validate(); err != nil {
		return nil, err
	}
	if prev.sameAnswers(&merged) {
		return prev, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO referral_outcome (referral_id, service_id, reached, got_help, reason,
		reason_note, still_needs_help, recorded_by, recorded_at, source) VALUES (?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (referral_id, service_id) DO UPDATE SET reached = excluded.reached, got_help = excluded.got_help,
		reason = excluded.reason, reason_note = excluded.reason_note, still_needs_help = excluded.still_needs_help,
		recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at, source = excluded.source`,
		referralID, serviceID, nullBool(merged.Reached), merged.GotHelp, merged.Reason, merged.ReasonNote,
		nullBool(merged.StillNeedsHelp), merged.RecordedBy, formatTime(merged.RecordedAt), merged.Source); err != nil {
		return nil, err
	}
	ev := newEvent{ReferralID: referralID, ClientID: clientID, Actor: actor, At: now, Action: ActionOutcomeRecorded,
		Field: field, Before: prev, After: &merged}
	if err := writeEvents(ctx, tx, ev); err != nil {
		return nil, err
	}
	// Outcomes feed the directory: repeated listing problems flag the
	// service for re-verification (review.go).
	if err := s.checkListing(ctx, tx, referralID, serviceID, prev, &merged, now); err != nil {
		return nil, err
	}
	if serviceID == "" {
		if err := s.afterOutcome(ctx, tx, referralID, clientID, &merged, actor, now); err != nil {
			return nil, err
		}
	}
	return &merged, nil
}

// outcomeCols are the columns scanned by outcomeRow.dest, on the outcome
// aliased o.
const outcomeCols = `o.reached, o.got_help, o.reason, o.reason_note, o.still_needs_help, o.recorded_by, o.recorded_at, o.source`

// outcomeRow receives outcomeCols, all NULL when there is no outcome.
type outcomeRow struct {
	reached, still                                        sql.NullInt64
	gotHelp, reason, note, recordedBy, recordedAt, source sql.NullString
}

func (r *outcomeRow) dest() []any {
	return []any{&r.reached, &r.gotHelp, &r.reason, &r.note, &r.still, &r.recordedBy, &r.recordedAt, &r.source}
}

// outcome returns the scanned outcome, or nil when there is none.
func (r *outcomeRow) outcome() (*Outcome, error) {
	if !r.recordedBy.Valid {
		return nil, nil
	}
	at, err := parseTime(r.recordedAt.String)
	if err != nil {
		return nil, err
	}
	return &Outcome{
		Reached:        intBool(r.reached),
		GotHelp:        r.gotHelp.String,
		Reason:         r.reason.String,
		ReasonNote:     r.note.String,
		StillNeedsHelp: intBool(r.still),
		RecordedBy:     r.recordedBy.String,
		RecordedAt:     at,
		Source:         r.source.String,
	}, nil
}

// findOutcome returns the current outcome, or nil when none is recorded.
func findOutcome(ctx context.Context, q querier, referralID, serviceID string) (*Outcome, error) {
	var r outcomeRow
	err := q.QueryRowContext(ctx, `SELECT `+outcomeCols+` FROM referral_outcome o WHERE o.referral_id = ? AND o.service_id = ?`,
		referralID, serviceID).Scan(r.dest()...)
	if err == sql.ErrNoRows {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return r.outcome()
}

func nullBool(b *bool) any {
	if b == nil {
		return nil
	}
	return boolInt(*b)
}

func intBool(n sql.NullInt64) *bool {
	if !n.Valid {
		return nil
	}
	b := n.Int64 == 1
	return &b
}
