package referral

import (
	"context"
	"testing"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// couldntReach and wrongInfo are the outcomes that count against a listing.
var (
	couldntReach = Outcome{Reached: ptr(false), Reason: ReasonCouldntReach, Source: SourceSMS}
	wrongInfo    = Outcome{Reached: ptr(false), Reason: ReasonWrongInfo, Source: SourceStaff}
	waitlisted   = Outcome{Reached: ptr(true), GotHelp: GotHelpNo, Reason: ReasonWaitlist, Source: SourceStaff}
)

// referTo logs an anonymous referral to the services.
func (e *env) referTo(t testing.TB, ids ...string) *Referral {
	t.Helper()
	n := basic()
	n.Client = Client{}
	n.ServiceIDs = ids
	return e.create(t, n)
}

func (e *env) record(t testing.TB, referralID, serviceID string, o Outcome) {
	t.Helper()
	if _, err := e.RecordOutcome(context.Background(), referralID, serviceID, o, "staff-1"); err != nil {
		t.Fatalf("RecordOutcome: %v", err)
	}
}

func (e *env) openReviews(t testing.TB) []ServiceReview {
	t.Helper()
	rs, err := e.ServiceReviews(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// The flag is raised at exactly ReverifyAfter reports, once, keeps counting
// while open, and counting starts again after staff clear it.
func TestServiceFlaggedAtN(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	if e.ReverifyAfter != 3 {
		t.Fatalf("default ReverifyAfter = %d, want 3", e.ReverifyAfter)
	}
	wantOpen := func(step string, reports int) *ServiceReview {
		t.Helper()
		rs := e.openReviews(t)
		if reports == 0 {
			if len(rs) != 0 {
				t.Fatalf("%s: open flags %+v, want none", step, rs)
			}
			return nil
		}
		if len(rs) != 1 || rs[0].ServiceID != svcTempJobs || rs[0].Reports != reports {
			t.Fatalf("%s: open flags %+v, want one for %s with %d reports", step, rs, svcTempJobs, reports)
		}
		return &rs[0]
	}

	r1, r2, r3 := e.referTo(t, svcTempJobs), e.referTo(t, svcTempJobs), e.referTo(t, svcTempJobs)
	e.record(t, r1.ID, "", couldntReach) // overall outcome of a one-service referral
	e.record(t, r1.ID, svcTempJobs, couldntReach)
	e.record(t, r1.ID, "", wrongInfo) // the same referral again: still one report
	wantOpen("one referral, three answers", 0)
	e.record(t, r2.ID, svcTempJobs, wrongInfo)
	wantOpen("two referrals", 0)
	e.record(t, r3.ID, "", waitlisted) // a reason that is not the listing's fault
	wantOpen("a waitlist", 0)
	// A multi-service referral's overall outcome does not say which
	// service failed.
	multi := e.referTo(t, svcTempJobs, svcEmployment)
	e.record(t, multi.ID, "", couldntReach)
	wantOpen("overall outcome of two services", 0)

	e.record(t, multi.ID, svcTempJobs, couldntReach) // third referral: flagged
	rv := wantOpen("third referral", 3)
	if rv.Reason != "couldnt_reach:2,wrong_info:1" || rv.Name != "Fair-Chance Temp-to-Hire Jobs" || rv.Organization != "Bridgeway Staffing Partners" {
		t.Errorf("flag = %+v", rv)
	}
	evs, err := e.Events(ctx, multi.ID)
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Action != ActionServiceFlagged || last.Field != "service_review["+svcTempJobs+"]" {
		t.Errorf("last event %+v, want the flag", last)
	}

	r4 := e.referTo(t, svcTempJobs)
	e.record(t, r4.ID, "", couldntReach)
	wantOpen("fourth referral: the same flag, counting", 4)
	all, err := e.ServiceReviews(ctx, false)
	if err != nil || len(all) != 1 {
		t.Fatalf("all flags = %+v, %v; want exactly one", all, err)
	}

	// Clearing: audited, idempotent, and the count starts again.
	if err := e.ClearServiceReview(ctx, rv.ID, "staff-2", "called them; new number"); err != nil {
		t.Fatal(err)
	}
	if err := e.ClearServiceReview(ctx, rv.ID, "staff-3", ""); err != nil {
		t.Fatalf("second clear: %v", err)
	}
	got, err := e.ServiceReview(ctx, rv.ID)
	if err != nil || got.Open() || got.ClearedBy != "staff-2" {
		t.Fatalf("after clearing: %+v, %v", got, err)
	}
	var n int
	if err := e.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM referral_event WHERE action = ? AND actor = 'staff-2'
		AND after LIKE '%new number%'`, ActionReviewCleared).Scan(&n); err != nil || n != 1 {
		t.Fatalf("clear events = %d, %v; want 1", n, err)
	}
	wantOpen("cleared", 0)
	for i := range 2 {
		r := e.referTo(t, svcTempJobs)
		e.record(t, r.ID, "", wrongInfo)
		wantOpen("after clearing, report "+itoa(i+1), 0)
	}
	r := e.referTo(t, svcTempJobs)
	e.record(t, r.ID, "", wrongInfo)
	if rv2 := wantOpen("after clearing, third report", 3); rv2.ID == rv.ID || rv2.Reason != "wrong_info:3" {
		t.Errorf("new flag %+v", rv2)
	}

	if err := e.ClearServiceReview(ctx, 9999, "staff-2", ""); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("clearing an unknown flag: %v, want ENOTFOUND", err)
	}
	wantCode(t, e.ClearServiceReview(ctx, rv.ID, "", ""), apperr.EINVALID, "actor")
}

// ReverifyAfter configures the threshold; 0 turns flagging off.
func TestReverifyAfterSetting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		Name    string
		N       int
		Reports int
		Flagged bool
	}{
		{"one report at N=1", 1, 1, true},
		{"four reports at N=5", 5, 4, false},
		{"five reports at N=5", 5, 5, true},
		{"off", 0, 6, false},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.ReverifyAfter = tc.N
			for range tc.Reports {
				e.record(t, e.referTo(t, svcShelter).ID, svcShelter, couldntReach)
			}
			if got := len(e.openReviews(t)) == 1; got != tc.Flagged {
				t.Errorf("flagged = %v, want %v", got, tc.Flagged)
			}
		})
	}
}

// Per-service figures use each service's own outcome, or the overall
// outcome of a referral to it alone.
func TestServiceStats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	a := e.referTo(t, svcShelter)
	e.record(t, a.ID, "", Outcome{Reached: ptr(true), GotHelp: GotHelpYes, Source: SourceStaff})
	b := e.referTo(t, svcShelter, svcMensHouse)
	e.record(t, b.ID, "", couldntReach) // overall, two services: counts for neither
	e.record(t, b.ID, svcMensHouse, waitlisted)
	c := e.referTo(t, svcShelter)
	e.record(t, c.ID, svcShelter, wrongInfo)

	f := DefaultReportFilter(e.clock.Now(), nil)
	stats, err := e.ServiceStats(ctx, f, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 2 {
		t.Fatalf("stats = %+v", stats)
	}
	sh, mh := stats[0], stats[1]
	if sh.ServiceID != svcShelter || sh.Referrals != 3 || sh.WithOutcome != 2 || sh.Reached != 1 || sh.NotReached != 1 ||
		sh.GotHelp != 1 || sh.Reasons[ReasonWrongInfo] != 1 || len(sh.Reasons) != 1 || sh.SuccessRate() != 0.5 {
		t.Errorf("shelter = %+v", sh)
	}
	if mh.ServiceID != svcMensHouse || mh.Referrals != 1 || mh.WithOutcome != 1 || mh.Reached != 1 || mh.NoHelp != 1 ||
		mh.Reasons[ReasonWaitlist] != 1 {
		t.Errorf("men's house = %+v", mh)
	}
	one, err := e.ServiceStats(ctx, f, svcMensHouse)
	if err != nil || len(one) != 1 || one[0].ServiceID != svcMensHouse {
		t.Errorf("one service: %+v, %v", one, err)
	}
}
