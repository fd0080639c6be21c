package hotline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/secondchancekc/secondchance/internal/logbuf"
)

// Test credentials in Twilio's shapes.
const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "0123456789abcdef0123456789abcdef"
	testFrom  = "+18165550100"
	testMG    = "MG0123456789abcdef0123456789abcdef"
	testTo    = "+18165550217"
)

// answer is one canned reply of the fake Twilio API.
type answer struct {
	status int
	body   string // empty: a Twilio-like message resource
	header map[string]string
}

func twilioError(status, code int, msg string) answer {
	b, _ := json.Marshal(map[string]any{
		"code": code, "message": msg, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
	})
	return answer{status: status, body: string(b)}
}

var (
	ok201      = answer{status: http.StatusCreated}
	err21610   = twilioError(400, 21610, "Attempt to send to unsubscribed recipient")
	err21211   = twilioError(400, 21211, "The 'To' number +18165550217 is not a valid phone number.")
	err21614   = twilioError(400, 21614, "'To' number is not a valid mobile number")
	err429     = twilioError(429, 20429, "Too Many Requests")
	err500     = twilioError(500, 20500, "Internal Server Error")
	html503    = answer{status: 503, body: "<html><body>Service Unavailable</body></html>"}
	garbled    = answer{status: 201, body: `{"sid": "SM12`}
	garbled400 = answer{status: 400, body: `not json`}
)

func withRetryAfter(a answer, v string) answer {
	a.header = map[string]string{"Retry-After": v}
	return a
}

// fakeTwilio serves the Messages API on loopback: it checks the basic auth
// and the form the real twilio-go client sends, and answers from a script
// (the last answer repeats).
type fakeTwilio struct {
	t      *testing.T
	srv    *httptest.Server
	prefix string // path prefix, when APIBaseURL has one

	mu       sync.Mutex
	script   []answer
	requests []url.Values
	n        int
	// onSend, when set, runs on each request before it is answered.
	onSend func(form url.Values)
}

func newFakeTwilio(t *testing.T, script ...answer) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{t: t, script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	want := f.prefix + "/2010-04-01/Accounts/" + testSID + "/Messages.json"
	if r.Method != http.MethodPost || r.URL.Path != want {
		f.t.Errorf("fake twilio: %s %s, want POST %s", r.Method, r.URL.Path, want)
		http.NotFound(w, r)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		f.t.Errorf("fake twilio: Content-Type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("fake twilio: form: %v", err)
	}
	f.mu.Lock()
	f.requests = append(f.requests, r.PostForm)
	a := ok201
	if len(f.script) > 0 {
		a = f.script[min(f.n, len(f.script)-1)]
	}
	f.n++
	onSend := f.onSend
	f.mu.Unlock()
	if onSend != nil {
		onSend(r.PostForm)
	}

	user, pass, ok := r.BasicAuth()
	if !ok || user != testSID || pass != testToken {
		a = twilioError(401, 20003, "Authenticate")
	}
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	body := a.body
	if body == "" {
		body = messageJSON(r.PostForm)
	}
	if strings.HasPrefix(body, "{") || a.status < 300 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.status)
	w.Write([]byte(body))
}

// messageJSON is a message resource as Twilio returns it on 201.
func messageJSON(form url.Values) string {
	b, _ := json.Marshal(map[string]any{
		"account_sid":           testSID,
		"api_version":           "2010-04-01",
		"body":                  form.Get("Body"),
		"date_created":          "Thu, 24 Aug 2023 05:01:45 +0000",
		"date_sent":             nil,
		"date_updated":          "Thu, 24 Aug 2023 05:01:45 +0000",
		"direction":             "outbound-api",
		"error_code":            nil,
		"error_message":         nil,
		"from":                  form.Get("From"),
		"messaging_service_sid": form.Get("MessagingServiceSid"),
		"num_media":             "0",
		"num_segments":          "1",
		"price":                 nil,
		"price_unit":            "USD",
		"sid":                   "SM0123456789abcdef0123456789abcdef",
		"status":                "queued",
		"subresource_uris":      map[string]string{"media": "/2010-04-01/Accounts/" + testSID + "/Messages/SM0123456789abcdef0123456789abcdef/Media.json"},
		"to":                    form.Get("To"),
		"uri":                   "/2010-04-01/Accounts/" + testSID + "/Messages/SM0123456789abcdef0123456789abcdef.json",
	})
	return string(b)
}

// setOnSend sets onSend.
func (f *fakeTwilio) setOnSend(fn func(form url.Values)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onSend = fn
}

func (f *fakeTwilio) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fakeTwilio) last() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		return nil
	}
	return f.requests[len(f.requests)-1]
}

// sleeps records the waits of a Twilio sender instead of sleeping.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

// newTwilio returns a Twilio sender pointed at f that records its waits.
func newTwilio(f *fakeTwilio, log *slog.Logger) (*Twilio, *sleeps) {
	s := &sleeps{}
	return &Twilio{
		AccountSID: testSID,
		AuthToken:  testToken,
		From:       testFrom,
		APIBaseURL: f.srv.URL + f.prefix,
		HTTPClient: f.srv.Client(),
		Sleep:      s.sleep,
		Log:        log,
	}, s
}

// openDB opens a real database in a temporary folder.
func openDB(t *testing.T) *db.DB {
	t.Helper()
	return openDBAt(t, filepath.Join(t.TempDir(), "test.db"))
}

func openDBAt(t *testing.T, path string) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// captureLog returns a debug-level logger writing to the returned buffer.
func captureLog() (*slog.Logger, *logbuf.Buffer) {
	b := &logbuf.Buffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func msg(ref string) Message {
	return Message{To: testTo, Body: "Hi, this is Second Chance KC checking in about your referral.", Purpose: "followup", Ref: ref}
}
