package hotline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Provider names, as stored in sms_message.provider.
const (
	ProviderTwilio = "twilio"
	ProviderOutbox = "outbox"
)

// DefaultAPIBaseURL is Twilio's REST API.
const DefaultAPIBaseURL = "https://api.twilio.com"

// RetryPolicy bounds the retries of one Send. Zero fields take the
// defaults in brackets.
type RetryPolicy struct {
	// MaxAttempts is the most requests one Send makes [4].
	MaxAttempts int
	// BaseDelay is the wait after the first failure; it doubles after each
	// further one, with jitter [500ms].
	BaseDelay time.Duration
	// MaxDelay caps one backoff wait [8s].
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After honoured; a longer one ends
	// the Send with a transient error carrying RetryAfter, for the caller's
	// scheduler to try again later [30s].
	MaxRetryAfter time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 4
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 500 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 8 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 30 * time.Second
	}
	return p
}

// backoff is the wait after failed attempt n (1-based): BaseDelay·2^(n-1)
// capped at MaxDelay, of which a random half is taken off so that many
// senders do not retry in step.
func (p RetryPolicy) backoff(n int, random func() float64) time.Duration {
	d := p.BaseDelay
	for i := 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	return d/2 + time.Duration(random()*float64(d/2))
}

// Twilio sends texts through Twilio's Messages API with twilio-go's REST
// client. Build it from plain configuration values; the zero values of the
// optional fields are sensible.
//
// Only rate limits (429), Twilio's own failures (5xx) and network errors
// are retried, with bounded exponential backoff. A 5xx or a dropped
// connection after the request was written could mean Twilio accepted it
// anyway; that small risk of a duplicate text is taken rather than the risk
// of a follow-up never arriving. Refusals (21610, 21211, ...) are never
// retried.
type Twilio struct {
	AccountSID          string
	AuthToken           string
	From                string // E.164 sender; or
	MessagingServiceSID string // MG... (Twilio picks the sender); either or both
	// APIBaseURL replaces https://api.twilio.com (a fake in tests, a proxy).
	APIBaseURL string
	// StatusCallback, when set, is the URL Twilio reports delivery to.
	StatusCallback string
	// HTTPClient carries the requests; its Transport and Timeout are used
	// (default: http.DefaultTransport, 15s).
	HTTPClient *http.Client
	Retry      RetryPolicy
	// Sleep waits between attempts; tests replace it. It returns ctx's error
	// if ctx ends first.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now reads the clock for Retry-After dates.
	Now func() time.Time
	// Random returns a number in [0,1) for backoff jitter.
	Random func() float64
	Log    *slog.Logger
}

// Send implements Sender. Errors are *SendError (classified), ErrUnsure
// wrapped (Twilio may have accepted the message), EINVALID, or ctx's error
// when it ended between attempts.
func (t *Twilio) Send(ctx context.Context, m Message) (Result, error) {
	if err := m.Validate(); err != nil {
		return Result{}, err
	}
	if t.AccountSID == "" || t.AuthToken == "" || (t.From == "" && t.MessagingServiceSID == "") {
		return Result{}, apperr.Errorf(apperr.EINVALID, "twilio sender needs an account SID, an auth token and a From number or messaging service SID")
	}
	p := t.Retry.withDefaults()
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return Result{Attempts: n - 1}, err
		}
		res, err := t.attempt(ctx, m)
		if err == nil {
			res.Attempts = n
			return res, nil
		}
		var se *SendError
		if !errors.As(err, &se) {
			return Result{Attempts: n}, err
		}
		se.Attempts = n
		if !se.retryNow() || n >= p.MaxAttempts {
			return Result{Attempts: n}, se
		}
		wait := p.backoff(n, t.random())
		if se.RetryAfter > 0 {
			if se.RetryAfter > p.MaxRetryAfter {
				return Result{Attempts: n}, se
			}
			wait = se.RetryAfter
		}
		t.log().WarnContext(ctx, "twilio send failed; retrying",
			"to", MaskPhone(m.To), "ref", m.Ref, "attempt", n, "status", se.Status, "code", se.Code, "wait", wait)
		if err := t.sleep(ctx, wait); err != nil {
			return Result{Attempts: n}, err
		}
	}
}

// attempt makes one request. A new twilio-go client per attempt (cheap: it
// only allocates) lets its transport tie the request to ctx, which twilio-go
// does not, and see the HTTP status and Retry-After it does not report.
func (t *Twilio) attempt(ctx context.Context, m Message) (Result, error) {
	target, err := url.Parse(orDefault(t.APIBaseURL, DefaultAPIBaseURL))
	if err != nil || target.Host == "" {
		return Result{}, apperr.Errorf(apperr.EINVALID, "twilio.api_base_url must be an http(s) URL such as https://api.twilio.com")
	}
	base, timeout := http.DefaultTransport, 15*time.Second
	if t.HTTPClient != nil {
		if t.HTTPClient.Transport != nil {
			base = t.HTTPClient.Transport
		}
		timeout = t.HTTPClient.Timeout
	}
	tr := &callTransport{base: base, target: target, ctx: ctx}
	defer tr.release()
	c := &client.Client{
		Credentials: client.NewCredentials(t.AccountSID, t.AuthToken),
		HTTPClient: &http.Client{
			Transport: tr,
			Timeout:   timeout,
			// Never follow a redirect with our credentials.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(t.AccountSID)
	rc := twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})
	// twilio-go reads TWILIO_EDGE/TWILIO_REGION from the environment; only
	// our configuration decides where requests go.
	rc.SetEdge("")
	rc.SetRegion("")

	params := &api.CreateMessageParams{}
	params.SetTo(m.To)
	params.SetBody(m.Body)
	if t.From != "" {
		params.SetFrom(t.From)
	}
	if t.MessagingServiceSID != "" {
		params.SetMessagingServiceSid(t.MessagingServiceSID)
	}
	if t.StatusCallback != "" {
		params.SetStatusCallback(t.StatusCallback)
	}
	msg, err := rc.Api.CreateMessage(params)

	status, retryAfter, sent := tr.answer()
	if err != nil && ctx.Err() != nil {
		if sent {
			return Result{}, fmt.Errorf("%w: %w", ErrUnsure, ctx.Err())
		}
		return Result{}, ctx.Err()
	}
	if err == nil && status >= 200 && status < 300 {
		if msg == nil || msg.Sid == nil || *msg.Sid == "" {
			return Result{}, fmt.Errorf("%w: Twilio answered %d without a message sid", ErrUnsure, status)
		}
		res := Result{SID: *msg.Sid, Provider: ProviderTwilio}
		if msg.Status != nil {
			res.Status = *msg.Status
		}
		return res, nil
	}
	var se *SendError
	var te *client.TwilioRestError
	switch {
	case errors.As(err, &te):
		s := status
		if s == 0 {
			s = te.Status
		}
		se = classify(te.Code, s, te.Message)
	case status == 0:
		se = &SendError{Msg: "no answer from Twilio: " + maskNumbersIn(err.Error())}
	case status >= 200 && status < 300:
		return Result{}, fmt.Errorf("%w: Twilio answered %d but the answer could not be read: %v", ErrUnsure, status, err)
	case err == nil:
		se = classify(0, status, fmt.Sprintf("unexpected answer %d", status))
		se.Permanent, se.Config = false, true
	default:
		se = classify(0, status, "unreadable answer from Twilio")
	}
	se.err = err
	if se.Status == http.StatusTooManyRequests || se.Status >= 500 {
		se.RetryAfter = parseRetryAfter(retryAfter, t.now())
	}
	return Result{}, se
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return max(0, time.Duration(s)*time.Second)
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(0, at.Sub(now))
	}
	return 0
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (t *Twilio) sleep(ctx context.Context, d time.Duration) error {
	if t.Sleep != nil {
		return t.Sleep(ctx, d)
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

func (t *Twilio) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Twilio) random() func() float64 {
	if t.Random != nil {
		return t.Random
	}
	return rand.Float64
}

func (t *Twilio) log() *slog.Logger {
	if t.Log != nil {
		return t.Log
	}
	return slog.New(slog.DiscardHandler)
}

// callTransport carries the requests of one attempt: it sends them to the
// configured base URL instead of https://api.twilio.com, cancels them with
// the caller's ctx, and remembers the answer's status and Retry-After.
type callTransport struct {
	base   http.RoundTripper
	target *url.URL
	ctx    context.Context

	mu         sync.Mutex
	sent       bool // a request was handed to the network
	status     int
	retryAfter string
	bodies     []*releaseBody
}

func (c *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	u.Scheme, u.Host = c.target.Scheme, c.target.Host
	u.Path = strings.TrimSuffix(c.target.Path, "/") + "/" + strings.TrimLeft(req.URL.Path, "/")
	u.RawPath = ""
	// Keep the request's own context (it carries the client's Timeout) and
	// also end it when the caller's ctx ends.
	rctx, cancel := context.WithCancelCause(req.Context())
	stop := context.AfterFunc(c.ctx, func() { cancel(context.Cause(c.ctx)) })
	r := req.Clone(rctx)
	r.URL = &u
	r.Host = ""
	c.mu.Lock()
	c.sent = true
	c.mu.Unlock()
	resp, err := c.base.RoundTrip(r)
	if err != nil {
		stop()
		cancel(nil)
		return nil, err
	}
	b := &releaseBody{ReadCloser: resp.Body, done: func() { stop(); cancel(nil) }}
	resp.Body = b
	c.mu.Lock()
	c.status, c.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	c.bodies = append(c.bodies, b)
	c.mu.Unlock()
	return resp, nil
}

func (c *callTransport) answer() (status int, retryAfter string, sent bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status, c.retryAfter, c.sent
}

// release closes any answer twilio-go left open (it does not close the body
// of an error answer).
func (c *callTransport) release() {
	c.mu.Lock()
	bs := c.bodies
	c.mu.Unlock()
	for _, b := range bs {
		b.Close()
	}
}

type releaseBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *releaseBody) Close() error {
	var err error
	b.once.Do(func() {
		err = b.ReadCloser.Close()
		b.done()
	})
	return err
}
