package referral

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// SMS is one follow-up text to send.
type SMS struct {
	To      string
	Body    string
	Purpose string
	// Ref is the idempotency key: the sender never sends the same Ref
	// twice, across retries and restarts.
	Ref string
}

// Sender sends follow-up texts. cmd adapts the hotline's logged sender to
// it; its errors are classified with the sentinels below.
type Sender interface {
	SendSMS(ctx context.Context, m SMS) error
}

// Errors a Sender returns (wrapped) so the runner knows what to do.
var (
	// ErrOptedOut: the number opted out; never text it again.
	ErrOptedOut = errors.New("the recipient opted out")
	// ErrUndeliverable: refused for good (an invalid number, ...).
	ErrUndeliverable = errors.New("the message cannot be delivered")
	// ErrSendUnsure: the message may have gone out; do not resend.
	ErrSendUnsure = errors.New("the message may have been sent")
)

// Anything else a Sender returns is transient: the text is tried again
// after a pause, at most maxAttempts times.
const maxAttempts = 5

// staleSending is how long a follow-up may stay "sending" before a runner
// takes it for one whose process died mid-send.
const staleSending = 2 * time.Minute

// Runner sends the follow-up texts that are due: the scheduler. It runs
// inside serve (Run) and as `secondchance followups run --at TIME`
// (RunDue).
//
// Each text is claimed (state sending, committed), sent with the ref
// "followup:<id>", then recorded (sent). The sender's own log makes the ref
// idempotent, so a runner that finds a text left "sending" by a killed
// process asks again with the same ref: the log answers "already sent"
// (recorded as sent), "started and never finished" (recorded as unsure, for
// staff: never resent blindly), or nothing (it was never sent; it is sent
// now). Nothing due is skipped: texts wait, oldest first, for the sending
// window and the daily cap. Each run first plans the follow-ups of any
// referral the planner has not reached (see planner.go), so a referral
// whose process died before planning it is planned at the next start.
type Runner struct {
	Store  *Store
	Sender Sender
	Log    *slog.Logger
	// Now is the clock for Run; RunDue takes its time as an argument.
	Now func() time.Time
	// Wait pauses between texts to keep to the policy's pace; tests replace
	// it.
	Wait func(ctx context.Context, d time.Duration) error
	// Every is how often Run looks for due work (default one minute).
	Every time.Duration
}

// Summary counts what a run did.
type Summary struct {
	// Planned are referrals whose follow-ups were still to plan (left by
	// a process killed after the referral's commit, or not yet reached by
	// the planner), planned by this run.
	Planned   int `json:"planned"`
	Sent      int `json:"sent"`
	Cancelled int `json:"cancelled"`
	Failed    int `json:"failed"`
	Unsure    int `json:"unsure"`
	Retry     int `json:"retry"`
	// Waiting are texts due but held back by the window or the daily cap.
	Waiting int `json:"waiting"`
	// WindowClosed is true when the run stopped because at is outside the
	// sending window; CapReached when the day's cap was reached.
	WindowClosed bool `json:"window_closed"`
	CapReached   bool `json:"cap_reached"`
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run processes due follow-ups every Every until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	every := r.Every
	if every <= 0 {
		every = time.Minute
	}
	now := r.Now
	if now == nil {
		now = time.Now
	}
	for {
		sum, err := r.RunDue(ctx, now())
		if err != nil && ctx.Err() == nil {
			r.log().ErrorContext(ctx, "follow-up run failed", "err", err)
		} else if sum.Planned+sum.Sent+sum.Failed+sum.Unsure+sum.Cancelled > 0 {
			r.log().InfoContext(ctx, "follow-ups processed", "planned", sum.Planned, "sent", sum.Sent, "cancelled", sum.Cancelled,
				"failed", sum.Failed, "unsure", sum.Unsure, "retry", sum.Retry, "waiting", sum.Waiting)
		}
		if sleepCtx(ctx, every) != nil {
			return
		}
	}
}

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// RunDue processes every text due as of at: first it plans the referrals
// still to plan (planner.go: at start, this is what a killed process left),
// then it finishes the texts a killed process left "sending", then sends
// pending ones oldest first, while at is inside the sending window and
// under the daily cap, at the policy's pace. Staff tasks need no
// processing: the queue shows them when due. A failure to plan does not
// hold back the texts already planned; both errors are returned.
func (r *Runner) RunDue(ctx context.Context, at time.Time) (Summary, error) {
	planned, planErr := r.Store.PlanFollowups(ctx)
	sum, err := r.sendDue(ctx, at)
	sum.Planned = planned
	if planErr != nil {
		err = errors.Join(fmt.Errorf("plan follow-ups: %w", planErr), err)
	}
	return sum, err
}

// sendDue is RunDue after planning.
func (r *Runner) sendDue(ctx context.Context, at time.Time) (Summary, error) {
	var sum Summary
	s := r.Store
	p := s.policy()
	at = at.UTC().Truncate(time.Microsecond)
	wait := r.Wait
	if wait == nil {
		wait = sleepCtx
	}
	pace := time.Duration(float64(time.Second) / p.PerSecond)

	// Texts left "sending" by a process that died mid-send.
	stale, err := queryFollowups(ctx, s.db.Read, `f.state = 'sending' AND f.updated_at <= ? ORDER BY f.due_at`,
		formatTime(at.Add(-staleSending)))
	if err != nil {
		return sum, err
	}
	for _, f := range stale {
		if err := r.deliver(ctx, f, at, &sum); err != nil {
			return sum, err
		}
	}

	if !p.InWindow(at) {
		sum.WindowClosed = true
		return sum, r.countWaiting(ctx, at, &sum)
	}
	sentToday, err := r.sentSince(ctx, p.dayStart(at))
	if err != nil {
		return sum, err
	}
	// Texts start at most one per pace interval: the wait is what is left
	// of the interval after the previous text's own work, so the
	// configured rate is kept rather than slowed by the sending itself.
	var lastStart time.Time
	for {
		if sentToday >= p.DailyCap {
			sum.CapReached = true
			return sum, r.countWaiting(ctx, at, &sum)
		}
		due, err := queryFollowups(ctx, s.db.Read, `f.state = 'pending' AND f.kind IN ('checkin','reminder','final')
			AND f.due_at <= ? ORDER BY f.due_at, f.id LIMIT 100`, formatTime(at))
		if err != nil {
			return sum, err
		}
		if len(due) == 0 {
			return sum, nil
		}
		progress := false
		for _, f := range due {
			if sentToday >= p.DailyCap {
				break
			}
			claimed, msg, err := r.claim(ctx, f, at, &sum)
			if err != nil {
				return sum, err
			}
			if !claimed {
				progress = true // cancelled, or taken by another runner
				continue
			}
			if !lastStart.IsZero() {
				if left := pace - time.Since(lastStart); left > 0 {
					if err := wait(ctx, left); err != nil {
						return sum, err
					}
				}
			}
			lastStart = time.Now()
			before := sum.Sent
			if err := r.send(ctx, f, msg, at, &sum); err != nil {
				return sum, err
			}
			if sum.Sent > before {
				sentToday++
			}
			progress = true
		}
		if !progress {
			return sum, nil
		}
		if err := ctx.Err(); err != nil {
			return sum, err
		}
	}
}

// countWaiting counts the texts due but not sent.
func (r *Runner) countWaiting(ctx context.Context, at time.Time, sum *Summary) error {
	return r.Store.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM followup WHERE state = 'pending'
		AND kind IN ('checkin','reminder','final') AND due_at <= ?`, formatTime(at)).Scan(&sum.Waiting)
}

func (r *Runner) sentSince(ctx context.Context, since time.Time) (int, error) {
	var n int
	err := r.Store.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM followup WHERE sent_at >= ?`, formatTime(since)).Scan(&n)
	return n, err
}

// claim decides whether f is still to be sent and, if so, marks it sending
// with its text in one transaction. A follow-up made moot (the person opted
// out, withdrew consent, already answered) is cancelled instead.
func (r *Runner) claim(ctx context.Context, f *Followup, at time.Time, sum *Summary) (bool, SMS, error) {
	s := r.Store
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return false, SMS{}, err
	}
	defer tx.Rollback()
	f, err = findFollowup(ctx, tx, f.ID)
	if err != nil {
		return false, SMS{}, err
	}
	if f.State != FollowupPending {
		return false, SMS{}, tx.Commit() // another runner took it
	}
	rs, err := loadReferrals(ctx, tx, `r.id = ?`, f.ReferralID)
	if err != nil {
		return false, SMS{}, err
	}
	if len(rs) == 0 {
		return false, SMS{}, fmt.Errorf("follow-up %s: referral %s is missing", f.ID, f.ReferralID)
	}
	ref := rs[0]
	cl := ref.Client
	actor := SystemActorPrefix + ChannelSMS
	moot := ""
	switch {
	case cl.DeletedAt != nil:
		moot = "client deleted"
	case cl.OptedOutAt != nil:
		moot = "opted out"
	case !cl.CanFollowUp():
		moot = "no consent to follow-up"
	case f.Kind == KindReminder:
		var answered int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM followup WHERE referral_id = ? AND kind = 'checkin'
			AND (state = 'answered' OR reply_code <> '')`, f.ReferralID).Scan(&answered); err != nil {
			return false, SMS{}, err
		}
		if answered > 0 {
			moot = "the check-in was answered"
		}
	}
	if moot == "" && ref.Outcome != nil && f.Kind != KindFinal && (ref.Outcome.Reached != nil || ref.Outcome.Reason != "") {
		moot = "outcome already recorded"
	}
	if moot == "" && ref.Outcome != nil && ref.Outcome.StillNeedsHelp != nil {
		moot = "outcome already recorded"
	}
	if moot != "" {
		sum.Cancelled++
		if err := setFollowupState(ctx, tx, f, FollowupCancelled, moot, actor, cl.ID, at); err != nil {
			return false, SMS{}, err
		}
		return false, SMS{}, tx.Commit()
	}
	msg := SMS{To: cl.Phone, Body: followupText(f.Kind, cl.Language, ref.NeedCategory, ref.Services),
		Purpose: "followup-" + f.Kind, Ref: "followup:" + f.ID}
	if _, err := tx.ExecContext(ctx, `UPDATE followup SET state = 'sending', body = ?, message_ref = ?, attempts = attempts + 1,
		updated_at = ? WHERE id = ?`, msg.Body, msg.Ref, formatTime(at), f.ID); err != nil {
		return false, SMS{}, err
	}
	return true, msg, tx.Commit()
}

// deliver finishes a follow-up left "sending": it asks the sender again
// with the same ref, which never sends twice.
func (r *Runner) deliver(ctx context.Context, f *Followup, at time.Time, sum *Summary) error {
	cl, err := findClient(ctx, r.Store.db.Read, `c.id = (SELECT client_id FROM referral WHERE id = ?)`, f.ReferralID)
	if err != nil {
		return err
	}
	if cl.Phone == "" { // deleted since
		return r.finish(ctx, f, FollowupCancelled, "client deleted", at, sum)
	}
	return r.send(ctx, f, SMS{To: cl.Phone, Body: f.Body, Purpose: "followup-" + f.Kind, Ref: f.MessageRef}, at, sum)
}

// send sends a claimed follow-up and records what happened.
func (r *Runner) send(ctx context.Context, f *Followup, msg SMS, at time.Time, sum *Summary) error {
	err := r.Sender.SendSMS(ctx, msg)
	// What happened must be recorded even when ctx has just ended.
	rctx := context.WithoutCancel(ctx)
	log := r.log().With("followup", f.ID, "kind", f.Kind)
	switch {
	case err == nil:
		return r.finish(rctx, f, FollowupSent, "", at, sum)
	case errors.Is(err, ErrOptedOut):
		log.InfoContext(ctx, "follow-up not sent: opted out")
		if err := r.finish(rctx, f, FollowupCancelled, "opted out", at, sum); err != nil {
			return err
		}
		// Both records of the opt-out: the sender's list has it already.
		if cl, err := findClient(rctx, r.Store.db.Read, `c.id = (SELECT client_id FROM referral WHERE id = ?)`, f.ReferralID); err == nil && cl.Phone != "" {
			if _, err := r.Store.OptOut(rctx, cl.Phone, SystemActorPrefix+ChannelSMS); err != nil {
				return err
			}
		}
		return nil
	case errors.Is(err, ErrUndeliverable):
		log.WarnContext(ctx, "follow-up not sent: refused for good", "err", err)
		return r.finish(rctx, f, FollowupFailed, err.Error(), at, sum)
	case errors.Is(err, ErrSendUnsure):
		log.WarnContext(ctx, "follow-up may have been sent; left for staff", "err", err)
		return r.finish(rctx, f, FollowupUnsure, "may have been sent: check the provider's log before texting again", at, sum)
	case ctx.Err() != nil:
		// Stopped mid-send: the row stays "sending" and the next run asks
		// the sender's log what became of it.
		return ctx.Err()
	default:
		if f.Attempts+1 >= maxAttempts {
			log.WarnContext(ctx, "follow-up not sent; giving up", "attempts", f.Attempts+1, "err", err)
			return r.finish(rctx, f, FollowupFailed, fmt.Sprintf("not sent after %d attempts: %v", f.Attempts+1, err), at, sum)
		}
		log.WarnContext(ctx, "follow-up not sent; will retry", "attempts", f.Attempts+1, "err", err)
		sum.Retry++
		backoff := time.Duration(1<<f.Attempts) * 5 * time.Minute
		_, err := r.Store.db.Write.ExecContext(rctx, `UPDATE followup SET state = 'pending', due_at = ?, reason = ?, updated_at = ? WHERE id = ?`,
			formatTime(at.Add(backoff)), "retrying: "+err.Error(), formatTime(at), f.ID)
		return err
	}
}

// finish records a sent follow-up's final state with its audit event.
func (r *Runner) finish(ctx context.Context, f *Followup, state, reason string, at time.Time, sum *Summary) error {
	s := r.Store
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	cur, err := findFollowup(ctx, tx, f.ID)
	if err != nil {
		return err
	}
	clientID, err := referralClient(ctx, tx, f.ReferralID)
	if err != nil {
		return err
	}
	actor := SystemActorPrefix + ChannelSMS
	if state == FollowupSent {
		if _, err := tx.ExecContext(ctx, `UPDATE followup SET state = 'sent', sent_at = ?, reason = '', updated_at = ? WHERE id = ?`,
			formatTime(at), formatTime(at), f.ID); err != nil {
			return err
		}
		if err := writeEvents(ctx, tx, newEvent{ReferralID: f.ReferralID, ClientID: clientID, Actor: actor, At: at,
			Action: ActionFollowupSent, Field: f.Kind, After: map[string]any{"id": f.ID, "kind": f.Kind, "ref": cur.MessageRef}}); err != nil {
			return err
		}
		sum.Sent++
	} else {
		if err := setFollowupState(ctx, tx, cur, state, reason, actor, clientID, at); err != nil {
			return err
		}
		switch state {
		case FollowupCancelled:
			sum.Cancelled++
		case FollowupFailed:
			sum.Failed++
		case FollowupUnsure:
			sum.Unsure++
		}
	}
	return tx.Commit()
}
