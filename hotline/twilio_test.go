package hotline

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestTwilioSendForm(t *testing.T) {
	f := newFakeTwilio(t, ok201)
	tw, s := newTwilio(f, nil)
	tw.StatusCallback = "https://secondchancekc.org/hotline/sms/status"
	res, err := tw.Send(context.Background(), msg("followup:1"))
	if err != nil {
		t.Fatal(err)
	}
	if res.SID != "SM0123456789abcdef0123456789abcdef" || res.Status != "queued" || res.Provider != ProviderTwilio || res.Attempts != 1 {
		t.Errorf("result %+v", res)
	}
	form := f.last()
	for k, want := range map[string]string{
		"To": testTo, "From": testFrom, "Body": msg("").Body,
		"StatusCallback": tw.StatusCallback, "MessagingServiceSid": "",
	} {
		if got := form.Get(k); got != want {
			t.Errorf("form %s = %q, want %q", k, got, want)
		}
	}
	if len(s.waits) != 0 {
		t.Errorf("waited %v on success", s.waits)
	}

	// A messaging service instead of a From number; no status callback.
	tw.From, tw.MessagingServiceSID, tw.StatusCallback = "", testMG, ""
	if _, err := tw.Send(context.Background(), msg("followup:2")); err != nil {
		t.Fatal(err)
	}
	form = f.last()
	if form.Get("MessagingServiceSid") != testMG || form.Has("From") || form.Has("StatusCallback") {
		t.Errorf("form %v", form)
	}
}

// APIBaseURL may carry a path (a proxy mounted below /).
func TestTwilioBaseURLWithPath(t *testing.T) {
	f := newFakeTwilio(t, ok201)
	f.prefix = "/twilio-proxy"
	tw, _ := newTwilio(f, nil)
	if _, err := tw.Send(context.Background(), msg("r")); err != nil {
		t.Fatal(err)
	}
	if f.count() != 1 {
		t.Errorf("%d requests", f.count())
	}
}

// With the default base URL the request is built for api.twilio.com; a
// transport stands in for the network.
func TestTwilioDefaultBaseURL(t *testing.T) {
	var got *http.Request
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r
		r.ParseForm()
		return &http.Response{StatusCode: 201, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(messageJSON(r.PostForm))), Request: r}, nil
	})
	t.Setenv("TWILIO_EDGE", "sydney") // ignored: only our configuration routes requests
	tw := &Twilio{AccountSID: testSID, AuthToken: testToken, From: testFrom, HTTPClient: &http.Client{Transport: rt}}
	if _, err := tw.Send(context.Background(), msg("r")); err != nil {
		t.Fatal(err)
	}
	if want := "https://api.twilio.com/2010-04-01/Accounts/" + testSID + "/Messages.json"; got.URL.String() != want {
		t.Errorf("request to %s, want %s", got.URL, want)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTwilioAnswers(t *testing.T) {
	httpDate := time.Date(2030, 1, 1, 12, 0, 3, 0, time.UTC)
	cases := []struct {
		name     string
		script   []answer
		attempts int  // requests the fake sees
		ok       bool // Send succeeds
		check    func(*SendError) string
		unsure   bool            // ErrUnsure
		waits    []time.Duration // exact waits, when set
		waitsN   int             // number of waits, when waits is nil
	}{
		{name: "opted out", script: []answer{err21610}, attempts: 1,
			check: want(func(e *SendError) bool { return e.OptedOut && e.Permanent && e.Code == 21610 && e.Status == 400 })},
		{name: "invalid number", script: []answer{err21211}, attempts: 1,
			check: want(func(e *SendError) bool {
				return e.InvalidNumber && e.Permanent && !e.OptedOut && e.Code == 21211 && !strings.Contains(e.Msg, testTo) && strings.Contains(e.Msg, "+1816***0217")
			})},
		{name: "not a mobile", script: []answer{err21614}, attempts: 1,
			check: want(func(e *SendError) bool { return e.InvalidNumber && e.Permanent })},
		{name: "429 retry-after then ok", script: []answer{withRetryAfter(err429, "2"), ok201}, attempts: 2, ok: true,
			waits: []time.Duration{2 * time.Second}},
		{name: "429 retry-after date then ok", script: []answer{withRetryAfter(err429, httpDate.Format(http.TimeFormat)), ok201}, attempts: 2, ok: true,
			waits: []time.Duration{3 * time.Second}},
		{name: "429 no retry-after then ok", script: []answer{err429, ok201}, attempts: 2, ok: true,
			waits: []time.Duration{375 * time.Millisecond}},
		{name: "429 retry-after too long", script: []answer{withRetryAfter(err429, "120")}, attempts: 1,
			check: want(func(e *SendError) bool { return !e.Permanent && e.Status == 429 && e.RetryAfter == 2*time.Minute })},
		{name: "500 x3 then ok", script: []answer{err500, err500, err500, ok201}, attempts: 4, ok: true,
			waits: []time.Duration{375 * time.Millisecond, 750 * time.Millisecond, 1500 * time.Millisecond}},
		{name: "500 forever", script: []answer{err500}, attempts: 4,
			check:  want(func(e *SendError) bool { return !e.Permanent && e.Status == 500 && e.Code == 20500 && e.Attempts == 4 }),
			waitsN: 3},
		{name: "503 html then ok", script: []answer{html503, ok201}, attempts: 2, ok: true, waitsN: 1},
		{name: "201 malformed json", script: []answer{garbled}, attempts: 1, unsure: true},
		{name: "400 malformed json", script: []answer{garbled400}, attempts: 1,
			check: want(func(e *SendError) bool { return e.Permanent && e.Status == 400 && e.Code == 0 })},
		{name: "bad credentials", script: []answer{twilioError(401, 20003, "Authenticate")}, attempts: 1,
			check: want(func(e *SendError) bool { return e.Config && !e.Permanent && e.Status == 401 })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeTwilio(t, c.script...)
			tw, s := newTwilio(f, nil)
			tw.Now = func() time.Time { return httpDate.Add(-3 * time.Second) }
			tw.Random = func() float64 { return 0.5 }
			res, err := tw.Send(context.Background(), msg("r"))
			if got := f.count(); got != c.attempts {
				t.Errorf("%d requests, want %d", got, c.attempts)
			}
			switch {
			case c.ok:
				if err != nil {
					t.Fatalf("err %v", err)
				}
				if res.Attempts != c.attempts || res.SID == "" {
					t.Errorf("result %+v", res)
				}
			case c.unsure:
				if !errors.Is(err, ErrUnsure) {
					t.Fatalf("err %v, want ErrUnsure", err)
				}
			default:
				var se *SendError
				if !errors.As(err, &se) {
					t.Fatalf("err %T %v, want *SendError", err, err)
				}
				if msg := c.check(se); msg != "" {
					t.Errorf("%+v: %s", se, msg)
				}
			}
			if c.waits != nil && !equalDurations(s.waits, c.waits) {
				t.Errorf("waits %v, want %v", s.waits, c.waits)
			} else if c.waits == nil && len(s.waits) != c.waitsN {
				t.Errorf("waits %v, want %d of them", s.waits, c.waitsN)
			}
		})
	}
}

func want(ok func(*SendError) bool) func(*SendError) string {
	return func(e *SendError) string {
		if !ok(e) {
			return "not classified as expected"
		}
		return ""
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBackoffBounded(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 10}.withDefaults()
	for n := 1; n <= 10; n++ {
		for _, r := range []float64{0, 0.999} {
			d := p.backoff(n, func() float64 { return r })
			full := min(p.BaseDelay<<(n-1), p.MaxDelay)
			if d < full/2 || d > full {
				t.Errorf("attempt %d random %v: wait %v outside [%v, %v]", n, r, d, full/2, full)
			}
		}
	}
}

// A refused connection is a network error: retried, bounded, transient.
func TestTwilioNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	s := &sleeps{}
	tw := &Twilio{AccountSID: testSID, AuthToken: testToken, From: testFrom, APIBaseURL: url, Sleep: s.sleep}
	_, err := tw.Send(context.Background(), msg("r"))
	var se *SendError
	if !errors.As(err, &se) || se.Permanent || se.Status != 0 || se.Attempts != 4 || len(s.waits) != 3 {
		t.Fatalf("err %v (%+v), waits %v", err, se, s.waits)
	}
}

// A context that ends while waiting to retry ends Send with its error and
// no further request.
func TestTwilioContextEndsDuringBackoff(t *testing.T) {
	f := newFakeTwilio(t, err500)
	tw, _ := newTwilio(f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	tw.Sleep = func(ctx context.Context, d time.Duration) error { cancel(); return ctx.Err() }
	_, err := tw.Send(ctx, msg("r"))
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnsure) || f.count() != 1 {
		t.Fatalf("err %v after %d requests", err, f.count())
	}
}

// A context that ends while Twilio is answering leaves the outcome unknown.
func TestTwilioContextEndsInFlight(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	tw := &Twilio{AccountSID: testSID, AuthToken: testToken, From: testFrom, APIBaseURL: srv.URL}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := tw.Send(ctx, msg("r"))
	if !errors.Is(err, ErrUnsure) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want ErrUnsure and the deadline", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Send ignored its context for %v", time.Since(start))
	}
}

func TestTwilioRejectsBadMessages(t *testing.T) {
	f := newFakeTwilio(t)
	tw, _ := newTwilio(f, nil)
	for _, m := range []Message{
		{To: "8165550217", Body: "x", Ref: "r"},
		{To: testTo, Body: " ", Ref: "r"},
		{To: testTo, Body: strings.Repeat("x", MaxBodyLength+1), Ref: "r"},
		{To: testTo, Body: "x"},
	} {
		if _, err := tw.Send(context.Background(), m); err == nil || strings.Contains(err.Error(), "8165550217") {
			t.Errorf("%+v: err %v", m, err)
		}
	}
	if f.count() != 0 {
		t.Errorf("%d requests for invalid messages", f.count())
	}
}

func TestMaskPhone(t *testing.T) {
	for in, want := range map[string]string{
		"+18165550217":  "+1816***0217",
		"+442071838750": "+4420***8750",
		"5550217":       "***17",
		"911":           "***",
		"":              "",
	} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
	if got := maskNumbersIn("The 'To' number +18165550217 is not valid"); got != "The 'To' number +1816***0217 is not valid" {
		t.Errorf("maskNumbersIn: %q", got)
	}
}
