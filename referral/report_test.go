package referral

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

var chicago = func() *time.Location {
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		panic(err)
	}
	return loc
}()

// Organizations of the demo services used here.
const (
	orgBridgeway = "Bridgeway Staffing Partners"    // svcTempJobs
	orgNewRoots  = "New Roots Reentry Housing"      // svcMensHouse
	orgNortheast = "Northeast Shelter Alliance"     // svcShelter
	orgSecond    = "Second Chance"                  // svcEmployment
	consentWords = "May we text you in a few days?" // what staff read out
)

// reportEnv is a small known data set, in Chicago time, whose figures are
// worked out by hand in the tests:
//
//	A  Mon Mar 2  voice    employment  TempJobs             phone 1, consent   overall: reached, got help
//	B  Mon Mar 2  sms      housing     MensHouse            anonymous          overall: not reached, couldn't reach
//	C  Tue Mar 3  walk-in  housing     MensHouse + Shelter  phone 2, consent   MensHouse: reached, no (waitlist); Shelter: reached, partly
//	D  Sun Mar 8  staff    employment  Employment           phone 3, declined  none (23:30 Chicago, 04:30 UTC on Mar 9: week of Mar 2)
//	E  Mon Mar 9  voice    housing     Shelter              phone 1 (= A)      overall: still needs help
//	F  Tue Mar 10 web      employment  TempJobs             phone 4, consent   none
//	G  Mon Feb 23 voice    housing     Shelter              anonymous          overall: got help (before the range)
type reportEnv struct {
	*env
	refs map[string]*Referral
}

func newReportEnv(t testing.TB) *reportEnv {
	t.Helper()
	e := newEnv(t)
	e.Zone = chicago
	re := &reportEnv{env: e, refs: map[string]*Referral{}}
	ctx := context.Background()
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	consent := func(given bool) *Consent {
		return &Consent{Given: given, Channel: ChannelStaff, Words: consentWords}
	}
	for _, r := range []struct {
		key, at, channel, need, phone string
		consent                       *Consent
		services                      []string
	}{
		{"A", "2026-03-02T15:00:00Z", ChannelVoice, "employment", "(816) 555-0001", consent(true), []string{svcTempJobs}},
		{"B", "2026-03-02T16:00:00Z", ChannelSMS, "housing", "", nil, []string{svcMensHouse}},
		{"C", "2026-03-03T15:00:00Z", ChannelWalkIn, "housing", "(816) 555-0002", consent(true), []string{svcMensHouse, svcShelter}},
		{"D", "2026-03-09T04:30:00Z", ChannelStaff, "employment", "(816) 555-0003", consent(false), []string{svcEmployment}},
		{"E", "2026-03-09T15:00:00Z", ChannelVoice, "housing", "(816) 555-0001", nil, []string{svcShelter}},
		{"F", "2026-03-10T15:00:00Z", ChannelWeb, "employment", "(816) 555-0004", consent(true), []string{svcTempJobs}},
		{"G", "2026-02-23T15:00:00Z", ChannelVoice, "housing", "", nil, []string{svcShelter}},
	} {
		e.clock.t = at(r.at).Add(-time.Minute) // the clock ticks once before it is read
		n := NewReferral{Client: Client{Phone: r.phone, Consent: r.consent}, Channel: r.channel, NeedCategory: r.need,
			ZIP: "64127", ServiceIDs: r.services, CreatedBy: "staff-1", Notes: "private note " + r.key}
		re.refs[r.key] = e.create(t, n)
	}
	e.clock.t = at("2026-03-12T15:00:00Z")
	re.record(t, re.refs["A"].ID, "", Outcome{Reached: ptr(true), GotHelp: GotHelpYes, Source: SourceSMS})
	re.record(t, re.refs["B"].ID, "", couldntReach)
	re.record(t, re.refs["C"].ID, svcMensHouse, waitlisted)
	re.record(t, re.refs["C"].ID, svcShelter, Outcome{Reached: ptr(true), GotHelp: GotHelpPartly, Reason: ReasonWaitlist, Source: SourceStaff})
	re.record(t, re.refs["E"].ID, "", Outcome{StillNeedsHelp: ptr(true), Source: SourceVoice})
	re.record(t, re.refs["G"].ID, "", Outcome{Reached: ptr(true), GotHelp: GotHelpYes, Source: SourceStaff})

	// Follow-ups as the scheduler would leave them (whatever it scheduled
	// itself is replaced): A's check-in answered, F's sent, C's reminder
	// sent, a call task for F done and one for C open.
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := e.db.Write.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`DELETE FROM followup`)
	now := "2026-03-12T15:00:00.000000Z"
	for i, f := range []struct{ ref, kind, state, sent, replied string }{
		{"A", "checkin", "answered", now, now},
		{"F", "checkin", "sent", now, ""},
		{"C", "checkin", "pending", "", ""},
		{"C", "reminder", "sent", now, ""},
		{"F", "call", "done", "", ""},
		{"C", "call", "pending", "", ""},
		{"G", "checkin", "answered", now, now}, // out of range
	} {
		exec(`INSERT INTO followup (id, referral_id, kind, state, due_at, sent_at, replied_at, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,?,?)`, fmt.Sprintf("f%d", i), re.refs[f.ref].ID, f.kind, f.state, now,
			nullString(f.sent), nullString(f.replied), now, now)
	}
	for _, u := range []struct{ at, channel, query, filters string }{
		{"2026-03-03T18:00:00Z", "web", "tattoo removal", `{}`},
		{"2026-03-04T18:00:00Z", "sms", "  Tattoo Removal ", `{}`},
		{"2026-03-10T18:00:00Z", "web", "", `{"category":["housing"]}`},
		{"2026-03-20T18:00:00Z", "web", "dentist", `{}`}, // after the range
	} {
		exec(`INSERT INTO unmet_search (searched_at, channel, query, filters) VALUES (?,?,?,?)`, u.at, u.channel, u.query, u.filters)
	}
	return re
}

// twoWeeks is Mon Mar 2 to Sun Mar 15, 2026, in Chicago: across the start
// of daylight saving time (Mar 8).
func twoWeeks() ReportFilter {
	return ReportFilter{From: time.Date(2026, 3, 2, 0, 0, 0, 0, chicago), To: time.Date(2026, 3, 16, 0, 0, 0, 0, chicago)}
}

func TestReportByHand(t *testing.T) {
	t.Parallel()
	re := newReportEnv(t)
	re.Estimate = EstimateConfig{SavingsPerPersonYear: 18000, OperatingCostPerYear: 365000}
	rep, err := re.Report(context.Background(), twoWeeks())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Referrals != 6 {
		t.Errorf("referrals = %d, want 6 (A-F)", rep.Referrals)
	}
	weeks := []WeekCount{{time.Date(2026, 3, 2, 0, 0, 0, 0, chicago), 4}, {time.Date(2026, 3, 9, 0, 0, 0, 0, chicago), 2}}
	if len(rep.Weeks) != 2 || !rep.Weeks[0].Start.Equal(weeks[0].Start) || rep.Weeks[0].N != 4 ||
		!rep.Weeks[1].Start.Equal(weeks[1].Start) || rep.Weeks[1].N != 2 {
		t.Errorf("weeks = %+v, want %+v (D is Sunday night in Chicago)", rep.Weeks, weeks)
	}
	if want := []Count{{"voice", "voice", 2}, {"sms", "sms", 1}, {"web", "web", 1}, {"staff", "staff", 1}, {"walk-in", "walk-in", 1}}; !reflect.DeepEqual(rep.ByChannel, want) {
		t.Errorf("by channel = %+v, want %+v", rep.ByChannel, want)
	}
	if want := []Count{{"employment", "Jobs", 3}, {"housing", "Housing", 3}}; !reflect.DeepEqual(rep.ByNeed, want) {
		t.Errorf("by need = %+v, want %+v", rep.ByNeed, want)
	}
	wantPartners := []PartnerCount{{orgBridgeway, 2, 2}, {orgNewRoots, 2, 2}, {orgNortheast, 2, 2}, {orgSecond, 1, 1}}
	if !reflect.DeepEqual(rep.ByPartner, wantPartners) {
		t.Errorf("by partner = %+v, want %+v", rep.ByPartner, wantPartners)
	}

	// Overall: followed up A B C E; reached A C; got help A; partly C
	// (the better of its services' answers).
	wantFunnel := Funnel{Key: "all", Label: "All referrals", Referred: 6, FollowedUp: 4, Reached: 2, GotHelp: 1, Partly: 1}
	if !reflect.DeepEqual(rep.Funnel, wantFunnel) {
		t.Errorf("funnel = %+v, want %+v", rep.Funnel, wantFunnel)
	}
	if rep.Funnel.ReachedRate() != 0.5 || rep.Funnel.GotHelpRate() != 0.25 {
		t.Errorf("rates %v %v", rep.Funnel.ReachedRate(), rep.Funnel.GotHelpRate())
	}
	housingStudy := StudyGotHelpByNeed["housing"]
	wantByNeed := []Funnel{
		{Key: "employment", Label: "Jobs", Referred: 3, FollowedUp: 1, Reached: 1, GotHelp: 1},
		{Key: "housing", Label: "Housing", Referred: 3, FollowedUp: 3, Reached: 1, Partly: 1, Study: &housingStudy},
	}
	if !reflect.DeepEqual(rep.FunnelByNeed, wantByNeed) {
		t.Errorf("funnel by need = %+v, want %+v", rep.FunnelByNeed, wantByNeed)
	}
	// Per referred service: B counts for MensHouse (its only service), E
	// for Shelter; nothing reached in E, so Shelter has one reached (C).
	wantByPartner := []Funnel{
		{Key: orgBridgeway, Label: orgBridgeway, Referred: 2, FollowedUp: 1, Reached: 1, GotHelp: 1},
		{Key: orgNewRoots, Label: orgNewRoots, Referred: 2, FollowedUp: 2, Reached: 1, NoHelp: 1},
		{Key: orgNortheast, Label: orgNortheast, Referred: 2, FollowedUp: 2, Reached: 1, Partly: 1},
		{Key: orgSecond, Label: orgSecond, Referred: 1},
	}
	if !reflect.DeepEqual(rep.FunnelByPartner, wantByPartner) {
		t.Errorf("funnel by partner = %+v, want %+v", rep.FunnelByPartner, wantByPartner)
	}

	// Consent and a phone: A, C, E (A's client), F; with an outcome A C E.
	if fu := rep.Followup; fu.Eligible != 4 || fu.WithOutcome != 3 || fu.CompletionRate() != 0.75 {
		t.Errorf("follow-up = %+v", fu)
	}
	kinds := map[string]FollowupKindStat{}
	for _, k := range rep.Followup.Kinds {
		kinds[k.Kind] = k
	}
	if k := kinds["checkin"]; k != (FollowupKindStat{"checkin", 3, 2, 1}) || k.AnswerRate() != 0.5 {
		t.Errorf("check-ins = %+v", k)
	}
	if k := kinds["reminder"]; k != (FollowupKindStat{"reminder", 1, 1, 0}) {
		t.Errorf("reminders = %+v", k)
	}
	if k := kinds["call"]; k != (FollowupKindStat{"call", 2, 0, 1}) || k.AnswerRate() != 0.5 {
		t.Errorf("calls = %+v", k)
	}

	if u := rep.Unmet; u.Total != 3 || len(u.Weeks) != 2 || u.Weeks[0].N != 2 || u.Weeks[1].N != 1 ||
		!reflect.DeepEqual(u.TopQueries, []Count{{"tattoo removal", "tattoo removal", 2}, {"(no words: filters only)", "(no words: filters only)", 1}}) {
		t.Errorf("unmet = %+v", u)
	}

	// B's and C's MensHouse: not a flag yet (2 < 3, and C's is a waitlist).
	if len(rep.Flagged) != 0 {
		t.Errorf("flagged = %+v", rep.Flagged)
	}
	// 1 person helped x 18,000 - 365,000 x 14/365.
	if e := rep.Estimate; e.PeopleHelped != 1 || e.Days != 14 || e.Savings != 18000 || e.OperatingCost != 14000 || e.Net != 4000 {
		t.Errorf("estimate = %+v", e)
	}
}

// Filters narrow every referral figure; a partner narrows partner tables to
// itself.
func TestReportFilters(t *testing.T) {
	t.Parallel()
	re := newReportEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		Name      string
		Edit      func(*ReportFilter)
		Referrals int
		Funnel    [4]int // referred, followed up, reached, got help
		Partners  []string
		Unmet     int
	}{
		{"all", func(*ReportFilter) {}, 6, [4]int{6, 4, 2, 1}, []string{orgBridgeway, orgNewRoots, orgNortheast, orgSecond}, 3},
		{"voice", func(f *ReportFilter) { f.Channel = ChannelVoice }, 2, [4]int{2, 2, 1, 1}, []string{orgBridgeway, orgNortheast}, 0},
		{"web", func(f *ReportFilter) { f.Channel = ChannelWeb }, 1, [4]int{1, 0, 0, 0}, []string{orgBridgeway}, 2},
		{"housing", func(f *ReportFilter) { f.NeedCategory = "housing" }, 3, [4]int{3, 3, 1, 0}, []string{orgNewRoots, orgNortheast}, 3},
		{"partner", func(f *ReportFilter) { f.Partner = orgNortheast }, 2, [4]int{2, 2, 1, 0}, []string{orgNortheast}, 3},
		{"first week", func(f *ReportFilter) { f.To = f.From.AddDate(0, 0, 7) }, 4, [4]int{4, 3, 2, 1}, []string{orgNewRoots, orgBridgeway, orgNortheast, orgSecond}, 2},
		{"with G", func(f *ReportFilter) { f.From = f.From.AddDate(0, 0, -7) }, 7, [4]int{7, 5, 3, 2}, []string{orgNortheast, orgBridgeway, orgNewRoots, orgSecond}, 3},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			f := twoWeeks()
			tc.Edit(&f)
			rep, err := re.Report(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			fn := rep.Funnel
			if rep.Referrals != tc.Referrals || [4]int{fn.Referred, fn.FollowedUp, fn.Reached, fn.GotHelp} != tc.Funnel {
				t.Errorf("referrals %d, funnel %+v; want %d, %v", rep.Referrals, fn, tc.Referrals, tc.Funnel)
			}
			var partners []string
			for _, p := range rep.FunnelByPartner {
				partners = append(partners, p.Key)
			}
			if !slices.Equal(partners, tc.Partners) {
				t.Errorf("partners %v, want %v", partners, tc.Partners)
			}
			if rep.Unmet.Total != tc.Unmet {
				t.Errorf("unmet %d, want %d", rep.Unmet.Total, tc.Unmet)
			}
		})
	}
}

func TestReportFilterValidate(t *testing.T) {
	t.Parallel()
	ok := twoWeeks()
	for _, tc := range []struct {
		Name  string
		Edit  func(*ReportFilter)
		Field string
	}{
		{"ok", func(*ReportFilter) {}, ""},
		{"no from", func(f *ReportFilter) { f.From = time.Time{} }, "from"},
		{"no to", func(f *ReportFilter) { f.To = time.Time{} }, "to"},
		{"backwards", func(f *ReportFilter) { f.From, f.To = f.To, f.From }, "to"},
		{"empty range", func(f *ReportFilter) { f.To = f.From }, "to"},
		{"ten years", func(f *ReportFilter) { f.From = f.To.AddDate(-10, 0, 0) }, "to"},
		{"channel", func(f *ReportFilter) { f.Channel = "fax" }, "channel"},
		{"need", func(f *ReportFilter) { f.NeedCategory = "jobs" }, "need_category"},
		{"partner", func(f *ReportFilter) { f.Partner = strings.Repeat("x", 300) }, "partner"},
		{"partner control", func(f *ReportFilter) { f.Partner = "a\x00b" }, "partner"},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			f := ok
			tc.Edit(&f)
			err := f.Validate()
			if tc.Field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, apperr.EINVALID, tc.Field)
		})
	}
}

func TestDefaultReportFilter(t *testing.T) {
	t.Parallel()
	// Wednesday Mar 11, 2026, 02:00 UTC is still Tuesday Mar 10 in Chicago.
	f := DefaultReportFilter(time.Date(2026, 3, 11, 2, 0, 0, 0, time.UTC), chicago)
	if want := time.Date(2025, 12, 22, 0, 0, 0, 0, chicago); !f.From.Equal(want) {
		t.Errorf("from = %v, want %v (Monday 11 weeks before this week's)", f.From, want)
	}
	if want := time.Date(2026, 3, 11, 0, 0, 0, 0, chicago); !f.To.Equal(want) {
		t.Errorf("to = %v, want %v (end of today in Chicago)", f.To, want)
	}
	if err := f.Validate(); err != nil {
		t.Error(err)
	}
}

func readCSV(t testing.TB, b []byte) [][]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, b)
	}
	return recs
}

func TestReportTablesCSV(t *testing.T) {
	t.Parallel()
	re := newReportEnv(t)
	rep, err := re.Report(context.Background(), twoWeeks())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range rep.Tables() {
		names = append(names, tb.Name)
	}
	if !slices.Equal(names, TableNames) {
		t.Fatalf("tables %v, TableNames %v", names, TableNames)
	}
	for _, tc := range []struct {
		Table string
		Want  [][]string // the whole CSV, header first
	}{
		{"weeks", [][]string{{"week_start", "referrals"}, {"2026-03-02", "4"}, {"2026-03-09", "2"}}},
		{"needs", [][]string{{"need", "need_category", "referrals", "pct"}, {"Jobs", "employment", "3", "50.0"}, {"Housing", "housing", "3", "50.0"}}},
		{"funnel", [][]string{
			{"group", "referred", "followed_up", "followed_up_pct", "reached", "reached_pct", "got_help", "got_help_pct", "partly", "no_help"},
			{"Our referrals", "6", "4", "66.7", "2", "50.0", "1", "25.0", "1", "0"},
			{StudyName + " (study figure)", "", "", "", "", "82.0", "", "36.0", "", ""},
		}},
		{"unmet_queries", [][]string{{"query", "searches"}, {"tattoo removal", "2"}, {"(no words: filters only)", "1"}}},
	} {
		t.Run(tc.Table, func(t *testing.T) {
			tb, ok := rep.Table(tc.Table)
			if !ok {
				t.Fatalf("no table %s", tc.Table)
			}
			var buf bytes.Buffer
			if err := WriteCSV(&buf, tb); err != nil {
				t.Fatal(err)
			}
			if got := readCSV(t, buf.Bytes()); !reflect.DeepEqual(got, tc.Want) {
				t.Errorf("CSV =\n%q\nwant\n%q", got, tc.Want)
			}
		})
	}
	// Every table's rows have a cell per column.
	for _, tb := range rep.Tables() {
		for i, row := range tb.Rows {
			if len(row) != len(tb.Columns) {
				t.Errorf("table %s row %d has %d cells for %d columns", tb.Name, i, len(row), len(tb.Columns))
			}
		}
	}
}

func TestCSVCell(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"=HYPERLINK(\"http://x\")": "'=HYPERLINK(\"http://x\")",
		"+1 816 555 0100":          "'+1 816 555 0100",
		"-2+3":                     "'-2+3",
		"@SUM(A1)":                 "'@SUM(A1)",
		"\t=1":                     "'\t=1",
		"-1200":                    "-1200",
		"-12.5":                    "-12.5",
		"42":                       "42",
		"tattoo removal":           "tattoo removal",
		"":                         "",
	} {
		if got := CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
	}
	// Through WriteCSV: a query someone typed as a formula comes out inert.
	var buf bytes.Buffer
	tb := Table{Columns: []Column{col("query", "")}, Rows: [][]string{{"=cmd|' /C calc'!A0"}}}
	if err := WriteCSV(&buf, tb); err != nil {
		t.Fatal(err)
	}
	if got := readCSV(t, buf.Bytes()); got[1][0] != "'=cmd|' /C calc'!A0" {
		t.Errorf("cell = %q", got[1][0])
	}
}

// The export has one row per referred service and nothing personal.
func TestExport(t *testing.T) {
	t.Parallel()
	re := newReportEnv(t)
	var rows []ExportRow
	err := re.Export(context.Background(), twoWeeks(), func(r *ExportRow) error {
		rows = append(rows, *r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 { // A B C(2) D E F
		t.Fatalf("%d rows, want 7", len(rows))
	}
	keys := map[string]bool{}
	for _, r := range rows {
		keys[r.ReferralKey] = true
		for _, id := range re.refs {
			if strings.Contains(r.ReferralKey, id.ID) {
				t.Errorf("key %s holds a referral id", r.ReferralKey)
			}
		}
		if r.ZIP3 != "641" {
			t.Errorf("zip3 = %q", r.ZIP3)
		}
	}
	if len(keys) != 6 {
		t.Errorf("%d distinct keys, want 6", len(keys))
	}
	c1, c2 := rows[2], rows[3]
	if c1.ReferralKey != c2.ReferralKey || c1.ServiceID != svcMensHouse || c2.ServiceID != svcShelter || c2.Position != 1 ||
		c1.OutcomeFrom != "service" || c1.GotHelp != GotHelpNo || c1.Reason != ReasonWaitlist || c1.Week != "2026-03-02" ||
		c1.TextsSent != 1 || c1.TextsAnswered != 0 || c1.CallTasks != 1 {
		t.Errorf("C rows = %+v, %+v", c1, c2)
	}
	a, b, d := rows[0], rows[1], rows[4]
	if a.OutcomeFrom != "referral" || a.Reached == nil || !*a.Reached || a.GotHelp != GotHelpYes || a.TextsSent != 1 || a.TextsAnswered != 1 {
		t.Errorf("A row = %+v", a)
	}
	if b.Reason != ReasonCouldntReach || *b.Reached {
		t.Errorf("B row = %+v", b)
	}
	if d.Week != "2026-03-02" || d.OutcomeFrom != "" || d.Reached != nil {
		t.Errorf("D row = %+v (Sunday night in Chicago)", d)
	}
	// Nothing personal in any cell: no phone, note, staff id or exact time.
	var all strings.Builder
	for _, r := range rows {
		all.WriteString(strings.Join(r.Record(), ",") + "\n")
	}
	// ("555-", not "555": the export's random keys may hold it)
	for _, bad := range []string{"555-", "private note", "staff-1", "T15:00", "64127"} {
		if strings.Contains(all.String(), bad) {
			t.Errorf("export holds %q:\n%s", bad, all.String())
		}
	}
	// Another export gets other keys.
	var again []ExportRow
	re.Export(context.Background(), twoWeeks(), func(r *ExportRow) error { again = append(again, *r); return nil })
	if again[0].ReferralKey == rows[0].ReferralKey {
		t.Error("two exports share keys")
	}
}

func TestCharts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		Name string
		Bars []Bar
		Rect int
	}{
		{"empty", nil, 0},
		{"zeros", []Bar{{"Mar 2", 0}, {"Mar 9", 0}}, 2},
		{"escaped labels", []Bar{{"<b>&", 3}}, 1},
		{"many weeks", make([]Bar, 260), 260},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			svg := string(BarChart("Referrals <by> week", tc.Bars))
			if strings.Count(svg, "<rect") != tc.Rect || strings.Contains(svg, "<b>") || strings.Contains(svg, "NaN") || strings.Contains(svg, "<script") {
				t.Errorf("svg: %s", svg)
			}
			if !strings.HasPrefix(svg, "<svg") || !strings.HasSuffix(svg, "</svg>") || !strings.Contains(svg, "Referrals &lt;by&gt; week") {
				t.Errorf("svg: %.200s", svg)
			}
		})
	}
	svg := string(FunnelChart("Funnel", Funnel{Referred: 10, FollowedUp: 5, Reached: 4, GotHelp: 2}))
	for _, want := range []string{"80.0%", "40.0%", "study 82.0%", "study 36.0%", "not ours"} {
		if !strings.Contains(svg, want) {
			t.Errorf("funnel chart lacks %q", want)
		}
	}
	if strings.Contains(string(FunnelChart("none", Funnel{})), "NaN") {
		t.Error("NaN in an empty funnel")
	}
}
