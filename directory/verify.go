package directory

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Verification is a job of its own: a person checks a listing with the
// service (by phone, usually) and records that it is right. assured_date and
// assurer_email say when and who, apart from last_modified, which says when
// it last changed.

// DefaultVerifyAfter is how many months a verification lasts
// (directory.verify_after).
const DefaultVerifyAfter = 12

// DefaultUnverifiedAfter is how many months after its last verification a
// listing is shown to the public as unverified (directory.unverified_after).
const DefaultUnverifiedAfter = 24

// Flag is a service flagged for re-verification by referral outcomes.
type Flag struct {
	Reason  string // "couldnt_reach:2,wrong_info:1"
	Reports int
}

// Signals is what the referral log tells the directory about listings: how
// often each service is referred to, and which are flagged because
// referrals came back "couldn't reach them" or "wrong information". cmd
// adapts it from package referral (the directory does not import it).
type Signals interface {
	// ReferralCounts returns the number of referrals per service id.
	ReferralCounts(ctx context.Context) (map[string]int, error)
	// OpenFlags returns the open flags by service id.
	OpenFlags(ctx context.Context) (map[string]Flag, error)
	// ClearFlags closes the service's open flag (it was verified again).
	ClearFlags(ctx context.Context, serviceID, actor, note string) error
}

// QueueItem is one listing waiting to be verified.
type QueueItem struct {
	ServiceID, Name, Org, OrgID, Status string
	AssuredDate, AssurerEmail           string
	// Due: never verified, or not within the verification period.
	Due bool
	// Months since the last verification; -1 when never verified.
	Months      int
	Flag        *Flag
	Corrections int
	Referrals   int
}

// Reasons are why the item is in the queue, in words.
func (q QueueItem) Reasons() []string {
	var out []string
	if q.Due {
		if q.Months < 0 {
			out = append(out, "never verified")
		} else {
			out = append(out, "last verified "+MonthsAgo(q.Months))
		}
	}
	if q.Flag != nil {
		out = append(out, "flagged by referral outcomes ("+flagWords(q.Flag.Reason)+")")
	}
	if q.Corrections == 1 {
		out = append(out, "1 correction waiting")
	} else if q.Corrections > 1 {
		out = append(out, itoa(q.Corrections)+" corrections waiting")
	}
	return out
}

func flagWords(reason string) string {
	r := strings.NewReplacer("couldnt_reach", "couldn't reach them", "wrong_info", "wrong information", ":", ": ", ",", ", ")
	return r.Replace(reason)
}

// MonthsAgo says how long ago, in months, in words.
func MonthsAgo(n int) string {
	switch {
	case n <= 0:
		return "this month"
	case n == 1:
		return "1 month ago"
	}
	return itoa(n) + " months ago"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

// MonthsSince counts whole months from date d (YYYY-MM-DD) to now; -1 when d
// is not a date.
func MonthsSince(d string, now time.Time) int {
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return -1
	}
	m := (now.Year()-t.Year())*12 + int(now.Month()) - int(t.Month())
	if now.Day() < t.Day() {
		m--
	}
	return max(m, 0)
}

// QueueFilter selects the verification queue.
type QueueFilter struct {
	// Today is the date in the configured zone.
	Today time.Time
	// VerifyAfter months; 0 is DefaultVerifyAfter.
	VerifyAfter int
	// OrganizationID keeps one organization's listings (partners).
	OrganizationID string
	// All also lists listings that are not waiting (a partner's page).
	All bool
}

// VerificationQueue returns the open listings (active or temporarily
// closed) not verified within the period, flagged by referral outcomes, or
// with public corrections waiting, most referred first (then the longest
// unverified).
func (s *Store) VerificationQueue(ctx context.Context, f QueueFilter, sig Signals) ([]QueueItem, error) {
	if f.VerifyAfter <= 0 {
		f.VerifyAfter = DefaultVerifyAfter
	}
	var counts map[string]int
	var flags map[string]Flag
	if sig != nil {
		var err error
		if counts, err = sig.ReferralCounts(ctx); err != nil {
			return nil, err
		}
		if flags, err = sig.OpenFlags(ctx); err != nil {
			return nil, err
		}
	}
	where, args := "s.status IN ('active','temporarily closed')", []any{}
	if f.OrganizationID != "" {
		where += " AND s.organization_id = ?"
		args = append(args, f.OrganizationID)
	}
	rs, err := s.db.Read.QueryContext(ctx, `SELECT s.id, s.name, COALESCE(o.name, ''), s.organization_id, s.status,
		COALESCE(s.assured_date, ''), COALESCE(s.assurer_email, ''),
		(SELECT COUNT(*) FROM correction c WHERE c.service_id = s.id AND c.status IN ('new','accepted'))
		FROM service s LEFT JOIN organization o ON o.id = s.organization_id WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cutoff := f.Today.AddDate(0, -f.VerifyAfter, 0).Format(time.DateOnly)
	var out []QueueItem
	for rs.Next() {
		var q QueueItem
		if err := rs.Scan(&q.ServiceID, &q.Name, &q.Org, &q.OrgID, &q.Status, &q.AssuredDate, &q.AssurerEmail, &q.Corrections); err != nil {
			return nil, err
		}
		q.Months = MonthsSince(q.AssuredDate, f.Today)
		q.Due = q.AssuredDate == "" || q.AssuredDate < cutoff
		if fl, ok := flags[q.ServiceID]; ok {
			q.Flag = &fl
		}
		q.Referrals = counts[q.ServiceID]
		if q.Due || q.Flag != nil || q.Corrections > 0 || f.All {
			out = append(out, q)
		}
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b QueueItem) int {
		if a.Referrals != b.Referrals {
			return b.Referrals - a.Referrals
		}
		if c := strings.Compare(a.AssuredDate, b.AssuredDate); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// Verify marks a service verified today by actor, with an optional note
// (what was checked, with whom), and clears its referral flag.
func (s *Store) Verify(ctx context.Context, serviceID, actor, note string, today time.Time, sig Signals) error {
	r, err := s.Row(ctx, "service", serviceID)
	if err != nil {
		return err
	}
	if _, err := s.SaveRow(ctx, Edit{Table: "service", ID: serviceID, Version: RowVersion(r), Actor: actor, Listing: serviceID,
		Note: note, VerifiedOn: today.Format(time.DateOnly)}); err != nil {
		return err
	}
	return s.Verified(ctx, serviceID, actor, note, sig)
}

// Verified runs after a listing was marked verified (by Verify, or by an
// edit saved with VerifiedOn): its open referral flag is cleared.
func (s *Store) Verified(ctx context.Context, serviceID, actor, note string, sig Signals) error {
	if sig == nil {
		return nil
	}
	return sig.ClearFlags(ctx, serviceID, actor, note)
}

// Status changes of a service.
const (
	ActionClose  = "close"
	ActionReopen = "reopen"
	ActionRetire = "retire"
)

// SetStatus temporarily closes (with an alert and an expected reopening
// date), reopens or retires a service, through SaveRow.
func (s *Store) SetStatus(ctx context.Context, serviceID, version, action, alert, reopens, actor string) error {
	e := Edit{Table: "service", ID: serviceID, Version: version, Actor: actor, Listing: serviceID, Values: map[string]string{}, Extra: map[string]string{}}
	switch action {
	case ActionClose:
		errs := FieldErrors{}
		if strings.TrimSpace(alert) == "" {
			errs["alert"] = "say why it is closed and what people should do meanwhile"
		}
		if strings.TrimSpace(reopens) != "" {
			v, err := (Field{Name: "reopens_on", Type: "date"}).Parse(reopens)
			if err != nil {
				errs["reopens_on"] = err.Error()
			} else {
				reopens = v.(string)
			}
		}
		if len(errs) > 0 {
			return errs
		}
		e.Values["status"], e.Values["alert"], e.Extra["reopens_on"] = "temporarily closed", alert, reopens
	case ActionReopen:
		e.Values["status"], e.Values["alert"], e.Extra["reopens_on"] = "active", "", ""
	case ActionRetire:
		e.Values["status"], e.Extra["reopens_on"] = "defunct", ""
	default:
		return apperr.Errorf(apperr.EINVALID, "Unknown action %q.", action)
	}
	_, err := s.SaveRow(ctx, e)
	return err
}
