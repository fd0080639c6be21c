package referral

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Steps says when each follow-up of a referral falls due, in days after
// the referral was made. 0 means that step is not used.
type Steps struct {
	// Checkin is the first SMS check-in ("did you reach them?").
	Checkin int
	// Reminder asks again when the check-in got no reply.
	Reminder int
	// Call is the staff call task, for no reply or a reply other than
	// "got help".
	Call int
	// Final asks those who got help (or partly) whether it worked out.
	Final int
}

// Policy is the follow-up schedule and the limits on sending, from config.
type Policy struct {
	Default Steps
	// Needs overrides Default for a need category (a key of
	// directory.Categories() or "other").
	Needs map[string]Steps
	// WindowStart and WindowEnd bound the hours texts are sent in, as
	// minutes after midnight in Zone; a text due outside waits for the next
	// window.
	WindowStart, WindowEnd int
	Zone                   *time.Location
	// PerSecond paces sending (messages per second).
	PerSecond float64
	// DailyCap is the most follow-up texts sent in one day (in Zone).
	DailyCap int
	// ReplyDays is how long after a check-in a text from the same number is
	// read as the answer to it.
	ReplyDays int
}

// DefaultPolicy is the schedule: check-in at day 3, reminder at day
// 5, staff call at day 7, final check at day 30; texts 09:00-20:00
// America/Chicago, one a second, at most 1,000 a day.
func DefaultPolicy() Policy {
	zone, err := time.LoadLocation("America/Chicago")
	if err != nil {
		zone = time.UTC
	}
	return Policy{
		Default:     Steps{Checkin: 3, Reminder: 5, Call: 7, Final: 30},
		WindowStart: 9 * 60, WindowEnd: 20 * 60,
		Zone:      zone,
		PerSecond: 1,
		DailyCap:  1000,
		ReplyDays: 14,
	}
}

// StepsFor returns the schedule for a need.
func (p *Policy) StepsFor(need string) Steps {
	if s, ok := p.Needs[need]; ok {
		return s
	}
	return p.Default
}

// Validate checks the policy; messages name the setting.
func (p *Policy) Validate() error {
	if err := p.Default.validate("followup.steps"); err != nil {
		return err
	}
	for need, s := range p.Needs {
		if err := s.validate("followup.need_steps " + need); err != nil {
			return err
		}
	}
	if p.WindowStart < 0 || p.WindowEnd > 24*60 || p.WindowStart >= p.WindowEnd {
		return apperr.Errorf(apperr.EINVALID, "followup.window: the start must come before the end within one day")
	}
	if p.Zone == nil {
		return apperr.Errorf(apperr.EINVALID, "followup: no time zone")
	}
	if p.PerSecond <= 0 {
		return apperr.Errorf(apperr.EINVALID, "followup.per_second must be above 0")
	}
	if p.DailyCap < 1 {
		return apperr.Errorf(apperr.EINVALID, "followup.daily_cap must be at least 1")
	}
	if p.ReplyDays < 1 {
		return apperr.Errorf(apperr.EINVALID, "followup: reply days must be at least 1")
	}
	return nil
}

func (s Steps) validate(name string) error {
	for _, d := range []int{s.Checkin, s.Reminder, s.Call, s.Final} {
		if d < 0 || d > 365 {
			return apperr.Errorf(apperr.EINVALID, "%s: days must be 0 to 365, got %d", name, d)
		}
	}
	if s.Checkin == 0 && s.Reminder != 0 {
		return apperr.Errorf(apperr.EINVALID, "%s: a reminder needs a check-in", name)
	}
	if s.Reminder != 0 && s.Reminder <= s.Checkin {
		return apperr.Errorf(apperr.EINVALID, "%s: the reminder (day %d) must come after the check-in (day %d)", name, s.Reminder, s.Checkin)
	}
	return nil
}

// ParseSteps reads a schedule written as "checkin=3,reminder=5,call=7,final=30"
// (steps left out are 0: not used).
func ParseSteps(v string) (Steps, error) {
	var s Steps
	seen := map[string]bool{}
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, d, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return s, fmt.Errorf("%q is not step=days (e.g. checkin=3)", part)
		}
		n, err := strconv.Atoi(strings.TrimSpace(d))
		if err != nil {
			return s, fmt.Errorf("%q: days must be a whole number", part)
		}
		if seen[k] {
			return s, fmt.Errorf("step %s is given twice", k)
		}
		seen[k] = true
		switch k {
		case "checkin":
			s.Checkin = n
		case "reminder":
			s.Reminder = n
		case "call":
			s.Call = n
		case "final":
			s.Final = n
		default:
			return s, fmt.Errorf("unknown step %q (steps: checkin, reminder, call, final)", k)
		}
	}
	return s, s.validate("steps")
}

// ParseNeedSteps reads per-need overrides written as
// "housing: checkin=1,reminder=2,call=3,final=30; food: checkin=2".
// Each need must be a need category.
func ParseNeedSteps(v string) (map[string]Steps, error) {
	out := map[string]Steps{}
	for part := range strings.SplitSeq(v, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		need, spec, ok := strings.Cut(part, ":")
		need = strings.TrimSpace(need)
		if !ok {
			return nil, fmt.Errorf("%q is not need: steps (e.g. housing: checkin=1,call=3)", part)
		}
		if !slices.Contains(needCategories(), need) {
			return nil, fmt.Errorf("unknown need %q (needs: %s)", need, strings.Join(needCategories(), ", "))
		}
		if _, dup := out[need]; dup {
			return nil, fmt.Errorf("need %s is given twice", need)
		}
		s, err := ParseSteps(spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", need, err)
		}
		out[need] = s
	}
	return out, nil
}

// ParseWindow reads a sending window written "09:00-20:00".
func ParseWindow(v string) (start, end int, err error) {
	a, b, ok := strings.Cut(v, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not HH:MM-HH:MM", v)
	}
	if start, err = parseClock(strings.TrimSpace(a)); err != nil {
		return 0, 0, err
	}
	if end, err = parseClock(strings.TrimSpace(b)); err != nil {
		return 0, 0, err
	}
	if start >= end {
		return 0, 0, fmt.Errorf("%q: the window must start before it ends, within one day", v)
	}
	return start, end, nil
}

func parseClock(v string) (int, error) {
	if v == "24:00" {
		return 24 * 60, nil
	}
	t, err := time.Parse("15:04", v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day like 09:00", v)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// InWindow reports whether texts may be sent at t.
func (p *Policy) InWindow(t time.Time) bool {
	l := t.In(p.Zone)
	m := l.Hour()*60 + l.Minute()
	return m >= p.WindowStart && m < p.WindowEnd
}

// NextWindow returns the next time at or after t inside the window.
func (p *Policy) NextWindow(t time.Time) time.Time {
	if p.InWindow(t) {
		return t
	}
	l := t.In(p.Zone)
	day := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, p.Zone)
	open := day.Add(time.Duration(p.WindowStart) * time.Minute)
	if !l.Before(open) {
		open = day.AddDate(0, 0, 1).Add(time.Duration(p.WindowStart) * time.Minute)
	}
	return open.UTC()
}

// dayStart is midnight in the policy's zone on t's day, in UTC.
func (p *Policy) dayStart(t time.Time) time.Time {
	l := t.In(p.Zone)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, p.Zone).UTC()
}
