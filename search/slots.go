package search

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/secondchancekc/secondchance/directory"
)

// Slots are the opening spans, as indexed in the "open" field, of a place
// with these HSDS schedules over the seven days from the start of today in
// loc: one term per day of the week and span, "d3:30600-59400" for
// Wednesday from 08:30:00 (second 30,600 of the day) to 16:30:00, in
// wall-clock time. An overnight opening is split at midnight. At query time
// the current day's terms are read from the field's dictionary and those
// whose span holds the current second are searched (openTerms): exact to
// the second, and a few terms per place instead of one per half hour.
// Weekly hours repeat exactly; monthly or date-bounded hours are right for
// this week, which is why the index is rebuilt every day. The "open now"
// answer shown on each result is computed at query time from the
// schedules themselves.
func Slots(schedules []map[string]any, loc *time.Location) []string {
	h, _ := directory.ParseHours(schedules, loc)
	if !h.Known() {
		return nil
	}
	now := time.Now().In(loc)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	seen := map[string]bool{}
	var out []string
	add := func(wd, from, to int) {
		if to <= from {
			return
		}
		t := spanTerm(wd, from, to)
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for d := 0; d < 7; d++ {
		date := day.AddDate(0, 0, d)
		wd := int(date.Weekday())
		for _, sp := range h.On(date) {
			if sp.Zone != "" {
				// Hours in another zone than loc: spans in loc's wall
				// clock, from the opening itself, half hour by half hour.
				return halfHourSpans(h, day)
			}
			from, ok := clockSeconds(sp.Opens)
			if !ok {
				continue
			}
			to := 86400
			if !sp.OpenEnded {
				if to, ok = clockSeconds(sp.Closes); !ok {
					continue
				}
				if sp.Overnight {
					to += 86400
				}
			}
			add(wd, from, min(to, 86400))
			if to > 86400 {
				add((wd+1)%7, 0, to-86400)
			}
		}
	}
	return out
}

func spanTerm(wd, from, to int) string { return fmt.Sprintf("d%d:%05d-%05d", wd, from, to) }

// clockSeconds reads "HH:MM" or "HH:MM:SS" (up to "24:00").
func clockSeconds(s string) (int, bool) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, false
	}
	sec := 0
	for i, mult := range []int{3600, 60, 1} {
		if i >= len(parts) {
			break
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 {
			return 0, false
		}
		sec += n * mult
	}
	return sec, sec <= 86400
}

// halfHourSpans are the spans made of the half hours of the week (from
// day) throughout which h is open: the rare hours written in another zone.
func halfHourSpans(h directory.Hours, day time.Time) []string {
	var out []string
	loc := day.Location()
	for d := 0; d < 7; d++ {
		start := day.AddDate(0, 0, d)
		run := -1
		for s := 0; s <= 48; s++ {
			open := false
			if s < 48 {
				first := time.Date(start.Year(), start.Month(), start.Day(), s/2, (s%2)*30, 0, 0, loc)
				last := time.Date(start.Year(), start.Month(), start.Day(), s/2, (s%2)*30+29, 59, 0, loc)
				open = h.OpenAt(first) && h.OpenAt(last)
			}
			switch {
			case open && run < 0:
				run = s
			case !open && run >= 0:
				out = append(out, spanTerm(int(start.Weekday()), run*1800, s*1800))
				run = -1
			}
		}
	}
	return out
}

// openSpan parses a term of the "open" field: its day of the week and
// span in seconds of the day.
func openSpan(term string) (wd, from, to int, ok bool) {
	if len(term) != len("d0:00000-00000") || term[0] != 'd' || term[2] != ':' || term[8] != '-' {
		return 0, 0, 0, false
	}
	wd = int(term[1] - '0')
	var err1, err2 error
	from, err1 = strconv.Atoi(term[3:8])
	to, err2 = strconv.Atoi(term[9:])
	return wd, from, to, err1 == nil && err2 == nil && wd >= 0 && wd < 7
}
