package hotline

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/templates"
)

// StaffPages is what the staff pages of the text-message log need; cmd
// fills it.
type StaffPages struct {
	// Log is the sender whose log is shown and whose sends are released.
	Log   *Logged
	Pages *templates.Renderer
	// Zone is where times are shown (the configured timezone).
	Zone *time.Location
	// Flash keeps a message for the next page, before a redirect
	// (auth.Service.SetFlash).
	Flash func(c echo.Context, msg string) error
	// RequireLogin is applied to every route (auth.Service.RequireLogin);
	// auth's guard covers /staff already, this keeps the pages closed if
	// they are ever mounted elsewhere. Nil: none.
	RequireLogin echo.MiddlewareFunc
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// outboxPerPage is how many messages one page of the list shows.
const outboxPerPage = 50

// stuckAfter is how long a send may stay "sending" before it is shown as
// unsure: a Twilio send with all its retries takes well under a minute, so
// a row this old was left by a process that died mid-send.
const stuckAfter = 15 * time.Minute

// RegisterStaff mounts the outbox pages on g, the /staff group:
//
//	GET  /staff/outbox                   every text sent, newest first (?purpose=, ?status=, ?page=)
//	GET  /staff/outbox/:id               one text, with the full phone number
//	POST /staff/outbox/:id/release       let an unsure text be sent again
//
// The list is the sms_message log, whichever provider carried each text,
// so with no Twilio account it is where staff read what would have been
// sent.
func RegisterStaff(g *echo.Group, p StaffPages) {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Zone == nil {
		p.Zone = time.UTC
	}
	var mw []echo.MiddlewareFunc
	if p.RequireLogin != nil {
		mw = append(mw, p.RequireLogin)
	}
	g.GET("/outbox", p.list, mw...)
	g.GET("/outbox/:id", p.message, mw...)
	g.POST("/outbox/:id/release", p.release, mw...)
}

// outboxData is the list page.
type outboxData struct {
	Rows     []outboxRow
	Purposes []string
	Statuses []string
	Purpose  string
	Status   string
	Total    int
	First    int // 1-based position of the first row shown
	Last     int
	Newer    string // link to the newer page, "" on the first
	Older    string
}

// outboxRow is one message as staff see it.
type outboxRow struct {
	*LoggedMessage
	// Masked is the number as the list shows it; the full number is only
	// on the message's own page.
	Masked string
	Time   string
	// ISOTime is Time for <time datetime>.
	ISOTime string
	Updated string
	Error   string
	// Unsure: the text may or may not have gone out; staff check the
	// provider's log and release it if it did not.
	Unsure bool
}

// statusHelp says what each status means for staff.
var statusHelp = map[string]string{
	StatusSending:   "Sending: the provider has not answered yet.",
	StatusSent:      "Sent: the provider accepted it.",
	StatusFailed:    "Failed: refused for good (for example an invalid number, or the person opted out); it is never retried.",
	StatusRetryable: "Not sent yet: a passing failure; it is tried again the next time it is due.",
	StatusUnsure:    "Unsure: it may or may not have gone out, so it is not sent again on its own. Check the provider's log (for Twilio, the messaging logs in the Twilio console). If it did not go out, release it so it can be sent again.",
}

func (p StaffPages) row(m *LoggedMessage) outboxRow {
	r := outboxRow{
		LoggedMessage: m,
		Masked:        MaskPhone(m.To),
		Time:          p.show(m.CreatedAt),
		ISOTime:       m.CreatedAt.UTC().Format(time.RFC3339),
		Updated:       p.show(m.UpdatedAt),
		Unsure:        m.Status == StatusUnsure || (m.Status == StatusSending && p.Now().Sub(m.UpdatedAt) > stuckAfter),
	}
	switch {
	case m.ErrorCode != 0 && m.ErrorMessage != "":
		r.Error = fmt.Sprintf("Error %d: %s", m.ErrorCode, m.ErrorMessage)
	case m.ErrorCode != 0:
		r.Error = fmt.Sprintf("Error %d", m.ErrorCode)
	default:
		r.Error = m.ErrorMessage
	}
	if m.Status == StatusSending && r.Unsure && r.Error == "" {
		r.Error = fmt.Sprintf("Still sending after %s: the process was probably stopped mid-send.", stuckAfter)
	}
	return r
}

func (p StaffPages) show(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(p.Zone).Format("Mon 2 Jan 2006 3:04 PM MST")
}

func (p StaffPages) list(c echo.Context) error {
	ctx := c.Request().Context()
	d := outboxData{Purpose: c.QueryParam("purpose"), Status: c.QueryParam("status"), Statuses: Statuses}
	var err error
	if d.Purposes, err = p.Log.Purposes(ctx); err != nil {
		return err
	}
	page := 1
	if v := c.QueryParam("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 || page > 1_000_000 {
			err = apperr.Errorf(apperr.EINVALID, "The page must be a whole number from 1, not %.40q.", v)
		}
	}
	f := MessageFilter{Purpose: d.Purpose, Status: d.Status, Offset: (page - 1) * outboxPerPage, Limit: outboxPerPage}
	if err == nil {
		err = f.Validate()
	}
	if apperr.Code(err) == apperr.EINVALID {
		// Refused on the page itself, with the filter form to correct it.
		if !slices.Contains(Statuses, d.Status) {
			d.Status = ""
		}
		return p.Pages.Render(c, http.StatusBadRequest, "staff/outbox", templates.Page{Title: "Outbox", Error: apperr.Message(err), Data: d})
	}
	ms, total, err := p.Log.Messages(ctx, f)
	if err != nil {
		return err
	}
	d.Total = total
	for _, m := range ms {
		d.Rows = append(d.Rows, p.row(m))
	}
	if len(ms) > 0 {
		d.First, d.Last = f.Offset+1, f.Offset+len(ms)
	}
	link := func(page int) string {
		q := url.Values{}
		if d.Purpose != "" {
			q.Set("purpose", d.Purpose)
		}
		if d.Status != "" {
			q.Set("status", d.Status)
		}
		if page > 1 {
			q.Set("page", strconv.Itoa(page))
		}
		if len(q) == 0 {
			return "/staff/outbox"
		}
		return "/staff/outbox?" + q.Encode()
	}
	if page > 1 {
		d.Newer = link(page - 1)
	}
	if f.Offset+len(ms) < total {
		d.Older = link(page + 1)
	}
	return p.Pages.Render(c, http.StatusOK, "staff/outbox", templates.Page{Title: "Outbox", Data: d})
}

// messageData is one message's page.
type messageData struct {
	outboxRow
	StatusHelp string
}

func (p StaffPages) find(c echo.Context) (*LoggedMessage, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "There is no such text message.")
	}
	return p.Log.MessageByID(c.Request().Context(), id)
}

func (p StaffPages) message(c echo.Context) error {
	m, err := p.find(c)
	if err != nil {
		return err
	}
	return p.renderMessage(c, http.StatusOK, m, "")
}

func (p StaffPages) renderMessage(c echo.Context, status int, m *LoggedMessage, msg string) error {
	d := messageData{outboxRow: p.row(m), StatusHelp: statusHelp[m.Status]}
	if d.Unsure {
		d.StatusHelp = statusHelp[StatusUnsure]
	}
	title := fmt.Sprintf("Text message %d", m.ID)
	return p.Pages.Render(c, status, "staff/outbox_message", templates.Page{Title: title, Error: msg, Data: d})
}

func (p StaffPages) release(c echo.Context) error {
	ctx := c.Request().Context()
	m, err := p.find(c)
	if err != nil {
		return err
	}
	if err := p.Log.Release(ctx, m.Ref); apperr.Code(err) == apperr.ECONFLICT {
		// Someone else released it, or it finished, since the page was
		// shown: show it as it is now.
		if m, err = p.Log.MessageByID(ctx, m.ID); err != nil {
			return err
		}
		return p.renderMessage(c, http.StatusConflict, m, "This text is no longer unsure ("+m.Status+"), so there is nothing to release.")
	} else if err != nil {
		return err
	}
	if p.Flash != nil {
		if err := p.Flash(c, "Released: the next attempt to send this text will send it."); err != nil {
			return err
		}
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/staff/outbox/%d", m.ID))
}
