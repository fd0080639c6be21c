package directory

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/templates"
)

// A partner (a user tied to one organization) does not edit the directory:
// each of their saves becomes a proposal, checked by the same validation as
// a staff edit (a dry run of SaveRow), which staff approve (applied through
// SaveRow, so it lands in the history and in search) or reject, looking at
// it as a diff.

// Proposal is a partner's proposed change to one row.
type Proposal struct {
	ID                                  int64
	OrganizationID, ListingID           string
	Table, RowID, BaseVersion           string
	Base                                map[string]string // the values the partner saw
	Changes                             ProposalChange
	Fixed                               map[string]any // a new row's links
	Note, Status, ProposedBy, DecidedBy string
	DecisionNote                        string
	ProposedAt                          time.Time
}

// ProposalChange is what a proposal would do.
type ProposalChange struct {
	Values map[string]string `json:"values,omitempty"`
	Extra  map[string]string `json:"extra,omitempty"`
	Delete bool              `json:"delete,omitempty"`
	// Upload, for a partner's bulk update (table_name "upload"), is the
	// uploaded files (BulkFiles.Pack) and UploadName what they were called.
	Upload     string `json:"upload,omitempty"`
	UploadName string `json:"upload_name,omitempty"`
}

// ProposeBulk keeps a partner's upload for staff, once its preview has no
// problems (the preview is checked again when staff approve it).
func (s *Store) ProposeBulk(ctx context.Context, files BulkFiles, name, orgID, actor, note string) (int64, error) {
	src, _ := files.Source(name)
	p, err := s.PreviewBulk(ctx, src, orgID)
	if err != nil {
		return 0, err
	}
	if len(p.Errors()) > 0 {
		return 0, apperr.Errorf(apperr.EINVALID, "The upload has %d problems; nothing was proposed.", len(p.Errors()))
	}
	if len(p.Items) == 0 {
		return 0, apperr.Errorf(apperr.EINVALID, "The upload changes nothing, so nothing was proposed.")
	}
	ch, _ := json.Marshal(ProposalChange{Upload: files.Pack(), UploadName: name})
	res, err := s.db.Write.ExecContext(ctx, `INSERT INTO directory_proposal (organization_id, listing_id, table_name, changes, note, proposed_by, proposed_at)
		VALUES (?,?,'upload',?,?,?,?)`, orgID, orgID, string(ch), strings.TrimSpace(note), actor, s.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// ProposalFilter selects proposals.
type ProposalFilter struct {
	Status, OrganizationID, ListingID string
}

// Propose checks e as SaveRow would (nothing written) and keeps it for
// staff; base is the row as the partner saw it (nil for a new row).
func (s *Store) Propose(ctx context.Context, e Edit, orgID string, base *Row, del bool) (int64, error) {
	pc := ProposalChange{Values: map[string]string{}, Extra: map[string]string{}, Delete: del}
	baseText := map[string]string{}
	if base != nil {
		for k, v := range base.Values {
			baseText[k] = Text(v)
		}
		for k, v := range base.Extra {
			if s, ok := v.(string); ok {
				baseText[k] = s
			}
		}
	}
	// Only what the partner changed is proposed, so that approving it
	// later does not undo what staff changed meanwhile.
	for k, v := range e.Values {
		if strings.TrimSpace(v) != strings.TrimSpace(baseText[k]) || base == nil {
			pc.Values[k] = v
		}
	}
	for k, v := range e.Extra {
		if strings.TrimSpace(v) != strings.TrimSpace(baseText[k]) || base == nil {
			pc.Extra[k] = v
		}
	}
	if !del {
		if len(pc.Values) == 0 && len(pc.Extra) == 0 {
			return 0, apperr.Errorf(apperr.EINVALID, "Nothing was changed, so nothing was proposed.")
		}
		check := e
		check.DryRun, check.Values, check.Extra = true, pc.Values, pc.Extra
		if _, err := s.SaveRow(ctx, check); err != nil {
			return 0, err
		}
	} else if !slices.Contains(Deletable, e.Table) {
		return 0, apperr.Errorf(apperr.EINVALID, "A %s cannot be removed.", e.Table)
	}
	ch, _ := json.Marshal(pc)
	bs, _ := json.Marshal(baseText)
	fx, _ := json.Marshal(e.Fixed)
	res, err := s.db.Write.ExecContext(ctx, `INSERT INTO directory_proposal (organization_id, listing_id, table_name, row_id, base_version, base, changes, fixed, note, proposed_by, proposed_at)
		VALUES (?,?,?,?,?,?,?,?,?,?,?)`, orgID, e.Listing, e.Table, e.ID, e.Version, string(bs), string(ch), string(fx), strings.TrimSpace(e.Note), e.Actor,
		s.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// Proposals lists proposals, oldest first.
func (s *Store) Proposals(ctx context.Context, f ProposalFilter) ([]Proposal, error) {
	where, args := []string{"1"}, []any{}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.OrganizationID != "" {
		where, args = append(where, "organization_id = ?"), append(args, f.OrganizationID)
	}
	if f.ListingID != "" {
		where, args = append(where, "listing_id = ?"), append(args, f.ListingID)
	}
	return s.loadProposals(ctx, strings.Join(where, " AND ")+" ORDER BY proposed_at, id LIMIT 500", args...)
}

func (s *Store) loadProposals(ctx context.Context, where string, args ...any) ([]Proposal, error) {
	rs, err := s.db.Read.QueryContext(ctx, `SELECT id, organization_id, listing_id, table_name, row_id, base_version, base, changes, fixed, note,
		status, proposed_by, proposed_at, decided_by, decision_note FROM directory_proposal WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []Proposal
	for rs.Next() {
		var p Proposal
		var base, ch, fx, at string
		if err := rs.Scan(&p.ID, &p.OrganizationID, &p.ListingID, &p.Table, &p.RowID, &p.BaseVersion, &base, &ch, &fx, &p.Note,
			&p.Status, &p.ProposedBy, &at, &p.DecidedBy, &p.DecisionNote); err != nil {
			return nil, err
		}
		json.Unmarshal([]byte(base), &p.Base)
		json.Unmarshal([]byte(ch), &p.Changes)
		json.Unmarshal([]byte(fx), &p.Fixed)
		p.ProposedAt, _ = time.Parse(time.RFC3339Nano, at)
		out = append(out, p)
	}
	return out, rs.Err()
}

// ProposalByID returns one proposal.
func (s *Store) ProposalByID(ctx context.Context, id int64) (*Proposal, error) {
	ps, err := s.loadProposals(ctx, "id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "There is no such proposal.")
	}
	return &ps[0], nil
}

func (s *Store) countProposals(ctx context.Context) (int, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM directory_proposal WHERE status = 'new'`).Scan(&n)
	return n, err
}

// DecideProposal approves (applies through SaveRow or DeleteRow, in the
// history as the partner's change approved by actor) or rejects a
// proposal. Approval is refused (ECONFLICT) when a field it changes was
// changed by someone else since the partner saw it.
func (s *Store) DecideProposal(ctx context.Context, id int64, approve bool, actor, note string) error {
	p, err := s.ProposalByID(ctx, id)
	if err != nil {
		return err
	}
	if p.Status != "new" {
		return apperr.Errorf(apperr.ECONFLICT, "This proposal was already %s.", p.Status)
	}
	status := "rejected"
	if approve {
		status = "approved"
		who := p.ProposedBy + " (approved by " + actor + ")"
		if p.Table == "upload" {
			files, err := UnpackBulk(p.Changes.Upload)
			if err != nil {
				return err
			}
			src, _ := files.Source(p.Changes.UploadName)
			prev, err := s.PreviewBulk(ctx, src, p.OrganizationID)
			if err != nil {
				return err
			}
			if _, err := s.ApplyBulk(ctx, src, p.OrganizationID, prev.Digest, who); err != nil {
				return err
			}
			return s.closeProposal(ctx, id, status, actor, note)
		}
		e := Edit{Table: p.Table, Values: p.Changes.Values, Extra: p.Changes.Extra, Fixed: p.Fixed, Actor: who, Listing: p.ListingID,
			Note: strings.TrimSpace(p.Note + " " + note)}
		if p.RowID != "" {
			cur, err := s.Row(ctx, p.Table, p.RowID)
			if err != nil {
				return err
			}
			for k := range maps.Keys(p.Changes.Values) {
				if Text(cur.Values[k]) != p.Base[k] {
					return apperr.Errorf(apperr.ECONFLICT, "%s was changed by someone else after the partner saw it (now %q); edit the listing instead, then reject this proposal.", Label(k), clip(Text(cur.Values[k])))
				}
			}
			e.ID, e.Version = p.RowID, RowVersion(cur)
			if p.Changes.Delete {
				err = s.DeleteRow(ctx, p.Table, p.RowID, e.Version, who, p.ListingID)
			} else {
				_, err = s.SaveRow(ctx, e)
			}
			if err != nil {
				return err
			}
		} else if _, err := s.SaveRow(ctx, e); err != nil {
			return err
		}
	}
	return s.closeProposal(ctx, id, status, actor, note)
}

func (s *Store) closeProposal(ctx context.Context, id int64, status, actor, note string) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE directory_proposal SET status = ?, decided_by = ?, decided_at = ?, decision_note = ? WHERE id = ? AND status = 'new'`,
		status, actor, s.Now().UTC().Format(time.RFC3339Nano), strings.TrimSpace(note), id)
	return err
}

// --- pages ---

type diffRow struct{ Label, Before, After, Now string }

type proposalRow struct {
	Proposal
	Kind, Listing, When string
	Diff                []diffRow
}

func (p StaffPages) proposalRows(ctx context.Context, f ProposalFilter) ([]proposalRow, error) {
	ps, err := p.Store.Proposals(ctx, f)
	if err != nil {
		return nil, err
	}
	var out []proposalRow
	for _, x := range ps {
		r := proposalRow{Proposal: x, Kind: strings.ReplaceAll(x.Table, "_", " "), When: p.when(x.ProposedAt)}
		if svc, err := p.Store.Row(ctx, "service", x.ListingID); err == nil {
			r.Listing = Text(svc.Values["name"])
		} else if org, err := p.Store.Row(ctx, "organization", x.ListingID); err == nil {
			r.Listing = Text(org.Values["name"])
		}
		if x.Table == "upload" {
			r.Kind = "spreadsheet upload (" + x.Changes.UploadName + ")"
			if err := p.uploadDiff(ctx, &r); err != nil {
				return nil, err
			}
			out = append(out, r)
			continue
		}
		var cur Row
		if x.RowID != "" {
			cur, _ = p.Store.Row(ctx, x.Table, x.RowID)
		}
		now := func(k string) string {
			if v, ok := cur.Values[k]; ok {
				return Text(v)
			}
			s, _ := cur.Extra[k].(string)
			return s
		}
		if x.Changes.Delete {
			r.Diff = append(r.Diff, diffRow{Label: "Remove", Before: Summarize(x.Table, cur), After: "(removed)", Now: Summarize(x.Table, cur)})
		}
		for _, k := range slices.Sorted(maps.Keys(x.Changes.Values)) {
			r.Diff = append(r.Diff, diffRow{Label(k), x.Base[k], x.Changes.Values[k], now(k)})
		}
		for _, k := range slices.Sorted(maps.Keys(x.Changes.Extra)) {
			r.Diff = append(r.Diff, diffRow{Label(k), x.Base[k], x.Changes.Extra[k], now(k)})
		}
		out = append(out, r)
	}
	return out, nil
}

// uploadDiff shows an upload proposal as what it would do now, record by
// record (or, once decided, what it did not do).
func (p StaffPages) uploadDiff(ctx context.Context, r *proposalRow) error {
	files, err := UnpackBulk(r.Changes.Upload)
	if err != nil {
		return err
	}
	src, _ := files.Source(r.Changes.UploadName)
	prev, err := p.Store.PreviewBulk(ctx, src, r.OrganizationID)
	if err != nil {
		return err
	}
	for _, e := range prev.Errors() {
		r.Diff = append(r.Diff, diffRow{Label: "Problem", After: e.String()})
	}
	for _, it := range prev.Items {
		what := map[string]string{BulkCreate: "New", BulkChange: "Change to", BulkRetire: "Retire"}[it.Action]
		label := what + " " + strings.ReplaceAll(it.Table, "_", " ") + ": " + it.Summary
		if it.Action == BulkCreate {
			r.Diff = append(r.Diff, diffRow{Label: label, After: "(created)"})
		}
		for _, d := range it.Diffs {
			r.Diff = append(r.Diff, diffRow{Label: label + " — " + d.Label, Before: d.Before, After: d.After, Now: d.Before})
		}
	}
	return nil
}

func (p StaffPages) registerProposals(g *echo.Group) {
	g.GET("/directory/proposals", p.proposals)
	g.POST("/directory/proposals/:pid", p.decide)
}

func (p StaffPages) proposals(c echo.Context) error {
	return p.renderProposals(c, http.StatusOK, "")
}

func (p StaffPages) renderProposals(c echo.Context, status int, msg string) error {
	who := p.who(c)
	f := ProposalFilter{Status: "new"}
	if who.Partner {
		// A partner sees their organization's proposals, decided ones too.
		f = ProposalFilter{OrganizationID: who.OrganizationID}
		if who.OrganizationID == "" {
			return errNoListing
		}
	}
	rows, err := p.proposalRows(c.Request().Context(), f)
	if err != nil {
		return err
	}
	title := "Proposals from partners"
	if who.Partner {
		title = "Your proposed changes"
	}
	return p.Pages.Render(c, status, "staff/directory_proposals", templates.Page{Title: title, Error: msg,
		Data: map[string]any{"Rows": rows, "Partner": who.Partner}})
}

func (p StaffPages) decide(c echo.Context) error {
	who := p.who(c)
	if who.Partner {
		return errNoListing
	}
	id, err := strconv.ParseInt(c.Param("pid"), 10, 64)
	if err != nil {
		return apperr.Errorf(apperr.ENOTFOUND, "There is no such proposal.")
	}
	approve := c.FormValue("decision") == "approve"
	err = p.Store.DecideProposal(c.Request().Context(), id, approve, who.Email, c.FormValue("note"))
	var fe FieldErrors
	if errors.As(err, &fe) || apperr.Code(err) == apperr.ECONFLICT || apperr.Code(err) == apperr.EINVALID {
		msg := apperr.Message(err)
		if fe != nil {
			msg = "The proposal no longer passes the checks: " + fe.Error()
		}
		return p.renderProposals(c, http.StatusConflict, "Not applied. "+msg)
	} else if err != nil {
		return err
	}
	msg := "Rejected the proposal."
	if approve {
		msg = "Approved: the change is published."
	}
	if err := p.flash(c, msg); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/staff/directory/proposals")
}

// propose turns a partner's save into a proposal; a refused one comes back
// to the form with its messages.
func (p StaffPages) propose(c echo.Context, e Edit, orgID, sid string, base *Row, all map[string]string, hs []hidden) error {
	del := strings.HasPrefix(c.Path(), "/staff/directory/delete/")
	e.Listing = or(sid, orgID)
	// Whatever a partner proposes stays inside their organization.
	e.Check = func(ctx context.Context, q Querier, table string, values map[string]any) error {
		if id, _ := values["organization_id"].(string); id != "" && id != orgID {
			return FieldErrors{"organization_id": "must stay your organization"}
		}
		if id, _ := values["location_id"].(string); id != "" {
			var o string
			if err := q.QueryRowContext(ctx, `SELECT COALESCE(organization_id, '') FROM location WHERE id = ?`, id).Scan(&o); err != nil || o != orgID {
				return FieldErrors{"location_id": "must be one of your organization's places"}
			}
		}
		return nil
	}
	_, err := p.Store.Propose(c.Request().Context(), e, orgID, base, del)
	var fe FieldErrors
	if errors.As(err, &fe) || apperr.Code(err) == apperr.ECONFLICT || apperr.Code(err) == apperr.EINVALID {
		if base == nil {
			d, ferr := p.form(c, e.Table, Row{Values: map[string]any{}}, all, fe, orgID)
			if ferr != nil {
				return ferr
			}
			d.Fixed, d.Action, d.Back = hs, "/staff/directory/new/"+e.Table, back(sid, orgID)
			return p.Pages.Render(c, http.StatusBadRequest, "staff/directory_edit", templates.Page{Title: "New " + d.Kind,
				Error: "Nothing was proposed: " + apperr.Message(err), Data: d})
		}
		if all == nil {
			return p.renderListing(c, http.StatusBadRequest, sid, "Nothing was proposed: "+apperr.Message(err))
		}
		d, ferr := p.form(c, e.Table, *base, all, fe, orgID)
		if ferr != nil {
			return ferr
		}
		d.ID, d.Version, d.Action, d.Back = base.ID(), RowVersion(*base), "/staff/directory/edit/"+e.Table+"/"+base.ID(), back(sid, orgID)
		return p.Pages.Render(c, http.StatusBadRequest, "staff/directory_edit", templates.Page{Title: "Edit " + d.Kind,
			Error: "Nothing was proposed: " + apperr.Message(err), Data: d})
	} else if err != nil {
		return err
	}
	if err := p.flash(c, "Proposed: staff will review your change before it is published."); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, back(sid, orgID))
}

var _ = sql.ErrNoRows
