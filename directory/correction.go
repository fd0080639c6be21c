package directory

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/csrf"
	"github.com/secondchancekc/secondchance/templates"
)

// Correction is a visitor's note that a listing is wrong, kept for staff
// review.
type Correction struct {
	ID        int64
	ServiceID string
	Field     string // one of CorrectionFields
	Text      string
	Contact   string // optional phone or email
	Lang      string
	Status    string // new, accepted, rejected, done
	CreatedAt time.Time
}

// Size limits of a correction, in characters.
const (
	MaxCorrectionText    = 2000
	MaxCorrectionContact = 200
)

// Validate checks a new correction; messages name the field.
func (c *Correction) Validate() error {
	switch {
	case !slices.Contains(CorrectionFields, c.Field):
		return apperr.Errorf(apperr.EINVALID, "field: must be one of %s", strings.Join(CorrectionFields, ", "))
	case strings.TrimSpace(c.Text) == "":
		return apperr.Errorf(apperr.EINVALID, "text: required")
	case utf8.RuneCountInString(c.Text) > MaxCorrectionText || utf8.RuneCountInString(c.Contact) > MaxCorrectionContact:
		return apperr.Errorf(apperr.EINVALID, "text: at most %d characters, contact at most %d", MaxCorrectionText, MaxCorrectionContact)
	case !utf8.ValidString(c.Text) || !utf8.ValidString(c.Contact):
		return apperr.Errorf(apperr.EINVALID, "text: not valid text")
	}
	return nil
}

// CorrectionLimits bound how many corrections are taken.
type CorrectionLimits struct {
	PerIPHour int // from one address in an hour
	PerDay    int // from everyone in a day
}

// DefaultCorrectionLimits are used for zero fields.
var DefaultCorrectionLimits = CorrectionLimits{PerIPHour: 10, PerDay: 500}

// Errors AddCorrection returns when a limit is reached (ETOOMANY).
var (
	ErrCorrectionIPLimit  = apperr.Errorf(apperr.ETOOMANY, "Too many corrections from this address; try again in an hour.")
	ErrCorrectionDayLimit = apperr.Errorf(apperr.ETOOMANY, "Too many corrections today; try again tomorrow.")
)

// AddCorrection stores a correction for a service that exists, unless the
// sender's address (ipHash) or everyone together reached a limit; the
// count and the insert are one transaction on the single writer.
func (s *Store) AddCorrection(ctx context.Context, c *Correction, ipHash string, lim CorrectionLimits, now time.Time) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if lim.PerIPHour == 0 {
		lim.PerIPHour = DefaultCorrectionLimits.PerIPHour
	}
	if lim.PerDay == 0 {
		lim.PerDay = DefaultCorrectionLimits.PerDay
	}
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM service WHERE id = ?`, c.ServiceID).Scan(&exists); err != nil {
		return err
	}
	if exists == 0 {
		return apperr.Errorf(apperr.ENOTFOUND, "No service with id %s.", c.ServiceID)
	}
	now = now.UTC()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM correction WHERE ip_hash = ? AND created_at > ?`,
		ipHash, now.Add(-time.Hour).Format(time.RFC3339Nano)).Scan(&n); err != nil {
		return err
	}
	if n >= lim.PerIPHour {
		return ErrCorrectionIPLimit
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM correction WHERE created_at > ?`,
		now.Add(-24*time.Hour).Format(time.RFC3339Nano)).Scan(&n); err != nil {
		return err
	}
	if n >= lim.PerDay {
		return ErrCorrectionDayLimit
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO correction (service_id, field, text, contact, lang, ip_hash, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, 'new', ?)`, c.ServiceID, c.Field, strings.TrimSpace(c.Text), strings.TrimSpace(c.Contact),
		c.Lang, ipHash, now.Format(time.RFC3339Nano))
	if err != nil {
		return err
	}
	c.ID, _ = res.LastInsertId()
	c.Status, c.CreatedAt = "new", now
	return tx.Commit()
}

// NewFormKey is a random key a form carries so that submitting it twice
// acts once.
func NewFormKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// maxFormBytes bounds a public form's body; the server's own limit is
// larger.
const maxFormBytes = 16 << 10

// LimitForm caps the request body of a public form at 16 KB (the largest
// correction is 2000 characters); a larger one is 413.
func LimitForm(c echo.Context) {
	c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, maxFormBytes)
}

func (p Pages) correction(c echo.Context) error {
	LimitForm(c)
	lang := templates.LangOf(c)
	if err := c.Request().ParseForm(); err != nil {
		return err
	}
	d := serviceData{CorrectionOpen: true, CorrectionText: c.FormValue("text"), CorrectionContact: c.FormValue("contact")}
	page := templates.Page{}
	if err := csrf.Check(c); err != nil {
		page.Error = p.Pages.Text(lang, "correct.err.csrf")
		return p.renderService(c, http.StatusForbidden, page, d)
	}
	corr := &Correction{ServiceID: c.Param("id"), Field: c.FormValue("field"), Text: d.CorrectionText, Contact: d.CorrectionContact, Lang: lang}
	if !slices.Contains(CorrectionFields, corr.Field) {
		corr.Field = "other"
	}
	err := p.Store.AddCorrection(c.Request().Context(), corr, p.Store.DB().Hash("ip", c.RealIP()), p.Corrections, p.now())
	switch {
	case err == nil:
		return c.Redirect(http.StatusSeeOther, "/services/"+corr.ServiceID+"?done=correction")
	case err == ErrCorrectionIPLimit:
		page.Error = p.Pages.Text(lang, "correct.err.limit")
		return p.renderService(c, http.StatusTooManyRequests, page, d)
	case err == ErrCorrectionDayLimit:
		page.Error = p.Pages.Text(lang, "correct.err.daily")
		return p.renderService(c, http.StatusTooManyRequests, page, d)
	case apperr.Code(err) == apperr.EINVALID:
		page.Error = p.Pages.Text(lang, "correct.err.text")
		if strings.TrimSpace(corr.Text) != "" {
			page.Error = p.Pages.Text(lang, "correct.err.too_long")
		}
		return p.renderService(c, http.StatusBadRequest, page, d)
	}
	return err
}
