package referral

import (
	"context"
	"database/sql"
	"fmt"
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

// loadServices sums the effective outcomes of the cohort's referred
// services by service and partner snapshot; with a partner, only its
// services. Three grouped queries: what was referred, the distinct
// referrals per partner, and the outcomes. The last starts from the
// outcomes (fewer than the referred services) rather than joining two
// outcomes to every referred service: half the B-tree seeks.
func loadServices(ctx context.Context, q querier, f ReportFilter) ([]cohortService, error) {
	where, args := f.where()
	if f.Partner != "" {
		where += " AND s.organization = ?"
		args = append(args, f.Partner)
	}
	type key struct{ id, org string }
	byKey := map[key]*cohortService{}
	var order []key
	// With exactly one max() in the query, SQLite takes the bare s.name
	// from the row with the largest rowid: the latest snapshot.
	rows, err := q.QueryContext(ctx, `SELECT s.service_id, s.organization, s.name, MAX(s.rowid), COUNT(*)
		FROM referral r JOIN referral_service s ON s.referral_id = r.id WHERE `+where+` GROUP BY s.service_id, s.organization`, args...)
	if err != nil {
		return nil, fmt.Errorf("report services: %w", err)
	}
	for rows.Next() {
		s := &cohortService{reasons: map[string]int{}}
		var rowid int64
		if err := rows.Scan(&s.id, &s.org, &s.name, &rowid, &s.referred); err != nil {
			rows.Close()
			return nil, err
		}
		k := key{s.id, s.org}
		byKey[k] = s
		order = append(order, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = q.QueryContext(ctx, `SELECT s.organization, COUNT(DISTINCT s.referral_id)
		FROM referral r JOIN referral_service s ON s.referral_id = r.id WHERE `+where+` GROUP BY s.organization`, args...)
	if err != nil {
		return nil, fmt.Errorf("report partners: %w", err)
	}
	firsts := map[string]int{}
	for rows.Next() {
		var org string
		var n int
		if err := rows.Scan(&org, &n); err != nil {
			rows.Close()
			return nil, err
		}
		firsts[org] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// The distinct count goes on the partner's first service; summed by
	// partner it is right.
	for _, k := range order {
		if n, ok := firsts[k.org]; ok {
			byKey[k].firstOfPartner = n
			delete(firsts, k.org)
		}
	}

	reasonSums := ""
	for _, r := range reasonValues {
		reasonSums += ", SUM(reason = '" + r + "')"
	}
	rows, err = q.QueryContext(ctx, `SELECT service_id, organization, COUNT(*), SUM(reached = 1), SUM(reached = 0),
		SUM(got_help = 'yes'), SUM(got_help = 'partly'), SUM(got_help = 'no')`+reasonSums+` FROM (
			SELECT s.service_id, s.organization, o.reached, o.got_help, o.reason
			FROM referral r JOIN referral_outcome o ON o.referral_id = r.id AND o.service_id <> ''
			JOIN referral_service s ON s.referral_id = o.referral_id AND s.service_id = o.service_id
			WHERE `+where+`
			UNION ALL
			SELECT s.service_id, s.organization, o.reached, o.got_help, o.reason
			FROM referral r JOIN referral_outcome o ON o.referral_id = r.id AND o.service_id = ''
			JOIN referral_service s ON s.referral_id = r.id
			WHERE `+where+`
				AND NOT EXISTS (SELECT 1 FROM referral_service x WHERE x.referral_id = r.id AND x.service_id <> s.service_id)
				AND NOT EXISTS (SELECT 1 FROM referral_outcome y WHERE y.referral_id = r.id AND y.service_id = s.service_id)
		) GROUP BY service_id, organization`, append(append([]any{}, args...), args...)...)
	if err != nil {
		return nil, fmt.Errorf("report service outcomes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k key
		var c cohortService
		var reached, miss, yes, partly, no sql.NullInt64
		counts := make([]sql.NullInt64, len(reasonValues))
		dest := []any{&k.id, &k.org, &c.recorded, &reached, &miss, &yes, &partly, &no}
		for i := range counts {
			dest = append(dest, &counts[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		s := byKey[k]
		if s == nil {
			continue // cannot happen: the same referrals
		}
		s.recorded = c.recorded
		s.reached, s.miss, s.yes, s.partly, s.no = int(reached.Int64), int(miss.Int64), int(yes.Int64), int(partly.Int64), int(no.Int64)
		for i, r := range reasonValues {
			if counts[i].Int64 > 0 {
				s.reasons[r] = int(counts[i].Int64)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]cohortService, len(order))
	for i, k := range order {
		out[i] = *byKey[k]
	}
	return out, nil
}
