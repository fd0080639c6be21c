package referral

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

// The staff JSON API. Every answer is JSON; errors are returned as apperr
// codes for the application's error handler (bad input is EINVALID, 400,
// with a message that starts with the field).

// maxBody bounds a request body; a referral is a few hundred bytes.
const maxBody = 64 << 10

type api struct {
	store *Store
	actor func(echo.Context) string
}

// RegisterAPI mounts the staff referral API on g, which the caller mounts
// at /api/staff behind login and CSRF middleware:
//
//	POST /referrals               create (201; 200 when the idempotency key was seen)
//	GET  /referrals               list, filtered by query parameters
//	GET  /referrals/:id           one referral with its audit trail
//	POST /referrals/:id/outcomes  record an outcome (overall, or for service_id)
//
// actor returns the signed-in staff user's id; it becomes created_by and the
// actor of the events. An empty id is refused with EUNAUTHORIZED.
func RegisterAPI(g *echo.Group, s *Store, actor func(echo.Context) string) {
	a := &api{store: s, actor: actor}
	g.POST("/referrals", a.create)
	g.GET("/referrals", a.list)
	g.GET("/referrals/:id", a.get)
	g.POST("/referrals/:id/outcomes", a.recordOutcome)
}

func (a *api) who(c echo.Context) (string, error) {
	id := a.actor(c)
	if id == "" {
		return "", apperr.Errorf(apperr.EUNAUTHORIZED, "Please sign in to continue.")
	}
	return id, nil
}

// createRequest is the body of POST /referrals.
type createRequest struct {
	Client struct {
		Phone    string   `json:"phone"`
		Name     string   `json:"name"`
		Language string   `json:"language"`
		Consent  *Consent `json:"consent"`
	} `json:"client"`
	// Channel defaults to staff.
	Channel        string   `json:"channel"`
	NeedCategory   string   `json:"need_category"`
	ZIP            string   `json:"zip"`
	ServiceIDs     []string `json:"service_ids"`
	Notes          string   `json:"notes"`
	IdempotencyKey string   `json:"idempotency_key"`
}

func (a *api) create(c echo.Context) error {
	who, err := a.who(c)
	if err != nil {
		return err
	}
	var req createRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.Channel == "" {
		req.Channel = ChannelStaff
	}
	n := NewReferral{
		Client:         Client{Phone: req.Client.Phone, Name: req.Client.Name, Language: req.Client.Language, Consent: req.Client.Consent},
		Channel:        req.Channel,
		NeedCategory:   req.NeedCategory,
		ZIP:            req.ZIP,
		ServiceIDs:     req.ServiceIDs,
		CreatedBy:      who,
		Notes:          req.Notes,
		IdempotencyKey: req.IdempotencyKey,
	}
	r, created, err := a.store.CreateReferral(c.Request().Context(), n)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.Response().Header().Set(echo.HeaderLocation, strings.TrimSuffix(c.Request().URL.Path, "/")+"/"+r.ID)
	return c.JSON(status, r)
}

// listPage is the answer of GET /referrals.
type listPage struct {
	Total     int         `json:"total"`
	Page      int         `json:"page"`
	PerPage   int         `json:"per_page"`
	Referrals []*Referral `json:"referrals"`
}

func (a *api) list(c echo.Context) error {
	if _, err := a.who(c); err != nil {
		return err
	}
	q := c.QueryParams()
	f := ReferralFilter{
		Channel:      strings.TrimSpace(q.Get("channel")),
		NeedCategory: strings.TrimSpace(q.Get("need_category")),
		ServiceID:    strings.TrimSpace(q.Get("service_id")),
		Outcome:      strings.TrimSpace(q.Get("outcome")),
		Phone:        strings.TrimSpace(q.Get("phone")),
		ClientID:     strings.TrimSpace(q.Get("client_id")),
	}
	var err error
	if f.CreatedFrom, err = a.timeParam(q.Get("created_from"), "created_from", false); err != nil {
		return err
	}
	if f.CreatedTo, err = a.timeParam(q.Get("created_to"), "created_to", true); err != nil {
		return err
	}
	page, err := intParam(q.Get("page"), "page", 1, 1, 1_000_000)
	if err != nil {
		return err
	}
	perPage, err := intParam(q.Get("per_page"), "per_page", DefaultLimit, 1, MaxLimit)
	if err != nil {
		return err
	}
	f.Offset, f.Limit = (page-1)*perPage, perPage
	rs, total, err := a.store.ListReferrals(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []*Referral{}
	}
	return c.JSON(http.StatusOK, listPage{Total: total, Page: page, PerPage: perPage, Referrals: rs})
}

// referralDetail is the answer of GET /referrals/:id.
type referralDetail struct {
	*Referral
	Events []Event `json:"events"`
}

func (a *api) get(c echo.Context) error {
	if _, err := a.who(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	r, err := a.store.GetReferral(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	evs, err := a.store.Events(ctx, r.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, referralDetail{r, evs})
}

// outcomeRequest is the body of POST /referrals/:id/outcomes.
type outcomeRequest struct {
	// ServiceID is the referred service, or "" for the overall outcome.
	ServiceID      string `json:"service_id"`
	Reached        *bool  `json:"reached"`
	GotHelp        string `json:"got_help"`
	Reason         string `json:"reason"`
	ReasonNote     string `json:"reason_note"`
	StillNeedsHelp *bool  `json:"still_needs_help"`
	// Source defaults to staff.
	Source string `json:"source"`
}

func (a *api) recordOutcome(c echo.Context) error {
	who, err := a.who(c)
	if err != nil {
		return err
	}
	var req outcomeRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.Source == "" {
		req.Source = SourceStaff
	}
	ctx := c.Request().Context()
	o := Outcome{Reached: req.Reached, GotHelp: req.GotHelp, Reason: req.Reason, ReasonNote: req.ReasonNote,
		StillNeedsHelp: req.StillNeedsHelp, Source: req.Source}
	if _, err := a.store.RecordOutcome(ctx, c.Param("id"), strings.TrimSpace(req.ServiceID), o, who); err != nil {
		return err
	}
	r, err := a.store.GetReferral(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// decodeBody reads one JSON object into v, refusing unknown fields; errors
// are EINVALID and name the field.
func decodeBody(c echo.Context, v any) error {
	req := c.Request()
	if ct := req.Header.Get(echo.HeaderContentType); ct != "" && !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		return apperr.Errorf(apperr.EINVALID, "body: send JSON with Content-Type: application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), req.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tp *time.ParseError
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		if dec.More() {
			return apperr.Errorf(apperr.EINVALID, "body: one JSON object only")
		}
		return nil
	case errors.As(err, &tooBig):
		return err // the error handler answers 413
	case errors.Is(err, io.EOF):
		return apperr.Errorf(apperr.EINVALID, "body: empty; send a JSON object")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.Errorf(apperr.EINVALID, "body: not valid JSON")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return apperr.Errorf(apperr.EINVALID, "body: must be a JSON object")
		}
		return invalid(typ.Field, "must be %s, got %s", jsonType(typ.Type.Kind().String()), typ.Value)
	case errors.As(err, &tp):
		return invalid("client.consent.at", "must be a time such as 2026-01-05T14:00:00Z")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return invalid(clip(name), "not a field of this request")
	}
	return apperr.Errorf(apperr.EINVALID, "body: not a valid request")
}

// jsonType names a Go kind in JSON terms.
func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "a list"
	case "struct", "map":
		return "an object"
	}
	return "a number"
}

// timeParam reads an RFC 3339 time or a date (YYYY-MM-DD, in the store's
// Zone). A date as the end of a range includes that whole day.
func (a *api) timeParam(v, name string, end bool) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	loc := a.store.Zone
	if loc == nil {
		loc = time.UTC
	}
	t, err := time.ParseInLocation(time.DateOnly, v, loc)
	if err != nil {
		return time.Time{}, invalid(name, "must be a date (2026-01-05) or a time (2026-01-05T14:00:00Z), got %q", clip(v))
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

func intParam(v, name string, def, lo, hi int) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, invalid(name, "must be a whole number from %d to %d, got %q", lo, hi, clip(v))
	}
	return n, nil
}
