package templates

import (
	"html/template"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/net/html"
)

type fakeUser struct {
	Name  string
	Role  string
	Admin bool
}

func (u *fakeUser) DisplayName() string { return u.Name }
func (u *fakeUser) IsAdmin() bool       { return u.Admin }
func (u *fakeUser) IsPartner() bool     { return u.Role == "partner" }

var (
	admin   = &fakeUser{Name: "Ada", Role: "admin", Admin: true}
	staff   = &fakeUser{Name: "Sam", Role: "staff"}
	partner = &fakeUser{Name: "Pat", Role: "partner"}
)

const token = "tok-123"

type m = map[string]any

// sample is one page rendered with representative data, and what its HTML
// must hold beyond what every page must (checkAccessible).
type sample struct {
	page  string
	path  string
	p     Page
	check func(t *testing.T, d *doc)
}

// samples has at least one entry per registered page: TestEveryPage fails
// for a page without one.
var samples = []sample{
	{page: "staff/login", path: "/staff/login", p: Page{Title: "Staff sign in", Error: "The email or password is wrong.",
		Data: m{"Email": "sam@example.org", "Next": "/staff/queue"}},
		check: func(t *testing.T, d *doc) {
			f := d.one("form", "action", "/staff/login")
			if v, _ := attr(d.one("input", "name", "next"), "value"); v != "/staff/queue" {
				t.Errorf("next=%q", v)
			}
			if v, _ := attr(d.one("input", "name", "email"), "value"); v != "sam@example.org" {
				t.Errorf("email kept as %q", v)
			}
			if v, _ := attr(f, "aria-describedby"); v != "form-error" {
				t.Errorf("form not described by its error: %q", v)
			}
			d.one("p", "id", "form-error", "role", "alert")
			d.one("input", "name", "password", "autocomplete", "current-password")
			if len(d.all("nav")) != 0 {
				t.Error("navigation shown to someone not signed in")
			}
		}},
	{page: "staff/invite", path: "/staff/invite/x", p: Page{Title: "Create your staff account",
		Data: m{"Reset": false, "Email": "new@example.org", "Role": "staff", "Expires": "Thu 5 Mar 2026 9:00 AM CST", "Name": "New"}},
		check: func(t *testing.T, d *doc) {
			d.one("input", "name", "name", "value", "New")
			d.one("input", "name", "password", "autocomplete", "new-password")
			d.one("input", "name", "confirm")
		}},
	{page: "staff/users", path: "/staff/admin/users", p: Page{Title: "Staff accounts", User: admin,
		Data: m{"InviteEmail": "", "InviteRole": "staff", "Users": []m{
			{"ID": 1, "Email": "ada@example.org", "Name": "Ada", "Role": "admin", "Status": "Active", "Sessions": 1, "Self": true, "Disabled": false},
			{"ID": 2, "Email": "sam@example.org", "Name": "Sam", "Role": "staff", "Status": "Active", "Sessions": 0, "Self": false, "Disabled": false},
			{"ID": 3, "Email": "old@example.org", "Name": "", "Role": "staff", "Status": "Disabled", "Sessions": 0, "Self": false, "Disabled": true},
		}}},
		check: func(t *testing.T, d *doc) {
			d.one("form", "action", "/staff/admin/users/invite")
			d.one("form", "action", "/staff/admin/users/2/disable")
			d.one("form", "action", "/staff/admin/users/2/reset")
			d.one("form", "action", "/staff/admin/users/3/enable")
			if n := len(d.all("tr")); n != 4 {
				t.Errorf("%d table rows, want a header and 3", n)
			}
			d.one("option", "value", "staff", "selected", "")
		}},
	{page: "staff/link", path: "/staff/admin/users/invite", p: Page{Title: "Invitation link", User: admin,
		Data: m{"Reset": false, "Expires": "Thu 5 Mar 2026 9:00 AM CST", "Link": m{"URL": "https://example.org/staff/invite/abc", "Email": "new@example.org", "Role": "staff"}}},
		check: func(t *testing.T, d *doc) {
			if got := text(d.one("p", "id", "link")); got != "https://example.org/staff/invite/abc" {
				t.Errorf("link %q", got)
			}
		}},
	{page: "staff/home", path: "/staff/", p: Page{Title: "Staff", User: staff},
		check: func(t *testing.T, d *doc) {
			main := d.one("main")
			for _, href := range []string{"/staff/queue", "/staff/referrals/new", "/staff/reports", "/staff/outbox"} {
				if len(all(main, tag("a", "href", href))) != 1 {
					t.Errorf("home does not link to %s", href)
				}
			}
			if len(d.all("a", "href", "/staff/admin/users")) != 0 {
				t.Error("staff (not admin) see the accounts link")
			}
		}},
	{page: "staff/outbox", path: "/staff/outbox", p: Page{Title: "Outbox", User: staff,
		Data: m{"Purpose": "followup", "Status": "", "Purposes": []string{"followup", "results"}, "Statuses": []string{"sending", "sent", "unsure"},
			"Total": 120, "First": 51, "Last": 52, "Newer": "/staff/outbox?purpose=followup", "Older": "/staff/outbox?page=3&purpose=followup",
			"Rows": []m{
				{"ID": 9, "ISOTime": "2026-03-02T15:00:00Z", "Time": "Mon 2 Mar 2026 9:00 AM CST", "Masked": "+1816***0100", "Body": "Did you reach them?",
					"Purpose": "followup", "Provider": "outbox", "Status": "sent", "Error": "", "Unsure": false},
				{"ID": 8, "ISOTime": "2026-03-02T14:00:00Z", "Time": "Mon 2 Mar 2026 8:00 AM CST", "Masked": "+1816***0101", "Body": "<b>hi</b>",
					"Purpose": "followup", "Provider": "twilio", "Status": "unsure", "Error": "no answer", "Unsure": true},
			}}},
		check: func(t *testing.T, d *doc) {
			if n := len(d.all("th")); n != 7 {
				t.Errorf("%d column headers, want 7", n)
			}
			rows := all(d.one("tbody"), tag("tr"))
			if len(rows) != 2 {
				t.Fatalf("%d rows", len(rows))
			}
			if c, _ := attr(rows[1], "class"); c != "warn" || len(all(rows[1], tag("form", "action", "/staff/outbox/8/release"))) != 1 {
				t.Errorf("the unsure row is not highlighted with a release button")
			}
			if c, _ := attr(rows[0], "class"); c != "" || len(all(rows[0], tag("form"))) != 0 {
				t.Errorf("a sent row is highlighted or releasable")
			}
			if !strings.Contains(text(rows[1]), "<b>hi</b>") {
				t.Error("the body is not shown as text")
			}
			d.one("option", "value", "followup", "selected", "")
			d.one("form", "method", "get", "action", "/staff/outbox")
			d.one("a", "rel", "prev", "href", "/staff/outbox?purpose=followup")
			d.one("a", "rel", "next")
			if len(d.all("a", "href", "/staff/outbox/9")) != 1 {
				t.Error("no link to a message's page")
			}
		}},
	{page: "staff/outbox_message", path: "/staff/outbox/8", p: Page{Title: "Text message 8", User: staff,
		Data: m{"ID": 8, "To": "+18165550101", "Body": "Did you reach them?", "Purpose": "followup", "Status": "unsure", "Provider": "twilio",
			"ProviderSID": "", "ProviderStatus": "", "Attempts": 1, "ISOTime": "2026-03-02T14:00:00Z", "Time": "Mon 2 Mar 2026 8:00 AM CST",
			"Updated": "Mon 2 Mar 2026 8:01 AM CST", "Error": "no answer", "Ref": "followup:8", "Unsure": true, "StatusHelp": "Unsure: check first."}},
		check: func(t *testing.T, d *doc) {
			d.one("a", "href", "tel:+18165550101")
			d.one("form", "action", "/staff/outbox/8/release")
			d.one("dl")
		}},
	{page: "staff/queue", path: "/staff/queue", p: Page{Title: "Follow-up queue", User: staff,
		Data: m{"State": "due", "Need": "housing", "Partner": "", "Channel": "", "Assignee": "", "Kind": "",
			"States":   []m{{"Value": "due", "Label": "Due"}, {"Value": "done", "Label": "Done"}},
			"Needs":    []m{{"Value": "housing", "Label": "Housing"}, {"Value": "employment", "Label": "Jobs"}},
			"Channels": []m{{"Value": "walk-in", "Label": "Walk-in"}}, "Kinds": []m{{"Value": "call", "Label": "Call"}},
			"Assignees": []m{{"Value": "me", "Label": "Me (my queue)"}, {"Value": "unassigned", "Label": "Nobody"}},
			"Partners":  []string{"Bridgeway Staffing Partners"},
			"Views": []m{{"Label": "due", "Count": 12, "Link": "/staff/queue?need=housing", "Here": true},
				{"Label": "overdue", "Count": 3, "Link": "/staff/queue?need=housing&state=overdue", "Here": false},
				{"Label": "mine", "Count": 5, "Link": "/staff/queue?assignee=me&need=housing", "Here": false}},
			"Mine": "/staff/queue?assignee=me", "Total": 12, "First": 1, "Last": 2, "Prev": "", "Next": "/staff/queue?need=housing&page=2",
			"Here": "/staff/queue?need=housing", "Refused": false,
			"Rows": []m{
				{"ID": "f1", "ReferralID": "r1", "Due": "Mon 2 Mar 2026 9:00 AM", "DueISO": "2026-03-02T15:00:00Z", "DueWhen": "overdue 2 days",
					"Overdue": true, "Kind": "Call back", "Task": true, "Status": "asked for a call by text", "Outbox": false, "Need": "Housing",
					"Services": []string{"New Roots (New Roots Inc)"}, "Language": "Spanish", "Phone": "+1******0217", "Assignee": "",
					"Mine": false, "Unassigned": true, "Open": true, "LastReply": "<call me>", "LastReplyWhen": "Mon 2 Mar 2026 8:00 AM"},
				{"ID": "f2", "ReferralID": "r2", "Due": "Wed 4 Mar 2026 9:00 AM", "DueISO": "2026-03-04T15:00:00Z", "DueWhen": "today 9:00 AM",
					"Overdue": false, "Kind": "Check-in text", "Task": false, "Status": "Unsure if sent", "Outbox": true, "Need": "Housing",
					"Services": []string{"Shelter"}, "Language": "English", "Phone": "", "Assignee": "Sam",
					"Mine": true, "Unassigned": false, "Open": true, "LastReply": "", "LastReplyWhen": ""},
			}}},
		check: func(t *testing.T, d *doc) {
			d.one("form", "method", "get", "action", "/staff/queue")
			d.one("option", "value", "housing", "selected", "")
			rows := all(d.one("tbody"), tag("tr"))
			if len(rows) != 2 {
				t.Fatalf("%d rows", len(rows))
			}
			if c, _ := attr(rows[0], "class"); c != "warn" || !strings.Contains(text(rows[0]), "overdue 2 days") {
				t.Error("the overdue row is not marked, or its due time not said plainly")
			}
			claim := all(rows[0], tag("form", "action", "/staff/followups/f1/claim"))
			if len(claim) != 1 || len(all(claim[0], tag("input", "name", "next", "value", "/staff/queue?need=housing"))) != 1 {
				t.Error("the unclaimed row has no claim form returning to this page")
			}
			if len(all(rows[1], tag("form", "action", "/staff/followups/f2/unclaim"))) != 1 || len(all(rows[1], tag("a", "href", "/staff/outbox?status=unsure"))) != 1 {
				t.Error("my unsure row has no unclaim form or no outbox link")
			}
			if !strings.Contains(text(rows[0]), "<call me>") || strings.Contains(text(rows[1]), "+1") {
				t.Error("the reply is not shown as text, or a missing phone is shown")
			}
			if got := text(d.one("p", "id", "counts")); !strings.HasPrefix(got, "12 due, 3 overdue, 5 mine") {
				t.Errorf("counts %q", got)
			}
			d.one("a", "href", "/staff/referrals/r1#f-f1")
			d.one("a", "rel", "next", "href", "/staff/queue?need=housing&page=2")
			d.one("datalist", "id", "partners")
		}},
	{page: "staff/queue_referral", path: "/staff/referrals/r1", p: Page{Title: "Referral: Housing for Ana", User: staff, Error: "New date: must not be in the past",
		Data: m{"ID": "r1", "Need": "Housing", "ZIP": "64127", "Channel": "Walk-in", "Created": "Mon 2 Mar 2026 9:00 AM", "CreatedBy": "Sam",
			"Notes": "", "Outcome": "nothing recorded yet", "Closed": false, "Next": "/staff/referrals/new?from=r1",
			"Client": m{"Name": "Ana", "Language": "Spanish", "Phone": "+18162310217", "Tel": "+18162310217", "Masked": "+1******0217",
				"Consent": "Agreed to follow-up texts", "ConsentWords": "Can we text you?", "ConsentWhen": "Mon 2 Mar 2026 9:00 AM, walk-in",
				"OptedOut": "", "Deleted": false, "CanFollowUp": true},
			"Services": []m{{"ID": "s1", "Name": "New Roots", "Organization": "New Roots Inc", "Phone": "(816) 555-0116", "Tel": "+18165550116",
				"NowPhone": "(816) 555-0199", "NowTel": "+18165550199", "Gone": false, "Outcome": ""}},
			"Followups": []m{
				{"ID": "f1", "Kind": "Call back", "State": "Waiting", "Due": "Mon 2 Mar 2026 9:00 AM", "DueISO": "2026-03-02T15:00:00Z", "DueWhen": "overdue 2 days",
					"Overdue": true, "Open": true, "Pending": true, "Task": true, "Unsure": false, "Reason": "asked for a call", "Body": "", "Sent": "",
					"Reply": "", "ReplyCode": "", "Replied": "", "Assignee": "Sam", "Mine": true, "Unassigned": false, "Closed": "",
					"DueDate": "2026-03-01", "DueTime": "10:00", "RescheduleReason": "later", "CloseReason": ""},
				{"ID": "f0", "Kind": "Check-in text", "State": "Answered", "Due": "Mon 2 Mar 2026 9:00 AM", "DueISO": "2026-03-02T15:00:00Z", "DueWhen": "",
					"Overdue": false, "Open": false, "Pending": false, "Task": false, "Unsure": false, "Reason": "", "Body": "Did you reach them?", "Sent": "x",
					"Reply": "call me", "ReplyCode": "asked for a call", "Replied": "x", "Assignee": "", "Mine": false, "Unassigned": true, "Closed": "",
					"DueDate": "", "DueTime": "", "RescheduleReason": "", "CloseReason": ""}},
			"History":  []m{{"When": "Mon 2 Mar 2026 9:00 AM", "ISO": "2026-03-02T15:00:00Z", "Who": "Sam", "What": "Referral made."}},
			"Others":   []m{},
			"Reasons":  []m{{"Value": "waitlist", "Label": "waitlist or no capacity"}},
			"OForm":    m{"ServiceID": "", "Reached": "yes", "GotHelp": "", "Reason": "", "ReasonNote": "", "Still": "", "CloseTasks": true},
			"NoteText": "", "AgainNotes": "", "Q": "job", "Searched": true, "SearchOn": true, "Key": "k", "SearchErr": "", "Today": "2026-03-04",
			"Results": []m{{"ID": "s2", "Name": "Temp Jobs", "Organization": "Bridgeway", "Phone": "(816) 555-0101", "Checked": false}}}},
		check: func(t *testing.T, d *doc) {
			d.one("a", "href", "tel:+18162310217")
			d.one("a", "href", "tel:+18165550116")
			d.one("a", "href", "tel:+18165550199")
			d.one("input", "id", "o-reached-yes", "checked", "")
			d.one("input", "id", "o-close", "checked", "")
			d.one("input", "name", "date", "value", "2026-03-01")
			d.one("input", "name", "reason", "value", "later")
			for _, a := range []string{"/staff/followups/f1/unclaim", "/staff/followups/f1/reschedule", "/staff/followups/f1/close",
				"/staff/referrals/r1/outcome", "/staff/referrals/r1/note", "/staff/referrals/r1/again"} {
				d.one("form", "action", a)
			}
			if len(d.all("form", "action", "/staff/followups/f0/close")) != 0 {
				t.Error("an answered text can be closed")
			}
			d.one("div", "lang", "es")
			d.one("input", "name", "service_id", "value", "s2")
			d.one("a", "href", "/staff/referrals/new?from=r1")
		}},
	{page: "staff/queue_new", path: "/staff/referrals/new", p: Page{Title: "New referral", User: staff, Error: "Phone: not a phone number",
		Data: m{"Phone": "555", "Name": "Ana", "Language": "es", "Channel": "walk-in", "Need": "housing", "ZIP": "64127", "Notes": "", "Q": "shelter",
			"Key": "abc", "Consent": true, "ConsentEN": "Can we text you?", "ConsentES": "¿Podemos enviarle un mensaje?",
			"Needs": []m{{"Value": "housing", "Label": "Housing"}}, "Channels": []m{{"Value": "walk-in", "Label": "Walk-in"}, {"Value": "staff", "Label": "Staff"}},
			"Services": []m{{"ID": "s1", "Name": "Shelter", "Organization": "", "Phone": "", "Checked": true},
				{"ID": "s2", "Name": "House", "Organization": "Org", "Phone": "", "Checked": false}},
			"Searched": true, "SearchOn": true}},
		check: func(t *testing.T, d *doc) {
			f := d.one("form", "action", "/staff/referrals")
			if v, _ := attr(f, "aria-describedby"); v != "form-error" {
				t.Error("the form is not described by its error")
			}
			d.one("input", "name", "phone", "value", "555")
			d.one("input", "id", "lang-es", "checked", "")
			d.one("input", "id", "consent", "checked", "")
			d.one("input", "id", "svc-s1", "checked", "")
			if has(d.one("input", "id", "svc-s2"), "checked") {
				t.Error("a search result is checked")
			}
			d.one("input", "type", "hidden", "name", "key", "value", "abc")
			d.one("button", "name", "action", "value", "search")
			d.one("button", "name", "action", "value", "create")
			if !strings.Contains(text(d.one("blockquote", "lang", "es")), "Podemos") {
				t.Error("the Spanish consent words are not shown")
			}
		}},
	{page: "staff/directory", path: "/staff/directory", p: Page{Title: "Directory", User: staff,
		Data: m{"VerifyAfter": 12, "Corrections": 2, "Proposals": 1, "Find": "food", "Partner": false,
			"Found": []m{{"ID": "s1", "Name": "Food <pantry>", "Org": "Harvest", "Status": "active"}},
			"Items": []m{{"ServiceID": "s2", "Name": "Job club", "Org": "New Roots", "Status": "temporarily closed", "AssuredDate": "",
				"Referrals": 7, "Why": "never verified; 1 correction waiting"}}}},
		check: func(t *testing.T, d *doc) {
			d.one("a", "href", "/staff/directory/services/s2#verify")
			d.one("a", "href", "/staff/directory/corrections")
			d.one("input", "name", "q", "value", "food")
		}},
	{page: "staff/directory_service", path: "/staff/directory/services/s2", p: Page{Title: "Job club", User: staff, CSRF: token,
		Data: m{"ID": "s2", "Name": "Job club", "Org": "New Roots", "OrgID": "o1", "Status": "active", "Version": "v1",
			"Verified": "2025-01-02 (14 months ago) by sam@example.org", "Due": true, "LastModified": "Mon 2 Mar 2026 8:00 AM",
			"Details": []m{{"Label": "Description", "Value": "Weekly job club."}}, "Flag": m{"Reason": "couldnt_reach:3", "Reports": 3},
			"Corrections": []m{{"ID": 4, "Field": "phone", "Text": "The number is wrong"}},
			"Phones":      []m{{"Tel": "+18165550100", "Text": "(816) 555-0100"}}, "Script": []string{"Hello."},
			"Groups": []m{{"Title": "Phones", "Table": "phone", "NewURL": "/staff/directory/new/phone?service_id=s2",
				"Items": []m{{"ID": "p1", "Summary": "(816) 555-0100", "Version": "v2", "EditURL": "/staff/directory/edit/phone/p1", "DeleteURL": "/staff/directory/delete/phone/p1"}}}},
			"History": []m{{"ID": "h1", "When": "2 Mar 2026 8:00 AM", "By": "sam@example.org", "What": "Name of the service: a → b", "Revertible": true, "Note": "called"}}}},
		check: func(t *testing.T, d *doc) {
			d.one("form", "action", "/staff/directory/services/s2/verify")
			d.one("form", "action", "/staff/directory/revert/h1")
			d.one("form", "action", "/staff/directory/delete/phone/p1")
			d.one("a", "href", "tel:+18165550100")
			d.one("input", "name", "version", "value", "v2")
		}},
	{page: "staff/directory_org", path: "/staff/directory/organizations/o1", p: Page{Title: "New Roots", User: staff,
		Data: m{"ID": "o1", "Name": "New Roots", "Details": []m{{"Label": "Description", "Value": "Reentry help."}},
			"Services":  []m{{"ID": "s2", "Name": "Job club", "Status": "active"}},
			"Locations": []m{{"ID": "l1", "Summary": "Main office — 1 Main St", "EditURL": "/staff/directory/edit/location/l1"}}}},
		check: func(t *testing.T, d *doc) {
			d.one("a", "href", "/staff/directory/new/service?organization_id=o1")
			d.one("a", "href", "/staff/directory/new/address?location_id=l1")
		}},
	{page: "staff/directory_edit", path: "/staff/directory/edit/service/s2", p: Page{Title: "Edit service: Job club", User: staff, CSRF: token,
		Error: "Someone else saved this record after you opened it.",
		Data: m{"Table": "service", "Kind": "service", "ID": "s2", "Version": "v3", "Action": "/staff/directory/edit/service/s2", "Back": "/staff/directory/services/s2",
			"CanVerify": true, "Verify": true, "Note": "", "Correction": m{"ID": 4, "Field": "phone", "Text": "Wrong", "CreatedAt": time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
			"Conflict": []m{{"Label": "Name", "Base": "Job club", "Now": "Job Club KC", "Yours": "Jobs club"}},
			"Fields": []m{{"Name": "name", "Label": "Name", "Value": "Jobs club", "Base": "Job Club KC", "Required": true, "Kind": "text"},
				{"Name": "url", "Label": "Url", "Value": "nope", "Kind": "url", "Error": "\"nope\" is not a full URL"},
				{"Name": "status", "Label": "Status", "Kind": "select", "Options": []m{{"Value": "active", "Label": "active", "Selected": true}}},
				{"Name": "description", "Label": "Description", "Kind": "textarea", "Value": "x"}}}},
		check: func(t *testing.T, d *doc) {
			d.one("input", "name", "version", "value", "v3")
			d.one("input", "name", "correction", "value", "4")
			d.one("input", "id", "f-url", "aria-invalid", "true", "aria-describedby", "err-url")
			d.one("input", "name", "verify", "checked", "")
			d.one("select", "id", "f-status")
		}},
	{page: "staff/directory_corrections", path: "/staff/directory/corrections", p: Page{Title: "Corrections from the public", User: staff,
		Data: m{"Rows": []m{{"ID": 4, "When": "1 Mar 2026", "Service": "Job club", "Field": "phone", "Text": "<b>wrong</b>", "Status": "new"}}}},
		check: func(t *testing.T, d *doc) {
			d.one("a", "href", "/staff/directory/corrections/4")
		}},
	{page: "staff/directory_correction", path: "/staff/directory/corrections/4", p: Page{Title: "Correction 4", User: staff, CSRF: token,
		Data: m{"ID": 4, "ServiceID": "s2", "Field": "phone", "Text": "wrong", "Contact": "", "When": "1 Mar 2026", "Lang": "en", "Status": "new",
			"Current": []m{{"Label": "Phone", "Value": "(816) 555-0100"}}, "Gone": false, "Reason": ""}},
		check: func(t *testing.T, d *doc) {
			d.one("a", "href", "/staff/directory/edit/service/s2?correction=4")
			d.one("form", "action", "/staff/directory/corrections/4/dismiss")
		}},
	{page: "staff/directory_proposals", path: "/staff/directory/proposals", p: Page{Title: "Proposals from partners", User: staff, CSRF: token,
		Data: m{"Partner": false, "Rows": []m{{"ID": 9, "RowID": "p1", "Kind": "phone", "Listing": "Job club", "ProposedBy": "pat@example.org", "When": "2 Mar 2026",
			"Status": "new", "Diff": []m{{"Label": "Number", "Before": "555-0100", "After": "555-0199", "Now": "555-0100"}}}}}},
		check: func(t *testing.T, d *doc) {
			d.one("form", "action", "/staff/directory/proposals/9")
			d.one("button", "value", "approve")
		}},
	{page: "staff/directory_upload", path: "/staff/directory/upload", p: Page{Title: "Update from a spreadsheet: preview", User: staff, CSRF: token,
		Data: m{"Partner": false, "Name": "kc.zip", "Packed": "UEsFBg==", "Digest": "d1", "Errors": []string{}, "Warnings": []string{"x.csv: ignored"},
			"Preview": m{"Created": 1, "Changed": 1, "Retired": 1, "Unchanged": 0, "Items": []m{
				{"Action": "create", "Table": "phone", "ID": "p9", "Summary": "(816) 555-0199", "File": "phones.csv", "Line": 2},
				{"Action": "change", "Table": "service", "ID": "s2", "Summary": "Job club", "File": "services.csv", "Line": 3,
					"Diffs": []m{{"Field": "name", "Label": "Name", "Before": "Job club", "After": "Job Club KC"}}},
				{"Action": "retire", "Table": "service", "ID": "s3", "Summary": "Old class", "Diffs": []m{{"Field": "status", "Label": "Status", "Before": "active", "After": "defunct"}}}}}}},
		check: func(t *testing.T, d *doc) {
			d.one("input", "name", "digest", "value", "d1")
			d.one("input", "type", "file", "id", "files")
			d.one("form", "enctype", "multipart/form-data")
		}},
	{page: "staff/reports", path: "/staff/reports", p: Page{Title: "Reports", User: staff,
		Data: m{"From": "2026-01-05", "To": "2026-03-29", "Channel": "voice", "NeedCategory": "housing", "Partner": "",
			"Channels": []string{"voice", "sms"}, "Needs": []m{{"Key": "housing", "Label": "Housing"}, {"Key": "employment", "Label": "Jobs"}},
			"Report": m{"Referrals": 12, "ByPartner": []m{{"Organization": "New Roots"}}},
			"Range":  "Mon Jan 5, 2026 to Sun Mar 29, 2026", "ExportCSV": "/staff/reports/export.csv?from=2026-01-05&to=2026-03-29",
			"ExportNDJSON": "/staff/reports/export.ndjson?from=2026-01-05&to=2026-03-29",
			"Assumptions":  []string{"Assumes each person helped avoids one year of incarceration."},
			"WeeksChart":   template.HTML(`<svg class="chart" viewBox="0 0 10 10" role="img" aria-label="Referrals by week"><rect x="1" y="1" width="2" height="8"></rect></svg>`),
			"Tables": []m{
				{"Name": "weeks", "Title": "Referrals by week", "Note": "Weeks start on Monday.", "CSV": "/staff/reports/weeks.csv?from=2026-01-05&to=2026-03-29",
					"Columns": []m{{"Key": "week_start", "Label": "Week of"}, {"Key": "referrals", "Label": "Referrals", "Num": true}},
					"Rows":    [][]string{{"2026-01-05", "7"}, {"2026-01-12", "5"}}},
				{"Name": "flagged", "Title": "Services flagged", "CSV": "/staff/reports/flagged.csv",
					"Columns": []m{{"Key": "review_id", "Label": "Flag"}, {"Key": "service", "Label": "Service"}},
					"Rows":    [][]string{{"7", "Shelter <b>"}}},
				{"Name": "estimate", "Title": "Estimate", "CSV": "/staff/reports/estimate.csv",
					"Columns": []m{{"Key": "item", "Label": "Item"}, {"Key": "value", "Label": "Value", "Num": true}},
					"Rows":    [][]string{{"People helped", "3"}}},
			}}},
		check: func(t *testing.T, d *doc) {
			d.one("form", "method", "get", "action", "/staff/reports")
			d.one("option", "value", "voice", "selected", "")
			d.one("option", "value", "housing", "selected", "")
			d.one("svg", "aria-label", "Referrals by week")
			d.one("a", "href", "/staff/reports/weeks.csv?from=2026-01-05&to=2026-03-29")
			d.one("a", "href", "/staff/reports/export.csv?from=2026-01-05&to=2026-03-29")
			d.one("form", "method", "post", "action", "/staff/reports/reviews/7/clear")
			if got := text(d.one("section", "id", "estimate")); !strings.Contains(got, "an estimate") || !strings.Contains(got, "one year of incarceration") {
				t.Errorf("estimate section %q", got)
			}
			if !strings.Contains(text(d.one("section", "id", "flagged")), "Shelter <b>") {
				t.Error("cell text not shown as text")
			}
		}},
}

func newTest(t *testing.T) *Renderer {
	t.Helper()
	r, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// render runs page through Render in an echo context at path.
func render(t *testing.T, r *Renderer, path, page string, p Page) (*httptest.ResponseRecorder, error) {
	t.Helper()
	e := echo.New()
	rec := httptest.NewRecorder()
	c := e.NewContext(httptest.NewRequest(http.MethodGet, path, nil), rec)
	return rec, r.Render(c, http.StatusOK, page, p)
}

// Every registered page renders with its sample into well-formed,
// accessible HTML with the staff layout around it.
func TestEveryPage(t *testing.T) {
	r := newTest(t)
	for _, name := range pages {
		if !slices.ContainsFunc(samples, func(s sample) bool { return s.page == name }) {
			t.Errorf("page %s has no sample in templates_test.go", name)
		}
	}
	for _, s := range samples {
		t.Run(s.page, func(t *testing.T) {
			s.p.CSRF = token
			rec, err := render(t, r, s.path, s.page, s.p)
			if err != nil {
				t.Fatal(err)
			}
			d := parseDoc(t, rec.Body.Bytes())
			d.checkAccessible("en", s.p.Title, token)
			if s.p.User != nil {
				d.one("nav", "aria-label", "Staff pages")
				d.one("form", "action", "/staff/logout")
			}
			s.check(t, d)
		})
	}
}

// The staff navigation: every section, Users for admins only, the current
// one marked, and a sign-out form carrying the CSRF token.
func TestStaffNav(t *testing.T) {
	r := newTest(t)
	for _, u := range []*fakeUser{admin, staff, partner} {
		rec, err := render(t, r, "/staff/outbox/3", "staff/home", Page{Title: "Staff", User: u, CSRF: token})
		if err != nil {
			t.Fatal(err)
		}
		d := parseDoc(t, rec.Body.Bytes())
		nav := d.one("nav", "aria-label", "Staff pages")
		var hrefs []string
		for _, a := range all(nav, tag("a")) {
			h, _ := attr(a, "href")
			hrefs = append(hrefs, h)
		}
		want := []string{"/staff/", "/staff/queue", "/staff/referrals/new", "/staff/reports", "/staff/directory", "/staff/outbox"}
		if u.IsPartner() {
			// Partners reach their organization's listings only.
			if want := []string{"/staff/", "/staff/directory"}; !slices.Equal(hrefs, want) {
				t.Errorf("%s: nav %v, want %v", u.Name, hrefs, want)
			}
			continue
		}
		if u.Admin {
			want = append(want, "/staff/admin/users")
		}
		if !slices.Equal(hrefs, want) {
			t.Errorf("%s: nav %v, want %v", u.Name, hrefs, want)
		}
		cur := all(nav, func(n *html.Node) bool { return has(n, "aria-current") })
		if len(cur) != 1 || text(cur[0]) != "Outbox" {
			t.Errorf("%s: current page marked on %d links", u.Name, len(cur))
		}
		d.one("input", "name", "csrf_token", "value", token)
	}
}

// Render sets the security headers; staff pages are never cached; the
// viewer fills who is looking.
func TestRenderHeadersAndViewer(t *testing.T) {
	r, err := New(Options{Viewer: func(echo.Context) Viewer { return Viewer{User: admin, CSRF: "from-session", Flash: "Saved."} }})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := render(t, r, "/staff/", "staff/home", Page{Title: "Staff"})
	if err != nil {
		t.Fatal(err)
	}
	h := rec.Header()
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") ||
		!strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", h)
	}
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || rec.Code != 200 {
		t.Errorf("%d %s", rec.Code, h.Get("Content-Type"))
	}
	d := parseDoc(t, rec.Body.Bytes())
	d.checkAccessible("en", "Staff", "from-session")
	if got := text(d.one("p", "role", "status")); got != "Saved." {
		t.Errorf("flash %q", got)
	}
	if len(all(d.one("nav", "aria-label", "Staff pages"), tag("a", "href", "/staff/admin/users"))) != 1 {
		t.Error("the admin's navigation has no Users link")
	}
}

// A template error and an unknown page are errors, not panics or half a
// page.
func TestRenderErrors(t *testing.T) {
	r := newTest(t)
	rec, err := render(t, r, "/staff/x", "staff/nope", Page{})
	if err == nil || rec.Body.Len() != 0 {
		t.Errorf("unknown page: %v, %d bytes sent", err, rec.Body.Len())
	}
	// users.html ranges over .Data.Users: a string cannot be ranged.
	rec, err = render(t, r, "/staff/admin/users", "staff/users", Page{Title: "x", User: admin, Data: m{"Users": 7}})
	if err == nil || rec.Body.Len() != 0 {
		t.Errorf("bad data: %v, %d bytes sent", err, rec.Body.Len())
	}
}

// testFS is a small template tree with a public page, for the start-up
// checks and the public layout.
func testFS(t *testing.T) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, f := range []string{"layouts/base.html", "layouts/staff.html", "layouts/public.html", "messages/en.json", "messages/es.json", "staff/home.html"} {
		b, err := files.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fsys[f] = &fstest.MapFile{Data: b}
	}
	fsys["public/home.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}<p>{{t .Lang "footer.free"}}</p>{{end}}`)}
	return fsys
}

// New refuses to start when the page files and the list disagree, or a
// page is broken, naming the file.
func TestStartupChecks(t *testing.T) {
	ok := []string{"staff/home", "public/home"}
	if _, err := newRenderer(testFS(t), ok, Options{}); err != nil {
		t.Fatalf("a consistent tree: %v", err)
	}
	for _, tc := range []struct {
		Name  string
		Edit  func(fstest.MapFS)
		Pages []string
		Want  string
	}{
		{"unregistered page", func(f fstest.MapFS) {
			f["staff/queue.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{end}}`)}
		}, ok, `staff/queue.html is not registered: add "staff/queue"`},
		{"registered page without a file", nil, append(ok, "staff/queue"), "staff/queue is registered but staff/queue.html does not exist"},
		{"listed twice", nil, append(ok, "staff/home"), "listed twice"},
		{"page outside a page folder", func(f fstest.MapFS) {
			f["partials/x.html"] = &fstest.MapFile{Data: []byte(`x`)}
		}, ok, "partials/x.html is not a page"},
		{"no content", func(f fstest.MapFS) {
			f["staff/home.html"] = &fstest.MapFile{Data: []byte(`<p>hello</p>`)}
		}, ok, `staff/home defines no {{define "content"}}`},
		{"syntax error", func(f fstest.MapFS) {
			f["staff/home.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{if}}{{end}}`)}
		}, ok, "templates: page staff/home"},
		{"Spanish message missing", func(f fstest.MapFS) {
			f["messages/es.json"] = &fstest.MapFile{Data: []byte(`{"skip": "Saltar"}`)}
		}, ok, `messages/es.json has no "nav.queue"`},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			fsys := testFS(t)
			if tc.Edit != nil {
				tc.Edit(fsys)
			}
			_, err := newRenderer(fsys, tc.Pages, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.Want) {
				t.Errorf("error %v, want one containing %q", err, tc.Want)
			}
		})
	}
}

// The public layout: the page's language (English unless it is one of
// ours), words from the catalog, the hotline, no staff navigation, and
// cacheable.
func TestPublicLayout(t *testing.T) {
	r, err := newRenderer(testFS(t), []string{"staff/home", "public/home"}, Options{Viewer: func(echo.Context) Viewer { return Viewer{CSRF: "x"} }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ lang, want, words string }{
		{"es", "es", "Saltar al contenido principal"},
		{"en", "en", "Skip to main content"},
		{"fr", "en", "Skip to main content"},
	} {
		rec, err := render(t, r, "/", "public/home", Page{Title: "Second Chance", Lang: tc.lang})
		if err != nil {
			t.Fatal(err)
		}
		d := parseDoc(t, rec.Body.Bytes())
		d.checkAccessible(tc.want, "Second Chance", "x")
		if got := text(d.one("a", "class", "skip")); got != tc.words {
			t.Errorf("%s: skip link %q", tc.lang, got)
		}
		d.one("a", "href", "tel:+18162310217")
		if len(d.all("nav")) != 0 {
			t.Errorf("%s: staff navigation on a public page", tc.lang)
		}
		if rec.Header().Get("Cache-Control") == "no-store" {
			t.Errorf("%s: a public page marked no-store", tc.lang)
		}
	}
}

// An unknown message key fails the render with its name.
func TestUnknownMessage(t *testing.T) {
	fsys := testFS(t)
	fsys["public/home.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{t .Lang "no.such"}}{{end}}`)}
	r, err := newRenderer(fsys, []string{"staff/home", "public/home"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := render(t, r, "/", "public/home", Page{Title: "x"})
	if err == nil || !strings.Contains(err.Error(), `"no.such"`) || rec.Body.Len() != 0 {
		t.Errorf("error %v, %d bytes sent", err, rec.Body.Len())
	}
}
