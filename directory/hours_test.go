package directory

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/data"
)

// hoursZone is the app's default zone; the tests need the system tz database
// (or time/tzdata, which the binary links).
var hoursZone = func() *time.Location {
	l, err := time.LoadLocation("America/Chicago")
	if err != nil {
		panic(err)
	}
	return l
}()

// ct is a wall-clock time in Chicago: "2026-03-06 17:00" or with seconds.
func ct(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02 15:04:05.000"} {
		if t, err := time.ParseInLocation(layout, s, hoursZone); err == nil {
			return t
		}
	}
	panic("bad test time " + s)
}

// sched builds a schedule row from key, value pairs.
func sched(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func weekly(byday, opens, closes string, kv ...any) map[string]any {
	return sched(append([]any{"freq", "WEEKLY", "byday", byday, "opens_at", opens, "closes_at", closes}, kv...)...)
}

func monthly(opens, closes string, kv ...any) map[string]any {
	return sched(append([]any{"freq", "MONTHLY", "opens_at", opens, "closes_at", closes}, kv...)...)
}

func mustHours(t *testing.T, rows ...map[string]any) Hours {
	t.Helper()
	h, errs := ParseHours(rows, hoursZone)
	for _, err := range errs {
		t.Errorf("ParseHours: %v", err)
	}
	if !h.Known() {
		t.Fatalf("ParseHours(%v): hours not known", rows)
	}
	return h
}

var (
	officeHours = weekly("MO,TU,WE,TH,FR", "08:30:00", "16:30:00")
	allWeek     = weekly("MO,TU,WE,TH,FR,SA,SU", "00:00:00", "23:59:59")
)

func TestHoursOpenAt(t *testing.T) {
	type check struct {
		at   time.Time
		want bool
	}
	tests := []struct {
		name   string
		rows   []map[string]any
		checks []check
	}{
		{"weekday office hours", []map[string]any{officeHours}, []check{
			{ct("2026-03-04 12:00"), true},     // Wednesday, inside
			{ct("2026-03-04 08:29:59"), false}, // before
			{ct("2026-03-04 08:30"), true},     // exactly at open
			{ct("2026-03-04 16:29:59"), true},
			{ct("2026-03-04 16:30"), false}, // exactly at close
			{ct("2026-03-04 23:00"), false},
			{ct("2026-03-07 12:00"), false}, // Saturday
			{ct("2026-03-08 12:00"), false}, // Sunday
			{ct("2026-03-04 12:00").UTC(), true},
			{time.Date(2026, 3, 4, 14, 29, 0, 0, time.UTC), false}, // 08:29 CST, given in UTC
		}},
		{"weekend", []map[string]any{weekly("SA,SU", "10:00", "14:00")}, []check{
			{ct("2026-03-07 11:00"), true},
			{ct("2026-03-08 13:59"), true},
			{ct("2026-03-08 14:00"), false},
			{ct("2026-03-09 11:00"), false},
		}},
		{"overnight Friday", []map[string]any{weekly("FR", "20:00:00", "06:00:00")}, []check{
			{ct("2026-03-06 19:59"), false},
			{ct("2026-03-06 20:00"), true},
			{ct("2026-03-06 23:59:59"), true},
			{ct("2026-03-07 00:00"), true},
			{ct("2026-03-07 03:00"), true}, // Saturday morning
			{ct("2026-03-07 06:00"), false},
			{ct("2026-03-05 03:00"), false}, // Thursday morning: no Wednesday night
			{ct("2026-03-07 21:00"), false},
		}},
		{"overnight Sunday into Monday", []map[string]any{weekly("SU", "22:00", "07:00")}, []check{
			{ct("2026-03-01 22:30"), true},
			{ct("2026-03-02 06:59"), true},
			{ct("2026-03-02 07:00"), false},
			{ct("2026-03-01 03:00"), false},
		}},
		{"24/7", []map[string]any{allWeek}, []check{
			{ct("2026-03-01 00:00"), true},
			{ct("2026-03-04 12:00"), true},
			{ct("2026-03-07 23:59:59.999"), true},                 // 23:59:59 means midnight
			{ct("2026-03-08 03:30"), true},                        // DST day
			{time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC), true}, // 01:30 CDT
			{time.Date(2026, 11, 1, 7, 30, 0, 0, time.UTC), true}, // 01:30 CST
		}},
		{"all day written 00:00-00:00", []map[string]any{weekly("TU", "00:00", "00:00")}, []check{
			{ct("2026-03-03 00:00"), true},
			{ct("2026-03-03 23:59:59"), true},
			{ct("2026-03-04 00:00"), false},
		}},
		{"24 hours from 07:00", []map[string]any{weekly("TU", "07:00", "07:00")}, []check{
			{ct("2026-03-03 06:59"), false},
			{ct("2026-03-03 07:00"), true},
			{ct("2026-03-04 06:59"), true},
			{ct("2026-03-04 07:00"), false},
		}},
		{"until midnight written 00:00", []map[string]any{weekly("TU", "18:00", "00:00")}, []check{
			{ct("2026-03-03 23:59"), true},
			{ct("2026-03-04 00:00"), false},
		}},
		{"closes 24:00", []map[string]any{weekly("TU", "18:00", "24:00")}, []check{
			{ct("2026-03-03 23:59"), true},
			{ct("2026-03-04 00:00"), false},
		}},
		{"no closing time: open to the end of the day", []map[string]any{sched("freq", "WEEKLY", "byday", "TU", "opens_at", "09:00:00")}, []check{
			{ct("2026-03-03 08:59"), false},
			{ct("2026-03-03 23:00"), true},
			{ct("2026-03-04 00:30"), false},
		}},
		{"union of rows", []map[string]any{weekly("MO,WE", "09:00", "12:00"), weekly("WE", "13:00", "17:00")}, []check{
			{ct("2026-03-02 10:00"), true},
			{ct("2026-03-02 14:00"), false},
			{ct("2026-03-04 12:30"), false},
			{ct("2026-03-04 14:00"), true},
		}},
		{"every other week from dtstart", []map[string]any{weekly("TU", "09:00", "12:00", "interval", 2.0, "dtstart", "2026-03-03")}, []check{
			{ct("2026-02-24 10:00"), false}, // before dtstart
			{ct("2026-03-03 10:00"), true},
			{ct("2026-03-10 10:00"), false},
			{ct("2026-03-17 10:00"), true},
			{ct("2026-03-24 10:00"), false},
			{ct("2026-03-31 10:00"), true},
		}},
		{"every third week", []map[string]any{weekly("TU", "09:00", "12:00", "interval", 3.0, "dtstart", "2026-03-03")}, []check{
			{ct("2026-03-03 10:00"), true},
			{ct("2026-03-10 10:00"), false},
			{ct("2026-03-17 10:00"), false},
			{ct("2026-03-24 10:00"), true},
		}},
		{"every other week, weeks start Monday", []map[string]any{weekly("SU,MO", "09:00", "12:00", "interval", 2.0, "dtstart", "2026-03-02")}, []check{
			{ct("2026-03-02 10:00"), true},
			{ct("2026-03-08 10:00"), true}, // same Monday-Sunday week
			{ct("2026-03-09 10:00"), false},
			{ct("2026-03-15 10:00"), false},
			{ct("2026-03-16 10:00"), true},
		}},
		{"every other week, weeks start Sunday", []map[string]any{weekly("SU,MO", "09:00", "12:00", "interval", 2.0, "dtstart", "2026-03-02", "wkst", "SU")}, []check{
			{ct("2026-03-02 10:00"), true},
			{ct("2026-03-08 10:00"), false}, // a new Sunday-Saturday week
			{ct("2026-03-09 10:00"), false},
			{ct("2026-03-15 10:00"), true},
			{ct("2026-03-16 10:00"), true},
		}},
		{"monthly on the 1st and 15th", []map[string]any{monthly("09:00", "12:00", "bymonthday", "1,15")}, []check{
			{ct("2026-03-01 10:00"), true},
			{ct("2026-03-14 10:00"), false},
			{ct("2026-03-15 10:00"), true},
			{ct("2026-04-01 10:00"), true},
		}},
		{"monthly on the last day", []map[string]any{monthly("09:00", "12:00", "bymonthday", "-1")}, []check{
			{ct("2026-02-28 10:00"), true},
			{ct("2026-03-30 10:00"), false},
			{ct("2026-03-31 10:00"), true},
		}},
		{"monthly on the 1st and 3rd Monday", []map[string]any{monthly("09:00", "12:00", "byday", "1MO,3MO")}, []check{
			{ct("2026-03-02 10:00"), true},
			{ct("2026-03-09 10:00"), false},
			{ct("2026-03-16 10:00"), true},
			{ct("2026-03-23 10:00"), false},
			{ct("2026-04-06 10:00"), true},
		}},
		{"monthly on the last Friday", []map[string]any{monthly("09:00", "12:00", "byday", "-1FR")}, []check{
			{ct("2026-02-27 10:00"), true},
			{ct("2026-03-20 10:00"), false},
			{ct("2026-03-27 10:00"), true},
			{ct("2026-05-22 10:00"), false},
			{ct("2026-05-29 10:00"), true}, // a five-Friday month
		}},
		{"monthly on every Friday the 13th", []map[string]any{monthly("09:00", "12:00", "byday", "FR", "bymonthday", "13")}, []check{
			{ct("2026-02-13 10:00"), true},
			{ct("2026-03-13 10:00"), true},
			{ct("2026-03-06 10:00"), false},
			{ct("2026-04-13 10:00"), false}, // a Monday
		}},
		{"every other month from dtstart", []map[string]any{monthly("09:00", "12:00", "bymonthday", "1", "interval", 2.0, "dtstart", "2026-01-01")}, []check{
			{ct("2026-01-01 10:00"), true},
			{ct("2026-02-01 10:00"), false},
			{ct("2026-03-01 10:00"), true},
		}},
		{"monthly on dtstart's day", []map[string]any{monthly("09:00", "12:00", "dtstart", "2026-01-10")}, []check{
			{ct("2026-03-10 10:00"), true},
			{ct("2026-03-11 10:00"), false},
		}},
		{"valid_from and valid_to", []map[string]any{weekly("MO,TU,WE,TH,FR", "09:00", "17:00", "valid_from", "2026-03-02", "valid_to", "2026-03-31")}, []check{
			{ct("2026-02-27 10:00"), false},
			{ct("2026-03-02 10:00"), true},
			{ct("2026-03-31 10:00"), true}, // valid_to is the last valid day
			{ct("2026-04-01 10:00"), false},
		}},
		{"an overnight opening on valid_to runs into the next day", []map[string]any{weekly("FR", "20:00", "06:00", "valid_to", "2026-03-06")}, []check{
			{ct("2026-03-07 03:00"), true},
			{ct("2026-03-14 03:00"), false},
		}},
		{"until", []map[string]any{weekly("TU,WE", "09:00", "12:00", "dtstart", "2026-03-03", "until", "2026-03-10")}, []check{
			{ct("2026-03-10 10:00"), true},
			{ct("2026-03-11 10:00"), false},
		}},
		{"count", []map[string]any{weekly("MO,WE", "09:00", "12:00", "dtstart", "2026-03-02", "count", 3.0)}, []check{
			{ct("2026-03-02 10:00"), true},
			{ct("2026-03-04 10:00"), true},
			{ct("2026-03-09 10:00"), true},
			{ct("2026-03-11 10:00"), false},
		}},
		{"byweekno", []map[string]any{weekly("MO", "09:00", "12:00", "byweekno", "10,-1")}, []check{
			{ct("2026-03-02 10:00"), true}, // ISO week 10
			{ct("2026-03-09 10:00"), false},
			{ct("2026-12-21 10:00"), false},
			{ct("2026-12-28 10:00"), true}, // week 53, the last of 2026
		}},
		{"byyearday", []map[string]any{weekly("MO,TU,WE,TH,FR,SA,SU", "09:00", "12:00", "byyearday", "1,-1")}, []check{
			{ct("2026-01-01 10:00"), true},
			{ct("2026-01-02 10:00"), false},
			{ct("2026-12-31 10:00"), true},
		}},
		{"DST starts: Sunday hours keep their wall-clock times", []map[string]any{weekly("SU", "08:00", "17:00")}, []check{
			{ct("2026-03-08 07:59"), false},
			{ct("2026-03-08 08:00"), true},
			{time.Date(2026, 3, 8, 13, 0, 0, 0, time.UTC), true},   // 08:00 CDT
			{time.Date(2026, 3, 8, 12, 59, 0, 0, time.UTC), false}, // 07:59 CDT
			{ct("2026-03-08 16:59"), true},
			{ct("2026-03-08 17:00"), false},
			{ct("2026-03-01 07:59"), false},
			{ct("2026-03-01 08:00"), true},
		}},
		{"DST ends: Sunday hours keep their wall-clock times", []map[string]any{weekly("SU", "08:00", "17:00")}, []check{
			{ct("2026-11-01 07:59"), false},
			{ct("2026-11-01 08:00"), true},
			{time.Date(2026, 11, 1, 14, 0, 0, 0, time.UTC), true},   // 08:00 CST
			{time.Date(2026, 11, 1, 13, 59, 0, 0, time.UTC), false}, // 07:59 CST
			{ct("2026-11-01 16:59"), true},
			{ct("2026-11-01 17:00"), false},
		}},
		{"DST: an overnight that gets a short night", []map[string]any{weekly("SA", "22:00", "06:00")}, []check{
			{ct("2026-03-08 05:59"), true},
			{ct("2026-03-08 06:00"), false},
			{ct("2026-11-01 05:59"), true},
			{ct("2026-11-01 06:00"), false},
			{time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC), true}, // 01:30 CDT
			{time.Date(2026, 11, 1, 7, 30, 0, 0, time.UTC), true}, // 01:30 CST
		}},
		{"timezone -6 means Chicago, daylight saving and all", []map[string]any{weekly("WE", "09:00", "17:00", "timezone", -6.0)}, []check{
			{ct("2026-07-01 08:59"), false},
			{ct("2026-07-01 09:00"), true},
			{ct("2026-03-04 09:00"), true},
		}},
		{"timezone 0 is UTC", []map[string]any{weekly("WE", "09:00", "17:00", "timezone", 0.0)}, []check{
			{ct("2026-03-04 02:59"), false},
			{ct("2026-03-04 03:00"), true}, // 09:00 UTC
			{ct("2026-03-04 10:59"), true},
			{ct("2026-03-04 11:00"), false},
		}},
		{"timezone as text", []map[string]any{weekly("WE", "09:00", "17:00", "timezone", "-8")}, []check{
			{ct("2026-03-04 10:59"), false},
			{ct("2026-03-04 11:00"), true}, // 09:00 UTC-8
		}},
		{"timezone as a zone name", []map[string]any{weekly("WE", "09:00", "17:00", "timezone", "America/New_York")}, []check{
			{ct("2026-03-04 07:59"), false},
			{ct("2026-03-04 08:00"), true},
			{ct("2026-07-01 08:00"), true},
		}},
		{"UTC offset on the times", []map[string]any{weekly("WE", "09:00-08:00", "17:00-08:00")}, []check{
			{ct("2026-03-04 10:59"), false},
			{ct("2026-03-04 11:00"), true},
		}},
		{"Z on the times", []map[string]any{weekly("WE", "15:00Z", "16:00Z")}, []check{
			{ct("2026-03-04 09:00"), true},
			{ct("2026-03-04 10:00"), false},
		}},
		{"lower case and spaces", []map[string]any{sched("freq", " weekly ", "byday", "mo, we ,", "opens_at", "9:00", "closes_at", "17:00")}, []check{
			{ct("2026-03-02 09:00"), true},
			{ct("2026-03-04 16:00"), true},
			{ct("2026-03-03 10:00"), false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHours(t, tt.rows...)
			for _, c := range tt.checks {
				if got := h.OpenAt(c.at); got != c.want {
					t.Errorf("OpenAt(%s) = %v, want %v", c.at.In(hoursZone).Format("Mon 2006-01-02 15:04:05 MST"), got, c.want)
				}
			}
		})
	}
}

func TestHoursNextOpen(t *testing.T) {
	tests := []struct {
		name string
		rows []map[string]any
		at   time.Time
		want time.Time // zero for none
	}{
		{"Friday evening to Monday 08:30 (across DST)", []map[string]any{officeHours}, ct("2026-03-06 18:00"), ct("2026-03-09 08:30")},
		{"before opening", []map[string]any{officeHours}, ct("2026-03-04 07:00"), ct("2026-03-04 08:30")},
		{"exactly at opening: the next one", []map[string]any{officeHours}, ct("2026-03-04 08:30"), ct("2026-03-05 08:30")},
		{"during hours: the opening after this span", []map[string]any{officeHours}, ct("2026-03-04 10:00"), ct("2026-03-05 08:30")},
		{"at closing", []map[string]any{officeHours}, ct("2026-03-04 16:30"), ct("2026-03-05 08:30")},
		{"given in UTC", []map[string]any{officeHours}, ct("2026-03-06 18:00").UTC(), ct("2026-03-09 08:30")},
		{"lunch break", []map[string]any{weekly("MO,TU,WE,TH,FR", "09:00", "12:00"), weekly("MO,TU,WE,TH,FR", "13:00", "17:00")}, ct("2026-03-04 12:15"), ct("2026-03-04 13:00")},
		{"touching spans are one opening", []map[string]any{weekly("WE", "09:00", "12:00"), weekly("WE", "12:00", "17:00")}, ct("2026-03-04 10:00"), ct("2026-03-11 09:00")},
		{"overnight", []map[string]any{weekly("FR", "20:00", "06:00")}, ct("2026-03-07 03:00"), ct("2026-03-13 20:00")},
		{"Saturday night into Sunday", []map[string]any{weekly("SA", "22:00", "06:00")}, ct("2026-03-07 12:00"), ct("2026-03-07 22:00")},
		{"last Friday of the month", []map[string]any{monthly("09:00", "12:00", "byday", "-1FR")}, ct("2026-03-28 10:00"), ct("2026-04-24 09:00")},
		{"every other week", []map[string]any{weekly("TU", "09:00", "12:00", "interval", 2.0, "dtstart", "2026-03-03")}, ct("2026-03-04 10:00"), ct("2026-03-17 09:00")},
		{"not yet valid", []map[string]any{weekly("MO", "09:00", "12:00", "valid_from", "2026-04-01")}, ct("2026-03-02 10:00"), ct("2026-04-06 09:00")},
		{"24/7 never opens: it never closes", []map[string]any{allWeek}, ct("2026-03-04 10:00"), time.Time{}},
		{"24/7 but not yet", []map[string]any{weekly("MO,TU,WE,TH,FR,SA,SU", "00:00", "00:00", "valid_from", "2026-03-10")}, ct("2026-03-04 10:00"), ct("2026-03-10 00:00")},
		{"no longer valid", []map[string]any{weekly("MO", "09:00", "12:00", "valid_to", "2026-03-01")}, ct("2026-03-04 10:00"), time.Time{}},
		{"more than 62 days away", []map[string]any{weekly("MO", "09:00", "12:00", "valid_from", "2026-09-01")}, ct("2026-03-04 10:00"), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHours(t, tt.rows...)
			got, ok := h.NextOpen(tt.at)
			if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
				t.Fatalf("NextOpen(%s) = %s, %v; want %s", tt.at, got, ok, tt.want)
			}
			if ok && got.Location() != hoursZone {
				t.Errorf("NextOpen in %s, want %s", got.Location(), hoursZone)
			}
			if ok && (!h.OpenAt(got) || h.OpenAt(got.Add(-time.Second))) {
				t.Errorf("NextOpen %s is not a closed-to-open moment", got)
			}
		})
	}
}

func TestHoursUnknown(t *testing.T) {
	for name, rows := range map[string][]map[string]any{
		"no rows":          nil,
		"description only": {sched("id", "x", "description", "Call for hours.", "notes", "Closed on holidays.")},
		"nil row":          {nil},
		"only bad rows":    {weekly("MO", "25:00", "17:00")},
	} {
		t.Run(name, func(t *testing.T) {
			h, _ := ParseHours(rows, hoursZone)
			if h.Known() {
				t.Error("Known() = true")
			}
			if h.OpenAt(ct("2026-03-02 10:00")) {
				t.Error("OpenAt = true")
			}
			if at, ok := h.NextOpen(ct("2026-03-02 10:00")); ok {
				t.Errorf("NextOpen = %s", at)
			}
			if w := h.Week(ct("2026-03-02 10:00")); len(w) != 7 || slices.ContainsFunc(w, func(d Day) bool { return len(d.Spans) > 0 }) {
				t.Errorf("Week = %v", w)
			}
		})
	}
	var zero Hours
	if now := ct("2026-03-02 10:00"); zero.Known() || zero.OpenAt(now) || len(zero.Week(now)) != 7 {
		t.Error("zero Hours is not unknown")
	}
}

// TestParseHoursDefaultZone: no zone means America/Chicago.
func TestParseHoursDefaultZone(t *testing.T) {
	h, errs := ParseHours([]map[string]any{officeHours}, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if !h.OpenAt(time.Date(2026, 3, 4, 14, 30, 0, 0, time.UTC)) || h.OpenAt(time.Date(2026, 3, 4, 14, 29, 0, 0, time.UTC)) {
		t.Error("not evaluated in Chicago time")
	}
	if next, _ := h.NextOpen(ct("2026-03-04 07:00")); next.Location().String() != "America/Chicago" {
		t.Errorf("NextOpen in %s", next.Location())
	}
}

func TestHoursWeek(t *testing.T) {
	h := mustHours(t, officeHours, weekly("SA", "10:00", "14:00"), weekly("FR", "20:00", "06:00"))
	week := h.Week(ct("2026-03-04 12:00"))
	if len(week) != 7 {
		t.Fatalf("%d days", len(week))
	}
	office := []Span{{Opens: "08:30", Closes: "16:30"}}
	want := [][]Span{office, office, office, office,
		{{Opens: "08:30", Closes: "16:30"}, {Opens: "20:00", Closes: "06:00", Overnight: true}},
		{{Opens: "10:00", Closes: "14:00"}},
		{}}
	for i, d := range week {
		wantDate := time.Date(2026, 3, 2+i, 0, 0, 0, 0, hoursZone)
		if !d.Date.Equal(wantDate) || d.Date.Location() != hoursZone {
			t.Errorf("day %d is %s, want %s", i, d.Date, wantDate)
		}
		if d.Today != (i == 2) {
			t.Errorf("day %d Today = %v", i, d.Today)
		}
		if !slices.Equal(d.Spans, want[i]) {
			t.Errorf("%s: %+v, want %+v", d.Date.Format("Mon"), d.Spans, want[i])
		}
	}
	// Sunday belongs to the week before: weeks run Monday to Sunday.
	if w := h.Week(ct("2026-03-08 23:00")); !w[6].Today || w[0].Date.Day() != 2 {
		t.Errorf("Week(Sunday) starts %s, Today %v", w[0].Date, w[6].Today)
	}
	// A monthly rule shows on its real date only.
	m := mustHours(t, monthly("09:00", "12:00", "byday", "-1FR"))
	for _, d := range m.Week(ct("2026-03-25 12:00")) {
		if got := len(d.Spans) > 0; got != (d.Date.Day() == 27) {
			t.Errorf("last Friday rule on %s: %v", d.Date.Format("Mon Jan 2"), d.Spans)
		}
	}
}

func TestHoursOn(t *testing.T) {
	tests := []struct {
		name string
		rows []map[string]any
		want []Span
	}{
		{"24/7", []map[string]any{allWeek}, []Span{{Opens: "00:00", Closes: "24:00", AllDay: true}}},
		{"00:00-00:00", []map[string]any{weekly("WE", "00:00", "00:00")}, []Span{{Opens: "00:00", Closes: "24:00", AllDay: true}}},
		{"touching spans merge", []map[string]any{weekly("WE", "12:00", "17:00"), weekly("WE", "09:00", "12:00")}, []Span{{Opens: "09:00", Closes: "17:00"}}},
		{"duplicates merge", []map[string]any{officeHours, officeHours}, []Span{{Opens: "08:30", Closes: "16:30"}}},
		{"a gap stays", []map[string]any{weekly("WE", "13:00", "17:00"), weekly("WE", "09:00", "12:00")}, []Span{{Opens: "09:00", Closes: "12:00"}, {Opens: "13:00", Closes: "17:00"}}},
		{"all day absorbs", []map[string]any{allWeek, officeHours}, []Span{{Opens: "00:00", Closes: "24:00", AllDay: true}}},
		{"open-ended", []map[string]any{sched("freq", "WEEKLY", "byday", "WE", "opens_at", "09:00")}, []Span{{Opens: "09:00", OpenEnded: true}}},
		{"a known close beats an unknown one", []map[string]any{sched("freq", "WEEKLY", "byday", "WE", "opens_at", "18:00"), weekly("WE", "09:00", "23:59:59")}, []Span{{Opens: "09:00", Closes: "24:00"}}},
		{"seconds kept", []map[string]any{weekly("WE", "09:00:30", "17:00")}, []Span{{Opens: "09:00:30", Closes: "17:00"}}},
		{"own zone", []map[string]any{weekly("WE", "09:00", "17:00", "timezone", 0.0)}, []Span{{Opens: "09:00", Closes: "17:00", Zone: "UTC"}}},
		{"own offset", []map[string]any{weekly("WE", "09:00", "17:00", "timezone", 5.5)}, []Span{{Opens: "09:00", Closes: "17:00", Zone: "UTC+05:30"}}},
		{"local offset is the local zone", []map[string]any{weekly("WE", "09:00-05:00", "17:00-05:00")}, []Span{{Opens: "09:00", Closes: "17:00"}}},
		{"closed", []map[string]any{weekly("TU", "09:00", "17:00")}, []Span{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustHours(t, tt.rows...).On(ct("2026-03-04 23:00"))
			if !slices.Equal(got, tt.want) {
				t.Errorf("On(Wednesday) = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHoursSpanFormat(t *testing.T) {
	s := Span{Opens: "08:30", Closes: "16:30"}
	if got := s.OpensAt("3:04 PM") + " - " + s.ClosesAt("3:04 PM"); got != "8:30 AM - 4:30 PM" {
		t.Errorf("got %q", got)
	}
	all := Span{Opens: "00:00", Closes: "24:00", AllDay: true}
	if got := all.OpensAt("15:04") + " " + all.ClosesAt("3:04 PM"); got != "00:00 12:00 AM" {
		t.Errorf("got %q", got)
	}
	if got := (Span{Opens: "09:00", OpenEnded: true}).ClosesAt("3:04 PM"); got != "" {
		t.Errorf("open-ended ClosesAt = %q", got)
	}
}

func TestParseHoursErrors(t *testing.T) {
	type want struct{ field, value, reason string }
	tests := []struct {
		name string
		row  map[string]any
		want []want
	}{
		{"opens_at 25:00", weekly("MO", "25:00", "17:00"), []want{{"opens_at", "25:00", "not a time of day"}}},
		{"closes_at 9am", weekly("MO", "09:00", "5pm"), []want{{"closes_at", "5pm", "not a time of day"}}},
		{"opens_at 24:00", weekly("MO", "24:00", "17:00"), []want{{"opens_at", "24:00", "not a time of day"}}},
		{"opens_at a number", sched("freq", "WEEKLY", "byday", "MO", "opens_at", 9.0, "closes_at", "17:00"), []want{{"opens_at", "9", "is a number, expected text"}}},
		{"freq DAILY", sched("freq", "DAILY", "byday", "MO", "opens_at", "09:00", "closes_at", "17:00"), []want{{"freq", "DAILY", "not WEEKLY or MONTHLY"}}},
		{"freq missing", sched("byday", "MO", "opens_at", "09:00", "closes_at", "17:00"), []want{{"freq", "", "missing"}}},
		{"opens_at missing", sched("freq", "WEEKLY", "byday", "MO", "closes_at", "17:00"), []want{{"opens_at", "", "missing"}}},
		{"byday unknown", weekly("MO,FUNDAY", "09:00", "17:00"), []want{{"byday", "MO,FUNDAY", `"FUNDAY"`}}},
		{"byday ordinal on WEEKLY", weekly("1MO", "09:00", "17:00"), []want{{"byday", "1MO", "need freq MONTHLY"}}},
		{"byday ordinal 6", monthly("09:00", "17:00", "byday", "6MO"), []want{{"byday", "6MO", "1 to 5"}}},
		{"bymonthday 0", monthly("09:00", "17:00", "bymonthday", "0"), []want{{"bymonthday", "0", "whole number from 1 to 31"}}},
		{"bymonthday 32", monthly("09:00", "17:00", "bymonthday", "1,32"), []want{{"bymonthday", "1,32", `"32"`}}},
		{"byweekno 54", weekly("MO", "09:00", "17:00", "byweekno", "54"), []want{{"byweekno", "54", "1 to 53"}}},
		{"interval 0", weekly("MO", "09:00", "17:00", "interval", 0.0, "dtstart", "2026-03-02"), []want{{"interval", "0", "whole number"}}},
		{"interval 1.5", weekly("MO", "09:00", "17:00", "interval", 1.5, "dtstart", "2026-03-02"), []want{{"interval", "1.5", "whole number"}}},
		{"interval text", weekly("MO", "09:00", "17:00", "interval", "two", "dtstart", "2026-03-02"), []want{{"interval", "two", "not a number"}}},
		{"interval without dtstart", weekly("MO", "09:00", "17:00", "interval", 2.0), []want{{"interval", "2", "needs a dtstart"}}},
		{"count without dtstart", weekly("MO", "09:00", "17:00", "count", 4.0), []want{{"count", "4", "needs a dtstart"}}},
		{"WEEKLY without days", sched("freq", "WEEKLY", "opens_at", "09:00", "closes_at", "17:00"), []want{{"byday", "", "WEEKLY schedule needs its days"}}},
		{"MONTHLY without days", monthly("09:00", "17:00"), []want{{"bymonthday", "", "MONTHLY schedule needs"}}},
		{"bad valid_from", weekly("MO", "09:00", "17:00", "valid_from", "2026-13-01"), []want{{"valid_from", "2026-13-01", "YYYY-MM-DD"}}},
		{"valid_to before valid_from", weekly("MO", "09:00", "17:00", "valid_from", "2026-03-02", "valid_to", "2026-03-01"), []want{{"valid_to", "2026-03-01", "before valid_from"}}},
		{"until before dtstart", weekly("MO", "09:00", "17:00", "dtstart", "2026-03-02", "until", "2026-03-01"), []want{{"until", "2026-03-01", "before dtstart"}}},
		{"wkst", weekly("MO", "09:00", "17:00", "wkst", "MON"), []want{{"wkst", "MON", "two-letter day code"}}},
		{"timezone out of range", weekly("MO", "09:00", "17:00", "timezone", 20.0), []want{{"timezone", "20", "-14 to 14"}}},
		{"timezone unknown name", weekly("MO", "09:00", "17:00", "timezone", "Mars/Olympus"), []want{{"timezone", "Mars/Olympus", "time zone name"}}},
		{"offsets disagree", weekly("MO", "09:00-05:00", "17:00-06:00"), []want{{"closes_at", "17:00-06:00", "different UTC offset"}}},
		{"timezone disagrees with the times", weekly("MO", "09:00+01:00", "17:00+01:00", "timezone", 2.0), []want{{"timezone", "2", "disagrees"}}},
		{"several problems at once", sched("freq", "DAILY", "byday", "MO", "opens_at", "25:00", "closes_at", "17:00"), []want{
			{"freq", "DAILY", "not WEEKLY or MONTHLY"}, {"opens_at", "25:00", "not a time of day"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := weekly("TU", "09:00", "12:00")
			row := tt.row
			row["id"] = "44444444-4444-4444-8444-444444444444"
			h, errs := ParseHours([]map[string]any{good, row}, hoursZone)
			if len(errs) != len(tt.want) {
				t.Fatalf("%d errors %v, want %d", len(errs), errs, len(tt.want))
			}
			for i, err := range errs {
				var se *ScheduleError
				if !errors.As(err, &se) {
					t.Fatalf("%T is not a *ScheduleError", err)
				}
				w := tt.want[i]
				if se.Index != 1 || se.ID != row["id"] || se.Field != w.field || se.Value != w.value || !strings.Contains(se.Reason, w.reason) {
					t.Errorf("error %+v, want field %s value %q reason containing %q", se, w.field, w.value, w.reason)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, "schedules[1] (id 44444444-4444-4444-8444-444444444444): "+w.field) || (w.value != "" && !strings.Contains(msg, fmt.Sprintf("%q", w.value))) {
					t.Errorf("message %q does not name the row, field and value", msg)
				}
			}
			// The bad row is skipped and the good one kept.
			if !h.Known() || !h.OpenAt(ct("2026-03-03 10:00")) || h.OpenAt(ct("2026-03-02 10:00")) {
				t.Error("the good row was not kept alone")
			}
		})
	}
}

// TestHoursDemoSchedules parses every schedule in the demo directory: the
// service's own, each service at location's and each location's.
func TestHoursDemoSchedules(t *testing.T) {
	b, err := fs.ReadFile(data.FS, "demo/services.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	type rows = []map[string]any
	var svc struct {
		Name      string `json:"name"`
		Schedules rows   `json:"schedules"`
		SALs      []struct {
			ID        string `json:"id"`
			Schedules rows   `json:"schedules"`
			Location  struct {
				Name      string `json:"name"`
				Schedules rows   `json:"schedules"`
			} `json:"location"`
		} `json:"service_at_locations"`
	}
	sets, schedules := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		svc.Schedules, svc.SALs = nil, nil
		if err := json.Unmarshal(sc.Bytes(), &svc); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		check := func(what string, rs rows) {
			if len(rs) == 0 {
				return
			}
			sets++
			schedules += len(rs)
			h, errs := ParseHours(rs, hoursZone)
			for _, err := range errs {
				t.Errorf("line %d %s: %v", line, what, err)
			}
			if !h.Known() {
				t.Errorf("line %d %s: hours unknown", line, what)
			}
		}
		check(svc.Name, svc.Schedules)
		for _, sal := range svc.SALs {
			check(svc.Name+" at "+sal.Location.Name, sal.Schedules)
			check(sal.Location.Name, sal.Location.Schedules)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if schedules < 50 {
		t.Errorf("only %d schedules in %d sets: the demo data changed shape?", schedules, sets)
	}
	t.Logf("%d schedules in %d sets", schedules, sets)
}

// FuzzParseHours feeds ParseHours arbitrary field values; it must never
// panic, and whatever it accepts must answer every question without
// panicking either.
func FuzzParseHours(f *testing.F) {
	f.Add("WEEKLY", "MO,TU,WE,TH,FR", "08:30:00", "16:30:00", "", "", "", 1.0, 0.0, "")
	f.Add("MONTHLY", "1MO,-1FR", "20:00", "06:00", "1,-1", "2026-03-02", "2026-12-31", 2.0, 5.0, "-6")
	f.Add("WEEKLY", "SU", "00:00", "00:00", "", "2026-03-08", "", 3.0, 0.0, "5.5")
	f.Add("monthly", "5SU", "09:00-05:00", "24:00", "31", "0001-01-01", "9999-12-31", 1000.0, 1e6, "America/New_York")
	f.Fuzz(func(t *testing.T, freq, byday, opens, closes, bymonthday, dtstart, until string, interval, count float64, tz string) {
		row := map[string]any{"freq": freq, "byday": byday, "opens_at": opens, "closes_at": closes,
			"bymonthday": bymonthday, "byweekno": bymonthday, "dtstart": dtstart, "until": until, "valid_from": dtstart,
			"interval": interval, "count": count, "timezone": tz}
		if count == 0 {
			delete(row, "count")
		}
		h, errs := ParseHours([]map[string]any{row}, hoursZone)
		for _, err := range errs {
			_ = err.Error()
		}
		if len(errs) > 0 && h.Known() {
			t.Fatalf("Known with errors %v", errs)
		}
		at := time.Date(2026, 3, 8, 1, 30, 0, 0, hoursZone)
		h.OpenAt(at)
		if next, ok := h.NextOpen(at); ok && !next.After(at) {
			t.Fatalf("NextOpen %s is not after %s", next, at)
		}
		for _, d := range h.Week(at) {
			for _, s := range d.Spans {
				s.OpensAt("3:04 PM")
				s.ClosesAt("3:04 PM")
			}
		}
	})
}
