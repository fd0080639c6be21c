package directory

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/templates"
)

// Staff review of the public's corrections: each is seen beside the
// listing, then accepted into an edit (status accepted while the edit is
// open, done once it is saved) or dismissed with a reason (rejected).
// Nothing a visitor wrote is ever published: staff type the fix.

// CorrectionFilter selects corrections.
type CorrectionFilter struct {
	ServiceID string
	// Open: new or accepted (not yet done or dismissed).
	Open bool
	// Status, if set, is one status.
	Status string
	Limit  int
}

// Reviewed is a correction with staff's decision (Review nil while new).
type Reviewed struct {
	Correction
	Review *CorrectionReview
}

// CorrectionReview is what staff decided about a correction.
type CorrectionReview struct {
	By, Note string
	At       time.Time
}

// Corrections returns corrections, oldest first.
func (s *Store) Corrections(ctx context.Context, f CorrectionFilter) ([]Reviewed, error) {
	where, args := []string{"1"}, []any{}
	if f.ServiceID != "" {
		where, args = append(where, "service_id = ?"), append(args, f.ServiceID)
	}
	if f.Open {
		where = append(where, "status IN ('new','accepted')")
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.Limit <= 0 {
		f.Limit = 200
	}
	args = append(args, f.Limit)
	return s.loadCorrections(ctx, s.db.Read, strings.Join(where, " AND ")+" ORDER BY created_at, id LIMIT ?", args...)
}

func (s *Store) loadCorrections(ctx context.Context, q querier, where string, args ...any) ([]Reviewed, error) {
	rs, err := q.QueryContext(ctx, `SELECT id, service_id, field, text, contact, lang, status, created_at, reviewed_by,
		COALESCE(reviewed_at, ''), review_note FROM correction WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []Reviewed
	for rs.Next() {
		var c Reviewed
		var created, reviewed string
		var rv CorrectionReview
		if err := rs.Scan(&c.ID, &c.ServiceID, &c.Field, &c.Text, &c.Contact, &c.Lang, &c.Status, &created, &rv.By, &reviewed, &rv.Note); err != nil {
			return nil, err
		}
		c.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
		if reviewed != "" {
			rv.At, _ = time.Parse(time.RFC3339Nano, reviewed)
			c.Review = &rv
		}
		out = append(out, c)
	}
	return out, rs.Err()
}

// CorrectionByID returns one correction (ENOTFOUND when none).
func (s *Store) CorrectionByID(ctx context.Context, id int64) (*Reviewed, error) {
	cs, err := s.loadCorrections(ctx, s.db.Read, "id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "There is no such correction.")
	}
	return &cs[0], nil
}

func (s *Store) countCorrections(ctx context.Context) (int, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM correction WHERE status IN ('new','accepted')`).Scan(&n)
	return n, err
}

// ReviewCorrection records a decision: accepted (an edit is open), done
// (the edit was saved) or rejected (dismissed; note says why). A done or
// rejected correction is not reopened.
func (s *Store) ReviewCorrection(ctx context.Context, id int64, status, by, note string) error {
	switch status {
	case "accepted", "done":
	case "rejected":
		if strings.TrimSpace(note) == "" {
			return FieldErrors{"reason": "say why it is dismissed"}
		}
	default:
		return apperr.Errorf(apperr.EINVALID, "Unknown status %q.", status)
	}
	if len([]rune(note)) > maxNote {
		return FieldErrors{"reason": "at most 2000 characters"}
	}
	res, err := s.db.Write.ExecContext(ctx, `UPDATE correction SET status = ?, reviewed_by = ?, reviewed_at = ?, review_note = ?
		WHERE id = ? AND status IN ('new','accepted')`, status, by, s.Now().UTC().Format(time.RFC3339Nano), strings.TrimSpace(note), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.CorrectionByID(ctx, id); err != nil {
			return err
		}
		return apperr.Errorf(apperr.ECONFLICT, "This correction was already dealt with.")
	}
	return nil
}

// --- pages ---

type correctionRow struct {
	Reviewed
	Service, When string
}

func (p StaffPages) corrections(c echo.Context) error {
	if p.who(c).Partner {
		return errNoListing
	}
	ctx := c.Request().Context()
	cs, err := p.Store.Corrections(ctx, CorrectionFilter{Open: true})
	if err != nil {
		return err
	}
	var rows []correctionRow
	for _, x := range cs {
		r, _ := p.Store.Row(ctx, "service", x.ServiceID)
		rows = append(rows, correctionRow{Reviewed: x, Service: or(Text(r.Values["name"]), "(listing removed)"), When: p.when(x.CreatedAt)})
	}
	return p.Pages.Render(c, http.StatusOK, "staff/directory_corrections", templates.Page{Title: "Corrections from the public", Data: map[string]any{"Rows": rows}})
}

// correctionFor loads correction cid for the service being edited.
func (p StaffPages) correctionFor(c echo.Context, cid, serviceID string) (*Reviewed, error) {
	id, err := strconv.ParseInt(cid, 10, 64)
	if err != nil {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "There is no such correction.")
	}
	x, err := p.Store.CorrectionByID(c.Request().Context(), id)
	if err != nil {
		return nil, err
	}
	if serviceID != "" && x.ServiceID != serviceID {
		return nil, apperr.Errorf(apperr.EINVALID, "That correction is about another listing.")
	}
	return x, nil
}

type correctionData struct {
	Reviewed
	When, Reason string
	Listing      *Listing
	Current      []kv
	Version      string
	Gone         bool
}

func (p StaffPages) correctionPage(c echo.Context) error {
	return p.renderCorrection(c, http.StatusOK, "", "")
}

func (p StaffPages) renderCorrection(c echo.Context, status int, msg, reason string) error {
	if p.who(c).Partner {
		return errNoListing
	}
	ctx := c.Request().Context()
	x, err := p.correctionFor(c, c.Param("cid"), "")
	if err != nil {
		return err
	}
	d := correctionData{Reviewed: *x, When: p.when(x.CreatedAt), Reason: reason}
	r, err := p.Store.Row(ctx, "service", x.ServiceID)
	if apperr.Code(err) == apperr.ENOTFOUND {
		d.Gone = true
	} else if err != nil {
		return err
	} else {
		d.Version = RowVersion(r)
		lp := Pages{Store: p.Store, Pages: p.Pages, Zone: p.Zone, Now: p.Now}
		if l, err := lp.Listing(ctx, x.ServiceID, "en"); err == nil {
			d.Listing = l
			d.Current = []kv{{"Name", l.Name}, {"Organization", l.Org}, {"Status", l.Status}}
			for _, ph := range l.Phones {
				d.Current = append(d.Current, kv{"Phone", ph.Text})
			}
			for _, pl := range l.Places {
				d.Current = append(d.Current, kv{"Address", pl.Address})
			}
			for _, h := range l.Hours {
				d.Current = append(d.Current, kv{"Hours " + h.Day, h.Times})
			}
			d.Current = append(d.Current, kv{"Eligibility", l.Eligibility}, kv{"Last verified", or(Text(r.Values["assured_date"]), "never")})
		} else {
			d.Current = []kv{{"Name", Text(r.Values["name"])}, {"Status", Text(r.Values["status"])}}
		}
	}
	return p.Pages.Render(c, status, "staff/directory_correction", templates.Page{Title: "Correction " + strconv.FormatInt(x.ID, 10), Error: msg, Data: d})
}

func (p StaffPages) dismiss(c echo.Context) error {
	if p.who(c).Partner {
		return errNoListing
	}
	x, err := p.correctionFor(c, c.Param("cid"), "")
	if err != nil {
		return err
	}
	reason := c.FormValue("reason")
	err = p.Store.ReviewCorrection(c.Request().Context(), x.ID, "rejected", p.who(c).Email, reason)
	if fe, ok := err.(FieldErrors); ok {
		return p.renderCorrection(c, http.StatusBadRequest, "Not dismissed: reason "+fe["reason"]+".", reason)
	} else if apperr.Code(err) == apperr.ECONFLICT {
		return p.renderCorrection(c, http.StatusConflict, apperr.Message(err), reason)
	} else if err != nil {
		return err
	}
	if err := p.flash(c, "Dismissed the correction."); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/staff/directory/corrections")
}

var _ = sql.ErrNoRows
