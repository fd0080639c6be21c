package search

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/templates"
)

// Pages are the public home page (GET /) and search results (GET /search),
// server-rendered, working without JavaScript. The results page reads the
// same parameters as /api/search (ParamsFrom, ParseQuery), so a filter
// means the same on both; a parameter the API would refuse with 400 is shown
// as a plain message above the form instead.
type Pages struct {
	Engine *Engine
	Pages  *templates.Renderer
	// Zone is where opening times are shown (America/Chicago).
	Zone *time.Location
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// RegisterPages mounts the home and results pages on e.
func RegisterPages(e *echo.Echo, p Pages) {
	e.GET("/", p.home)
	e.GET("/search", p.results)
}

type homeCategory struct{ Key, Name string }

func (p Pages) home(c echo.Context) error {
	lang := templates.LangOf(c)
	var cats []homeCategory
	for _, k := range directory.Categories() {
		cats = append(cats, homeCategory{k.Key, categoryName(k, lang)})
	}
	return p.Pages.Render(c, http.StatusOK, "public/home", templates.Page{Lang: lang,
		Title: p.Pages.Text(lang, "title.home"), Data: map[string]any{"Categories": cats}})
}

func categoryName(k directory.Category, lang string) string {
	if lang == "es" && k.NameES != "" {
		return k.NameES
	}
	return k.NameEN
}

// resultsData is what public/results.html shows.
type resultsData struct {
	Q, ZIP             string
	OpenNow, Free      bool
	Radii              []option
	Facts, Categories  []option
	Languages          []option
	FiltersOpen        bool
	Active             int
	Total, Page, Pages int
	Cards              []resultCard
	Prev, Next         string
	Relaxed            bool
	Relax              []relaxLink
	// Crisis: show the crisis line first (Response.Crisis).
	Crisis bool
}

type option struct {
	Value, Label string
	Count        int
	Checked      bool
	Selected     bool
}

type resultCard struct {
	ID, Name, Org, Summary, Alert string
	EnglishOnly                   bool
	Open, Remote, Unverified      bool
	NextOpen, Distance, Address   string
	Facts                         []string
	Phone                         *phoneLink
}

type phoneLink struct{ Tel, Text string }

type relaxLink struct{ Label, URL string }

// radii are the distance choices, in miles.
var radii = []string{"1", "3", "5", "10", "25"}

func (p Pages) results(c echo.Context) error {
	ctx := c.Request().Context()
	lang := templates.LangOf(c)
	params := zipFromText(ParamsFrom(c))
	d := p.formData(params, lang)
	page := templates.Page{Lang: lang, Title: p.Pages.Text(lang, "title.results"), Data: d}
	q, err := ParseQuery(params)
	if err != nil {
		if apperr.Code(err) != apperr.EINVALID {
			return err
		}
		page.Error = p.Pages.Text(lang, formErrorKey(err))
		d.FiltersOpen = true
		return p.Pages.Render(c, http.StatusBadRequest, "public/results", page)
	}
	resp, err := p.Engine.Answer(ctx, q, "web")
	if err != nil {
		return err
	}
	p.fill(ctx, d, q, resp, lang, c.QueryParams())
	return p.Pages.Render(c, http.StatusOK, "public/results", page)
}

// zipFromText moves a ZIP code typed into the search box ("jobs 64127")
// to the ZIP filter, when none is set: people type it where they type.
func zipFromText(p Params) Params {
	if p.ZIP != "" || p.Lat != "" || p.Lon != "" {
		return p
	}
	words := strings.Fields(p.Text)
	for i, w := range words {
		if len(w) != 5 || strings.Trim(w, "0123456789") != "" {
			continue
		}
		if _, ok, _ := directory.ZIPCentroid(w); ok {
			p.ZIP = w
			p.Text = strings.Join(append(words[:i:i], words[i+1:]...), " ")
			return p
		}
	}
	return p
}

// formErrorKey picks the catalog message for a parameter ParseQuery
// refused ("parameter zip: ..."); the API's message names the parameter
// for programmers, the page says what to do in the visitor's language.
func formErrorKey(err error) string {
	name, _, _ := strings.Cut(strings.TrimPrefix(apperr.Message(err), "parameter "), ":")
	switch name {
	case "q", "zip", "radius_miles", "sort":
		return "err." + name
	}
	return "err.other"
}

// formData is the form as the visitor filled it in.
func (p Pages) formData(params Params, lang string) *resultsData {
	d := &resultsData{Q: params.Text, ZIP: params.ZIP}
	d.OpenNow, _ = boolParam("", params.OpenNow)
	d.Free, _ = boolParam("", params.Free)
	d.Radii = append(d.Radii, option{Value: "", Label: p.Pages.Text(lang, "filters.any_distance"), Selected: params.Radius == ""})
	for _, r := range radii {
		d.Radii = append(d.Radii, option{Value: r, Label: fmt.Sprintf(p.Pages.Text(lang, "filters.within"), r), Selected: params.Radius == r})
	}
	for _, code := range FactCodes {
		if code == "free" {
			continue // the "Free" box above
		}
		d.Facts = append(d.Facts, option{Value: code, Label: p.Pages.Text(lang, "fact."+code), Checked: contains(params.Attributes, code)})
	}
	for _, k := range directory.Categories() {
		d.Categories = append(d.Categories, option{Value: k.Key, Label: categoryName(k, lang), Checked: contains(params.Categories, k.Key)})
	}
	if params.Language != "" {
		d.Languages = append(d.Languages, option{Value: params.Language, Label: languageName(params.Language), Checked: true})
	}
	d.Active = len(params.Attributes) + len(params.Categories)
	for _, s := range []string{params.ZIP, params.Radius, params.Language} {
		if s != "" {
			d.Active++
		}
	}
	if d.OpenNow {
		d.Active++
	}
	if d.Free {
		d.Active++
	}
	return d
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == v {
			return true
		}
	}
	return false
}

// fill adds the answer to the form: facet counts, cards, pages, and for no
// results the filters to drop.
func (p Pages) fill(ctx context.Context, d *resultsData, q Query, resp *Response, lang string, qs url.Values) {
	counts := func(key string) map[string]int {
		m := map[string]int{}
		for _, f := range resp.Facets[key] {
			m[f.Value] = f.Count
		}
		return m
	}
	fc, cc, lc := counts("attribute"), counts("category"), counts("language")
	for i := range d.Facts {
		d.Facts[i].Count = fc[d.Facts[i].Value]
	}
	for i := range d.Categories {
		d.Categories[i].Count = cc[d.Categories[i].Value]
	}
	seen := map[string]bool{}
	for i := range d.Languages {
		seen[d.Languages[i].Value] = true
		d.Languages[i].Count = lc[d.Languages[i].Value]
	}
	for _, f := range resp.Facets["language"] {
		if !seen[f.Value] {
			d.Languages = append(d.Languages, option{Value: f.Value, Label: f.Label, Count: f.Count})
		}
	}
	d.Total, d.Page, d.Relaxed, d.Crisis = resp.Total, q.Page, resp.Relaxed, resp.Crisis
	d.Pages = max(1, int(math.Ceil(float64(resp.Total)/float64(q.PerPage))))
	if q.Page > 1 {
		d.Prev = pageURL(qs, q.Page-1)
	}
	if q.Page < d.Pages {
		d.Next = pageURL(qs, q.Page+1)
	}
	now := p.now()
	for _, card := range resp.Results {
		d.Cards = append(d.Cards, p.card(card, lang, now))
	}
	if resp.Total == 0 {
		d.Relax = p.relax(qs, lang)
	}
}

func (p Pages) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p Pages) card(c Card, lang string, now time.Time) resultCard {
	r := resultCard{ID: c.ID, Name: c.Name, Org: c.Organization.Name, Summary: c.Summary, Alert: c.Alert, Remote: c.Remote && c.Address == nil, Unverified: c.Unverified}
	if lang == "es" {
		if c.NameES != "" {
			r.Name = c.NameES
		}
		if c.SummaryES != "" {
			r.Summary = c.SummaryES
		} else {
			r.EnglishOnly = true
		}
	}
	if c.OpenNow != nil && *c.OpenNow {
		r.Open = true
	} else if c.NextOpen != nil {
		r.NextOpen = whenText(lang, c.NextOpen.In(p.zone()), now.In(p.zone()))
	}
	if c.DistanceMiles != nil {
		r.Distance = fmt.Sprintf(p.Pages.Text(lang, "card.miles"), *c.DistanceMiles)
	}
	if a := c.Address; a != nil {
		r.Address = strings.Join(nonEmpty(a.Address1, a.Address2, a.City+", "+a.StateProvince+" "+a.PostalCode), ", ")
	}
	for _, f := range c.Attributes {
		if f.Code == "free" || strings.EqualFold(f.Value, "false") {
			continue
		}
		r.Facts = append(r.Facts, p.Pages.Text(lang, "fact."+f.Code))
	}
	if len(c.Phones) > 0 {
		r.Phone = PhoneLink(c.Phones[0].Number, c.Phones[0].Extension)
	}
	return r
}

func (p Pages) zone() *time.Location {
	if p.Zone != nil {
		return p.Zone
	}
	return time.Local
}

// whenText says when a place next opens: "today at 9:00 AM", "Tuesday at
// 9:00 AM" in lang.
func whenText(lang string, t, now time.Time) string {
	clock := templates.Clock(lang, t.Format(templates.ClockLayout))
	day := templates.Weekday(lang, t.Weekday())
	y1, m1, d1 := t.Date()
	y2, m2, d2 := now.Date()
	if y1 == y2 && m1 == m2 && d1 == d2 {
		day = map[string]string{"en": "today", "es": "hoy"}[lang]
		if day == "" {
			day = "today"
		}
	}
	if lang == "es" {
		return day + " a las " + clock
	}
	return day + " at " + clock
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

// PhoneLink turns a listed number into a tel: link and its text; "" gives
// nil.
func PhoneLink(number, ext string) *phoneLink {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, number)
	if digits == "" {
		return nil
	}
	tel := digits
	if len(digits) == 10 {
		tel = "+1" + digits
	} else if len(digits) == 11 && digits[0] == '1' {
		tel = "+" + digits
	}
	text := number
	if ext != "" {
		tel += ";ext=" + ext
		text += " ext. " + ext
	}
	return &phoneLink{Tel: tel, Text: text}
}

// pageURL is the results URL for another page of the same search.
func pageURL(qs url.Values, page int) string {
	v := url.Values{}
	for k, vs := range qs {
		v[k] = vs
	}
	v.Set("page", strconv.Itoa(page))
	return "/search?" + v.Encode()
}

// relax offers, for a search that found nothing, the same search without
// each filter in turn.
func (p Pages) relax(qs url.Values, lang string) []relaxLink {
	var out []relaxLink
	without := func(key, value string) string {
		v := url.Values{}
		for k, vs := range qs {
			if k == "page" {
				continue
			}
			for _, x := range vs {
				if k == key && (value == "" || x == value) {
					continue
				}
				if key == "zip" && k == "radius_miles" || key == "zip" && k == "sort" {
					continue
				}
				v.Add(k, x)
			}
		}
		return "/search?" + v.Encode()
	}
	t := func(key string, args ...any) string { return fmt.Sprintf(p.Pages.Text(lang, key), args...) }
	if b, _ := boolParam("", qs.Get("open_now")); b {
		out = append(out, relaxLink{t("results.relax_open"), without("open_now", "")})
	}
	for _, a := range qs["attribute"] {
		out = append(out, relaxLink{t("results.relax_fact", p.Pages.Text(lang, "fact."+a)), without("attribute", a)})
	}
	for _, k := range qs["category"] {
		name := k
		if cat, ok := directory.CategoryByKey(k); ok {
			name = categoryName(cat, lang)
		}
		out = append(out, relaxLink{t("results.relax_category", name), without("category", k)})
	}
	if b, _ := boolParam("", qs.Get("free")); b {
		out = append(out, relaxLink{t("results.relax_free"), without("free", "")})
	}
	if qs.Get("language") != "" {
		out = append(out, relaxLink{t("results.relax_language"), without("language", "")})
	}
	if qs.Get("radius_miles") != "" {
		out = append(out, relaxLink{t("results.relax_radius"), without("radius_miles", "")})
	} else if z := qs.Get("zip"); z != "" {
		out = append(out, relaxLink{t("results.relax_zip", z), without("zip", "")})
	}
	if s := strings.TrimSpace(qs.Get("q")); s != "" && len(out) > 0 {
		out = append(out, relaxLink{t("results.relax_text", s), without("q", "")})
	}
	return out
}
