package referral

import (
	"encoding/csv"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Table is one table of a report, shown on the page and downloadable as
// CSV from /staff/reports/<Name>.csv: the page and the file come from the
// same rows, so they cannot disagree.
type Table struct {
	// Name is the CSV's file name without .csv.
	Name  string
	Title string
	// Note says what is counted, under the title.
	Note    string
	Columns []Column
	Rows    [][]string
}

// Column is a column's CSV header (Key) and on-page heading (Label).
type Column struct {
	Key, Label string
	// Num right-aligns the column on the page.
	Num bool
}

func col(key, label string) Column { return Column{Key: key, Label: label} }
func num(key, label string) Column { return Column{Key: key, Label: label, Num: true} }

// Tables lists every table of the report, in page order.
func (rep *Report) Tables() []Table {
	return []Table{
		rep.weeksTable(), rep.channelsTable(), rep.needsTable(), rep.partnersTable(),
		rep.funnelTable(), rep.funnelByNeedTable(), rep.funnelByPartnerTable(),
		rep.followupsTable(), rep.unmetWeeksTable(), rep.unmetQueriesTable(), rep.unmetFiltersTable(),
		rep.flaggedTable(), rep.servicesTable(), rep.estimateTable(),
	}
}

// TableNames are the names Tables returns, for routing and validation
// without building a report.
var TableNames = []string{"weeks", "channels", "needs", "partners", "funnel", "funnel_by_need", "funnel_by_partner",
	"followups", "unmet_weeks", "unmet_queries", "unmet_filters", "flagged", "services", "estimate"}

// Table returns the table called name.
func (rep *Report) Table(name string) (Table, bool) {
	for _, t := range rep.Tables() {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

func itoa(n int) string { return strconv.Itoa(n) }

// pct writes a share as a percentage with one decimal, without the sign
// (the column says %), so that the CSV is numbers.
func pct(x float64) string { return strconv.FormatFloat(x*100, 'f', 1, 64) }

// pctOf is pct(n/d), or "" when d is 0 (no base, no rate).
func pctOf(n, d int) string {
	if d == 0 {
		return ""
	}
	return pct(ratio(n, d))
}

func money(x float64) string { return strconv.FormatFloat(x, 'f', 0, 64) }

func (rep *Report) weeksTable() Table {
	t := Table{Name: "weeks", Title: "Referrals by week", Note: "Weeks start on Monday.",
		Columns: []Column{col("week_start", "Week of"), num("referrals", "Referrals")}}
	for _, w := range rep.Weeks {
		t.Rows = append(t.Rows, []string{w.Start.In(rep.Zone).Format("2006-01-02"), itoa(w.N)})
	}
	return t
}

func (rep *Report) channelsTable() Table {
	t := Table{Name: "channels", Title: "Referrals by channel",
		Columns: []Column{col("channel", "Channel"), num("referrals", "Referrals"), num("pct", "%")}}
	for _, c := range rep.ByChannel {
		t.Rows = append(t.Rows, []string{c.Label, itoa(c.N), pctOf(c.N, rep.Referrals)})
	}
	return t
}

func (rep *Report) needsTable() Table {
	t := Table{Name: "needs", Title: "Referrals by need",
		Columns: []Column{col("need", "Need"), col("need_category", "Key"), num("referrals", "Referrals"), num("pct", "%")}}
	for _, c := range rep.ByNeed {
		t.Rows = append(t.Rows, []string{c.Label, c.Key, itoa(c.N), pctOf(c.N, rep.Referrals)})
	}
	return t
}

func (rep *Report) partnersTable() Table {
	t := Table{Name: "partners", Title: "Referrals by partner",
		Note:    "The organization of each referred service, as listed when the referral was made. A referral to two partners counts for both.",
		Columns: []Column{col("partner", "Partner"), num("referrals", "Referrals"), num("services_referred", "Services referred")}}
	for _, p := range rep.ByPartner {
		t.Rows = append(t.Rows, []string{p.Organization, itoa(p.Referrals), itoa(p.Services)})
	}
	return t
}

// funnelColumns are the columns of every funnel table after the first.
var funnelColumns = []Column{
	num("referred", "Referred"), num("followed_up", "Followed up"), num("followed_up_pct", "% followed up"),
	num("reached", "Reached provider"), num("reached_pct", "% reached"),
	num("got_help", "Got help"), num("got_help_pct", "% got help"),
	num("partly", "Partly"), num("no_help", "No help"),
}

func funnelCells(f Funnel) []string {
	return []string{itoa(f.Referred), itoa(f.FollowedUp), pctOf(f.FollowedUp, f.Referred),
		itoa(f.Reached), pctOf(f.Reached, f.FollowedUp), itoa(f.GotHelp), pctOf(f.GotHelp, f.FollowedUp),
		itoa(f.Partly), itoa(f.NoHelp)}
}

const funnelNote = "Followed up: any outcome recorded. % reached and % got help are of those followed up, the base the study uses. A referral counts as reached or helped when its overall outcome or any of its services' says so."

func (rep *Report) funnelTable() Table {
	t := Table{Name: "funnel", Title: "Outcome funnel", Note: funnelNote + " The last row is the study's figure, not ours.",
		Columns: append([]Column{col("group", "")}, funnelColumns...)}
	t.Rows = append(t.Rows, append([]string{"Our referrals"}, funnelCells(rep.Funnel)...))
	t.Rows = append(t.Rows, []string{StudyName + " (study figure)", "", "", "", "", pct(StudyReached), "", pct(StudyGotHelp), "", ""})
	return t
}

func (rep *Report) funnelByNeedTable() Table {
	t := Table{Name: "funnel_by_need", Title: "Outcome funnel by need", Note: funnelNote,
		Columns: append(append([]Column{col("need", "Need")}, funnelColumns...), num("study_got_help_pct", "Study: % got help"), col("study_need", "Study figure for"))}
	for _, f := range rep.FunnelByNeed {
		study, about := "", ""
		if f.Study != nil {
			study, about = pct(f.Study.Rate), f.Study.Label+" ("+StudyName+")"
		}
		t.Rows = append(t.Rows, append(append([]string{f.Label}, funnelCells(f)...), study, about))
	}
	return t
}

func (rep *Report) funnelByPartnerTable() Table {
	t := Table{Name: "funnel_by_partner", Title: "Outcome funnel by partner",
		Note:    "Counted per referred service: its own outcome, or the overall outcome of a referral to that service alone.",
		Columns: append([]Column{col("partner", "Partner")}, funnelColumns...)}
	for _, f := range rep.FunnelByPartner {
		t.Rows = append(t.Rows, append([]string{f.Label}, funnelCells(f)...))
	}
	return t
}

// followupLabels name the follow-up kinds on the page.
var followupLabels = map[string]string{
	"checkin": "Check-in text", "reminder": "Reminder text", "clarify": "Clarifying text", "final": "Final check text",
	"call": "Staff call task", "callback": "Callback request", "unsure": "Unsure-if-sent check",
}

func (rep *Report) followupsTable() Table {
	fu := rep.Followup
	t := Table{Name: "followups", Title: "Follow-up completion",
		Note: "First row: referrals whose client has a phone and consented to follow-up, and how many of them have an outcome recorded. " +
			"Then each kind of follow-up of the referrals in range: texts sent and answered, tasks created and done.",
		Columns: []Column{col("what", "What"), num("total", "Total"), num("sent", "Sent"), num("answered_or_done", "Answered / done"), num("pct", "%")}}
	t.Rows = append(t.Rows, []string{"Referrals with consent and a phone: outcome recorded", itoa(fu.Eligible), "", itoa(fu.WithOutcome), pctOf(fu.WithOutcome, fu.Eligible)})
	for _, k := range fu.Kinds {
		sent, rate := itoa(k.Sent), pctOf(k.Answered, k.Sent)
		if isTask(k.Kind) {
			sent, rate = "", pctOf(k.Answered, k.Created)
		}
		t.Rows = append(t.Rows, []string{followupLabels[k.Kind], itoa(k.Created), sent, itoa(k.Answered), rate})
	}
	return t
}

const unmetNote = "Searches that found nothing fitting (web, text and phone), in the date range; the channel filter applies, need and partner do not."

func (rep *Report) unmetWeeksTable() Table {
	t := Table{Name: "unmet_weeks", Title: "Unmet needs by week", Note: unmetNote,
		Columns: []Column{col("week_start", "Week of"), num("searches", "Searches")}}
	for _, w := range rep.Unmet.Weeks {
		t.Rows = append(t.Rows, []string{w.Start.In(rep.Zone).Format("2006-01-02"), itoa(w.N)})
	}
	return t
}

func (rep *Report) unmetQueriesTable() Table {
	t := Table{Name: "unmet_queries", Title: fmt.Sprintf("Unmet needs: top %d searches", TopUnmet), Note: unmetNote,
		Columns: []Column{col("query", "Search words"), num("searches", "Searches")}}
	for _, c := range rep.Unmet.TopQueries {
		t.Rows = append(t.Rows, []string{c.Label, itoa(c.N)})
	}
	return t
}

func (rep *Report) unmetFiltersTable() Table {
	t := Table{Name: "unmet_filters", Title: fmt.Sprintf("Unmet needs: top %d filter sets", TopUnmet), Note: unmetNote,
		Columns: []Column{col("filters", "Filters (JSON)"), num("searches", "Searches")}}
	for _, c := range rep.Unmet.TopFilters {
		t.Rows = append(t.Rows, []string{c.Label, itoa(c.N)})
	}
	return t
}

func (rep *Report) flaggedTable() Table {
	t := Table{Name: "flagged", Title: "Services flagged for re-verification",
		Note: "Referrals to these services came back \"couldn't reach them\" or \"wrong information\" often enough to check the listing. All open flags, whatever the filter.",
		Columns: []Column{col("review_id", "Flag"), col("service", "Service"), col("partner", "Partner"), col("service_id", "Service id"),
			num("reports", "Reports"), col("reasons", "Reasons"), col("flagged_on", "Flagged on")}}
	for _, r := range rep.Flagged {
		t.Rows = append(t.Rows, []string{strconv.FormatInt(r.ID, 10), r.Name, r.Organization, r.ServiceID, itoa(r.Reports),
			reasonText(r.Reason), r.FlaggedAt.In(rep.Zone).Format("2006-01-02")})
	}
	return t
}

// reasonLabels name the reasons a referral did not work.
var reasonLabels = map[string]string{
	ReasonCouldntReach: "couldn't reach them", ReasonNotEligible: "not eligible", ReasonWaitlist: "waitlist or no capacity",
	ReasonWrongInfo: "wrong information", ReasonDidntGo: "didn't go", ReasonOther: "other",
}

// reasonText turns "couldnt_reach:2,wrong_info:1" into "couldn't reach
// them 2, wrong information 1".
func reasonText(summary string) string {
	var parts []string
	for p := range strings.SplitSeq(summary, ",") {
		k, n, _ := strings.Cut(p, ":")
		if l := reasonLabels[k]; l != "" {
			k = l
		}
		parts = append(parts, strings.TrimSpace(k+" "+n))
	}
	return strings.Join(parts, ", ")
}

func (rep *Report) servicesTable() Table {
	t := Table{Name: "services", Title: "Services: how referrals turned out",
		Note: "Per referred service (its own outcome, or the overall outcome of a referral to it alone). Success is got help (yes) of those with an outcome.",
		Columns: []Column{col("service", "Service"), col("partner", "Partner"), col("service_id", "Service id"), num("referrals", "Referrals"),
			num("with_outcome", "With outcome"), num("reached", "Reached"), num("not_reached", "Not reached"),
			num("got_help", "Got help"), num("partly", "Partly"), num("no_help", "No help"), num("success_pct", "% success"),
			col("reasons", "Reasons"), col("flagged", "Flagged")}}
	for _, s := range rep.Services {
		var reasons []string
		for _, r := range reasonValues {
			if n := s.Reasons[r]; n > 0 {
				reasons = append(reasons, fmt.Sprintf("%s %d", reasonLabels[r], n))
			}
		}
		flagged := ""
		if s.Flagged {
			flagged = "yes"
		}
		t.Rows = append(t.Rows, []string{s.Name, s.Organization, s.ServiceID, itoa(s.Referrals), itoa(s.WithOutcome),
			itoa(s.Reached), itoa(s.NotReached), itoa(s.GotHelp), itoa(s.Partly), itoa(s.NoHelp),
			pctOf(s.GotHelp, s.WithOutcome), strings.Join(reasons, ", "), flagged})
	}
	return t
}

// EstimateAssumptions are printed with the estimate, on the page and in
// its CSV.
var EstimateAssumptions = []string{
	"An estimate, not a measurement.",
	"Assumes each person helped avoids one year of incarceration.",
	"People helped: distinct people with a referral in the range who said they got help (yes); \"partly\" is not counted.",
	"The operating cost is the yearly figure prorated to the days in the range.",
}

func (rep *Report) estimateTable() Table {
	e := rep.Estimate
	t := Table{Name: "estimate", Title: "Estimate: savings from people helped",
		Note:    strings.Join(EstimateAssumptions, " "),
		Columns: []Column{col("item", "Item"), num("value", "Value")}}
	t.Rows = [][]string{
		{"People helped", itoa(e.PeopleHelped)},
		{"Savings per person-year of incarceration avoided (USD, setting reports.savings_per_person_year)", money(e.SavingsPerPersonYear)},
		{"Estimated savings (USD)", money(e.Savings)},
		{"Operating cost per year (USD, setting reports.operating_cost)", money(e.OperatingCostPerYear)},
		{fmt.Sprintf("Operating cost for the %d days shown (USD)", e.Days), money(e.OperatingCost)},
		{"Estimated net savings (USD)", money(e.Net)},
	}
	return t
}

// plainNumber is a number a spreadsheet reads as a number and never as a
// formula, so it may keep its minus sign.
var plainNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// CSVCell makes a cell safe to open in a spreadsheet: text that starts with
// = + - @ (or a tab or carriage return, which some spreadsheets skip before
// a formula) gets a leading single quote, so it is read as text rather than
// run as a formula (CSV injection). Plain numbers, negative ones included,
// are left alone.
func CSVCell(s string) string {
	if s == "" || plainNumber.MatchString(s) {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// WriteCSV writes the table with a header row of column keys.
func WriteCSV(w io.Writer, t Table) error {
	cw := csv.NewWriter(w)
	header := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		header[i] = c.Key
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	rec := make([]string, len(t.Columns))
	for _, row := range t.Rows {
		for i := range rec {
			rec[i] = ""
			if i < len(row) {
				rec[i] = CSVCell(row[i])
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
