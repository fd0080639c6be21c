package templates

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// LangCookie remembers the language a visitor chose with the switch link.
const LangCookie = "lang"

// style is the public style sheet, served at a URL that changes with its
// content so browsers may keep it for a year.
type style struct {
	css []byte
	url string
}

func loadStyle(fsys fs.FS) style {
	b, _ := fs.ReadFile(fsys, "static/site.css") // test trees have none
	sum := sha256.Sum256(b)
	return style{css: b, url: "/static/site." + hex.EncodeToString(sum[:6]) + ".css"}
}

// StyleURL is the versioned path of the public style sheet.
func (r *Renderer) StyleURL() string { return r.style.url }

// RegisterPublic mounts what every public page shares: the style sheet
// (GET /static/site.HASH.css, cached for a year) and the language switch
// (GET /lang/en and /lang/es, which remember the choice in a cookie and go
// back to the page given in next).
func (r *Renderer) RegisterPublic(e *echo.Echo) {
	e.GET(r.style.url, func(c echo.Context) error {
		h := c.Response().Header()
		h.Set(echo.HeaderCacheControl, "public, max-age=31536000, immutable")
		h.Set(echo.HeaderXContentTypeOptions, "nosniff")
		return c.Blob(http.StatusOK, "text/css; charset=utf-8", r.style.css)
	})
	e.GET("/lang/:lang", func(c echo.Context) error {
		lang := c.Param("lang")
		if !r.cat.has(lang) {
			return echo.NewHTTPError(http.StatusNotFound)
		}
		c.SetCookie(&http.Cookie{Name: LangCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.Scheme() == "https"})
		return c.Redirect(http.StatusSeeOther, LocalPath(c.QueryParam("next")))
	})
}

// LocalPath returns next if it is a path on this site, else "/": the
// language switch and forms never send a visitor elsewhere.
func LocalPath(next string) string {
	if next == "" || len(next) > 2000 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n\t\x00") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

// LangOf is the language of a public page for this request: the one the
// visitor chose (the lang cookie), else the first of ours their browser
// asks for (Accept-Language), else English.
func LangOf(c echo.Context) string {
	if ck, err := c.Cookie(LangCookie); err == nil && validLang(ck.Value) {
		return ck.Value
	}
	return acceptLanguage(c.Request().Header.Get("Accept-Language"))
}

func validLang(l string) bool {
	for _, x := range Langs {
		if x == l {
			return true
		}
	}
	return false
}

// acceptLanguage picks, of our languages, the one the header prefers
// (highest q, first on ties); "es-MX" counts as "es".
func acceptLanguage(h string) string {
	best, bestQ := Langs[0], 0.0
	for i, part := range strings.Split(h, ",") {
		if i > 20 {
			break
		}
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if validLang(base) && q > bestQ {
			best, bestQ = base, q
		}
	}
	return best
}

var weekdays = map[string][7]string{
	"en": {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
	"es": {"domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"},
}

var months = map[string][12]string{
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	"es": {"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"},
}

// Weekday names d in lang ("Monday", "lunes").
func Weekday(lang string, d time.Weekday) string {
	w, ok := weekdays[lang]
	if !ok {
		w = weekdays["en"]
	}
	return w[d]
}

// Date is t's date in lang: "March 5, 2026", "5 de marzo de 2026".
func Date(lang string, t time.Time) string {
	if lang == "es" {
		return strconv.Itoa(t.Day()) + " de " + months["es"][t.Month()-1] + " de " + strconv.Itoa(t.Year())
	}
	return months["en"][t.Month()-1] + " " + strconv.Itoa(t.Day()) + ", " + strconv.Itoa(t.Year())
}

// ClockLayout is the time-of-day layout for lang, for
// directory.Span.OpensAt and time.Format: "3:04 PM" in both (Kansas City's
// Spanish speakers read the 12-hour clock), with Spanish's "p. m." applied
// by Clock.
const ClockLayout = "3:04 PM"

// Clock formats a time of day already laid out with ClockLayout for lang:
// "9:00 AM", "9:00 a. m.".
func Clock(lang, s string) string {
	if lang == "es" {
		s = strings.Replace(strings.Replace(s, "AM", "a. m.", 1), "PM", "p. m.", 1)
	}
	return s
}

// ErrorPage renders the friendly error page in the visitor's language: a
// title and a plain explanation chosen by status (msg, the error's English
// message, is shown only on staff pages, where it is written for staff).
// cmd sets it as the server's HTMLError.
func (r *Renderer) ErrorPage(c echo.Context, status int, msg string) error {
	key := "error." + strconv.Itoa(status)
	if _, err := r.cat.text("en", key+".title"); err != nil {
		key = "error.500"
		if status < 500 {
			key = "error.400"
		}
	}
	p := Page{Data: map[string]any{"Status": status, "Key": key}}
	p.Lang = LangOf(c)
	path := c.Request().URL.Path
	if path == "/staff" || strings.HasPrefix(path, "/staff/") {
		p.Lang = "en"
		p.Data.(map[string]any)["Message"] = msg
	}
	p.Title, _ = r.cat.text(p.Lang, key+".title")
	return r.Render(c, status, "public/error", p)
}

// Text returns the catalog message key in lang, for handlers that build
// labels and messages in Go (a filter's name, a refused form's reason). An
// unknown key returns the key itself, which the tests catch.
func (r *Renderer) Text(lang, key string) string {
	s, err := r.cat.text(lang, key)
	if err != nil {
		return key
	}
	return s
}
