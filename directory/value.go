package directory

import (
	"encoding/json"
	"fmt"
	"math"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Parse turns the text of one field (a CSV cell, or a JSON string) into the
// value stored for it: nil for empty, a string in canonical form, or a
// float64. The error says why the text is not acceptable, in words for the
// person who wrote the file.
func (f Field) Parse(s string) (any, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("is not valid UTF-8 text (save the file as UTF-8)")
	}
	if strings.ContainsRune(s, 0) {
		return nil, fmt.Errorf("contains a NUL character")
	}
	// Line breaks are stored as \n: CSV readers (encoding/csv among them)
	// turn a quoted \r\n into \n, so text kept with \r\n (from JSON, or a
	// browser form) would change on every tabular round trip.
	s = strings.ReplaceAll(s, "\r\n", "\n")
	t := strings.TrimSpace(s)
	if t == "" {
		return nil, nil
	}
	switch f.Type {
	case "number", "integer":
		n, err := strconv.ParseFloat(t, 64)
		if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, fmt.Errorf("%q is not a number", clip(t))
		}
		return n, nil
	case "date":
		d, err := time.Parse(time.DateOnly, t)
		if err != nil {
			return nil, fmt.Errorf("%q is not a date in the form YYYY-MM-DD", clip(t))
		}
		return d.Format(time.DateOnly), nil
	case "time":
		for _, layout := range []string{"15:04:05", "15:04", "15:04:05Z07:00", "15:04Z07:00"} {
			if d, err := time.Parse(layout, t); err == nil {
				return d.Format("15:04:05"), nil
			}
		}
		return nil, fmt.Errorf("%q is not a time of day in the form HH:MM or HH:MM:SS (24-hour)", clip(t))
	case "datetime":
		d, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return nil, fmt.Errorf("%q is not a date and time in RFC 3339 form, e.g. 2026-03-15T10:30:45.123Z", clip(t))
		}
		return d.UTC().Format("2006-01-02T15:04:05.000Z07:00"), nil
	}
	switch f.Format {
	case "uuid":
		if len(t) != 36 {
			return nil, fmt.Errorf("%q is not a UUID (36 characters like 3fa85f64-5717-4562-b3fc-2c963f66afa6)", clip(t))
		}
		u, err := uuid.Parse(t)
		if err != nil {
			return nil, fmt.Errorf("%q is not a UUID (36 characters like 3fa85f64-5717-4562-b3fc-2c963f66afa6)", clip(t))
		}
		return u.String(), nil
	case "email":
		a, err := mail.ParseAddress(t)
		if err != nil || a.Address != t {
			return nil, fmt.Errorf("%q is not an email address", clip(t))
		}
		return t, nil
	case "uri":
		u, err := url.Parse(t)
		if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") || strings.ContainsAny(t, " \t\n") {
			return nil, fmt.Errorf("%q is not a full URL (it needs a scheme, e.g. https://example.org)", clip(t))
		}
		return t, nil
	}
	if len(f.Enum) > 0 && !slices.Contains(f.Enum, t) {
		hint := ""
		for _, e := range f.Enum {
			if strings.EqualFold(e, t) {
				hint = fmt.Sprintf(" (did you mean %q? values are case-sensitive)", e)
			}
		}
		return nil, fmt.Errorf("%q is not one of %s%s", clip(t), strings.Join(f.Enum, ", "), hint)
	}
	if len(f.Enum) > 0 {
		// The value was checked without its surrounding spaces, so it is
		// stored without them (the schema's CHECK constraints compare
		// exactly).
		return t, nil
	}
	return s, nil
}

// FromJSON turns a decoded JSON value (decoded with UseNumber) into the value
// stored for the field.
func (f Field) FromJSON(v any) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return f.Parse(v)
	case json.Number:
		return f.Parse(v.String())
	case bool:
		return f.Parse(strconv.FormatBool(v))
	default:
		return nil, fmt.Errorf("is a JSON %s, expected a %s", jsonKind(v), f.Type)
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case json.Number, float64:
		return "number"
	case string:
		return "string"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

// Text formats a stored value for a CSV cell.
func Text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(v, 10)
	case []byte:
		return string(v)
	}
	return fmt.Sprint(v)
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

func validText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }
