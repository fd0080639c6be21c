package referral

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/sms"
)

// fakeSender records texts by ref and, like the hotline's logged sender,
// never sends a ref twice: a ref sent before answers nil without sending, a
// ref whose send never finished answers ErrSendUnsure.
type fakeSender struct {
	mu       sync.Mutex
	sent     []SMS
	byRef    map[string]string // ref -> "sent" | "inflight"
	fail     map[string]error  // by To: the error to answer
	inflight bool              // leave the next send in flight and fail with ctx's error
	cancel   context.CancelFunc
}

func (f *fakeSender) SendSMS(ctx context.Context, m SMS) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byRef == nil {
		f.byRef = map[string]string{}
	}
	switch f.byRef[m.Ref] {
	case "sent":
		return nil
	case "inflight":
		return ErrSendUnsure
	}
	if err := f.fail[m.To]; err != nil {
		return err
	}
	if f.inflight {
		// The process "dies" while waiting for the provider.
		f.byRef[m.Ref] = "inflight"
		f.inflight = false
		f.cancel()
		return ctx.Err()
	}
	f.byRef[m.Ref] = "sent"
	f.sent = append(f.sent, m)
	return nil
}

func (f *fakeSender) texts() []SMS {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SMS(nil), f.sent...)
}

// kc is the default policy's zone.
var kc, _ = time.LoadLocation("America/Chicago")

// ct is a time in Kansas City.
func ct(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, kc)
}

func newRunner(e *env) (*Runner, *fakeSender, *[]time.Duration) {
	fs := &fakeSender{}
	var waits []time.Duration
	r := &Runner{Store: e.Store, Sender: fs, Wait: func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}}
	return r, fs, &waits
}

// consenting is a referral from a client who agreed to follow-up texts,
// made at the test clock's time (t0: Monday 2 March 2026, 09:00 in Kansas
// City).
func consenting(lang string) NewReferral {
	n := basic()
	n.Client.Language = lang
	n.Client.Consent = &Consent{Given: true, Channel: ChannelVoice, Words: "Can we text you in a few days to see how it went? Press 1 for yes."}
	return n
}

func followupsOf(t *testing.T, e *env, id string) map[string]*Followup {
	t.Helper()
	fs, err := e.Followups(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Followup{}
	for _, f := range fs {
		out[f.Kind] = f
	}
	return out
}

func TestScheduleOnReferral(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	r := e.create(t, consenting(LanguageEN))
	fs := followupsOf(t, e, r.ID)
	for kind, days := range map[string]int{KindCheckin: 3, KindReminder: 5, KindCall: 7} {
		f := fs[kind]
		if f == nil {
			t.Fatalf("no %s follow-up: %v", kind, fs)
		}
		if want := r.CreatedAt.AddDate(0, 0, days); !f.DueAt.Equal(want) || f.State != FollowupPending {
			t.Errorf("%s: due %v state %s, want %v pending", kind, f.DueAt, f.State, want)
		}
	}
	if len(fs) != 3 {
		t.Errorf("%d follow-ups, want 3 (no final until they got help)", len(fs))
	}

	// No consent, declined consent, or no phone: no follow-up.
	n := basic()
	n.Client.Phone = "+18165550144"
	noConsent := e.create(t, n)
	n.Client.Phone = "+18165550145"
	n.Client.Consent = &Consent{Given: false, Channel: ChannelVoice, Words: "Can we text you? Press 1 for yes."}
	declined := e.create(t, n)
	n.Client.Phone, n.Client.Consent = "", nil
	anon := e.create(t, n)
	for _, id := range []string{noConsent.ID, declined.ID, anon.ID} {
		if fs, _ := e.Followups(ctx, id); len(fs) != 0 {
			t.Errorf("referral %s without consent has %d follow-ups", id, len(fs))
		}
	}

	// A per-need schedule.
	p := DefaultPolicy()
	p.Needs = map[string]Steps{"housing": {Checkin: 1, Call: 2}}
	e.Policy = &p
	h := consenting(LanguageEN)
	h.Client.Phone, h.NeedCategory, h.ServiceIDs = "+18165550146", "housing", []string{svcShelter}
	hr := e.create(t, h)
	hs := followupsOf(t, e, hr.ID)
	if len(hs) != 2 || !hs[KindCheckin].DueAt.Equal(hr.CreatedAt.AddDate(0, 0, 1)) || !hs[KindCall].DueAt.Equal(hr.CreatedAt.AddDate(0, 0, 2)) {
		t.Errorf("housing schedule: %+v", hs)
	}
}

// The check-in goes out once, at the right time, inside the window.
func TestRunnerSendsCheckinOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	r := e.create(t, consenting(LanguageEN))
	run, fs, _ := newRunner(e)

	// Day 2: nothing due.
	sum, err := run.RunDue(ctx, ct(2026, 3, 4, 10, 0))
	if err != nil || sum.Sent != 0 {
		t.Fatalf("day 2: %+v %v", sum, err)
	}
	// Day 3 but 22:00: due, outside the window; it waits.
	sum, err = run.RunDue(ctx, ct(2026, 3, 5, 22, 0))
	if err != nil || sum.Sent != 0 || !sum.WindowClosed || sum.Waiting != 1 {
		t.Fatalf("day 3 at night: %+v %v", sum, err)
	}
	// Next morning 09:00: sent.
	sum, err = run.RunDue(ctx, ct(2026, 3, 6, 9, 0))
	if err != nil || sum.Sent != 1 {
		t.Fatalf("next morning: %+v %v", sum, err)
	}
	texts := fs.texts()
	if len(texts) != 1 || texts[0].To != phoneE164 {
		t.Fatalf("texts = %+v", texts)
	}
	body := texts[0].Body
	for _, w := range []string{"Second Chance KC", "Bridgeway Staffing Partners", "jobs", "Reply 1", "STOP"} {
		if !strings.Contains(body, w) {
			t.Errorf("check-in %q lacks %q", body, w)
		}
	}
	if sms.Segments(body) > MaxSegments {
		t.Errorf("check-in takes %d segments", sms.Segments(body))
	}
	// Again: nothing more.
	if sum, err := run.RunDue(ctx, ct(2026, 3, 6, 9, 30)); err != nil || sum.Sent != 0 {
		t.Fatalf("second run: %+v %v", sum, err)
	}
	f := followupsOf(t, e, r.ID)[KindCheckin]
	if f.State != FollowupSent || f.SentAt == nil || f.MessageRef != "followup:"+f.ID || f.Body != body {
		t.Errorf("check-in after sending: %+v", f)
	}
	evs, _ := e.Events(ctx, r.ID)
	if evs[len(evs)-1].Action != ActionFollowupSent {
		t.Errorf("last event %s, want %s", evs[len(evs)-1].Action, ActionFollowupSent)
	}

	// Day 5 with no reply: the reminder.
	if sum, err := run.RunDue(ctx, ct(2026, 3, 7, 12, 0)); err != nil || sum.Sent != 1 {
		t.Fatalf("reminder: %+v %v", sum, err)
	}
	if got := fs.texts(); len(got) != 2 || got[1].Purpose != "followup-reminder" {
		t.Fatalf("texts = %+v", got)
	}
}

// Replies update the outcome, the follow-ups and the audit trail.
func TestReplies(t *testing.T) {
	t.Parallel()
	type step struct {
		body       string
		wantAnswer string // a word of the answer
		check      func(t *testing.T, e *env, r *Referral)
	}
	outcome := func(t *testing.T, e *env, r *Referral) *Outcome {
		t.Helper()
		got, err := e.GetReferral(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Outcome
	}
	state := func(kind, want string) func(t *testing.T, e *env, r *Referral) {
		return func(t *testing.T, e *env, r *Referral) {
			t.Helper()
			if f := followupsOf(t, e, r.ID)[kind]; f == nil || f.State != want {
				t.Errorf("%s follow-up: %+v, want state %s", kind, f, want)
			}
		}
	}
	cases := []struct {
		name  string
		lang  string
		steps []step
	}{
		{"got help", LanguageEN, []step{{"1", "glad", func(t *testing.T, e *env, r *Referral) {
			o := outcome(t, e, r)
			if o == nil || o.GotHelp != GotHelpYes || !*o.Reached || o.Source != SourceSMS {
				t.Errorf("outcome %+v", o)
			}
			state(KindReminder, FollowupCancelled)(t, e, r)
			state(KindCall, FollowupCancelled)(t, e, r)
			f := followupsOf(t, e, r.ID)[KindFinal]
			if f == nil || !f.DueAt.Equal(r.CreatedAt.AddDate(0, 0, 30)) {
				t.Errorf("final check: %+v", f)
			}
		}}}},
		{"yes in Spanish with an accent", LanguageES, []step{{"Sí, me ayudaron", "Gracias", func(t *testing.T, e *env, r *Referral) {
			if o := outcome(t, e, r); o == nil || o.GotHelp != GotHelpYes {
				t.Errorf("outcome %+v", o)
			}
		}}}},
		{"couldn't reach, then asks for a call", LanguageEN, []step{
			{"3 - nobody answers", "CALL", func(t *testing.T, e *env, r *Referral) {
				o := outcome(t, e, r)
				if o == nil || *o.Reached || o.Reason != ReasonCouldntReach {
					t.Errorf("outcome %+v", o)
				}
				state(KindReminder, FollowupCancelled)(t, e, r)
				state(KindCall, FollowupPending)(t, e, r)
			}},
			{"call me please", "will call", func(t *testing.T, e *env, r *Referral) {
				fs := followupsOf(t, e, r.ID)
				if fs[KindCall] != nil || fs[KindCallback] == nil || fs[KindCallback].State != FollowupPending ||
					fs[KindCallback].DueAt.After(e.clock.Now()) {
					t.Errorf("the day-7 call should now be a callback due now: %+v", fs)
				}
			}},
		}},
		{"unclear twice goes to staff", LanguageEN, []step{
			{"what is this", "number", state(KindCheckin, FollowupSent)},
			{"??", "staff member", func(t *testing.T, e *env, r *Referral) {
				state(KindCheckin, FollowupAnswered)(t, e, r)
				if f := followupsOf(t, e, r.ID)[KindCallback]; f == nil || f.Reason != "unclear reply to a follow-up text" {
					t.Errorf("callback: %+v", f)
				}
			}},
		}},
		{"yes, then 2", LanguageEN, []step{
			{"yes", "number", func(t *testing.T, e *env, r *Referral) {
				if o := outcome(t, e, r); o == nil || !*o.Reached || o.GotHelp != "" {
					t.Errorf("outcome %+v", o)
				}
			}},
			{"2", "CALL", func(t *testing.T, e *env, r *Referral) {
				state(KindCheckin, FollowupAnswered)(t, e, r)
				state(KindCall, FollowupPending)(t, e, r)
			}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			r := e.create(t, consenting(c.lang))
			run, _, _ := newRunner(e)
			if sum, err := run.RunDue(ctx, ct(2026, 3, 5, 10, 0)); err != nil || sum.Sent != 1 {
				t.Fatalf("check-in: %+v %v", sum, err)
			}
			for _, st := range c.steps {
				answer, handled, err := e.HandleReply(ctx, phoneRaw, st.body)
				if err != nil || !handled {
					t.Fatalf("reply %q: handled %v, %v", st.body, handled, err)
				}
				if !strings.Contains(answer, st.wantAnswer) {
					t.Errorf("reply %q: answer %q lacks %q", st.body, answer, st.wantAnswer)
				}
				if sms.Segments(answer) > MaxSegments {
					t.Errorf("answer %q takes %d segments", answer, sms.Segments(answer))
				}
				st.check(t, e, r)
			}
		})
	}
}

// A text from a number with no outstanding follow-up is not ours; one
// delivered twice changes nothing the second time.
func TestReplyRouting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if _, handled, err := e.HandleReply(ctx, "+18165550199", "1"); err != nil || handled {
		t.Fatalf("stranger: handled %v %v", handled, err)
	}
	r := e.create(t, consenting(LanguageEN))
	// Before the check-in is sent, a text is a new conversation.
	if _, handled, _ := e.HandleReply(ctx, phoneE164, "food 64127"); handled {
		t.Fatal("a text before any check-in was taken as a reply")
	}
	run, _, _ := newRunner(e)
	if _, err := run.RunDue(ctx, ct(2026, 3, 5, 10, 0)); err != nil {
		t.Fatal(err)
	}
	jobs := e.db.Batch.Jobs.Load()
	if _, handled, err := e.HandleReply(ctx, phoneE164, "4"); err != nil || !handled {
		t.Fatal(handled, err)
	}
	if n := e.db.Batch.Jobs.Load() - jobs; n != 1 {
		t.Errorf("a reply made %d writes through the group commit, want 1 (not a transaction of its own)", n)
	}
	before, _ := e.Events(ctx, r.ID)
	// After "4" a new need is the hotline's, not ours...
	if _, handled, _ := e.HandleReply(ctx, phoneE164, "food 64127"); handled {
		t.Error("a new need after the answer was taken as a reply")
	}
	// ...and the same "4" again (a webhook retried) changes no outcome.
	if _, _, err := e.HandleReply(ctx, phoneE164, "4"); err != nil {
		t.Fatal(err)
	}
	after, _ := e.Events(ctx, r.ID)
	if len(after) != len(before) {
		t.Errorf("a repeated reply wrote %d events", len(after)-len(before))
	}
}

// The final check asks those who got help whether it worked out.
func TestFinalCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	r := e.create(t, consenting(LanguageEN))
	// Staff record "got help" (a call): the check-in is cancelled, the
	// final check planned.
	if _, err := e.RecordOutcome(ctx, r.ID, "", Outcome{Reached: ptr(true), GotHelp: GotHelpPartly, Reason: ReasonWaitlist, Source: SourceStaff}, "7"); err != nil {
		t.Fatal(err)
	}
	fs := followupsOf(t, e, r.ID)
	if fs[KindCheckin].State != FollowupCancelled || fs[KindFinal] == nil {
		t.Fatalf("after staff outcome: %+v", fs)
	}
	run, sender, _ := newRunner(e)
	if sum, _ := run.RunDue(ctx, ct(2026, 3, 20, 10, 0)); sum.Sent != 0 {
		t.Fatalf("sent before day 30: %+v", sum)
	}
	if sum, err := run.RunDue(ctx, ct(2026, 4, 1, 11, 0)); err != nil || sum.Sent != 1 {
		t.Fatalf("day 30: %+v %v", sum, err)
	}
	if b := sender.texts()[0].Body; !strings.Contains(b, "work out") {
		t.Errorf("final text %q", b)
	}
	answer, handled, err := e.HandleReply(ctx, phoneE164, "2 still need help")
	if err != nil || !handled || !strings.Contains(answer, "call") {
		t.Fatalf("final reply: %q %v %v", answer, handled, err)
	}
	got, _ := e.GetReferral(ctx, r.ID)
	if got.Outcome.StillNeedsHelp == nil || !*got.Outcome.StillNeedsHelp || got.State != StateClosed {
		t.Errorf("outcome %+v", got.Outcome)
	}
	if f := followupsOf(t, e, r.ID)[KindCallback]; f == nil || f.State != FollowupPending {
		t.Errorf("no callback after 'still need help': %+v", f)
	}
}

func TestRunnerSenderErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mk := func(phone string) *Referral {
		n := consenting(LanguageEN)
		n.Client.Phone = phone
		return e.create(t, n)
	}
	opted := mk("+18165550101")
	bad := mk("+18165550102")
	flaky := mk("+18165550103")
	run, fs, _ := newRunner(e)
	fs.fail = map[string]error{
		"+18165550101": fmt.Errorf("twilio 21610: %w", ErrOptedOut),
		"+18165550102": fmt.Errorf("twilio 21211: %w", ErrUndeliverable),
		"+18165550103": errors.New("twilio answered 503"),
	}
	sum, err := run.RunDue(ctx, ct(2026, 3, 5, 10, 0))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 0 || sum.Cancelled != 1 || sum.Failed != 1 || sum.Retry != 1 {
		t.Fatalf("summary %+v", sum)
	}
	if f := followupsOf(t, e, opted.ID)[KindCheckin]; f.State != FollowupCancelled {
		t.Errorf("opted out: %+v", f)
	}
	if f := followupsOf(t, e, opted.ID)[KindReminder]; f.State != FollowupCancelled {
		t.Errorf("opted out, the reminder still pending: %+v", f)
	}
	if cl, _ := e.FindClient(ctx, "+18165550101"); cl.OptedOutAt == nil {
		t.Error("21610 did not mark the client opted out")
	}
	if f := followupsOf(t, e, bad.ID)[KindCheckin]; f.State != FollowupFailed || !strings.Contains(f.Reason, "21211") {
		t.Errorf("invalid number: %+v", f)
	}
	f := followupsOf(t, e, flaky.ID)[KindCheckin]
	if f.State != FollowupPending || f.Attempts != 1 || !f.DueAt.After(ct(2026, 3, 5, 10, 0)) {
		t.Errorf("transient: %+v", f)
	}
	// It keeps failing: bounded retries, then failed.
	at := ct(2026, 3, 5, 10, 0)
	for range 10 {
		at = at.Add(3 * time.Hour)
		if !(&Policy{WindowStart: 9 * 60, WindowEnd: 20 * 60, Zone: kc}).InWindow(at) {
			at = e.Policy.NextWindow(at)
		}
		if _, err := run.RunDue(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	if f := followupsOf(t, e, flaky.ID)[KindCheckin]; f.State != FollowupFailed || f.Attempts != maxAttempts {
		t.Errorf("after repeated failures: %+v", f)
	}
}

// Killed mid-send: the next run neither resends nor loses the text.
func TestRunnerKilledMidSend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ids []string
	for i := range 3 {
		n := consenting(LanguageEN)
		n.Client.Phone = fmt.Sprintf("+1816555020%d", i)
		ids = append(ids, e.create(t, n).ID)
	}
	run, fs, _ := newRunner(e)
	at := ct(2026, 3, 5, 10, 0)
	// The first text goes; the second is in flight when the process dies.
	ctx, cancel := context.WithCancel(context.Background())
	fs.cancel = cancel
	fs.mu.Lock()
	fs.byRef = map[string]string{}
	fs.mu.Unlock()
	var once sync.Once
	wrapped := &Runner{Store: e.Store, Sender: senderFunc(func(ctx context.Context, m SMS) error {
		if len(fs.texts()) == 1 {
			once.Do(func() { fs.inflight = true })
		}
		return fs.SendSMS(ctx, m)
	}), Wait: run.Wait}
	if _, err := wrapped.RunDue(ctx, at); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v, want it cancelled", err)
	}
	// Restarted five minutes later.
	sum, err := run.RunDue(context.Background(), at.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Unsure != 1 || sum.Sent != 1 {
		t.Errorf("restart: %+v, want 1 unsure (the one in flight) and 1 sent", sum)
	}
	seen := map[string]int{}
	for _, m := range fs.texts() {
		seen[m.To]++
	}
	if len(seen) != 2 {
		t.Errorf("texts to %v: want two numbers texted once each (the third is unsure)", seen)
	}
	for to, n := range seen {
		if n != 1 {
			t.Errorf("%s texted %d times", to, n)
		}
	}
	states := map[string]int{}
	for _, id := range ids {
		states[followupsOf(t, e, id)[KindCheckin].State]++
	}
	if states[FollowupSent] != 2 || states[FollowupUnsure] != 1 {
		t.Errorf("states %v", states)
	}
}

type senderFunc func(ctx context.Context, m SMS) error

func (f senderFunc) SendSMS(ctx context.Context, m SMS) error { return f(ctx, m) }

func TestRunnerPaceAndCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	p := DefaultPolicy()
	p.PerSecond, p.DailyCap = 0.1, 3 // one text every 10 s
	e.Policy = &p
	for i := range 5 {
		n := consenting(LanguageEN)
		n.Client.Phone = fmt.Sprintf("+1816555030%d", i)
		e.create(t, n)
	}
	run, fs, waits := newRunner(e)
	sum, err := run.RunDue(ctx, ct(2026, 3, 5, 10, 0))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 3 || !sum.CapReached || sum.Waiting != 2 {
		t.Errorf("summary %+v", sum)
	}
	// Each wait is what is left of the 10 s interval after the text's own
	// work (the fake sender takes milliseconds), so a text starts every
	// 10 s however long sending takes.
	if len(*waits) != 2 {
		t.Errorf("waits %v, want two (between three texts)", *waits)
	}
	for _, w := range *waits {
		if w <= 9*time.Second || w > 10*time.Second {
			t.Errorf("wait %v, want just under 10 s", w)
		}
	}
	// The same day: still capped. The next day: the rest, oldest first.
	if sum, _ := run.RunDue(ctx, ct(2026, 3, 5, 19, 0)); sum.Sent != 0 {
		t.Errorf("same day after cap: %+v", sum)
	}
	if sum, _ := run.RunDue(ctx, ct(2026, 3, 6, 9, 5)); sum.Sent != 2 {
		t.Errorf("next day: %+v", sum)
	}
	if len(fs.texts()) != 5 {
		t.Errorf("%d texts", len(fs.texts()))
	}
}

func TestParseReply(t *testing.T) {
	t.Parallel()
	cases := []struct{ kind, body, want string }{
		{KindCheckin, "1", ReplyGotHelp},
		{KindCheckin, " 1. ", ReplyGotHelp},
		{KindCheckin, "#2", ReplyNoHelpYet},
		{KindCheckin, "3 no answer", ReplyCouldntReach},
		{KindCheckin, "4", ReplyNotTried},
		{KindCheckin, "1 or 2", ReplyUnclear},
		{KindCheckin, "5", ReplyUnclear},
		{KindCheckin, "", ReplyUnclear},
		{KindCheckin, "YES", ReplyReached},
		{KindCheckin, "sí", ReplyReached},
		{KindCheckin, "they helped me thank you", ReplyGotHelp},
		{KindCheckin, "Me ayudaron, gracias", ReplyGotHelp},
		{KindCheckin, "not yet", ReplyNoHelpYet},
		{KindCheckin, "I'm on the waitlist", ReplyNoHelpYet},
		{KindCheckin, "todavía no", ReplyNoHelpYet},
		{KindCheckin, "couldn’t reach them", ReplyCouldntReach},
		{KindCheckin, "no contestan", ReplyCouldntReach},
		{KindCheckin, "haven't tried yet", ReplyNotTried},
		{KindCheckin, "todavía no lo he intentado", ReplyNotTried},
		{KindCheckin, "CALL", ReplyCall},
		{KindCheckin, "llámame", ReplyCall},
		{KindCheckin, "no", ReplyUnclear},
		{KindCheckin, "pizza", ReplyUnclear},
		{KindFinal, "1", ReplyGotHelp},
		{KindFinal, "yes", ReplyGotHelp},
		{KindFinal, "3", ReplyUnclear},
		{KindFinal, "no", ReplyNoHelpYet},
		{KindFinal, "still need help", ReplyNoHelpYet},
		{KindFinal, "todo bien", ReplyGotHelp},
	}
	for _, c := range cases {
		if got := ParseReply(c.kind, c.body); got != c.want {
			t.Errorf("ParseReply(%s, %q) = %q, want %q", c.kind, c.body, got, c.want)
		}
	}
}

// Every follow-up text fits in two segments, in GSM-7, in both languages,
// however long the organization's name.
func TestTextsFit(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("Kansas City Metropolitan Reentry and Workforce Development Partnership ", 3)
	for _, lang := range []string{LanguageEN, LanguageES} {
		for _, kind := range SMSKinds {
			for _, need := range append(needCategories(), "no-such-need") {
				for _, svcs := range [][]ReferredService{
					{{Organization: "Bridgeway Staffing Partners"}},
					{{Organization: long}},
					{{Organization: "Señora María’s Café — “Cocina”"}, {Organization: "Other"}},
				} {
					body := followupText(kind, lang, need, svcs)
					if n := sms.Segments(body); n > MaxSegments {
						t.Errorf("%s %s %s: %d segments: %q", lang, kind, need, n, body)
					}
					if sms.ToGSM(body) != body {
						t.Errorf("%s %s: not GSM-7: %q", lang, kind, body)
					}
				}
			}
		}
		for key, tx := range texts[lang] {
			if sms.Segments(tx) > MaxSegments || sms.ToGSM(tx) != tx {
				t.Errorf("%s %s: %d segments or not GSM-7: %q", lang, key, sms.Segments(tx), tx)
			}
		}
	}
	if got := followupText(KindCheckin, LanguageES, "classes", []ReferredService{{Organization: "Educación Ávila"}}); !strings.Contains(got, "Educacion Avila") ||
		!strings.Contains(got, "clases y consejeria") {
		t.Errorf("Spanish text not folded to GSM-7: %q", got)
	}
	if sms.Segments(strings.Repeat("a", 160)) != 1 || sms.Segments(strings.Repeat("a", 161)) != 2 || sms.Segments(strings.Repeat("á", 70)) != 1 ||
		sms.Segments(strings.Repeat("á", 71)) != 2 || sms.Segments(strings.Repeat("{", 80)) != 1 || sms.Segments(strings.Repeat("{", 81)) != 2 {
		t.Error("Segments miscounts")
	}
}

func TestPolicyParsing(t *testing.T) {
	t.Parallel()
	if s, err := ParseSteps("checkin=3, reminder=5,call=7,final=30"); err != nil || s != (Steps{3, 5, 7, 30}) {
		t.Errorf("ParseSteps: %+v %v", s, err)
	}
	for _, bad := range []string{"checkin=three", "check=3", "checkin=3,checkin=4", "checkin=5,reminder=4", "reminder=2", "checkin=400", "checkin"} {
		if _, err := ParseSteps(bad); err == nil {
			t.Errorf("ParseSteps(%q) accepted", bad)
		}
	}
	m, err := ParseNeedSteps("housing: checkin=1,call=3; basic-needs: checkin=2")
	if err != nil || m["housing"] != (Steps{Checkin: 1, Call: 3}) || m["basic-needs"] != (Steps{Checkin: 2}) {
		t.Errorf("ParseNeedSteps: %v %v", m, err)
	}
	if _, err := ParseNeedSteps("houses: checkin=1"); err == nil || !strings.Contains(err.Error(), "houses") {
		t.Errorf("unknown need: %v", err)
	}
	if a, b, err := ParseWindow("09:00-20:00"); err != nil || a != 540 || b != 1200 {
		t.Errorf("ParseWindow: %d %d %v", a, b, err)
	}
	for _, bad := range []string{"20:00-09:00", "9-5", "09:00"} {
		if _, _, err := ParseWindow(bad); err == nil {
			t.Errorf("ParseWindow(%q) accepted", bad)
		}
	}
	p := DefaultPolicy()
	if p.Validate() != nil {
		t.Error("default policy invalid")
	}
	if got := p.NextWindow(ct(2026, 3, 5, 21, 0)); !got.Equal(ct(2026, 3, 6, 9, 0)) {
		t.Errorf("NextWindow after hours = %v", got.In(kc))
	}
	if got := p.NextWindow(ct(2026, 3, 5, 7, 0)); !got.Equal(ct(2026, 3, 5, 9, 0)) {
		t.Errorf("NextWindow before hours = %v", got.In(kc))
	}
}

// Deleting a client removes their replies and cancels their texts.
func TestDeleteClientFollowups(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	r := e.create(t, consenting(LanguageEN))
	run, _, _ := newRunner(e)
	if _, err := run.RunDue(ctx, ct(2026, 3, 5, 10, 0)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.HandleReply(ctx, phoneE164, "what is this, I'm Marcus"); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteClient(ctx, r.ClientID, "7"); err != nil {
		t.Fatal(err)
	}
	fs := followupsOf(t, e, r.ID)
	if fs[KindCheckin].Reply != "" || fs[KindCheckin].ReplyCode != ReplyUnclear {
		t.Errorf("reply kept after deletion: %+v", fs[KindCheckin])
	}
	if fs[KindReminder].State != FollowupCancelled {
		t.Errorf("reminder after deletion: %+v", fs[KindReminder])
	}
	if _, err := e.GetFollowup(ctx, "nope"); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("GetFollowup of nothing: %v", err)
	}
}

// Run, as serve runs it, sends what falls due and stops with its context.
func TestRunnerRunLoop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, consenting(LanguageEN))
	run, fs, _ := newRunner(e)
	var mu sync.Mutex
	now := ct(2026, 3, 4, 10, 0) // day 2: nothing due yet
	run.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	run.Every = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { run.Run(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond)
	if n := len(fs.texts()); n != 0 {
		t.Fatalf("%d texts before anything was due", n)
	}
	mu.Lock()
	now = ct(2026, 3, 5, 10, 0) // day 3
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for len(fs.texts()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if n := len(fs.texts()); n != 1 {
		t.Errorf("%d texts after the check-in fell due, want 1", n)
	}
}

// A person given several lists for one need the same day (a text search,
// MORE, a call) is asked about them once: the first referral's follow-ups
// cover the later ones. Another need, the next day, or a first check-in
// no longer waiting gets follow-ups of its own.
func TestOneFollowupPerNeedPerDay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	count := func(r *Referral) int {
		t.Helper()
		fs, err := e.Followups(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(fs)
	}
	jobs := e.create(t, consenting(LanguageEN))
	more := e.create(t, consenting(LanguageEN))
	h := consenting(LanguageEN)
	h.NeedCategory, h.ServiceIDs = "housing", []string{svcMensHouse}
	housing := e.create(t, h)
	for _, c := range []struct {
		name string
		r    *Referral
		want int
	}{{"first", jobs, 3}, {"same need, same day", more, 0}, {"another need", housing, 3}} {
		if n := count(c.r); n != c.want {
			t.Errorf("%s: %d follow-ups, want %d", c.name, n, c.want)
		}
	}
	if _, err := e.dir.DB().Write.ExecContext(ctx, `UPDATE followup SET state = 'cancelled' WHERE referral_id = ? AND kind = 'checkin'`, housing.ID); err != nil {
		t.Fatal(err)
	}
	if n := count(e.create(t, h)); n != 3 {
		t.Errorf("same need after the first check-in was cancelled: %d follow-ups, want 3", n)
	}
	e.clock.mu.Lock()
	e.clock.t = e.clock.t.Add(25 * time.Hour)
	e.clock.mu.Unlock()
	if n := count(e.create(t, consenting(LanguageEN))); n != 3 {
		t.Errorf("same need the next day: %d follow-ups, want 3", n)
	}
}

// The hotline's consent, asked after the referral was logged: agreeing
// has its follow-ups planned once however often the write runs; declining
// has none planned; an unknown referral is ENOTFOUND. (planner_test.go
// tries the planner before, between and after.)
func TestPrepareConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	run := func(id string, given bool) error {
		t.Helper()
		write, err := e.PrepareConsent(id, Consent{Given: given, Channel: ChannelVoice, Words: "May we text you? Press 1 for yes."}, "system:voice")
		if err != nil {
			t.Fatal(err)
		}
		return e.dir.DB().Batch.Do(ctx, write)
	}
	r := e.create(t, basic())
	if n := len(followupsOf(t, e, r.ID)); n != 0 {
		t.Fatalf("%d follow-ups before consent", n)
	}
	for range 2 {
		if err := run(r.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	e.plan(t)
	if fs, _ := e.Followups(ctx, r.ID); len(fs) != 3 {
		t.Errorf("%d follow-ups after agreeing twice, want 3", len(fs))
	}
	n := basic()
	n.Client.Phone = "+18165550146"
	declined := e.create(t, n)
	if err := run(declined.ID, false); err != nil {
		t.Fatal(err)
	}
	e.plan(t)
	if fs, _ := e.Followups(ctx, declined.ID); len(fs) != 0 {
		t.Errorf("%d follow-ups after declining", len(fs))
	}
	if err := run("no-such-referral", true); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("unknown referral: %v", err)
	}
	if _, err := e.PrepareConsent(r.ID, Consent{Given: true}, "system:voice"); apperr.Code(err) != apperr.EINVALID {
		t.Errorf("consent without channel or words: %v", err)
	}
}
