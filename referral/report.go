package referral

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secondchancekc/secondchance/directory"
)

// The staff reports: where referrals come from, where they go, and where
// they fail. Every figure counts the referrals made in the filter's date
// range (a cohort), whatever happened to them later, so a report for last
// quarter grows more complete as follow-ups come in.

// ReportFilter selects the referrals a report counts. From and To are
// instants (midnights in the store's zone): From <= created_at < To.
type ReportFilter struct {
	From, To     time.Time
	Channel      string
	NeedCategory string
	// Partner is an organization name as snapshotted in referrals: only
	// referrals to it count, and partner tables show only it.
	Partner string
}

// MaxReportDays bounds a report's range: enough for several years, not so
// much that one request can make the server chart every day since 1970.
const MaxReportDays = 5*366 + 7

// DefaultReportWeeks is the default range: this week and the 11 before it.
const DefaultReportWeeks = 12

// Validate checks the filter; messages name the query parameter.
func (f *ReportFilter) Validate() error {
	if f.From.IsZero() {
		return invalid("from", "required")
	}
	if f.To.IsZero() {
		return invalid("to", "required")
	}
	if !f.From.Before(f.To) {
		return invalid("to", "must not be before from")
	}
	if f.To.Sub(f.From) > MaxReportDays*24*time.Hour {
		return invalid("to", "a report covers at most %d days", MaxReportDays)
	}
	if f.Channel != "" && !slices.Contains(Channels, f.Channel) {
		return invalid("channel", "must be one of %s, got %q", strings.Join(Channels, ", "), clip(f.Channel))
	}
	if f.NeedCategory != "" && !slices.Contains(needCategories(), f.NeedCategory) {
		return invalid("need_category", "must be one of %s, got %q", strings.Join(needCategories(), ", "), clip(f.NeedCategory))
	}
	if utf8.RuneCountInString(f.Partner) > maxName || !validText(f.Partner) {
		return invalid("partner", "must be an organization name of at most %d characters", maxName)
	}
	return nil
}

// DefaultReportFilter covers the DefaultReportWeeks weeks (Monday to Sunday,
// in zone) up to and including the day of now.
func DefaultReportFilter(now time.Time, zone *time.Location) ReportFilter {
	if zone == nil {
		zone = time.UTC
	}
	today := midnight(now.In(zone))
	return ReportFilter{From: weekStart(today).AddDate(0, 0, -7*(DefaultReportWeeks-1)), To: today.AddDate(0, 0, 1)}
}

// where is the filter's condition on referral r, and its arguments.
func (f ReportFilter) where() (string, []any) {
	cond := []string{"r.created_at >= ?", "r.created_at < ?"}
	args := []any{formatTime(f.From), formatTime(f.To)}
	if f.Channel != "" {
		cond = append(cond, "r.channel = ?")
		args = append(args, f.Channel)
	}
	if f.NeedCategory != "" {
		cond = append(cond, "r.need_category = ?")
		args = append(args, f.NeedCategory)
	}
	if f.Partner != "" {
		cond = append(cond, "EXISTS (SELECT 1 FROM referral_service x WHERE x.referral_id = r.id AND x.organization = ?)")
		args = append(args, f.Partner)
	}
	return strings.Join(cond, " AND "), args
}

func midnight(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}

// weekStart is the Monday midnight of t's week, in t's zone.
func weekStart(t time.Time) time.Time {
	d := midnight(t)
	return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
}

// The Missouri 211 study the issue cites: a month after calling, 82% of
// callers had reached a provider and 36% had got help (17% for housing, 67%
// for food). The reports show them beside our own funnel, labelled as the
// study's figures.
const (
	StudyName    = "Missouri 211 study (a month after calling)"
	StudyReached = 0.82
	StudyGotHelp = 0.36
)

// StudyGotHelpByNeed is the study's got-help figure for the needs it broke
// out: housing, and food (our basic-needs).
var StudyGotHelpByNeed = map[string]StudyFigure{
	"housing":     {Rate: 0.17, Label: "housing"},
	"basic-needs": {Rate: 0.67, Label: "food"},
}

// StudyFigure is one of the study's rates and what it was about.
type StudyFigure struct {
	Rate  float64
	Label string
}

// Report is everything the reports page shows.
type Report struct {
	Filter ReportFilter
	// Zone is where weeks start (Monday midnight) and dates are shown.
	Zone *time.Location
	// Referrals is how many referrals the filter selects.
	Referrals int
	Weeks     []WeekCount
	ByChannel []Count
	ByNeed    []Count
	ByPartner []PartnerCount
	// Funnel is over referrals; FunnelByNeed too; FunnelByPartner over
	// referred services (one referral may go to several partners).
	Funnel          Funnel
	FunnelByNeed    []Funnel
	FunnelByPartner []Funnel
	Followup        FollowupStats
	Unmet           UnmetStats
	// Flagged are the services with an open review (whatever the filter).
	Flagged []ServiceReview
	// Services are per-service figures, most referred first.
	Services []ServiceStat
	Estimate Estimate
}

// WeekCount is a count for the week starting Start (Monday, in the zone).
type WeekCount struct {
	Start time.Time
	N     int
}

// Count is a count for one value of a dimension.
type Count struct {
	Key, Label string
	N          int
}

// PartnerCount is how often a partner organization was referred to.
type PartnerCount struct {
	Organization string
	// Referrals counts referrals to any of its services; Services counts
	// referred services (a referral to two of its services counts twice).
	Referrals, Services int
}

// Funnel is referred -> followed up -> reached -> got help.
type Funnel struct {
	Key, Label string
	Referred   int
	// FollowedUp have any outcome recorded: the people we heard back from.
	FollowedUp int
	Reached    int
	// GotHelp answered yes; Partly answered partly; NoHelp no.
	GotHelp, Partly, NoHelp int
	// Study is the study's got-help figure for this row, if it has one.
	Study *StudyFigure
}

// ReachedRate and GotHelpRate are shares of the people followed up, the
// base the study's figures use.
func (f Funnel) ReachedRate() float64 { return ratio(f.Reached, f.FollowedUp) }

// GotHelpRate is the share of those followed up who got help (yes).
func (f Funnel) GotHelpRate() float64 { return ratio(f.GotHelp, f.FollowedUp) }

// FollowedUpRate is the share of referrals with an outcome recorded.
func (f Funnel) FollowedUpRate() float64 { return ratio(f.FollowedUp, f.Referred) }

// FollowupStats says how complete follow-up is.
type FollowupStats struct {
	// Eligible are referrals whose client has a phone and consented to
	// follow-up (as the client stands now); WithOutcome of them have any
	// outcome recorded.
	Eligible, WithOutcome int
	// Kinds are the text follow-ups (check-in, reminder, final, clarify)
	// and the staff tasks, in followupKinds order, with how many went out
	// and how many were answered or done.
	Kinds []FollowupKindStat
}

// CompletionRate is the share of eligible referrals with an outcome.
func (f FollowupStats) CompletionRate() float64 { return ratio(f.WithOutcome, f.Eligible) }

// FollowupKindStat is one kind of follow-up.
type FollowupKindStat struct {
	Kind string
	// Created is every follow-up of the kind; Sent the texts that went out
	// (sent_at set); Answered the texts replied to, or for tasks Done.
	Created, Sent, Answered int
}

// AnswerRate is answered over sent (texts) or done over created (tasks).
func (k FollowupKindStat) AnswerRate() float64 {
	if isTask(k.Kind) {
		return ratio(k.Answered, k.Created)
	}
	return ratio(k.Answered, k.Sent)
}

var followupKinds = []string{"checkin", "reminder", "clarify", "final", "call", "callback", "unsure"}

func isTask(kind string) bool { return kind == "call" || kind == "callback" || kind == "unsure" }

// UnmetStats are the searches that found nothing fitting (unmet_search), in
// the date range and, when the filter has one, the channel.
type UnmetStats struct {
	Total      int
	Weeks      []WeekCount
	TopQueries []Count
	TopFilters []Count
}

// TopUnmet is how many queries and filter sets the report lists.
const TopUnmet = 20

// EstimateConfig holds the estimate panel's figures (reports.* settings).
type EstimateConfig struct {
	// SavingsPerPersonYear is what one person-year of incarceration
	// avoided saves, in dollars.
	SavingsPerPersonYear float64
	// OperatingCostPerYear is the program's yearly operating cost in
	// dollars; the estimate prorates it to the report's range.
	OperatingCostPerYear float64
}

// DefaultEstimate is the program's own formula's figure: $18,000 per
// person-year, no operating cost until one is configured.
var DefaultEstimate = EstimateConfig{SavingsPerPersonYear: 18000}

// Estimate is people helped x savings per person-year - operating cost.
type Estimate struct {
	EstimateConfig
	// PeopleHelped are distinct clients with a referral in range that
	// got help (yes).
	PeopleHelped int
	// Days is the length of the range; OperatingCost the yearly cost
	// prorated to it.
	Days          int
	OperatingCost float64
	Savings, Net  float64
}

// Report builds the report for f.
func (s *Store) Report(ctx context.Context, f ReportFilter) (*Report, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	zone := s.Zone
	if zone == nil {
		zone = time.UTC
	}
	rep := &Report{Filter: f, Zone: zone}
	weeks := weekBuckets(f, zone)

	// The parts are independent queries; they run side by side on the
	// reader pool, each in its own snapshot, so a referral logged while
	// the report is read may be counted in one table and not yet in
	// another. For a report of weeks that is immaterial, and it divides
	// the page's time by the cores the server has.
	var (
		refs     []cohortRef
		services []cohortService
		fu       = &Report{Filter: f}
		un       = &Report{Filter: f, Zone: zone}
		flagged  []ServiceReview
		open     []ServiceReview
	)
	parts := []func(context.Context, querier) error{
		func(ctx context.Context, q querier) (err error) { refs, err = loadCohort(ctx, q, f); return err },
		func(ctx context.Context, q querier) (err error) { services, err = loadServices(ctx, q, f); return err },
		func(ctx context.Context, q querier) error { return fu.followups(ctx, q) },
		func(ctx context.Context, q querier) error { return un.unmet(ctx, q, weeks) },
		func(ctx context.Context, q querier) (err error) {
			flagged, err = loadReviews(ctx, q, "v.cleared_at IS NULL ORDER BY v.flagged_at DESC, v.id DESC")
			open = flagged
			return err
		},
	}
	if err := runParts(ctx, s.db.Read, parts); err != nil {
		return nil, err
	}
	rep.countReferrals(refs, services, weeks)
	rep.Followup.Kinds = fu.Followup.Kinds
	rep.Unmet = un.Unmet
	rep.Flagged = flagged
	rep.Services = serviceStats(services, open, "")

	days := int(f.To.Sub(f.From).Hours()/24 + 0.5)
	e := Estimate{EstimateConfig: s.Estimate, PeopleHelped: rep.Estimate.PeopleHelped, Days: days}
	e.OperatingCost = e.OperatingCostPerYear * float64(days) / 365
	e.Savings = float64(e.PeopleHelped) * e.SavingsPerPersonYear
	e.Net = e.Savings - e.OperatingCost
	rep.Estimate = e
	return rep, nil
}

// runParts runs each part on its own goroutine and returns the first error;
// the others are cancelled.
func runParts(ctx context.Context, q querier, parts []func(context.Context, querier) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(parts))
	for _, p := range parts {
		go func() { errs <- p(ctx, q) }()
	}
	var first error
	for range parts {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// weekBuckets returns the start of each week the range touches, and one
// more: the end of the last.
func weekBuckets(f ReportFilter, zone *time.Location) []time.Time {
	var b []time.Time
	for w := weekStart(f.From.In(zone)); w.Before(f.To); w = w.AddDate(0, 0, 7) {
		b = append(b, w)
	}
	return append(b, b[len(b)-1].AddDate(0, 0, 7))
}

func weekCounts(bounds []time.Time) []WeekCount {
	out := make([]WeekCount, len(bounds)-1)
	for i := range out {
		out[i].Start = bounds[i]
	}
	return out
}

// weekOf is the index of t's week in bounds.
func weekOf(bounds []time.Time, t time.Time) int {
	return sort.Search(len(bounds), func(i int) bool { return bounds[i].After(t) }) - 1
}

// funnelAcc adds one referral (or referred service) to a funnel.
type funnelRow struct {
	recorded, reached bool
	gotHelp           string
}

func (f *Funnel) add(r funnelRow) {
	f.Referred++
	if r.recorded {
		f.FollowedUp++
	}
	if r.reached {
		f.Reached++
	}
	switch r.gotHelp {
	case GotHelpYes:
		f.GotHelp++
	case GotHelpPartly:
		f.Partly++
	case GotHelpNo:
		f.NoHelp++
	}
}

// countReferrals counts the cohort by week, channel, need and partner, the
// funnels, follow-up eligibility and the people helped.
func (rep *Report) countReferrals(refs []cohortRef, services []cohortService, bounds []time.Time) {
	rep.Weeks = weekCounts(bounds)
	channels, needs := map[string]int{}, map[string]int{}
	needFunnels := map[string]*Funnel{}
	helped := map[string]bool{}
	for _, r := range refs {
		rep.Referrals++
		if w := weekOf(bounds, r.at); w >= 0 && w < len(rep.Weeks) {
			rep.Weeks[w].N++
		}
		channels[r.channel]++
		needs[r.need]++
		rep.Funnel.add(r.row)
		nf := needFunnels[r.need]
		if nf == nil {
			nf = &Funnel{Key: r.need}
			needFunnels[r.need] = nf
		}
		nf.add(r.row)
		if r.eligible {
			rep.Followup.Eligible++
			if r.row.recorded {
				rep.Followup.WithOutcome++
			}
		}
		if r.row.gotHelp == GotHelpYes {
			helped[r.client] = true
		}
	}
	partners := map[string]*PartnerCount{}
	partnerFunnels := map[string]*Funnel{}
	for _, s := range services {
		p := partners[s.org]
		if p == nil {
			p = &PartnerCount{Organization: s.org}
			partners[s.org] = p
			partnerFunnels[s.org] = &Funnel{Key: s.org, Label: s.org}
		}
		p.Services += s.referred
		p.Referrals += s.firstOfPartner
		pf := partnerFunnels[s.org]
		pf.Referred += s.referred
		pf.FollowedUp += s.recorded
		pf.Reached += s.reached
		pf.GotHelp += s.yes
		pf.Partly += s.partly
		pf.NoHelp += s.no
	}
	rep.Estimate.PeopleHelped = len(helped)

	rep.Funnel.Key, rep.Funnel.Label = "all", "All referrals"
	for _, ch := range Channels {
		if channels[ch] > 0 {
			rep.ByChannel = append(rep.ByChannel, Count{Key: ch, Label: ch, N: channels[ch]})
		}
	}
	for _, key := range needCategories() {
		if needs[key] == 0 {
			continue
		}
		label := NeedLabel(key)
		rep.ByNeed = append(rep.ByNeed, Count{Key: key, Label: label, N: needs[key]})
		nf := needFunnels[key]
		nf.Label = label
		if sf, ok := StudyGotHelpByNeed[key]; ok {
			nf.Study = &sf
		}
		rep.FunnelByNeed = append(rep.FunnelByNeed, *nf)
	}
	for _, p := range partners {
		rep.ByPartner = append(rep.ByPartner, *p)
		rep.FunnelByPartner = append(rep.FunnelByPartner, *partnerFunnels[p.Organization])
	}
	slices.SortFunc(rep.ByPartner, func(a, b PartnerCount) int {
		if a.Referrals != b.Referrals {
			return b.Referrals - a.Referrals
		}
		return strings.Compare(a.Organization, b.Organization)
	})
	slices.SortFunc(rep.FunnelByPartner, func(a, b Funnel) int {
		if a.Referred != b.Referred {
			return b.Referred - a.Referred
		}
		return strings.Compare(a.Key, b.Key)
	})
}

// NeedLabel is the English name of a need category ("Jobs" for
// employment), or the key when it has none.
func NeedLabel(key string) string {
	if c, ok := directory.CategoryByKey(key); ok {
		return c.NameEN
	}
	if key == NeedOther {
		return "Other"
	}
	return key
}

// followups counts the follow-ups of the referrals in range, by kind. The
// rows are counted here as they come, in the join's order: grouping them
// by kind in SQL sorted every follow-up of the cohort first, and summed an
// expression per row, at several times the cost.
func (rep *Report) followups(ctx context.Context, q querier) error {
	where, args := rep.Filter.where()
	rows, err := q.QueryContext(ctx, `SELECT f.kind, f.state, f.sent_at IS NOT NULL, f.replied_at IS NOT NULL
		FROM referral r JOIN followup f INDEXED BY followup_report ON f.referral_id = r.id WHERE `+where, args...)
	if err != nil {
		return fmt.Errorf("report follow-ups: %w", err)
	}
	defer rows.Close()
	byKind := map[string]*FollowupKindStat{}
	for _, kind := range followupKinds {
		byKind[kind] = &FollowupKindStat{Kind: kind}
	}
	var kind, state sql.RawBytes
	var sent, replied bool
	for rows.Next() {
		if err := rows.Scan(&kind, &state, &sent, &replied); err != nil {
			return err
		}
		k := byKind[string(kind)]
		if k == nil { // a kind the report does not list
			k = &FollowupKindStat{Kind: string(kind)}
			byKind[k.Kind] = k
		}
		k.Created++
		if sent {
			k.Sent++
		}
		if replied || string(state) == FollowupAnswered || string(state) == FollowupDone && isTask(k.Kind) {
			k.Answered++
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, kind := range followupKinds {
		rep.Followup.Kinds = append(rep.Followup.Kinds, *byKind[kind])
	}
	return nil
}

// unmet counts the searches that found nothing, by week, query and filters.
// unmet_search stores RFC 3339 times to the second, which sort as text
// against bounds written the same way.
func (rep *Report) unmet(ctx context.Context, q querier, bounds []time.Time) error {
	cond := "searched_at >= ? AND searched_at < ?"
	args := []any{rep.Filter.From.UTC().Format(time.RFC3339), rep.Filter.To.UTC().Format(time.RFC3339)}
	if rep.Filter.Channel != "" {
		cond += " AND channel = ?"
		args = append(args, rep.Filter.Channel)
	}
	rows, err := q.QueryContext(ctx, `SELECT searched_at, lower(trim(query)), filters FROM unmet_search WHERE `+cond, args...)
	if err != nil {
		return fmt.Errorf("report unmet searches: %w", err)
	}
	defer rows.Close()
	u := &rep.Unmet
	u.Weeks = weekCounts(bounds)
	queries, filters := map[string]int{}, map[string]int{}
	for rows.Next() {
		var at, query, f string
		if err := rows.Scan(&at, &query, &f); err != nil {
			return err
		}
		u.Total++
		if t, err := time.Parse(time.RFC3339, at); err == nil {
			if w := weekOf(bounds, t); w >= 0 && w < len(u.Weeks) {
				u.Weeks[w].N++
			}
		}
		if query == "" {
			query = "(no words: filters only)"
		}
		queries[query]++
		if f == "" || f == "{}" || f == "null" {
			f = "(none)"
		}
		filters[f]++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	u.TopQueries = topCounts(queries, TopUnmet)
	u.TopFilters = topCounts(filters, TopUnmet)
	return nil
}

// topCounts returns the n largest counts, ties by key.
func topCounts(m map[string]int, n int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{Key: k, Label: k, N: v})
	}
	slices.SortFunc(out, func(a, b Count) int {
		if a.N != b.N {
			return b.N - a.N
		}
		return strings.Compare(a.Key, b.Key)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
