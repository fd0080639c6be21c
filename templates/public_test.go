package templates

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func init() { samples = append(samples, publicSamples...) }

var sampleCard = m{"ID": "s1", "Name": "<script>alert(1)</script>", "Org": "Org", "Summary": "Jobs.", "Alert": "", "EnglishOnly": false,
	"Open": true, "Remote": false, "NextOpen": "", "Distance": "1.2 miles away", "Address": "1 Main St, Kansas City, MO 64127",
	"Facts": []string{"Accepts felony records"}, "Phone": m{"Tel": "+18165550100", "Text": "(816) 555-0100"}}

var sampleListing = m{"ID": "s1", "Name": "Job Club", "Org": "Org", "OrgID": "o1", "EnglishOnly": false, "Description": "We help.",
	"Summary": "We help.", "Alert": "Closed until May.", "Status": "temporarily closed", "Eligibility": "Anyone.", "Apply": "Walk in.",
	"Fees": "Free.", "Verified": "March 5, 2026", "Languages": "English, Español", "Documents": []string{"Release papers"},
	"Facts": []string{"Accepts felony records"}, "Places": []m{{"Name": "Office", "Address": "1 Main St", "MapURL": "https://www.openstreetmap.org/search?query=1+Main"}},
	"Phones":  []m{{"Tel": "+18165550100", "Text": "(816) 555-0100", "Note": ""}},
	"Hours":   []m{{"Day": "Monday", "Times": "9:00 AM – 5:00 PM", "Today": true}, {"Day": "Tuesday", "Times": "Closed", "Today": false}},
	"OpenNow": true, "FormKey": "k", "Phone": "", "Consent": false, "CorrectionOpen": false,
	"CorrectionFields": []m{{"Value": "name", "Label": "Name", "Checked": false}}, "CorrectionText": "", "CorrectionContact": ""}

var publicSamples = []sample{
	{page: "public/home", path: "/", p: Page{Title: "Find help near you", Data: m{"Categories": []m{{"Key": "employment", "Name": "Jobs"}}}},
		check: func(t *testing.T, d *doc) {
			d.one("form", "action", "/search", "method", "get")
			d.one("a", "href", "/search?category=employment")
		}},
	{page: "public/results", path: "/search", p: Page{Title: "Search results", Data: m{"Q": "jobs", "ZIP": "64127", "OpenNow": true, "Free": false,
		"Radii":       []m{{"Value": "", "Label": "Any distance", "Selected": true}},
		"Facts":       []m{{"Value": "felony-ok", "Label": "Accepts felony records", "Count": 3, "Checked": true}},
		"Categories":  []m{{"Value": "employment", "Label": "Jobs", "Count": 2, "Checked": false}},
		"Languages":   []m{{"Value": "es", "Label": "Español", "Count": 1, "Checked": false}},
		"FiltersOpen": false, "Active": 2, "Total": 1, "Page": 1, "Pages": 2, "Cards": []m{sampleCard}, "Prev": "", "Next": "/search?page=2",
		"Relaxed": false, "Relax": nil}},
		check: func(t *testing.T, d *doc) {
			if got := text(d.one("a", "href", "/services/s1")); got != "<script>alert(1)</script>" {
				t.Errorf("a listing's name is not shown as text: %q", got)
			}
			d.one("input", "name", "attribute", "value", "felony-ok", "checked", "")
			d.one("a", "rel", "next")
			d.one("a", "href", "tel:+18165550100")
		}},
	{page: "public/service", path: "/services/s1", p: Page{Title: "Job Club", Data: sampleListing},
		check: func(t *testing.T, d *doc) {
			d.one("form", "action", "/services/s1/text")
			d.one("form", "action", "/services/s1/correction")
			d.one("tr", "class", "today")
			d.one("a", "href", "/services/s1/print")
			d.one("p", "class", "alert")
		}},
	{page: "public/slip", path: "/services/s1/print", p: Page{Title: "Referral slip: Job Club", Data: sampleListing},
		check: func(t *testing.T, d *doc) { d.one("div", "class", "slip") }},
	{page: "public/organization", path: "/organizations/o1", p: Page{Title: "Org", Data: m{"Description": "An org.", "Website": "https://example.org",
		"EnglishOnly": false, "Phones": []m{}, "Services": []m{{"ID": "s1", "Name": "Job Club"}}}},
		check: func(t *testing.T, d *doc) { d.one("a", "href", "/services/s1") }},
	{page: "public/about", path: "/about", p: Page{Title: "About Second Chance"}, check: func(t *testing.T, d *doc) {}},
	{page: "public/privacy", path: "/privacy", p: Page{Title: "Privacy"}, check: func(t *testing.T, d *doc) {}},
	{page: "public/error", path: "/x", p: Page{Title: "Page not found", Data: m{"Status": 404, "Key": "error.404"}},
		check: func(t *testing.T, d *doc) { d.one("a", "class", "back", "href", "/") }},
	{page: "public/text", path: "/services/s1/text", p: Page{Title: "Text me this", Error: "We can only text US phone numbers.",
		Data: m{"ID": "s1", "Name": "Job Club", "FormKey": "k", "Phone": "+44 20 7946 0000", "Consent": true}},
		check: func(t *testing.T, d *doc) {
			d.one("input", "name", "phone", "value", "+44 20 7946 0000")
			d.one("input", "name", "consent", "checked", "")
			d.one("form", "aria-describedby", "form-error")
		}},
}

// Public pages: their own CSP without 'unsafe-inline', the language from
// the cookie or Accept-Language, the versioned style sheet.
func TestPublicHeadersAndLanguage(t *testing.T) {
	r := newTest(t)
	e := echo.New()
	r.RegisterPublic(e)
	for _, tc := range []struct{ cookie, accept, want string }{
		{"", "", "en"}, {"", "es-MX,es;q=0.9,en;q=0.5", "es"}, {"", "en-US,en;q=0.9,es;q=0.8", "en"}, {"es", "en", "es"}, {"en", "es", "en"}, {"fr", "es", "es"},
	} {
		req := httptest.NewRequest(http.MethodGet, "/about", nil)
		if tc.cookie != "" {
			req.AddCookie(&http.Cookie{Name: LangCookie, Value: tc.cookie})
		}
		req.Header.Set("Accept-Language", tc.accept)
		rec := httptest.NewRecorder()
		c := e.NewContext(req, rec)
		if err := r.Render(c, http.StatusOK, "public/about", Page{Title: "About"}); err != nil {
			t.Fatal(err)
		}
		d := parseDoc(t, rec.Body.Bytes())
		d.checkAccessible(tc.want, "About", "")
		csp := rec.Header().Get("Content-Security-Policy")
		if strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "style-src 'self'") {
			t.Errorf("CSP %q", csp)
		}
		d.one("link", "rel", "stylesheet", "href", r.StyleURL())
		if len(d.all("style")) != 0 {
			t.Error("inline <style> on a public page")
		}
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, r.StyleURL(), nil))
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
		t.Errorf("style sheet: %d %v", rec.Code, rec.Header())
	}
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/lang/es?next=//evil.example/x", nil))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" || !strings.Contains(rec.Header().Get("Set-Cookie"), "lang=es") {
		t.Errorf("language switch: %d %v", rec.Code, rec.Header())
	}
}
