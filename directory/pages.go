package directory

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/csrf"
	"github.com/secondchancekc/secondchance/templates"
)

// Pages are the public pages this package owns: a service
// (/services/:id), its printable slip (/services/:id/print), an
// organization (/organizations/:id), About and Privacy, and the "Suggest a
// correction" form (POST /services/:id/correction), stored for staff.
type Pages struct {
	Store *Store
	Pages *templates.Renderer
	// Zone is where hours are shown; nil is America/Chicago.
	Zone *time.Location
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Corrections limits suggested corrections; zero fields take
	// DefaultCorrectionLimits.
	Corrections CorrectionLimits
	// UnverifiedAfter is directory.unverified_after in months (0: the
	// default): a listing verified longer ago is marked as not recently
	// verified.
	UnverifiedAfter int
}

// RegisterPages mounts the pages on e.
func RegisterPages(e *echo.Echo, p Pages) {
	e.GET("/services/:id", p.service)
	e.GET("/services/:id/print", p.slip)
	e.POST("/services/:id/correction", p.correction)
	e.GET("/organizations/:id", p.organization)
	e.GET("/about", p.static("public/about", "title.about"))
	e.GET("/privacy", p.static("public/privacy", "title.privacy"))
}

func (p Pages) zone() *time.Location {
	if p.Zone != nil {
		return p.Zone
	}
	z, _ := defaultZone()
	return z
}

func (p Pages) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p Pages) static(page, title string) echo.HandlerFunc {
	return func(c echo.Context) error {
		lang := templates.LangOf(c)
		return p.Pages.Render(c, http.StatusOK, page, templates.Page{Lang: lang, Title: p.Pages.Text(lang, title)})
	}
}

// Listing is a service as the public pages and its text message show it,
// in one language.
type Listing struct {
	ID, Name, Org, OrgID string
	// EnglishOnly: the page is Spanish but the listing has no Spanish text.
	EnglishOnly                                   bool
	Description, Summary, Alert, Status           string
	Eligibility, Apply, Fees, Verified, Languages string
	Documents, Facts                              []string
	Categories                                    []string // category keys
	Places                                        []Place
	Phones                                        []Phone
	Hours                                         []HoursRow
	OpenNow                                       bool
	// Unverified: not verified within UnverifiedAfter months (or never).
	Unverified bool
	HoursLine  string // today's hours, for a text message
}

// Place is one address of a listing.
type Place struct{ Name, Address, MapURL string }

// Phone is a number as a tel: link.
type Phone struct{ Tel, Text, Note string }

// HoursRow is one day of the week's hours.
type HoursRow struct {
	Day, Times string
	Today      bool
}

// Listing loads service id as the public pages show it in lang. Inactive
// and defunct services are ENOTFOUND, like a missing one.
func (p Pages) Listing(ctx context.Context, id, lang string) (*Listing, error) {
	doc, err := p.Store.Get(ctx, "service", id, Full)
	if err != nil {
		return nil, err
	}
	status := Text(doc.Get("status"))
	if status == "inactive" || status == "defunct" {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "No service with id %s.", id)
	}
	l := &Listing{ID: id, Status: status, Name: Text(doc.Get("name")), Description: Text(doc.Get("description")),
		Alert: Text(doc.Get("alert")), Eligibility: Text(doc.Get("eligibility_description")),
		Apply: Text(doc.Get("application_process")), Fees: Text(doc.Get("fees_description"))}
	if lang == "es" {
		if s := Text(doc.Get("name_es")); s != "" {
			l.Name = s
		}
		if s := Text(doc.Get("description_es")); s != "" {
			l.Description = s
		} else {
			l.EnglishOnly = true
		}
	}
	if l.Alert == "" && status == "temporarily closed" {
		l.Alert = p.Pages.Text(lang, "service.temp_closed")
	}
	l.Summary = firstSentences(l.Description, 200)
	org, _ := doc.Get("organization").(Doc)
	l.Org, l.OrgID = Text(org.Get("name")), Text(org.Get("id"))
	// "verified N months ago", in the visitor's language.
	months := MonthsSince(Text(doc.Get("assured_date")), p.now().In(p.zone()))
	if months >= 0 {
		l.Verified = strings.Replace(p.Pages.Text(lang, "service.verified_ago"), "%d", strconv.Itoa(months), 1)
		if months == 0 {
			l.Verified = p.Pages.Text(lang, "service.verified_recent")
		} else if months == 1 {
			l.Verified = p.Pages.Text(lang, "service.verified_month")
		}
	}
	limit := p.UnverifiedAfter
	if limit <= 0 {
		limit = DefaultUnverifiedAfter
	}
	l.Unverified = months < 0 || months >= limit
	for _, d := range docs(doc.Get("required_documents")) {
		if s := Text(d.Get("document")); s != "" {
			l.Documents = append(l.Documents, s)
		}
	}
	var langs []string
	for _, d := range docs(doc.Get("languages")) {
		if s := Text(d.Get("name")); s != "" {
			langs = append(langs, s)
		}
	}
	l.Languages = strings.Join(langs, ", ")
	for _, a := range docs(doc.Get("attributes")) {
		term, _ := a.Get("taxonomy_term").(Doc)
		code := Text(term.Get("code"))
		if Text(term.Get("taxonomy_id")) == ReentryTaxonomyID {
			if code != "free" && !strings.EqualFold(Text(a.Get("value")), "false") {
				l.Facts = append(l.Facts, p.Pages.Text(lang, "fact."+code))
			}
			continue
		}
		for _, k := range Categories() {
			if slices.Contains(k.TermIDs, Text(term.Get("id"))) && !slices.Contains(l.Categories, k.Key) {
				l.Categories = append(l.Categories, k.Key)
			}
		}
	}
	l.Phones = phones(doc.Get("phones"))
	schedules := docMaps(doc.Get("schedules"))
	for _, sal := range docs(doc.Get("service_at_locations")) {
		loc, _ := sal.Get("location").(Doc)
		if Text(loc.Get("location_type")) == "virtual" {
			continue
		}
		if len(l.Places) == 0 {
			schedules = append(schedules, docMaps(sal.Get("schedules"))...)
			if len(l.Phones) == 0 {
				l.Phones = append(phones(sal.Get("phones")), phones(loc.Get("phones"))...)
			}
		}
		for _, a := range docs(loc.Get("addresses")) {
			if Text(a.Get("address_type")) == "postal" {
				continue
			}
			addr := strings.Join(nonEmpty(Text(a.Get("address_1")), Text(a.Get("address_2")),
				Text(a.Get("city"))+", "+Text(a.Get("state_province"))+" "+Text(a.Get("postal_code"))), ", ")
			l.Places = append(l.Places, Place{Name: Text(loc.Get("name")), Address: addr,
				MapURL: "https://www.openstreetmap.org/search?query=" + url.QueryEscape(addr)})
			break
		}
	}
	if len(l.Phones) == 0 {
		l.Phones = phones(org.Get("phones"))
	}
	p.hours(l, schedules, lang)
	return l, nil
}

// hours fills the week's hours, today marked.
func (p Pages) hours(l *Listing, schedules []map[string]any, lang string) {
	zone := p.Zone
	if zone == nil {
		zone, _ = defaultZone()
	}
	h, _ := ParseHours(schedules, zone)
	if !h.Known() {
		return
	}
	now := p.now().In(zone)
	l.OpenNow = h.OpenAt(now)
	for _, d := range h.Week(now) {
		var spans []string
		for _, s := range d.Spans {
			switch {
			case s.AllDay:
				spans = append(spans, p.Pages.Text(lang, "service.all_day"))
			case s.OpenEnded:
				spans = append(spans, templates.Clock(lang, s.OpensAt(templates.ClockLayout))+" –")
			default:
				spans = append(spans, templates.Clock(lang, s.OpensAt(templates.ClockLayout))+" – "+templates.Clock(lang, s.ClosesAt(templates.ClockLayout)))
			}
		}
		times := strings.Join(spans, ", ")
		if times == "" {
			times = p.Pages.Text(lang, "service.closed")
		}
		row := HoursRow{Day: capitalize(templates.Weekday(lang, d.Date.Weekday())), Times: times, Today: d.Today}
		if d.Today {
			l.HoursLine = row.Day + " " + times
		}
		l.Hours = append(l.Hours, row)
	}
}

func capitalize(s string) string {
	for i := range s {
		if i > 0 {
			return strings.ToUpper(s[:i]) + s[i:]
		}
	}
	return strings.ToUpper(s)
}

func docs(v any) []Doc {
	ds, _ := v.([]Doc)
	return ds
}

func docMaps(v any) []map[string]any {
	var out []map[string]any
	for _, d := range docs(v) {
		m := make(map[string]any, len(d))
		for _, p := range d {
			m[p.Key] = p.Value
		}
		out = append(out, m)
	}
	return out
}

func phones(v any) []Phone {
	var out []Phone
	for _, d := range docs(v) {
		n := Text(d.Get("number"))
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, n)
		if digits == "" {
			continue
		}
		if len(digits) == 10 {
			digits = "+1" + digits
		} else if len(digits) == 11 && digits[0] == '1' {
			digits = "+" + digits
		}
		ph := Phone{Tel: digits, Text: n, Note: Text(d.Get("description"))}
		if ext := Text(d.Get("extension")); ext != "" && ext != "0" {
			ph.Tel += ";ext=" + ext
			ph.Text += " ext. " + ext
		}
		out = append(out, ph)
	}
	return out
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.Trim(strings.TrimSpace(s), ","); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// firstSentences cuts s to whole sentences within n characters (at least
// the first).
func firstSentences(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := strings.LastIndex(s[:n], ". ")
	if cut < 0 {
		if i := strings.Index(s, ". "); i > 0 {
			return s[:i+1]
		}
		return s
	}
	return s[:cut+1]
}

// serviceData is what public/service.html shows beside the listing.
type serviceData struct {
	*Listing
	FormKey, Phone    string
	Consent           bool
	CorrectionOpen    bool
	CorrectionFields  []fieldOption
	CorrectionText    string
	CorrectionContact string
}

type fieldOption struct {
	Value, Label string
	Checked      bool
}

// CorrectionFields are what a correction may be about.
var CorrectionFields = []string{"name", "phone", "address", "hours", "eligibility", "closed", "other"}

func (p Pages) service(c echo.Context) error {
	return p.renderService(c, http.StatusOK, templates.Page{}, serviceData{})
}

// renderService shows the service page; a refused correction comes back
// here with its input and message.
func (p Pages) renderService(c echo.Context, status int, page templates.Page, d serviceData) error {
	lang := templates.LangOf(c)
	l, err := p.Listing(c.Request().Context(), c.Param("id"), lang)
	if err != nil {
		return err
	}
	d.Listing = l
	d.FormKey = NewFormKey()
	field := c.FormValue("field")
	for _, f := range CorrectionFields {
		d.CorrectionFields = append(d.CorrectionFields, fieldOption{Value: f, Label: p.Pages.Text(lang, "correct.f."+f), Checked: f == field})
	}
	page.Lang, page.Title, page.Data, page.CSRF = lang, l.Name, d, csrf.Token(c)
	switch c.QueryParam("done") {
	case "text":
		page.Notice = p.Pages.Text(lang, "textme.sent")
	case "correction":
		page.Notice = p.Pages.Text(lang, "correct.thanks")
	}
	return p.Pages.Render(c, status, "public/service", page)
}

func (p Pages) slip(c echo.Context) error {
	lang := templates.LangOf(c)
	l, err := p.Listing(c.Request().Context(), c.Param("id"), lang)
	if err != nil {
		return err
	}
	return p.Pages.Render(c, http.StatusOK, "public/slip", templates.Page{Lang: lang,
		Title: strings.Replace(p.Pages.Text(lang, "title.slip"), "%s", l.Name, 1), Data: l})
}

type orgService struct{ ID, Name string }

func (p Pages) organization(c echo.Context) error {
	ctx := c.Request().Context()
	lang := templates.LangOf(c)
	doc, err := p.Store.Get(ctx, "organization", c.Param("id"), Flat)
	if err != nil {
		return err
	}
	d := map[string]any{"Description": Text(doc.Get("description"))}
	if s := Text(doc.Get("website")); strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") {
		d["Website"] = s
	}
	if lang == "es" {
		if s := Text(doc.Get("description_es")); s != "" {
			d["Description"] = s
		} else {
			d["EnglishOnly"] = true
		}
	}
	svcs, _, err := p.Store.List(ctx, "service", ListFilter{Where: []string{"t.organization_id = ?", "t.status IN ('active','temporarily closed')"},
		Args: []any{c.Param("id")}, Order: "t.name", Limit: 200}, Flat)
	if err != nil {
		return err
	}
	var list []orgService
	for _, s := range svcs {
		name := Text(s.Get("name"))
		if n := Text(s.Get("name_es")); lang == "es" && n != "" {
			name = n
		}
		list = append(list, orgService{Text(s.Get("id")), name})
	}
	d["Services"] = list
	full, err := p.Store.Get(ctx, "organization", c.Param("id"), Full)
	if err == nil {
		d["Phones"] = phones(full.Get("phones"))
	}
	return p.Pages.Render(c, http.StatusOK, "public/organization", templates.Page{Lang: lang, Title: Text(doc.Get("name")), Data: d})
}
