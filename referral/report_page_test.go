package referral

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/auth"
	"github.com/secondchancekc/secondchance/internal/server"
	"github.com/secondchancekc/secondchance/templates"
)

// newReportPages serves the reports over the known data set (reportEnv)
// behind the real sign-in, on a real server.
func newReportPages(t *testing.T) (*reportEnv, *pageEnv) {
	t.Helper()
	ctx := context.Background()
	re := newReportEnv(t)
	re.clock.t = time.Date(2026, 3, 12, 18, 0, 0, 0, time.UTC)
	quiet := slog.New(slog.DiscardHandler)
	pages, err := templates.New(templates.Options{Viewer: auth.PageViewer})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(re.db, nil, auth.Config{BaseURL: "http://staff.test", Logger: quiet, Pages: pages})
	if err != nil {
		t.Fatal(err)
	}
	u, err := svc.CreateUser(ctx, auth.NewUser{Email: staffEmail, Name: "Sam Rivera", Role: auth.RoleStaff, Password: staffPass})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Listen: "127.0.0.1:0", BaseURL: "http://staff.test", Logger: quiet})
	auth.Register(srv.Echo, svc)
	RegisterReports(srv.Echo.Group("/staff"), re.Store, pages, func(c echo.Context) string {
		if u := auth.CurrentUser(c); u != nil {
			return strconv.FormatInt(u.ID, 10)
		}
		return ""
	})
	sctx, cancel := context.WithCancel(ctx)
	addr, wait, err := srv.Start(sctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		wait()
	})
	return re, &pageEnv{env: re.env, url: "http://" + addr, userID: strconv.FormatInt(u.ID, 10)}
}

// fetch GETs path with the browser's cookies and returns status, content
// type and body.
func (b *browser) fetch(path string) (int, string, string) {
	b.t.Helper()
	res, err := b.c.Get(b.e.url + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Content-Type"), string(body)
}

const twoWeeksQuery = "from=2026-03-02&to=2026-03-15"

// Every report URL needs a signed-in staff member.
func TestReportsLoginRequired(t *testing.T) {
	t.Parallel()
	_, pe := newReportPages(t)
	b := pe.browser(t)
	for _, path := range []string{"/staff/reports", "/staff/reports?" + twoWeeksQuery, "/staff/reports/weeks.csv",
		"/staff/reports/export.csv", "/staff/reports/export.ndjson"} {
		res, _ := b.do(http.MethodGet, path, nil)
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/staff/login") {
			t.Errorf("GET %s signed out: %d %s, want a redirect to sign in", path, res.StatusCode, res.Header.Get("Location"))
		}
	}
	res, _ := b.do(http.MethodPost, "/staff/reports/reviews/1/clear", url.Values{})
	if res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") != "" && !strings.HasPrefix(res.Header.Get("Location"), "/staff/login") {
		t.Errorf("POST clear signed out went to %s", res.Header.Get("Location"))
	}
}

func TestReportsPage(t *testing.T) {
	t.Parallel()
	_, pe := newReportPages(t)
	b := pe.browser(t)
	b.login()
	doc := b.get("/staff/reports?" + twoWeeksQuery)
	if h := textOf(one(t, doc, "h1")); h != "Reports" {
		t.Errorf("h1 %q", h)
	}
	for _, name := range TableNames {
		sec := one(t, doc, "section", "id", name)
		one(t, sec, "a", "href", "/staff/reports/"+name+".csv?"+twoWeeksQuery)
	}
	// The funnel: our row, then the study's, labelled as such.
	rows := findAll(one(t, doc, "section", "id", "funnel"), "tr")
	var cells [][]string
	for _, r := range rows[1:] {
		var c []string
		for _, td := range findAll(r, "td") {
			c = append(c, textOf(td))
		}
		cells = append(cells, c)
	}
	if len(cells) != 2 || !slices.Equal(cells[0], []string{"Our referrals", "6", "4", "66.7", "2", "50.0", "1", "25.0", "1", "0"}) ||
		!strings.Contains(cells[1][0], "Missouri 211") || !strings.Contains(cells[1][0], "study figure") || cells[1][7] != "36.0" {
		t.Errorf("funnel rows %q", cells)
	}
	// Charts: inline SVG, no script.
	if n := len(findAll(doc, "svg")); n != 3 {
		t.Errorf("%d charts, want 3 (weeks, funnel, unmet)", n)
	}
	if n := len(findAll(doc, "script")); n != 0 {
		t.Errorf("%d scripts", n)
	}
	est := textOf(one(t, doc, "section", "id", "estimate"))
	for _, want := range []string{"an estimate", "one year of incarceration", "People helped"} {
		if !strings.Contains(est, want) {
			t.Errorf("estimate section lacks %q: %s", want, est)
		}
	}
	one(t, doc, "a", "href", "/staff/reports/export.csv?"+twoWeeksQuery)
	// The filters come back as given; the default range is 12 weeks to today.
	if v := attrOf(one(t, doc, "input", "name", "from"), "value"); v != "2026-03-02" {
		t.Errorf("from = %q", v)
	}
	doc = b.get("/staff/reports")
	if v := attrOf(one(t, doc, "input", "name", "from"), "value"); v != "2025-12-22" {
		t.Errorf("default from = %q, want the Monday 11 weeks before this week's", v)
	}
	if v := attrOf(one(t, doc, "input", "name", "to"), "value"); v != "2026-03-12" {
		t.Errorf("default to = %q, want today", v)
	}
}

// Bad filters are refused with 400 and a message naming the parameter, on
// the page and on every file.
func TestReportsBadFilters(t *testing.T) {
	t.Parallel()
	_, pe := newReportPages(t)
	b := pe.browser(t)
	b.login()
	for _, tc := range []struct {
		Name, Query, Param string
	}{
		{"from not a date", "from=2026-13-01", "from"},
		{"to not a date", "to=yesterday", "to"},
		{"backwards", "from=2026-03-15&to=2026-03-01", "to"},
		{"too long", "from=2000-01-01&to=2026-03-01", "to"},
		{"channel", "channel=fax", "channel"},
		{"need", "need_category=jobs", "need_category"},
		{"unknown", "zip=64127", "zip"},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			res, doc := b.do(http.MethodGet, "/staff/reports?"+tc.Query, nil)
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("page: %d, want 400", res.StatusCode)
			}
			if msg := textOf(one(t, doc, "p", "id", "form-error")); !strings.HasPrefix(msg, tc.Param+":") {
				t.Errorf("page error %q does not name %s", msg, tc.Param)
			}
			for _, f := range []string{"weeks.csv", "export.csv", "export.ndjson"} {
				req, _ := http.NewRequest(http.MethodGet, pe.url+"/staff/reports/"+f+"?"+tc.Query, nil)
				req.Header.Set("Accept", "application/json")
				res, err := b.c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var body struct{ Error struct{ Message string } }
				json.NewDecoder(res.Body).Decode(&body)
				res.Body.Close()
				if res.StatusCode != http.StatusBadRequest || !strings.HasPrefix(body.Error.Message, tc.Param+":") {
					t.Errorf("%s: %d %q, want 400 naming %s", f, res.StatusCode, body.Error.Message, tc.Param)
				}
			}
		})
	}
	if code, _, _ := b.fetch("/staff/reports/passwords.csv"); code != http.StatusNotFound {
		t.Errorf("unknown table: %d, want 404", code)
	}
}

func TestReportsCSV(t *testing.T) {
	t.Parallel()
	_, pe := newReportPages(t)
	b := pe.browser(t)
	b.login()
	code, ct, body := b.fetch("/staff/reports/channels.csv?" + twoWeeksQuery + "&need_category=housing")
	if code != http.StatusOK || !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("channels.csv: %d %s", code, ct)
	}
	want := [][]string{{"channel", "referrals", "pct"}, {"voice", "1", "33.3"}, {"sms", "1", "33.3"}, {"walk-in", "1", "33.3"}}
	if got := readCSV(t, []byte(body)); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("channels.csv = %q, want %q", got, want)
	}

	code, ct, body = b.fetch("/staff/reports/export.csv?" + twoWeeksQuery)
	if code != http.StatusOK || !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("export.csv: %d %s", code, ct)
	}
	recs := readCSV(t, []byte(body))
	if len(recs) != 8 || !slices.Equal(recs[0], ExportColumns) {
		t.Errorf("export.csv: %d records, header %q", len(recs), recs[0])
	}
	// (not "555" alone: the export's random ids may hold it)
	for _, bad := range []string{"555-", "private note", "+1816", "64127"} {
		if strings.Contains(body, bad) {
			t.Errorf("export.csv holds %q", bad)
		}
	}

	code, ct, body = b.fetch("/staff/reports/export.ndjson?" + twoWeeksQuery + "&partner=" + url.QueryEscape(orgNortheast))
	if code != http.StatusOK || ct != "application/x-ndjson" {
		t.Fatalf("export.ndjson: %d %s", code, ct)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	n := 0
	for sc.Scan() {
		var row ExportRow
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		if row.Organization != orgNortheast {
			t.Errorf("row of %s with partner=%s", row.Organization, orgNortheast)
		}
		n++
	}
	if n != 2 { // C's shelter, E
		t.Errorf("%d rows, want 2", n)
	}
	// An empty range still has its header.
	_, _, body = b.fetch("/staff/reports/export.csv?from=2020-01-06&to=2020-01-12")
	if got := readCSV(t, []byte(body)); len(got) != 1 {
		t.Errorf("empty export: %q", got)
	}
}

// A flagged service shows on the page with a form to clear it; clearing
// is refused without the CSRF token and audited with it.
func TestReportsClearFlag(t *testing.T) {
	t.Parallel()
	re, pe := newReportPages(t)
	for range 3 {
		re.record(t, re.referTo(t, svcShelter).ID, "", couldntReach)
	}
	flags := re.openReviews(t)
	if len(flags) != 1 {
		t.Fatalf("flags %+v", flags)
	}
	id := strconv.FormatInt(flags[0].ID, 10)
	b := pe.browser(t)
	b.login()
	doc := b.get("/staff/reports")
	sec := one(t, doc, "section", "id", "flagged")
	form := one(t, sec, "form", "method", "post", "action", "/staff/reports/reviews/"+id+"/clear")
	if !strings.Contains(textOf(sec), "24-Hour Emergency Shelter") || !strings.Contains(textOf(sec), "couldn't reach them 3") {
		t.Errorf("flagged section: %s", textOf(sec))
	}
	one(t, form, "input", "name", "note")

	res, _ := b.do(http.MethodPost, "/staff/reports/reviews/"+id+"/clear", url.Values{"note": {"new number"}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("clear without CSRF: %d, want 403", res.StatusCode)
	}
	if len(re.openReviews(t)) != 1 {
		t.Fatal("cleared without a CSRF token")
	}
	res, _ = b.post("/staff/reports/reviews/"+id+"/clear", url.Values{"note": {"new number"}}, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/staff/reports?cleared="+id+"#flagged" {
		t.Errorf("redirect to %s", loc)
	}
	if len(re.openReviews(t)) != 0 {
		t.Error("not cleared")
	}
	doc = b.get("/staff/reports?cleared=" + id)
	if got := textOf(one(t, doc, "p", "role", "status")); !strings.Contains(got, "cleared") {
		t.Errorf("notice %q", got)
	}
	if rows := findAll(one(t, doc, "section", "id", "flagged"), "form", "method", "post"); len(rows) != 0 {
		t.Errorf("%d flags still shown", len(rows))
	}
	rv, err := re.ServiceReview(context.Background(), flags[0].ID)
	if err != nil || rv.ClearedBy != pe.userID {
		t.Errorf("cleared by %q, want %s (%v)", rv.ClearedBy, pe.userID, err)
	}
	b.post("/staff/reports/reviews/999/clear", url.Values{}, http.StatusNotFound)
}
