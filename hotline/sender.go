// Package hotline is the phone side of Second Chance: the Twilio voice menu
// and SMS conversations, and the sending of text messages (this file,
// twilio.go, outbox.go, logged.go and optout.go).
//
// Sending goes through a [Logged] sender that wraps either [Twilio] (when an
// account is configured) or the local [Outbox] (when not, so a fresh install
// works end to end). Logged makes every send idempotent by the caller's
// Message.Ref, refuses numbers that opted out, and records Twilio's opt-out
// answers. Phone numbers are sensitive: logs and error texts carry only
// [MaskPhone]'s form.
package hotline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/db"
)

// Sender sends one text message. It is declared here because NewSender
// returns its implementations; consumers (referral/, the SMS conversation)
// declare their own one-method interface where they use it, per
// CONVENTIONS.md, rather than importing this one.
type Sender interface {
	Send(ctx context.Context, m Message) (Result, error)
}

var (
	_ Sender = (*Twilio)(nil)
	_ Sender = (*Outbox)(nil)
	_ Sender = (*Logged)(nil)
)

// MaxBodyLength is the longest body Twilio accepts (in characters).
const MaxBodyLength = 1600

// Message is one outgoing text.
type Message struct {
	// To is the recipient in E.164 form, e.g. +18165550123.
	To   string
	Body string
	// Purpose says why it is sent ("followup", "results", ...), for staff
	// pages and reports.
	Purpose string
	// Ref is the caller's idempotency key, e.g. "followup:<id>": a second
	// Send with the same Ref never sends a second text.
	Ref string
	// With, when set, is a write of the caller's that the Logged sender
	// commits in the transaction that logs the message, before the text
	// can go (a referral of the results texted: one commit, not two). It
	// runs on every Send with the Ref, even one that sends nothing, and
	// may run more than once (see db.Batcher): it must be idempotent.
	With func(ctx context.Context, tx *sql.Tx) error
}

// Validate reports a message that cannot be sent, as EINVALID. The message
// never contains the number itself.
func (m Message) Validate() error {
	if !IsE164(m.To) {
		return apperr.Errorf(apperr.EINVALID, "the recipient number must be in E.164 form, e.g. +18165550123 (got %s)", MaskPhone(m.To))
	}
	if strings.TrimSpace(m.Body) == "" {
		return apperr.Errorf(apperr.EINVALID, "the message body is empty")
	}
	if n := utf8.RuneCountInString(m.Body); n > MaxBodyLength {
		return apperr.Errorf(apperr.EINVALID, "the message body has %d characters; at most %d are accepted", n, MaxBodyLength)
	}
	if strings.TrimSpace(m.Ref) == "" {
		return apperr.Errorf(apperr.EINVALID, "the message has no ref (the idempotency key, e.g. followup:<id>)")
	}
	return nil
}

// Result is what a provider said when it accepted a message.
type Result struct {
	// SID is the provider's id for the message (Twilio's SM..., or
	// outbox-<n>).
	SID string
	// Status is the provider's status on acceptance: Twilio's "queued" or
	// "accepted", the outbox's "queued".
	Status string
	// Provider is "twilio" or "outbox".
	Provider string
	// Attempts is how many HTTP requests the send took (1 for the outbox).
	Attempts int
	// Replayed is true when the result comes from the log of an earlier Send
	// with the same Ref and nothing was sent this time.
	Replayed bool
}

// ErrUnsure means the message may or may not have gone out: a send with the
// same Ref was started and never finished (the process was killed while
// waiting for Twilio, or Twilio's answer could not be read). Sending again
// could text the person twice, so nothing is sent; staff check Twilio's log
// and call [Logged.Release] if it did not go.
var ErrUnsure = errors.New("hotline: the message may already have been sent")

// SendError is a provider's refusal, classified so the caller knows what to
// do: record an opt-out, fix the number, or try again later.
type SendError struct {
	// Code is Twilio's error code (21610, 21211, ...), 0 when there is none.
	Code int
	// Status is the HTTP status of the answer, 0 for a network error.
	Status int
	// Permanent means this message can never be sent as it is; never retry.
	Permanent bool
	// OptedOut means the recipient replied STOP (21610); the number is
	// recorded in opt_out and nothing more is sent to it.
	OptedOut bool
	// InvalidNumber means the number cannot receive texts (21211, 21614...).
	InvalidNumber bool
	// Config means our side is wrong (credentials, a From number we do not
	// own): the message itself is fine and may be retried after the fix.
	Config bool
	// Msg is the provider's message with phone numbers masked.
	Msg string
	// Attempts is how many requests were made before giving up.
	Attempts int
	// RetryAfter is the wait the provider asked for (Retry-After), if any.
	RetryAfter time.Duration
	err        error
}

// Error implements error.
func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("sms not sent")
	if e.Code != 0 {
		fmt.Fprintf(&b, ": Twilio error %d", e.Code)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Msg != "" {
		b.WriteString(": " + e.Msg)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	return b.String()
}

// Unwrap returns the underlying network or decoding error, if any.
func (e *SendError) Unwrap() error { return e.err }

// retryNow reports whether another attempt right away (after a backoff) may
// succeed: rate limits, Twilio's own failures and network errors.
func (e *SendError) retryNow() bool {
	return !e.Permanent && !e.Config && (e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status >= 500)
}

// Twilio error codes that say the recipient's number cannot take texts.
var invalidNumberCodes = map[int]bool{
	21211: true, // invalid 'To' phone number
	21217: true, // phone number does not appear to be valid
	21401: true, // invalid phone number
	21614: true, // 'To' number is not a valid mobile number
}

// Twilio error codes that say our account or sender settings are wrong.
var configCodes = map[int]bool{
	20003: true, // authentication failed
	21212: true, // invalid 'From' number
	21606: true, // 'From' number is not a valid SMS sender for this account
	21659: true, // 'From' is not a Twilio number we own
	21660: true, // mismatch between 'From' and the account
	21222: true, // twilio-go: illegal characters in the account SID
	21224: true, // twilio-go: illegal characters in the auth token
}

// CodeOptedOut is Twilio's "attempt to send to an unsubscribed recipient".
const CodeOptedOut = 21610

// classify builds the SendError for a Twilio answer with this code and HTTP
// status.
func classify(code, status int, msg string) *SendError {
	e := &SendError{Code: code, Status: status, Msg: maskNumbersIn(msg)}
	switch {
	case code == CodeOptedOut:
		e.OptedOut, e.Permanent = true, true
	case invalidNumberCodes[code]:
		e.InvalidNumber, e.Permanent = true, true
	case configCodes[code], status == http.StatusUnauthorized, status == http.StatusForbidden, status == http.StatusNotFound:
		e.Config = true
	case status == http.StatusTooManyRequests, status >= 500, status == http.StatusRequestTimeout:
	case status >= 400:
		e.Permanent = true
	}
	return e
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// IsE164 reports whether s is a phone number in E.164 form (+ and 8 to 15
// digits).
func IsE164(s string) bool { return e164.MatchString(s) }

// MaskPhone returns a form of a phone number safe to log: the country and
// area code and the last four digits, e.g. +1816***0217. Short or odd input
// keeps at most its last two characters.
func MaskPhone(s string) string {
	r := []rune(s)
	switch {
	case len(r) >= 10:
		return string(r[:5]) + "***" + string(r[len(r)-4:])
	case len(r) >= 5:
		return "***" + string(r[len(r)-2:])
	case len(r) == 0:
		return ""
	}
	return "***"
}

var phoneLike = regexp.MustCompile(`\+?[0-9]{7,15}`)

// maskNumbersIn masks anything that looks like a phone number in a
// provider's message (Twilio repeats the number in 21211's text).
func maskNumbersIn(s string) string {
	return phoneLike.ReplaceAllStringFunc(s, MaskPhone)
}

// SenderConfig is the plain configuration NewSender builds a sender from;
// cmd fills it from the twilio.* settings.
type SenderConfig struct {
	AccountSID          string // twilio.account_sid
	AuthToken           string // twilio.auth_token
	FromNumber          string // twilio.from_number
	MessagingServiceSID string // twilio.messaging_service_sid
	APIBaseURL          string // twilio.api_base_url; empty means https://api.twilio.com
	// StatusCallbackURL, when set, is given to Twilio to report delivery.
	StatusCallbackURL string
	// HTTPClient, when set, carries the requests (tests, proxies).
	HTTPClient *http.Client
	// Retry bounds retries; zero fields take the defaults.
	Retry RetryPolicy
}

// UsesTwilio reports whether any Twilio credential is set; when none is,
// the local outbox is used.
func (c SenderConfig) UsesTwilio() bool {
	return c.AccountSID != "" || c.AuthToken != "" || c.FromNumber != "" || c.MessagingServiceSID != ""
}

// Validate reports a partial or malformed Twilio configuration, naming the
// setting to fix. An entirely empty one is valid (the outbox is used).
func (c SenderConfig) Validate() error {
	if !c.UsesTwilio() {
		return nil
	}
	switch {
	case c.AccountSID == "":
		return apperr.Errorf(apperr.EINVALID, "twilio.account_sid is empty but other twilio settings are set: set it too, or clear them all to use the local outbox")
	case c.AuthToken == "":
		return apperr.Errorf(apperr.EINVALID, "twilio.auth_token is empty but twilio.account_sid is set: set it too, or clear them all to use the local outbox")
	case c.FromNumber == "" && c.MessagingServiceSID == "":
		return apperr.Errorf(apperr.EINVALID, "twilio.from_number and twilio.messaging_service_sid are both empty: set one of them to send through Twilio")
	case c.FromNumber != "" && !IsE164(c.FromNumber):
		return apperr.Errorf(apperr.EINVALID, "twilio.from_number must be an E.164 number such as +18165550100")
	}
	if c.APIBaseURL != "" {
		if u, err := url.Parse(c.APIBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return apperr.Errorf(apperr.EINVALID, "twilio.api_base_url must be an http(s) URL such as https://api.twilio.com")
		}
	}
	return nil
}

// NewSender returns the sender to use: Twilio when credentials and a sender
// (From number or messaging service) are set, else the local outbox; either
// way wrapped in Logged. A partial configuration is an EINVALID error naming
// the missing setting.
func NewSender(cfg SenderConfig, d *db.DB, log *slog.Logger) (*Logged, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !cfg.UsesTwilio() {
		return NewLogged(NewOutbox(d), ProviderOutbox, d, log), nil
	}
	t := &Twilio{
		AccountSID:          cfg.AccountSID,
		AuthToken:           cfg.AuthToken,
		From:                cfg.FromNumber,
		MessagingServiceSID: cfg.MessagingServiceSID,
		APIBaseURL:          cfg.APIBaseURL,
		StatusCallback:      cfg.StatusCallbackURL,
		HTTPClient:          cfg.HTTPClient,
		Retry:               cfg.Retry,
		Log:                 log,
	}
	return NewLogged(t, ProviderTwilio, d, log), nil
}
