package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// upkeepClient is a signed-in browser without JavaScript: cookies, and
// forms read from the HTML.
type upkeepClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (u *upkeepClient) do(method, path string, form url.Values) (int, string, string) {
	u.t.Helper()
	var res *http.Response
	var err error
	if method == http.MethodGet {
		res, err = u.c.Get(u.base + path)
	} else {
		res, err = u.c.PostForm(u.base+path, form)
	}
	if err != nil {
		u.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header.Get("Location")
}

func signInAs(t *testing.T, base, email, password string) *upkeepClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &upkeepClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	_, page, _ := u.do(http.MethodGet, "/staff/login", nil)
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the sign-in page")
	}
	if code, _, _ := u.do(http.MethodPost, "/staff/login", url.Values{"csrf_token": {m[1]}, "email": {email}, "password": {password}}); code != http.StatusSeeOther {
		t.Fatalf("sign in as %s: %d", email, code)
	}
	return u
}

// formOf returns the values a browser would send for the form posting to
// action: inputs, textareas, the selected options, checked boxes only.
func formOf(t *testing.T, page, action string) url.Values {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	attr := func(n *html.Node, k string) string {
		for _, a := range n.Attr {
			if a.Key == k {
				return a.Val
			}
		}
		return ""
	}
	var form *html.Node
	var find func(*html.Node)
	find = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "form" && attr(n, "action") == action && form == nil {
			form = n
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			find(c)
		}
	}
	find(doc)
	if form == nil {
		t.Fatalf("no form posting to %s", action)
	}
	v := url.Values{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			name := attr(n, "name")
			switch n.Data {
			case "input":
				if name != "" && (attr(n, "type") != "checkbox" || hasAttr(n, "checked")) {
					v.Add(name, attr(n, "value"))
				}
			case "textarea":
				s := ""
				if n.FirstChild != nil {
					s = n.FirstChild.Data
				}
				v.Add(name, strings.TrimPrefix(s, "\n"))
			case "select":
				for o := n.FirstChild; o != nil; o = o.NextSibling {
					if o.Type == html.ElementNode && hasAttr(o, "selected") {
						v.Add(name, attr(o, "value"))
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(form)
	return v
}

func hasAttr(n *html.Node, k string) bool {
	for _, a := range n.Attr {
		if a.Key == k {
			return true
		}
	}
	return false
}

// The "done when": a staff member works the verification queue,
// fixes a listing a client reported as wrong and sees the fix in search and
// on the public page within a second, with the change and who made it in
// the listing's history; a second save from a stale form is refused with
// what changed; a partner proposes an update that staff approve, and can
// reach nothing else.
func TestUpkeepEndToEnd(t *testing.T) {
	_, base := serveWithStaff(t)

	svc, other := twoListings(t, base)
	sam := signInAs(t, base, "sam@secondchancekc.org", "purple monkey dishwasher")

	// A client reports the listing wrong through the public page.
	pub, _ := get(t, base+"/services/"+svc.ID, nil)
	_ = pub
	pj := newJar()
	page, _ := get(t, base+"/services/"+svc.ID+"?correct=1", pj)
	f := formOf(t, page, "/services/"+svc.ID+"/correction")
	f.Set("field", "name")
	f.Set("text", "They are called Zebra Welding Apprenticeship now")
	if code, _ := post(t, base+"/services/"+svc.ID+"/correction", f, pj); code != http.StatusSeeOther {
		t.Fatalf("correction: %d", code)
	}
	// It is in the verification queue, and in the corrections.
	_, q, _ := sam.do(http.MethodGet, "/staff/directory", nil)
	if !strings.Contains(q, "/staff/directory/services/"+svc.ID+"#verify") || !strings.Contains(q, "1 correction waiting") {
		t.Fatalf("queue lacks the corrected listing:\n%s", q)
	}
	_, cl, _ := sam.do(http.MethodGet, "/staff/directory/corrections", nil)
	cid := between(cl, `href="/staff/directory/corrections/`, `"`)
	_, cp, _ := sam.do(http.MethodGet, "/staff/directory/corrections/"+cid, nil)
	if !strings.Contains(cp, "Zebra Welding") || !strings.Contains(cp, svc.Name) {
		t.Fatalf("correction page lacks the suggestion beside the listing")
	}

	// Accept into an edit: the form of the service with the correction.
	editPath := "/staff/directory/edit/service/" + svc.ID
	_, ep, _ := sam.do(http.MethodGet, editPath+"?correction="+cid, nil)
	stale := formOf(t, ep, editPath)
	if stale.Get("correction") != cid || stale.Get("version") == "" {
		t.Fatalf("edit form: %v", stale)
	}
	// A bad value is refused beside its field, nothing saved.
	bad := cloneValues(stale)
	bad.Set("url", "not a url")
	code, body, _ := sam.do(http.MethodPost, editPath, bad)
	if code != http.StatusBadRequest || !strings.Contains(body, `id="err-url"`) || !strings.Contains(body, "is not a full URL") {
		t.Fatalf("bad url: %d\n%s", code, body)
	}
	fix := cloneValues(stale)
	fix.Set("name", "Zebra Welding Apprenticeship")
	fix.Set("verify", "yes")
	fix.Set("note", "Called them; new name")
	saved := time.Now()
	if code, _, loc := sam.do(http.MethodPost, editPath, fix); code != http.StatusSeeOther || loc != "/staff/directory/services/"+svc.ID {
		t.Fatalf("save: %d %s", code, loc)
	}
	// Search has it within a second, through the change feed.
	for {
		s, _ := get(t, base+"/api/search?q=zebra+welding", nil)
		if strings.Contains(s, svc.ID) {
			break
		}
		if time.Since(saved) > time.Second {
			t.Fatalf("search does not have the edit after a second")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p, _ := get(t, base+"/services/"+svc.ID, nil); !strings.Contains(p, "Zebra Welding Apprenticeship") || !strings.Contains(p, "Last checked: this month") {
		t.Error("public page lacks the fix or how recently it was verified")
	}
	var got map[string]any
	b, _ := get(t, base+"/hsds/services/"+svc.ID, nil)
	json.Unmarshal([]byte(b), &got)
	if got["assurer_email"] != "sam@secondchancekc.org" || got["assured_date"] == nil {
		t.Errorf("not verified by the edit: %v %v", got["assured_date"], got["assurer_email"])
	}
	// The correction is done; the history says who changed what.
	_, lp, _ := sam.do(http.MethodGet, "/staff/directory/services/"+svc.ID, nil)
	if !strings.Contains(lp, "Name of the service") || !strings.Contains(lp, "sam@secondchancekc.org") || !strings.Contains(lp, "Called them; new name") {
		t.Fatalf("history lacks the change:\n%s", lp)
	}
	if strings.Contains(lp, "/staff/directory/corrections/"+cid) {
		t.Error("the correction is still shown as waiting")
	}

	// The stale form (someone else's tab) is refused, with what changed.
	stale.Set("name", "Welding Jobs")
	code, body, _ = sam.do(http.MethodPost, editPath, stale)
	if code != http.StatusConflict || !strings.Contains(body, "What changed since you opened this form") || !strings.Contains(body, "Zebra Welding Apprenticeship") {
		t.Fatalf("stale save: %d\n%s", code, body)
	}
	b, _ = get(t, base+"/hsds/services/"+svc.ID, nil)
	if !strings.Contains(b, "Zebra Welding Apprenticeship") {
		t.Fatal("a stale save overwrote the listing")
	}

	// One-click revert of the name change.
	mid := between(lp[strings.Index(lp, "Name of the service")-2000:], `action="/staff/directory/revert/`, `"`)
	rf := formOf(t, lp, "/staff/directory/revert/"+mid)
	if code, _, _ := sam.do(http.MethodPost, "/staff/directory/revert/"+mid, rf); code != http.StatusSeeOther {
		t.Fatalf("revert: %d", code)
	}
	b, _ = get(t, base+"/hsds/services/"+svc.ID, nil)
	if !strings.Contains(b, svc.Name) {
		t.Fatalf("revert did not restore %q", svc.Name)
	}

	// Close temporarily: an alert is required; the public page shows it.
	_, lp, _ = sam.do(http.MethodGet, "/staff/directory/services/"+svc.ID, nil)
	sf := formOf(t, lp, "/staff/directory/services/"+svc.ID+"/status")
	if code, _, _ := sam.do(http.MethodPost, "/staff/directory/services/"+svc.ID+"/status", sf); code != http.StatusBadRequest {
		t.Fatalf("close without an alert: %d", code)
	}
	sf.Set("alert", "Closed for repairs; call first.")
	sf.Set("reopens_on", "2030-01-15")
	if code, _, _ := sam.do(http.MethodPost, "/staff/directory/services/"+svc.ID+"/status", sf); code != http.StatusSeeOther {
		t.Fatalf("close: %d", code)
	}
	if p, _ := get(t, base+"/services/"+svc.ID, nil); !strings.Contains(p, "Closed for repairs") {
		t.Error("public page lacks the alert")
	}

	// Mark verified with a note, from the listing.
	_, lp, _ = sam.do(http.MethodGet, "/staff/directory/services/"+other.ID, nil)
	vf := formOf(t, lp, "/staff/directory/services/"+other.ID+"/verify")
	vf.Set("note", "Spoke to Ana at the front desk")
	if code, _, _ := sam.do(http.MethodPost, "/staff/directory/services/"+other.ID+"/verify", vf); code != http.StatusSeeOther {
		t.Fatalf("verify: %d", code)
	}
	if _, lp, _ = sam.do(http.MethodGet, "/staff/directory/services/"+other.ID, nil); !strings.Contains(lp, "Spoke to Ana") || !strings.Contains(lp, "this month") {
		t.Error("verification not shown")
	}

	// A partner of the first service's organization.
	if code, o, e := runStdin(t, "partner pass phrase 1\n", "user", "add", "--email", "pat@partner.org", "--role", "partner",
		"--organization", svc.OrganizationID, "--password-stdin"); code != 0 {
		t.Fatalf("partner add: %s %s", o, e)
	}
	if code, _, _ := runStdin(t, "partner pass phrase 1\n", "user", "add", "--email", "x@partner.org", "--role", "partner", "--password-stdin"); code == 0 {
		t.Error("a partner without an organization was created")
	}
	pat := signInAs(t, base, "pat@partner.org", "partner pass phrase 1")
	for _, path := range []string{"/staff/queue", "/staff/reports", "/staff/reports/export.csv", "/staff/outbox", "/staff/referrals/new",
		"/api/staff/referrals", "/api/staff/me", "/staff/admin/users", "/staff/directory/corrections", "/staff/directory/corrections/" + cid,
		"/staff/directory/services/" + other.ID, "/staff/directory/organizations/" + other.OrganizationID,
		"/staff/directory/edit/service/" + other.ID, "/staff/directory/new/phone?service_id=" + other.ID, "/staff/directory/new/organization"} {
		if code, body, _ := pat.do(http.MethodGet, path, nil); code != http.StatusForbidden && code != http.StatusNotFound {
			t.Errorf("partner GET %s: %d %.200s", path, code, body)
		}
	}
	_, own, _ := pat.do(http.MethodGet, "/staff/directory/services/"+svc.ID, nil)
	tok := csrfInput.FindStringSubmatch(own)
	if tok == nil {
		t.Fatalf("partner cannot open their own listing:\n%s", own)
	}
	for _, path := range []string{"/staff/directory/services/" + other.ID + "/verify", "/staff/directory/revert/x", "/staff/directory/corrections/" + cid + "/dismiss",
		"/staff/directory/proposals/1", "/api/staff/referrals"} {
		if code, _, _ := pat.do(http.MethodPost, path, url.Values{"csrf_token": {tok[1]}, "listing": {other.ID}}); code != http.StatusForbidden && code != http.StatusNotFound {
			t.Errorf("partner POST %s: %d", path, code)
		}
	}
	_, pe, _ := pat.do(http.MethodGet, editPath, nil)
	pf := formOf(t, pe, editPath)
	pf.Set("fees_description", "Free for everyone")
	if code, _, _ := pat.do(http.MethodPost, editPath, pf); code != http.StatusSeeOther {
		t.Fatalf("partner proposal: %d", code)
	}
	if b, _ = get(t, base+"/hsds/services/"+svc.ID, nil); strings.Contains(b, "Free for everyone") {
		t.Fatal("a partner's proposal was published before approval")
	}
	_, pp, _ := sam.do(http.MethodGet, "/staff/directory/proposals", nil)
	pid := between(pp, `action="/staff/directory/proposals/`, `"`)
	if !strings.Contains(pp, "<ins>Free for everyone</ins>") {
		t.Fatalf("proposal diff:\n%s", pp)
	}
	af := formOf(t, pp, "/staff/directory/proposals/"+pid)
	af.Set("decision", "approve")
	if code, _, _ := sam.do(http.MethodPost, "/staff/directory/proposals/"+pid, af); code != http.StatusSeeOther {
		t.Fatalf("approve: %d", code)
	}
	if b, _ = get(t, base+"/hsds/services/"+svc.ID, nil); !strings.Contains(b, "Free for everyone") {
		t.Fatal("the approved proposal is not published")
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i+len(start):]
	if j := strings.Index(s, end); j >= 0 {
		return s[:j]
	}
	return s
}
