package hotline

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/secondchancekc/secondchance/internal/server"
)

// sign computes X-Twilio-Signature as Twilio does: HMAC-SHA1 with the auth
// token over the URL followed by each POST parameter's name and value,
// sorted by name. Written here from Twilio's documentation rather than
// with the library's validator, so the test checks the validator against
// the specification.
func sign(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(form.Get(k))
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// fakeReplies is a follow-up store: it takes texts from one number.
type fakeReplies struct {
	mu    sync.Mutex
	phone string
	got   []string
}

func (f *fakeReplies) MayAnswer(_ context.Context, phone string) (bool, error) {
	return phone == f.phone, nil
}

func (f *fakeReplies) HandleReply(_ context.Context, phone, body string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if phone != f.phone {
		return "", false, nil
	}
	f.got = append(f.got, body)
	return "Thank you! (check-in " + body + ")", true, nil
}

type fakeClients struct {
	mu       sync.Mutex
	out, ins []string
}

func (f *fakeClients) OptOut(_ context.Context, p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.out = append(f.out, p)
	return nil
}

func (f *fakeClients) OptIn(_ context.Context, p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ins = append(f.ins, p)
	return nil
}

type smsEnv struct {
	base    string
	d       *db.DB
	replies *fakeReplies
	clients *fakeClients
	optOuts *OptOuts
}

const publicBase = "https://hotline.example.org"

func newSMSEnv(t *testing.T, sig Signature) *smsEnv {
	t.Helper()
	d := openDB(t)
	quiet := slog.New(slog.DiscardHandler)
	e := &smsEnv{d: d, replies: &fakeReplies{phone: "+18165550142"}, clients: &fakeClients{}, optOuts: NewOptOuts(d)}
	h := &SMS{DB: d, OptOuts: e.optOuts, Replies: e.replies, Clients: e.clients, Log: quiet}
	srv := server.New(server.Config{Listen: "127.0.0.1:0", BaseURL: publicBase, Logger: quiet})
	sig.BaseURL = publicBase
	h.Register(srv.Echo, sig.Middleware())
	ctx, cancel := context.WithCancel(context.Background())
	addr, wait, err := srv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); wait() })
	e.base = "http://" + addr
	return e
}

// post sends a webhook signed for the public URL (as Twilio would sign it)
// unless sig is given.
func (e *smsEnv) post(t *testing.T, form url.Values, sig string) (int, string) {
	t.Helper()
	if sig == "" {
		sig = sign(testToken, publicBase+"/hotline/sms", form)
	}
	req, _ := http.NewRequest(http.MethodPost, e.base+"/hotline/sms", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sig)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// messages parses a TwiML answer and returns its <Message> texts.
func messages(t *testing.T, body string) []string {
	t.Helper()
	var r struct {
		XMLName  xml.Name `xml:"Response"`
		Messages []string `xml:"Message"`
	}
	if err := xml.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("not TwiML: %v\n%s", err, body)
	}
	return r.Messages
}

func inbound(sid, from, body string) url.Values {
	return url.Values{"MessageSid": {sid}, "AccountSid": {testSID}, "From": {from}, "To": {testFrom}, "Body": {body}, "NumMedia": {"0"}}
}

func TestSMSWebhook(t *testing.T) {
	t.Parallel()
	e := newSMSEnv(t, Signature{AuthToken: testToken})
	ctx := context.Background()

	// A reply to a check-in goes to the follow-ups, once, however often
	// Twilio delivers it.
	for range 2 {
		code, body := e.post(t, inbound("SM001", "+18165550142", "1"), "")
		if code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
		if m := messages(t, body); len(m) != 1 || m[0] != "Thank you! (check-in 1)" {
			t.Errorf("answer %v", m)
		}
	}
	if len(e.replies.got) != 1 {
		t.Errorf("the follow-up store got %d texts, want 1 (a retried webhook acts once)", len(e.replies.got))
	}

	// Anyone else gets the hotline's answer.
	_, body := e.post(t, inbound("SM002", "+18165550143", "need food"), "")
	if m := messages(t, body); len(m) != 1 || !strings.Contains(m[0], "(816) 231-0217") {
		t.Errorf("hotline answer %v", m)
	}

	// STOP: both opt-out records, and no reply (Twilio confirms it).
	_, body = e.post(t, inbound("SM003", "+18165550143", " stop "), "")
	if m := messages(t, body); len(m) != 0 {
		t.Errorf("STOP answered %v", m)
	}
	if out, _ := e.optOuts.IsOptedOut(ctx, "+18165550143"); !out || len(e.clients.out) != 1 {
		t.Errorf("STOP not recorded: list %v, clients %v", out, e.clients.out)
	}
	// Spanish too.
	e.post(t, inbound("SM004", "+18165550144", "ALTO"), "")
	if out, _ := e.optOuts.IsOptedOut(ctx, "+18165550144"); !out {
		t.Error("ALTO not recorded")
	}
	// START undoes it.
	e.post(t, inbound("SM005", "+18165550143", "START"), "")
	if out, _ := e.optOuts.IsOptedOut(ctx, "+18165550143"); out || len(e.clients.ins) != 1 {
		t.Errorf("START not recorded")
	}
	// YES opts back in, but only an opted-out number: from anyone else it
	// is an answer.
	e.post(t, inbound("SM007", "+18165550144", "Yes"), "")
	if out, _ := e.optOuts.IsOptedOut(ctx, "+18165550144"); out {
		t.Error("YES from an opted-out number did not opt in")
	}
	e.post(t, inbound("SM008", "+18165550142", "yes"), "")
	if got := e.replies.got; len(got) != 2 || got[1] != "yes" {
		t.Errorf("YES from a number with a check-in went to %v", got)
	}
	// HELP gets the help text.
	_, body = e.post(t, inbound("SM006", "+18165550145", "help"), "")
	if m := messages(t, body); len(m) != 1 || m[0] != helpText {
		t.Errorf("HELP answered %v", m)
	}

	// Every message is kept with what handled it.
	var n int
	e.d.Read.QueryRow(`SELECT COUNT(*) FROM sms_inbound WHERE handled_by <> ''`).Scan(&n)
	if n != 8 {
		t.Errorf("%d handled messages recorded, want 8", n)
	}
}

func TestSMSWebhookRefusals(t *testing.T) {
	t.Parallel()
	e := newSMSEnv(t, Signature{AuthToken: testToken})
	form := inbound("SM010", "+18165550142", "1")
	cases := []struct {
		name string
		form url.Values
		sig  string
		want int
	}{
		{"forged signature", form, sign("another-token", publicBase+"/hotline/sms", form), http.StatusForbidden},
		{"signed for another URL", form, sign(testToken, "https://evil.example/hotline/sms", form), http.StatusForbidden},
		{"no signature", form, "-", http.StatusForbidden},
		{"no MessageSid", url.Values{"From": {"+18165550142"}, "Body": {"1"}}, "", http.StatusBadRequest},
		{"bad From", inbound("SM011", "816-555-0142", "1"), "", http.StatusBadRequest},
	}
	for _, c := range cases {
		sig := c.sig
		if sig == "-" {
			sig = "x"
		}
		if code, body := e.post(t, c.form, sig); code != c.want {
			t.Errorf("%s: status %d, want %d: %s", c.name, code, c.want, body)
		}
	}
	if len(e.replies.got) != 0 {
		t.Errorf("a refused webhook reached the follow-ups: %v", e.replies.got)
	}

	// No token configured: refused, unless checking is turned off.
	noToken := newSMSEnv(t, Signature{})
	if code, _ := noToken.post(t, inbound("SM020", "+18165550142", "1"), "x"); code != http.StatusForbidden {
		t.Errorf("no token: status %d, want 403", code)
	}
	off := newSMSEnv(t, Signature{Disabled: true})
	if code, _ := off.post(t, inbound("SM021", "+18165550142", "1"), "x"); code != http.StatusOK {
		t.Errorf("checking off: status %d, want 200", code)
	}
}

// The referral of a texted list commits with the answer: when the answer
// cannot be saved, no referral is left behind (its follow-ups would ask
// about a list the person never got).
func TestSMSReferralCommitsWithAnswer(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, filepath.Join(t.TempDir(), "h.db"), inHours)
	ctx := context.Background()
	exec := func(q string) {
		t.Helper()
		if _, err := e.d.Write.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	count := func() (n int) {
		t.Helper()
		if err := e.d.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM fake_referral`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	exec(`CREATE TABLE fake_referral (key TEXT PRIMARY KEY)`)
	e.refs.table = true
	exec(`CREATE TRIGGER no_conversation BEFORE INSERT ON hotline_sms_conversation BEGIN SELECT RAISE(ABORT, 'disk full'); END`)
	s := e.sim("+18165550177")
	if replies, _, err := s.SMS(ctx, "jobs 64127"); err == nil {
		t.Errorf("answered %q though the conversation could not be saved", replies)
	}
	if n := count(); n != 0 {
		t.Errorf("%d referrals left by a text that was not answered", n)
	}
	exec(`DROP TRIGGER no_conversation`)
	if replies, _, err := s.SMS(ctx, "jobs 64127"); err != nil || len(replies) != 1 {
		t.Fatalf("next text: %q, %v", replies, err)
	}
	if n := count(); n != 1 {
		t.Errorf("%d referrals after an answered text, want 1", n)
	}
}

// A text for the SMS search is recorded with its answer in one transaction
// (no claim first): delivered again, one after the other or at once, it
// is answered as the first time and acted on once; one that cannot be
// answered is still recorded, unanswered, for staff.
func TestSMSSearchDeliveredTwice(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, filepath.Join(t.TempDir(), "h.db"), inHours)
	ctx := context.Background()
	post := func(sid, body string) (int, string) {
		t.Helper()
		form := inbound(sid, "+18165550188", body)
		req, _ := http.NewRequest(http.MethodPost, e.base+"/hotline/sms", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sign(testToken, publicBase+"/hotline/sms", form))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	rows := func(sid string) (n int, by string) {
		t.Helper()
		e.d.Read.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(handled_by), '') FROM sms_inbound WHERE message_sid = ?`, sid).Scan(&n, &by)
		return n, by
	}
	code, first := post("SMsearch1", "jobs 64127")
	if code != 200 || !strings.Contains(first, "Place 1") {
		t.Fatalf("first delivery: %d %s", code, first)
	}
	if code, again := post("SMsearch1", "jobs 64127"); code != 200 || again != first {
		t.Errorf("second delivery: %d\n%s\nwant\n%s", code, again, first)
	}
	// Five at once.
	var wg sync.WaitGroup
	answers := make([]string, 5)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, answers[i] = post("SMsearch2", "more")
		}()
	}
	wg.Wait()
	for _, a := range answers[1:] {
		if a != answers[0] || !strings.Contains(a, "Place 4") {
			t.Errorf("deliveries at once answered differently:\n%s\n%s", answers[0], a)
		}
	}
	if n, by := rows("SMsearch1"); n != 1 || by != handledHotline {
		t.Errorf("SMsearch1: %d rows, handled by %q", n, by)
	}
	if n, _ := rows("SMsearch2"); n != 1 {
		t.Errorf("SMsearch2: %d rows", n)
	}
	e.refs.mu.Lock()
	logged := len(e.refs.referrals)
	e.refs.mu.Unlock()
	if logged != 2 {
		t.Errorf("%d referrals for two texts delivered seven times, want 2", logged)
	}
	// Cannot be answered: recorded, unanswered (a retry answers nothing).
	if _, err := e.d.Write.ExecContext(ctx, `CREATE TRIGGER no_conversation BEFORE INSERT ON hotline_sms_conversation
		BEGIN SELECT RAISE(ABORT, 'disk full'); END`); err != nil {
		t.Fatal(err)
	}
	if code, _ := post("SMsearch3", "food 64108"); code == 200 {
		t.Error("a text whose answer could not be saved was answered")
	}
	if n, by := rows("SMsearch3"); n != 1 || by != "" {
		t.Errorf("unanswered text: %d rows, handled by %q; want it recorded, unhandled", n, by)
	}
}
