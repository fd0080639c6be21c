package referral

import (
	"strings"
	"testing"

	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/sms"
)

// "Text me this" fits two GSM-7 segments in both languages, however long
// or accented the listing, and keeps the link and the way to stop.
func TestTextMeBody(t *testing.T) {
	t.Parallel()
	tm := &TextMe{BaseURL: "https://secondchancekc.org/"}
	short := &directory.Listing{ID: "abc", Name: "Food Pantry", Org: "Helping Hands", Phones: []directory.Phone{{Text: "(816) 555-0101"}}}
	long := &directory.Listing{ID: "f59b8a92-1966-5420-bf6f-4a18341eef27",
		Name:   "Programa de Vivienda Transitoria para Hombres “Nueva Raíz” — Educación y Orientación",
		Org:    strings.Repeat("Asociación Metropolitana de Reintegración Comunitaria ", 3),
		Phones: []directory.Phone{{Text: "(816) 555-0116"}}, HoursLine: "Hoy: 8:00–17:00", Alert: "Cerrado temporalmente por reparaciones hasta el lunes."}
	long.Places = append(long.Places, directory.Place{Address: "1234 Avenida Independencia, Kansas City, MO 64124"})
	for _, l := range []*directory.Listing{short, long} {
		for _, lang := range []string{"en", "es"} {
			b := tm.body(l, lang)
			if n := sms.Segments(b); n > textMeSegments {
				t.Errorf("%s %s: %d segments: %q", l.ID, lang, n, b)
			}
			if sms.ToGSM(b) != b {
				t.Errorf("%s %s: not GSM-7: %q", l.ID, lang, b)
			}
			if !strings.Contains(b, "https://secondchancekc.org/services/"+l.ID) || !strings.Contains(b, "STOP") {
				t.Errorf("%s %s: lost the link or STOP: %q", l.ID, lang, b)
			}
		}
	}
	if b := tm.body(short, "en"); !strings.Contains(b, "Food Pantry (Helping Hands). (816) 555-0101.") || strings.Contains(b, "...") {
		t.Errorf("a short listing was cut: %q", b)
	}
}
