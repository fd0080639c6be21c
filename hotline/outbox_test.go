package hotline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Without credentials the outbox is used, end to end.
func TestOutboxWithoutCredentials(t *testing.T) {
	d := openDB(t)
	log, buf := captureLog()
	s, err := NewSender(SenderConfig{}, d, log)
	if err != nil {
		t.Fatal(err)
	}
	if s.Provider != ProviderOutbox {
		t.Fatalf("provider %s", s.Provider)
	}
	ctx := context.Background()
	first, err := s.Send(ctx, msg("followup:1"))
	if err != nil {
		t.Fatal(err)
	}
	if first.Provider != ProviderOutbox || first.Status != "queued" || !strings.HasPrefix(first.SID, "outbox-") {
		t.Errorf("result %+v", first)
	}
	second, err := s.Send(ctx, msg("followup:1"))
	if err != nil || !second.Replayed || second.SID != first.SID {
		t.Errorf("second send %+v %v", second, err)
	}
	other := msg("results:1")
	other.Purpose = "results"
	if _, err := s.Send(ctx, other); err != nil {
		t.Fatal(err)
	}

	ob := NewOutbox(d)
	all, n, err := ob.List(ctx, OutboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || len(all) != 2 || all[0].Ref != "results:1" || all[1].Ref != "followup:1" {
		t.Fatalf("list %d %+v", n, all)
	}
	m := all[1]
	if m.To != testTo || m.Body != msg("").Body || m.Purpose != "followup" || m.Status != "queued" ||
		m.SID() != first.SID || time.Since(m.CreatedAt) > time.Minute {
		t.Errorf("outbox message %+v", m)
	}
	some, n, err := ob.List(ctx, OutboxFilter{Purpose: "results"})
	if err != nil || n != 1 || len(some) != 1 || some[0].Ref != "results:1" {
		t.Errorf("filtered list %d %+v %v", n, some, err)
	}
	page, n, err := ob.List(ctx, OutboxFilter{Limit: 1, Offset: 1})
	if err != nil || n != 2 || len(page) != 1 || page[0].Ref != "followup:1" {
		t.Errorf("paged list %d %+v %v", n, page, err)
	}
	if strings.Contains(buf.String(), testTo) {
		t.Errorf("log has the full number:\n%s", buf)
	}

	// The outbox honours opt-outs too (Logged checks before any provider).
	if err := s.OptOuts.OptOut(ctx, testTo, OptOutSourceStaff, "asked in person"); err != nil {
		t.Fatal(err)
	}
	var se *SendError
	if _, err := s.Send(ctx, msg("followup:2")); !errors.As(err, &se) || !se.OptedOut {
		t.Errorf("opted-out send via outbox: %v", err)
	}
	if _, n, _ := ob.List(ctx, OutboxFilter{}); n != 2 {
		t.Errorf("%d outbox messages after an opted-out send", n)
	}
}

// The Outbox alone is idempotent by Ref as well.
func TestOutboxIdempotent(t *testing.T) {
	ob := NewOutbox(openDB(t))
	ctx := context.Background()
	a, err := ob.Send(ctx, msg("r"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ob.Send(ctx, msg("r"))
	if err != nil || !b.Replayed || b.SID != a.SID {
		t.Errorf("second %+v %v", b, err)
	}
	changed := msg("r")
	changed.To = "+18165550999"
	if _, err := ob.Send(ctx, changed); apperr.Code(err) != apperr.ECONFLICT {
		t.Errorf("reused ref: %v", err)
	}
	if _, n, _ := ob.List(ctx, OutboxFilter{}); n != 1 {
		t.Errorf("%d rows", n)
	}
}

func TestNewSenderConfig(t *testing.T) {
	d := openDB(t)
	cases := []struct {
		cfg  SenderConfig
		want string // substring of the error; "" for none
	}{
		{SenderConfig{AccountSID: testSID}, "twilio.auth_token"},
		{SenderConfig{AuthToken: testToken}, "twilio.account_sid"},
		{SenderConfig{FromNumber: testFrom}, "twilio.account_sid"},
		{SenderConfig{AccountSID: testSID, AuthToken: testToken}, "twilio.from_number"},
		{SenderConfig{AccountSID: testSID, AuthToken: testToken, FromNumber: "816-555-0100"}, "twilio.from_number"},
		{SenderConfig{AccountSID: testSID, AuthToken: testToken, FromNumber: testFrom, APIBaseURL: "api.twilio.com"}, "twilio.api_base_url"},
		{SenderConfig{AccountSID: testSID, AuthToken: testToken, FromNumber: testFrom}, ""},
		{SenderConfig{AccountSID: testSID, AuthToken: testToken, MessagingServiceSID: testMG}, ""},
	}
	for _, c := range cases {
		s, err := NewSender(c.cfg, d, nil)
		if c.want == "" {
			if err != nil || s.Provider != ProviderTwilio {
				t.Errorf("%+v: %v", c.cfg, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || apperr.Code(err) != apperr.EINVALID {
			t.Errorf("%+v: err %v, want one naming %s", c.cfg, err, c.want)
		}
	}
}

// NewSender with credentials sends through twilio-go to the fake.
func TestNewSenderTwilio(t *testing.T) {
	f := newFakeTwilio(t, ok201)
	s, err := NewSender(SenderConfig{
		AccountSID: testSID, AuthToken: testToken, FromNumber: testFrom,
		APIBaseURL: f.srv.URL, StatusCallbackURL: "https://example.org/status",
	}, openDB(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Send(context.Background(), msg("r"))
	if err != nil || res.Provider != ProviderTwilio || f.count() != 1 || f.last().Get("StatusCallback") != "https://example.org/status" {
		t.Fatalf("%+v %v, %d requests", res, err, f.count())
	}
}
