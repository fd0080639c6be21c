package hotline

import (
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// needWords are the words, in English and Spanish (without accents), that
// name a need; "person" asks for staff.
var needWords = map[string][]string{
	"employment":     {"job", "jobs", "work", "employment", "hiring", "career", "trabajo", "trabajos", "empleo", "empleos", "chamba"},
	"housing":        {"housing", "house", "home", "shelter", "rent", "apartment", "stay", "bed", "homeless", "vivienda", "casa", "refugio", "alojamiento", "renta", "apartamento", "albergue"},
	"classes":        {"class", "classes", "counseling", "counselling", "counselor", "therapy", "anger", "clase", "clases", "consejeria", "terapia"},
	"mentoring":      {"mentor", "mentors", "mentoring", "mentorship", "mentoria", "mentores"},
	"basic-needs":    {"food", "hungry", "pantry", "meal", "meals", "clothes", "clothing", "shoes", "comida", "hambre", "ropa", "despensa", "zapatos"},
	"id-documents":   {"id", "ids", "identification", "license", "birth", "certificate", "documents", "social", "identificacion", "licencia", "documentos", "acta"},
	"legal":          {"legal", "lawyer", "attorney", "expunge", "expungement", "record", "abogado", "legal"},
	"health":         {"health", "doctor", "clinic", "rehab", "recovery", "medical", "mental", "salud", "medico", "clinica", "recuperacion"},
	"transportation": {"bus", "ride", "transportation", "transit", "car", "transporte", "autobus"},
	"education":      {"ged", "school", "college", "education", "hiset", "escuela", "educacion", "estudiar"},
	"person":         {"person", "someone", "staff", "operator", "agent", "representative", "human", "persona", "alguien", "operador"},
}

// spanishWords mark a first text as Spanish.
var spanishWords = []string{"trabajo", "empleo", "vivienda", "casa", "comida", "ropa", "ayuda", "necesito", "busco", "donde", "hola",
	"clases", "documentos", "identificacion", "abogado", "salud", "escuela", "refugio", "espanol", "quiero", "tengo", "para"}

// fold lowercases text and drops accents: "Vivienda" and "vivíenda" read
// alike.
func fold(s string) string {
	t, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
	if err != nil {
		t = s
	}
	return strings.ToLower(t)
}

func words(s string) []string {
	return strings.FieldsFunc(fold(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// NeedFromText reads the need a person named in a few words: a category
// key of directory.Categories(), "person" for someone asking for staff, or
// "other".
func NeedFromText(text string) string {
	for _, w := range words(text) {
		for need, ws := range needWords {
			for _, x := range ws {
				if w == x {
					return need
				}
			}
		}
	}
	return "other"
}

// looksSpanish reports whether a text uses Spanish words.
func looksSpanish(text string) bool {
	for _, w := range words(text) {
		for _, x := range spanishWords {
			if w == x {
				return true
			}
		}
	}
	return false
}
