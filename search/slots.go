package search

import (
	"time"

	"github.com/secondchancekc/secondchance/directory"
)

// Slots is the set of half-hour slots (see Slot) in which a place with
// these HSDS schedules is open, over the seven days from the start of today
// in loc. Weekly hours repeat exactly; monthly or date-bounded hours are
// right for this week, which is why the index is rebuilt every day. The
// "open now" answer shown on each result is computed exactly at query time.
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
			// The middle of the slot, in wall-clock time (DST-safe).
			t := time.Date(start.Year(), start.Month(), start.Day(), s/2, (s%2)*30+15, 0, 0, loc)
			if h.OpenAt(t) {
				out = append(out, Slot(t))
			}
		}
	}
	return out
}
