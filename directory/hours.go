package directory

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Hours is the weekly/monthly opening pattern of one service (or one service
// at a location): the union of the usable HSDS 3.0 schedule rows given to
// ParseHours. A day that no row covers is closed. The zero Hours is unknown
// hours (Known reports false), which is not the same as closed.
//
// Hours is pure: every question takes the time it is about, so callers pass
// their injected clock's now.
type Hours struct {
	loc   *time.Location
	rules []hoursRule
}

// Span is one opening that starts on a given day, in wall-clock time as the
// schedule wrote it.
type Span struct {
	// Opens is the opening time, "HH:MM" 24-hour ("HH:MM:SS" when the
	// seconds are not zero).
	Opens string
	// Closes is the closing time in the same form, "24:00" for the end of
	// the day, and "" when the schedule gives no closing time (OpenEnded).
	Closes string
	// AllDay is true for 00:00-24:00 (written 00:00:00-23:59:59 or
	// 00:00-00:00 in HSDS).
	AllDay bool
	// Overnight is true when Closes is on the next morning.
	Overnight bool
	// OpenEnded is true when the schedule has opens_at but no closes_at; the
	// engine counts such a span as open until the end of the day.
	OpenEnded bool
	// Zone is "" when the span is in the zone given to ParseHours, else the
	// schedule's own fixed UTC offset (e.g. "UTC-05:00") or zone name, for
	// the page to print next to the times.
	Zone string
}

// OpensAt formats Opens with a time layout, e.g. "3:04 PM" or "15:04".
func (s Span) OpensAt(layout string) string { return formatClock(s.Opens, layout) }

// ClosesAt formats Closes with a time layout, e.g. "3:04 PM"; "24:00" comes
// out as midnight ("12:00 AM"), and an open-ended span gives "".
func (s Span) ClosesAt(layout string) string { return formatClock(s.Closes, layout) }

// Day is one calendar date and the spans that open on it.
type Day struct {
	Date  time.Time // midnight at the start of the date, in the zone given to ParseHours
	Today bool      // the date of the time passed to Week
	Spans []Span    // sorted by opening time; empty when closed
}

// ScheduleError says why ParseHours skipped one schedule row.
type ScheduleError struct {
	Index  int    // position of the row in the slice given to ParseHours
	ID     string // the row's id, when it has one
	Field  string // the HSDS field at fault, e.g. "opens_at"
	Value  string // the offending value as text; "" when it is missing
	Reason string // why, in words for the person who wrote the data
}

// Error implements the error interface.
func (e *ScheduleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schedules[%d]", e.Index)
	if e.ID != "" {
		fmt.Fprintf(&b, " (id %s)", hoursClip(e.ID))
	}
	fmt.Fprintf(&b, ": %s ", e.Field)
	if e.Value != "" {
		fmt.Fprintf(&b, "%q ", hoursClip(e.Value))
	}
	b.WriteString(e.Reason)
	return b.String()
}

const (
	daySeconds = 24 * 60 * 60
	// hoursLookahead is how many days NextOpen looks ahead: two months
	// covers every monthly rule at least once.
	hoursLookahead = 62
	// countHorizon bounds the walk that turns a COUNT into a last date; a
	// count not reached within it leaves the rule unbounded.
	countHorizon = 20 * 366
)

// defaultZone is the zone of the Kansas City directory, for callers that pass
// no zone; it is loaded once.
var defaultZone = sync.OnceValues(func() (*time.Location, error) {
	return time.LoadLocation("America/Chicago")
})

// ParseHours reads HSDS 3.0 schedule rows (column -> stored value: strings
// for text, dates and times, float64 for numbers, nil when absent) into
// Hours. Times are wall-clock times in loc (nil means America/Chicago), unless
// a row says otherwise with its timezone field or an offset on its times.
//
// How rows are read:
//   - closes_at before opens_at is overnight (Friday 20:00-06:00 is open at
//     03:00 on Saturday); 00:00-23:59:59 and 00:00-00:00 are all day;
//     closes_at 23:59, 23:59:59 and 24:00 mean midnight, and so does 00:00
//     after a later opens_at; opens_at equal to closes_at is 24 hours from
//     opens_at.
//   - opens_at without closes_at is open to the end of the day (OpenEnded).
//   - valid_from/valid_to and dtstart/until/count bound the days an opening
//     may start on; interval counts weeks or months from dtstart.
//   - timezone (hours east of UTC, or a zone name) or an offset on the times
//     places the row in that zone; an offset the local zone itself uses
//     (-6 or -5 for Chicago) is read as the local zone, daylight saving
//     included.
//
// Each row that cannot be used is skipped and reported with one
// *ScheduleError per problem, naming the field and the value; ParseHours
// never panics. A row with no rule at all (only a description or notes) is
// neither used nor an error.
func ParseHours(schedules []map[string]any, loc *time.Location) (Hours, []error) {
	if loc == nil {
		l, err := defaultZone()
		if err != nil {
			return Hours{}, []error{fmt.Errorf("hours: time zone America/Chicago: %w", err)}
		}
		loc = l
	}
	h := Hours{loc: loc}
	var errs []error
	for i, row := range schedules {
		p := scheduleParser{row: row, index: i, loc: loc}
		if id, ok := row["id"].(string); ok {
			p.id = id
		}
		r, ok := p.parse()
		errs = append(errs, p.errs...)
		if ok {
			h.rules = append(h.rules, r)
		}
	}
	return h, errs
}

// Known reports whether any usable schedule exists. Without one the hours
// are unknown, which a page should say rather than "closed".
func (h Hours) Known() bool { return len(h.rules) > 0 }

// OpenAt reports whether t (in any zone) falls inside an opening: from
// opens_at inclusive to closes_at exclusive, so a service is open at exactly
// its opening time and closed at exactly its closing time. Unknown hours are
// never open.
func (h Hours) OpenAt(t time.Time) bool {
	for i := range h.rules {
		r := &h.rules[i]
		n := dayNumber(t.In(r.zone))
		// An opening lasts at most 24 hours, so only today's and yesterday's
		// (overnight) openings can cover t.
		for d := n - 1; d <= n; d++ {
			if r.occursOn(d) {
				if s, e := r.span(d); !t.Before(s) && t.Before(e) {
					return true
				}
			}
		}
	}
	return false
}

// NextOpen returns the next moment after t when the service opens, in the
// zone given to ParseHours. When t is inside an opening, it is the start of
// the next opening after this one; openings that touch or overlap (12:00-14:00
// then 14:00-17:00) count as one. It looks ahead through the 62 days after t's
// date and reports false when there is no opening in them: hours unknown,
// closed for good, or open without a break that long (24/7).
func (h Hours) NextOpen(t time.Time) (time.Time, bool) {
	type interval struct{ s, e time.Time }
	var ivs []interval
	for i := range h.rules {
		r := &h.rules[i]
		n := dayNumber(t.In(r.zone))
		for d := n - 1; d <= n+hoursLookahead; d++ {
			if !r.occursOn(d) {
				continue
			}
			// Openings that closed before t cannot touch one that starts
			// after it, so they do not matter.
			if s, e := r.span(d); !e.Before(t) && s.Before(e) {
				ivs = append(ivs, interval{s, e})
			}
		}
	}
	slices.SortFunc(ivs, func(a, b interval) int { return a.s.Compare(b.s) })
	var end time.Time
	for i, iv := range ivs {
		if i > 0 && !iv.s.After(end) {
			if iv.e.After(end) {
				end = iv.e
			}
			continue
		}
		if iv.s.After(t) {
			return iv.s.In(h.zone(t)), true
		}
		end = iv.e
	}
	return time.Time{}, false
}

// On returns the spans that open on t's calendar date in the zone given to
// ParseHours, merged where they overlap or touch and sorted by opening time.
// An overnight span is listed on the day it opens only.
func (h Hours) On(t time.Time) []Span {
	return h.spansOn(dayNumber(t.In(h.zone(t))))
}

// Week returns the seven days, Monday first, of the week that contains t in
// the zone given to ParseHours, with Today marking t's date. Because it works
// on real dates, monthly rules, fortnightly rules and valid_from/valid_to show
// as they apply that week. A page can group consecutive days whose Spans are
// equal to print "Mon-Fri 8:30 AM - 4:30 PM".
func (h Hours) Week(t time.Time) []Day {
	loc := h.zone(t)
	n := dayNumber(t.In(loc))
	monday := n - int64((weekdayOf(n)+6)%7)
	days := make([]Day, 7)
	for i := range days {
		d := monday + int64(i)
		y, m, dd := civilDate(d).Date()
		days[i] = Day{Date: time.Date(y, m, dd, 0, 0, 0, 0, loc), Today: d == n, Spans: h.spansOn(d)}
	}
	return days
}

// zone is the zone of the Hours, or t's for the zero Hours.
func (h Hours) zone(t time.Time) *time.Location {
	if h.loc == nil {
		return t.Location()
	}
	return h.loc
}

// rawSpan is a span in seconds after the midnight of the day it opens.
type rawSpan struct {
	zone        string
	open, close int
	openEnded   bool
}

func (h Hours) spansOn(n int64) []Span {
	var raw []rawSpan
	for i := range h.rules {
		r := &h.rules[i]
		if r.occursOn(n) {
			raw = append(raw, rawSpan{r.zoneLabel, r.open, r.close, r.openEnded})
		}
	}
	slices.SortFunc(raw, func(a, b rawSpan) int {
		return cmp.Or(cmp.Compare(a.zone, b.zone), cmp.Compare(a.open, b.open), cmp.Compare(a.close, b.close))
	})
	var merged []rawSpan
	for _, s := range raw {
		if k := len(merged) - 1; k >= 0 && merged[k].zone == s.zone && s.open <= merged[k].close {
			m := &merged[k]
			switch {
			case s.close > m.close:
				m.close, m.openEnded = s.close, s.openEnded
			case s.close == m.close:
				// A known closing time beats an unknown one.
				m.openEnded = m.openEnded && s.openEnded
			}
			continue
		}
		merged = append(merged, s)
	}
	slices.SortStableFunc(merged, func(a, b rawSpan) int { return cmp.Compare(a.open, b.open) })
	spans := make([]Span, 0, len(merged))
	for _, s := range merged {
		sp := Span{
			Opens:     clockText(s.open),
			Closes:    clockText(s.close),
			AllDay:    s.open == 0 && s.close == daySeconds && !s.openEnded,
			Overnight: s.close > daySeconds,
			OpenEnded: s.openEnded,
			Zone:      s.zone,
		}
		if s.openEnded {
			sp.Closes = ""
		}
		spans = append(spans, sp)
	}
	return spans
}

// hoursRule is one usable schedule row.
type hoursRule struct {
	zone      *time.Location
	zoneLabel string // "" when zone is the Hours' zone
	monthly   bool
	interval  int64
	wkst      time.Weekday
	weekdays  [7]bool // byday without ordinals
	ordinals  []hoursOrdinal
	monthDays []int
	weekNos   []int
	yearDays  []int
	// first and last bound the days an occurrence may start on (inclusive),
	// from valid_from/dtstart and valid_to/until/count.
	first, last int64
	anchor      int64 // dtstart; matches reads it only when the row has one
	// open and close are seconds after the midnight of the day the opening
	// starts; close > daySeconds is overnight.
	open, close int
	openEnded   bool
}

// hoursOrdinal is a MONTHLY byday part such as "1MO" or "-1FR".
type hoursOrdinal struct {
	n  int // 1..5 from the start of the month, -1..-5 from its end
	wd time.Weekday
}

func (r *hoursRule) hasByday() bool {
	return len(r.ordinals) > 0 || slices.Contains(r.weekdays[:], true)
}

// occursOn reports whether an opening starts on day n (in the rule's zone).
func (r *hoursRule) occursOn(n int64) bool {
	return n >= r.first && n <= r.last && r.matches(n)
}

// matches is the recurrence pattern without its first and last day. Like
// RFC 5545, byday and bymonthday choose the days of a MONTHLY rule (both
// together must both match), byday the days of a WEEKLY rule, dtstart's day
// when they are absent, and every other by-list only narrows.
func (r *hoursRule) matches(n int64) bool {
	d := civilDate(n)
	if r.interval > 1 {
		var k int64
		if r.monthly {
			y, m, _ := d.Date()
			ay, am, _ := civilDate(r.anchor).Date()
			k = int64(y-ay)*12 + int64(m-am)
		} else {
			k = (weekStart(n, r.wkst) - weekStart(r.anchor, r.wkst)) / 7
		}
		if k%r.interval != 0 {
			return false
		}
	}
	wd := d.Weekday()
	switch {
	case r.monthly && !r.hasByday() && len(r.monthDays) == 0:
		if d.Day() != civilDate(r.anchor).Day() {
			return false
		}
	case !r.monthly && !r.hasByday():
		if wd != weekdayOf(r.anchor) {
			return false
		}
	}
	if r.hasByday() && !r.weekdays[wd] && !slices.ContainsFunc(r.ordinals, func(o hoursOrdinal) bool {
		return o.matches(d)
	}) {
		return false
	}
	if len(r.monthDays) > 0 {
		dom, days := d.Day(), daysIn(d.Year(), d.Month())
		if !slices.ContainsFunc(r.monthDays, func(v int) bool { return v == dom || v == dom-days-1 }) {
			return false
		}
	}
	if len(r.yearDays) > 0 {
		yd, days := d.YearDay(), daysInYear(d.Year())
		if !slices.ContainsFunc(r.yearDays, func(v int) bool { return v == yd || v == yd-days-1 }) {
			return false
		}
	}
	if len(r.weekNos) > 0 {
		w, weeks := weekNumber(n, r.wkst)
		if !slices.ContainsFunc(r.weekNos, func(v int) bool { return v == w || v == w-weeks-1 }) {
			return false
		}
	}
	return true
}

func (o hoursOrdinal) matches(d time.Time) bool {
	if d.Weekday() != o.wd {
		return false
	}
	if o.n > 0 {
		return (d.Day()-1)/7+1 == o.n
	}
	return (daysIn(d.Year(), d.Month())-d.Day())/7+1 == -o.n
}

// span is the opening that starts on day n. Both ends are wall-clock times
// on the calendar, so daylight saving changes never move them: a 23- or
// 25-hour day still opens at 08:30 and closes at 16:30.
func (r *hoursRule) span(n int64) (time.Time, time.Time) {
	y, m, d := civilDate(n).Date()
	return time.Date(y, m, d, 0, 0, r.open, 0, r.zone), time.Date(y, m, d, 0, 0, r.close, 0, r.zone)
}

// --- parsing ---

// scheduleParser reads one row and collects its problems.
type scheduleParser struct {
	row   map[string]any
	index int
	id    string
	loc   *time.Location
	errs  []error
}

func (p *scheduleParser) fail(field, value, reason string, args ...any) {
	p.errs = append(p.errs, &ScheduleError{Index: p.index, ID: p.id, Field: field, Value: value, Reason: fmt.Sprintf(reason, args...)})
}

// ruleFields are the fields that make a row a rule rather than a note.
var ruleFields = []string{"freq", "byday", "bymonthday", "byweekno", "byyearday", "opens_at", "closes_at"}

func (p *scheduleParser) parse() (hoursRule, bool) {
	if !slices.ContainsFunc(ruleFields, p.present) {
		return hoursRule{}, false
	}
	r := hoursRule{zone: p.loc, interval: 1, wkst: time.Monday, first: math.MinInt64, last: math.MaxInt64}

	if s, ok := p.text("freq"); !ok {
		p.fail("freq", "", "is missing; say WEEKLY or MONTHLY")
	} else {
		switch strings.ToUpper(s) {
		case "WEEKLY":
		case "MONTHLY":
			r.monthly = true
		default:
			p.fail("freq", s, "is not WEEKLY or MONTHLY (the only frequencies HSDS 3.0 allows)")
		}
	}
	freqOK := len(p.errs) == 0

	if v, s, ok := p.number("interval"); ok {
		if v != math.Trunc(v) || v < 1 || v > 1000 {
			p.fail("interval", s, "is not a whole number from 1 to 1000")
		} else {
			r.interval = int64(v)
		}
	}
	count := 0
	if v, s, ok := p.number("count"); ok {
		if v != math.Trunc(v) || v < 1 || v > 1e6 {
			p.fail("count", s, "is not a whole number from 1 to 1000000")
		} else {
			count = int(v)
		}
	}
	if s, ok := p.text("wkst"); ok {
		if wd, ok := weekdayCode(s); ok {
			r.wkst = wd
		} else {
			p.fail("wkst", s, "is not a two-letter day code (MO, TU, WE, TH, FR, SA, SU)")
		}
	}
	if s, ok := p.text("byday"); ok {
		p.byday(&r, s, freqOK)
	}
	r.monthDays = p.ints("bymonthday", 31)
	r.weekNos = p.ints("byweekno", 53)
	r.yearDays = p.ints("byyearday", 366)

	zone, zoneOff, zoneNumeric := p.timezone()
	opens, openOff, _ := p.clock("opens_at", false)
	closes, closeOff, okClose := p.clock("closes_at", true)
	if !p.present("opens_at") {
		p.fail("opens_at", "", "is missing; without it there is no telling when the service opens")
	}
	switch {
	case openOff != nil && closeOff != nil && *openOff != *closeOff:
		p.fail("closes_at", p.str("closes_at"), "has a different UTC offset from opens_at %q", p.str("opens_at"))
	case zone == nil && cmp.Or(openOff, closeOff) != nil:
		off := *cmp.Or(openOff, closeOff)
		zone = p.offsetZone(off)
	case zoneNumeric && cmp.Or(openOff, closeOff) != nil && *cmp.Or(openOff, closeOff) != zoneOff:
		p.fail("timezone", p.str("timezone"), "disagrees with the UTC offset written on opens_at/closes_at")
	}
	if zone != nil {
		r.zone = zone
		if zone != p.loc {
			r.zoneLabel = zone.String()
		}
	}

	validFrom, hasFrom := p.date("valid_from")
	validTo, hasTo := p.date("valid_to")
	dtstart, hasStart := p.date("dtstart")
	until, hasUntil := p.date("until")
	if hasFrom && hasTo && validTo < validFrom {
		p.fail("valid_to", p.str("valid_to"), "is before valid_from %q", p.str("valid_from"))
	}
	if hasStart && hasUntil && until < dtstart {
		p.fail("until", p.str("until"), "is before dtstart %q", p.str("dtstart"))
	}
	r.anchor = dtstart
	if !p.present("dtstart") {
		switch {
		case r.interval > 1:
			p.fail("interval", p.str("interval"), "needs a dtstart to count from")
		case count > 0:
			p.fail("count", p.str("count"), "needs a dtstart to count from")
		case freqOK && !r.monthly && !p.present("byday"):
			p.fail("byday", "", "is missing; a WEEKLY schedule needs its days (e.g. MO,TU,WE) or a dtstart")
		case freqOK && r.monthly && !p.present("byday") && !p.present("bymonthday"):
			p.fail("bymonthday", "", "is missing; a MONTHLY schedule needs bymonthday (e.g. 1,15), byday (e.g. 1MO or -1FR) or a dtstart")
		}
	}
	if len(p.errs) > 0 {
		return hoursRule{}, false
	}

	r.open = opens
	switch {
	case !okClose:
		// No closing time: we know when it opens but not when it closes,
		// so we count it open to the end of that day and say so (OpenEnded)
		// rather than drop the row or invent a time.
		r.close, r.openEnded = daySeconds, true
	case closes == daySeconds-1 || closes == daySeconds-60:
		// 23:59:59 and 23:59 are how people write "until midnight".
		r.close = daySeconds
	case closes == 0 && opens > 0:
		r.close = daySeconds
	case closes == opens:
		// 00:00-00:00 is all day; 07:00-07:00 is 24 hours from 07:00.
		r.close = opens + daySeconds
	case closes < opens:
		r.close = closes + daySeconds // overnight
	default:
		r.close = closes
	}

	if hasFrom {
		r.first = validFrom
	}
	if hasStart {
		r.first = max(r.first, dtstart)
	}
	if hasTo {
		r.last = validTo
	}
	if hasUntil {
		r.last = min(r.last, until)
	}
	if count > 0 {
		// RFC 5545 counts occurrences from dtstart, whatever valid_from says.
		seen := 0
		for n := dtstart; n <= dtstart+countHorizon && (!hasUntil || n <= until); n++ {
			if r.matches(n) {
				if seen++; seen == count {
					r.last = min(r.last, n)
					break
				}
			}
		}
	}
	return r, true
}

// present reports whether a field has a value.
func (p *scheduleParser) present(field string) bool {
	switch v := p.row[field].(type) {
	case nil:
		return false
	case string:
		return strings.TrimSpace(v) != ""
	}
	return true
}

// str is a field's value as text, for messages.
func (p *scheduleParser) str(field string) string {
	switch v := p.row[field].(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(p.row[field])
}

// text returns a text field, trimmed; absent and blank are the same.
func (p *scheduleParser) text(field string) (string, bool) {
	switch v := p.row[field].(type) {
	case nil:
		return "", false
	case string:
		s := strings.TrimSpace(v)
		return s, s != ""
	default:
		p.fail(field, p.str(field), "is a %s, expected text", goKind(v))
		return "", false
	}
}

// number returns a number field. Stored numbers are float64; text and other
// Go numbers are accepted too, since rows may come straight from a decoder.
func (p *scheduleParser) number(field string) (float64, string, bool) {
	var v float64
	switch x := p.row[field].(type) {
	case nil:
		return 0, "", false
	case float64:
		v = x
	case float32:
		v = float64(x)
	case int:
		v = float64(x)
	case int64:
		v = float64(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			p.fail(field, x.String(), "is not a number")
			return 0, "", false
		}
		v = f
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, "", false
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			p.fail(field, s, "is not a number")
			return 0, "", false
		}
		v = f
	default:
		p.fail(field, p.str(field), "is a %s, expected a number", goKind(x))
		return 0, "", false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		p.fail(field, p.str(field), "is not a finite number")
		return 0, "", false
	}
	return v, p.str(field), true
}

// date reads a YYYY-MM-DD field as a day number.
func (p *scheduleParser) date(field string) (int64, bool) {
	s, ok := p.text(field)
	if !ok {
		return 0, false
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		p.fail(field, s, "is not a date in the form YYYY-MM-DD")
		return 0, false
	}
	return dayNumber(d), true
}

// ints reads a comma-separated list of whole numbers from -max to max,
// without 0 (negative counts from the end, as in RFC 5545).
func (p *scheduleParser) ints(field string, limit int) []int {
	s, ok := p.text(field)
	if !ok {
		return nil
	}
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n == 0 || n < -limit || n > limit {
			p.fail(field, s, "has %q, which is not a whole number from 1 to %d or -%d to -1", hoursClip(part), limit, limit)
			return nil
		}
		out = append(out, n)
	}
	return out
}

// byday reads "MO,TU" or, for MONTHLY, "1MO,-1FR".
func (p *scheduleParser) byday(r *hoursRule, s string, freqOK bool) {
	for part := range strings.SplitSeq(s, ",") {
		part = strings.ToUpper(strings.TrimSpace(part))
		if part == "" {
			continue
		}
		if len(part) < 2 {
			p.fail("byday", s, "has %q, which is not a day code (MO, TU, WE, TH, FR, SA, SU)", hoursClip(part))
			return
		}
		wd, ok := weekdayCode(part[len(part)-2:])
		if !ok {
			p.fail("byday", s, "has %q, which is not a day code (MO, TU, WE, TH, FR, SA, SU)", hoursClip(part))
			return
		}
		prefix := strings.TrimSpace(part[:len(part)-2])
		if prefix == "" {
			r.weekdays[wd] = true
			continue
		}
		n, err := strconv.Atoi(prefix)
		switch {
		case err != nil || n == 0 || n < -5 || n > 5:
			p.fail("byday", s, "has %q; a day can be preceded only by its place in the month, 1 to 5 or -1 to -5 (e.g. 1MO, -1FR)", hoursClip(part))
			return
		case freqOK && !r.monthly:
			p.fail("byday", s, "has %q; numbered days (the 1st Monday...) need freq MONTHLY", hoursClip(part))
			return
		}
		r.ordinals = append(r.ordinals, hoursOrdinal{n, wd})
	}
}

// timezone reads the timezone field. HSDS makes it a UTC offset in hours;
// an IANA name such as America/Chicago is accepted too.
func (p *scheduleParser) timezone() (zone *time.Location, offset int, numeric bool) {
	if s, ok := p.row["timezone"].(string); ok {
		s = strings.TrimSpace(s)
		if _, err := strconv.ParseFloat(s, 64); err != nil && s != "" {
			if s == "Local" {
				p.fail("timezone", s, "is not a UTC offset in hours (e.g. -6) or a time zone name (e.g. America/Chicago)")
				return nil, 0, false
			}
			l, err := time.LoadLocation(s)
			if err != nil {
				p.fail("timezone", s, "is not a UTC offset in hours (e.g. -6) or a time zone name (e.g. America/Chicago)")
				return nil, 0, false
			}
			return l, 0, false
		}
	}
	v, s, ok := p.number("timezone")
	if !ok {
		return nil, 0, false
	}
	if v < -14 || v > 14 {
		p.fail("timezone", s, "is not a UTC offset in hours from -14 to 14")
		return nil, 0, false
	}
	off := int(math.Round(v * 3600))
	return p.offsetZone(off), off, true
}

// offsetZone is the zone for a fixed UTC offset. An offset that the local
// zone itself uses (-6 or -5 in Chicago) is read as the local zone, with its
// daylight saving time: publishers write the offset of the day they wrote
// the data and mean local time. Any other offset is taken literally.
func (p *scheduleParser) offsetZone(off int) *time.Location {
	// Fixed dates rather than now keep ParseHours pure.
	_, winter := time.Date(2026, time.January, 15, 12, 0, 0, 0, p.loc).Zone()
	_, summer := time.Date(2026, time.July, 15, 12, 0, 0, 0, p.loc).Zone()
	if off == winter || off == summer {
		return p.loc
	}
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	name := "UTC"
	if off != 0 {
		name = fmt.Sprintf("UTC%c%02d:%02d", sign, off/3600, off%3600/60)
	}
	if sign == '-' {
		off = -off
	}
	return time.FixedZone(name, off)
}

// clock reads opens_at or closes_at.
func (p *scheduleParser) clock(field string, allow24 bool) (sec int, off *int, ok bool) {
	s, ok := p.text(field)
	if !ok {
		return 0, nil, false
	}
	sec, o, hasOff, ok := parseClock(s, allow24)
	if !ok {
		p.fail(field, s, "is not a time of day in the form HH:MM or HH:MM:SS (24-hour), optionally with a UTC offset such as -05:00")
		return 0, nil, false
	}
	if hasOff {
		off = &o
	}
	return sec, off, true
}

// parseClock reads "HH:MM" or "HH:MM:SS", optionally followed by "Z" or a UTC
// offset ("-05:00", "-0500", "-05"), as HSDS asks. It returns seconds after
// midnight; allow24 admits "24:00" as the end of the day.
func parseClock(s string, allow24 bool) (sec, off int, hasOff, ok bool) {
	if strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") {
		s, hasOff = s[:len(s)-1], true
	} else if i := strings.IndexAny(s, "+-"); i >= 0 {
		o, ok := parseOffset(s[i:])
		if !ok {
			return 0, 0, false, false
		}
		s, off, hasOff = s[:i], o, true
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, 0, false, false
	}
	var v [3]int
	for i, part := range parts {
		if len(part) != 2 && !(i == 0 && len(part) == 1) || !allDigits(part) {
			return 0, 0, false, false
		}
		v[i], _ = strconv.Atoi(part)
	}
	h, m, sc := v[0], v[1], v[2]
	if allow24 && h == 24 && m == 0 && sc == 0 {
		return daySeconds, off, hasOff, true
	}
	if h > 23 || m > 59 || sc > 59 {
		return 0, 0, false, false
	}
	return h*3600 + m*60 + sc, off, hasOff, true
}

// parseOffset reads "+05:30", "-0500" or "-05" as seconds east of UTC.
func parseOffset(s string) (int, bool) {
	if len(s) < 3 {
		return 0, false
	}
	sign, s := s[0], strings.Replace(s[1:], ":", "", 1)
	if (len(s) != 2 && len(s) != 4) || !allDigits(s) {
		return 0, false
	}
	h, _ := strconv.Atoi(s[:2])
	m := 0
	if len(s) == 4 {
		m, _ = strconv.Atoi(s[2:])
	}
	if h > 14 || m > 59 {
		return 0, false
	}
	off := h*3600 + m*60
	if sign == '-' {
		off = -off
	}
	return off, true
}

// --- calendar arithmetic on day numbers (days since 1970-01-01) ---

// dayNumber is the day number of t's calendar date in t's own zone.
func dayNumber(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / daySeconds
}

// civilDate is midnight UTC of day n, for its calendar fields.
func civilDate(n int64) time.Time { return time.Unix(n*daySeconds, 0).UTC() }

func weekdayOf(n int64) time.Weekday { return time.Weekday(((n % 7) + 7 + 4) % 7) } // 1970-01-01 was a Thursday

// weekStart is the first day of n's week, for weeks that start on wkst.
func weekStart(n int64, wkst time.Weekday) int64 {
	return n - int64((int(weekdayOf(n))-int(wkst)+7)%7)
}

// weekNumber is n's RFC 5545 week of the year and the number of weeks in that
// year: week 1 is the first week with at least four days in the year, that
// is the week holding January 4th (with wkst MO this is the ISO week).
func weekNumber(n int64, wkst time.Weekday) (week, weeks int) {
	start := func(y int) int64 {
		return weekStart(dayNumber(time.Date(y, time.January, 4, 0, 0, 0, 0, time.UTC)), wkst)
	}
	y := civilDate(n).Year()
	s := start(y)
	if n < s {
		y--
		s = start(y)
	} else if next := start(y + 1); n >= next {
		y++
		s = next
	}
	return int((n-s)/7) + 1, int((start(y+1) - s) / 7)
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func daysInYear(y int) int {
	return time.Date(y, time.December, 31, 0, 0, 0, 0, time.UTC).YearDay()
}

func weekdayCode(s string) (time.Weekday, bool) {
	i := slices.Index([]string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}, strings.ToUpper(s))
	return time.Weekday(i), i >= 0
}

// clockText writes seconds after midnight as "HH:MM" or "HH:MM:SS"; overnight
// times wrap to the next day, and the end of the day is "24:00".
func clockText(sec int) string {
	if sec != daySeconds {
		sec %= daySeconds
	}
	h, m, s := sec/3600, sec%3600/60, sec%60
	if s != 0 {
		return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%02d:%02d", h, m)
}

func formatClock(s, layout string) string {
	sec, _, _, ok := parseClock(s, true)
	if !ok {
		return ""
	}
	return time.Date(2000, time.January, 1, 0, 0, sec, 0, time.UTC).Format(layout)
}

func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// goKind names a value's kind for a message to the person who wrote the data.
func goKind(v any) string {
	switch v.(type) {
	case float64, float32, int, int64, json.Number:
		return "number"
	case bool:
		return "true/false value"
	case string:
		return "text"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func hoursClip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
