package referral

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// hold keeps the planner from starting after the hotline's commits, as if
// the process died right after each one (or lets it start again).
func (e *env) hold(on bool) {
	e.planner.mu.Lock()
	e.planner.held = on
	e.planner.mu.Unlock()
}

// settle waits for the background planner to stop (it sleeps planGather
// before it plans, so it can outlast the planners a test runs itself).
func (e *env) settle(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e.planner.mu.Lock()
		running := e.planner.running
		e.planner.mu.Unlock()
		if !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the background planner still runs after 10 s")
		}
	}
}

// plan runs the planner to the end and returns how many referrals it
// planned.
func (e *env) plan(t testing.TB) int {
	t.Helper()
	n, err := e.PlanFollowups(context.Background())
	if err != nil {
		t.Fatalf("PlanFollowups: %v", err)
	}
	return n
}

// logHotline commits a referral as the hotline does: PrepareReferral, its
// write in a batched job of the caller's.
func (e *env) logHotline(t testing.TB, n NewReferral) *Referral {
	t.Helper()
	ctx := context.Background()
	write, err := e.PrepareReferral(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	var r *Referral
	if err := e.dir.DB().Batch.Do(ctx, func(ctx context.Context, tx *sql.Tx) (err error) {
		r, _, err = write(ctx, tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

// consent commits a caller's answer to the follow-up question as the
// hotline does (PrepareConsent in a batched job).
func (e *env) consent(t testing.TB, referralID string, given bool) {
	t.Helper()
	write, err := e.PrepareConsent(referralID, Consent{Given: given, Channel: ChannelVoice, Words: "May we text you? Press 1 for yes."}, "system:voice")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.dir.DB().Batch.Do(context.Background(), write); err != nil {
		t.Fatal(err)
	}
}

// planned reports whether the referral is marked planned.
func (e *env) planned(t testing.TB, id string) bool {
	t.Helper()
	var at sql.NullString
	if err := e.dir.DB().Read.QueryRow(`SELECT followups_planned_at FROM referral WHERE id = ?`, id).Scan(&at); err != nil {
		t.Fatal(err)
	}
	return at.Valid
}

// countFollowups counts a referral's follow-ups, every row (followupsOf
// keeps one per kind and would hide a duplicate).
func countFollowups(t *testing.T, e *env, id string) int {
	t.Helper()
	fs, err := e.Followups(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return len(fs)
}

// pendingKinds lists the kinds of a referral's pending follow-ups, sorted.
func pendingKinds(t *testing.T, e *env, id string) []string {
	t.Helper()
	fs, err := e.Followups(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fs {
		if f.State == FollowupPending {
			out = append(out, f.Kind)
		}
	}
	slices.Sort(out)
	return out
}

var allThree = []string{KindCall, KindCheckin, KindReminder}

// A hotline referral commits without its follow-ups (the webhook answers
// after that commit) and marked unplanned; the planner plans them in a
// later write, once however often it runs; unheld, it does so by itself
// within a second of the commit.
func TestHotlineReferralPlannedAfterCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.hold(true)
	r := e.logHotline(t, consenting(LanguageEN))
	if n := countFollowups(t, e, r.ID); n != 0 || e.planned(t, r.ID) {
		t.Fatalf("the referral's own commit planned %d follow-ups (planned %v): they belong to the planner's write", n, e.planned(t, r.ID))
	}
	if n := e.plan(t); n != 1 {
		t.Errorf("planned %d referrals, want 1", n)
	}
	fs := followupsOf(t, e, r.ID)
	for kind, days := range map[string]int{KindCheckin: 3, KindReminder: 5, KindCall: 7} {
		// Counted from the referral, however late they were planned.
		if f := fs[kind]; f == nil || !f.DueAt.Equal(r.CreatedAt.AddDate(0, 0, days)) || f.State != FollowupPending {
			t.Errorf("%s after planning: %+v", kind, f)
		}
	}
	if n := countFollowups(t, e, r.ID); n != 3 || !e.planned(t, r.ID) {
		t.Errorf("%d follow-ups, planned %v; want 3, true", n, e.planned(t, r.ID))
	}
	if evs, _ := e.Events(context.Background(), r.ID); evs[len(evs)-1].Action != ActionFollowupScheduled {
		t.Errorf("last event %s, want the planner's %s", evs[len(evs)-1].Action, ActionFollowupScheduled)
	}
	if n := e.plan(t); n != 0 || countFollowups(t, e, r.ID) != 3 {
		t.Errorf("planning again planned %d referrals, left %d follow-ups; want 0, 3", n, countFollowups(t, e, r.ID))
	}

	// The planner as the server runs it: kicked by the commit.
	e.hold(false)
	n := consenting(LanguageEN)
	n.Client.Phone = "+18165550150"
	r2 := e.logHotline(t, n)
	deadline := time.Now().Add(time.Second)
	for countFollowups(t, e, r2.ID) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := countFollowups(t, e, r2.ID); n != 3 {
		t.Errorf("%d follow-ups a second after the commit, want 3", n)
	}
}

// A process killed between a referral's commit and its planning: the
// runner plans what was left, at start (Run) and in any run (RunDue),
// once.
func TestPlannerAfterKill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.hold(true) // the process dies after each commit
	var ids []string
	for i := range 3 {
		n := consenting(LanguageEN)
		n.Client.Phone = fmt.Sprintf("+1816555040%d", i)
		ids = append(ids, e.logHotline(t, n).ID)
	}
	for _, id := range ids {
		if countFollowups(t, e, id) != 0 {
			t.Fatal("follow-ups planned although the planner never ran")
		}
	}

	// Restarted: a new store on the database, its runner started as
	// serve starts it.
	s := NewStore(e.dir.DB(), e.Lookup)
	s.Now = e.clock.Now
	run := &Runner{Store: s, Sender: &fakeSender{}, Now: func() time.Time { return ct(2026, 3, 2, 10, 0) }, Every: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { run.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && countFollowups(t, e, ids[2]) < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	for _, id := range ids {
		if n := countFollowups(t, e, id); n != 3 || !e.planned(t, id) {
			t.Errorf("referral %s after the restart: %d follow-ups, planned %v; want 3, true", id, n, e.planned(t, id))
		}
	}

	// Another one left, found by a run (cron's `followups run`).
	n := consenting(LanguageEN)
	n.Client.Phone = "+18165550409"
	left := e.logHotline(t, n)
	for range 2 {
		if _, err := run.RunDue(context.Background(), ct(2026, 3, 2, 10, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if n := countFollowups(t, e, left.ID); n != 3 {
		t.Errorf("%d follow-ups after two runs, want 3", n)
	}
	n.Client.Phone = "+18165550410"
	e.logHotline(t, n)
	if sum, err := run.RunDue(context.Background(), ct(2026, 3, 2, 10, 0)); err != nil || sum.Planned != 1 {
		t.Errorf("run: %+v, %v; want 1 planned", sum, err)
	}
}

// Planning twice, or by several planners at once, never duplicates a
// follow-up, and keeps to one set per client and need a day: a second
// list for the same need (MORE) gets none, another need gets its own.
func TestPlanOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.hold(true)
	jobs := e.logHotline(t, consenting(LanguageEN))
	more := e.logHotline(t, consenting(LanguageEN))
	h := consenting(LanguageEN)
	h.NeedCategory, h.ServiceIDs = "housing", []string{svcMensHouse}
	housing := e.logHotline(t, h)
	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			name string
			r    *Referral
			want int
		}{{"first", jobs, 3}, {"same need, same day", more, 0}, {"another need", housing, 3}} {
			if n := countFollowups(t, e, c.r.ID); n != c.want {
				t.Errorf("%s: %s: %d follow-ups, want %d", when, c.name, n, c.want)
			}
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.PlanFollowups(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	e.hold(false)
	e.kickPlanner()
	wg.Wait()
	e.settle(t)
	e.plan(t) // after the kicked planner, whatever it did
	check("four planners at once")

	// Marked unplanned again (consent given once more on each): the
	// planner finds their follow-ups and adds none.
	if _, err := e.dir.DB().Write.Exec(`UPDATE referral SET followups_planned_at = NULL`); err != nil {
		t.Fatal(err)
	}
	if n := e.plan(t); n != 3 {
		t.Errorf("planned %d referrals again, want 3", n)
	}
	check("planned again")
}

// Consent asked after the referral (the voice menu's "press 1"), with the
// planner running before the answer commits, after it, or both: yes ends
// with the three follow-ups, once; no with none waiting, whether the
// planner had planned them with an earlier consent or not; STOP as before
// (texts cancelled, the call task stays for staff when planned first;
// nothing when the planner comes after).
func TestConsentAndPlannerOrder(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// earlier: the client agreed on an earlier call (about housing).
		earlier bool
		steps   string
		want    []string
	}{
		{"yes, planner before and after", false, "plan yes plan", allThree},
		{"yes, planner after", false, "yes plan", allThree},
		{"yes twice, planner between", false, "yes plan yes plan", allThree},
		{"yes, planner between, retried", false, "plan yes yes plan", allThree},
		{"no, planner after", false, "no plan", nil},
		{"no after an earlier yes, planner before", true, "plan no plan", nil},
		{"no after an earlier yes, planner after", true, "no plan", nil},
		{"no after an earlier yes, planner before and after", true, "plan no plan", nil},
		{"yes after an earlier yes, planner before", true, "plan yes plan", allThree},
		{"STOP after planning", true, "plan stop plan", []string{KindCall}},
		{"STOP before planning", true, "stop plan", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			if c.earlier {
				h := consenting(LanguageEN)
				h.NeedCategory, h.ServiceIDs = "housing", []string{svcMensHouse}
				e.create(t, h)
			}
			e.hold(true)
			r := e.logHotline(t, basic()) // the hotline logs no consent with the referral
			for _, step := range strings.Fields(c.steps) {
				switch step {
				case "plan":
					e.plan(t)
				case "yes", "no":
					e.consent(t, r.ID, step == "yes")
				case "stop":
					if _, err := e.OptOut(ctx, phoneRaw, "system:sms"); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := pendingKinds(t, e, r.ID); !slices.Equal(got, c.want) {
				t.Errorf("pending follow-ups %v, want %v", got, c.want)
			}
			if n := countFollowups(t, e, r.ID); n > 3 {
				t.Errorf("%d follow-ups: planned more than once", n)
			}
		})
	}
}

// Planned late (the process was down), a referral keeps to what happened
// meanwhile: a call back asked for stands for the day-7 call, and an
// outcome recorded cancels what it makes moot.
func TestLatePlanning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.hold(true)
	called := e.logHotline(t, consenting(LanguageEN))
	if _, err := e.RequestCall(ctx, CallRequest{ReferralID: called.ID, Reason: "pressed 0", Actor: "system:voice"}); err != nil {
		t.Fatal(err)
	}
	n := consenting(LanguageEN)
	n.Client.Phone = "+18165550160"
	helped := e.logHotline(t, n)
	if _, err := e.RecordOutcome(ctx, helped.ID, "", Outcome{Reached: ptr(true), GotHelp: GotHelpYes, Source: SourceStaff}, "staff-7"); err != nil {
		t.Fatal(err)
	}
	e.plan(t)
	if got, want := pendingKinds(t, e, called.ID), []string{KindCallback, KindCheckin, KindReminder}; !slices.Equal(got, want) {
		t.Errorf("asked for a call back before planning: pending %v, want %v", got, want)
	}
	if got, want := pendingKinds(t, e, helped.ID), []string{KindFinal}; !slices.Equal(got, want) {
		t.Errorf("got help before planning: pending %v, want %v", got, want)
	}
}

// A call back without a referral makes one with nothing to plan.
func TestCallRequestNeedsNoPlanning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f, err := e.RequestCall(context.Background(), CallRequest{Phone: phoneRaw, Channel: ChannelVoice, Reason: "voicemail", Key: "voice:CA1:callback", Actor: "system:voice"})
	if err != nil {
		t.Fatal(err)
	}
	if !e.planned(t, f.ReferralID) {
		t.Error("a call-back referral was left for the planner")
	}
}

// The planner finds the referrals left to plan through the partial index,
// not by reading the referral table.
func TestUnplannedUsesIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rows, err := e.dir.DB().Read.Query(`EXPLAIN QUERY PLAN `+unplannedSQL, planBatch)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if p := strings.Join(plan, "; "); !strings.Contains(p, "referral_unplanned") || strings.Contains(p, "TEMP B-TREE") {
		t.Errorf("query plan %q: want the index referral_unplanned, in its order", p)
	}
}

// A referral the planner cannot plan (here a broken row) does not hold
// back the texts already planned: the run sends them and reports both.
func TestRunnerSendsWhenPlanningFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, consenting(LanguageEN))
	e.hold(true)
	n := consenting(LanguageEN)
	n.Client.Phone = "+18165550170"
	broken := e.logHotline(t, n)
	if _, err := e.dir.DB().Write.Exec(`UPDATE referral SET created_at = 'not a time' WHERE id = ?`, broken.ID); err != nil {
		t.Fatal(err)
	}
	run, fs, _ := newRunner(e)
	sum, err := run.RunDue(context.Background(), ct(2026, 3, 5, 10, 0))
	if err == nil || !strings.Contains(err.Error(), "plan follow-ups") {
		t.Errorf("run error %v, want the planner's", err)
	}
	if sum.Sent != 1 || len(fs.texts()) != 1 {
		t.Errorf("run %+v, %d texts: want the planned check-in sent", sum, len(fs.texts()))
	}
}

// Referrals made within a moment (fifty callers pressing 1 together) are
// planned a few to a write, not one write each: every write is a commit
// with its own sync to disk, on the one writer the webhooks wait for.
func TestPlannerGathersReferrals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	batch := e.dir.DB().Batch
	var refs []*Referral
	before := batch.Batches.Load()
	for i := range 20 {
		n := consenting(LanguageEN)
		n.Client.Phone = fmt.Sprintf("+1816555%04d", 300+i)
		refs = append(refs, e.logHotline(t, n))
	}
	before += 20 // the referrals' own commits
	deadline := time.Now().Add(3 * time.Second)
	for _, r := range refs {
		for !e.planned(t, r.ID) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if !e.planned(t, r.ID) {
			t.Fatalf("referral %s not planned 3 s after the last commit", r.ID)
		}
	}
	// 20 referrals, planBatch (8) to a write: 3 writes, and a few more
	// should a kick arrive while the planner is between writes.
	if writes := batch.Batches.Load() - before; writes > 6 {
		t.Errorf("the planner used %d writes for 20 referrals made together, want at most 6", writes)
	}
}

// A referral that cannot be planned (an unreadable row, or a client that
// cannot be read) is left unplanned, its error reported, and the others
// are planned all the same: one bad row must not stop everyone's
// follow-ups.
func TestPlanningSkipsABrokenReferral(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.hold(true)
	w := e.dir.DB().Write
	mk := func(i int) *Referral {
		n := consenting(LanguageEN)
		n.Client.Phone = fmt.Sprintf("+1816555%04d", 400+i)
		return e.logHotline(t, n)
	}
	unreadable, noClient := mk(0), mk(1)
	if _, err := w.Exec(`UPDATE referral SET created_at = 'not a time' WHERE id = ?`, unreadable.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`UPDATE referral_client SET created_at = 'not a time' WHERE id = ?`, noClient.ClientID); err != nil {
		t.Fatal(err)
	}
	var good []*Referral
	for i := range 2*planBatch + 3 {
		good = append(good, mk(2+i))
	}
	n, err := e.PlanFollowups(context.Background())
	if n != len(good) {
		t.Errorf("planned %d referrals, want the %d good ones", n, len(good))
	}
	if err == nil || !strings.Contains(err.Error(), unreadable.ID) || !strings.Contains(err.Error(), noClient.ID) {
		t.Errorf("error %v, want both broken referrals named", err)
	}
	for _, r := range good {
		if c := countFollowups(t, e, r.ID); c != 3 || !e.planned(t, r.ID) {
			t.Fatalf("good referral %s: %d follow-ups, planned %v", r.ID, c, e.planned(t, r.ID))
		}
	}
	for _, r := range []*Referral{unreadable, noClient} {
		if c := countFollowups(t, e, r.ID); c != 0 || e.planned(t, r.ID) {
			t.Errorf("broken referral %s: %d follow-ups, planned %v; want none, left to plan", r.ID, c, e.planned(t, r.ID))
		}
	}
}
