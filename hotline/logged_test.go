package hotline

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/logbuf"
)

// claimOnly logs m as sending, as Send does before it calls Next, and
// stops there, as a process killed while waiting for Twilio would.
func claimOnly(t testing.TB, l *Logged, m Message) {
	t.Helper()
	now := formatTime(l.Now())
	if err := l.db.Batch.Do(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := l.claimTx(ctx, tx, m, now)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func newLoggedTwilio(t *testing.T, script ...answer) (*Logged, *fakeTwilio, *logbuf.Buffer) {
	t.Helper()
	f := newFakeTwilio(t, script...)
	log, buf := captureLog()
	tw, _ := newTwilio(f, log)
	return NewLogged(tw, ProviderTwilio, openDB(t), log), f, buf
}

// Two Sends with one Ref make one request; the second is replayed from the
// log.
func TestLoggedIdempotent(t *testing.T) {
	l, f, _ := newLoggedTwilio(t, ok201)
	ctx := context.Background()
	first, err := l.Send(ctx, msg("followup:7"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := l.Send(ctx, msg("followup:7"))
	if err != nil {
		t.Fatal(err)
	}
	if f.count() != 1 {
		t.Errorf("%d requests, want 1", f.count())
	}
	if first.Replayed || !second.Replayed || second.SID != first.SID || second.Status != "queued" || second.Provider != ProviderTwilio {
		t.Errorf("first %+v, second %+v", first, second)
	}
	row, err := l.Lookup(ctx, "followup:7")
	if err != nil {
		t.Fatal(err)
	}
	if row.Status != StatusSent || row.ProviderSID != first.SID || row.ProviderStatus != "queued" || row.Attempts != 1 ||
		row.To != testTo || row.Purpose != "followup" || row.CreatedAt.IsZero() {
		t.Errorf("log row %+v", row)
	}
	if _, err := l.Lookup(ctx, "followup:8"); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("lookup of unknown ref: %v", err)
	}

	// The same ref for another text is a mistake, not a resend.
	other := msg("followup:7")
	other.Body = "something else"
	if _, err := l.Send(ctx, other); apperr.Code(err) != apperr.ECONFLICT {
		t.Errorf("reused ref: %v", err)
	}
	if f.count() != 1 {
		t.Errorf("%d requests, want 1", f.count())
	}
}

// 21610 records the opt-out; that number is never sent to again, and the
// failed ref is never retried.
func TestLoggedOptOutFromTwilio(t *testing.T) {
	l, f, _ := newLoggedTwilio(t, err21610, ok201)
	ctx := context.Background()
	_, err := l.Send(ctx, msg("followup:1"))
	var se *SendError
	if !errors.As(err, &se) || !se.OptedOut || !se.Permanent {
		t.Fatalf("err %v", err)
	}
	if opted, err := l.OptOuts.IsOptedOut(ctx, testTo); err != nil || !opted {
		t.Fatalf("opt-out not recorded: %v %v", opted, err)
	}
	var source, reason string
	l.db.Read.QueryRow(`SELECT source, reason FROM opt_out WHERE phone = ?`, testTo).Scan(&source, &reason)
	if source != OptOutSourceTwilio || reason != "twilio 21610" {
		t.Errorf("opt_out row source %q reason %q", source, reason)
	}
	for _, ref := range []string{"followup:1", "followup:2"} {
		_, err = l.Send(ctx, msg(ref))
		if !errors.As(err, &se) || !se.OptedOut {
			t.Errorf("%s after opt-out: %v", ref, err)
		}
	}
	if f.count() != 1 {
		t.Errorf("%d requests, want 1: an opted-out number reached Twilio", f.count())
	}
	row, _ := l.Lookup(ctx, "followup:1")
	if row.Status != StatusFailed || row.ErrorCode != 21610 {
		t.Errorf("log row %+v", row)
	}

	// After START the number may be texted again, but the failed ref stays
	// failed.
	if err := l.OptOuts.OptIn(ctx, testTo); err != nil {
		t.Fatal(err)
	}
	if err := l.OptOuts.OptIn(ctx, testTo); err != nil { // twice: webhooks repeat
		t.Fatal(err)
	}
	if _, err := l.Send(ctx, msg("followup:1")); !errors.As(err, &se) || !se.Permanent || se.Code != 21610 {
		t.Errorf("failed ref resent: %v", err)
	}
	if _, err := l.Send(ctx, msg("followup:3")); err != nil {
		t.Errorf("after opt-in: %v", err)
	}
	if f.count() != 2 {
		t.Errorf("%d requests, want 2", f.count())
	}
}

// A number opted out by STOP never reaches Twilio.
func TestLoggedOptedOutNeverSent(t *testing.T) {
	l, f, _ := newLoggedTwilio(t, ok201)
	ctx := context.Background()
	for range 2 { // a STOP webhook delivered twice
		if err := l.OptOuts.OptOut(ctx, testTo, OptOutSourceSMS, "STOP"); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.OptOuts.OptOut(ctx, "8165550217", OptOutSourceSMS, "STOP"); apperr.Code(err) != apperr.EINVALID {
		t.Errorf("non-E.164 opt-out: %v", err)
	}
	_, err := l.Send(ctx, msg("results:1"))
	var se *SendError
	if !errors.As(err, &se) || !se.OptedOut || !se.Permanent {
		t.Fatalf("err %v", err)
	}
	if f.count() != 0 {
		t.Errorf("%d requests to an opted-out number", f.count())
	}
}

// A send claimed and never finished (the process was killed waiting for
// Twilio) is not resent after a restart: ErrUnsure until staff release it.
func TestLoggedCrashWhileSending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	ctx := context.Background()
	f := newFakeTwilio(t, ok201)
	tw, _ := newTwilio(f, nil)

	before := NewLogged(tw, ProviderTwilio, openDBAt(t, path), nil)
	claimOnly(t, before, msg("followup:9"))
	before.db.Close() // the process dies here

	after := NewLogged(tw, ProviderTwilio, openDBAt(t, path), nil)
	for range 2 {
		if _, err := after.Send(ctx, msg("followup:9")); !errors.Is(err, ErrUnsure) {
			t.Fatalf("err %v, want ErrUnsure", err)
		}
	}
	if f.count() != 0 {
		t.Fatalf("%d requests: resent blindly", f.count())
	}
	if err := after.Release(ctx, "followup:9"); err != nil {
		t.Fatal(err)
	}
	if res, err := after.Send(ctx, msg("followup:9")); err != nil || res.Replayed {
		t.Fatalf("after release: %+v %v", res, err)
	}
	if f.count() != 1 {
		t.Errorf("%d requests, want 1", f.count())
	}
	if err := after.Release(ctx, "followup:9"); apperr.Code(err) != apperr.ECONFLICT {
		t.Errorf("release of a sent message: %v", err)
	}
	if err := after.Release(ctx, "nope"); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("release of unknown ref: %v", err)
	}
}

// An unreadable 201 is recorded as unsure and not retried.
func TestLoggedUnsureAnswer(t *testing.T) {
	l, f, _ := newLoggedTwilio(t, garbled, ok201)
	ctx := context.Background()
	if _, err := l.Send(ctx, msg("followup:1")); !errors.Is(err, ErrUnsure) {
		t.Fatalf("err %v", err)
	}
	if _, err := l.Send(ctx, msg("followup:1")); !errors.Is(err, ErrUnsure) {
		t.Fatalf("second send: %v", err)
	}
	if f.count() != 1 {
		t.Errorf("%d requests, want 1", f.count())
	}
	if row, _ := l.Lookup(ctx, "followup:1"); row.Status != StatusUnsure {
		t.Errorf("log row %+v", row)
	}
}

// A transient failure that outlasts the retries leaves the ref retryable:
// the caller's next Send tries again.
func TestLoggedTransientThenRetry(t *testing.T) {
	l, f, _ := newLoggedTwilio(t, err500, err500, err500, err500, ok201)
	ctx := context.Background()
	_, err := l.Send(ctx, msg("followup:1"))
	var se *SendError
	if !errors.As(err, &se) || se.Permanent || se.Attempts != 4 {
		t.Fatalf("err %v", err)
	}
	if row, _ := l.Lookup(ctx, "followup:1"); row.Status != StatusRetryable || row.ErrorCode != 20500 || row.Attempts != 4 {
		t.Errorf("log row %+v", row)
	}
	res, err := l.Send(ctx, msg("followup:1"))
	if err != nil || res.Replayed {
		t.Fatalf("retry: %+v %v", res, err)
	}
	if f.count() != 5 {
		t.Errorf("%d requests, want 5", f.count())
	}
	if row, _ := l.Lookup(ctx, "followup:1"); row.Status != StatusSent || row.Attempts != 5 || row.ErrorCode != 0 {
		t.Errorf("log row %+v", row)
	}
}

// Logs carry only masked numbers, and never the body.
func TestLoggedMasksNumbers(t *testing.T) {
	ctx := context.Background()
	for _, script := range [][]answer{{ok201}, {err21211}, {err21610}, {err500}, {garbled}} {
		l, _, buf := newLoggedTwilio(t, script...)
		l.Send(ctx, msg("followup:1"))
		l.Send(ctx, msg("followup:1"))
		out := buf.String()
		if strings.Contains(out, testTo) || strings.Contains(out, "8165550217") {
			t.Errorf("log has the full number:\n%s", out)
		}
		if !strings.Contains(out, "+1816***0217") {
			t.Errorf("log lacks the masked number:\n%s", out)
		}
		if strings.Contains(out, "checking in") {
			t.Errorf("log has the message body:\n%s", out)
		}
	}
}

// A message's With write commits with its log entry, before the request
// to Twilio: it is there when the text goes, and rolled back with a claim
// that fails. The outbox sender commits it with the send.
func TestLoggedWithCommitsWithClaim(t *testing.T) {
	ctx := context.Background()
	l, f, _ := newLoggedTwilio(t, ok201)
	if _, err := l.db.Write.ExecContext(ctx, `CREATE TABLE with_log (ref TEXT)`); err != nil {
		t.Fatal(err)
	}
	rows := func() (n int) {
		t.Helper()
		if err := l.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM with_log`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	with := func(ref string) func(context.Context, *sql.Tx) error {
		requests := f.count()
		return func(ctx context.Context, tx *sql.Tx) error {
			if f.count() != requests {
				t.Errorf("With ran after the request to Twilio")
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO with_log (ref) VALUES (?)`, ref)
			return err
		}
	}
	m := msg("results:1")
	m.With = with("results:1")
	if _, err := l.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	if n := rows(); n != 1 {
		t.Errorf("%d rows written with the text, want 1", n)
	}
	bad := msg("results:1")
	bad.Body = "something else"
	bad.With = with("results:1 again")
	if _, err := l.Send(ctx, bad); apperr.Code(err) != apperr.ECONFLICT {
		t.Fatalf("reused ref: %v", err)
	}
	if n := rows(); n != 1 {
		t.Errorf("%d rows: the write of a refused claim was kept", n)
	}

	// The outbox: claim, send and the With write in one transaction.
	d := openDB(t)
	if _, err := d.Write.ExecContext(ctx, `CREATE TABLE with_log (ref TEXT)`); err != nil {
		t.Fatal(err)
	}
	o := NewLogged(NewOutbox(d), ProviderOutbox, d, nil)
	m = msg("results:2")
	m.With = func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO with_log (ref) VALUES ('results:2')`)
		return err
	}
	if _, err := o.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM with_log`).Scan(&n); err != nil || n != 1 {
		t.Errorf("outbox: %d rows written with the text (%v), want 1", n, err)
	}
}
