package referral

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/templates"
)

// The staff follow-up queue and referral pages (issue 4, §6):
//
//	GET  /staff/queue                       the work list (filters: state, need, partner, channel, assignee, kind, page)
//	GET  /staff/queue/:id                   a follow-up: redirects to its referral's page
//	GET  /staff/referrals/new               manual referral entry (walk-ins, group sessions; ?from=ID prefills the next person)
//	POST /staff/referrals                   search services (action=search) or make the referral (action=create)
//	GET  /staff/referrals/:id               one referral: client, services, follow-ups, history, call script (?q= searches to refer again)
//	POST /staff/referrals/:id/outcome       record an outcome (the stages), optionally closing the call tasks
//	POST /staff/referrals/:id/note          add a note to the history
//	POST /staff/referrals/:id/again         refer the same person to more services
//	POST /staff/followups/:id/claim         claim, unclaim, reschedule or close a follow-up
//	POST /staff/followups/:id/unclaim
//	POST /staff/followups/:id/reschedule
//	POST /staff/followups/:id/close
//
// Every form carries the CSRF token (the auth guard checks it) and every
// action is safe to send twice: claiming one's own claim, closing a closed
// task, the same note or the same referral (an idempotency key) change
// nothing and say so.

// ServiceSearch finds directory services for the staff forms. cmd adapts
// the search engine to it.
type ServiceSearch interface {
	SearchServices(ctx context.Context, q ServiceQuery) ([]ServiceHit, error)
}

// ServiceQuery is a staff search: words, optionally near a ZIP code, and
// the need (used to narrow a search without words).
type ServiceQuery struct {
	Text, ZIP, Need string
	Limit           int
}

// ServiceHit is one service found.
type ServiceHit struct {
	ID, Name, Organization, Phone, Address string
}

// StaffMember is a staff account as the pages name it.
type StaffMember struct {
	ID   string
	Name string
}

// QueuePages is what the queue and referral pages need; cmd fills it.
type QueuePages struct {
	Store *Store
	Pages *templates.Renderer
	// Actor returns the signed-in staff user's id.
	Actor func(echo.Context) string
	// Flash keeps a message for the next page, before a redirect.
	Flash func(echo.Context, string) error
	// Staff lists the staff accounts, to name assignees and authors; nil
	// shows ids.
	Staff func(context.Context) ([]StaffMember, error)
	// Search finds services for new referrals; nil hides the search box.
	Search ServiceSearch
}

// Consent words read to the person (or shown to them), stored with their
// answer: one text per language.
const (
	ConsentWordsEN = "Can Second Chance text you in a few days to ask how it went? Texts are free; reply STOP at any time to end them."
	ConsentWordsES = "¿Podemos enviarle un mensaje de texto en unos días para saber cómo le fue? Los mensajes son gratis; responda STOP en cualquier momento para dejar de recibirlos."
)

// queuePerPage is how many follow-ups one page of the queue shows.
const queuePerPage = 50

// RegisterQueue mounts the queue and referral pages on g, the /staff group
// (behind the auth guard: login and CSRF).
func RegisterQueue(g *echo.Group, p QueuePages) {
	h := &queuePages{QueuePages: p}
	g.GET("/queue", h.queue)
	g.GET("/queue/:id", h.followup)
	g.GET("/referrals/new", h.newForm)
	g.POST("/referrals", h.create)
	g.GET("/referrals/:id", h.referral)
	g.POST("/referrals/:id/outcome", h.outcome)
	g.POST("/referrals/:id/note", h.note)
	g.POST("/referrals/:id/again", h.again)
	g.POST("/followups/:id/claim", h.claim)
	g.POST("/followups/:id/unclaim", h.unclaim)
	g.POST("/followups/:id/reschedule", h.reschedule)
	g.POST("/followups/:id/close", h.close)
}

type queuePages struct {
	QueuePages
	// The partner filter's choices, read at most every partnersTTL: the
	// list comes from every referred service ever, and changes slowly.
	mu         sync.Mutex
	partners   []string
	partnersAt time.Time
}

// partnersTTL is how long the partner choices are kept.
const partnersTTL = 10 * time.Minute

func (p *queuePages) partnerList(ctx context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.partners != nil && time.Since(p.partnersAt) < partnersTTL {
		return p.partners, nil
	}
	ps, err := p.Store.Partners(ctx)
	if err != nil {
		return nil, err
	}
	p.partners, p.partnersAt = append([]string{}, ps...), time.Now()
	return p.partners, nil
}

func (p *queuePages) who(c echo.Context) (string, error) {
	id := p.Actor(c)
	if id == "" {
		return "", apperr.Errorf(apperr.EUNAUTHORIZED, "Please sign in to continue.")
	}
	return id, nil
}

func (p *queuePages) flash(c echo.Context, msg string) error {
	if p.Flash == nil {
		return nil
	}
	return p.Flash(c, msg)
}

func (p *queuePages) zone() *time.Location { return p.Store.zone() }

// staff returns the staff accounts by id.
func (p *queuePages) staff(ctx context.Context) ([]StaffMember, map[string]string, error) {
	names := map[string]string{}
	if p.Staff == nil {
		return nil, names, nil
	}
	ms, err := p.Staff(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range ms {
		names[m.ID] = m.Name
	}
	return ms, names, nil
}

// actorName names who did something, for people.
func actorName(names map[string]string, id string) string {
	switch {
	case id == "":
		return ""
	case names[id] != "":
		return names[id]
	case strings.HasPrefix(id, SystemActorPrefix):
		switch strings.TrimPrefix(id, SystemActorPrefix) {
		case ChannelSMS:
			return "Automatic (texts)"
		case ChannelVoice:
			return "Automatic (hotline)"
		case ChannelWeb:
			return "Automatic (web site)"
		}
		return "Automatic"
	}
	return "Staff #" + id
}

// --- words ---

var kindWords = map[string]string{
	KindCheckin:  "Check-in text",
	KindReminder: "Reminder text",
	KindFinal:    "Final check text",
	KindCall:     "Call (no reply, or no help yet)",
	KindCallback: "Call back (they asked for a call)",
}

var stateWords = map[string]string{
	FollowupPending:   "Waiting",
	FollowupSending:   "Being sent",
	FollowupSent:      "Sent, no reply yet",
	FollowupAnswered:  "Answered",
	FollowupUnsure:    "Unsure if sent",
	FollowupDone:      "Done",
	FollowupCancelled: "Cancelled",
	FollowupFailed:    "Not delivered",
}

var channelWords = map[string]string{
	ChannelVoice: "Hotline call", ChannelSMS: "Text message", ChannelWeb: "Web site", ChannelStaff: "Staff (phone or office)", ChannelWalkIn: "Walk-in",
}

var reasonWords = map[string]string{
	ReasonCouldntReach: "could not reach them",
	ReasonNotEligible:  "not eligible",
	ReasonWaitlist:     "waitlist or no capacity",
	ReasonWrongInfo:    "wrong information in the listing",
	ReasonDidntGo:      "did not go",
	ReasonOther:        "other",
}

var replyWords = map[string]string{
	ReplyGotHelp: "got help", ReplyNoHelpYet: "reached them, no help yet", ReplyCouldntReach: "could not reach them",
	ReplyNotTried: "has not tried", ReplyReached: "reached them", ReplyCall: "asked for a call", ReplyUnclear: "unclear",
}

var languageWords = map[string]string{LanguageEN: "English", LanguageES: "Spanish"}

func needLabel(key string) string {
	if c, ok := directory.CategoryByKey(key); ok {
		return c.NameEN
	}
	if key == NeedOther {
		return "Other"
	}
	return key
}

type option struct {
	Value, Label string
}

func needOptions() []option {
	var out []option
	for _, k := range needCategories() {
		out = append(out, option{k, needLabel(k)})
	}
	return out
}

func options(values []string, words map[string]string) []option {
	out := make([]option, len(values))
	for i, v := range values {
		out[i] = option{v, words[v]}
	}
	return out
}

// outcomeWords says an outcome in a line: "reached them; got help: partly
// (waitlist or no capacity); still needs help".
func outcomeWords(o *Outcome) string {
	if o == nil {
		return "nothing recorded yet"
	}
	var parts []string
	if o.Reached != nil {
		if *o.Reached {
			parts = append(parts, "reached the provider")
		} else {
			parts = append(parts, "did not reach the provider")
		}
	}
	if o.GotHelp != "" {
		parts = append(parts, "got help: "+o.GotHelp)
	}
	if o.Reason != "" {
		r := "why: " + reasonWords[o.Reason]
		if o.ReasonNote != "" {
			r += " (" + o.ReasonNote + ")"
		}
		parts = append(parts, r)
	}
	if o.StillNeedsHelp != nil {
		if *o.StillNeedsHelp {
			parts = append(parts, "still needs help")
		} else {
			parts = append(parts, "needs no more help")
		}
	}
	return strings.Join(parts, "; ")
}

// showTime is a time for staff in the zone.
func (p *queuePages) showTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(p.zone()).Format("Mon 2 Jan 2006 3:04 PM")
}

// dueWords says when a follow-up is due relative to today: "overdue 2
// days", "today 3:00 PM", "tomorrow 9:00 AM", "Thu 12 Mar 10:00 AM".
func dueWords(due time.Time, today time.Time, zone *time.Location) (string, bool) {
	d := due.In(zone)
	day := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, zone)
	days := int(today.Sub(day).Round(24*time.Hour) / (24 * time.Hour)) // DST days are 23 or 25 hours
	switch {
	case days == 1:
		return "overdue 1 day", true
	case days > 1:
		return fmt.Sprintf("overdue %d days", days), true
	case days == 0:
		return "today " + d.Format("3:04 PM"), false
	case days == -1:
		return "tomorrow " + d.Format("3:04 PM"), false
	}
	return d.Format("Mon 2 Jan 3:04 PM"), false
}

// telOf returns a number as written in a listing ("(816) 555-0101 ext.
// 12") as a tel: URL's number, or "" when it is not a phone number.
func telOf(phone string) string {
	num, ext, _ := strings.Cut(phone, " ext. ")
	p, err := NormalizePhone(num)
	if err != nil || p == "" {
		return ""
	}
	if ext = strings.TrimSpace(ext); ext != "" && strings.Trim(ext, "0123456789") == "" {
		return p + ";ext=" + ext
	}
	return p
}

// newKey is an idempotency key for a form.
func newKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// formKey reads a form's idempotency key, refusing anything that is not
// one of ours.
func formKey(v string) string {
	if len(v) != 32 || strings.Trim(v, "0123456789abcdef") != "" {
		return ""
	}
	return v
}

// --- the queue ---

// queueParams are the query parameters of the queue.
var queueParams = []string{"state", "need", "partner", "channel", "assignee", "kind", "page"}

// queueData is the queue page.
type queueData struct {
	State, Need, Partner, Channel, Assignee, Kind string
	States, Needs, Channels, Kinds, Assignees     []option
	Partners                                      []string
	Counts                                        QueueCounts
	// Views link each count to its view under the same filters.
	Views   []queueView
	Mine    string // link to my queue
	Rows    []queueRow
	Total   int
	First   int
	Last    int
	Prev    string
	Next    string
	Here    string // this page, for the forms' next
	Refused bool   // the filters were refused: no list
}

type queueView struct {
	Label string
	Count int
	Link  string
	Here  bool
}

// queueRow is one follow-up as the list shows it.
type queueRow struct {
	ID, ReferralID   string
	Due, DueISO      string
	DueWhen          string
	Overdue          bool
	Kind             string
	Task             bool
	Status           string
	Outbox           bool // unsure: staff check the provider's log
	Need             string
	Services         []string
	Language         string
	Phone            string // masked
	Assignee         string
	Mine, Unassigned bool
	Open             bool
	LastReply        string
	LastReplyWhen    string
}

func (d *queueData) link(change map[string]string) string {
	q := url.Values{}
	for k, v := range map[string]string{"state": d.State, "need": d.Need, "partner": d.Partner, "channel": d.Channel,
		"assignee": d.Assignee, "kind": d.Kind} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for k, v := range change {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	if q.Get("state") == QueueDue {
		q.Del("state")
	}
	if len(q) == 0 {
		return "/staff/queue"
	}
	return "/staff/queue?" + q.Encode()
}

func (p *queuePages) queue(c echo.Context) error {
	ctx := c.Request().Context()
	me, err := p.who(c)
	if err != nil {
		return err
	}
	qp := c.QueryParams()
	d := queueData{State: qp.Get("state"), Need: qp.Get("need"), Partner: strings.TrimSpace(qp.Get("partner")),
		Channel: qp.Get("channel"), Assignee: qp.Get("assignee"), Kind: qp.Get("kind")}
	staff, names, err := p.staff(ctx)
	if err != nil {
		return err
	}
	if d.Partners, err = p.partnerList(ctx); err != nil {
		return err
	}
	d.States = options(QueueStates, map[string]string{QueueDue: "Due (today and earlier)", QueueOverdue: "Overdue (before today)",
		QueueUpcoming: "Upcoming calls", QueueDone: "Done"})
	d.Needs, d.Channels, d.Kinds = needOptions(), options(Channels, channelWords), options(Kinds, kindWords)
	d.Assignees = []option{{"me", "Me (my queue)"}, {AssigneeNone, "Nobody (unassigned)"}}
	for _, m := range staff {
		if m.ID != me {
			d.Assignees = append(d.Assignees, option{m.ID, m.Name})
		}
	}

	f := QueueFilter{State: d.State, Need: d.Need, Partner: d.Partner, Channel: d.Channel, Kind: d.Kind, Me: me,
		Assignee: d.Assignee, Now: p.Store.now(), Limit: queuePerPage}
	page := 1
	err = func() error {
		for name := range qp {
			if !slices.Contains(queueParams, name) {
				return invalid(clip(name), "not a filter of the queue; filters are %s", strings.Join(queueParams[:6], ", "))
			}
		}
		if v := qp.Get("page"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100_000 {
				return invalid("page", "must be a whole number from 1, got %q", clip(v))
			}
			page = n
		}
		switch d.Assignee {
		case "me":
			f.Assignee = me
		case "", AssigneeNone:
		default:
			if p.Staff != nil && names[d.Assignee] == "" {
				return invalid("assignee", "must be me, unassigned or a staff member's id, got %q", clip(d.Assignee))
			}
		}
		return f.Validate()
	}()
	if apperr.Code(err) == apperr.EINVALID {
		d.Refused = true
		return p.Pages.Render(c, http.StatusBadRequest, "staff/queue", templates.Page{Title: "Follow-up queue", Error: apperr.Message(err), Data: d})
	} else if err != nil {
		return err
	}
	f.Offset = (page - 1) * queuePerPage
	res, err := p.Store.Queue(ctx, f)
	if err != nil {
		return err
	}
	if d.State == "" {
		d.State = QueueDue
	}
	d.Counts, d.Total = res.Counts, res.Total
	d.Here = d.link(map[string]string{"page": strconv.Itoa(page)})
	d.Mine = d.link(map[string]string{"assignee": "me", "state": QueueDue})
	for _, v := range []struct {
		label, state, assignee string
		n                      int
	}{
		{"due", QueueDue, "", res.Counts.Due}, {"overdue", QueueOverdue, "", res.Counts.Overdue},
		{"mine", QueueDue, "me", res.Counts.Mine}, {"unassigned", QueueDue, AssigneeNone, res.Counts.Unassigned},
		{"upcoming", QueueUpcoming, "", res.Counts.Upcoming}, {"done", QueueDone, "", res.Counts.Done},
	} {
		d.Views = append(d.Views, queueView{Label: v.label, Count: v.n, Link: d.link(map[string]string{"state": v.state, "assignee": v.assignee}),
			Here: d.State == v.state && (v.assignee == d.Assignee || v.assignee == "" && d.Assignee != "me" && d.Assignee != AssigneeNone)})
	}
	for _, it := range res.Items {
		d.Rows = append(d.Rows, p.queueRow(it, me, names, res.Today))
	}
	if len(d.Rows) > 0 {
		d.First, d.Last = f.Offset+1, f.Offset+len(d.Rows)
	}
	if page > 1 {
		d.Prev = d.link(map[string]string{"page": strconv.Itoa(page - 1)})
		if page == 2 {
			d.Prev = d.link(nil)
		}
	}
	if f.Offset+len(res.Items) < res.Total {
		d.Next = d.link(map[string]string{"page": strconv.Itoa(page + 1)})
	}
	return p.Pages.Render(c, http.StatusOK, "staff/queue", templates.Page{Title: "Follow-up queue", Data: d})
}

func (p *queuePages) queueRow(it *QueueItem, me string, names map[string]string, today time.Time) queueRow {
	f, r := it.Followup, it.Referral
	row := queueRow{ID: f.ID, ReferralID: r.ID, Due: p.showTime(f.DueAt), DueISO: f.DueAt.UTC().Format(time.RFC3339),
		Kind: kindWords[f.Kind], Task: f.IsTask(), Need: needLabel(r.NeedCategory), Language: languageWords[r.Client.Language],
		Phone: MaskPhone(r.Client.Phone), Assignee: actorName(names, f.Assignee), Mine: f.Assignee == me,
		Unassigned: f.Assignee == "", Open: f.IsOpen(), LastReply: it.LastReply}
	row.DueWhen, row.Overdue = dueWords(f.DueAt, today, p.zone())
	switch {
	case f.State == FollowupUnsure:
		row.Status, row.Outbox = "Unsure if sent: check the provider's log before texting again.", true
	case f.State == FollowupFailed:
		row.Status = "Not delivered: " + f.Reason
	case f.State == FollowupPending && !f.IsTask():
		row.Status = "Not sent yet: held for over a day (sending window, daily cap or an outage)."
	case f.State == FollowupPending && f.Reason != "":
		row.Status = f.Reason
	case f.State == FollowupDone:
		row.Status = "Done: " + f.Reason
		if f.ClosedBy != "" {
			row.Status += " (" + actorName(names, f.ClosedBy) + ")"
		}
	}
	for _, s := range r.Services {
		name := s.Name
		if s.Organization != "" && s.Organization != s.Name {
			name += " (" + s.Organization + ")"
		}
		row.Services = append(row.Services, name)
	}
	if it.LastReplyAt != nil {
		row.LastReplyWhen = p.showTime(*it.LastReplyAt)
	}
	return row
}

// followup sends a follow-up's address to its referral's page.
func (p *queuePages) followup(c echo.Context) error {
	f, err := p.Store.GetFollowup(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/staff/referrals/"+url.PathEscape(f.ReferralID)+"#f-"+f.ID)
}

// --- one referral ---

// referralData is a referral's page.
type referralData struct {
	ID, Need, ZIP, Channel, Created, CreatedBy, Notes string
	Outcome                                           string
	Closed                                            bool
	Client                                            clientData
	Services                                          []serviceData
	Followups                                         []followupData
	History                                           []historyLine
	Others                                            []otherReferral
	Reasons                                           []option
	// Next prefills the entry form for the next person of a group.
	Next string
	// The forms, refilled with the input of a refused one.
	OForm      outcomeForm
	NoteText   string
	AgainNotes string
	// Refer again.
	Q         string
	Searched  bool
	SearchOn  bool
	Results   []serviceChoice
	Key       string
	SearchErr string
	Today     string
}

// outcomeForm is the outcome form's input.
type outcomeForm struct {
	ServiceID, Reached, GotHelp, Reason, ReasonNote, Still string
	CloseTasks                                             bool
}

type clientData struct {
	Name, Language, Phone, Tel, Masked string
	Consent                            string
	ConsentWords                       string
	ConsentWhen                        string
	OptedOut                           string
	Deleted                            bool
	CanFollowUp                        bool
}

type serviceData struct {
	ID, Name, Organization, Phone, Tel string
	NowPhone, NowTel                   string
	Gone                               bool
	Outcome                            string
}

type followupData struct {
	ID, Kind, State, Due, DueISO, DueWhen string
	Overdue, Open, Pending, Task          bool
	Unsure                                bool
	Reason, Body, Sent                    string
	Reply, ReplyCode, Replied             string
	Assignee                              string
	Mine, Unassigned                      bool
	Closed                                string
	// The reschedule and close forms (refilled after a refusal).
	DueDate, DueTime, RescheduleReason, CloseReason string
}

type historyLine struct {
	When, ISO, Who, What string
}

type otherReferral struct {
	ID, Created, Need, Services, State string
}

func (p *queuePages) referral(c echo.Context) error {
	return p.renderReferral(c, http.StatusOK, c.Param("id"), "", nil, "")
}

// renderReferral shows a referral's page; a refused form comes back with
// its input (form, formFor) and the message.
func (p *queuePages) renderReferral(c echo.Context, status int, id, msg string, form url.Values, formFor string) error {
	ctx := c.Request().Context()
	me, err := p.who(c)
	if err != nil {
		return err
	}
	r, err := p.Store.GetReferral(ctx, id)
	if err != nil {
		return err
	}
	_, names, err := p.staff(ctx)
	if err != nil {
		return err
	}
	fs, err := p.Store.Followups(ctx, r.ID)
	if err != nil {
		return err
	}
	evs, err := p.Store.Events(ctx, r.ID)
	if err != nil {
		return err
	}
	now := p.Store.now()
	_, today := p.Store.queueTimes(now)
	d := referralData{ID: r.ID, Need: needLabel(r.NeedCategory), ZIP: r.ZIP, Channel: channelWords[r.Channel],
		Created: p.showTime(r.CreatedAt), CreatedBy: actorName(names, r.CreatedBy), Notes: r.Notes,
		Outcome: outcomeWords(r.Outcome), Closed: r.State == StateClosed, OForm: outcomeForm{CloseTasks: true},
		Reasons: options(reasonValues, reasonWords), SearchOn: p.Search != nil, Key: newKey(),
		Today: now.In(p.zone()).Format(time.DateOnly), Next: "/staff/referrals/new?from=" + url.QueryEscape(r.ID)}
	switch formFor {
	case "outcome":
		d.OForm = outcomeForm{ServiceID: form.Get("service_id"), Reached: form.Get("reached"), GotHelp: form.Get("got_help"),
			Reason: form.Get("reason"), ReasonNote: form.Get("reason_note"), Still: form.Get("still_needs_help"),
			CloseTasks: form.Get("close_tasks") == "yes"}
	case "note":
		d.NoteText = form.Get("note")
	case "again":
		d.AgainNotes = form.Get("notes")
		if k := formKey(form.Get("key")); k != "" {
			d.Key = k
		}
	}
	cl := r.Client
	d.Client = clientData{Name: cl.Name, Language: languageWords[cl.Language], Phone: cl.Phone, Tel: cl.Phone,
		Masked: MaskPhone(cl.Phone), Deleted: cl.DeletedAt != nil, CanFollowUp: cl.CanFollowUp()}
	switch {
	case cl.Consent == nil:
		d.Client.Consent = "Not asked"
	case cl.Consent.Given:
		d.Client.Consent = "Agreed to follow-up texts"
	default:
		d.Client.Consent = "Declined follow-up texts"
	}
	if cl.Consent != nil {
		d.Client.ConsentWords = cl.Consent.Words
		d.Client.ConsentWhen = p.showTime(cl.Consent.At) + ", " + strings.ToLower(channelWords[cl.Consent.Channel])
	}
	if cl.OptedOutAt != nil {
		d.Client.OptedOut = p.showTime(*cl.OptedOutAt)
	}
	for _, s := range r.Services {
		sd := serviceData{ID: s.ServiceID, Name: s.Name, Organization: s.Organization, Phone: s.Phone, Tel: telOf(s.Phone),
			Outcome: outcomeWords(s.Outcome)}
		if s.Outcome == nil {
			sd.Outcome = ""
		}
		if p.Store.Lookup != nil {
			_, _, cur, err := p.Store.Lookup.Snapshot(ctx, s.ServiceID)
			switch {
			case apperr.Code(err) == apperr.ENOTFOUND:
				sd.Gone = true
			case err != nil:
				return err
			case cur != s.Phone:
				sd.NowPhone, sd.NowTel = cur, telOf(cur)
			}
		}
		d.Services = append(d.Services, sd)
	}
	for _, f := range fs {
		fd := followupData{ID: f.ID, Kind: kindWords[f.Kind], State: stateWords[f.State], Due: p.showTime(f.DueAt),
			DueISO: f.DueAt.UTC().Format(time.RFC3339), Open: f.IsOpen(), Pending: f.State == FollowupPending, Task: f.IsTask(),
			Unsure: f.State == FollowupUnsure, Reason: f.Reason, Body: f.Body, Reply: f.Reply, ReplyCode: replyWords[f.ReplyCode],
			Assignee: actorName(names, f.Assignee), Mine: f.Assignee == me, Unassigned: f.Assignee == "",
			DueDate: f.DueAt.In(p.zone()).Format(time.DateOnly), DueTime: f.DueAt.In(p.zone()).Format("15:04")}
		if fd.Open {
			fd.DueWhen, fd.Overdue = dueWords(f.DueAt, today, p.zone())
		}
		switch formFor {
		case "reschedule:" + f.ID:
			fd.DueDate, fd.DueTime, fd.RescheduleReason = form.Get("date"), form.Get("time"), form.Get("reason")
		case "close:" + f.ID:
			fd.CloseReason = form.Get("reason")
		}
		if f.SentAt != nil {
			fd.Sent = p.showTime(*f.SentAt)
		}
		if f.RepliedAt != nil {
			fd.Replied = p.showTime(*f.RepliedAt)
		}
		if f.ClosedAt != nil {
			fd.Closed = p.showTime(*f.ClosedAt)
			if f.ClosedBy != "" {
				fd.Closed += " by " + actorName(names, f.ClosedBy)
			}
		}
		d.Followups = append(d.Followups, fd)
	}
	for i := len(evs) - 1; i >= 0; i-- { // newest first
		d.History = append(d.History, p.describe(evs[i], names, r))
	}
	others, _, err := p.Store.ListReferrals(ctx, ReferralFilter{ClientID: cl.ID, Limit: 20})
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID == r.ID {
			continue
		}
		var svcs []string
		for _, s := range o.Services {
			svcs = append(svcs, s.Name)
		}
		d.Others = append(d.Others, otherReferral{ID: o.ID, Created: p.showTime(o.CreatedAt), Need: needLabel(o.NeedCategory),
			Services: strings.Join(svcs, ", "), State: o.State})
	}
	if q := strings.TrimSpace(c.QueryParam("q")); q != "" && p.Search != nil && formFor == "" {
		d.Q, d.Searched = q, true
		hits, err := p.Search.SearchServices(ctx, ServiceQuery{Text: q, ZIP: r.ZIP, Limit: 10})
		if apperr.Code(err) == apperr.EINVALID {
			d.SearchErr = apperr.Message(err)
		} else if err != nil {
			return err
		} else {
			for _, h := range hits {
				d.Results = append(d.Results, serviceChoice{h, false})
			}
		}
	}
	if formFor == "again" {
		d.Q = form.Get("q")
		for _, id := range form["service_id"] {
			if hit, ok := p.snapshotHit(ctx, id); ok {
				d.Results = append(d.Results, serviceChoice{hit, true})
			}
		}
	}
	title := "Referral: " + d.Need
	if cl.Name != "" {
		title += " for " + cl.Name
	}
	return p.Pages.Render(c, status, "staff/queue_referral", templates.Page{Title: title, Error: msg, Data: d})
}

// snapshotHit describes a chosen service from the directory as it is now.
func (p *queuePages) snapshotHit(ctx context.Context, id string) (ServiceHit, bool) {
	if p.Store.Lookup == nil {
		return ServiceHit{ID: id, Name: id}, true
	}
	name, org, phone, err := p.Store.Lookup.Snapshot(ctx, id)
	if err != nil {
		return ServiceHit{}, false
	}
	return ServiceHit{ID: id, Name: name, Organization: org, Phone: phone}, true
}

// describe says an audit event in plain words.
func (p *queuePages) describe(e Event, names map[string]string, r *Referral) historyLine {
	h := historyLine{When: p.showTime(e.At), ISO: e.At.UTC().Format(time.RFC3339), Who: actorName(names, e.Actor)}
	var before, after map[string]any
	json.Unmarshal(e.Before, &before)
	json.Unmarshal(e.After, &after)
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	when := func(m map[string]any, k string) string {
		t, err := time.Parse(time.RFC3339Nano, str(m, k))
		if err != nil {
			return ""
		}
		return p.showTime(t)
	}
	service := func(id string) string {
		for _, s := range r.Services {
			if s.ServiceID == id {
				return s.Name
			}
		}
		return id
	}
	switch e.Action {
	case ActionReferralCreated:
		h.What = fmt.Sprintf("Referral made (%s, %s).", strings.ToLower(channelWords[str(after, "channel")]), needLabel(str(after, "need_category")))
	case ActionClientCreated:
		h.What = "Client record created."
	case ActionClientUpdated:
		h.What = fmt.Sprintf("Client's %s changed.", e.Field)
	case ActionConsentSet:
		if after != nil && after["given"] == true {
			h.What = "Consent to follow-up texts recorded: agreed."
		} else {
			h.What = "Consent to follow-up texts recorded: declined."
		}
	case ActionOptedOut:
		h.What = "Opted out of texts."
	case ActionOptedIn:
		h.What = "Opted back in to texts."
	case ActionClientDeleted:
		h.What = "The person's details were deleted at their request."
	case ActionOutcomeRecorded:
		var o Outcome
		json.Unmarshal(e.After, &o)
		what := "Outcome"
		if id, ok := strings.CutPrefix(e.Field, "outcome["); ok {
			what += " for " + service(strings.TrimSuffix(id, "]"))
		}
		via := ""
		if o.Source != "" && o.Source != SourceStaff {
			via = " (from a " + map[string]string{SourceSMS: "text reply", SourceVoice: "hotline call"}[o.Source] + ")"
		}
		h.What = fmt.Sprintf("%s recorded%s: %s.", what, via, outcomeWords(&o))
	case ActionFollowupScheduled:
		h.What = fmt.Sprintf("%s scheduled for %s.", kindWords[str(after, "kind")], when(after, "due_at"))
		if rs := str(after, "reason"); rs != "" && str(after, "kind") == KindCallback {
			h.What += " " + rs + "."
		}
	case ActionFollowupSent:
		h.What = kindWords[str(after, "kind")] + " sent."
	case ActionFollowupReply:
		h.What = fmt.Sprintf("Reply to the %s, read as: %s.", strings.ToLower(kindWords[e.Field]), replyWords[str(after, "reply_code")])
	case ActionFollowupChanged:
		kind := kindWords[str(after, "kind")]
		switch e.Field {
		case "assignee":
			if a := str(after, "assignee"); a != "" {
				h.What = fmt.Sprintf("%s claimed by %s.", kind, actorName(names, a))
			} else {
				h.What = fmt.Sprintf("%s unclaimed (was %s).", kind, actorName(names, str(before, "assignee")))
			}
		case "due_at":
			h.What = fmt.Sprintf("%s moved to %s.", kind, when(after, "due_at"))
			if rs := str(after, "reason"); rs != "" {
				h.What += " Why: " + rs
			}
		default:
			h.What = fmt.Sprintf("%s: %s → %s.", kind, strings.ToLower(stateWords[str(before, "state")]), strings.ToLower(stateWords[str(after, "state")]))
			if rs := str(after, "reason"); rs != "" {
				h.What += " " + rs
			}
		}
	case ActionNote:
		var note string
		json.Unmarshal(e.After, &note)
		h.What = "Note: " + note
	case ActionReferredAgain:
		h.What = "Referred again to more services: referral " + str(after, "referral_id") + "."
	default:
		h.What = strings.ReplaceAll(e.Action, "_", " ")
		if e.Field != "" {
			h.What += " (" + e.Field + ")"
		}
		h.What += "."
	}
	return h
}

// --- actions on a referral ---

// refuse re-renders a page after a refused form: EINVALID is 400 and
// ECONFLICT 409 with the message and the input kept; anything else goes to
// the error handler.
func (p *queuePages) refuse(c echo.Context, err error, refID string, form url.Values, formFor string) error {
	switch apperr.Code(err) {
	case apperr.EINVALID:
		return p.renderReferral(c, http.StatusBadRequest, refID, fieldMessage(apperr.Message(err)), form, formFor)
	case apperr.ECONFLICT:
		return p.renderReferral(c, http.StatusConflict, refID, apperr.Message(err), form, formFor)
	}
	return err
}

// fieldLabels name the store's fields as the forms do.
var fieldLabels = map[string]string{
	"client.phone": "Phone", "client.name": "Name", "client.language": "Language", "client.consent.words": "Consent words",
	"need_category": "Need", "zip": "ZIP code", "service_ids": "Services", "notes": "Notes", "channel": "Channel",
	"got_help": "Got help", "reason": "Reason", "reason_note": "More about the reason", "still_needs_help": "Still needs help",
	"reached": "Reached", "due_at": "New date", "note": "Note", "service_id": "Service",
}

// fieldMessage puts the form's label on a store message "field: ...".
func fieldMessage(msg string) string {
	field, rest, ok := strings.Cut(msg, ": ")
	if !ok {
		return msg
	}
	base := field
	if i := strings.IndexByte(base, '['); i > 0 {
		base = base[:i]
	}
	if l, ok := fieldLabels[base]; ok {
		return l + ": " + rest
	}
	return msg
}

func yesNo(field, v string) (*bool, error) {
	switch v {
	case "":
		return nil, nil
	case "yes":
		return ptr(true), nil
	case "no":
		return ptr(false), nil
	}
	return nil, invalid(field, "must be yes or no")
}

func (p *queuePages) outcome(c echo.Context) error {
	ctx := c.Request().Context()
	me, err := p.who(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	id := c.Param("id")
	before, err := p.Store.GetReferral(ctx, id)
	if err != nil {
		return err
	}
	var prev *Outcome
	serviceID := strings.TrimSpace(form.Get("service_id"))
	if serviceID == "" {
		prev = before.Outcome
	}
	for _, s := range before.Services {
		if s.ServiceID == serviceID {
			prev = s.Outcome
		}
	}
	o := Outcome{GotHelp: form.Get("got_help"), Reason: form.Get("reason"), ReasonNote: form.Get("reason_note"), Source: SourceStaff}
	if o.Reached, err = yesNo("reached", form.Get("reached")); err != nil {
		return p.refuse(c, err, id, form, "outcome")
	}
	if o.StillNeedsHelp, err = yesNo("still_needs_help", form.Get("still_needs_help")); err != nil {
		return p.refuse(c, err, id, form, "outcome")
	}
	out, err := p.Store.RecordOutcome(ctx, id, serviceID, o, me)
	if err != nil {
		return p.refuse(c, err, id, form, "outcome")
	}
	msg := "Outcome saved."
	if prev != nil && prev.sameAnswers(out) {
		msg = "The outcome was already recorded with these answers; nothing changed."
	}
	if form.Get("close_tasks") == "yes" {
		n, err := p.Store.CloseTasks(ctx, id, "outcome recorded: "+outcomeWords(out), me)
		if err != nil {
			return p.refuse(c, err, id, form, "outcome")
		}
		if n == 1 {
			msg += " The call task is closed."
		} else if n > 1 {
			msg += fmt.Sprintf(" %d call tasks are closed.", n)
		}
	}
	if err := p.flash(c, msg); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/staff/referrals/"+url.PathEscape(id))
}

func (p *queuePages) note(c echo.Context) error {
	me, err := p.who(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	id := c.Param("id")
	added, err := p.Store.AddNote(c.Request().Context(), id, form.Get("note"), me)
	if err != nil {
		return p.refuse(c, err, id, form, "note")
	}
	msg := "Note added."
	if !added {
		msg = "That note was already added."
	}
	if err := p.flash(c, msg); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/staff/referrals/"+url.PathEscape(id)+"#history")
}

func (p *queuePages) again(c echo.Context) error {
	me, err := p.who(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	id := c.Param("id")
	key := formKey(form.Get("key"))
	if key != "" {
		key = "staff-again:" + key
	}
	r, created, err := p.Store.ReferAgain(c.Request().Context(), id, form["service_id"], form.Get("notes"), key, me)
	if err != nil {
		return p.refuse(c, err, id, form, "again")
	}
	msg := "New referral made for the same person."
	if !created {
		msg = "This referral was already made (the form was sent twice)."
	}
	if err := p.flash(c, msg); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/staff/referrals/"+url.PathEscape(r.ID))
}

// --- actions on a follow-up ---

// back is where a follow-up action returns: the page the form was on (the
// queue or the referral), else the referral.
func back(form url.Values, f *Followup) string {
	next := form.Get("next")
	if strings.HasPrefix(next, "/staff/queue") && !strings.ContainsAny(next, "\\\r\n") && !strings.HasPrefix(next, "//") {
		return next
	}
	return "/staff/referrals/" + url.PathEscape(f.ReferralID) + "#f-" + f.ID
}

// followupAction runs an action on the follow-up :id and redirects back
// with done or same (nothing changed) as the flash.
func (p *queuePages) followupAction(c echo.Context, formFor string, act func(ctx context.Context, id, me string, form url.Values) (*Followup, bool, error), done, same string) error {
	ctx := c.Request().Context()
	me, err := p.who(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	id := c.Param("id")
	f, changed, err := act(ctx, id, me, form)
	if err != nil {
		if f == nil {
			if f, err2 := p.Store.GetFollowup(ctx, id); err2 == nil {
				return p.refuse(c, err, f.ReferralID, form, formFor+":"+id)
			}
			return err
		}
		return p.refuse(c, err, f.ReferralID, form, formFor+":"+id)
	}
	msg := done
	if !changed {
		msg = same
	}
	if err := p.flash(c, msg); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, back(form, f))
}

func (p *queuePages) claim(c echo.Context) error {
	return p.followupAction(c, "claim", func(ctx context.Context, id, me string, _ url.Values) (*Followup, bool, error) {
		return p.Store.ClaimFollowup(ctx, id, me)
	}, "Claimed: it is in your queue.", "You had already claimed it.")
}

func (p *queuePages) unclaim(c echo.Context) error {
	return p.followupAction(c, "unclaim", func(ctx context.Context, id, me string, _ url.Values) (*Followup, bool, error) {
		return p.Store.UnclaimFollowup(ctx, id, me)
	}, "Unclaimed: anyone can take it now.", "Nobody had claimed it.")
}

func (p *queuePages) reschedule(c echo.Context) error {
	return p.followupAction(c, "reschedule", func(ctx context.Context, id, me string, form url.Values) (*Followup, bool, error) {
		date, clock := strings.TrimSpace(form.Get("date")), strings.TrimSpace(form.Get("time"))
		if clock == "" {
			clock = "10:00"
		}
		due, err := time.ParseInLocation("2006-01-02 15:04", date+" "+clock, p.zone())
		if err != nil {
			return nil, false, invalid("due_at", "give a date (2026-03-09) and a time (14:30)")
		}
		return p.Store.RescheduleFollowup(ctx, id, Reschedule{DueAt: due, Reason: form.Get("reason")}, me)
	}, "Rescheduled.", "It was already due then; nothing changed.")
}

func (p *queuePages) close(c echo.Context) error {
	return p.followupAction(c, "close", func(ctx context.Context, id, me string, form url.Values) (*Followup, bool, error) {
		return p.Store.CloseFollowup(ctx, id, form.Get("reason"), me)
	}, "Closed.", "It was already closed; nothing changed.")
}

// --- new referral (walk-ins) ---

// newData is the entry form.
type newData struct {
	Phone, Name, Language, Channel, Need, ZIP, Notes, Q, Key string
	Consent                                                  bool
	ConsentEN, ConsentES                                     string
	Needs, Channels                                          []option
	// Services are the chosen services (checked) and the search results
	// (unchecked unless chosen), in that order, once each.
	Services []serviceChoice
	Searched bool
	SearchOn bool
}

type serviceChoice struct {
	ServiceHit
	Checked bool
}

func (p *queuePages) newForm(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := p.who(c); err != nil {
		return err
	}
	d := p.newData()
	if from := c.QueryParam("from"); from != "" {
		// The next person of a group: the same need, place and services;
		// never the same phone, name or consent.
		r, err := p.Store.GetReferral(ctx, from)
		if err != nil {
			return err
		}
		d.Language, d.Channel, d.Need, d.ZIP = r.Client.Language, r.Channel, r.NeedCategory, r.ZIP
		for _, s := range r.Services {
			if hit, ok := p.snapshotHit(ctx, s.ServiceID); ok {
				d.Services = append(d.Services, serviceChoice{hit, true})
			}
		}
	}
	return p.Pages.Render(c, http.StatusOK, "staff/queue_new", templates.Page{Title: "New referral", Data: d})
}

func (p *queuePages) newData() newData {
	return newData{Language: LanguageEN, Channel: ChannelWalkIn, ConsentEN: ConsentWordsEN, ConsentES: ConsentWordsES,
		Needs: needOptions(), Channels: options([]string{ChannelWalkIn, ChannelStaff}, channelWords), Key: newKey(), SearchOn: p.Search != nil}
}

func (p *queuePages) create(c echo.Context) error {
	ctx := c.Request().Context()
	me, err := p.who(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	d := p.newData()
	d.Phone, d.Name, d.Language, d.Channel = strings.TrimSpace(form.Get("phone")), strings.TrimSpace(form.Get("name")), form.Get("language"), form.Get("channel")
	d.Need, d.ZIP, d.Notes, d.Q = form.Get("need"), strings.TrimSpace(form.Get("zip")), form.Get("notes"), strings.TrimSpace(form.Get("q"))
	d.Consent = form.Get("consent") == "yes"
	if k := formKey(form.Get("key")); k != "" {
		d.Key = k
	}
	chosen := form["service_id"]
	seen := map[string]bool{}
	for _, id := range chosen {
		if seen[id] {
			continue
		}
		seen[id] = true
		if hit, ok := p.snapshotHit(ctx, id); ok {
			d.Services = append(d.Services, serviceChoice{hit, true})
		}
	}
	render := func(status int, msg string) error {
		return p.Pages.Render(c, status, "staff/queue_new", templates.Page{Title: "New referral", Error: msg, Data: d})
	}
	if form.Get("action") == "search" {
		if p.Search == nil {
			return render(http.StatusBadRequest, "Search is not available here.")
		}
		d.Searched = true
		hits, err := p.Search.SearchServices(ctx, ServiceQuery{Text: d.Q, ZIP: d.ZIP, Need: d.Need, Limit: 10})
		if apperr.Code(err) == apperr.EINVALID {
			return render(http.StatusBadRequest, apperr.Message(err))
		} else if err != nil {
			return err
		}
		for _, h := range hits {
			if !seen[h.ID] {
				d.Services = append(d.Services, serviceChoice{h, false})
			}
		}
		return render(http.StatusOK, "")
	}
	if !slices.Contains([]string{ChannelWalkIn, ChannelStaff}, d.Channel) {
		return render(http.StatusBadRequest, "Channel: must be walk-in or staff.")
	}
	n := NewReferral{
		Client:       Client{Phone: d.Phone, Name: d.Name, Language: d.Language},
		Channel:      d.Channel,
		NeedCategory: d.Need,
		ZIP:          d.ZIP,
		ServiceIDs:   chosen,
		CreatedBy:    me,
		Notes:        strings.TrimSpace(d.Notes),
	}
	if len(chosen) == 0 {
		n.ServiceIDs = nil
	}
	if d.Key != "" {
		n.IdempotencyKey = "staff-form:" + d.Key
	}
	// The form shows the words to read: with a phone, the box records the
	// answer either way (unticked: they said no, and are never texted).
	words := ConsentWordsEN
	if d.Language == LanguageES {
		words = ConsentWordsES
	}
	switch {
	case d.Consent && d.Phone == "":
		return render(http.StatusBadRequest, "Phone: give the number to text, or leave consent unticked.")
	case d.Phone != "":
		n.Client.Consent = &Consent{Given: d.Consent, Channel: d.Channel, Words: words}
	}
	r, created, err := p.Store.CreateReferral(ctx, n)
	if apperr.Code(err) == apperr.EINVALID {
		return render(http.StatusBadRequest, fieldMessage(apperr.Message(err)))
	} else if err != nil {
		return err
	}
	msg := "Referral saved."
	if !created {
		msg = "This referral was already saved (the form was sent twice)."
	} else if r.Client.CanFollowUp() {
		msg += " A check-in text is scheduled."
	}
	if err := p.flash(c, msg); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/staff/referrals/"+url.PathEscape(r.ID))
}
