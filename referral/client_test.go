package referral

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		In, Want string
		Invalid  bool
	}{
		{In: "(816) 231-0217", Want: phoneE164},
		{In: "816.231.0217", Want: phoneE164},
		{In: "+1 816 231 0217", Want: phoneE164},
		{In: "1-816-231-0217", Want: phoneE164},
		{In: "8162310217", Want: phoneE164},
		{In: " +18162310217 ", Want: phoneE164},
		{In: "+44 20 7946 0958", Want: "+442079460958"},
		{In: "", Want: ""},
		{In: "123", Invalid: true},
		{In: "call me", Invalid: true},
		{In: "(816) 231-02", Invalid: true},
		{In: "816-231-0217 ext 5", Invalid: true},
		{In: strings.Repeat("8", 50), Invalid: true},
	} {
		t.Run(tc.In, func(t *testing.T) {
			got, err := NormalizePhone(tc.In)
			if tc.Invalid {
				wantCode(t, err, apperr.EINVALID, "phone")
				if digits := strings.Map(keepDigits, tc.In); len(digits) >= 4 && strings.Contains(apperr.Message(err), digits[len(digits)-4:]) {
					t.Errorf("message %q repeats the number", apperr.Message(err))
				}
				return
			}
			if err != nil || got != tc.Want {
				t.Fatalf("NormalizePhone(%q) = %q, %v; want %q", tc.In, got, err, tc.Want)
			}
		})
	}
}

func keepDigits(r rune) rune {
	if r >= '0' && r <= '9' {
		return r
	}
	return -1
}

func TestMaskPhone(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"+18162310217":  "+1******0217",
		"+442079460958": "+4*******0958",
		"":              "",
		"+123":          "****",
	} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

// A client printed or logged by mistake shows neither phone nor name.
func TestClientNeverPrintsPhone(t *testing.T) {
	t.Parallel()
	c := Client{ID: "c1", Phone: phoneE164, Name: "Marcus Bell", Language: LanguageEN}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("follow-up", "client", c)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %s", c, c, c), buf.String()} {
		if strings.Contains(out, "2310217") || strings.Contains(out, "Marcus") {
			t.Errorf("leaks the phone or name: %s", out)
		}
	}
}

func TestCreateReferralNormalisesPhone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var clientID string
	for i, raw := range []string{"(816) 231-0217", "816.231.0217", "+1 816 231 0217"} {
		n := basic()
		n.Client.Phone = raw
		r := e.create(t, n)
		if r.Client.Phone != phoneE164 {
			t.Errorf("%q: stored phone %q, want %s", raw, r.Client.Phone, phoneE164)
		}
		if i == 0 {
			clientID = r.ClientID
		} else if r.ClientID != clientID {
			t.Errorf("%q: client %s, want the same client %s for the same number", raw, r.ClientID, clientID)
		}
	}
	n := basic()
	n.Client.Phone = "816-231-02"
	_, _, err := e.CreateReferral(context.Background(), n)
	wantCode(t, err, apperr.EINVALID, "client.phone")
}

func TestAnonymousReferral(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := basic()
	n.Client = Client{}
	n.Channel, n.CreatedBy = ChannelWeb, "system:web"
	a := e.create(t, n)
	b := e.create(t, n)
	if a.Client.Phone != "" || a.Client.Language != LanguageEN {
		t.Errorf("anonymous client = %+v, want no phone and language en", *a.Client)
	}
	if a.Client.CanFollowUp() {
		t.Error("an anonymous client can be followed up")
	}
	if a.ClientID == b.ClientID {
		t.Error("two anonymous referrals share a client")
	}
	got, err := e.GetReferral(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Client.Phone != "" || len(got.Services) != 1 {
		t.Errorf("stored anonymous referral = %+v", got)
	}
}

func TestConsentStoredWithExactWords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	words := "Can we text you in a week to ask whether Bridgeway helped? Press 1 for yes."
	at := time.Date(2026, 3, 1, 18, 4, 5, 123456000, time.UTC)
	n := basic()
	n.Client.Name = "Marcus"
	n.Client.Language = LanguageES
	n.Client.Consent = &Consent{Given: true, At: at, Channel: ChannelVoice, Words: words}
	r := e.create(t, n)
	got, err := e.GetReferral(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := got.Client
	if c.Consent == nil || !c.Consent.Given || c.Consent.Words != words || c.Consent.Channel != ChannelVoice || !c.Consent.At.Equal(at) {
		t.Fatalf("consent = %+v, want given at %s by voice with the exact words", c.Consent, at)
	}
	if c.Language != LanguageES || c.Name != "Marcus" || !c.CanFollowUp() {
		t.Errorf("client = %+v", c)
	}

	// Consent without the words is refused, naming the field.
	n.Client.Consent = &Consent{Given: true, Channel: ChannelVoice}
	_, _, err = e.CreateReferral(ctx, n)
	wantCode(t, err, apperr.EINVALID, "client.consent.words")

	// A later "no" replaces the yes, and the change is in the audit trail.
	cl, err := e.SetConsent(ctx, r.ClientID, Consent{Given: false, Channel: ChannelSMS, Words: "Reply YES to get a follow-up text."}, "staff-7")
	if err != nil {
		t.Fatal(err)
	}
	if cl.CanFollowUp() || cl.Consent.Given || cl.Consent.At.IsZero() {
		t.Errorf("after SetConsent no: %+v", cl.Consent)
	}
	ev := lastEvent(t, e, r.ID, ActionConsentSet)
	var before, after Consent
	mustUnmarshal(t, ev.Before, &before)
	mustUnmarshal(t, ev.After, &after)
	if !before.Given || before.Words != words || after.Given || ev.Actor != "staff-7" {
		t.Errorf("consent event = %s -> %s by %s", ev.Before, ev.After, ev.Actor)
	}
}

func TestOptOutAndIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	// STOP from a number we never saw: remembered, so that a later
	// referral starts opted out.
	cl, err := e.OptOut(ctx, "816.231.0217", "system:sms")
	if err != nil {
		t.Fatal(err)
	}
	if cl.OptedOutAt == nil || cl.Phone != phoneE164 {
		t.Fatalf("OptOut = %+v", cl)
	}
	n := basic()
	n.Client.Consent = &Consent{Given: true, Channel: ChannelVoice, Words: "Press 1 to get a text."}
	r := e.create(t, n)
	if r.ClientID != cl.ID || r.Client.OptedOutAt == nil || r.Client.CanFollowUp() {
		t.Errorf("referral after opt-out: client %+v, want the opted-out client", r.Client)
	}
	again, err := e.OptOut(ctx, phoneRaw, "system:sms")
	if err != nil || !again.OptedOutAt.Equal(*cl.OptedOutAt) {
		t.Errorf("second OptOut = %+v, %v; want no change", again, err)
	}
	in, err := e.OptIn(ctx, phoneRaw, "system:sms")
	if err != nil {
		t.Fatal(err)
	}
	if in.OptedOutAt != nil || !in.CanFollowUp() {
		t.Errorf("after OptIn: %+v", in)
	}
	_, err = e.OptIn(ctx, "(913) 555-0100", "system:sms")
	wantCode(t, err, apperr.ENOTFOUND, "")
	_, err = e.OptOut(ctx, "12", "system:sms")
	wantCode(t, err, apperr.EINVALID, "phone")

	var actions []string
	evs, err := e.Events(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		actions = append(actions, ev.Action)
	}
	want := []string{ActionClientCreated, ActionOptedOut, ActionConsentSet, ActionReferralCreated, ActionOptedIn}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", actions, want)
	}
}

func TestDeleteClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	n := basic()
	n.Client.Name = "Marcus Bell"
	n.Client.Consent = &Consent{Given: true, Channel: ChannelVoice, Words: "Press 1 to get a text."}
	n.Notes = "Marcus says his PO is Officer Diaz."
	r1 := e.create(t, n)
	n.NeedCategory, n.ServiceIDs, n.Client.Name = "housing", []string{svcMensHouse, svcShelter}, "Marcus J. Bell"
	r2 := e.create(t, n)
	if _, err := e.RecordOutcome(ctx, r1.ID, "", Outcome{Reached: ptr(true), GotHelp: GotHelpYes, Source: SourceSMS}, "system:sms"); err != nil {
		t.Fatal(err)
	}
	other := basic()
	other.Client.Phone = "(913) 555-0147"
	e.create(t, other)

	if err := e.DeleteClient(ctx, r1.ClientID, "staff-7"); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteClient(ctx, r1.ClientID, "staff-7"); err != nil {
		t.Fatalf("second DeleteClient: %v", err)
	}

	cl, err := e.GetClient(ctx, r1.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Phone != "" || cl.Name != "" || cl.Consent != nil || cl.DeletedAt == nil || cl.CanFollowUp() {
		t.Errorf("deleted client = %+v", cl)
	}
	_, err = e.FindClient(ctx, phoneRaw)
	wantCode(t, err, apperr.ENOTFOUND, "")

	// The de-identified facts still count.
	rs, total, err := e.ListReferrals(ctx, ReferralFilter{ClientID: r1.ClientID})
	if err != nil {
		t.Fatal(err)
	}
	if total != 2 || len(rs) != 2 {
		t.Fatalf("referrals of the deleted client: %d, want 2", total)
	}
	got, err := e.GetReferral(ctx, r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Notes != "" || got.NeedCategory != "employment" || got.ZIP != "64127" || got.Channel != ChannelVoice ||
		got.Outcome == nil || got.Outcome.GotHelp != GotHelpYes || got.Services[0].Phone != "(816) 555-0101" {
		t.Errorf("referral after deletion = %+v", got)
	}
	if _, total, _ := e.ListReferrals(ctx, ReferralFilter{NeedCategory: "housing"}); total != 1 {
		t.Errorf("housing referrals after deletion: %d, want 1", total)
	}

	// Nothing personal is left in the audit trail, and the deletion is in it.
	for _, id := range []string{r1.ID, r2.ID} {
		evs, err := e.Events(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(evs)
		for _, s := range []string{"Marcus", "Diaz", "0217"} {
			if strings.Contains(string(b), s) {
				t.Errorf("events of %s still hold %q: %s", id, s, b)
			}
		}
		if last := evs[len(evs)-1]; last.Action != ActionClientDeleted || last.Actor != "staff-7" {
			t.Errorf("last event = %+v, want client.deleted by staff-7", last)
		}
		// The service snapshots in referral.created are not the person's.
		if !strings.Contains(string(b), "Bridgeway") && !strings.Contains(string(b), "New Roots") {
			t.Errorf("events of %s lost the service snapshot: %s", id, b)
		}
	}
	// The number is free again: a new referral makes a new client.
	r3 := e.create(t, basic())
	if r3.ClientID == r1.ClientID || r3.Client.Phone != phoneE164 {
		t.Errorf("new referral after deletion: client %s %q", r3.ClientID, r3.Client.Phone)
	}
	// The other client is untouched.
	if c, err := e.FindClient(ctx, "(913) 555-0147"); err != nil || c.DeletedAt != nil {
		t.Errorf("other client: %+v, %v", c, err)
	}
	_, err = e.SetConsent(ctx, r1.ClientID, Consent{Given: true, Channel: ChannelStaff, Words: "ok"}, "staff-7")
	wantCode(t, err, apperr.ECONFLICT, "")
}

func lastEvent(t testing.TB, e *env, referralID, action string) Event {
	t.Helper()
	evs, err := e.Events(context.Background(), referralID)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Action == action {
			return evs[i]
		}
	}
	t.Fatalf("no %s event for %s", action, referralID)
	return Event{}
}

func mustUnmarshal(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
}
