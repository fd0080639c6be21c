package referral

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// A cohort is the referrals a ReportFilter selects. The reports read it in
// a few queries that let SQLite do the per-row work: one row per referral
// (its outcomes folded into one number by a correlated subquery), and one
// row per referred service and partner snapshot (effective outcomes summed
// by GROUP BY). Joining five tables per referred service and counting in Go
// cost about half a second of CPU at 100,000 referrals; moving rows out of
// SQLite is the expensive part with modernc.org/sqlite (docs/benchmarks.md).

type cohortRef struct {
	client, channel, need string
	at                    time.Time
	// eligible: the client has a phone and consented to follow-up.
	eligible bool
	row      funnelRow
}

// helpRankSQL ranks o.got_help (rankHelp reads it back), so that a
// referral's answer is the best of its own and its services'.
const helpRankSQL = `CASE o.got_help WHEN 'yes' THEN 3 WHEN 'partly' THEN 2 WHEN 'no' THEN 1 ELSE 0 END`

var rankHelp = []string{"", GotHelpNo, GotHelpPartly, GotHelpYes}

// loadCohort loads the referrals f selects, oldest first. A referral's
// funnel row comes from all its outcomes, overall and per service: recorded
// if any, reached if any says so, and the best got-help answer. The
// subquery packs the three into recorded*100 + reached*10 + rank.
func loadCohort(ctx context.Context, q querier, f ReportFilter) ([]cohortRef, error) {
	where, args := f.where()
	rows, err := q.QueryContext(ctx, `SELECT r.created_at, r.channel, r.need_category, r.client_id,
		COALESCE((SELECT c.consent_given = 1 AND c.phone IS NOT NULL FROM referral_client c INDEXED BY referral_client_report
			WHERE c.id = r.client_id), 0),
		(SELECT (COUNT(*) > 0) * 100 + COALESCE(MAX(o.reached = 1), 0) * 10 + COALESCE(MAX(`+helpRankSQL+`), 0)
			FROM referral_outcome o WHERE o.referral_id = r.id)
		FROM referral r WHERE `+where+` ORDER BY r.created_at`, args...)
	if err != nil {
		return nil, fmt.Errorf("report referrals: %w", err)
	}
	defer rows.Close()
	var refs []cohortRef
	for rows.Next() {
		var r cohortRef
		var created string
		var packed int
		if err := rows.Scan(&created, &r.channel, &r.need, &r.client, &r.eligible, &packed); err != nil {
			return nil, err
		}
		if r.at, err = parseTime(created); err != nil {
			return nil, err
		}
		r.row = funnelRow{recorded: packed >= 100, reached: packed/10%10 == 1}
		if rank := packed % 10; rank < len(rankHelp) {
			r.row.gotHelp = rankHelp[rank]
		}
		refs = append(refs, r)
	}
	return refs, rows.Err()
}

// cohortService is how one service (under one organization snapshot) did
// in the cohort, by the effective outcome of each referral to it.
type cohortService struct {
	id, org, name                     string
	referred, recorded, reached, miss int
	yes, partly, no                   int
	// firstOfPartner counts the referrals in which this is the first
	// service of its partner: summed by partner, distinct referrals.
	firstOfPartner int
	reasons        map[string]int
}

// outcomeSQL packs the outcome o (an alias) into an integer: 0 when there is none,
// else 1000 + reached (1 yes, 2 no, 0 unknown) * 100 + got help (1 yes,
// 2 partly, 3 no, 0 unknown) * 10 + the reason's place in reasonValues
// (from 1; 0 none).
func outcomeSQL(o string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `CASE WHEN %[1]s.service_id IS NULL THEN 0 ELSE 1000 + CASE %[1]s.reached WHEN 1 THEN 100 WHEN 0 THEN 200 ELSE 0 END
		+ CASE %[1]s.got_help WHEN 'yes' THEN 10 WHEN 'partly' THEN 20 WHEN 'no' THEN 30 ELSE 0 END + CASE %[1]s.reason`, o)
	for i, r := range reasonValues {
		fmt.Fprintf(&b, " WHEN '%s' THEN %d", r, i+1)
	}
	b.WriteString(" ELSE 0 END END")
	return b.String()
}

// loadServices sums the effective outcomes of the cohort's referred
// services by service and partner snapshot; with a partner, only its
// services. A service's effective outcome is its own, or the referral's
// overall one when the referral named that service alone.
//
// One pass: a row per referred service with its own and its referral's
// overall outcome (covering indexes, one seek each), summed here. It
// replaced three grouped queries over the same join (what was referred,
// the distinct referrals per partner, and the outcomes as a UNION ALL with
// two NOT EXISTS probes per row), each of which joined and sorted the
// cohort's referred services again: 300 to 425 ms for 12 weeks
// (docs/benchmarks.md, "Referral reports").
func loadServices(ctx context.Context, q querier, f ReportFilter) ([]cohortService, error) {
	where, args := f.where()
	// The overall outcome is joined per referral, before its services, so
	// that it is sought once per referral; referrals are told apart by
	// rowid, and each outcome comes packed in one integer (outcomeSQL):
	// with modernc.org/sqlite every text value brought into Go costs more
	// than the CASE that spares it. The names are read once per service
	// afterwards, by rowid (referral_service rows are never changed or
	// removed, so a second read agrees with the first).
	rows, err := q.QueryContext(ctx, `SELECT r.rowid, s.rowid, s.service_id, s.organization, `+
		outcomeSQL("o")+`, `+outcomeSQL("ov")+`
		FROM referral r INDEXED BY referral_report
		LEFT JOIN referral_outcome ov INDEXED BY referral_outcome_report ON ov.referral_id = r.id AND ov.service_id = ''
		JOIN referral_service s INDEXED BY referral_service_report ON s.referral_id = r.id
		LEFT JOIN referral_outcome o INDEXED BY referral_outcome_report ON o.referral_id = s.referral_id AND o.service_id = s.service_id
		WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("report services: %w", err)
	}
	defer rows.Close()
	type referred struct {
		referral, rowid int64
		id, org         string
		own, overall    int
	}
	var all []referred
	perReferral := map[int64]int{}
	for rows.Next() {
		var r referred
		if err := rows.Scan(&r.referral, &r.rowid, &r.id, &r.org, &r.own, &r.overall); err != nil {
			return nil, err
		}
		perReferral[r.referral]++
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()

	type key struct{ id, org string }
	type acc struct {
		cohortService
		rowid int64
	}
	byKey := map[key]*acc{}
	type partnerOf struct {
		referral int64
		org      string
	}
	seen := map[partnerOf]bool{}
	distinct := map[string]int{}
	for _, r := range all {
		if f.Partner != "" && r.org != f.Partner {
			continue
		}
		k := key{r.id, r.org}
		a := byKey[k]
		if a == nil {
			a = &acc{cohortService: cohortService{id: r.id, org: r.org, reasons: map[string]int{}}}
			byKey[k] = a
		}
		a.referred++
		a.rowid = max(a.rowid, r.rowid) // the latest snapshot names it
		if p := (partnerOf{r.referral, r.org}); !seen[p] {
			seen[p] = true
			distinct[r.org]++
		}
		o := r.own
		if o == 0 && perReferral[r.referral] == 1 {
			o = r.overall
		}
		if o == 0 {
			continue
		}
		a.recorded++
		switch o / 100 % 10 {
		case 1:
			a.reached++
		case 2:
			a.miss++
		}
		switch o / 10 % 10 {
		case 1:
			a.yes++
		case 2:
			a.partly++
		case 3:
			a.no++
		}
		if i := o%10 - 1; i >= 0 && i < len(reasonValues) {
			a.reasons[reasonValues[i]]++
		}
	}
	// In the order the grouped query gave them (service, organization);
	// the distinct referrals of a partner go on its first service, so that
	// summed by partner they are right.
	keys := make([]key, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := strings.Compare(a.id, b.id); c != 0 {
			return c
		}
		return strings.Compare(a.org, b.org)
	})
	out := make([]cohortService, len(keys))
	names := make([]any, len(keys))
	for i, k := range keys {
		names[i] = byKey[k].rowid
	}
	byRowid := map[int64]string{}
	if len(names) > 0 {
		rows, err := q.QueryContext(ctx, `SELECT rowid, name FROM referral_service WHERE rowid IN (`+placeholders(len(names))+`)`, names...)
		if err != nil {
			return nil, fmt.Errorf("report service names: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				return nil, err
			}
			byRowid[id] = name
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	for i, k := range keys {
		out[i] = byKey[k].cohortService
		out[i].name = byRowid[byKey[k].rowid]
		if n, ok := distinct[k.org]; ok {
			out[i].firstOfPartner = n
			delete(distinct, k.org)
		}
	}
	return out, nil
}
