package referral

import (
	"context"
	"slices"
	"testing"
	"time"
)

// queueEnv is a store with four referrals worked by the scheduler, read as
// of Tuesday 10 March 2026, 12:00 in Kansas City (day 8):
//
//	r1 (employment, voice)     check-in sent, reply "call me": a callback due day 3
//	r2 (employment, walk-in)   check-in refused for good (failed); call due day 7
//	r3 (housing)               check-in may have gone out (unsure); call due day 7
//	r4 (housing, made day 3)   check-in due day 6 still pending (held); call due day 10
type queueEnv struct {
	*env
	r1, r2, r3, r4 *Referral
	now            time.Time
}

func newQueueEnv(t *testing.T) *queueEnv {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t)
	e.Zone = kc
	p := DefaultPolicy()
	p.Default = Steps{Checkin: 3, Call: 7}
	e.Policy = &p
	mk := func(phone, need, channel, svc string) *Referral {
		n := consenting(LanguageEN)
		n.Client.Phone, n.NeedCategory, n.Channel, n.ServiceIDs = phone, need, channel, []string{svc}
		return e.create(t, n)
	}
	q := &queueEnv{env: e}
	q.r1 = mk("+18165550101", "employment", ChannelVoice, svcTempJobs)
	q.r2 = mk("+18165550102", "employment", ChannelWalkIn, svcTempJobs)
	q.r3 = mk("+18165550103", "housing", ChannelVoice, svcMensHouse)
	run, fs, _ := newRunner(e)
	fs.fail = map[string]error{"+18165550102": ErrUndeliverable, "+18165550103": ErrSendUnsure}
	if _, err := run.RunDue(ctx, ct(2026, 3, 5, 10, 0)); err != nil {
		t.Fatal(err)
	}
	e.clock.t = ct(2026, 3, 5, 11, 0)
	if _, handled, err := e.HandleReply(ctx, "+18165550101", "call me please"); err != nil || !handled {
		t.Fatalf("reply: %v %v", handled, err)
	}
	q.r4 = mk("+18165550104", "housing", ChannelVoice, svcShelter)
	q.now = ct(2026, 3, 10, 12, 0)
	e.clock.t = q.now
	return q
}

func (q *queueEnv) queue(t *testing.T, f QueueFilter) *QueueResult {
	t.Helper()
	if f.Now.IsZero() {
		f.Now = q.now
	}
	res, err := q.Queue(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// what lists the items as "referral kind state", r1..r4 by name.
func (q *queueEnv) what(items []*QueueItem) []string {
	names := map[string]string{q.r1.ID: "r1", q.r2.ID: "r2", q.r3.ID: "r3", q.r4.ID: "r4"}
	var out []string
	for _, it := range items {
		out = append(out, names[it.Followup.ReferralID]+" "+it.Followup.Kind+" "+it.Followup.State)
	}
	return out
}

func TestQueueViews(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newQueueEnv(t)

	res := q.queue(t, QueueFilter{})
	want := []string{"r2 checkin failed", "r3 checkin unsure", "r1 callback pending", "r4 checkin pending", "r2 call pending", "r3 call pending"}
	if got := q.what(res.Items); !slices.Equal(got, want) {
		t.Fatalf("due view\n got %v\nwant %v", got, want)
	}
	for i := 1; i < len(res.Items); i++ {
		if res.Items[i].Followup.DueAt.Before(res.Items[i-1].Followup.DueAt) {
			t.Errorf("not sorted by due time at %d", i)
		}
	}
	if res.Total != 6 || res.Counts != (QueueCounts{Due: 6, Overdue: 6, Upcoming: 1, Unassigned: 6}) {
		t.Errorf("total %d counts %+v", res.Total, res.Counts)
	}
	it := res.Items[2]
	if it.LastReply != "call me please" || it.LastReplyAt == nil || it.Referral.Client.Phone != "+18165550101" ||
		len(it.Referral.Services) != 1 || it.Referral.Services[0].Organization == "" {
		t.Errorf("r1's item: reply %q, referral %+v", it.LastReply, it.Referral)
	}
	want0 := ct(2026, 3, 10, 0, 0)
	if !res.Today.Equal(want0) {
		t.Errorf("today %v, want %v", res.Today, want0)
	}

	// The held check-in shows only once it is a day late; the call of r4 is
	// upcoming until its day, then due but not overdue.
	early := q.queue(t, QueueFilter{Now: ct(2026, 3, 8, 9, 0)})
	if got := q.what(early.Items); slices.Contains(got, "r4 checkin pending") {
		t.Errorf("a text due yesterday morning is already in the queue: %v", got)
	}
	if got := q.what(q.queue(t, QueueFilter{State: QueueUpcoming}).Items); !slices.Equal(got, []string{"r4 call pending"}) {
		t.Errorf("upcoming %v", got)
	}
	day10 := q.queue(t, QueueFilter{Now: ct(2026, 3, 12, 8, 0)})
	if day10.Counts.Due != 7 || day10.Counts.Overdue != 6 || day10.Counts.Upcoming != 0 {
		t.Errorf("on r4's call day (before its hour) %+v", day10.Counts)
	}

	// Filters, counts under them, paging.
	for _, tc := range []struct {
		Name string
		F    QueueFilter
		Want []string
	}{
		{"need", QueueFilter{Need: "housing"}, []string{"r3 checkin unsure", "r4 checkin pending", "r3 call pending"}},
		{"kind", QueueFilter{Kind: KindCall}, []string{"r2 call pending", "r3 call pending"}},
		{"channel", QueueFilter{Channel: ChannelWalkIn}, []string{"r2 checkin failed", "r2 call pending"}},
		{"partner, any case", QueueFilter{Partner: "bridgeway staffing partners"}, []string{"r2 checkin failed", "r1 callback pending", "r2 call pending"}},
		{"partner unknown", QueueFilter{Partner: "Nobody Inc"}, nil},
		{"overdue and need", QueueFilter{State: QueueOverdue, Need: "employment"}, []string{"r2 checkin failed", "r1 callback pending", "r2 call pending"}},
	} {
		res := q.queue(t, tc.F)
		if got := q.what(res.Items); !slices.Equal(got, tc.Want) || res.Total != len(tc.Want) {
			t.Errorf("%s: %v (total %d), want %v", tc.Name, got, res.Total, tc.Want)
		}
	}
	if c := q.queue(t, QueueFilter{Need: "housing"}).Counts; c != (QueueCounts{Due: 3, Overdue: 3, Upcoming: 1, Unassigned: 3}) {
		t.Errorf("counts under need=housing: %+v", c)
	}
	p1 := q.queue(t, QueueFilter{Limit: 4})
	p2 := q.queue(t, QueueFilter{Limit: 4, Offset: 4})
	if len(p1.Items) != 4 || len(p2.Items) != 2 || p1.Total != 6 || p2.Items[0].Followup.ID != res.Items[4].Followup.ID {
		t.Errorf("pages of 4: %d + %d of %d", len(p1.Items), len(p2.Items), p1.Total)
	}

	// Claims: mine and unassigned; closing moves an item to done.
	call2 := res.Items[4].Followup
	if _, _, err := q.ClaimFollowup(ctx, call2.ID, "7"); err != nil {
		t.Fatal(err)
	}
	res = q.queue(t, QueueFilter{Me: "7"})
	if res.Counts.Mine != 1 || res.Counts.Unassigned != 5 {
		t.Errorf("after a claim: %+v", res.Counts)
	}
	if got := q.what(q.queue(t, QueueFilter{Assignee: "7"}).Items); !slices.Equal(got, []string{"r2 call pending"}) {
		t.Errorf("assignee 7: %v", got)
	}
	if n := q.queue(t, QueueFilter{Assignee: AssigneeNone}).Total; n != 5 {
		t.Errorf("unassigned: %d", n)
	}
	if _, _, err := q.CloseFollowup(ctx, call2.ID, "called: got a job", "7"); err != nil {
		t.Fatal(err)
	}
	res = q.queue(t, QueueFilter{State: QueueDone})
	if got := q.what(res.Items); !slices.Equal(got, []string{"r2 call done"}) || res.Counts.Done != 1 || res.Counts.Due != 5 {
		t.Errorf("done view %v, counts %+v", got, res.Counts)
	}
}

func TestQueueFilterValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		F     QueueFilter
		Field string
	}{
		{QueueFilter{State: "soon"}, "state"},
		{QueueFilter{Need: "jobs"}, "need"},
		{QueueFilter{Channel: "fax"}, "channel"},
		{QueueFilter{Kind: "email"}, "kind"},
		{QueueFilter{Partner: "a\x00b"}, "partner"},
		{QueueFilter{Assignee: "system:fax"}, "assignee"},
		{QueueFilter{Offset: -1}, "offset"},
	} {
		err := tc.F.Validate()
		wantCode(t, err, "invalid", tc.Field)
	}
	ok := QueueFilter{State: QueueDone, Need: NeedOther, Channel: ChannelStaff, Kind: KindCallback, Partner: "Bridgeway", Assignee: AssigneeNone}
	if err := ok.Validate(); err != nil {
		t.Error(err)
	}
}

func TestQueueActions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newQueueEnv(t)
	fs := followupsOf(t, q.env, q.r2.ID)
	call, checkin := fs[KindCall], fs[KindCheckin]
	events := func() int {
		evs, err := q.Events(ctx, q.r2.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	n0 := events()

	// Claim; again (nothing); someone else (refused); unclaim; unclaim again.
	if f, changed, err := q.ClaimFollowup(ctx, call.ID, "7"); err != nil || !changed || f.Assignee != "7" {
		t.Fatalf("claim: %v %v %+v", changed, err, f)
	}
	if _, changed, err := q.ClaimFollowup(ctx, call.ID, "7"); err != nil || changed {
		t.Errorf("claim twice: %v %v", changed, err)
	}
	_, _, err := q.ClaimFollowup(ctx, call.ID, "8")
	wantCode(t, err, "conflict", "")
	if _, changed, err := q.UnclaimFollowup(ctx, call.ID, "8"); err != nil || !changed {
		t.Errorf("unclaim by a colleague: %v %v", changed, err)
	}
	if _, changed, err := q.UnclaimFollowup(ctx, call.ID, "8"); err != nil || changed {
		t.Errorf("unclaim twice: %v %v", changed, err)
	}
	if n := events(); n != n0+2 {
		t.Errorf("%d events for a claim and an unclaim, want 2", n-n0)
	}

	// Reschedule: bad input, the same time, a new time, a text that is not
	// pending.
	for _, r := range []Reschedule{{Reason: "x"}, {DueAt: q.now.Add(-time.Hour), Reason: "x"}, {DueAt: q.now.Add(time.Hour)},
		{DueAt: q.now.AddDate(2, 0, 0), Reason: "x"}} {
		_, _, err := q.RescheduleFollowup(ctx, call.ID, r, "7")
		wantCode(t, err, "invalid", "")
	}
	later := ct(2026, 3, 11, 17, 30)
	if f, changed, err := q.RescheduleFollowup(ctx, call.ID, Reschedule{DueAt: later, Reason: "works days; call after 5"}, "7"); err != nil || !changed || !f.DueAt.Equal(later) {
		t.Fatalf("reschedule: %v %v %+v", changed, err, f)
	}
	if _, changed, err := q.RescheduleFollowup(ctx, call.ID, Reschedule{DueAt: later, Reason: "again"}, "7"); err != nil || changed {
		t.Errorf("reschedule to the same time: %v %v", changed, err)
	}
	_, _, err = q.RescheduleFollowup(ctx, checkin.ID, Reschedule{DueAt: later, Reason: "x"}, "7")
	wantCode(t, err, "conflict", "")
	if res := q.queue(t, QueueFilter{Channel: ChannelWalkIn}); len(res.Items) != 1 {
		t.Errorf("the call moved to tomorrow is still due: %v", q.what(res.Items))
	}

	// Close: needs a reason; closes; closing again changes nothing; a sent
	// text is not staff's to close.
	_, _, err = q.CloseFollowup(ctx, checkin.ID, " ", "7")
	wantCode(t, err, "invalid", "reason")
	f, changed, err := q.CloseFollowup(ctx, checkin.ID, "number is a landline; will call", "7")
	if err != nil || !changed || f.State != FollowupDone || f.ClosedBy != "7" || f.ClosedAt == nil {
		t.Fatalf("close: %v %v %+v", changed, err, f)
	}
	if _, changed, err := q.CloseFollowup(ctx, checkin.ID, "again", "7"); err != nil || changed {
		t.Errorf("close twice: %v %v", changed, err)
	}
	_, _, err = q.ClaimFollowup(ctx, checkin.ID, "7")
	wantCode(t, err, "conflict", "")
	sent := followupsOf(t, q.env, q.r1.ID)[KindCheckin]
	_, _, err = q.CloseFollowup(ctx, sent.ID, "x", "7")
	wantCode(t, err, "conflict", "")
	_, _, err = q.CloseFollowup(ctx, "nope", "x", "7")
	wantCode(t, err, "not_found", "")

	// CloseTasks closes the referral's open calls only.
	n, err := q.CloseTasks(ctx, q.r2.ID, "outcome recorded", "7")
	if err != nil || n != 1 {
		t.Errorf("CloseTasks: %d %v", n, err)
	}
	if n, _ := q.CloseTasks(ctx, q.r2.ID, "outcome recorded", "7"); n != 0 {
		t.Errorf("CloseTasks twice closed %d", n)
	}

	// Notes: written once when sent twice; blanked with the client.
	if added, err := q.AddNote(ctx, q.r2.ID, "Left a voicemail.", "7"); err != nil || !added {
		t.Fatalf("note: %v %v", added, err)
	}
	if added, err := q.AddNote(ctx, q.r2.ID, "Left a voicemail.", "7"); err != nil || added {
		t.Errorf("the same note twice: %v %v", added, err)
	}
	_, err = q.AddNote(ctx, q.r2.ID, "", "7")
	wantCode(t, err, "invalid", "note")
	_, err = q.AddNote(ctx, "nope", "x", "7")
	wantCode(t, err, "not_found", "")
	if err := q.DeleteClient(ctx, q.r2.ClientID, "7"); err != nil {
		t.Fatal(err)
	}
	evs, _ := q.Events(ctx, q.r2.ID)
	for _, e := range evs {
		if e.Action == ActionNote && string(e.After) != `"[deleted]"` {
			t.Errorf("note kept after the client was deleted: %s", e.After)
		}
	}
}

func TestReferAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newQueueEnv(t)
	r, created, err := q.ReferAgain(ctx, q.r3.ID, []string{svcShelter}, "needs a bed tonight", "again-1", "7")
	if err != nil || !created {
		t.Fatalf("ReferAgain: %v %v", created, err)
	}
	if r.ClientID != q.r3.ClientID || r.Channel != ChannelStaff || r.NeedCategory != "housing" || r.CreatedBy != "7" ||
		!r.Client.CanFollowUp() || r.Services[0].ServiceID != svcShelter {
		t.Errorf("new referral %+v (client %+v)", r, r.Client)
	}
	if fs := followupsOf(t, q.env, r.ID); fs[KindCheckin] == nil {
		t.Error("consent did not carry over: no check-in scheduled")
	}
	again, created, err := q.ReferAgain(ctx, q.r3.ID, []string{svcShelter}, "needs a bed tonight", "again-1", "7")
	if err != nil || created || again.ID != r.ID {
		t.Errorf("sent twice: %v %v", created, err)
	}
	evs, _ := q.Events(ctx, q.r3.ID)
	n := 0
	for _, e := range evs {
		if e.Action == ActionReferredAgain {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d referred-again events on the first referral, want 1", n)
	}
	_, _, err = q.ReferAgain(ctx, q.r3.ID, []string{"no-such-service"}, "", "again-2", "7")
	wantCode(t, err, "invalid", "service_ids[0]")
}
