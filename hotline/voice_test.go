package hotline

import (
	"context"
	"database/sql"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/secondchancekc/secondchance/internal/server"
	"github.com/secondchancekc/secondchance/internal/sms"
)

// fakeFinder is the directory at the edge of this package (the search
// engine is tested in search/ and wired in cmd): a need's places, and
// ZIP 99999 is unknown.
type fakeFinder struct {
	mu  sync.Mutex
	got []FindQuery
}

func (f *fakeFinder) Find(_ context.Context, q FindQuery) ([]Place, error) {
	f.mu.Lock()
	f.got = append(f.got, q)
	f.mu.Unlock()
	if q.ZIP == "99999" {
		return nil, apperr.Errorf(apperr.EINVALID, "zip: unknown")
	}
	if strings.Contains(q.Text, "unicorn") {
		return nil, nil
	}
	var out []Place
	for i := range 5 {
		out = append(out, Place{ServiceID: fmt.Sprintf("svc-%s-%d", q.Need, i), Name: fmt.Sprintf("Place %d for %s with a rather long name “quoted”", i+1, q.Need),
			NameES: fmt.Sprintf("Lugar %d", i+1), Summary: "Helps people coming home. More text.", Phone: "(816) 555-01" + fmt.Sprint(10+i),
			Address: "1 Main St", City: "Kansas City", Miles: float64(i) + 0.5, HasMiles: q.ZIP != "", HoursKnown: true, OpenNow: i%2 == 0})
	}
	return out, nil
}

type fakeReferrals struct {
	mu        sync.Mutex
	referrals map[string]NewReferral
	consents  []string
	callbacks map[string]CallbackRequest
	// table: also write each referral to table fake_referral in the
	// caller's transaction, to see what commits with it
	table bool
}

func (f *fakeReferrals) LogReferral(_ context.Context, n NewReferral) (ReferralWrite, error) {
	if !IsE164(n.Phone) || len(n.ServiceIDs) == 0 || n.Key == "" {
		return nil, apperr.Errorf(apperr.EINVALID, "bad referral %+v", n)
	}
	return func(ctx context.Context, tx *sql.Tx) (string, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.table {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO fake_referral (key) VALUES (?)`, n.Key); err != nil {
				return "", err
			}
		}
		f.referrals[n.Key] = n
		return "ref-" + n.Key, nil
	}, nil
}

func (f *fakeReferrals) Consent(_ context.Context, id string, given bool, words, channel string) (func(context.Context, *sql.Tx) error, error) {
	return func(context.Context, *sql.Tx) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.consents = append(f.consents, fmt.Sprintf("%s|%v|%s|%s", id, given, channel, words))
		return nil
	}, nil
}

func (f *fakeReferrals) Callback(_ context.Context, c CallbackRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.callbacks[c.Key] = c
	return nil
}

type hotlineEnv struct {
	base    string
	d       *db.DB
	finder  *fakeFinder
	refs    *fakeReferrals
	outbox  *Outbox
	optOuts *OptOuts
	sender  *Logged
	stop    func()
}

// clock is a time in business hours: Tuesday 2026-12-01 10:00 Chicago.
var inHours = time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)

func newHotlineEnv(t testing.TB, path string, now time.Time) *hotlineEnv {
	return newHotlineEnvSending(t, path, now, nil)
}

// newHotlineEnvSending is newHotlineEnv with the texts going to next (the
// outbox when nil) through the Logged sender.
func newHotlineEnvSending(t testing.TB, path string, now time.Time, next Sender) *hotlineEnv {
	t.Helper()
	d, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	chicago, _ := time.LoadLocation("America/Chicago")
	hours, err := ParseHours("mon-fri 09:00-17:00", "2026-12-25", chicago)
	if err != nil {
		t.Fatal(err)
	}
	e := &hotlineEnv{d: d, finder: &fakeFinder{}, refs: &fakeReferrals{referrals: map[string]NewReferral{}, callbacks: map[string]CallbackRequest{}},
		outbox: NewOutbox(d), optOuts: NewOptOuts(d)}
	clock := func() time.Time { return now }
	logged := NewLogged(e.outbox, ProviderOutbox, d, quiet)
	if next != nil {
		logged = NewLogged(next, ProviderTwilio, d, quiet)
	}
	e.sender = logged
	conv := &Conversations{DB: d, Finder: e.finder, Referrals: e.refs, Crisis: fakeCrisis, Now: clock}
	srv := server.New(server.Config{Listen: "127.0.0.1:0", BaseURL: publicBase, Logger: quiet})
	sig := Signature{AuthToken: testToken, BaseURL: publicBase}.Middleware()
	(&SMS{DB: d, OptOuts: e.optOuts, Conversation: conv, Log: quiet, Now: clock}).Register(srv.Echo, sig)
	(&Voice{DB: d, Finder: e.finder, Referrals: e.refs, Crisis: fakeCrisis, Sender: logged, Conversations: conv, Hours: hours,
		StaffNumbers: []string{"+18165550101", "+18165550102"}, DialTimeout: 15, VoiceEN: "Polly.Joanna", VoiceES: "Polly.Lupe",
		Log: quiet, Now: clock}).Register(srv.Echo, sig)
	ctx, cancel := context.WithCancel(context.Background())
	addr, wait, err := srv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.stop = func() { cancel(); wait(); d.Close() }
	t.Cleanup(func() { cancel(); wait(); d.Close() })
	e.base = "http://" + addr
	return e
}

func (e *hotlineEnv) sim(from string, script ...string) *Simulator {
	i := 0
	return &Simulator{Server: e.base, BaseURL: publicBase, AuthToken: testToken, From: from, To: testTo,
		Input: func(string) (string, bool) {
			if i >= len(script) {
				return "", false
			}
			i++
			return script[i-1], true
		}}
}

// voicePost sends one signed voice webhook (signed with the test's own
// signer) and returns the status and body.
func (e *hotlineEnv) voicePost(t testing.TB, path string, form url.Values) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sign(testToken, publicBase+path, form))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Content-Type"), string(b)
}

func (e *hotlineEnv) texts(t testing.TB) []*OutboxMessage {
	t.Helper()
	ms, _, err := e.outbox.List(context.Background(), OutboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// twimlDoc parses a TwiML answer into its verbs.
func twimlDoc(t testing.TB, body string) node {
	t.Helper()
	var n node
	if err := xml.Unmarshal([]byte(body), &n); err != nil || n.XMLName.Local != "Response" {
		t.Fatalf("not TwiML (%v): %s", err, body)
	}
	return n
}

func saidContains(tr *Transcript, s string) bool {
	return slices.ContainsFunc(tr.Said, func(x string) bool { return strings.Contains(x, s) })
}

func TestVoiceSpanishTextAndConsent(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, filepath.Join(t.TempDir(), "h.db"), inHours)
	// Spanish, jobs, ZIP, text me these, yes to follow-up, then silence.
	tr, err := e.sim("+18165551234", "2", "1", "64127#", "1", "1", "").Call(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Su llamada es privada", "Lugar 1", "8 1 6, 5 5 5, 0 1 1 0", "Le enviamos estos lugares", "¿Podemos enviarle un texto", "Adiós"} {
		if !saidContains(tr, want) {
			t.Errorf("the caller never heard %q:\n%s", want, strings.Join(tr.Said, "\n"))
		}
	}
	texts := e.texts(t)
	if len(texts) != 1 || texts[0].To != "+18165551234" || !strings.Contains(texts[0].Body, "Responda 1-3") {
		t.Fatalf("texts %+v", texts)
	}
	if b := texts[0].Body; sms.Segments(b) > 2 || sms.ToGSM(b) != b {
		t.Errorf("texted results take %d segments or are not GSM-7: %q", sms.Segments(b), b)
	}
	var r NewReferral
	ok := false
	for key, ref := range e.refs.referrals {
		if strings.HasPrefix(key, "voice:"+tr.CallSid+":referral:0:") {
			r, ok = ref, true
		}
	}
	if !ok || r.Channel != "voice" || r.Need != "employment" || r.ZIP != "64127" || r.Language != "es" || len(r.ServiceIDs) != 3 {
		t.Errorf("referral %+v (ok %v)", r, ok)
	}
	if len(e.refs.consents) != 1 || !strings.Contains(e.refs.consents[0], "|true|voice|¿Podemos enviarle un texto en unos días") {
		t.Errorf("consent %v", e.refs.consents)
	}
	rec, ok, err := (&Voice{DB: e.d}).Call(context.Background(), tr.CallSid)
	if err != nil || !ok || rec.Status != "completed" || rec.EndedAt == nil || rec.Consent != "yes" || rec.Language != "es" {
		t.Errorf("call record %+v %v %v", rec, ok, err)
	}
	// The texted results continue by SMS: 2 is the second place's details.
	replies, _, err := e.sim("+18165551234").SMS(context.Background(), "2")
	if err != nil || len(replies) != 1 || !strings.Contains(replies[0], "Lugar 2") {
		t.Errorf("reply to the texted results: %v %v", replies, err)
	}
}

// A caller who has one list texted, then searches again and asks for the
// new list, gets both texts and both referrals (the second used to share
// the first's keys and was refused).
func TestVoiceSecondSearchTexted(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, filepath.Join(t.TempDir(), "h.db"), inHours)
	// English, jobs near 64127, text them, no follow-ups; then 3 (new
	// search) for housing, skip the ZIP, text those too.
	tr, err := e.sim("+18165551234", "1", "1", "64127#", "1", "2", "3", "2", "#", "1", "").Call(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	texts := e.texts(t)
	if len(texts) != 2 || texts[0].Body == texts[1].Body {
		t.Fatalf("%d texts (want 2, different):\n%s", len(texts), strings.Join(tr.Said, "\n"))
	}
	needs := map[string]bool{}
	for key, r := range e.refs.referrals {
		if strings.HasPrefix(key, "voice:"+tr.CallSid+":referral:") {
			needs[r.Need] = true
		}
	}
	if !needs["employment"] || !needs["housing"] || len(needs) != 2 {
		t.Errorf("referrals for %v, want employment and housing", needs)
	}
	if saidContains(tr, "could not text") {
		t.Errorf("the second list was refused:\n%s", strings.Join(tr.Said, "\n"))
	}
}

func TestVoiceRepeatedStepActsOnce(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, filepath.Join(t.TempDir(), "h.db"), inHours)
	call := url.Values{"CallSid": {"CA0001"}, "AccountSid": {testSID}, "From": {"+18165551234"}, "To": {testTo}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for a, b := range call {
			f[a] = b
		}
		f.Set(k, v)
		return f
	}
	steps := []struct{ path, digits string }{{"/hotline/voice", ""}, {"/hotline/voice/language?s=1", "1"}, {"/hotline/voice/need?s=2", "2"},
		{"/hotline/voice/zip?s=3", "64108"}, {"/hotline/voice/chose?s=4", "1"}}
	var last string
	for _, s := range steps {
		code, ct, body := e.voicePost(t, s.path, with("Digits", s.digits))
		if code != 200 || !strings.HasPrefix(ct, "text/xml") {
			t.Fatalf("%s: %d %s %s", s.path, code, ct, body)
		}
		twimlDoc(t, body)
		last = body
	}
	// Twilio repeats the last request (a timeout on its side): the same
	// answer, no second text or referral.
	for range 3 {
		_, _, body := e.voicePost(t, "/hotline/voice/chose?s=4", with("Digits", "1"))
		if body != last {
			t.Errorf("a repeated step answered differently:\n%s\n%s", body, last)
		}
	}
	if n := len(e.texts(t)); n != 1 {
		t.Errorf("%d texts, want 1", n)
	}
	if n := len(e.refs.referrals); n != 1 {
		t.Errorf("%d referrals, want 1", n)
	}
	// Forged, wrong-URL and tampered requests are refused and change nothing.
	f := with("Digits", "1")
	for name, sig := range map[string]string{
		"forged":    sign("another-token", publicBase+"/hotline/voice/consent?s=5", f),
		"wrong URL": sign(testToken, "https://evil.example/hotline/voice/consent?s=5", f),
		"tampered":  sign(testToken, publicBase+"/hotline/voice/consent?s=5", with("Digits", "2")),
	} {
		req, _ := http.NewRequest(http.MethodPost, e.base+"/hotline/voice/consent?s=5", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, res.StatusCode)
		}
	}
	if len(e.refs.consents) != 0 {
		t.Errorf("a refused request recorded consent: %v", e.refs.consents)
	}
}

func TestVoiceRestartMidCall(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "h.db")
	e := newHotlineEnv(t, path, inHours)
	call := func(digits string) url.Values {
		return url.Values{"CallSid": {"CA0002"}, "From": {"+18165551234"}, "To": {testTo}, "Digits": {digits}}
	}
	e.voicePost(t, "/hotline/voice", call(""))
	e.voicePost(t, "/hotline/voice/language?s=1", call("2"))
	e.stop() // the process ends mid-call
	e2 := newHotlineEnv(t, path, inHours)
	code, _, body := e2.voicePost(t, "/hotline/voice/need?s=2", call("6"))
	if code != 200 {
		t.Fatalf("after restart: %d %s", code, body)
	}
	doc := twimlDoc(t, body)
	if len(doc.Nodes) == 0 || doc.Nodes[0].XMLName.Local != "Gather" || !strings.Contains(doc.Nodes[0].attr("action"), "/hotline/voice/zip?s=3") ||
		doc.Nodes[0].Nodes[0].attr("language") != "es-US" {
		t.Errorf("the call did not carry on in Spanish at the ZIP prompt: %s", body)
	}
}

func TestVoiceAfterHoursVoicemail(t *testing.T) {
	t.Parallel()
	christmas := time.Date(2026, 12, 25, 16, 0, 0, 0, time.UTC)
	e := newHotlineEnv(t, filepath.Join(t.TempDir(), "h.db"), christmas)
	tr, err := e.sim("+18165559876", "1", "0", "1", "Please call me about housing").Call(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !saidContains(tr, "Our office is closed today") || !saidContains(tr, "Monday to Friday, 9 AM to 5 PM") || !saidContains(tr, "Your message was recorded") {
		t.Errorf("after hours:\n%s", strings.Join(tr.Said, "\n"))
	}
	cb, ok := e.refs.callbacks["voice:"+tr.CallSid+":voicemail"]
	if !ok || cb.Phone != "+18165559876" || cb.Language != "en" || cb.Need != "other" || !strings.Contains(cb.Reason, "/Recordings/RE") ||
		!strings.Contains(cb.Reason, "English") {
		t.Errorf("callback %+v", cb)
	}
}

func TestVoiceInHoursDialThenVoicemail(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, filepath.Join(t.TempDir(), "h.db"), inHours)
	// Nobody answers the staff phones: voicemail.
	tr, err := e.sim("+18165559877", "2", "0", "", "Llámenme por favor").Call(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !saidContains(tr, "nadie pudo contestar") || !saidContains(tr, "Grabamos su mensaje") {
		t.Errorf("dial then voicemail:\n%s", strings.Join(tr.Said, "\n"))
	}
	if cb := e.refs.callbacks["voice:"+tr.CallSid+":voicemail"]; cb.Language != "es" || !strings.Contains(cb.Reason, "Spanish") {
		t.Errorf("callback %+v", cb)
	}
	// The dial rings both staff numbers at once, with the hotline as
	// caller ID and a timeout.
	f := url.Values{"CallSid": {"CA0003"}, "From": {"+18165551234"}, "To": {testTo}}
	e.voicePost(t, "/hotline/voice", f)
	f.Set("Digits", "1")
	e.voicePost(t, "/hotline/voice/language?s=1", f)
	f.Set("Digits", "0")
	_, _, body := e.voicePost(t, "/hotline/voice/need?s=2", f)
	doc := twimlDoc(t, body)
	var dial *node
	for i := range doc.Nodes {
		if doc.Nodes[i].XMLName.Local == "Dial" {
			dial = &doc.Nodes[i]
		}
	}
	if dial == nil || dial.attr("callerId") != testTo || dial.attr("timeout") != "15" || len(dial.Nodes) != 2 ||
		strings.TrimSpace(dial.Nodes[1].Text) != "+18165550102" {
		t.Errorf("dial: %s", body)
	}
	// An answered dial ends the call politely.
	f.Set("DialCallStatus", "completed")
	_, _, body = e.voicePost(t, "/hotline/voice/dialed?s=3", f)
	if doc := twimlDoc(t, body); doc.Nodes[len(doc.Nodes)-1].XMLName.Local != "Hangup" {
		t.Errorf("after an answered dial: %s", body)
	}
}

// No dead ends: silence everywhere ends politely; three wrong entries
// offer a person or voicemail.
func TestVoiceNoDeadEnds(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, filepath.Join(t.TempDir(), "h.db"), inHours)
	tr, err := e.sim("+18165551111", "", "", "", "", "", "", "", "", "", "", "", "").Call(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !saidContains(tr, "Let's get you some help") || !saidContains(tr, "Goodbye") {
		t.Errorf("silence:\n%s", strings.Join(tr.Said, "\n"))
	}
	// A bad ZIP is asked again twice, then the search goes on without it.
	tr, err = e.sim("+18165551112", "1", "1", "12#", "99999#", "1#").Call(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !saidContains(tr, "not a ZIP code we know") || !saidContains(tr, "search without a ZIP code") || !saidContains(tr, "Here is what we found") {
		t.Errorf("bad ZIP:\n%s", strings.Join(tr.Said, "\n"))
	}
	// Speech goes through search.
	_, err = e.sim("+18165551113", "1", "I need a job", "#").Call(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if q := e.finder.got[len(e.finder.got)-1]; q.Text != "I need a job" || q.Channel != "voice" {
		t.Errorf("speech search %+v", q)
	}
}

// The DTMF-only TwiML passes a structural check against the 2015 TwiML
// XSD (testdata/TwiML-structure.xsd: see testdata/README.md).
func TestVoiceTwiMLStructure(t *testing.T) {
	t.Parallel()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xmllint (Debian libxml2-utils) is not installed; .ci/run installs it for the structural XSD check")
		}
		t.Skip("xmllint (Debian libxml2-utils) is not installed; the structural XSD check needs it")
	}
	e := newHotlineEnv(t, filepath.Join(t.TempDir(), "h.db"), inHours)
	f := url.Values{"CallSid": {"CA0004"}, "From": {"+18165551234"}, "To": {testTo}}
	var docs []string
	step := func(path, digits string, extra ...string) {
		f.Set("Digits", digits)
		for i := 0; i+1 < len(extra); i += 2 {
			f.Set(extra[i], extra[i+1])
		}
		_, _, body := e.voicePost(t, path, f)
		docs = append(docs, body)
	}
	step("/hotline/voice", "")                                                                                         // greeting (DTMF)
	step("/hotline/voice/language?s=1", "1")                                                                           // privacy + need menu (speech: skipped)
	step("/hotline/voice/need?s=2", "1")                                                                               // ZIP (DTMF)
	step("/hotline/voice/zip?s=3", "64127")                                                                            // results (DTMF)
	step("/hotline/voice/chose?s=4", "1")                                                                              // consent (DTMF)
	step("/hotline/voice/consent?s=5", "2")                                                                            // end prompt (DTMF)
	step("/hotline/voice/end?s=6", "0")                                                                                // dial
	step("/hotline/voice/dialed?s=7", "", "DialCallStatus", "no-answer")                                               // record
	step("/hotline/voice/recorded?s=8", "#", "RecordingUrl", "https://api.twilio.com/x/RE1", "RecordingDuration", "3") // hangup
	dir := t.TempDir()
	for i, d := range docs {
		if strings.Contains(d, `input="`) {
			continue // speech gathers post-date the schema
		}
		p := filepath.Join(dir, fmt.Sprintf("doc%d.xml", i))
		os.WriteFile(p, []byte(d), 0o600)
		out, err := exec.Command(xmllint, "--noout", "--schema", "testdata/TwiML-structure.xsd", p).CombinedOutput()
		if err != nil {
			t.Errorf("step %d fails the structural check: %v\n%s\n%s", i, err, out, d)
		}
	}
}

// oneReply texts text and returns the one reply, which must fit in two
// GSM-7 segments; ok is false (and the test failed) otherwise.
func oneReply(t *testing.T, s *Simulator, text string) (string, bool) {
	t.Helper()
	replies, _, err := s.SMS(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 1 {
		t.Errorf("%q: replies %q, want one", text, replies)
		return "", false
	}
	if r := replies[0]; sms.Segments(r) > 2 || sms.ToGSM(r) != r {
		t.Errorf("%q: the reply takes %d segments or is not GSM-7: %q", text, sms.Segments(r), r)
	}
	return replies[0], true
}

// fakeCrisis stands in for search.Engine.Crisis (whose word list is
// tested in search).
func fakeCrisis(text string) bool {
	t := strings.ToLower(text)
	return strings.Contains(t, "hurt myself") || strings.Contains(t, "matarme")
}

// Words that say someone may be in danger get the crisis line first, by
// text (within two segments, in the texter's language) and by voice
// (before anything else is asked); other searches do not.
func TestCrisisLineFirst(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, filepath.Join(t.TempDir(), "h.db"), inHours)
	ctx := context.Background()
	s := e.sim("+18165552223")
	for _, c := range []struct{ text, first string }{
		{"I want to hurt myself 64127", "If you might hurt yourself, call or text 988 now"},
		{"jobs 64127", "Second Chance KC: 1) Place 1"},
		{"ESPAÑOL", ""},
		{"quiero matarme", "Si piensa hacerse dano, llame o escriba al 988"},
	} {
		r, ok := oneReply(t, s, c.text)
		if ok && (!strings.HasPrefix(r, c.first) || (c.first != "" && !strings.Contains(r, "1) "))) {
			t.Errorf("%q: reply %q, want one starting %q with its list", c.text, r, c.first)
		}
	}

	tr, err := e.sim("+18165551235", "1", "I want to hurt myself", "#", "").Call(ctx)
	if err != nil {
		t.Fatal(err)
	}
	crisisAt := slices.IndexFunc(tr.Said, func(x string) bool { return strings.Contains(x, "call or text 9 8 8 now") })
	zipAt := slices.IndexFunc(tr.Said, func(x string) bool { return strings.Contains(x, "ZIP code") })
	if crisisAt < 0 || zipAt < 0 || crisisAt > zipAt {
		t.Errorf("the crisis line was said at %d, the ZIP code asked at %d; want it first:\n%s", crisisAt, zipAt, strings.Join(tr.Said, "\n"))
	}
	tr, err = e.sim("+18165551236", "1", "I need a job", "#", "").Call(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if saidContains(tr, "9 8 8") {
		t.Errorf("a job search heard the crisis line:\n%s", strings.Join(tr.Said, "\n"))
	}
}

func TestSMSConversation(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, filepath.Join(t.TempDir(), "h.db"), inHours)
	ctx := context.Background()
	s := e.sim("+18165552222")
	cases := []struct{ text, want string }{
		{"", "text what you need"},
		{"jobs 64127", "1) Place 1 for employment"},
		{"2", "Place 2 for employment"},
		{"more", "1) Place 4 for employment"},
		{"MÁS", "all we found"},
		{"3", "There is no result 3"},
		{"ESPAÑOL", "en espanol"},
		{"vivienda 64108", "1) Lugar 1"},
		{"unicorn rides", "no encontramos nada"},
		{"food 99999", "No conocemos el codigo 99999"},
		{"LLAMAR", "le llamara"},
		{"english", "in English"},
	}
	for _, c := range cases {
		if r, ok := oneReply(t, s, c.text); ok && !strings.Contains(r, c.want) {
			t.Errorf("%q: reply %q, want %q", c.text, r, c.want)
		}
	}
	if got := e.finder.got; got[0].Need != "employment" || got[0].ZIP != "64127" || got[0].Channel != "sms" {
		t.Errorf("search %+v", got[0])
	}
	if len(e.refs.callbacks) != 1 {
		t.Errorf("callbacks %v", e.refs.callbacks)
	}
	// STOP: nothing is answered until START.
	for _, c := range []struct{ text, want string }{{"STOP", ""}, {"jobs", ""}, {"START", ""}, {"jobs", "Place 1"}} {
		replies, _, _ := s.SMS(ctx, c.text)
		if c.want == "" && len(replies) != 0 || c.want != "" && (len(replies) != 1 || !strings.Contains(replies[0], c.want)) {
			t.Errorf("%q after opt-out: %q", c.text, replies)
		}
	}
}

// BenchmarkHotline runs 50 simulated calls (and 50 SMS conversations) at
// once and reports the p99 webhook latency, with each caller taking
// HOTLINE_BENCH_THINK between keys. With HOTLINE_BENCH_SERVER set
// (and HOTLINE_BENCH_BASE_URL, HOTLINE_BENCH_TOKEN when it checks
// signatures) it drives that running server instead, with its real search.
func BenchmarkHotline(b *testing.B) {
	server, baseURL, token := os.Getenv("HOTLINE_BENCH_SERVER"), os.Getenv("HOTLINE_BENCH_BASE_URL"), os.Getenv("HOTLINE_BENCH_TOKEN")
	var batch *db.Batcher
	if server == "" {
		e := newHotlineEnv(b, filepath.Join(b.TempDir(), "h.db"), inHours)
		server, baseURL, token = e.base, publicBase, testToken
		batch = e.d.Batch
	}
	base := Simulator{Server: server, BaseURL: baseURL, AuthToken: token, To: testTo}
	var voice, text []time.Duration
	for i := 0; i < b.N; i++ {
		// A caller listens before pressing a key (HOTLINE_BENCH_THINK,
		// HOTLINE_BENCH_SPREAD: see BenchLoadOptions).
		opt, err := BenchLoadOptions(i * 50)
		if err != nil {
			b.Fatal(err)
		}
		res, err := Load(context.Background(), base, opt)
		if err != nil {
			b.Fatal(err)
		}
		voice = append(voice, res.Voice...)
		text = append(text, res.SMS...)
	}
	p99 := func(ds []time.Duration) float64 { return float64(Percentile(ds, 0.99).Microseconds()) / 1000 }
	b.ReportMetric(p99(voice), "voice-p99-ms")
	b.ReportMetric(p99(text), "sms-p99-ms")
	b.ReportMetric(float64(len(voice)+len(text))/float64(b.N), "webhooks/op")
	if batch != nil {
		// Group commit at work: disk syncs per round against the writes
		// they carried (other writes, such as migrations, are not counted).
		b.ReportMetric(float64(batch.Batches.Load())/float64(b.N), "commits/op")
		b.ReportMetric(float64(batch.Jobs.Load())/float64(b.N), "writes/op")
	}
}

// newTwilioEnv is a hotline env whose texts go through the Twilio client
// to a fake Messages API answering with script.
func newTwilioEnv(t *testing.T, script ...answer) (*hotlineEnv, *fakeTwilio) {
	t.Helper()
	f := newFakeTwilio(t, script...)
	tw, _ := newTwilio(f, slog.New(slog.DiscardHandler))
	return newHotlineEnvSending(t, filepath.Join(t.TempDir(), "h.db"), inHours, tw), f
}

// Through Twilio (not the outbox, which sends in the same transaction),
// "text me these" sends one text, logged as sent, and logs one referral,
// committed with the text's log entry, and the consent.
func TestVoiceTextThroughTwilio(t *testing.T) {
	t.Parallel()
	e, f := newTwilioEnv(t, ok201)
	if _, err := e.sim("+18165550199", "1", "1", "64127#", "1", "1").Call(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.count() != 1 {
		t.Fatalf("%d texts sent, want 1", f.count())
	}
	if row := e.waitText(t, "+18165550199", StatusSent); row.ProviderSID == "" {
		t.Errorf("the text is logged without its sid: %+v", row)
	}
	e.refs.mu.Lock()
	defer e.refs.mu.Unlock()
	if len(e.refs.referrals) != 1 || len(e.refs.consents) != 1 {
		t.Errorf("%d referrals, %d consents; want 1 each", len(e.refs.referrals), len(e.refs.consents))
	}
}

// choseStep is the URL of "text me these" in the calls toResults walks.
const choseStep = "/hotline/voice/chose?s=4"

// toResults walks a call through the webhooks to its results (English,
// jobs, ZIP 64127), ready for "text me these" (textMe).
func (e *hotlineEnv) toResults(t *testing.T, sid, from string) {
	t.Helper()
	for _, s := range []struct{ path, digits string }{{"/hotline/voice", ""}, {"/hotline/voice/language?s=1", "1"},
		{"/hotline/voice/need?s=2", "1"}, {"/hotline/voice/zip?s=3", "64127"}} {
		f := url.Values{"CallSid": {sid}, "From": {from}, "To": {testTo}, "Digits": {s.digits}}
		if code, _, body := e.voicePost(t, s.path, f); code != 200 {
			t.Fatalf("%s: %d %s", s.path, code, body)
		}
	}
}

// textMe presses 1, "text me these", at the results of a call toResults
// walked, as Twilio posts it (safe from any goroutine), and returns the
// answer; it gives up after 5 s.
func (e *hotlineEnv) textMe(sid, from string) (string, error) {
	f := url.Values{"CallSid": {sid}, "From": {from}, "To": {testTo}, "Digits": {"1"}}
	req, _ := http.NewRequest(http.MethodPost, e.base+choseStep, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sign(testToken, publicBase+choseStep, f))
	res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", res.StatusCode, b)
	}
	return string(b), err
}

// said is what an answer says, its <Say>s (in gathers too) joined.
func said(t testing.TB, body string) string {
	t.Helper()
	var out []string
	var walk func(n node)
	walk = func(n node) {
		if n.XMLName.Local == "Say" {
			out = append(out, strings.TrimSpace(n.Text))
		}
		for _, c := range n.Nodes {
			walk(c)
		}
	}
	walk(twimlDoc(t, body))
	return strings.Join(out, " ")
}

// waitText waits for the text to `to` to be logged with status want (a
// text that went is recorded in the background) and returns its row.
func (e *hotlineEnv) waitText(t testing.TB, to, want string) *LoggedMessage {
	t.Helper()
	var m *LoggedMessage
	var err error
	for range 500 {
		m, err = scanMessage(e.d.Read.QueryRow(`SELECT `+messageCols+` FROM sms_message WHERE to_number = ?`, to))
		if err == nil && m.Status == want {
			return m
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the text to %s is logged %+v (%v), want %s", MaskPhone(to), m, err, want)
	return nil
}

// referralTable has the env's fake referral log write each referral to
// fake_referral in the caller's transaction, and returns its count.
func (e *hotlineEnv) referralTable(t testing.TB) func() int {
	t.Helper()
	if _, err := e.d.Write.Exec(`CREATE TABLE IF NOT EXISTS fake_referral (key TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	e.refs.mu.Lock()
	e.refs.table = true
	e.refs.mu.Unlock()
	return func() (n int) {
		e.d.Read.QueryRow(`SELECT COUNT(*) FROM fake_referral`).Scan(&n)
		return n
	}
}

const (
	textedWords    = "We have texted you these places."
	notTextedWords = "Sorry, we could not text this number."
)

// "Text me these" through Twilio: the step's record, whose answer says the
// text went, the referral, the conversation kept for replies and the
// text's claim are one commit, made before the text goes; the answer then
// comes without another commit (here the writer is held until it has
// come), and the text is recorded as sent after it.
func TestVoiceTextOneCommitThenSend(t *testing.T) {
	t.Parallel()
	e, f := newTwilioEnv(t, ok201)
	referrals := e.referralTable(t)
	const sid, from = "CA0101", "+18165550101"
	e.toResults(t, sid, from)
	commits := e.d.Batch.Batches.Load()
	release := make(chan struct{})
	f.setOnSend(func(url.Values) {
		x, ok, err := storedStep(context.Background(), e.d.ReadStmts, sid, choseStep)
		if err != nil || !ok || !strings.Contains(x, textedWords) {
			t.Errorf("when the text went the step's recorded answer was %q (%v, %v), want one saying it went", x, ok, err)
		}
		var conversations int
		e.d.Read.QueryRow(`SELECT COUNT(*) FROM hotline_sms_conversation WHERE phone = ?`, from).Scan(&conversations)
		if n := referrals(); n != 1 || conversations != 1 {
			t.Errorf("when the text went: %d referrals, %d conversations kept; want 1 each", n, conversations)
		}
		if n := e.d.Batch.Batches.Load() - commits; n != 1 {
			t.Errorf("%d commits before the text went, want 1", n)
		}
		e.waitText(t, from, StatusSending)
		// Hold the writer until the answer has come.
		tx, err := e.d.Write.BeginTx(context.Background(), nil)
		if err != nil {
			t.Error(err)
			return
		}
		go func() {
			<-release
			tx.Rollback()
		}()
	})
	body, err := e.textMe(sid, from)
	// The text's record is still waiting for the writer: Wait (what serve
	// calls before closing the database) waits for it.
	waited := make(chan struct{})
	go func() { e.sender.Wait(); close(waited) }()
	time.Sleep(20 * time.Millisecond)
	select {
	case <-waited:
		t.Error("Wait returned while the text's record could not be written")
	default:
	}
	close(release)
	if err != nil {
		t.Fatalf("no answer while the writer was held after the text went: %v", err)
	}
	if w := said(t, body); !strings.Contains(w, textedWords) || !strings.Contains(w, "May we text you in a few days") {
		t.Errorf("answer: %s", w)
	}
	<-waited
	if m, err := scanMessage(e.d.Read.QueryRow(`SELECT `+messageCols+` FROM sms_message WHERE to_number = ?`, from)); err != nil || m.Status != StatusSent {
		t.Errorf("after Wait the text is logged %+v (%v), want sent", m, err)
	}
	if again, err := e.textMe(sid, from); err != nil || again != body {
		t.Errorf("the step delivered again: %v\n%s\nwant\n%s", err, again, body)
	}
	var textRef, referralID string
	e.d.Read.QueryRow(`SELECT text_ref, referral_id FROM hotline_call WHERE call_sid = ?`, sid).Scan(&textRef, &referralID)
	list, _ := strings.CutPrefix(textRef, "voice:"+sid+":text:")
	if !strings.HasPrefix(list, "0:") || referralID != "ref-voice:"+sid+":referral:"+list {
		t.Errorf("the call records text %q, referral %q", textRef, referralID)
	}
	if f.count() != 1 || referrals() != 1 {
		t.Errorf("%d texts, %d referrals; want 1 each", f.count(), referrals())
	}
}

// A text Twilio refuses, or whose sending fails, replaces the step's
// answer, recorded as if it went, with one saying it did not, in the
// transaction that records the failure (and a 21610 opt-out); the
// referral made with the claim stays. The step delivered again gets the
// same answer and sends nothing.
func TestVoiceTextNotSent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		script   []answer
		status   string
		requests int
	}{
		{"opted out at Twilio (21610)", []answer{err21610}, StatusFailed, 1},
		{"not a mobile number (21614)", []answer{err21614}, StatusFailed, 1},
		{"Twilio failing", []answer{err500}, StatusRetryable, 4},
		{"an answer that cannot be read", []answer{garbled}, StatusUnsure, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, f := newTwilioEnv(t, c.script...)
			referrals := e.referralTable(t)
			const sid, from = "CA0102", "+18165550102"
			e.toResults(t, sid, from)
			f.setOnSend(func(url.Values) {
				if x, _, _ := storedStep(context.Background(), e.d.ReadStmts, sid, choseStep); !strings.Contains(x, textedWords) {
					t.Errorf("when the text was tried the step's recorded answer was %q, want one saying it went", x)
				}
			})
			body, err := e.textMe(sid, from)
			if err != nil {
				t.Fatal(err)
			}
			w := said(t, body)
			if !strings.Contains(w, notTextedWords) || strings.Contains(w, textedWords) || !strings.Contains(w, "May we text you in a few days") {
				t.Errorf("answer: %s", w)
			}
			if x, _, err := storedStep(context.Background(), e.d.ReadStmts, sid, choseStep); err != nil || x != body {
				t.Errorf("recorded answer %q (%v), want the answer given", x, err)
			}
			if again, err := e.textMe(sid, from); err != nil || again != body {
				t.Errorf("the step delivered again: %v\n%s\nwant\n%s", err, again, body)
			}
			row := e.waitText(t, from, c.status)
			var textRef, referralID string
			e.d.Read.QueryRow(`SELECT text_ref, referral_id FROM hotline_call WHERE call_sid = ?`, sid).Scan(&textRef, &referralID)
			if textRef != "" || referralID == "" {
				t.Errorf("the call records text %q, referral %q; want no text, the referral", textRef, referralID)
			}
			opted, err := e.optOuts.IsOptedOut(context.Background(), from)
			if err != nil || opted != (row.ErrorCode == CodeOptedOut) {
				t.Errorf("opted out: %v (%v) after Twilio error %d", opted, err, row.ErrorCode)
			}
			if f.count() != c.requests || referrals() != 1 {
				t.Errorf("%d requests to Twilio, %d referrals; want %d, 1", f.count(), referrals(), c.requests)
			}
		})
	}
}

// An opted-out number is never texted: the step is answered "we could not
// text this number", with its referral, in one commit.
func TestVoiceTextOptedOut(t *testing.T) {
	t.Parallel()
	e, f := newTwilioEnv(t, ok201)
	referrals := e.referralTable(t)
	const sid, from = "CA0103", "+18165550103"
	if err := e.optOuts.OptOut(context.Background(), from, OptOutSourceSMS, "STOP"); err != nil {
		t.Fatal(err)
	}
	e.toResults(t, sid, from)
	commits := e.d.Batch.Batches.Load()
	body, err := e.textMe(sid, from)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.d.Batch.Batches.Load() - commits; n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
	if w := said(t, body); !strings.Contains(w, notTextedWords) || !strings.Contains(w, "May we text you in a few days") {
		t.Errorf("answer: %s", w)
	}
	if again, err := e.textMe(sid, from); err != nil || again != body {
		t.Errorf("the step delivered again: %v\n%s\nwant\n%s", err, again, body)
	}
	var logged int
	e.d.Read.QueryRow(`SELECT COUNT(*) FROM sms_message`).Scan(&logged)
	if f.count() != 0 || logged != 0 || referrals() != 1 {
		t.Errorf("%d requests to Twilio, %d texts logged, %d referrals; want 0, 0, 1", f.count(), logged, referrals())
	}
}

// "Text me these" delivered twice at the same moment sends one text and
// makes one referral, and both deliveries get the answer the step ends
// with, also when the text fails after the step's record said it went.
func TestVoiceTextDeliveredTwiceAtOnce(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		script answer
		words  string
	}{{"sent", ok201, textedWords}, {"refused", err21610, notTextedWords}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, f := newTwilioEnv(t, c.script)
			referrals := e.referralTable(t)
			const sid, from = "CA0104", "+18165550104"
			e.toResults(t, sid, from)
			// Twilio takes its time: the second delivery comes meanwhile.
			f.setOnSend(func(url.Values) { time.Sleep(200 * time.Millisecond) })
			var wg sync.WaitGroup
			answers, errs := make([]string, 2), make([]error, 2)
			for i := range answers {
				wg.Go(func() { answers[i], errs[i] = e.textMe(sid, from) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("delivery %d: %v", i, err)
				}
			}
			if answers[0] != answers[1] || !strings.Contains(said(t, answers[0]), c.words) {
				t.Errorf("deliveries at once answered:\n%s\n%s\nwant both saying %q", answers[0], answers[1], c.words)
			}
			if f.count() != 1 || referrals() != 1 {
				t.Errorf("%d texts, %d referrals; want 1 each", f.count(), referrals())
			}
		})
	}
}

// A process killed after the step's commit, before the text went, leaves
// the text "sending": Twilio's retry, answered by the restarted process
// (here a second server on the same database), gets the recorded answer
// and texts nothing, and a send with the text's ref is ErrUnsure until
// staff check Twilio's log and release it.
func TestVoiceTextKilledBeforeSend(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "h.db")
	quiet := slog.New(slog.DiscardHandler)
	f := newFakeTwilio(t, ok201)
	tw, _ := newTwilio(f, quiet)
	e := newHotlineEnvSending(t, path, inHours, tw)
	referrals := e.referralTable(t)
	const sid, from = "CA0105", "+18165550105"
	e.toResults(t, sid, from)
	sending, dead := make(chan struct{}), make(chan struct{})
	defer close(dead)
	f.setOnSend(func(url.Values) {
		close(sending)
		<-dead // the first process never hears back
	})
	go e.textMe(sid, from)
	<-sending

	f2 := newFakeTwilio(t, ok201)
	tw2, _ := newTwilio(f2, quiet)
	e2 := newHotlineEnvSending(t, path, inHours, tw2)
	recorded, _, err := storedStep(context.Background(), e2.d.ReadStmts, sid, choseStep)
	if err != nil {
		t.Fatal(err)
	}
	body, err := e2.textMe(sid, from)
	if err != nil || body != recorded || !strings.Contains(body, textedWords) {
		t.Errorf("the retry after a restart: %v\n%s\nwant the recorded answer\n%s", err, body, recorded)
	}
	e2.waitText(t, from, StatusSending)
	var m Message
	if err := e2.d.Read.QueryRow(`SELECT ref, to_number, body, purpose FROM sms_message WHERE to_number = ?`, from).Scan(&m.Ref, &m.To, &m.Body, &m.Purpose); err != nil {
		t.Fatal(err)
	}
	if _, err := e2.sender.Send(context.Background(), m); !errors.Is(err, ErrUnsure) {
		t.Errorf("a send with the text's ref: %v, want ErrUnsure", err)
	}
	if f2.count() != 0 || referrals() != 1 {
		t.Errorf("%d texts sent after the restart, %d referrals; want 0, 1", f2.count(), referrals())
	}
}
