package referral

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/auth"
	"github.com/secondchancekc/secondchance/internal/server"
	"github.com/secondchancekc/secondchance/templates"
	"golang.org/x/net/html"
)

// dirSearch is the staff search box over the directory's service names: a
// stand-in for the search engine, which cmd adapts to the same interface.
type dirSearch struct{ e *env }

func (s dirSearch) SearchServices(ctx context.Context, q ServiceQuery) ([]ServiceHit, error) {
	if q.ZIP == "00000" {
		return nil, invalid("zip", "unknown ZIP code")
	}
	rows, err := s.e.dir.DB().Read.QueryContext(ctx, `SELECT id FROM service WHERE name LIKE ? ORDER BY name LIMIT ?`,
		"%"+q.Text+"%", max(q.Limit, 1))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hits []ServiceHit
	for rows.Next() {
		var id string
		rows.Scan(&id)
		name, org, phone, err := s.e.Lookup.Snapshot(ctx, id)
		if err != nil {
			return nil, err
		}
		hits = append(hits, ServiceHit{ID: id, Name: name, Organization: org, Phone: phone})
	}
	return hits, rows.Err()
}

const staffEmail, staffPass = "sam@secondchancekc.org", "purple monkey dishwasher"

// pageEnv is the queue pages behind the real server, sign-in and renderer.
type pageEnv struct {
	*env
	url    string
	userID string
}

func newPageEnv(t *testing.T) *pageEnv {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t)
	e.Zone = kc
	quiet := slog.New(slog.DiscardHandler)
	pages, err := templates.New(templates.Options{Viewer: auth.PageViewer})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(e.db, nil, auth.Config{BaseURL: "http://staff.test", Logger: quiet, Pages: pages})
	if err != nil {
		t.Fatal(err)
	}
	u, err := svc.CreateUser(ctx, auth.NewUser{Email: staffEmail, Name: "Sam Rivera", Role: auth.RoleStaff, Password: staffPass})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Listen: "127.0.0.1:0", BaseURL: "http://staff.test", Logger: quiet})
	auth.Register(srv.Echo, svc)
	RegisterQueue(srv.Echo.Group("/staff"), QueuePages{Store: e.Store, Pages: pages, Flash: svc.SetFlash, Search: dirSearch{e},
		Actor: func(c echo.Context) string {
			if u := auth.CurrentUser(c); u != nil {
				return strconv.FormatInt(u.ID, 10)
			}
			return ""
		},
		Staff: func(ctx context.Context) ([]StaffMember, error) {
			us, err := svc.Users(ctx)
			var out []StaffMember
			for _, u := range us {
				out = append(out, StaffMember{ID: strconv.FormatInt(u.ID, 10), Name: u.DisplayName()})
			}
			return out, err
		}})
	sctx, cancel := context.WithCancel(ctx)
	addr, wait, err := srv.Start(sctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		wait()
	})
	return &pageEnv{env: e, url: "http://" + addr, userID: strconv.FormatInt(u.ID, 10)}
}

// browser is a person at a browser: a cookie jar, redirects shown, and the
// latest page's CSRF token.
type browser struct {
	t   *testing.T
	e   *pageEnv
	c   *http.Client
	tok string
}

func (e *pageEnv) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, e: e, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) (*http.Response, *html.Node) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.e.url+path, body)
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	n, err := html.Parse(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	if in := findAll(n, "input", "name", "csrf_token"); len(in) > 0 {
		b.tok = attrOf(in[0], "value")
	}
	return res, n
}

// get wants 200.
func (b *browser) get(path string) *html.Node {
	b.t.Helper()
	res, n := b.do(http.MethodGet, path, nil)
	if res.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d\n%s", path, res.StatusCode, textOf(n))
	}
	return n
}

// post sends a form with the CSRF token and wants the status.
func (b *browser) post(path string, form url.Values, status int) (*http.Response, *html.Node) {
	b.t.Helper()
	form.Set("csrf_token", b.tok)
	res, n := b.do(http.MethodPost, path, form)
	if res.StatusCode != status {
		b.t.Fatalf("POST %s: %d, want %d\n%s", path, res.StatusCode, status, textOf(n))
	}
	return res, n
}

func (b *browser) login() {
	b.t.Helper()
	b.get("/staff/login")
	res, _ := b.post("/staff/login", url.Values{"email": {staffEmail}, "password": {staffPass}}, http.StatusSeeOther)
	res.Body.Close()
}

func findAll(n *html.Node, name string, attrs ...string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == name {
			ok := true
			for i := 0; i+1 < len(attrs); i += 2 {
				if v, has := attrIs(n, attrs[i]); !has || v != attrs[i+1] {
					ok = false
				}
			}
			if ok {
				out = append(out, n)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func attrIs(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func attrOf(n *html.Node, key string) string { v, _ := attrIs(n, key); return v }

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode && (n.Parent == nil || n.Parent.Data != "style") {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// one wants exactly one element.
func one(t *testing.T, n *html.Node, name string, attrs ...string) *html.Node {
	t.Helper()
	ns := findAll(n, name, attrs...)
	if len(ns) != 1 {
		t.Fatalf("%d <%s %v>, want 1", len(ns), name, attrs)
	}
	return ns[0]
}

func flashOf(n *html.Node) string {
	if ps := findAll(n, "p", "role", "status"); len(ps) > 0 {
		return textOf(ps[0])
	}
	return ""
}

// queueRows returns the ids of the queue's rows.
func queueRows(n *html.Node) []string {
	var ids []string
	for _, tb := range findAll(n, "tbody") {
		for _, tr := range findAll(tb, "tr") {
			ids = append(ids, strings.TrimPrefix(attrOf(tr, "id"), "f-"))
		}
	}
	return ids
}

// The walk-in flow of the issue: a staff member enters a walk-in with
// consent; the check-in goes out at day 3; the person answers "call me";
// the call appears in the queue; staff claim it, record the outcome, and
// the task is closed.
func TestWalkInFlow(t *testing.T) {
	e := newPageEnv(t)
	ctx := context.Background()
	b := e.browser(t)
	if res, _ := b.do(http.MethodGet, "/staff/queue", nil); res.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(res.Header.Get("Location"), "/staff/login?next=") {
		t.Fatalf("signed out: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	b.login()

	// The form: a key against double submits, walk-in and English by
	// default, the consent words in both languages.
	e.clock.t = t0
	n := b.get("/staff/referrals/new")
	key := attrOf(one(t, n, "input", "name", "key"), "value")
	one(t, n, "input", "id", "channel-walk-in", "checked", "")
	one(t, n, "input", "id", "lang-en", "checked", "")
	if !strings.Contains(textOf(one(t, n, "blockquote", "lang", "en")), "reply STOP") {
		t.Error("the consent words are not shown")
	}
	form := url.Values{"key": {key}, "phone": {"(816) 555-0142"}, "name": {"Dee"}, "language": {"en"}, "consent": {"yes"},
		"channel": {"walk-in"}, "need": {"employment"}, "zip": {"64127"}, "notes": {"came with her sister"}}

	// Search: the results come back as unchecked boxes, the input kept.
	s := cloneForm(form)
	s.Set("action", "search")
	s.Set("q", "Temp-to-Hire")
	_, n = b.post("/staff/referrals", s, http.StatusOK)
	box := one(t, n, "input", "type", "checkbox", "value", svcTempJobs)
	if _, checked := attrIs(box, "checked"); checked {
		t.Error("a search result is checked")
	}
	one(t, n, "input", "name", "phone", "value", "(816) 555-0142")
	one(t, n, "input", "id", "consent", "checked", "")

	// A bad phone: the form again with the message and the input.
	bad := cloneForm(form)
	bad.Set("phone", "555")
	bad.Set("action", "create")
	bad["service_id"] = []string{svcTempJobs}
	_, n = b.post("/staff/referrals", bad, http.StatusBadRequest)
	if msg := textOf(one(t, n, "p", "id", "form-error")); !strings.HasPrefix(msg, "Phone:") {
		t.Errorf("error %q", msg)
	}
	one(t, n, "input", "id", "svc-"+svcTempJobs, "checked", "")
	one(t, n, "input", "name", "key", "value", key)

	// Without the CSRF token: refused.
	noTok := cloneForm(form)
	noTok.Set("action", "create")
	if res, _ := b.do(http.MethodPost, "/staff/referrals", noTok); res.StatusCode != http.StatusForbidden {
		t.Errorf("no CSRF token: %d", res.StatusCode)
	}

	// Create, twice (a double click): one referral.
	form.Set("action", "create")
	form["service_id"] = []string{svcTempJobs}
	res, _ := b.post("/staff/referrals", form, http.StatusSeeOther)
	loc := res.Header.Get("Location")
	refID := strings.TrimPrefix(loc, "/staff/referrals/")
	res, _ = b.post("/staff/referrals", cloneForm(form), http.StatusSeeOther)
	if res.Header.Get("Location") != loc {
		t.Errorf("the second submit went to %s, not %s", res.Header.Get("Location"), loc)
	}
	if rs, total, _ := e.ListReferrals(ctx, ReferralFilter{Phone: "8165550142"}); total != 1 || rs[0].Channel != ChannelWalkIn ||
		rs[0].Client.Consent == nil || rs[0].Client.Consent.Words != ConsentWordsEN || rs[0].CreatedBy != e.userID {
		t.Fatalf("%d referrals: %+v", total, rs)
	}
	n = b.get(loc)
	if f := flashOf(n); !strings.Contains(f, "already saved") {
		t.Errorf("flash after the double submit: %q", f)
	}
	one(t, n, "a", "href", "tel:+18165550142")
	one(t, n, "a", "href", "tel:+18165550101") // the service's phone as snapshotted
	one(t, n, "div", "lang", "es")             // the call script in Spanish

	// Day 3: the check-in goes out; the person asks for a call.
	run, fs, _ := newRunner(e.env)
	if sum, err := run.RunDue(ctx, ct(2026, 3, 5, 10, 0)); err != nil || sum.Sent != 1 {
		t.Fatalf("day 3 run: %+v %v", sum, err)
	}
	if got := fs.texts(); len(got) != 1 || got[0].To != "+18165550142" {
		t.Fatalf("texts %+v", got)
	}
	e.clock.t = ct(2026, 3, 5, 11, 0)
	if _, handled, err := e.HandleReply(ctx, "+18165550142", "can someone call me"); err != nil || !handled {
		t.Fatalf("reply: %v %v", handled, err)
	}

	// The queue: the callback, due now, with the reply and a claim button.
	e.clock.t = ct(2026, 3, 5, 13, 0)
	n = b.get("/staff/queue")
	rows := queueRows(n)
	if len(rows) != 1 {
		t.Fatalf("queue rows %v\n%s", rows, textOf(n))
	}
	fid := rows[0]
	row := one(t, n, "tr", "id", "f-"+fid)
	for _, want := range []string{"today 11:", "Call back", "can someone call me", "+1******0142", "English", "Fair-Chance Temp-to-Hire Jobs"} {
		if !strings.Contains(textOf(row), want) {
			t.Errorf("row %q lacks %q", textOf(row), want)
		}
	}
	if got := textOf(one(t, n, "p", "id", "counts")); !strings.HasPrefix(got, "1 due, 0 overdue, 0 mine, 1 unassigned") {
		t.Errorf("counts %q", got)
	}

	// Claim from the queue, twice: back to the queue both times.
	claim := url.Values{"next": {"/staff/queue"}}
	res, _ = b.post("/staff/followups/"+fid+"/claim", claim, http.StatusSeeOther)
	if res.Header.Get("Location") != "/staff/queue" {
		t.Errorf("claim went to %s", res.Header.Get("Location"))
	}
	b.post("/staff/followups/"+fid+"/claim", cloneForm(claim), http.StatusSeeOther)
	n = b.get("/staff/queue?assignee=me")
	if f := flashOf(n); !strings.Contains(f, "already claimed") {
		t.Errorf("flash %q", f)
	}
	if rows := queueRows(n); len(rows) != 1 || !strings.Contains(textOf(one(t, n, "tr", "id", "f-"+fid)), "Sam Rivera") {
		t.Errorf("my queue %v", rows)
	}

	// A refused outcome keeps its answers; then the outcome in stages,
	// closing the call.
	_, n = b.post("/staff/referrals/"+refID+"/outcome", url.Values{"reached": {"no"}, "got_help": {"yes"}}, http.StatusBadRequest)
	if msg := textOf(one(t, n, "p", "id", "form-error")); !strings.HasPrefix(msg, "Got help:") {
		t.Errorf("error %q", msg)
	}
	one(t, n, "input", "id", "o-reached-no", "checked", "")
	out := url.Values{"reached": {"yes"}, "got_help": {"no"}, "reason": {ReasonWaitlist}, "reason_note": {"six weeks"},
		"still_needs_help": {"yes"}, "close_tasks": {"yes"}}
	b.post("/staff/referrals/"+refID+"/outcome", out, http.StatusSeeOther)
	n = b.get(loc)
	if f := flashOf(n); !strings.Contains(f, "The call task is closed") {
		t.Errorf("flash %q", f)
	}
	b.post("/staff/referrals/"+refID+"/outcome", cloneForm(out), http.StatusSeeOther)
	if f := flashOf(b.get(loc)); !strings.Contains(f, "nothing changed") {
		t.Errorf("flash after the same outcome again %q", f)
	}
	r, _ := e.GetReferral(ctx, refID)
	if r.Outcome == nil || r.Outcome.Source != SourceStaff || r.Outcome.Reason != ReasonWaitlist || r.State != StateClosed ||
		r.Outcome.RecordedBy != e.userID {
		t.Errorf("outcome %+v", r.Outcome)
	}
	if f, _ := e.GetFollowup(ctx, fid); f.State != FollowupDone || f.ClosedBy != e.userID {
		t.Errorf("the callback is %s, closed by %q", f.State, f.ClosedBy)
	}
	if rows := queueRows(b.get("/staff/queue")); len(rows) != 0 {
		t.Errorf("the queue still has %v", rows)
	}
	if rows := queueRows(b.get("/staff/queue?state=done")); len(rows) != 1 || rows[0] != fid {
		t.Errorf("done %v", rows)
	}

	// Closing the closed task says so.
	b.post("/staff/followups/"+fid+"/close", url.Values{"reason": {"called"}}, http.StatusSeeOther)
	if f := flashOf(b.get(loc)); !strings.Contains(f, "already closed") {
		t.Errorf("flash %q", f)
	}

	// The history in plain words.
	hist := textOf(one(t, b.get(loc), "table"))
	for _, want := range []string{"Referral made (walk-in, Jobs)", "Check-in text sent", "Reply to the check-in text, read as: asked for a call",
		"Call back (they asked for a call) claimed by Sam Rivera", "Outcome recorded: reached the provider; got help: no; why: waitlist or no capacity (six weeks); still needs help",
		"waiting → done"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
}

func cloneForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Filters are checked: a bad value or an unknown parameter is a 400 page
// naming it, with the filter form still there.
func TestQueuePageFilters(t *testing.T) {
	e := newPageEnv(t)
	b := e.browser(t)
	b.login()
	for _, q := range []struct{ query, name string }{
		{"state=soon", "state"}, {"need=jobs", "need"}, {"channel=fax", "channel"}, {"kind=email", "kind"},
		{"assignee=99", "assignee"}, {"page=0", "page"}, {"sort=due", "sort"},
	} {
		res, n := b.do(http.MethodGet, "/staff/queue?"+q.query, nil)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", q.query, res.StatusCode)
			continue
		}
		if msg := textOf(one(t, n, "p", "id", "form-error")); !strings.HasPrefix(msg, q.name+":") {
			t.Errorf("%s: message %q", q.query, msg)
		}
		one(t, n, "form", "action", "/staff/queue")
	}
	for _, q := range []string{"", "state=done", "state=upcoming&need=housing&kind=call&channel=voice&partner=x", "assignee=me",
		"assignee=unassigned", "assignee=" + e.userID, "page=3"} {
		b.get("/staff/queue?" + q)
	}
}

// The referral page's actions refuse bad input with the form kept, and
// answer conflicts plainly.
func TestReferralPageActions(t *testing.T) {
	e := newPageEnv(t)
	ctx := context.Background()
	b := e.browser(t)
	b.login()
	e.clock.t = t0
	r := e.create(t, consenting(LanguageES))
	call := followupsOf(t, e.env, r.ID)[KindCall]
	path := "/staff/referrals/" + r.ID
	n := b.get(path)
	if !strings.Contains(textOf(n), "Spanish") {
		t.Error("language not shown")
	}

	// Reschedule into the past: 400, the input kept on that follow-up's form.
	_, n = b.post("/staff/followups/"+call.ID+"/reschedule", url.Values{"date": {"2020-01-02"}, "time": {"09:00"}, "reason": {"later"}}, http.StatusBadRequest)
	if msg := textOf(one(t, n, "p", "id", "form-error")); !strings.HasPrefix(msg, "New date:") {
		t.Errorf("error %q", msg)
	}
	one(t, n, "input", "id", "date-"+call.ID, "value", "2020-01-02")
	one(t, n, "input", "id", "rreason-"+call.ID, "value", "later")
	b.post("/staff/followups/"+call.ID+"/reschedule", url.Values{"date": {"2026-03-12"}, "time": {"17:30"}, "reason": {"after work"}}, http.StatusSeeOther)
	if f, _ := e.GetFollowup(ctx, call.ID); !f.DueAt.Equal(ct(2026, 3, 12, 17, 30)) {
		t.Errorf("due %v", f.DueAt)
	}

	// Someone else's claim: 409 with the message.
	if _, _, err := e.ClaimFollowup(ctx, call.ID, "someone-else"); err != nil {
		t.Fatal(err)
	}
	_, n = b.post("/staff/followups/"+call.ID+"/claim", url.Values{}, http.StatusConflict)
	if msg := textOf(one(t, n, "p", "id", "form-error")); !strings.Contains(msg, "unclaim it first") {
		t.Errorf("conflict %q", msg)
	}

	// Notes: once, however often sent; an empty note is refused.
	b.post(path+"/note", url.Values{"note": {"Prefers texts after 6."}}, http.StatusSeeOther)
	b.post(path+"/note", url.Values{"note": {"Prefers texts after 6."}}, http.StatusSeeOther)
	_, n = b.post(path+"/note", url.Values{"note": {" "}}, http.StatusBadRequest)
	one(t, n, "p", "id", "form-error")
	if hist := textOf(one(t, b.get(path), "table")); strings.Count(hist, "Prefers texts after 6.") != 1 {
		t.Errorf("the note is in the history %d times", strings.Count(hist, "Prefers texts after 6."))
	}

	// Refer again through the inline search: one new referral for the same
	// person, whatever the number of clicks.
	n = b.get(path + "?q=Shelter")
	f := one(t, n, "form", "action", path+"/again")
	key := attrOf(one(t, f, "input", "name", "key"), "value")
	one(t, f, "input", "value", svcShelter)
	again := url.Values{"key": {key}, "service_id": {svcShelter}, "notes": {"tonight"}}
	res, _ := b.post(path+"/again", again, http.StatusSeeOther)
	res2, _ := b.post(path+"/again", cloneForm(again), http.StatusSeeOther)
	if res.Header.Get("Location") != res2.Header.Get("Location") || res.Header.Get("Location") == path {
		t.Errorf("refer again went to %s then %s", res.Header.Get("Location"), res2.Header.Get("Location"))
	}
	if _, total, _ := e.ListReferrals(ctx, ReferralFilter{ClientID: r.ClientID}); total != 2 {
		t.Errorf("%d referrals for the person, want 2", total)
	}
	n = b.get(res.Header.Get("Location"))
	one(t, n, "a", "href", path) // the earlier referral, under "Other referrals"

	// Refer again with a service that is not there: 400 on the same page.
	_, n = b.post(path+"/again", url.Values{"key": {fmt.Sprintf("%032x", 7)}, "service_id": {"nope"}}, http.StatusBadRequest)
	if msg := textOf(one(t, n, "p", "id", "form-error")); !strings.HasPrefix(msg, "Services") {
		t.Errorf("error %q", msg)
	}

	// An unknown referral or follow-up is a 404.
	if res, _ := b.do(http.MethodGet, "/staff/referrals/nope", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown referral: %d", res.StatusCode)
	}
	if res, _ := b.do(http.MethodGet, "/staff/queue/"+call.ID, nil); res.StatusCode != http.StatusSeeOther ||
		res.Header.Get("Location") != path+"#f-"+call.ID {
		t.Errorf("/staff/queue/:id: %d %s", res.StatusCode, res.Header.Get("Location"))
	}

	// The next person of a group: same need and services, no phone or name.
	n = b.get("/staff/referrals/new?from=" + r.ID)
	one(t, n, "input", "id", "svc-"+svcTempJobs, "checked", "")
	one(t, n, "input", "name", "phone", "value", "")
	if _, checked := attrIs(one(t, n, "input", "id", "consent"), "checked"); checked {
		t.Error("consent carried to the next person")
	}
}
