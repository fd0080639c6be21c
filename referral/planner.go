package referral

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"
)

// The planner: a referral's follow-ups are planned in a write of their
// own, after the referral has committed.
//
// A hotline webhook must not answer before the referral, its services,
// the consent and the call's state are durable, but its follow-ups (three
// rows of followup, a table with eight indexes for the staff queue, and
// their audit events) are most of the single writer's work for a
// referral, and the 50 callers of the load test press their keys within
// milliseconds of one another. So the hotline's writes (PrepareReferral,
// PrepareConsent) leave the referral's followups_planned_at NULL and kick
// the planner, which plans every referral so marked, a few per write,
// through the group commit's Later lane: after the webhook's commit, and
// never in a batch a webhook waits for. Staff see the follow-ups after
// planGather (100 ms), or as soon as the writer rests under a burst of
// calls.
//
// Planning is idempotent: a referral is planned in the transaction that
// marks it planned, a referral that already has its check-in, reminder or
// call gets none again, and scheduleFollowups keeps to one set per client
// and need a day. A process killed between the two writes leaves the
// referral marked unplanned; the follow-up runner plans what is left at
// start and every minute (Runner.RunDue), and so does the next kick.
// The planner reads the client as it is when it plans: consent refused,
// an opt-out or a deletion committed before it means nothing is planned;
// after it, they cancel what it planned, as they always did.

// planBatch is how many referrals one write of the planner plans at most:
// about a millisecond of the writer's time each (with three follow-ups),
// so a webhook that arrives while one runs waits a few milliseconds.
const planBatch = 8

// planGather is how long the planner waits after a kick before it plans:
// the referrals made meanwhile (fifty callers pressing 1 within a moment)
// are planned planBatch to a write rather than one write each, and each
// write is a commit with its own sync to disk.
const planGather = 100 * time.Millisecond

// planner runs PlanFollowups in the background when kicked: started by
// the first kick, it plans until nothing is left to plan, then stops (no
// goroutine waits idle; like db.Batcher, it needs nobody to start it).
type planner struct {
	mu      sync.Mutex
	running bool
	// again is a kick received while it ran: look once more.
	again bool
	// held keeps the planner from starting, as if the process died right
	// after each commit (tests).
	held bool
}

// kickPlanner has the referrals still to plan planned soon, in the
// background. The hotline's writes call it inside their transaction: the
// planner's own write waits for the writer, so it runs after that
// transaction ends and sees its referral. A planner that fails leaves the
// referrals to the runner's next sweep, which logs the error.
func (s *Store) kickPlanner() {
	p := &s.planner
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.held:
	case p.running:
		p.again = true
	default:
		p.running = true
		go s.planLoop()
	}
}

func (s *Store) planLoop() {
	p := &s.planner
	for {
		time.Sleep(planGather)
		// Not a request's context: nobody waits for this, and the kick
		// came from inside a batched job.
		s.PlanFollowups(context.Background())
		p.mu.Lock()
		if !p.again {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.again = false
		p.mu.Unlock()
	}
}

// PlanFollowups plans the follow-ups of every referral not yet planned,
// oldest first, planBatch referrals per write, and returns how many
// referrals it planned (whether or not they called for follow-ups). A
// referral that cannot be planned (its row unreadable, say) is left
// unplanned and skipped for the rest of the pass, and its error returned
// with the others': it must not hold up everyone else's follow-ups.
func (s *Store) PlanFollowups(ctx context.Context) (int, error) {
	planned := 0
	failed := map[string]error{}
	for {
		n, read, err := s.planSome(ctx, failed)
		planned += n
		if err != nil || read < planBatch {
			errs := []error{err}
			for _, e := range failed {
				errs = append(errs, e)
			}
			return planned, errors.Join(errs...)
		}
	}
}

// planSome plans up to planBatch referrals, leaving out those in failed,
// in one write of the Later lane. It returns how many it planned and how
// many it took up; a referral whose planning fails is rolled back alone
// and added to failed.
func (s *Store) planSome(ctx context.Context, failed map[string]error) (planned, read int, err error) {
	var fails map[string]error
	err = s.db.Batch.Later(ctx, func(ctx context.Context, jobTx *sql.Tx) error {
		tx := s.db.Batch.Prepared(jobTx)
		now := s.now()
		planned, read, fails = 0, 0, map[string]error{} // the job may run twice
		rs, bad, err := unplanned(ctx, tx, failed)
		if err != nil {
			return err
		}
		maps.Copy(fails, bad)
		for _, r := range rs {
			if _, err := s.db.Batch.Exec(ctx, jobTx, `SAVEPOINT plan`); err != nil {
				return err
			}
			if err := s.planReferral(ctx, tx, r, now); err != nil {
				fails[r.ID] = fmt.Errorf("plan the follow-ups of referral %s: %w", r.ID, err)
				if _, err := s.db.Batch.Exec(ctx, jobTx, `ROLLBACK TO plan`); err != nil {
					return err
				}
			} else {
				planned++
			}
			if _, err := s.db.Batch.Exec(ctx, jobTx, `RELEASE plan`); err != nil {
				return err
			}
		}
		read = len(rs) + len(bad)
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	maps.Copy(failed, fails)
	return planned, read, nil
}

// unplannedSQL reads the referrals left to plan, oldest first.
const unplannedSQL = `SELECT id, client_id, need_category, created_by, created_at FROM referral
	WHERE followups_planned_at IS NULL ORDER BY created_at LIMIT ?`

// unplanned reads up to planBatch referrals still to plan, oldest first
// (so that the first of a day's referrals for a need gets the follow-ups;
// see scheduleFollowups), through the partial index referral_unplanned,
// leaving out those in skip. It returns apart, with their errors, the ones
// whose row cannot be read.
func unplanned(ctx context.Context, tx querier, skip map[string]error) ([]*Referral, map[string]error, error) {
	rows, err := tx.QueryContext(ctx, unplannedSQL, planBatch+len(skip))
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []*Referral
	bad := map[string]error{}
	for rows.Next() && len(out)+len(bad) < planBatch {
		r := &Referral{}
		var created string
		if err := rows.Scan(&r.ID, &r.ClientID, &r.NeedCategory, &r.CreatedBy, &created); err != nil {
			return nil, nil, err
		}
		if _, ok := skip[r.ID]; ok {
			continue
		}
		if r.CreatedAt, err = parseTime(created); err != nil {
			bad[r.ID] = fmt.Errorf("plan the follow-ups of referral %s: %w", r.ID, err)
			continue
		}
		out = append(out, r)
	}
	return out, bad, rows.Err()
}

// planReferral plans r's follow-ups, unless it has them already, and marks
// it planned, in tx. r needs ID, ClientID, NeedCategory, CreatedBy and
// CreatedAt; its Client is read here when nil. Planned later than the
// referral was made, it keeps to what would have happened had it been
// planned then: a call back asked for meanwhile stands for the day-7 call
// (requestCallback turns a pending call into one), and an outcome recorded
// meanwhile cancels what it makes moot (afterOutcome).
func (s *Store) planReferral(ctx context.Context, tx querier, r *Referral, now time.Time) error {
	var planned, callbacks int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(kind IN ('checkin','reminder','call')), 0),
		COALESCE(SUM(kind = 'callback'), 0) FROM followup WHERE referral_id = ?`, r.ID).Scan(&planned, &callbacks); err != nil {
		return err
	}
	if planned == 0 {
		if r.Client == nil {
			cl, err := findClient(ctx, tx, "c.id = ?", r.ClientID)
			if err != nil {
				return err
			}
			r.Client = cl
		}
		n, err := s.scheduleFollowups(ctx, tx, r, callbacks == 0, now)
		if err != nil {
			return err
		}
		if n > 0 {
			o, err := findOutcome(ctx, tx, r.ID, "")
			if err != nil {
				return err
			}
			if o != nil {
				if err := s.afterOutcome(ctx, tx, r.ID, r.ClientID, o, o.RecordedBy, now); err != nil {
					return err
				}
			}
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE referral SET followups_planned_at = ? WHERE id = ?`, formatTime(now), r.ID)
	return err
}
