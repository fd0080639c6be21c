package hotline

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"
	"github.com/twilio/twilio-go/twiml"

	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/db"
)

// Voice is the hotline's phone menu. Twilio calls POST /hotline/voice for
// each incoming call; every later request comes from the action URLs in our
// TwiML, under /hotline/voice/. The call's state is in SQLite by CallSid
// and each answer is recorded by its URL (which carries a sequence
// number), so a webhook Twilio repeats gets the same answer and acts once,
// and a restart mid-call carries on.
type Voice struct {
	DB        *db.DB
	Finder    Finder
	Referrals Referrals
	// Crisis, if set, says whether what a caller said tells that someone
	// may be in danger (search.Engine.Crisis): the crisis line is said
	// first.
	Crisis func(text string) bool
	// Sender texts results to callers.
	Sender *Logged
	// Conversations, when set, remembers the texted results so that a reply
	// "1" gets the first one's details.
	Conversations *Conversations
	// Hours are when StaffNumbers are dialled; outside them callers may
	// leave a voicemail.
	Hours        Hours
	StaffNumbers []string
	// DialTimeout is how long staff phones ring (seconds; 0 is 20).
	DialTimeout int
	// VoiceEN and VoiceES are Twilio <Say> voices, e.g. Polly.Joanna and
	// Polly.Lupe; empty uses Twilio's default.
	VoiceEN, VoiceES string
	Log              *slog.Logger
	Now              func() time.Time

	// answering holds the steps being answered (see answer).
	answering sync.Map
}

// Register adds the voice webhooks behind the signature check.
func (v *Voice) Register(e *echo.Echo, sig echo.MiddlewareFunc) {
	e.POST("/hotline/voice", v.step(v.start), sig)
	g := e.Group("/hotline/voice", sig)
	for name, fn := range map[string]stepFunc{
		"language": v.language, "need": v.need, "said": v.said, "zip": v.zip, "chose": v.chose,
		"consent": v.consent, "end": v.end, "stuck": v.stuck, "closed": v.closed, "dialed": v.dialed, "recorded": v.recorded,
	} {
		g.POST("/"+name, v.step(fn))
	}
	g.POST("/status", v.status)
}

func (v *Voice) now() time.Time {
	if v.Now == nil {
		return time.Now().UTC()
	}
	return v.Now().UTC()
}

func (v *Voice) log() *slog.Logger {
	if v.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return v.Log
}

// input is what Twilio posted with a step.
type input struct {
	Digits string
	Speech string
	// None is true when the prompt's no-input redirect brought us here.
	None bool
	form func(string) string
}

// reply collects the verbs of one TwiML answer.
type reply struct {
	v     *Voice
	c     *call
	verbs []twiml.Element
	// also are writes committed with the step's record, in its
	// transaction (they must touch only tx; see db.Batcher.Do).
	also []func(context.Context, *sql.Tx) error
	// text, when set, is a text the step sends after its record commits
	// (sendText).
	text *stepText
}

type stepFunc func(ctx context.Context, c *call, in input, a *reply) error

// say adds a <Say> in the call's language.
func (a *reply) say(text string) { a.verbs = append(a.verbs, a.sayEl(a.c.Lang, text)) }

func (a *reply) sayEl(lang, text string) *twiml.VoiceSay {
	s := &twiml.VoiceSay{Message: text, Language: "en-US", Voice: a.v.VoiceEN}
	if lang == "es" {
		s.Language, s.Voice = "es-US", a.v.VoiceES
	}
	return s
}

func (a *reply) p(key string) string { return prompt(a.c.Lang, key) }

// gather adds a keypad prompt that posts to step, and the redirect taken
// when nothing is pressed: every prompt has a way on.
func (a *reply) gather(step string, g *twiml.VoiceGather, inner ...twiml.Element) {
	g.Action = a.c.url(step)
	g.Method = "POST"
	if g.Timeout == "" {
		g.Timeout = "6"
	}
	g.InnerElements = inner
	a.verbs = append(a.verbs, g, &twiml.VoiceRedirect{Url: a.c.noInput(step), Method: "POST"})
	a.c.Step = step
}

func (a *reply) hangup() {
	a.say(a.p("goodbye"))
	a.verbs = append(a.verbs, &twiml.VoiceHangup{})
	a.c.Step = "ended"
}

// step wraps a step of the menu: it answers a repeated request from the
// record, loads the call, runs fn and saves the call with the answer.
func (v *Voice) step(fn stepFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		ctx := ec.Request().Context()
		sid := strings.TrimSpace(ec.FormValue("CallSid"))
		if sid == "" || len(sid) > 64 || strings.IndexFunc(sid, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) >= 0 {
			return apperr.Errorf(apperr.EINVALID, "CallSid: required (Twilio sends it with every call webhook).")
		}
		key := ec.Request().URL.RequestURI()
		done, err := v.answer(ctx, sid+" "+key)
		if err != nil {
			return err
		}
		defer done()
		if x, ok, err := storedStep(ctx, v.DB.ReadStmts, sid, key); err != nil {
			return err
		} else if ok {
			v.log().InfoContext(ctx, "voice webhook repeated; answered as before", "call_sid", sid, "step", ec.Request().URL.Path)
			return voiceXML(ec, x)
		}
		c, err := loadCall(ctx, v.DB.ReadStmts, sid)
		if err != nil {
			return err
		}
		if c == nil {
			// A call we have not seen (the first request, or state lost):
			// start it here.
			c = &call{SID: sid, From: ec.FormValue("From"), To: ec.FormValue("To"), Status: "in-progress", StartedAt: v.now()}
		}
		c.Seq++
		in := input{Digits: strings.TrimSpace(ec.FormValue("Digits")), Speech: strings.TrimSpace(ec.FormValue("SpeechResult")),
			None: ec.QueryParam("none") != "", form: ec.FormValue}
		a := &reply{v: v, c: c}
		sorry := func(err error) error {
			// Say sorry and offer a person rather than let Twilio hang up
			// on an error; the step is not recorded, so a retry acts again
			// (what it does is keyed and happens once).
			v.log().ErrorContext(ctx, "voice step failed", "call_sid", sid, "step", ec.Request().URL.Path, "err", err)
			a = &reply{v: v, c: c}
			a.say(a.p("error"))
			v.stuckPrompt(a)
			x, xerr := twiml.Voice(a.verbs)
			if xerr != nil {
				return xerr
			}
			return voiceXML(ec, x)
		}
		if err := fn(ctx, c, in, a); err != nil {
			return sorry(err)
		}
		x, err := twiml.Voice(a.verbs)
		if err != nil {
			return err
		}
		if a.text != nil {
			if x, err = v.sendText(ctx, c, key, x, a); err != nil {
				return sorry(err)
			}
			return voiceXML(ec, x)
		}
		if x, _, err = saveStep(context.WithoutCancel(ctx), v.DB, c, key, x, v.now(), a.also...); err != nil {
			return err
		}
		return voiceXML(ec, x)
	}
}

// answer waits while another request answers the step id (a CallSid and
// URL) in this process, then marks it as answered by this one until done
// is called. Twilio's repeat of a step delivered meanwhile so gets the
// step's final answer: "text me these" records its answer before the text
// goes and replaces it if the text does not (sendText).
func (v *Voice) answer(ctx context.Context, id string) (done func(), err error) {
	mine := make(chan struct{})
	for {
		other, busy := v.answering.LoadOrStore(id, mine)
		if !busy {
			return func() { v.answering.Delete(id); close(mine) }, nil
		}
		select {
		case <-other.(chan struct{}):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func voiceXML(c echo.Context, x string) error {
	return c.Blob(http.StatusOK, "text/xml; charset=utf-8", []byte(x))
}

// start greets a new call and asks for the language.
func (v *Voice) start(_ context.Context, c *call, _ input, a *reply) error {
	v.greeting(a)
	return nil
}

func (v *Voice) greeting(a *reply) {
	a.gather("language", &twiml.VoiceGather{NumDigits: "1"}, a.sayEl("en", greetingEN), a.sayEl("es", greetingES))
}

// language reads 1 or 2; after two silences it goes on in English.
func (v *Voice) language(_ context.Context, c *call, in input, a *reply) error {
	switch {
	case in.Digits == "1":
		c.Lang = "en"
	case in.Digits == "2":
		c.Lang = "es"
	case c.Tries < 2:
		c.Tries++
		v.greeting(a)
		return nil
	default:
		c.Lang = "en"
	}
	c.Tries = 0
	a.say(a.p("privacy"))
	v.menu(a)
	return nil
}

// menu asks for the need, by keypad or speech.
func (v *Voice) menu(a *reply) {
	lang := "en-US"
	hints := "jobs, work, housing, a place to stay, classes, counseling, mentor, food, clothes, ID, birth certificate, a person"
	if a.c.Lang == "es" {
		lang = "es-US"
		hints = "trabajo, empleo, vivienda, casa, clases, consejería, mentor, comida, ropa, identificación, documentos, una persona"
	}
	a.gather("need", &twiml.VoiceGather{Input: "dtmf speech", NumDigits: "1", SpeechTimeout: "auto", Language: lang, Hints: hints},
		a.sayEl(a.c.Lang, a.p("menu")))
}

// retry says sorry and asks again; the third failure offers a person or
// voicemail instead.
func (v *Voice) retry(a *reply, again func(*reply)) {
	a.c.Tries++
	if a.c.Tries >= 3 {
		a.c.Tries = 0
		v.stuckPrompt(a)
		return
	}
	a.say(a.p("sorry"))
	again(a)
}

func (v *Voice) need(ctx context.Context, c *call, in input, a *reply) error {
	switch {
	case in.Digits == "0":
		c.Tries = 0
		return v.person(a)
	case in.Digits == "*":
		v.menu(a)
	case needKeys[in.Digits] != "":
		c.Tries = 0
		c.Need, c.Query = needKeys[in.Digits], ""
		v.zipPrompt(a)
	case in.Digits == "7":
		c.Tries = 0
		v.sayPrompt(a)
	case in.Digits == "" && in.Speech != "":
		c.Tries = 0
		c.Need, c.Query = NeedFromText(in.Speech), in.Speech
		if c.Need == "person" {
			c.Need, c.Query = "", ""
			return v.person(a)
		}
		v.crisisFirst(c, a)
		v.zipPrompt(a)
	default:
		v.retry(a, v.menu)
	}
	return nil
}

func (v *Voice) sayPrompt(a *reply) {
	lang := "en-US"
	if a.c.Lang == "es" {
		lang = "es-US"
	}
	a.gather("said", &twiml.VoiceGather{Input: "speech", SpeechTimeout: "auto", Language: lang}, a.sayEl(a.c.Lang, a.p("say")))
}

func (v *Voice) said(_ context.Context, c *call, in input, a *reply) error {
	if in.Speech == "" {
		v.retry(a, v.sayPrompt)
		return nil
	}
	c.Tries = 0
	c.Need, c.Query = NeedFromText(in.Speech), in.Speech
	if c.Need == "person" {
		c.Need, c.Query = "", ""
		return v.person(a)
	}
	v.crisisFirst(c, a)
	v.zipPrompt(a)
	return nil
}

// crisisFirst gives the crisis line before anything else when what the
// caller said tells that someone may be in danger (Voice.Crisis).
func (v *Voice) crisisFirst(c *call, a *reply) {
	if v.Crisis != nil && v.Crisis(c.Query) {
		a.say(a.p("crisis"))
	}
}

func (v *Voice) zipPrompt(a *reply) {
	a.gather("zip", &twiml.VoiceGather{FinishOnKey: "#", Timeout: "8"}, a.sayEl(a.c.Lang, a.p("zip")))
}

// zip reads five digits, or # alone to skip; a wrong entry is asked again
// twice, then the search goes on without it.
func (v *Voice) zip(ctx context.Context, c *call, in input, a *reply) error {
	switch {
	case !in.None && in.Digits == "":
		c.ZIP = ""
	case len(in.Digits) == 5 && strings.Trim(in.Digits, "0123456789") == "":
		c.ZIP = in.Digits
	default:
		if c.Tries >= 2 {
			c.ZIP = ""
			a.say(a.p("zipSkip"))
			break
		}
		c.Tries++
		a.say(a.p("sorry"))
		v.zipPrompt(a)
		return nil
	}
	places, err := v.find(ctx, c)
	if apperr.Code(err) == apperr.EINVALID && c.ZIP != "" {
		// A ZIP code the directory does not know: ask again, or go on
		// without it.
		c.ZIP = ""
		if c.Tries < 2 {
			c.Tries++
			a.say(a.p("zipBad"))
			v.zipPrompt(a)
			return nil
		}
		a.say(a.p("zipSkip"))
		places, err = v.find(ctx, c)
	}
	if err != nil {
		return err
	}
	c.Tries = 0
	if len(places) == 0 {
		a.say(a.p("none"))
		c.Need, c.Query = "", ""
		v.menu(a)
		return nil
	}
	c.Results, c.Page = places, 0
	a.say(a.p("found"))
	v.readResults(a)
	return nil
}

func (v *Voice) find(ctx context.Context, c *call) ([]Place, error) {
	return v.Finder.Find(ctx, FindQuery{Text: c.Query, Need: c.Need, ZIP: c.ZIP, Language: c.Lang, Channel: "voice", Limit: 9})
}

// readResults reads the current three places and what the caller can do.
func (v *Voice) readResults(a *reply) {
	c := a.c
	var inner []twiml.Element
	end := min(c.Page+3, len(c.Results))
	for i := c.Page; i < end; i++ {
		p := c.Results[i]
		var b strings.Builder
		fmt.Fprintf(&b, a.p("number")+" %s. ", i+1, p.name(c.Lang))
		if s := firstSentence(p.summary(c.Lang)); s != "" {
			b.WriteString(s + " ")
		}
		switch {
		case p.HasMiles && p.Miles < 1.5:
			b.WriteString(a.p("mile") + " ")
		case p.HasMiles:
			b.WriteString(fmt.Sprintf(a.p("miles"), strconv.FormatFloat(p.Miles, 'f', 0, 64)) + " ")
		case p.City != "":
			b.WriteString(fmt.Sprintf(a.p("in"), p.City) + " ")
		}
		if d := SayDigits(p.Phone); d != "" {
			b.WriteString(a.p("phone") + " " + d + ". " + a.p("phone") + " " + d + ".")
		} else {
			b.WriteString(a.p("noPhone"))
		}
		inner = append(inner, a.sayEl(c.Lang, b.String()), &twiml.VoicePause{Length: "1"})
	}
	inner = append(inner, a.sayEl(c.Lang, a.p("after")))
	a.gather("chose", &twiml.VoiceGather{NumDigits: "1", Timeout: "8"}, inner...)
}

func (v *Voice) chose(ctx context.Context, c *call, in input, a *reply) error {
	switch in.Digits {
	case "1":
		c.Tries = 0
		return v.text(ctx, c, a)
	case "2":
		c.Tries = 0
		if c.Page+3 < len(c.Results) {
			c.Page += 3
		} else {
			a.say(a.p("noMore"))
			c.Page = 0
		}
		v.readResults(a)
	case "3":
		c.Tries = 0
		c.Need, c.Query, c.ZIP, c.Results, c.Page = "", "", "", nil, 0
		v.menu(a)
	case "0":
		c.Tries = 0
		return v.person(a)
	case "*":
		v.readResults(a)
	default:
		v.retry(a, v.readResults)
	}
	return nil
}

// text sends the places being read to the caller, logs the referral and
// asks for consent to follow up. The answer says the text went; step sends
// it after the step's record commits (sendText), and answers
// a.text.unsent instead if it does not go.
func (v *Voice) text(ctx context.Context, c *call, a *reply) error {
	end := min(c.Page+3, len(c.Results))
	places := c.Results[c.Page:end]
	if !IsE164(c.From) {
		a.say(a.p("notTexted"))
		v.endPrompt(a)
		return nil
	}
	need := c.Need
	if need == "" {
		need = "other"
	}
	ids := make([]string, len(places))
	for i, p := range places {
		ids[i] = p.ServiceID
	}
	// The text and the referral are keyed by the call, the page and the
	// text itself: a repeat of this step texts and logs once, and a later
	// search in the same call that texts other places texts them too.
	body := listText(c.Lang, places, c.Page, false)
	sum := sha256.Sum256([]byte(body))
	list := fmt.Sprintf("%d:%x", c.Page, sum[:4])
	write, err := v.Referrals.LogReferral(ctx, NewReferral{Phone: c.From, Language: c.Lang, Channel: "voice", Need: need, ZIP: c.ZIP,
		ServiceIDs: ids, Key: fmt.Sprintf("voice:%s:referral:%s", c.SID, list)})
	if err != nil {
		return err
	}
	// The referral commits with the text's log entry, before the text
	// goes: a caller who hangs up keeps it. It runs before the call's row
	// is saved (see saveStep), which records its id.
	logReferral := func(ctx context.Context, tx *sql.Tx) (err error) {
		c.ReferralID, err = write(ctx, tx)
		return err
	}
	with := logReferral
	if v.Conversations != nil {
		// Kept with the text's log entry (one commit, not two), but a
		// failure to keep them must not fail the step.
		with = func(ctx context.Context, tx *sql.Tx) error {
			if err := logReferral(ctx, tx); err != nil {
				return err
			}
			save := v.Conversations.remember(c.From, c.Lang, c.Need, c.Query, c.ZIP, c.Results, c.Page, c.ReferralID)
			return bestEffort(ctx, tx, save, func(err error) {
				v.log().WarnContext(ctx, "texted results not kept for replies", "err", err)
			})
		}
	}
	then := v.endPrompt
	if c.Consent == "" {
		then = v.consentPrompt
	}
	unsent := &reply{v: v, c: c, verbs: slices.Clone(a.verbs)}
	unsent.say(a.p("notTexted"))
	then(unsent)
	ref := fmt.Sprintf("voice:%s:text:%s", c.SID, list)
	a.text = &stepText{msg: Message{To: c.From, Body: body, Purpose: "results", Ref: ref, With: with},
		referral: logReferral, unsent: unsent.verbs, textRef: c.TextRef}
	c.TextRef = ref
	a.say(a.p("texted"))
	then(a)
	return nil
}

// stepText is the text a step sends (the results: text), with what the
// step does when it does not go.
type stepText struct {
	// msg's With writes the referral and keeps the conversation for
	// replies: they commit with the step's record and the text's claim.
	msg Message
	// referral is written on its own, with the step's record, when the
	// text is refused before it is claimed.
	referral func(context.Context, *sql.Tx) error
	// unsent is the answer when the text does not go ("we could not text
	// this number"), textRef the call's TextRef to keep then.
	unsent  []twiml.Element
	textRef string
}

// sendText records a step that texts the caller (a.text), then sends the
// text. The step's record, whose answer says the text went, commits with
// the text's claim (Logged), the claim's With and a.also; the text goes
// after that commit, and the answer is given at once, the text recorded
// as sent in the background (sending.later): one commit on the way. A
// process killed before the text goes leaves it "sending", never sent
// twice; a repeat of the step is answered from the record.
//
// A claimed text that does not go (Twilio refuses it, 21610 included, or
// cannot be reached) is recorded with the step's answer replaced by
// t.unsent, in a second commit, and that is the answer. A text refused
// before it is claimed (an opted-out number, a ref in doubt or used for
// another text: the claim's job fails and its With is rolled back) is not
// sent: the step is recorded with t.unsent, the referral written alone.
func (v *Voice) sendText(ctx context.Context, c *call, key, x string, a *reply) (string, error) {
	t := a.text
	unsent, err := twiml.Voice(t.unsent)
	if err != nil {
		return "", err
	}
	wctx := context.WithoutCancel(ctx)
	s, err := v.Sender.start(ctx, t.msg)
	if err == nil {
		var saved bool
		x, saved, err = saveStep(wctx, v.DB, c, key, x, v.now(), append([]func(context.Context, *sql.Tx) error{s.claim}, a.also...)...)
		if err == nil && !saved {
			return x, nil // answered meanwhile, and nothing claimed
		}
		if err == nil {
			s.later = true
			s.unsent = func(ctx context.Context, tx *sql.Tx) error {
				return unsayText(ctx, v.DB, tx, c.SID, key, unsent, t.textRef)
			}
			if _, err := s.send(ctx); err != nil {
				v.log().WarnContext(ctx, "results not texted to caller", "call_sid", c.SID, "err", err)
				return unsent, nil
			}
			return x, nil
		}
		err = s.refused(ctx, err)
	}
	v.log().WarnContext(ctx, "results not texted to caller", "call_sid", c.SID, "err", err)
	c.TextRef = t.textRef
	x, _, err = saveStep(wctx, v.DB, c, key, unsent, v.now(), append([]func(context.Context, *sql.Tx) error{t.referral}, a.also...)...)
	return x, err
}

func (v *Voice) consentPrompt(a *reply) {
	a.gather("consent", &twiml.VoiceGather{NumDigits: "1"}, a.sayEl(a.c.Lang, a.p("consent")))
}

// consent records the answer with the exact words the caller heard.
func (v *Voice) consent(ctx context.Context, c *call, in input, a *reply) error {
	switch in.Digits {
	case "1", "2":
		given := in.Digits == "1"
		write, err := v.Referrals.Consent(ctx, c.ReferralID, given, a.p("consent")+" (pressed "+in.Digits+")", "voice")
		if err != nil {
			return err
		}
		// Recorded with the step: one commit, and a repeated step
		// records nothing twice.
		a.also = append(a.also, write)
		c.Tries = 0
		if given {
			c.Consent = "yes"
			a.say(a.p("consentYes"))
		} else {
			c.Consent = "no"
			a.say(a.p("consentNo"))
		}
		v.endPrompt(a)
	default:
		if c.Tries >= 1 {
			// Twice nothing: no answer is no consent; nothing is recorded.
			c.Tries = 0
			v.endPrompt(a)
			return nil
		}
		c.Tries++
		a.say(a.p("sorry"))
		v.consentPrompt(a)
	}
	return nil
}

// endPrompt offers a new search or a person; silence ends the call.
func (v *Voice) endPrompt(a *reply) {
	a.gather("end", &twiml.VoiceGather{NumDigits: "1"}, a.sayEl(a.c.Lang, a.p("anything")))
}

func (v *Voice) end(_ context.Context, c *call, in input, a *reply) error {
	switch in.Digits {
	case "3":
		c.Need, c.Query, c.ZIP, c.Results, c.Page = "", "", "", nil, 0
		v.menu(a)
	case "0":
		return v.person(a)
	default:
		a.hangup()
	}
	return nil
}

// stuckPrompt is the way out after three failed tries: a person or a
// voicemail, else goodbye.
func (v *Voice) stuckPrompt(a *reply) {
	a.gather("stuck", &twiml.VoiceGather{NumDigits: "1"}, a.sayEl(a.c.Lang, a.p("stuck")))
}

func (v *Voice) stuck(_ context.Context, c *call, in input, a *reply) error {
	switch in.Digits {
	case "0":
		return v.person(a)
	case "9":
		v.voicemail(a)
	default:
		a.hangup()
	}
	return nil
}

// person dials the staff at once during business hours; otherwise it says
// the hours and offers a voicemail.
func (v *Voice) person(a *reply) error {
	now := v.now()
	if v.Hours.Open(now) && len(v.StaffNumbers) > 0 {
		a.say(a.p("connecting"))
		timeout := v.DialTimeout
		if timeout <= 0 {
			timeout = 20
		}
		d := &twiml.VoiceDial{Action: a.c.url("dialed"), Method: "POST", Timeout: strconv.Itoa(timeout), CallerId: a.c.To}
		for _, n := range v.StaffNumbers {
			d.InnerElements = append(d.InnerElements, &twiml.VoiceNumber{PhoneNumber: n})
		}
		a.verbs = append(a.verbs, d)
		a.c.Step = "dial"
		return nil
	}
	if t := now.In(v.Hours.Zone); v.isHoliday(t) {
		a.say(a.p("holiday"))
	}
	a.say(fmt.Sprintf(a.p("closed"), v.Hours.Say(a.c.Lang)))
	v.closedPrompt(a)
	return nil
}

func (v *Voice) isHoliday(t time.Time) bool {
	for _, h := range v.Hours.Holidays {
		if h == (civilDate{t.Year(), t.Month(), t.Day()}) {
			return true
		}
	}
	return false
}

func (v *Voice) closedPrompt(a *reply) {
	a.gather("closed", &twiml.VoiceGather{NumDigits: "1"}, a.sayEl(a.c.Lang, a.p("vmOffer")))
}

func (v *Voice) closed(_ context.Context, c *call, in input, a *reply) error {
	switch in.Digits {
	case "1":
		c.Tries = 0
		v.voicemail(a)
	case "2":
		c.Tries = 0
		v.menu(a)
	default:
		if in.None && c.Tries >= 1 {
			a.hangup()
			return nil
		}
		v.retry(a, v.closedPrompt)
	}
	return nil
}

// dialed follows the staff dial: answered and done, or on to voicemail.
func (v *Voice) dialed(_ context.Context, c *call, in input, a *reply) error {
	c.DialStatus = in.form("DialCallStatus")
	if c.DialStatus == "completed" || c.DialStatus == "answered" {
		a.hangup()
		return nil
	}
	a.say(a.p("noAnswer"))
	v.voicemail(a)
	return nil
}

// voicemail records up to two minutes.
func (v *Voice) voicemail(a *reply) {
	a.say(a.p("vmPrompt"))
	a.verbs = append(a.verbs, &twiml.VoiceRecord{Action: a.c.url("recorded"), Method: "POST", MaxLength: "120", PlayBeep: "true",
		FinishOnKey: "#", Timeout: "10"},
		&twiml.VoiceRedirect{Url: a.c.noInput("recorded"), Method: "POST"})
	a.c.Step = "voicemail"
}

// recorded turns a voicemail into a callback task with the recording's
// link, the caller's number and language.
func (v *Voice) recorded(ctx context.Context, c *call, in input, a *reply) error {
	rec := strings.TrimSpace(in.form("RecordingUrl"))
	if in.None || rec == "" {
		a.say(a.p("vmNone"))
		v.stuckPrompt(a)
		return nil
	}
	need := c.Need
	if need == "" {
		need = "other"
	}
	lang := map[string]string{"en": "English", "es": "Spanish"}[c.Lang]
	if lang == "" {
		lang = "English"
	}
	reason := fmt.Sprintf("Voicemail (%s, %ss) from %s: %s", lang, in.form("RecordingDuration"), c.From, rec)
	if err := v.Referrals.Callback(ctx, CallbackRequest{ReferralID: c.ReferralID, Phone: c.From, Language: c.Lang, Channel: "voice",
		Need: need, ZIP: c.ZIP, Reason: reason, Key: "voice:" + c.SID + ":voicemail"}); err != nil {
		return err
	}
	c.Recording = rec
	a.say(a.p("vmThanks"))
	a.hangup()
	return nil
}

// status records how a call ended (Twilio's status callback, configured on
// the number as POST /hotline/voice/status).
func (v *Voice) status(ec echo.Context) error {
	ctx := ec.Request().Context()
	sid := strings.TrimSpace(ec.FormValue("CallSid"))
	if sid == "" {
		return apperr.Errorf(apperr.EINVALID, "CallSid: required.")
	}
	st := strings.TrimSpace(ec.FormValue("CallStatus"))
	if len(st) > 40 {
		st = st[:40]
	}
	var dur any
	if n, err := strconv.Atoi(ec.FormValue("CallDuration")); err == nil {
		dur = n
	}
	var ended any
	switch st {
	case "completed", "busy", "failed", "no-answer", "canceled":
		ended = formatTime(v.now())
	}
	now := formatTime(v.now())
	if err := v.DB.Batch.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := v.DB.Batch.Exec(ctx, tx, `INSERT INTO hotline_call (call_sid, from_number, to_number, status, duration_seconds,
		started_at, updated_at, ended_at) VALUES (?,?,?,?,?,?,?,?)
		ON CONFLICT (call_sid) DO UPDATE SET status = excluded.status, duration_seconds = COALESCE(excluded.duration_seconds, duration_seconds),
		updated_at = excluded.updated_at, ended_at = COALESCE(hotline_call.ended_at, excluded.ended_at)`,
			sid, ec.FormValue("From"), ec.FormValue("To"), st, dur, now, now, ended)
		return err
	}); err != nil {
		return fmt.Errorf("record call status: %w", err)
	}
	v.log().InfoContext(ctx, "call status", "call_sid", sid, "status", st, "duration", dur)
	x, err := twiml.Voice(nil)
	if err != nil {
		return err
	}
	return voiceXML(ec, x)
}

// SayDigits reads a phone number digit by digit in groups, "8 1 6, 5 5 5,
// 0 1 2 3"; "" when it has no digits.
func SayDigits(phone string) string {
	var ds []rune
	main, ext, _ := strings.Cut(strings.ToLower(phone), "x")
	for _, r := range main {
		if r >= '0' && r <= '9' {
			ds = append(ds, r)
		}
	}
	if len(ds) == 11 && ds[0] == '1' {
		ds = ds[1:]
	}
	if len(ds) == 0 {
		return ""
	}
	group := func(rs []rune) string {
		parts := make([]string, len(rs))
		for i, r := range rs {
			parts[i] = string(r)
		}
		return strings.Join(parts, " ")
	}
	var out string
	if len(ds) == 10 {
		out = group(ds[:3]) + ", " + group(ds[3:6]) + ", " + group(ds[6:])
	} else {
		out = group(ds)
	}
	var xd []rune
	for _, r := range ext {
		if r >= '0' && r <= '9' {
			xd = append(xd, r)
		}
	}
	if len(xd) > 0 {
		out += ", extension " + group(xd)
	}
	return out
}

func firstSentence(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, ".!?"); i > 0 && i < 160 {
		return s[:i+1]
	}
	if len([]rune(s)) > 140 {
		return string([]rune(s)[:140]) + "..."
	}
	return s
}
