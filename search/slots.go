package search

import (
	"time"

	"github.com/secondchancekc/secondchance/directory"
)

// Slots is the set of half-hour slots (see Slot) throughout which a place
// with these HSDS schedules is open, over the seven days from the start of
// today in loc. A slot the place is open for only part of (opening at 8:45)
// is left out, so that open_now never lists a place that is closed now; it
// may miss one for those minutes. Weekly hours repeat exactly; monthly or
// date-bounded hours are right for this week, which is why the index is
// rebuilt every day. The "open now" answer shown on each result is computed
// exactly at query time.
func Slots(schedules []map[string]any, loc *time.Location) []string {
	h, _ := directory.ParseHours(schedules, loc)
	if !h.Known() {
		return nil
	}
	now := time.Now().In(loc)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	var out []string
	for d := 0; d < 7; d++ {
		start := day.AddDate(0, 0, d)
		for s := 0; s < 48; s++ {
			// Its first and last second, in wall-clock time (DST-safe).
			first := time.Date(start.Year(), start.Month(), start.Day(), s/2, (s%2)*30, 0, 0, loc)
			last := time.Date(start.Year(), start.Month(), start.Day(), s/2, (s%2)*30+29, 59, 0, loc)
			if h.OpenAt(first) && h.OpenAt(last) {
				out = append(out, Slot(first))
			}
		}
	}
	return out
}
