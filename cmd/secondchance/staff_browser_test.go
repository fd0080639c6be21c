package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The staff directory pages in headless Chromium (one server, one
// browser): a staff member signs in, edits a listing, is refused a save
// from a second tab opened before it (with what changed), marks a listing
// verified with a note, accepts a public correction into an edit and
// dismisses another with a reason; every page on the way (queue, a search,
// listing with history, organization, edit form, conflict, corrections, a
// correction, proposals) has no axe-core violation (WCAG 2.1 A/AA).
func TestStaffDirectoryBrowser(t *testing.T) {
	_, base := serveWithStaff(t)

	// Two listings of different organizations.
	svc, other := twoListings(t, base)
	// Two corrections from the public on the first listing, and a partner's
	// proposal, so that those pages have something on them.
	pj := newJar()
	for _, text := range []string{"They moved to 1200 Main St", "Closed on Fridays now"} {
		page, _ := get(t, base+"/services/"+svc.ID+"?correct=1", pj)
		f := formOf(t, page, "/services/"+svc.ID+"/correction")
		f.Set("field", "other")
		f.Set("text", text)
		if code, _ := post(t, base+"/services/"+svc.ID+"/correction", f, pj); code != http.StatusSeeOther {
			t.Fatalf("correction: %d", code)
		}
	}
	if code, o, e := runStdin(t, "partner pass phrase 1\n", "user", "add", "--email", "pat@partner.org", "--role", "partner",
		"--organization", other.OrganizationID, "--password-stdin"); code != 0 {
		t.Fatalf("partner add: %s %s", o, e)
	}
	pat := signInAs(t, base, "pat@partner.org", "partner pass phrase 1")
	otherEdit := "/staff/directory/edit/service/" + other.ID
	_, pe, _ := pat.do(http.MethodGet, otherEdit, nil)
	pf := formOf(t, pe, otherEdit)
	pf.Set("fees_description", "Free for everyone")
	if code, _, _ := pat.do(http.MethodPost, otherEdit, pf); code != http.StatusSeeOther {
		t.Fatalf("partner proposal: %d", code)
	}

	tab, axe := startBrowser(t, 1024, 768)
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		var s string
		if err := chromedp.Run(ctx, chromedp.Text(sel, &s, chromedp.ByQuery)); err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	visit := func(ctx context.Context, path string) {
		t.Helper()
		if err := chromedp.Run(ctx, chromedp.Navigate(base+path), chromedp.WaitReady("main", chromedp.ByQuery)); err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
	}
	// submit clicks a form's button and waits for the next page.
	submit := func(ctx context.Context, button string) {
		t.Helper()
		var loc string
		if err := chromedp.Run(ctx, chromedp.Location(&loc)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Run(ctx,
			chromedp.Evaluate(`document.body.dataset.old = "1"`, nil),
			chromedp.Click(button, chromedp.ByQuery),
		); err != nil {
			t.Fatalf("submit %s on %s: %v", button, loc, err)
		}
		// The old page is gone when the mark is: evaluating may fail while
		// the next one loads.
		for deadline := time.Now().Add(20 * time.Second); ; {
			var fresh bool
			err := chromedp.Run(ctx, chromedp.Evaluate(`document.readyState === "complete" && !!document.querySelector("main") && document.body.dataset.old !== "1"`, &fresh))
			if err == nil && fresh {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("submit %s on %s: no new page (%v)", button, loc, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Sign in.
	visit(tab, "/staff/login")
	if err := chromedp.Run(tab,
		chromedp.SendKeys("#email", "sam@secondchancekc.org", chromedp.ByID),
		chromedp.SendKeys("#password", "purple monkey dishwasher", chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	submit(tab, `form[action="/staff/login"] button`)

	// The queue, and finding a listing.
	visit(tab, "/staff/directory")
	if q := text(tab, "main"); !strings.Contains(q, "Verification queue") || !strings.Contains(q, "2 corrections waiting") {
		t.Errorf("queue: %.400s", q)
	}
	axeCheck(t, tab, axe, "queue")
	if err := chromedp.Run(tab, chromedp.SendKeys("#q", svc.Name[:4], chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	submit(tab, `form[action="/staff/directory"] button`)
	if !strings.Contains(text(tab, "main"), svc.Name) {
		t.Errorf("finding %q did not list it", svc.Name[:4])
	}
	axeCheck(t, tab, axe, "find")
	visit(tab, "/staff/directory/organizations/"+svc.OrganizationID)
	axeCheck(t, tab, axe, "organization")

	// Editing, and a save from a stale tab.
	editPath := "/staff/directory/edit/service/" + svc.ID
	stale, cancelStale := chromedp.NewContext(tab)
	defer cancelStale()
	visit(stale, editPath)
	visit(tab, editPath)
	axeCheck(t, tab, axe, "edit")
	if err := chromedp.Run(tab,
		chromedp.SetValue("#f-name", "Zebra Welding Apprenticeship", chromedp.ByID),
		chromedp.SendKeys("#f-note", "Called them; new name", chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	submit(tab, `form[action="`+editPath+`"] button[type=submit]`)
	var loc string
	chromedp.Run(tab, chromedp.Location(&loc))
	if page := text(tab, "main"); !strings.HasSuffix(loc, "/staff/directory/services/"+svc.ID) || !strings.Contains(page, "Saved.") ||
		!strings.Contains(page, "Zebra Welding Apprenticeship") || !strings.Contains(page, "Called them; new name") {
		t.Fatalf("after saving, at %s: %.600s", loc, page)
	}
	axeCheck(t, tab, axe, "listing with history")
	if err := chromedp.Run(stale, chromedp.SetValue("#f-name", "Welding Jobs", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	submit(stale, `form[action="`+editPath+`"] button[type=submit]`)
	conflict := text(stale, "#conflict")
	if !strings.Contains(conflict, "What changed since you opened this form") || !strings.Contains(conflict, "Zebra Welding Apprenticeship") || !strings.Contains(conflict, "Welding Jobs") {
		t.Errorf("stale save: %.600s", conflict)
	}
	axeCheck(t, stale, axe, "conflict")
	cancelStale()
	if b, _ := get(t, base+"/hsds/services/"+svc.ID, nil); !strings.Contains(b, "Zebra Welding Apprenticeship") {
		t.Fatal("the stale tab overwrote the listing")
	}
	// A bad value is refused beside its field.
	visit(tab, editPath)
	if err := chromedp.Run(tab, chromedp.SetValue("#f-url", "not a url", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	submit(tab, `form[action="`+editPath+`"] button[type=submit]`)
	if !strings.Contains(text(tab, "#err-url"), "is not a full URL") {
		t.Error("a bad URL is not refused beside its field")
	}
	axeCheck(t, tab, axe, "edit with an error")

	// Mark verified, with a note.
	visit(tab, "/staff/directory/services/"+other.ID)
	if err := chromedp.Run(tab, chromedp.SendKeys("#verify-note", "Spoke to Ana at the front desk", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	submit(tab, `form[action="/staff/directory/services/`+other.ID+`/verify"] button`)
	if page := text(tab, "main"); !strings.Contains(page, "Marked verified today.") || !strings.Contains(page, "Spoke to Ana") || !strings.Contains(page, "by sam@secondchancekc.org") {
		t.Errorf("after verifying: %.600s", page)
	}

	// Corrections: accept one into an edit, dismiss the other with a reason.
	visit(tab, "/staff/directory/corrections")
	axeCheck(t, tab, axe, "corrections")
	var hrefs []string
	if err := chromedp.Run(tab, chromedp.Evaluate(`[...document.querySelectorAll('main table a[href^="/staff/directory/corrections/"]')].map(a => a.getAttribute('href'))`, &hrefs)); err != nil || len(hrefs) != 2 {
		t.Fatalf("corrections listed: %v %v", hrefs, err)
	}
	visit(tab, hrefs[0])
	axeCheck(t, tab, axe, "a correction")
	page := text(tab, "main")
	accepted := "1200 Main St"
	if !strings.Contains(page, accepted) {
		accepted = "Closed on Fridays"
	}
	submit(tab, `a[href*="?correction="]`)
	if !strings.Contains(text(tab, "main"), accepted) {
		t.Error("the edit form does not show the correction")
	}
	axeCheck(t, tab, axe, "edit from a correction")
	if err := chromedp.Run(tab, chromedp.SendKeys("#f-note", "Per the correction", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	submit(tab, `form[action="`+editPath+`"] button[type=submit]`)
	if page := text(tab, "main"); !strings.Contains(page, "The correction is marked done.") {
		t.Errorf("accepting a correction: %.400s", page)
	}
	visit(tab, hrefs[1])
	if err := chromedp.Run(tab, chromedp.SendKeys("#reason", "Checked: they are open Fridays", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	submit(tab, `form[action$="/dismiss"] button`)
	visit(tab, hrefs[1])
	if page := text(tab, "main"); !strings.Contains(page, "rejected") || !strings.Contains(page, "Checked: they are open Fridays") {
		t.Errorf("dismissed correction: %.600s", page)
	}
	visit(tab, "/staff/directory/corrections")
	if page := text(tab, "main"); !strings.Contains(page, "No corrections waiting") {
		t.Errorf("corrections left: %.400s", page)
	}

	// The partner's proposal, shown as a diff.
	visit(tab, "/staff/directory/proposals")
	if !strings.Contains(text(tab, "main"), "Free for everyone") {
		t.Error("the proposal is not shown")
	}
	axeCheck(t, tab, axe, "proposals")
	visit(tab, "/staff/directory/upload")
	axeCheck(t, tab, axe, "upload")
}
