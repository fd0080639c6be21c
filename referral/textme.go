package referral

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nyaruka/phonenumbers"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/csrf"
	"github.com/secondchancekc/secondchance/internal/sms"
	"github.com/secondchancekc/secondchance/templates"
)

// ListingSource gives a service as the public pages show it (directory.Pages
// in the application).
type ListingSource interface {
	Listing(ctx context.Context, id, lang string) (*directory.Listing, error)
}

// TextLimits guard "Text me this" against SMS pumping: whoever scripts the
// form can make us text any number, at our cost.
type TextLimits struct {
	PerIPHour    int // texts asked from one address in an hour
	PerNumberDay int // texts to one number in a day
	PerDay       int // texts from the website in a day, all together
}

// DefaultTextLimits are used for zero fields.
var DefaultTextLimits = TextLimits{PerIPHour: 5, PerNumberDay: 3, PerDay: 300}

// TextMe is the public "Text me this" form (POST /services/:id/text): the
// listing goes by SMS through Sender, is logged as a web referral, and the
// follow-up consent is recorded when the box is ticked. On success it goes
// back to the service page with a notice; otherwise public/text shows the
// form again with the reason.
type TextMe struct {
	Store    *Store
	Listings ListingSource
	Sender   Sender
	Pages    *templates.Renderer
	// BaseURL is the site's public URL, for the link in the text.
	BaseURL string
	Limits  TextLimits
	// Now is the clock; nil is the Store's.
	Now func() time.Time
}

// RegisterTextMe mounts the form's handler on e.
func RegisterTextMe(e *echo.Echo, t *TextMe) {
	e.POST("/services/:id/text", t.handle)
}

// Reasons a text was refused, each shown with its own message.
var (
	ErrTextIPLimit     = apperr.Errorf(apperr.ETOOMANY, "Too many texts from this address; try again in an hour.")
	ErrTextNumberLimit = apperr.Errorf(apperr.ETOOMANY, "This number got enough texts today.")
	ErrTextDailyCap    = apperr.Errorf(apperr.ETOOMANY, "The website's texts for today are used up.")
)

// textData is what public/text.html (and the service page's form) shows.
type textData struct {
	ID, Name, FormKey, Phone string
	Consent                  bool
}

func (t *TextMe) handle(c echo.Context) error {
	directory.LimitForm(c)
	if err := c.Request().ParseForm(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	lang := templates.LangOf(c)
	id := c.Param("id")
	l, err := t.Listings.Listing(ctx, id, lang)
	if err != nil {
		return err
	}
	d := textData{ID: id, Name: l.Name, FormKey: c.FormValue("key"), Phone: c.FormValue("phone"), Consent: c.FormValue("consent") == "yes"}
	if len(d.FormKey) < 16 || len(d.FormKey) > 64 {
		d.FormKey = directory.NewFormKey()
	}
	fail := func(status int, key string) error {
		return t.Pages.Render(c, status, "public/text", templates.Page{Lang: lang, Title: t.Pages.Text(lang, "title.text"),
			Error: t.Pages.Text(lang, key), CSRF: csrf.Token(c), Data: d})
	}
	if err := csrf.Check(c); err != nil {
		return fail(http.StatusForbidden, "textme.err.csrf")
	}
	phone, err := NormalizePhone(d.Phone)
	if err != nil || phone == "" {
		return fail(http.StatusBadRequest, "textme.err.phone")
	}
	if !isUSNumber(phone) {
		return fail(http.StatusBadRequest, "textme.err.us_only")
	}
	// A form posted twice is counted once, and sent again with the same
	// refs: the referral log and the sender's log answer it once.
	_, err = t.count(ctx, t.Store.db.Hash("ip", c.RealIP()), t.Store.db.Hash("to", phone), id, d.FormKey)
	switch {
	case err == ErrTextIPLimit:
		return fail(http.StatusTooManyRequests, "textme.err.ip_limit")
	case err == ErrTextNumberLimit:
		return fail(http.StatusTooManyRequests, "textme.err.to_limit")
	case err == ErrTextDailyCap:
		return fail(http.StatusTooManyRequests, "textme.err.daily_cap")
	case err != nil:
		return err
	}
	nr := NewReferral{Client: Client{Phone: phone, Language: lang}, Channel: ChannelWeb, NeedCategory: NeedOther,
		ServiceIDs: []string{id}, CreatedBy: SystemActorPrefix + ChannelWeb, IdempotencyKey: "web:" + d.FormKey}
	if len(l.Categories) > 0 {
		nr.NeedCategory = l.Categories[0]
	}
	if d.Consent {
		nr.Client.Consent = &Consent{Given: true, Channel: ChannelWeb, Words: t.Pages.Text(lang, "textme.consent")}
	}
	ref, _, err := t.Store.CreateReferral(ctx, nr)
	if err != nil {
		return err
	}
	err = t.Sender.SendSMS(ctx, SMS{To: phone, Body: t.body(l, lang), Purpose: "listing", Ref: "web:" + ref.ID})
	switch {
	case errors.Is(err, ErrOptedOut):
		return fail(http.StatusConflict, "textme.err.opted_out")
	case err != nil && !errors.Is(err, ErrSendUnsure):
		c.Logger().Warnf("text me this: send failed: %v", err)
		return fail(http.StatusBadGateway, "textme.err.send")
	}
	return c.Redirect(http.StatusSeeOther, "/services/"+id+"?done=text")
}

// count records the attempt and enforces the limits, in one transaction
// on the single writer so that concurrent posts cannot both pass. A form
// key seen before is not counted again (fresh false).
func (t *TextMe) count(ctx context.Context, ipHash, toHash, serviceID, formKey string) (fresh bool, err error) {
	lim := t.Limits
	if lim.PerIPHour == 0 {
		lim.PerIPHour = DefaultTextLimits.PerIPHour
	}
	if lim.PerNumberDay == 0 {
		lim.PerNumberDay = DefaultTextLimits.PerNumberDay
	}
	if lim.PerDay == 0 {
		lim.PerDay = DefaultTextLimits.PerDay
	}
	now := t.Store.now()
	if t.Now != nil {
		now = t.Now().UTC()
	}
	tx, err := t.Store.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var seen int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM public_text WHERE form_key = ?`, formKey).Scan(&seen); err != nil {
		return false, err
	}
	if seen > 0 {
		return false, nil
	}
	hour, day := now.Add(-time.Hour).Format(time.RFC3339Nano), now.Add(-24*time.Hour).Format(time.RFC3339Nano)
	for _, chk := range []struct {
		sql   string
		args  []any
		limit int
		err   error
	}{
		{`SELECT COUNT(*) FROM public_text WHERE created_at > ?`, []any{day}, lim.PerDay, ErrTextDailyCap},
		{`SELECT COUNT(*) FROM public_text WHERE ip_hash = ? AND created_at > ?`, []any{ipHash, hour}, lim.PerIPHour, ErrTextIPLimit},
		{`SELECT COUNT(*) FROM public_text WHERE to_hash = ? AND created_at > ?`, []any{toHash, day}, lim.PerNumberDay, ErrTextNumberLimit},
	} {
		var n int
		if err := tx.QueryRowContext(ctx, chk.sql, chk.args...).Scan(&n); err != nil {
			return false, err
		}
		if n >= chk.limit {
			return false, chk.err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO public_text (ip_hash, to_hash, service_id, form_key, created_at) VALUES (?, ?, ?, ?, ?)`,
		ipHash, toHash, serviceID, formKey, now.Format(time.RFC3339Nano)); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// isUSNumber accepts E.164 numbers of the United States only (not the
// rest of +1: Canada and the Caribbean include premium-rate ranges that
// SMS pumping targets).
func isUSNumber(e164 string) bool {
	if len(e164) != 12 || !strings.HasPrefix(e164, "+1") {
		return false
	}
	n, err := phonenumbers.Parse(e164, "US")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return false
	}
	if phonenumbers.GetRegionCodeForNumber(n) != "US" {
		return false
	}
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.PREMIUM_RATE, phonenumbers.TOLL_FREE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.UAN:
		return false
	}
	return true
}

// body is the text: name, organization, phone, address, today's hours,
// the link and the hotline, cut to fit three segments.
func (t *TextMe) body(l *directory.Listing, lang string) string {
	var b strings.Builder
	b.WriteString("Second Chance KC: ")
	b.WriteString(l.Name)
	if l.Org != "" && l.Org != l.Name {
		b.WriteString(" (" + l.Org + ")")
	}
	b.WriteString(".")
	if len(l.Phones) > 0 {
		b.WriteString(" " + l.Phones[0].Text + ".")
	}
	if len(l.Places) > 0 {
		b.WriteString(" " + l.Places[0].Address + ".")
	}
	if l.HoursLine != "" {
		b.WriteString(" " + l.HoursLine + ".")
	}
	if l.Alert != "" {
		b.WriteString(" " + l.Alert)
	}
	link := strings.TrimRight(t.BaseURL, "/") + "/services/" + l.ID
	tail := " " + link + " Help: (816) 231-0217. Reply STOP to opt out."
	if lang == "es" {
		tail = " " + link + " Ayuda: (816) 231-0217. Responda STOP para no recibir textos."
	}
	// In the GSM-7 alphabet and within two segments, however long the
	// listing: one accented letter would make it UCS-2 and three or more
	// segments, which old phones show badly and which cost more.
	body := sms.ToGSM(b.String())
	if sms.Segments(body+tail) <= textMeSegments {
		return body + tail
	}
	r := []rune(body)
	for len(r) > 0 && sms.Segments(string(r)+"..."+tail) > textMeSegments {
		r = r[:len(r)-1]
	}
	return strings.TrimRight(string(r), " .,") + "..." + tail
}

// textMeSegments is the most SMS segments a "Text me this" message takes.
const textMeSegments = 2
