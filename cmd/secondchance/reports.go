package main

import (
	"fmt"

	"github.com/secondchancekc/secondchance/referral"
)

// validateReports checks followup.reverify_after and the reports.* figures.
func (c *Config) validateReports() error {
	if n := c.Followup.ReverifyAfter; n < 0 || n > 1000 {
		return badSetting("followup.reverify_after", fmt.Sprint(n), "expected a whole number from 0 (never flag) to 1000")
	}
	if v := c.Reports.SavingsPerPersonYear; v < 0 || v > 10_000_000 {
		return badSetting("reports.savings_per_person_year", fmt.Sprint(v), "expected dollars from 0 to 10000000")
	}
	if v := c.Reports.OperatingCost; v < 0 || v > 1_000_000_000 {
		return badSetting("reports.operating_cost", fmt.Sprint(v), "expected dollars a year from 0 to 1000000000")
	}
	return nil
}

// configureReports gives the referral store the listing-review threshold
// and the estimate panel's figures.
func (c *Config) configureReports(s *referral.Store) {
	s.ReverifyAfter = c.Followup.ReverifyAfter
	s.Estimate = referral.EstimateConfig{
		SavingsPerPersonYear: c.Reports.SavingsPerPersonYear,
		OperatingCostPerYear: c.Reports.OperatingCost,
	}
}
