package hotline

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Hours is when staff answer the hotline: a weekly schedule and holidays,
// in a time zone (America/Chicago by default).
type Hours struct {
	// Days holds, for each weekday (time.Sunday = 0), the open spans in
	// minutes after midnight; none means closed that day.
	Days [7][]Span
	// Holidays are dates (in Zone) when nobody answers.
	Holidays []civilDate
	Zone     *time.Location
}

// Span is an open period of a day, in minutes after midnight.
type Span struct{ From, To int }

type civilDate struct {
	Y int
	M time.Month
	D int
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseHours reads a weekly schedule such as "mon-fri 09:00-17:00" or
// "mon-thu 09:00-17:00, fri 09:00-12:00" and a holiday list such as
// "2026-12-25, 2026-11-26". An empty schedule means never open (the
// hotline then only offers voicemail). Errors are EINVALID and say what is
// expected.
func ParseHours(schedule, holidays string, zone *time.Location) (Hours, error) {
	h := Hours{Zone: zone}
	if h.Zone == nil {
		h.Zone = time.UTC
	}
	for part := range strings.SplitSeq(schedule, ",") {
		part = strings.TrimSpace(strings.ToLower(part))
		if part == "" {
			continue
		}
		days, span, ok := strings.Cut(part, " ")
		if !ok {
			return h, apperr.Errorf(apperr.EINVALID, "%q: expected days and hours, e.g. \"mon-fri 09:00-17:00\"", part)
		}
		first, last, _ := strings.Cut(days, "-")
		if last == "" {
			last = first
		}
		d0, d1 := slices.Index(dayNames, first), slices.Index(dayNames, last)
		if d0 < 0 || d1 < 0 {
			return h, apperr.Errorf(apperr.EINVALID, "%q: days are sun, mon, tue, wed, thu, fri, sat (e.g. mon-fri)", days)
		}
		from, to, ok := strings.Cut(strings.TrimSpace(span), "-")
		f, err1 := clockMinutes(from)
		t, err2 := clockMinutes(to)
		if !ok || err1 != nil || err2 != nil || t <= f {
			return h, apperr.Errorf(apperr.EINVALID, "%q: expected opening and closing times such as 09:00-17:00", span)
		}
		for d := d0; ; d = (d + 1) % 7 {
			h.Days[d] = append(h.Days[d], Span{f, t})
			if d == d1 {
				break
			}
		}
	}
	for day := range strings.SplitSeq(holidays, ",") {
		day = strings.TrimSpace(day)
		if day == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", day)
		if err != nil {
			return h, apperr.Errorf(apperr.EINVALID, "holiday %q: expected a date such as 2026-12-25", day)
		}
		h.Holidays = append(h.Holidays, civilDate{t.Year(), t.Month(), t.Day()})
	}
	return h, nil
}

func clockMinutes(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		if strings.TrimSpace(s) == "24:00" {
			return 24 * 60, nil
		}
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Open reports whether staff answer at t.
func (h Hours) Open(t time.Time) bool {
	t = t.In(h.Zone)
	if slices.Contains(h.Holidays, civilDate{t.Year(), t.Month(), t.Day()}) {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	for _, s := range h.Days[t.Weekday()] {
		if m >= s.From && m < s.To {
			return true
		}
	}
	return false
}

// Say describes the schedule in a sentence, in English or Spanish, for the
// caller to hear: "Monday to Friday, 9 AM to 5 PM".
func (h Hours) Say(lang string) string {
	names := map[string][]string{
		"en": {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
		"es": {"domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"},
	}[lang]
	if names == nil {
		return h.Say("en")
	}
	// Group consecutive days with the same spans.
	var parts []string
	for d := 1; d <= 7; {
		day := d % 7
		spans := h.Days[day]
		e := d
		for e+1 <= 7 && slices.Equal(h.Days[(e+1)%7], spans) {
			e++
		}
		if len(spans) > 0 {
			days := names[day]
			if e > d {
				if lang == "es" {
					days = "de " + names[day] + " a " + names[e%7]
				} else {
					days = names[day] + " to " + names[e%7]
				}
			}
			var ts []string
			for _, s := range spans {
				if lang == "es" {
					ts = append(ts, "de "+sayClock(s.From, lang)+" a "+sayClock(s.To, lang))
				} else {
					ts = append(ts, sayClock(s.From, lang)+" to "+sayClock(s.To, lang))
				}
			}
			parts = append(parts, days+", "+strings.Join(ts, ", "))
		}
		d = e + 1
	}
	if len(parts) == 0 {
		if lang == "es" {
			return "Por ahora no hay horario de atención por teléfono."
		}
		return "Staff are not taking calls at the moment."
	}
	return strings.Join(parts, "; ")
}

func sayClock(m int, lang string) string {
	h, mm := m/60, m%60
	if lang == "es" {
		if mm == 0 {
			return fmt.Sprintf("%d:00", h)
		}
		return fmt.Sprintf("%d:%02d", h, mm)
	}
	suffix := "AM"
	if h >= 12 && h < 24 {
		suffix = "PM"
	}
	h12 := h % 12
	if h12 == 0 {
		h12 = 12
	}
	if mm == 0 {
		return fmt.Sprintf("%d %s", h12, suffix)
	}
	return fmt.Sprintf("%d:%02d %s", h12, mm, suffix)
}
