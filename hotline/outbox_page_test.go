package hotline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/internal/auth"
	"github.com/secondchancekc/secondchance/internal/server"
	"github.com/secondchancekc/secondchance/templates"
	"golang.org/x/net/html"
)

// senderFunc is a provider answering as the test says.
type senderFunc func(context.Context, Message) (Result, error)

func (f senderFunc) Send(ctx context.Context, m Message) (Result, error) { return f(ctx, m) }

// outboxEnv is the outbox page behind the real server, auth and renderer,
// with a log of texts: 55 sent results (the newest), a failed and an unsure
// follow-up, one stuck "sending", and one sent follow-up (the oldest).
type outboxEnv struct {
	url string
	log *Logged
	ids map[string]int64 // by ref
}

const staffEmail, staffPass = "sam@secondchancekc.org", "purple monkey dishwasher"

func newOutboxEnv(t *testing.T) *outboxEnv {
	t.Helper()
	ctx := context.Background()
	d := openDB(t)
	quiet := slog.New(slog.DiscardHandler)
	pages, err := templates.New(templates.Options{Viewer: auth.PageViewer})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(d, nil, auth.Config{BaseURL: "http://staff.test", Logger: quiet, Pages: pages})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, auth.NewUser{Email: staffEmail, Role: auth.RoleStaff, Password: staffPass}); err != nil {
		t.Fatal(err)
	}

	// 15:00 UTC on 2 March 2026 is 9:00 AM in Kansas City (CST).
	at := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	send := func(next Sender, provider string, m Message) {
		l := NewLogged(next, provider, d, quiet)
		l.Now = clock
		l.Send(ctx, m)
		at = at.Add(time.Minute)
	}
	outbox := NewOutbox(d)
	send(outbox, ProviderOutbox, Message{To: "+18165550199", Body: "The oldest.", Purpose: "followup", Ref: "followup:0"})
	// Stuck: claimed an hour before "now", never finished.
	stuck := NewLogged(outbox, ProviderTwilio, d, quiet)
	stuck.Now = clock
	claimOnly(t, stuck, Message{To: "+18165550188", Body: "Stuck.", Purpose: "followup", Ref: "followup:stuck"})
	at = at.Add(time.Minute)
	send(senderFunc(func(context.Context, Message) (Result, error) {
		return Result{}, &SendError{Code: 21211, Status: 400, Permanent: true, InvalidNumber: true, Msg: "The 'To' number +1816***0177 is not valid"}
	}), ProviderTwilio, Message{To: "+18165550177", Body: "Failed.", Purpose: "followup", Ref: "followup:failed"})
	send(senderFunc(func(context.Context, Message) (Result, error) {
		return Result{Attempts: 1}, fmt.Errorf("%w: the answer could not be read", ErrUnsure)
	}), ProviderTwilio, Message{To: "+18165550166", Body: "Did you reach <Helping Hands>?", Purpose: "followup", Ref: "followup:unsure"})
	for i := range 55 {
		send(outbox, ProviderOutbox, Message{To: "+18165550100", Body: fmt.Sprintf("Result %d", i), Purpose: "results", Ref: fmt.Sprintf("results:%d", i)})
	}

	srv := server.New(server.Config{Listen: "127.0.0.1:0", BaseURL: "http://staff.test", Logger: quiet})
	auth.Register(srv.Echo, svc)
	l := NewLogged(outbox, ProviderOutbox, d, quiet)
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	RegisterStaff(srv.Echo.Group("/staff"), StaffPages{Log: l, Pages: pages, Zone: chicago, Flash: svc.SetFlash,
		RequireLogin: svc.RequireLogin, Now: func() time.Time { return at.Add(time.Hour) }})
	sctx, cancel := context.WithCancel(ctx)
	addr, wait, err := srv.Start(sctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		wait()
	})
	e := &outboxEnv{url: "http://" + addr, log: l, ids: map[string]int64{}}
	rows, err := d.Read.Query(`SELECT ref, id FROM sms_message`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var ref string
		var id int64
		rows.Scan(&ref, &id)
		e.ids[ref] = id
	}
	return e
}

// browser is a client with a cookie jar that shows each redirect.
type browser struct {
	t   *testing.T
	e   *outboxEnv
	c   *http.Client
	tok string
}

func (e *outboxEnv) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, e: e, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *browser) do(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.e.url+path, body)
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (c *browser) login() {
	c.t.Helper()
	_, body := c.do(http.MethodGet, "/staff/login", nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		c.t.Fatalf("no CSRF token on the sign-in page:\n%s", body)
	}
	res, body := c.do(http.MethodPost, "/staff/login", url.Values{"csrf_token": {m[1]}, "email": {staffEmail}, "password": {staffPass}})
	if res.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("sign in: %d\n%s", res.StatusCode, body)
	}
}

// page GETs path, wants 200 and returns the parsed page; it also keeps
// the page's CSRF token.
func (c *browser) page(path string) *html.Node {
	c.t.Helper()
	res, body := c.do(http.MethodGet, path, nil)
	if res.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: %d\n%s", path, res.StatusCode, body)
	}
	if m := csrfRE.FindStringSubmatch(body); m != nil {
		c.tok = m[1]
	}
	n, err := html.Parse(strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

func find(n *html.Node, name string, attrs ...string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == name {
			ok := true
			for i := 0; i+1 < len(attrs); i += 2 {
				if attrOf(n, attrs[i]) != attrs[i+1] {
					ok = false
				}
			}
			if ok {
				out = append(out, n)
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(n)
	return out
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// bodyRows returns the table's rows as their cells' text.
func bodyRows(t *testing.T, n *html.Node) ([][]string, []*html.Node) {
	t.Helper()
	tb := find(n, "tbody")
	if len(tb) != 1 {
		t.Fatalf("%d tables", len(tb))
	}
	trs := find(tb[0], "tr")
	var out [][]string
	for _, tr := range trs {
		var cells []string
		for _, td := range find(tr, "td") {
			cells = append(cells, textOf(td))
		}
		out = append(out, cells)
	}
	return out, trs
}

func TestOutboxPage(t *testing.T) {
	e := newOutboxEnv(t)
	c := e.browser(t)
	if res, _ := c.do(http.MethodGet, "/staff/outbox", nil); res.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(res.Header.Get("Location"), "/staff/login") {
		t.Fatalf("signed out: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	c.login()

	// Newest first, 50 a page, masked numbers, Chicago time.
	n := c.page("/staff/outbox")
	rows, _ := bodyRows(t, n)
	if len(rows) != 50 {
		t.Fatalf("%d rows on the first page, want 50", len(rows))
	}
	if rows[0][2] != "Result 54" || rows[0][1] != "+1816***0100" || rows[0][3] != "results" || rows[0][4] != "outbox" || rows[0][5] != "sent" {
		t.Errorf("first row %q", rows[0])
	}
	if got := find(n, "time")[0]; textOf(got) != "Mon 2 Mar 2026 9:58 AM CST" || attrOf(got, "datetime") != "2026-03-02T15:58:00Z" {
		t.Errorf("newest time %q %q", textOf(got), attrOf(got, "datetime"))
	}
	if strings.Contains(textOf(n), "+18165550100") {
		t.Error("a full number on the list")
	}
	if older := find(n, "a", "rel", "next"); len(older) != 1 || attrOf(older[0], "href") != "/staff/outbox?page=2" || len(find(n, "a", "rel", "prev")) != 0 {
		t.Errorf("pager on page 1: %d older links", len(older))
	}

	// Page 2: the rest, the unsure and stuck ones highlighted with a
	// release button, the failed one with its error.
	n = c.page("/staff/outbox?page=2")
	rows, trs := bodyRows(t, n)
	if len(rows) != 9 {
		t.Fatalf("%d rows on page 2, want 9", len(rows))
	}
	wantBodies := []string{"Result 4", "Result 3", "Result 2", "Result 1", "Result 0", "Did you reach <Helping Hands>?", "Failed.", "Stuck.", "The oldest."}
	for i, w := range wantBodies {
		if rows[i][2] != w {
			t.Errorf("row %d body %q, want %q", i, rows[i][2], w)
		}
	}
	for i, tr := range trs {
		release := find(tr, "form", "method", "post")
		unsure := i == 5 || i == 7
		if (attrOf(tr, "class") == "warn") != unsure || (len(release) == 1) != unsure {
			t.Errorf("row %d (%s): class %q, %d release forms", i, rows[i][2], attrOf(tr, "class"), len(release))
		}
	}
	if rows[6][5] != "failed" || !strings.Contains(rows[6][6], "Error 21211") {
		t.Errorf("failed row %q", rows[6])
	}
	if !strings.Contains(rows[7][6], "Still sending") {
		t.Errorf("stuck row %q", rows[7])
	}
	if len(find(n, "a", "rel", "prev", "href", "/staff/outbox")) != 1 || len(find(n, "a", "rel", "next")) != 0 {
		t.Error("pager on the last page")
	}

	// Filters, kept in the form and the pager.
	for _, tc := range []struct {
		query string
		rows  int
	}{
		{"?status=unsure", 1},
		{"?purpose=followup", 4},
		{"?purpose=followup&status=sent", 1},
		{"?purpose=results&status=sent", 50},
		{"?purpose=nothing", 0},
	} {
		n := c.page("/staff/outbox" + tc.query)
		got := 0
		if tb := find(n, "tbody"); len(tb) == 1 {
			got = len(find(tb[0], "tr"))
		}
		if got != tc.rows {
			t.Errorf("%s: %d rows, want %d", tc.query, got, tc.rows)
		}
	}
	n = c.page("/staff/outbox?purpose=results&status=sent")
	if len(find(n, "option", "value", "results", "selected", "")) != 1 || len(find(n, "option", "value", "sent", "selected", "")) != 1 {
		t.Error("the filter form forgot the filters")
	}
	if older := find(n, "a", "rel", "next"); len(older) != 1 || attrOf(older[0], "href") != "/staff/outbox?page=2&purpose=results&status=sent" {
		t.Error("the pager forgot the filters")
	}
	// Bad filters are refused on the page itself, saying what was wrong,
	// with the form to correct them (not the public error page).
	for _, tc := range []struct{ query, says string }{
		{"?status=lost&purpose=followup", `There is no message status "lost"`},
		{"?page=two", `The page must be a whole number from 1, not "two".`},
		{"?page=0", `not "0"`},
	} {
		res, body := c.do(http.MethodGet, "/staff/outbox"+tc.query, nil)
		n, err := html.Parse(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		alert := find(n, "p", "role", "alert")
		if res.StatusCode != http.StatusBadRequest || len(alert) != 1 || !strings.Contains(textOf(alert[0]), tc.says) ||
			len(find(n, "form", "action", "/staff/outbox")) != 1 || len(find(n, "tbody")) != 0 {
			t.Errorf("%s: %d, alert %v; want 400 saying %q, the filter form and no rows", tc.query, res.StatusCode, alert, tc.says)
		}
		if strings.Contains(tc.query, "purpose=followup") && len(find(n, "option", "value", "followup", "selected", "")) != 1 {
			t.Errorf("%s: the refused page lost the purpose chosen with it", tc.query)
		}
	}

	// A message's own page has the full number.
	n = c.page(fmt.Sprintf("/staff/outbox/%d", e.ids["followup:failed"]))
	if len(find(n, "a", "href", "tel:+18165550177")) != 1 || len(find(n, "form", "method", "post", "action", fmt.Sprintf("/staff/outbox/%d/release", e.ids["followup:failed"]))) != 0 {
		t.Error("the message page lacks the full number, or offers to release a failed text")
	}
	for _, p := range []string{"/staff/outbox/99999", "/staff/outbox/x"} {
		if res, _ := c.do(http.MethodGet, p, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, res.StatusCode)
		}
	}
}

// Release needs the CSRF token; with it, the unsure text can be sent
// again, and releasing it twice says there is nothing to release.
func TestOutboxRelease(t *testing.T) {
	e := newOutboxEnv(t)
	c := e.browser(t)
	c.login()
	id := e.ids["followup:unsure"]
	page := fmt.Sprintf("/staff/outbox/%d", id)
	n := c.page(page)
	if len(find(n, "form", "method", "post", "action", page+"/release")) != 1 {
		t.Fatal("no release button on an unsure text")
	}
	for _, form := range []url.Values{{}, {"csrf_token": {"forged"}}} {
		if res, _ := c.do(http.MethodPost, page+"/release", form); res.StatusCode != http.StatusForbidden {
			t.Errorf("release with %v: %d, want 403", form, res.StatusCode)
		}
	}
	if m, _ := e.log.Lookup(context.Background(), "followup:unsure"); m.Status != StatusUnsure {
		t.Fatalf("released without a token: %s", m.Status)
	}

	res, body := c.do(http.MethodPost, page+"/release", url.Values{"csrf_token": {c.tok}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != page {
		t.Fatalf("release: %d %s\n%s", res.StatusCode, res.Header.Get("Location"), body)
	}
	if m, _ := e.log.Lookup(context.Background(), "followup:unsure"); m.Status != StatusRetryable {
		t.Errorf("after release: %s", m.Status)
	}
	n = c.page(page)
	if st := find(n, "p", "role", "status"); len(st) != 1 || !strings.Contains(textOf(st[0]), "Released") {
		t.Error("no flash after release")
	}
	if len(find(n, "form", "method", "post", "action", page+"/release")) != 0 {
		t.Error("still releasable")
	}
	res, body = c.do(http.MethodPost, page+"/release", url.Values{"csrf_token": {c.tok}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(body, "nothing to release") {
		t.Errorf("second release: %d\n%s", res.StatusCode, body)
	}
}
