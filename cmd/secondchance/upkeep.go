package main

import (
	"context"
	"fmt"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/auth"
	"github.com/secondchancekc/secondchance/referral"
)

// validateUpkeep checks the directory.* settings.
func (c *Config) validateUpkeep() error {
	if n := c.Directory.VerifyAfter; n < 1 || n > 120 {
		return badSetting("directory.verify_after", fmt.Sprint(n), "expected a whole number of months from 1 to 120")
	}
	if n := c.Directory.UnverifiedAfter; n < 1 || n > 240 {
		return badSetting("directory.unverified_after", fmt.Sprint(n), "expected a whole number of months from 1 to 240")
	}
	return nil
}

// directorySignals adapts the referral log to directory.Signals: how often
// each service is referred to, and its open re-verification flags.
type directorySignals struct{ refs *referral.Store }

var _ directory.Signals = directorySignals{}

func (s directorySignals) ReferralCounts(ctx context.Context) (map[string]int, error) {
	return s.refs.ReferralCounts(ctx)
}

func (s directorySignals) OpenFlags(ctx context.Context) (map[string]directory.Flag, error) {
	rs, err := s.refs.ServiceReviews(ctx, true)
	if err != nil {
		return nil, err
	}
	out := map[string]directory.Flag{}
	for _, r := range rs {
		out[r.ServiceID] = directory.Flag{Reason: r.Reason, Reports: r.Reports}
	}
	return out, nil
}

func (s directorySignals) ClearFlags(ctx context.Context, serviceID, actor, note string) error {
	rs, err := s.refs.ServiceReviews(ctx, true)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.ServiceID == serviceID {
			if err := s.refs.ClearServiceReview(ctx, r.ID, actor, note); err != nil {
				return err
			}
		}
	}
	return nil
}

// directoryPerson tells the directory's staff pages who is signed in.
func directoryPerson(c echo.Context) directory.Person {
	u := auth.CurrentUser(c)
	if u == nil {
		return directory.Person{}
	}
	return directory.Person{Email: u.Email, Partner: u.Role == auth.RolePartner, OrganizationID: u.OrganizationID}
}
