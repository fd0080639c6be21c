package referral

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Outcomes feed the directory: a service whose referrals keep coming back
// "couldn't reach them" or "wrong information in the listing" is flagged for
// re-verification (a service_review row), and staff see each service's
// success rate and reasons.

// DefaultReverifyAfter is Store.ReverifyAfter unless cmd sets another
// (followup.reverify_after).
const DefaultReverifyAfter = 3

// Actions of the audit trail about listings.
const (
	// ActionServiceFlagged is written on the referral whose outcome made a
	// service reach ReverifyAfter reports; Field is service_review[<id>].
	ActionServiceFlagged = "service.flagged"
	// ActionReviewCleared is written (with no referral or client) when
	// staff clear a flag after verifying the listing.
	ActionReviewCleared = "service_review.cleared"
)

// listingProblems are the reasons that say the listing itself may be wrong,
// rather than the person's situation.
var listingProblems = []string{ReasonCouldntReach, ReasonWrongInfo}

func isListingProblem(reason string) bool { return slices.Contains(listingProblems, reason) }

// ServiceReview is a service flagged for re-verification.
type ServiceReview struct {
	ID        int64  `json:"id"`
	ServiceID string `json:"service_id"`
	// Name and Organization are those of the most recent referral to the
	// service (the referral log's own snapshot of the listing).
	Name         string `json:"name"`
	Organization string `json:"organization"`
	// Reason counts the reports by reason: "couldnt_reach:2,wrong_info:1".
	Reason string `json:"reason"`
	// Reports is how many referrals reported a listing problem since the
	// previous review was cleared; it keeps counting while the flag is open.
	Reports   int        `json:"reports"`
	FlaggedAt time.Time  `json:"flagged_at"`
	ClearedAt *time.Time `json:"cleared_at"`
	ClearedBy string     `json:"cleared_by"`
}

// Open reports whether the flag still waits for staff.
func (r *ServiceReview) Open() bool { return r.ClearedAt == nil }

// checkListing runs in RecordOutcome's transaction after an outcome changed
// from prev to cur. When cur newly says couldnt_reach or wrong_info about a
// service (serviceID, or the only service of the referral for an overall
// outcome), it counts the referrals that said so about that service since
// its last cleared review, and at ReverifyAfter opens a flag (one open flag
// per service; an open flag's count is kept current).
func (s *Store) checkListing(ctx context.Context, tx querier, referralID, serviceID string, prev, cur *Outcome, now time.Time) error {
	if s.ReverifyAfter <= 0 || !isListingProblem(cur.Reason) || (prev != nil && isListingProblem(prev.Reason)) {
		return nil
	}
	if serviceID == "" {
		var n int
		var only string
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MIN(service_id), '') FROM referral_service WHERE referral_id = ?`,
			referralID).Scan(&n, &only); err != nil {
			return err
		}
		if n != 1 {
			return nil // which of several services was meant is not known
		}
		serviceID = only
	}
	counts, total, err := listingReports(ctx, tx, serviceID)
	if err != nil {
		return err
	}
	if total < s.ReverifyAfter {
		return nil
	}
	reason := reasonSummary(counts)
	var id int64
	err = tx.QueryRowContext(ctx, `SELECT id FROM service_review WHERE service_id = ? AND cleared_at IS NULL`, serviceID).Scan(&id)
	switch {
	case err == nil:
		_, err = tx.ExecContext(ctx, `UPDATE service_review SET reports = ?, reason = ? WHERE id = ?`, total, reason, id)
		return err
	case err != sql.ErrNoRows:
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO service_review (service_id, reason, reports, flagged_at) VALUES (?,?,?,?)`,
		serviceID, reason, total, formatTime(now))
	if err != nil {
		return err
	}
	if id, err = res.LastInsertId(); err != nil {
		return err
	}
	clientID, err := referralClient(ctx, tx, referralID)
	if err != nil {
		return err
	}
	return writeEvents(ctx, tx, newEvent{ReferralID: referralID, ClientID: clientID, Actor: cur.RecordedBy, At: now,
		Action: ActionServiceFlagged, Field: "service_review[" + serviceID + "]",
		After: map[string]any{"review_id": id, "service_id": serviceID, "reports": total, "reason": reason}})
}

// listingReports counts, by reason, the referrals whose outcome for the
// service says couldnt_reach or wrong_info and was recorded after the
// service's last cleared review. A referral counts once (its service outcome
// if any, else the overall outcome of a referral to that service alone).
func listingReports(ctx context.Context, q querier, serviceID string) (map[string]int, int, error) {
	var since sql.NullString
	if err := q.QueryRowContext(ctx, `SELECT MAX(cleared_at) FROM service_review WHERE service_id = ? AND cleared_at IS NOT NULL`,
		serviceID).Scan(&since); err != nil {
		return nil, 0, err
	}
	rows, err := q.QueryContext(ctx, `SELECT `+effectiveReason+` AS reason, `+effectiveAt+` AS at
		FROM referral_service s `+effectiveJoins+`
		WHERE s.service_id = ?`, serviceID)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	counts := map[string]int{}
	total := 0
	for rows.Next() {
		var reason, at sql.NullString
		if err := rows.Scan(&reason, &at); err != nil {
			return nil, 0, err
		}
		if !isListingProblem(reason.String) || !at.Valid || (since.Valid && at.String <= since.String) {
			continue
		}
		counts[reason.String]++
		total++
	}
	return counts, total, rows.Err()
}

// The effective outcome of a referred service s: its own outcome (so) when
// one is recorded, else the overall outcome (ro) of a referral to s alone.
// A multi-service referral's overall outcome is not given to any one of its
// services: which one the person meant is unknown.
const (
	effectiveJoins = `LEFT JOIN referral_outcome so ON so.referral_id = s.referral_id AND so.service_id = s.service_id
		LEFT JOIN referral_outcome ro ON ro.referral_id = s.referral_id AND ro.service_id = ''
			AND NOT EXISTS (SELECT 1 FROM referral_service x WHERE x.referral_id = s.referral_id AND x.service_id <> s.service_id)`
	effectiveReached = `IIF(so.referral_id IS NOT NULL, so.reached, ro.reached)`
	effectiveGotHelp = `IIF(so.referral_id IS NOT NULL, so.got_help, ro.got_help)`
	effectiveReason  = `IIF(so.referral_id IS NOT NULL, so.reason, ro.reason)`
	effectiveAt      = `IIF(so.referral_id IS NOT NULL, so.recorded_at, ro.recorded_at)`
)

// reasonSummary writes counts as "couldnt_reach:2,wrong_info:1" in the order
// of listingProblems.
func reasonSummary(counts map[string]int) string {
	var parts []string
	for _, r := range listingProblems {
		if counts[r] > 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", r, counts[r]))
		}
	}
	return strings.Join(parts, ",")
}

// ServiceReviews returns the flags, newest first: only the open ones when
// open is true, else every flag ever raised.
func (s *Store) ServiceReviews(ctx context.Context, open bool) ([]ServiceReview, error) {
	cond := "1"
	if open {
		cond = "v.cleared_at IS NULL"
	}
	return loadReviews(ctx, s.db.Read, cond+" ORDER BY v.flagged_at DESC, v.id DESC")
}

// ServiceReview returns one flag; ENOTFOUND when there is none with id.
func (s *Store) ServiceReview(ctx context.Context, id int64) (*ServiceReview, error) {
	rs, err := loadReviews(ctx, s.db.Read, "v.id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "No service review with id %d.", id)
	}
	return &rs[0], nil
}

func loadReviews(ctx context.Context, q querier, where string, args ...any) ([]ServiceReview, error) {
	rows, err := q.QueryContext(ctx, `SELECT v.id, v.service_id, v.reason, v.reports, v.flagged_at, v.cleared_at, v.cleared_by,
		COALESCE(s.name, ''), COALESCE(s.organization, '')
		FROM service_review v
		LEFT JOIN referral_service s ON s.rowid = (SELECT MAX(x.rowid) FROM referral_service x WHERE x.service_id = v.service_id)
		WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ServiceReview{}
	for rows.Next() {
		var r ServiceReview
		var flagged string
		var cleared sql.NullString
		if err := rows.Scan(&r.ID, &r.ServiceID, &r.Reason, &r.Reports, &flagged, &cleared, &r.ClearedBy, &r.Name, &r.Organization); err != nil {
			return nil, err
		}
		if r.FlaggedAt, err = parseTime(flagged); err != nil {
			return nil, err
		}
		if r.ClearedAt, err = parseNullTime(cleared); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ClearServiceReview records that staff verified the listing again: the
// flag is closed, and the count starts again from now. note (optional) says
// what was found; it goes into the audit trail. Clearing a cleared flag
// changes nothing.
func (s *Store) ClearServiceReview(ctx context.Context, id int64, actor, note string) error {
	if err := validateActor("actor", actor); err != nil {
		return err
	}
	note = strings.TrimSpace(note)
	if !validText(note) || len([]rune(note)) > maxNote {
		return invalid("note", "must be text of at most %d characters", maxNote)
	}
	now := s.now()
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rs, err := loadReviews(ctx, tx, "v.id = ?", id)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return apperr.Errorf(apperr.ENOTFOUND, "No service review with id %d.", id)
	}
	r := rs[0]
	if !r.Open() {
		return tx.Commit()
	}
	if _, err := tx.ExecContext(ctx, `UPDATE service_review SET cleared_at = ?, cleared_by = ? WHERE id = ?`,
		formatTime(now), actor, id); err != nil {
		return err
	}
	ev := newEvent{Actor: actor, At: now, Action: ActionReviewCleared, Field: fmt.Sprintf("service_review[%d]", id),
		Before: map[string]any{"service_id": r.ServiceID, "reason": r.Reason, "reports": r.Reports, "flagged_at": r.FlaggedAt},
		After:  map[string]any{"service_id": r.ServiceID, "cleared_at": now, "cleared_by": actor, "note": note}}
	if err := writeEvents(ctx, tx, ev); err != nil {
		return err
	}
	return tx.Commit()
}

// ServiceStat is how referrals to one service turned out, by the effective
// outcome of each referred service (see effectiveJoins).
type ServiceStat struct {
	ServiceID    string `json:"service_id"`
	Name         string `json:"name"`
	Organization string `json:"organization"`
	Referrals    int    `json:"referrals"`
	// WithOutcome have any answer recorded.
	WithOutcome int `json:"with_outcome"`
	Reached     int `json:"reached"`
	NotReached  int `json:"not_reached"`
	GotHelp     int `json:"got_help"`
	Partly      int `json:"partly"`
	NoHelp      int `json:"no_help"`
	// Reasons counts the reasons given, by reason code.
	Reasons map[string]int `json:"reasons"`
	// Flagged is true while the service has an open review.
	Flagged bool `json:"flagged"`
}

// SuccessRate is the share of referrals with an outcome that got help
// (yes); 0 when none has an outcome.
func (st *ServiceStat) SuccessRate() float64 { return ratio(st.GotHelp, st.WithOutcome) }

// ServiceStats returns per-service figures for the referrals that f selects
// (its dates, channel, need and partner), most referred first; serviceID, if
// set, keeps only that service.
func (s *Store) ServiceStats(ctx context.Context, f ReportFilter, serviceID string) ([]ServiceStat, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	tx, err := s.db.Read.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	services, err := loadServices(ctx, tx, f)
	if err != nil {
		return nil, err
	}
	open, err := loadReviews(ctx, tx, "v.cleared_at IS NULL")
	if err != nil {
		return nil, err
	}
	return serviceStats(services, open, serviceID), nil
}

func serviceStats(services []cohortService, open []ServiceReview, serviceID string) []ServiceStat {
	byID := map[string]*ServiceStat{}
	for _, s := range services {
		if serviceID != "" && s.id != serviceID {
			continue
		}
		st := byID[s.id]
		if st == nil {
			st = &ServiceStat{ServiceID: s.id, Reasons: map[string]int{}}
			byID[s.id] = st
		}
		if st.Name == "" || s.referred > st.Referrals {
			st.Name, st.Organization = s.name, s.org
		}
		st.Referrals += s.referred
		st.WithOutcome += s.recorded
		st.Reached += s.reached
		st.NotReached += s.miss
		st.GotHelp += s.yes
		st.Partly += s.partly
		st.NoHelp += s.no
		for r, n := range s.reasons {
			st.Reasons[r] += n
		}
	}
	for _, r := range open {
		if st := byID[r.ServiceID]; st != nil {
			st.Flagged = true
		}
	}
	out := make([]ServiceStat, 0, len(byID))
	for _, st := range byID {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b ServiceStat) int {
		if a.Referrals != b.Referrals {
			return b.Referrals - a.Referrals
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ServiceID, b.ServiceID)
	})
	return out
}

func ratio(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}
