package referral

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

func TestCreateReferral(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := basic()
	n.ServiceIDs = []string{svcTempJobs, svcEmployment}
	n.ZIP = "64127-1234"
	n.Notes = "Wants weekend shifts."
	r, created, err := e.CreateReferral(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if !created || r.ID == "" || r.State != StateOpen || r.ZIP != "64127" {
		t.Errorf("created %v, referral %+v", created, r)
	}
	got, err := e.GetReferral(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []ReferredService{
		{ServiceID: svcTempJobs, Name: "Fair-Chance Temp-to-Hire Jobs", Organization: "Bridgeway Staffing Partners", Phone: "(816) 555-0101"},
		{ServiceID: svcEmployment, Name: "Second Chance Employment Services", Organization: "Second Chance", Phone: "(816) 231-0217"},
	}
	if len(got.Services) != 2 || got.Services[0] != want[0] || got.Services[1] != want[1] {
		t.Errorf("services = %+v, want %+v", got.Services, want)
	}
	if got.Channel != ChannelVoice || got.NeedCategory != "employment" || got.CreatedBy != "system:voice" ||
		got.Notes != n.Notes || !got.CreatedAt.Equal(r.CreatedAt) || got.Outcome != nil {
		t.Errorf("stored referral = %+v", got)
	}
	_, err = e.GetReferral(context.Background(), "4b0e2a43-0000-4000-8000-000000000000")
	wantCode(t, err, apperr.ENOTFOUND, "")
}

func TestCreateReferralInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		Name  string
		Edit  func(*NewReferral)
		Field string
	}{
		{"bad phone", func(n *NewReferral) { n.Client.Phone = "555-12" }, "client.phone"},
		{"bad language", func(n *NewReferral) { n.Client.Language = "fr" }, "client.language"},
		{"consent channel", func(n *NewReferral) {
			n.Client.Consent = &Consent{Given: true, Channel: "fax", Words: "ok"}
		}, "client.consent.channel"},
		{"name on two lines", func(n *NewReferral) { n.Client.Name = "A\nB" }, "client.name"},
		{"no channel", func(n *NewReferral) { n.Channel = "" }, "channel"},
		{"bad channel", func(n *NewReferral) { n.Channel = "email" }, "channel"},
		{"bad need", func(n *NewReferral) { n.NeedCategory = "jobs" }, "need_category"},
		{"bad zip", func(n *NewReferral) { n.ZIP = "6412" }, "zip"},
		{"no services", func(n *NewReferral) { n.ServiceIDs = nil }, "service_ids"},
		{"unknown service", func(n *NewReferral) { n.ServiceIDs = []string{svcTempJobs, "no-such-service"} }, "service_ids[1]"},
		{"service twice", func(n *NewReferral) { n.ServiceIDs = []string{svcTempJobs, svcTempJobs} }, "service_ids[1]"},
		{"no creator", func(n *NewReferral) { n.CreatedBy = "" }, "created_by"},
		{"bad system creator", func(n *NewReferral) { n.CreatedBy = "system:fax" }, "created_by"},
		{"key with spaces", func(n *NewReferral) { n.IdempotencyKey = "voice: CA1" }, "idempotency_key"},
		{"notes too long", func(n *NewReferral) { n.Notes = strings.Repeat("x", maxNotes+1) }, "notes"},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			n := basic()
			tc.Edit(&n)
			_, _, err := e.CreateReferral(context.Background(), n)
			wantCode(t, err, apperr.EINVALID, tc.Field)
		})
	}
	// "other" is a need; so is every directory category.
	n := basic()
	n.NeedCategory = NeedOther
	e.create(t, n)
	var count int
	e.db.Read.QueryRow(`SELECT COUNT(*) FROM referral`).Scan(&count)
	if count != 1 {
		t.Errorf("%d referrals stored, want only the valid one", count)
	}
}

func TestCreateReferralIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	n := basic()
	n.IdempotencyKey = "voice:CA0123456789abcdef:referral"
	first, created, err := e.CreateReferral(ctx, n)
	if err != nil || !created {
		t.Fatalf("first: %v, created %v", err, created)
	}
	// The webhook is retried after the listing changed: the answer is the
	// first referral, not a new one with the new phone.
	svc := demoService(t, svcTempJobs)
	svc["phones"].([]any)[0].(map[string]any)["number"] = "(816) 555-0199"
	e.importService(t, svc)
	n.Client.Phone = "816.231.0217"
	second, created, err := e.CreateReferral(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if created || second.ID != first.ID || second.Services[0].Phone != "(816) 555-0101" {
		t.Errorf("retry: created %v, id %s (first %s), phone %s", created, second.ID, first.ID, second.Services[0].Phone)
	}
	var referrals, events int
	e.db.Read.QueryRow(`SELECT COUNT(*) FROM referral`).Scan(&referrals)
	e.db.Read.QueryRow(`SELECT COUNT(*) FROM referral_event WHERE action = ?`, ActionReferralCreated).Scan(&events)
	if referrals != 1 || events != 1 {
		t.Errorf("%d referrals and %d referral.created events, want 1 and 1", referrals, events)
	}
	// Another step of the same call is another referral.
	n.IdempotencyKey = "voice:CA0123456789abcdef:referral-2"
	if third := e.create(t, n); third.ID == first.ID {
		t.Error("a different key returned the first referral")
	}
}

func TestSnapshotFrozen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	r := e.create(t, basic())

	svc := demoService(t, svcTempJobs)
	svc["name"] = "Fair-Chance Jobs (renamed)"
	svc["phones"].([]any)[0].(map[string]any)["number"] = "(816) 555-0199"
	e.importService(t, svc)
	if _, ph, _ := snapshotOf(t, e, svcTempJobs); ph != "(816) 555-0199" {
		t.Fatalf("the directory still lists %s; the import did not change it", ph)
	}

	got, err := e.GetReferral(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s := got.Services[0]; s.Phone != "(816) 555-0101" || s.Name != "Fair-Chance Temp-to-Hire Jobs" || s.Organization != "Bridgeway Staffing Partners" {
		t.Errorf("the referral changed with the listing: %+v", s)
	}
	if s := e.create(t, basic()).Services[0]; s.Phone != "(816) 555-0199" || s.Name != "Fair-Chance Jobs (renamed)" {
		t.Errorf("a new referral did not take the new listing: %+v", s)
	}
}

func snapshotOf(t testing.TB, e *env, id string) (name, phone, org string) {
	t.Helper()
	n, o, p, err := e.Lookup.Snapshot(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n, p, o
}

func TestDirectorySnapshotsNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, _, _, err := e.Lookup.Snapshot(context.Background(), "no-such-service")
	wantCode(t, err, apperr.ENOTFOUND, "")
}

// Every change writes an event with who, when, what, before and after, in
// the same transaction; phones appear only masked.
func TestEventsForEveryChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	n := basic()
	n.Client.Name = "Marcus"
	r := e.create(t, n)
	n.Client.Name, n.Client.Language = "Marcus Bell", LanguageES
	n.Client.Consent = &Consent{Given: true, Channel: ChannelStaff, Words: "May we text you next week?"}
	n.CreatedBy, n.Channel = "staff-7", ChannelStaff
	r2 := e.create(t, n)
	if _, err := e.RecordOutcome(ctx, r.ID, svcTempJobs, Outcome{Reached: ptr(true), Source: SourceSMS}, "system:sms"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RecordOutcome(ctx, r.ID, svcTempJobs, Outcome{GotHelp: GotHelpNo, Reason: ReasonWaitlist, Source: SourceSMS}, "system:sms"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.OptOut(ctx, phoneRaw, "system:sms"); err != nil {
		t.Fatal(err)
	}

	type row struct{ action, field, actor, before, after string }
	want := map[string][]row{
		r.ID: {
			{ActionClientCreated, "", "system:voice", "", `"phone":"+1******0217"`},
			{ActionReferralCreated, "", "system:voice", "", `"name":"Fair-Chance Temp-to-Hire Jobs"`},
			{ActionConsentSet, "consent", "staff-7", "", `"words":"May we text you next week?"`}, // client events show on every referral of the client
			{ActionOutcomeRecorded, "outcome[" + svcTempJobs + "]", "system:sms", "", `"reached":true`},
			{ActionOutcomeRecorded, "outcome[" + svcTempJobs + "]", "system:sms", `"got_help":""`, `"reason":"waitlist"`},
			{ActionOptedOut, "opted_out_at", "system:sms", "", `"2026-`},
		},
		r2.ID: {
			{ActionClientUpdated, "name", "staff-7", `"Marcus"`, `"Marcus Bell"`},
			{ActionClientUpdated, "language", "staff-7", `"en"`, `"es"`},
			{ActionConsentSet, "consent", "staff-7", "", `"given":true`},
			{ActionReferralCreated, "", "staff-7", "", `"created_by":"staff-7"`},
			// Consent given: the follow-ups are planned with the referral...
			{ActionFollowupScheduled, KindCheckin, "staff-7", "", `"kind":"checkin"`},
			{ActionFollowupScheduled, KindReminder, "staff-7", "", `"kind":"reminder"`},
			{ActionFollowupScheduled, KindCall, "staff-7", "", `"kind":"call"`},
			// ...and the texts cancelled by the opt-out; the call stays.
			{ActionOptedOut, "opted_out_at", "system:sms", "", `"2026-`},
			{ActionFollowupChanged, "state", "system:sms", `"kind":"checkin"`, `"state":"cancelled"`},
			{ActionFollowupChanged, "state", "system:sms", `"kind":"reminder"`, `"state":"cancelled"`},
		},
	}
	for id, rows := range want {
		evs, err := e.Events(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		// The consent of r2 was set while creating r2, so it belongs to r2
		// and is not a client-only event of r.
		if id == r.ID {
			rows = append(rows[:2], rows[3:]...)
		}
		if len(evs) != len(rows) {
			b, _ := json.MarshalIndent(evs, "", " ")
			t.Fatalf("referral %s: %d events, want %d:\n%s", id, len(evs), len(rows), b)
		}
		last := time.Time{}
		for i, w := range rows {
			ev := evs[i]
			if ev.Action != w.action || ev.Field != w.field || ev.Actor != w.actor {
				t.Errorf("event %d = %s %s by %s, want %s %s by %s", i, ev.Action, ev.Field, ev.Actor, w.action, w.field, w.actor)
			}
			if w.before == "" && ev.Before != nil || !strings.Contains(string(ev.Before), w.before) {
				t.Errorf("event %d (%s) before = %s, want %s", i, ev.Action, ev.Before, w.before)
			}
			if !strings.Contains(string(ev.After), w.after) {
				t.Errorf("event %d (%s) after = %s, want it to contain %s", i, ev.Action, ev.After, w.after)
			}
			if ev.At.Before(last) || ev.At.IsZero() {
				t.Errorf("event %d at %s, before the previous %s", i, ev.At, last)
			}
			last = ev.At
			if strings.Contains(string(ev.Before)+string(ev.After), "2310217") {
				t.Errorf("event %d holds the phone unmasked", i)
			}
		}
	}
	_, err := e.Events(ctx, "no-such-referral")
	wantCode(t, err, apperr.ENOTFOUND, "")
}

func TestListReferrals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mk := func(phone, channel, need string, services ...string) *Referral {
		n := basic()
		n.Client.Phone, n.Channel, n.NeedCategory, n.ServiceIDs = phone, channel, need, services
		n.CreatedBy = "system:" + channel
		return e.create(t, n)
	}
	a := mk(phoneRaw, ChannelVoice, "employment", svcTempJobs)
	b := mk(phoneRaw, ChannelSMS, "housing", svcMensHouse, svcShelter)
	mid := e.clock.Now()
	c := mk("(913) 555-0147", ChannelWeb, "housing", svcShelter)
	d := mk("", ChannelWeb, "basic-needs", svcShelter)
	rec := func(r *Referral, o Outcome) {
		t.Helper()
		o.Source = SourceStaff
		if _, err := e.RecordOutcome(ctx, r.ID, "", o, "staff-7"); err != nil {
			t.Fatal(err)
		}
	}
	rec(a, Outcome{Reached: ptr(true), GotHelp: GotHelpYes})
	rec(b, Outcome{Reached: ptr(true), GotHelp: GotHelpPartly, Reason: ReasonWaitlist})
	rec(c, Outcome{Reached: ptr(false), Reason: ReasonCouldntReach, StillNeedsHelp: ptr(true)})
	if _, err := e.RecordOutcome(ctx, d.ID, svcShelter, Outcome{Reached: ptr(true), Source: SourceStaff}, "staff-7"); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		Name   string
		Filter ReferralFilter
		Want   []*Referral // newest first
		Total  int         // when paged
	}{
		{"all", ReferralFilter{}, []*Referral{d, c, b, a}, 0},
		{"channel", ReferralFilter{Channel: ChannelWeb}, []*Referral{d, c}, 0},
		{"need", ReferralFilter{NeedCategory: "housing"}, []*Referral{c, b}, 0},
		{"service", ReferralFilter{ServiceID: svcShelter}, []*Referral{d, c, b}, 0},
		{"created from", ReferralFilter{CreatedFrom: mid}, []*Referral{d, c}, 0},
		{"created to", ReferralFilter{CreatedTo: mid}, []*Referral{b, a}, 0},
		{"created range", ReferralFilter{CreatedFrom: b.CreatedAt, CreatedTo: c.CreatedAt}, []*Referral{b}, 0},
		{"phone in another form", ReferralFilter{Phone: "+1 816 231 0217"}, []*Referral{b, a}, 0},
		{"client", ReferralFilter{ClientID: c.ClientID}, []*Referral{c}, 0},
		{"open", ReferralFilter{Outcome: OutcomeOpen}, []*Referral{d, b}, 0},
		{"closed", ReferralFilter{Outcome: OutcomeClosed}, []*Referral{c, a}, 0},
		{"none", ReferralFilter{Outcome: OutcomeNone}, nil, 0},
		{"reached", ReferralFilter{Outcome: OutcomeReached}, []*Referral{b, a}, 0},
		{"not reached", ReferralFilter{Outcome: OutcomeNotReached}, []*Referral{c}, 0},
		{"got help", ReferralFilter{Outcome: OutcomeGotHelp}, []*Referral{a}, 0},
		{"partly", ReferralFilter{Outcome: OutcomePartly}, []*Referral{b}, 0},
		{"still needs help", ReferralFilter{Outcome: OutcomeStillNeedsHelp}, []*Referral{c}, 0},
		{"combined", ReferralFilter{NeedCategory: "housing", Outcome: OutcomeOpen}, []*Referral{b}, 0},
		{"page 1", ReferralFilter{Limit: 3}, []*Referral{d, c, b}, 4},
		{"page 2", ReferralFilter{Limit: 3, Offset: 3}, []*Referral{a}, 4},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			rs, total, err := e.ListReferrals(ctx, tc.Filter)
			if err != nil {
				t.Fatal(err)
			}
			if tc.Total == 0 {
				tc.Total = len(tc.Want)
			}
			var got, want []string
			for _, r := range rs {
				got = append(got, r.ID)
			}
			for _, r := range tc.Want {
				want = append(want, r.ID)
			}
			if strings.Join(got, " ") != strings.Join(want, " ") || total != tc.Total {
				t.Errorf("got %d of %d: %v\nwant %d of %d: %v", len(got), total, got, len(want), tc.Total, want)
			}
		})
	}

	rs, _, err := e.ListReferrals(ctx, ReferralFilter{ClientID: d.ClientID})
	if err != nil || len(rs) != 1 {
		t.Fatal(err)
	}
	if o := rs[0].Services[0].Outcome; o == nil || o.Reached == nil || !*o.Reached || rs[0].Outcome != nil || rs[0].State != StateOpen {
		t.Errorf("listed referral d: services %+v, outcome %+v, state %s", rs[0].Services, rs[0].Outcome, rs[0].State)
	}

	for _, tc := range []struct {
		Filter ReferralFilter
		Field  string
	}{
		{ReferralFilter{Channel: "fax"}, "channel"},
		{ReferralFilter{NeedCategory: "jobs"}, "need_category"},
		{ReferralFilter{Outcome: "done"}, "outcome"},
		{ReferralFilter{Phone: "12"}, "phone"},
		{ReferralFilter{CreatedFrom: mid, CreatedTo: mid}, "created_to"},
	} {
		_, _, err := e.ListReferrals(ctx, tc.Filter)
		wantCode(t, err, apperr.EINVALID, tc.Field)
	}
}

// The one-statement snapshot names the phone the composed listing shows
// first, for every demo service, and again after the services' own phones
// are removed (a place's or its location's phone), and after those are
// removed too (the organization's).
func TestDirectorySnapshotsMatchListing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	d := e.dir.DB()
	var ids []string
	rs, err := d.Read.QueryContext(ctx, `SELECT id FROM service ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var id string
		rs.Scan(&id)
		ids = append(ids, id)
	}
	rs.Close()
	if len(ids) < 10 {
		t.Fatalf("%d demo services", len(ids))
	}
	// An extension, as the listing writes it.
	if _, err := d.Write.ExecContext(ctx, `UPDATE phone SET extension = 12 WHERE id = (SELECT id FROM phone WHERE service_id = ? ORDER BY rowid LIMIT 1)`, svcTempJobs); err != nil {
		t.Fatal(err)
	}
	for _, stage := range []struct{ name, change string }{
		{"as listed", ""},
		{"with organization phones", `INSERT INTO phone (id, organization_id, number) SELECT 'org-' || id, id, '(660) 555-' || substr('0000' || rowid, -4) FROM organization`},
		// every service's phones moved to its last place, and a phone
		// for every location: a service at one place shows its place's
		// phone, one at several the first place's location phone
		{"on places", `UPDATE phone SET service_at_location_id = (SELECT id FROM service_at_location sal
				WHERE sal.service_id = phone.service_id ORDER BY rowid DESC LIMIT 1), service_id = NULL
				WHERE service_id IS NOT NULL;
			INSERT INTO phone (id, location_id, number) SELECT 'loc-' || id, id, '(913) 555-' || substr('0000' || rowid, -4) FROM location`},
		{"organization's", `DELETE FROM phone WHERE service_at_location_id IS NOT NULL OR location_id IS NOT NULL`},
		{"no phones", `DELETE FROM phone`},
	} {
		if stage.change != "" {
			if _, err := d.Write.ExecContext(ctx, stage.change); err != nil {
				t.Fatal(err)
			}
		}
		phones := map[string]bool{}
		for _, id := range ids {
			name, org, phone, err := e.Lookup.Snapshot(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			wn, wo, wp := listedSnapshot(t, e.dir, id)
			if name != wn || org != wo || phone != wp {
				t.Errorf("%s: %s: snapshot %q, %q, %q; the listing shows %q, %q, %q", stage.name, id, name, org, phone, wn, wo, wp)
			}
			phones[phone] = true
		}
		if stage.name != "no phones" && len(phones) < 2 {
			t.Errorf("%s: every snapshot has phone %v: the stage tests nothing", stage.name, phones)
		}
	}
}

// listedSnapshot reads name, organization and first phone from the
// composed listing, as the hotline and staff see it.
func listedSnapshot(t *testing.T, dir *directory.Store, id string) (name, org, phone string) {
	t.Helper()
	doc, err := dir.Get(context.Background(), "service", id, directory.Full)
	if err != nil {
		t.Fatal(err)
	}
	first := func(v any) string {
		phones, _ := v.([]directory.Doc)
		for _, p := range phones {
			n := directory.Text(p.Get("number"))
			if n == "" {
				continue
			}
			if ext, ok := p.Get("extension").(float64); ok && ext > 0 {
				n += " ext. " + strconv.FormatFloat(ext, 'f', -1, 64)
			}
			return n
		}
		return ""
	}
	orgDoc, _ := doc.Get("organization").(directory.Doc)
	phone = first(doc.Get("phones"))
	if phone == "" {
		sals, _ := doc.Get("service_at_locations").([]directory.Doc)
		for _, sal := range sals {
			if phone = first(sal.Get("phones")); phone != "" {
				break
			}
			loc, _ := sal.Get("location").(directory.Doc)
			if phone = first(loc.Get("phones")); phone != "" {
				break
			}
		}
	}
	if phone == "" {
		phone = first(orgDoc.Get("phones"))
	}
	return directory.Text(doc.Get("name")), directory.Text(orgDoc.Get("name")), phone
}
