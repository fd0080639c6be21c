package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/templates"
)

// Person is who is signed in, as the staff directory pages need to know:
// their email (recorded as who made each change) and, for a partner, the
// one organization whose listings they may see.
type Person struct {
	Email string
	// Partner: a partner organization's user; everything outside
	// OrganizationID is ENOTFOUND to them, and their changes are proposals.
	Partner        bool
	OrganizationID string
}

// StaffPages are the staff pages that keep the directory true: the
// verification queue, listings with their history, the edit forms, public
// corrections and partners' proposals. cmd fills it.
type StaffPages struct {
	Store *Store
	Pages *templates.Renderer
	// Zone is where dates are shown and "today" is; nil is America/Chicago.
	Zone *time.Location
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// VerifyAfter is directory.verify_after in months (0: the default).
	VerifyAfter int
	// Signals are the referral log's counts and flags; nil: none.
	Signals Signals
	// Flash keeps a message for the next page (auth.Service.SetFlash).
	Flash func(c echo.Context, msg string) error
	// Who is the signed-in person (from internal/auth, adapted by cmd).
	Who func(c echo.Context) Person
}

// RegisterStaff mounts the pages on g, the /staff group (behind auth's
// login and CSRF guard):
//
//	GET  /staff/directory                          verification queue, find a listing
//	GET  /staff/directory/services/:id             a listing: details, parts, verify, close, history
//	GET  /staff/directory/organizations/:id        an organization, its services and places
//	GET  /staff/directory/new/:table               form for a new record (?service_id=, ?organization_id=, ?location_id=)
//	POST /staff/directory/new/:table
//	GET  /staff/directory/edit/:table/:id          edit form
//	POST /staff/directory/edit/:table/:id
//	POST /staff/directory/delete/:table/:id        remove a phone, schedule ...
//	POST /staff/directory/services/:id/verify      mark verified, with a note
//	POST /staff/directory/services/:id/status      close temporarily, reopen, retire
//	POST /staff/directory/revert/:mid              undo one recorded change
//	GET  /staff/directory/corrections              public corrections waiting
//	GET  /staff/directory/corrections/:cid         one, beside the listing
//	POST /staff/directory/corrections/:cid/dismiss with a reason
func RegisterStaff(g *echo.Group, p StaffPages) {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Zone == nil {
		p.Zone, _ = defaultZone()
	}
	g.GET("/directory", p.queue)
	g.GET("/directory/services/:id", p.listing)
	g.GET("/directory/organizations/:id", p.organization)
	g.GET("/directory/new/:table", p.newForm)
	g.POST("/directory/new/:table", p.create)
	g.GET("/directory/edit/:table/:id", p.editForm)
	g.POST("/directory/edit/:table/:id", p.save)
	g.POST("/directory/delete/:table/:id", p.remove)
	g.POST("/directory/services/:id/verify", p.verify)
	g.POST("/directory/services/:id/status", p.status)
	g.POST("/directory/revert/:mid", p.revert)
	g.GET("/directory/corrections", p.corrections)
	g.GET("/directory/corrections/:cid", p.correctionPage)
	g.POST("/directory/corrections/:cid/dismiss", p.dismiss)
	p.registerProposals(g)
	p.registerBulk(g)
}

func (p StaffPages) today() time.Time {
	n := p.Now().In(p.Zone)
	return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC)
}

func (p StaffPages) who(c echo.Context) Person {
	if p.Who == nil {
		return Person{}
	}
	return p.Who(c)
}

func (p StaffPages) flash(c echo.Context, msg string) error {
	if p.Flash != nil {
		return p.Flash(c, msg)
	}
	return nil
}

// errNoListing is what anyone gets for a record that is not there or, for
// a partner, not theirs: the two are not told apart.
var errNoListing = apperr.Errorf(apperr.ENOTFOUND, "There is no such listing.")

// owner says which service (if any) and organization a row belongs to.
func (s *Store) owner(ctx context.Context, table string, r Row) (serviceID, orgID string, err error) {
	v := func(k string) string { return Text(r.Values[k]) }
	lookup := func(q, id string) (string, error) {
		var out string
		err := s.db.Read.QueryRowContext(ctx, q, id).Scan(&out)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return "", err
		}
		return out, nil
	}
	serviceOrg := func(sid string) (string, string, error) {
		o, err := lookup(`SELECT COALESCE(organization_id, '') FROM service WHERE id = ?`, sid)
		return sid, o, err
	}
	locationOrg := func(lid string) (string, string, error) {
		o, err := lookup(`SELECT COALESCE(organization_id, '') FROM location WHERE id = ?`, lid)
		return "", o, err
	}
	switch table {
	case "organization":
		return "", r.ID(), nil
	case "service":
		return r.ID(), v("organization_id"), nil
	case "location":
		return "", v("organization_id"), nil
	case "address":
		return locationOrg(v("location_id"))
	case "attribute":
		if v("link_entity") == "service" || v("link_entity") == "" {
			return serviceOrg(v("link_id"))
		}
		if v("link_entity") == "organization" {
			return "", v("link_id"), nil
		}
		return "", "", nil
	}
	if sid := v("service_id"); sid != "" {
		return serviceOrg(sid)
	}
	if lid := v("location_id"); lid != "" {
		return locationOrg(lid)
	}
	return "", v("organization_id"), nil
}

// back is the page a row is edited from: its listing, else its
// organization's page.
func back(serviceID, orgID string) string {
	if serviceID != "" {
		return "/staff/directory/services/" + serviceID
	}
	return "/staff/directory/organizations/" + orgID
}

// load finds a row the person may see: ENOTFOUND for a partner's request
// outside their organization.
func (p StaffPages) load(c echo.Context, table, id string) (Row, string, string, error) {
	if _, ok := Editable[table]; !ok {
		return Row{}, "", "", errNoListing
	}
	ctx := c.Request().Context()
	r, err := p.Store.Row(ctx, table, id)
	if err != nil {
		return Row{}, "", "", err
	}
	sid, oid, err := p.Store.owner(ctx, table, r)
	if err != nil {
		return Row{}, "", "", err
	}
	if who := p.who(c); who.Partner && (who.OrganizationID == "" || oid != who.OrganizationID) {
		return Row{}, "", "", errNoListing
	}
	return r, sid, oid, nil
}

// --- the verification queue ---

type queueData struct {
	Items       []queueRow
	Find        string
	Found       []foundRow
	VerifyAfter int
	Corrections int
	Proposals   int
	Partner     bool
}

type queueRow struct {
	QueueItem
	Why string
}

type foundRow struct{ ID, Name, Org, Status string }

func (p StaffPages) queue(c echo.Context) error {
	ctx := c.Request().Context()
	who := p.who(c)
	f := QueueFilter{Today: p.today(), VerifyAfter: p.VerifyAfter}
	sig := p.Signals
	if who.Partner {
		// A partner sees their own listings, all of them, and nothing of
		// the referral log (no counts, no flags).
		f.OrganizationID, f.All, sig = who.OrganizationID, true, nil
		if who.OrganizationID == "" {
			return errNoListing
		}
	}
	items, err := p.Store.VerificationQueue(ctx, f, sig)
	if err != nil {
		return err
	}
	d := queueData{VerifyAfter: f.VerifyAfter, Find: strings.TrimSpace(c.QueryParam("q")), Partner: who.Partner}
	if d.VerifyAfter <= 0 {
		d.VerifyAfter = DefaultVerifyAfter
	}
	for _, it := range items {
		d.Items = append(d.Items, queueRow{QueueItem: it, Why: strings.Join(it.Reasons(), "; ")})
	}
	if len(d.Items) > 200 {
		d.Items = d.Items[:200]
	}
	if d.Find != "" {
		where := []string{"(t.name LIKE ? ESCAPE '\\' OR t.id = ? OR t.organization_id IN (SELECT id FROM organization WHERE name LIKE ? ESCAPE '\\'))"}
		like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(d.Find) + "%"
		args := []any{like, d.Find, like}
		if who.Partner {
			where, args = append(where, "t.organization_id = ?"), append(args, who.OrganizationID)
		}
		docs, _, err := p.Store.List(ctx, "service", ListFilter{Where: where, Args: args, Order: "t.name", Limit: 50}, Flat)
		if err != nil {
			return err
		}
		for _, doc := range docs {
			org, _ := p.Store.Row(ctx, "organization", Text(doc.Get("organization_id")))
			d.Found = append(d.Found, foundRow{ID: Text(doc.Get("id")), Name: Text(doc.Get("name")), Org: Text(org.Values["name"]), Status: Text(doc.Get("status"))})
		}
	}
	if !who.Partner {
		if d.Corrections, err = p.Store.countCorrections(ctx); err != nil {
			return err
		}
		if d.Proposals, err = p.Store.countProposals(ctx); err != nil {
			return err
		}
	}
	title := "Directory"
	if who.Partner {
		title = "Your listings"
	}
	return p.Pages.Render(c, http.StatusOK, "staff/directory", templates.Page{Title: title, Data: d})
}

// --- a listing ---

type kv struct{ Label, Value string }

type childItem struct {
	Table, ID, Summary, Version, EditURL, DeleteURL string
}

type childGroup struct {
	Title, Table, NewURL string
	Items                []childItem
	Deletable            bool
}

type historyRow struct {
	HistoryEntry
	When, What string
}

type listingData struct {
	ID, Name, Org, OrgID, Status, Alert, ReopensOn, Version string
	AssuredDate, AssurerEmail, Verified, LastModified       string
	Due, Partner                                            bool
	Details                                                 []kv
	Groups                                                  []childGroup
	History                                                 []historyRow
	Flag                                                    *Flag
	Corrections                                             []Reviewed
	Phones                                                  []Phone
	Script                                                  []string
	Proposals                                               []proposalRow
}

func (p StaffPages) listing(c echo.Context) error {
	return p.renderListing(c, http.StatusOK, c.Param("id"), "")
}

func (p StaffPages) renderListing(c echo.Context, status int, id, msg string) error {
	ctx := c.Request().Context()
	r, _, oid, err := p.load(c, "service", id)
	if err != nil {
		return err
	}
	who := p.who(c)
	org, _ := p.Store.Row(ctx, "organization", oid)
	v := func(k string) string { return Text(r.Values[k]) }
	d := listingData{ID: id, Name: v("name"), Org: Text(org.Values["name"]), OrgID: oid, Status: v("status"), Alert: v("alert"),
		Version: RowVersion(r), AssuredDate: v("assured_date"), AssurerEmail: v("assurer_email"), Partner: who.Partner}
	d.ReopensOn, _ = r.Extra["reopens_on"].(string)
	if t, err := time.Parse("2006-01-02T15:04:05.000Z07:00", v("last_modified")); err == nil {
		d.LastModified = t.In(p.Zone).Format("Mon 2 Jan 2006 3:04 PM")
	}
	months := MonthsSince(d.AssuredDate, p.today())
	d.Verified = "never"
	if months >= 0 {
		d.Verified = d.AssuredDate + " (" + MonthsAgo(months) + ")"
		if d.AssurerEmail != "" {
			d.Verified += " by " + d.AssurerEmail
		}
	}
	va := p.VerifyAfter
	if va <= 0 {
		va = DefaultVerifyAfter
	}
	d.Due = months < 0 || months >= va
	for _, f := range EditableFields("service") {
		if s := v(f.Name); s != "" && f.Name != "name" && f.Name != "status" && f.Name != "alert" && f.Name != "organization_id" {
			d.Details = append(d.Details, kv{Label(f.Name), s})
		}
	}
	for _, f := range ExtraFields["service"] {
		if s, _ := r.Extra[f.Name].(string); s != "" && f.Name != "reopens_on" {
			d.Details = append(d.Details, kv{Label(f.Name), s})
		}
	}
	var ids []string
	groups := []struct{ title, table, col string }{
		{"Places (service at location)", "service_at_location", "service_id"},
		{"Phones", "phone", "service_id"},
		{"Hours (schedules)", "schedule", "service_id"},
		{"Languages", "language", "service_id"},
		{"Required documents", "required_document", "service_id"},
		{"Reentry facts and categories (attributes)", "attribute", "link_id"},
	}
	terms, err := p.termNames(ctx)
	if err != nil {
		return err
	}
	for _, gr := range groups {
		rs, err := p.Store.Children(ctx, gr.table, gr.col, id)
		if err != nil {
			return err
		}
		g := childGroup{Title: gr.title, Table: gr.table, Deletable: true,
			NewURL: "/staff/directory/new/" + gr.table + "?service_id=" + url.QueryEscape(id)}
		for _, cr := range rs {
			ids = append(ids, cr.ID())
			sum := Summarize(gr.table, cr)
			switch gr.table {
			case "attribute":
				sum = terms[Text(cr.Values["taxonomy_term_id"])]
				if val := Text(cr.Values["value"]); val != "" {
					sum += " = " + val
				}
			case "service_at_location":
				loc, err := p.Store.Row(ctx, "location", Text(cr.Values["location_id"]))
				if err == nil {
					sum = Summarize("location", loc)
					adds, _ := p.Store.Children(ctx, "address", "location_id", loc.ID())
					for _, a := range adds {
						sum += " — " + Summarize("address", a)
					}
				}
			}
			g.Items = append(g.Items, childItem{Table: gr.table, ID: cr.ID(), Summary: sum, Version: RowVersion(cr),
				EditURL: "/staff/directory/edit/" + gr.table + "/" + cr.ID(), DeleteURL: "/staff/directory/delete/" + gr.table + "/" + cr.ID()})
		}
		d.Groups = append(d.Groups, g)
	}
	hist, err := p.Store.History(ctx, id, ids, 100)
	if err != nil {
		return err
	}
	for _, h := range hist {
		d.History = append(d.History, historyRow{HistoryEntry: h, When: p.when(h.At), What: describe(h, terms)})
	}
	if !who.Partner {
		if p.Signals != nil {
			flags, err := p.Signals.OpenFlags(ctx)
			if err != nil {
				return err
			}
			if f, ok := flags[id]; ok {
				d.Flag = &f
			}
		}
		if d.Corrections, err = p.Store.Corrections(ctx, CorrectionFilter{ServiceID: id, Open: true}); err != nil {
			return err
		}
	}
	if d.Proposals, err = p.proposalRows(ctx, ProposalFilter{ListingID: id, Status: "new"}); err != nil {
		return err
	}
	doc, err := p.Store.Get(ctx, "service", id, Full)
	if err != nil {
		return err
	}
	d.Phones = phones(doc.Get("phones"))
	if len(d.Phones) == 0 {
		for _, sal := range docs(doc.Get("service_at_locations")) {
			loc, _ := sal.Get("location").(Doc)
			d.Phones = append(d.Phones, append(phones(sal.Get("phones")), phones(loc.Get("phones"))...)...)
		}
	}
	if len(d.Phones) == 0 {
		org, _ := doc.Get("organization").(Doc)
		d.Phones = phones(org.Get("phones"))
	}
	d.Script = verifyScript(d.Name, d.Org)
	return p.Pages.Render(c, status, "staff/directory_service", templates.Page{Title: d.Name, Error: msg, Data: d})
}

// verifyScript is what to say when verifying a listing by phone.
func verifyScript(name, org string) []string {
	return []string{
		fmt.Sprintf("“Hello, this is [your name] with Second Chance, the Kansas City reentry hotline. We send people coming home from prison to %s. Do you have two minutes to check that what we tell them is right?”", org),
		fmt.Sprintf("“Is %s still open to new people? Is anything closed for now?”", name),
		"Read back the address, the phone number and the hours; ask what changed.",
		"“Who can come? Do you take people with a felony record, or on parole or probation? Is there an age limit?”",
		"“What should people bring? Is a photo ID required, or can they come without one?”",
		"“Does it cost anything? Which languages do you speak?”",
		"“Who should we call next time to check again?” Note the name in the verification note.",
		"Fix what changed, then mark the listing verified with a note of whom you spoke to.",
	}
}

func (p StaffPages) when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Location() == time.UTC {
		return t.Format("2 Jan 2006")
	}
	return t.In(p.Zone).Format("2 Jan 2006 3:04 PM")
}

// describe says a change in words.
func describe(h HistoryEntry, terms map[string]string) string {
	kind := strings.ReplaceAll(h.Table, "_", " ")
	switch h.Action {
	case "create":
		return "Added a " + kind
	case "delete":
		return "Removed a " + kind + ": " + h.Before
	}
	before, after := h.Before, h.After
	if h.Field == "taxonomy_term_id" {
		before, after = or(terms[before], before), or(terms[after], after)
	}
	return fmt.Sprintf("%s of the %s: %s → %s", Label(h.Field), kind, clip(before), clip(after))
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// termNames names the taxonomy terms attributes may point to: the reentry
// facts and the program's categories.
func (p StaffPages) termNames(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	rs, err := p.Store.db.Read.QueryContext(ctx, `SELECT id, name, taxonomy_id FROM taxonomy_term WHERE taxonomy_id = ? OR id IN (SELECT taxonomy_term_id FROM attribute)`, ReentryTaxonomyID)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	for rs.Next() {
		var id, name, tax string
		if err := rs.Scan(&id, &name, &tax); err != nil {
			return nil, err
		}
		if tax == ReentryTaxonomyID {
			name = "Reentry fact: " + name
		} else {
			name = "Category: " + name
		}
		out[id] = name
	}
	return out, rs.Err()
}

// --- an organization ---

type orgData struct {
	ID, Name, Version string
	Details           []kv
	Services          []foundRow
	Locations         []childItem
	Partner           bool
}

func (p StaffPages) organization(c echo.Context) error {
	ctx := c.Request().Context()
	r, _, _, err := p.load(c, "organization", c.Param("id"))
	if err != nil {
		return err
	}
	d := orgData{ID: r.ID(), Name: Text(r.Values["name"]), Version: RowVersion(r), Partner: p.who(c).Partner}
	for _, f := range EditableFields("organization") {
		if s := Text(r.Values[f.Name]); s != "" && f.Name != "name" {
			d.Details = append(d.Details, kv{Label(f.Name), s})
		}
	}
	svcs, err := p.Store.Children(ctx, "service", "organization_id", r.ID())
	if err != nil {
		return err
	}
	for _, s := range svcs {
		d.Services = append(d.Services, foundRow{ID: s.ID(), Name: Text(s.Values["name"]), Status: Text(s.Values["status"])})
	}
	locs, err := p.Store.Children(ctx, "location", "organization_id", r.ID())
	if err != nil {
		return err
	}
	for _, l := range locs {
		sum := Summarize("location", l)
		adds, _ := p.Store.Children(ctx, "address", "location_id", l.ID())
		for _, a := range adds {
			sum += " — " + Summarize("address", a)
		}
		d.Locations = append(d.Locations, childItem{Table: "location", ID: l.ID(), Summary: sum, EditURL: "/staff/directory/edit/location/" + l.ID()})
	}
	return p.Pages.Render(c, http.StatusOK, "staff/directory_org", templates.Page{Title: d.Name, Data: d})
}

// --- the edit form ---

type option struct {
	Value, Label string
	Selected     bool
}

type formField struct {
	Name, Label, Value, Base, Error, Kind, Hint string
	Required                                    bool
	Options                                     []option
}

type hidden struct{ Name, Value string }

type conflictRow struct{ Label, Base, Now, Yours string }

type editData struct {
	Table, Kind, ID, Version, Action, Back string
	Fields                                 []formField
	Fixed                                  []hidden
	CanVerify, Verify                      bool
	Note                                   string
	Conflict                               []conflictRow
	Correction                             *Reviewed
	Partner                                bool
	ErrorCount                             int
}

// parents are the query parameters a new record takes its links from.
var parents = map[string][]string{
	"organization":        {},
	"service":             {"organization_id"},
	"location":            {"organization_id"},
	"address":             {"location_id"},
	"service_at_location": {"service_id"},
	"phone":               {"service_id", "location_id", "organization_id"},
	"schedule":            {"service_id", "location_id"},
	"language":            {"service_id", "location_id"},
	"required_document":   {"service_id"},
	"attribute":           {"service_id"},
}

// fixedFor works out the link columns of a new record from the query or
// form, and whom it belongs to; a partner may only add to their own.
func (p StaffPages) fixedFor(c echo.Context, table string) (map[string]any, []hidden, string, string, error) {
	fixed := map[string]any{}
	var hs []hidden
	var sid, oid string
	for _, k := range parents[table] {
		v := strings.TrimSpace(c.QueryParam(k))
		if v == "" {
			v = strings.TrimSpace(c.FormValue("parent." + k))
		}
		if v == "" {
			continue
		}
		ptable := strings.TrimSuffix(k, "_id")
		pr, psid, poid, err := p.load(c, ptable, v)
		if err != nil {
			return nil, nil, "", "", err
		}
		sid, oid = psid, poid
		if table == "attribute" {
			fixed["link_id"], fixed["link_entity"] = pr.ID(), "service"
		} else {
			fixed[k] = pr.ID()
		}
		hs = append(hs, hidden{"parent." + k, v})
		break
	}
	if table != "organization" && len(hs) == 0 {
		return nil, nil, "", "", apperr.Errorf(apperr.EINVALID, "Open this form from the listing or organization it belongs to.")
	}
	if table == "organization" && p.who(c).Partner {
		return nil, nil, "", "", errNoListing
	}
	return fixed, hs, sid, oid, nil
}

func (p StaffPages) newForm(c echo.Context) error {
	table := c.Param("table")
	if _, ok := Editable[table]; !ok {
		return errNoListing
	}
	_, hs, sid, oid, err := p.fixedFor(c, table)
	if err != nil {
		return err
	}
	d, err := p.form(c, table, Row{Values: map[string]any{}}, nil, nil, oid)
	if err != nil {
		return err
	}
	if table == "service" {
		d.Fields = setDefault(d.Fields, "status", "active")
	}
	if table == "attribute" {
		d.Fields = setDefault(d.Fields, "link_entity", "service")
	}
	d.Fixed, d.Action, d.Back = hs, "/staff/directory/new/"+table, back(sid, oid)
	return p.Pages.Render(c, http.StatusOK, "staff/directory_edit", templates.Page{Title: "New " + d.Kind, Data: d})
}

func setDefault(fs []formField, name, v string) []formField {
	for i := range fs {
		if fs[i].Name == name && fs[i].Value == "" {
			fs[i].Value = v
			for j := range fs[i].Options {
				fs[i].Options[j].Selected = fs[i].Options[j].Value == v
			}
		}
	}
	return fs
}

func (p StaffPages) editForm(c echo.Context) error {
	table := c.Param("table")
	r, sid, oid, err := p.load(c, table, c.Param("id"))
	if err != nil {
		return err
	}
	d, err := p.form(c, table, r, nil, nil, oid)
	if err != nil {
		return err
	}
	d.ID, d.Version, d.Action, d.Back = r.ID(), RowVersion(r), "/staff/directory/edit/"+table+"/"+r.ID(), back(sid, oid)
	if cid := c.QueryParam("correction"); cid != "" && !p.who(c).Partner {
		if d.Correction, err = p.correctionFor(c, cid, sid); err != nil {
			return err
		}
		if d.Correction.Status == "new" {
			if err := p.Store.ReviewCorrection(c.Request().Context(), d.Correction.ID, "accepted", p.who(c).Email, ""); err != nil {
				return err
			}
		}
	}
	return p.Pages.Render(c, http.StatusOK, "staff/directory_edit", templates.Page{Title: "Edit " + d.Kind + ": " + Summarize(table, r), Data: d})
}

// form builds the edit form of a row: its values, or the values typed
// (input) with their errors (errs).
func (p StaffPages) form(c echo.Context, table string, r Row, input map[string]string, errs FieldErrors, oid string) (editData, error) {
	ctx := c.Request().Context()
	d := editData{Table: table, Kind: strings.ReplaceAll(table, "_", " "), CanVerify: table == "service", Partner: p.who(c).Partner}
	t := Schema.Table(table)
	fields := EditableFields(table)
	fields = append(fields, ExtraFields[table]...)
	for _, f := range fields {
		_, own := t.Field(f.Name)
		var stored string
		if own {
			stored = Text(r.Values[f.Name])
		} else {
			stored, _ = r.Extra[f.Name].(string)
		}
		ff := formField{Name: f.Name, Label: Label(f.Name), Value: stored, Base: stored, Required: f.Required, Kind: "text"}
		if input != nil {
			ff.Value = input[f.Name]
		}
		ff.Error = errs[f.Name]
		switch {
		case f.Name == "taxonomy_term_id":
			terms, err := p.termNames(ctx)
			if err != nil {
				return d, err
			}
			ff.Kind = "select"
			ff.Options = append(ff.Options, option{"", "Choose…", false})
			for id, name := range terms {
				ff.Options = append(ff.Options, option{id, name, id == ff.Value})
			}
			slices.SortFunc(ff.Options[1:], func(a, b option) int { return strings.Compare(a.Label, b.Label) })
		case f.Name == "location_id" && table == "service_at_location":
			ff.Kind = "select"
			ff.Hint = "Add a place on the organization's page first if it is not listed."
			ff.Options = append(ff.Options, option{"", "Choose…", false})
			locs, err := p.Store.Children(ctx, "location", "organization_id", oid)
			if err != nil {
				return d, err
			}
			for _, l := range locs {
				sum := Summarize("location", l)
				adds, _ := p.Store.Children(ctx, "address", "location_id", l.ID())
				for _, a := range adds {
					sum += " — " + Summarize("address", a)
				}
				ff.Options = append(ff.Options, option{l.ID(), sum, l.ID() == ff.Value})
			}
		case len(f.Enum) > 0:
			ff.Kind = "select"
			if !f.Required {
				ff.Options = append(ff.Options, option{"", "(none)", ff.Value == ""})
			}
			for _, e := range f.Enum {
				ff.Options = append(ff.Options, option{e, e, e == ff.Value})
			}
		case f.Type == "date":
			ff.Kind, ff.Hint = "date", "YYYY-MM-DD"
		case f.Type == "time":
			ff.Kind, ff.Hint = "time", "24-hour, HH:MM"
		case f.Type == "number":
			ff.Kind = "number"
		case f.Format == "email":
			ff.Kind = "email"
		case f.Format == "uri":
			ff.Kind, ff.Hint = "url", "A full address, e.g. https://example.org"
		case strings.Contains(f.Name, "description") || f.Name == "application_process" || f.Name == "alert" || f.Name == "notes" || f.Name == "eligibility_description":
			ff.Kind = "textarea"
		}
		if f.Name == "byday" {
			ff.Hint = "Days as two letters, comma-separated: MO,TU,WE,TH,FR,SA,SU (with freq WEEKLY)"
		}
		if f.Name == "organization_id" || f.Name == "program_id" {
			ff.Hint = "The id (a UUID) of the record it belongs to."
		}
		d.Fields = append(d.Fields, ff)
	}
	d.ErrorCount = len(errs)
	return d, nil
}

// parseForm reads the typed values of a table's form.
func parseForm(c echo.Context, table string) (values, extra, all map[string]string) {
	values, extra, all = map[string]string{}, map[string]string{}, map[string]string{}
	for _, f := range EditableFields(table) {
		v := c.FormValue(f.Name)
		values[f.Name], all[f.Name] = v, v
	}
	for _, f := range ExtraFields[table] {
		v := c.FormValue(f.Name)
		extra[f.Name], all[f.Name] = v, v
	}
	return
}

func (p StaffPages) create(c echo.Context) error {
	table := c.Param("table")
	if _, ok := Editable[table]; !ok {
		return errNoListing
	}
	fixed, hs, sid, oid, err := p.fixedFor(c, table)
	if err != nil {
		return err
	}
	values, extra, all := parseForm(c, table)
	who := p.who(c)
	e := Edit{Table: table, Values: values, Extra: extra, Fixed: fixed, Actor: who.Email, Listing: sid, Note: c.FormValue("note")}
	if who.Partner {
		return p.propose(c, e, oid, sid, nil, all, hs)
	}
	id, err := p.Store.SaveRow(c.Request().Context(), e)
	var fe FieldErrors
	if errors.As(err, &fe) {
		d, ferr := p.form(c, table, Row{Values: map[string]any{}}, all, fe, oid)
		if ferr != nil {
			return ferr
		}
		d.Fixed, d.Action, d.Back, d.Note = hs, "/staff/directory/new/"+table, back(sid, oid), e.Note
		return p.Pages.Render(c, http.StatusBadRequest, "staff/directory_edit", templates.Page{Title: "New " + d.Kind,
			Error: "Nothing was saved: please correct the fields marked below.", Data: d})
	} else if err != nil {
		return err
	}
	if err := p.flash(c, "Added the "+strings.ReplaceAll(table, "_", " ")+"."); err != nil {
		return err
	}
	switch table {
	case "service":
		sid = id
	case "organization":
		oid = id
	}
	return c.Redirect(http.StatusSeeOther, back(sid, oid))
}

func (p StaffPages) save(c echo.Context) error {
	ctx := c.Request().Context()
	table := c.Param("table")
	r, sid, oid, err := p.load(c, table, c.Param("id"))
	if err != nil {
		return err
	}
	values, extra, all := parseForm(c, table)
	who := p.who(c)
	e := Edit{Table: table, ID: r.ID(), Version: c.FormValue("version"), Values: values, Extra: extra, Actor: who.Email,
		Listing: or(sid, oid), Note: c.FormValue("note")}
	verify := table == "service" && c.FormValue("verify") == "yes"
	if verify {
		e.VerifiedOn = p.today().Format(time.DateOnly)
	}
	if who.Partner {
		return p.propose(c, e, oid, sid, &r, all, nil)
	}
	var corr *Reviewed
	if cid := c.FormValue("correction"); cid != "" {
		if corr, err = p.correctionFor(c, cid, sid); err != nil {
			return err
		}
	}
	_, err = p.Store.SaveRow(ctx, e)
	var fe FieldErrors
	var ce *ConflictError
	switch {
	case errors.As(err, &fe), errors.As(err, &ce):
		cur := r
		if ce != nil {
			cur = ce.Current
		}
		d, ferr := p.form(c, table, cur, all, fe, oid)
		if ferr != nil {
			return ferr
		}
		d.ID, d.Version, d.Action, d.Back = r.ID(), c.FormValue("version"), "/staff/directory/edit/"+table+"/"+r.ID(), back(sid, oid)
		d.Verify, d.Note, d.Correction = verify, e.Note, corr
		status, msg := http.StatusBadRequest, "Nothing was saved: please correct the fields marked below."
		if ce != nil {
			// The form keeps what was typed and now carries the current
			// version: saving again is a deliberate choice over the other
			// person's change.
			status, msg, d.Version = http.StatusConflict, apperr.Message(err), RowVersion(cur)
			for i, f := range d.Fields {
				base := c.FormValue("base." + f.Name)
				if base != f.Base {
					d.Conflict = append(d.Conflict, conflictRow{Label: f.Label, Base: base, Now: f.Base, Yours: all[f.Name]})
				}
				d.Fields[i].Base = f.Base
			}
		}
		return p.Pages.Render(c, status, "staff/directory_edit", templates.Page{Title: "Edit " + d.Kind + ": " + Summarize(table, r), Error: msg, Data: d})
	case err != nil:
		return err
	}
	msg := "Saved."
	if verify {
		if err := p.Store.Verified(ctx, sid, who.Email, e.Note, p.Signals); err != nil {
			return err
		}
		msg = "Saved and marked verified."
	}
	if corr != nil {
		if err := p.Store.ReviewCorrection(ctx, corr.ID, "done", who.Email, e.Note); err != nil {
			return err
		}
		msg += " The correction is marked done."
	}
	if err := p.flash(c, msg); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, back(sid, oid))
}

func (p StaffPages) remove(c echo.Context) error {
	table := c.Param("table")
	r, sid, oid, err := p.load(c, table, c.Param("id"))
	if err != nil {
		return err
	}
	who := p.who(c)
	if who.Partner {
		return p.propose(c, Edit{Table: table, ID: r.ID(), Version: c.FormValue("version"), Actor: who.Email, Listing: or(sid, oid)},
			oid, sid, &r, nil, nil)
	}
	err = p.Store.DeleteRow(c.Request().Context(), table, r.ID(), c.FormValue("version"), who.Email, or(sid, oid))
	if code := apperr.Code(err); (code == apperr.ECONFLICT || code == apperr.EINVALID) && sid != "" {
		msg := "Nothing was removed: it changed after this page was loaded; look at it again."
		if code == apperr.EINVALID {
			msg = apperr.Message(err)
		}
		return p.renderListing(c, http.StatusConflict, sid, msg)
	} else if err != nil {
		return err
	}
	if err := p.flash(c, "Removed the "+strings.ReplaceAll(table, "_", " ")+": "+Summarize(table, r)+"."); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, back(sid, oid))
}

func (p StaffPages) verify(c echo.Context) error {
	ctx := c.Request().Context()
	r, sid, oid, err := p.load(c, "service", c.Param("id"))
	if err != nil {
		return err
	}
	who := p.who(c)
	note := c.FormValue("note")
	if utf8Len(note) > maxNote {
		return p.renderListing(c, http.StatusBadRequest, sid, fmt.Sprintf("Not marked verified: the note may be at most %d characters.", maxNote))
	}
	if who.Partner {
		// A partner vouches for their own listing: recorded as verified by
		// them, and shown to staff in the history.
		_ = oid
	}
	if err := p.Store.Verify(ctx, r.ID(), who.Email, note, p.today(), p.signalsFor(who)); err != nil {
		return err
	}
	if err := p.flash(c, "Marked verified today."); err != nil {
		return err
	}
	if c.FormValue("next") == "queue" {
		return c.Redirect(http.StatusSeeOther, "/staff/directory")
	}
	return c.Redirect(http.StatusSeeOther, back(sid, oid))
}

// signalsFor is nil for partners: a partner's verification does not clear
// a flag raised by referral outcomes (staff look at those).
func (p StaffPages) signalsFor(who Person) Signals {
	if who.Partner {
		return nil
	}
	return p.Signals
}

func utf8Len(s string) int { return len([]rune(s)) }

func (p StaffPages) status(c echo.Context) error {
	r, sid, _, err := p.load(c, "service", c.Param("id"))
	if err != nil {
		return err
	}
	who := p.who(c)
	action := c.FormValue("action")
	if who.Partner {
		e := Edit{Table: "service", ID: r.ID(), Version: c.FormValue("version"), Actor: who.Email, Listing: sid,
			Values: map[string]string{}, Extra: map[string]string{}}
		switch action {
		case ActionClose:
			e.Values["status"], e.Values["alert"], e.Extra["reopens_on"] = "temporarily closed", c.FormValue("alert"), c.FormValue("reopens_on")
		case ActionReopen:
			e.Values["status"], e.Values["alert"], e.Extra["reopens_on"] = "active", "", ""
		default:
			return errNoListing
		}
		all := map[string]string{}
		for k, v := range e.Values {
			all[k] = v
		}
		for k, v := range e.Extra {
			all[k] = v
		}
		_, oid, _ := p.Store.owner(c.Request().Context(), "service", r)
		return p.propose(c, e, oid, sid, &r, all, nil)
	}
	err = p.Store.SetStatus(c.Request().Context(), r.ID(), c.FormValue("version"), action, c.FormValue("alert"), c.FormValue("reopens_on"), who.Email)
	var fe FieldErrors
	if errors.As(err, &fe) {
		var msgs []string
		for k, v := range fe {
			msgs = append(msgs, Label(k)+": "+v)
		}
		slices.Sort(msgs)
		return p.renderListing(c, http.StatusBadRequest, sid, "Not changed. "+strings.Join(msgs, "; ")+".")
	} else if apperr.Code(err) == apperr.ECONFLICT {
		return p.renderListing(c, http.StatusConflict, sid, "Not changed: the listing was saved by someone else after this page was loaded. Look at it again and retry.")
	} else if err != nil {
		return err
	}
	msg := map[string]string{ActionClose: "Marked temporarily closed.", ActionReopen: "Reopened.", ActionRetire: "Retired: the listing no longer appears to the public."}[action]
	if err := p.flash(c, msg); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, back(sid, ""))
}

func (p StaffPages) revert(c echo.Context) error {
	ctx := c.Request().Context()
	who := p.who(c)
	if who.Partner {
		return errNoListing
	}
	listing := c.FormValue("listing")
	if _, _, _, err := p.load(c, "service", listing); err != nil {
		return err
	}
	h, err := p.Store.Revert(ctx, c.Param("mid"), who.Email, listing)
	if code := apperr.Code(err); code == apperr.ECONFLICT || code == apperr.EINVALID {
		return p.renderListing(c, http.StatusConflict, listing, apperr.Message(err))
	} else if err != nil {
		return err
	}
	if err := p.flash(c, "Reverted: "+Label(h.Field)+" is "+strconv.Quote(clip(strings.TrimPrefix(h.Before, noValue)))+" again."); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/staff/directory/services/"+listing)
}
