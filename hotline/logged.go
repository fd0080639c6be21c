package hotline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/db"
)

// Statuses of the sms_message log (ours, not the provider's).
const (
	StatusSending   = "sending"   // claimed; no answer yet, or the process died
	StatusSent      = "sent"      // the provider accepted it
	StatusFailed    = "failed"    // refused for good; never retried
	StatusRetryable = "retryable" // a transient failure; the next Send retries
	StatusUnsure    = "unsure"    // may have been accepted; see ErrUnsure
)

// Logged wraps the real sender (Twilio or the outbox) with the sms_message
// log, which makes Send idempotent by Message.Ref across retries and
// restarts, and with the opt-out list:
//
//   - an opted-out number gets *SendError{OptedOut: true} and Next is not
//     called;
//   - a Ref already sent returns the logged Result (Replayed) without
//     sending; a Ref that failed for good returns its *SendError again;
//   - a Ref claimed but never finished (the process was killed while
//     waiting for Twilio) returns ErrUnsure instead of texting twice, as
//     does a concurrent Send with a Ref still in flight;
//   - Twilio's 21610 adds the number to the opt-out list.
type Logged struct {
	// Next does the sending.
	Next Sender
	// Provider names Next in the log: ProviderTwilio or ProviderOutbox.
	Provider string
	OptOuts  *OptOuts
	Log      *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
	db  *db.DB
	// background counts the records of texts that went still being
	// written after their answer (see sending.later); Wait waits for them.
	background sync.WaitGroup
}

// Wait waits until every text that went has been recorded: call it after
// the server has stopped taking requests and before the database closes,
// so that a text sent just before a shutdown is not left "sending".
func (l *Logged) Wait() { l.background.Wait() }

// NewLogged wraps next, which sends as provider (ProviderTwilio or
// ProviderOutbox).
func NewLogged(next Sender, provider string, d *db.DB, log *slog.Logger) *Logged {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Logged{Next: next, Provider: provider, OptOuts: NewOptOuts(d), Log: log, Now: time.Now, db: d}
}

// LoggedMessage is one row of the sms_message log.
type LoggedMessage struct {
	ID             int64
	Ref            string
	To             string
	Body           string
	Purpose        string
	Provider       string
	ProviderSID    string
	ProviderStatus string
	Status         string // Status...
	ErrorCode      int
	ErrorMessage   string
	Attempts       int
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Send implements Sender.
func (l *Logged) Send(ctx context.Context, m Message) (Result, error) {
	s, err := l.start(ctx, m)
	if err != nil {
		return Result{}, err
	}
	if err := l.db.Batch.Do(ctx, s.claim); err != nil {
		return Result{}, s.refused(ctx, err)
	}
	return s.send(ctx)
}

// sending is one Send taken apart, so that a caller can commit its own
// writes with the claim and answer before the outcome is recorded (the
// voice menu's "text me these": Voice.sendText): start, then claim as a
// job of the caller's transaction, then send once that has committed.
type sending struct {
	l   *Logged
	m   Message
	log *slog.Logger
	now time.Time
	// local is Next when it writes to this database (the outbox): claim
	// then also sends and records the outcome, in one transaction, so
	// nothing can be left half done (no "sending" row), and send only
	// reports.
	local localSender
	// later records a text that went in the background, after send has
	// returned (Batch.Later), so the caller answers without waiting for
	// that commit. Until it commits the row says "sending": a Send with
	// the same Ref meanwhile gets ErrUnsure, never a second text.
	later bool
	// unsent, when set, is a write of the caller's that send commits with
	// the record of a claimed text that did not go (or had failed before).
	unsent func(context.Context, *sql.Tx) error

	// Set by claim, afresh on each run (a Batcher job may run twice):
	// stood is an earlier send's outcome that stands (sent or failed), res
	// the local sender's answer.
	stood *LoggedMessage
	res   Result
}

// start checks m and the opt-out list: an opted-out number gets
// *SendError{OptedOut: true} and nothing is claimed.
func (l *Logged) start(ctx context.Context, m Message) (*sending, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	s := &sending{l: l, m: m, log: l.Log.With("to", MaskPhone(m.To), "ref", m.Ref, "purpose", m.Purpose), now: l.Now()}
	opted, err := l.OptOuts.IsOptedOut(ctx, m.To)
	if err != nil {
		return nil, err
	}
	if opted {
		s.log.InfoContext(ctx, "sms not sent: the recipient opted out")
		return nil, &SendError{Code: CodeOptedOut, Permanent: true, OptedOut: true, Msg: "the recipient has opted out of text messages"}
	}
	if ls, ok := l.Next.(localSender); ok && ls.database() == l.db {
		s.local = ls
	}
	return s, nil
}

// claim is a Batcher job: it runs m.With and logs m as sending, or finds
// the earlier outcome that stands; with a local sender it also sends and
// records. A Ref in flight or never finished fails it with ErrUnsure, a
// Ref used for another message with ECONFLICT, and m.With's writes are
// rolled back with it.
func (s *sending) claim(ctx context.Context, tx *sql.Tx) (err error) {
	s.stood, s.res = nil, Result{}
	if s.m.With != nil {
		if err := s.m.With(ctx, tx); err != nil {
			return err
		}
	}
	if s.stood, err = s.l.claimTx(ctx, tx, s.m, formatTime(s.now)); err != nil || s.stood != nil || s.local == nil {
		return err
	}
	if s.res, err = s.local.sendTx(ctx, tx, s.m); err != nil {
		return err
	}
	return finishTx(ctx, tx, s.m.Ref, StatusSent, s.res.SID, s.res.Status, 0, "", s.res.Attempts, "", s.now)
}

// refused logs the error of a claim that did not commit, and returns it.
func (s *sending) refused(ctx context.Context, err error) error {
	if errors.Is(err, ErrUnsure) {
		s.log.WarnContext(ctx, "sms not sent: an earlier send with this ref never finished; check the provider's log, then release it", "err", err)
	} else {
		s.log.WarnContext(ctx, "sms not sent", "provider", s.l.Provider, "err", err)
	}
	return err
}

// send sends m once its claim has committed, and records the outcome:
// a text that went before it returns (or in the background, with later),
// one that did not with unsent. A Ref whose outcome stood is answered
// from the log.
func (s *sending) send(ctx context.Context) (Result, error) {
	// Record the outcome even if ctx has ended: what was sent must be known.
	rctx := context.WithoutCancel(ctx)
	switch prev := s.stood; {
	case prev != nil && prev.Status == StatusSent:
		s.log.DebugContext(ctx, "sms already sent; not sending again", "sid", prev.ProviderSID)
		return Result{SID: prev.ProviderSID, Status: prev.ProviderStatus, Provider: prev.Provider, Attempts: prev.Attempts, Replayed: true}, nil
	case prev != nil:
		if s.unsent != nil {
			if err := s.l.db.Batch.Do(rctx, s.unsent); err != nil {
				s.log.ErrorContext(ctx, "sms not sent (it failed before), and the caller's write with that failed", "err", err)
			}
		}
		return Result{}, storedError(prev)
	case s.local != nil:
		s.log.InfoContext(ctx, "sms sent", "provider", s.l.Provider, "sid", s.res.SID, "attempts", s.res.Attempts)
		return s.res, nil
	}

	res, sendErr := s.l.Next.Send(ctx, s.m)
	if sendErr == nil {
		return res, s.sent(ctx, res)
	}
	var se *SendError
	status, code, msg, attempts, optOut := StatusRetryable, 0, sendErr.Error(), res.Attempts, ""
	switch {
	case errors.As(sendErr, &se):
		if se.Permanent {
			status = StatusFailed
		}
		if se.OptedOut {
			optOut = fmt.Sprintf("twilio %d", se.Code)
		}
		code, msg, attempts = se.Code, se.Msg, max(se.Attempts, 1)
		s.log.WarnContext(ctx, "sms not sent", "provider", s.l.Provider, "code", se.Code, "http_status", se.Status,
			"permanent", se.Permanent, "opted_out", se.OptedOut, "invalid_number", se.InvalidNumber, "config", se.Config,
			"attempts", se.Attempts, "err", se.Error())
	case errors.Is(sendErr, ErrUnsure):
		status, attempts = StatusUnsure, max(res.Attempts, 1)
		s.log.ErrorContext(ctx, "sms may or may not have been sent; not retried", "provider", s.l.Provider, "err", sendErr)
	default:
		s.log.WarnContext(ctx, "sms not sent", "provider", s.l.Provider, "err", sendErr)
	}
	err := s.l.db.Batch.Do(rctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := finishTx(ctx, tx, s.m.Ref, status, "", "", code, msg, attempts, optOut, s.l.Now()); err != nil {
			return err
		}
		if s.unsent != nil {
			return s.unsent(ctx, tx)
		}
		return nil
	})
	switch {
	case err != nil:
		s.log.ErrorContext(ctx, "sms outcome not recorded", "err", err)
	case optOut != "":
		s.log.InfoContext(ctx, "recipient recorded as opted out", "source", OptOutSourceTwilio)
	}
	return res, sendErr
}

// sent records a text that went (see later).
func (s *sending) sent(ctx context.Context, res Result) error {
	record := func(ctx context.Context, tx *sql.Tx) error {
		return finishTx(ctx, tx, s.m.Ref, StatusSent, res.SID, res.Status, 0, "", res.Attempts, "", s.l.Now())
	}
	notRecorded := func(err error) error {
		// The row stays "sending": a later Send answers ErrUnsure rather
		// than texting again.
		s.log.ErrorContext(ctx, "sms sent but not recorded", "sid", res.SID, "err", err)
		return fmt.Errorf("sms sent (sid %s) but not recorded: %w", res.SID, err)
	}
	s.log.InfoContext(ctx, "sms sent", "provider", s.l.Provider, "sid", res.SID, "attempts", res.Attempts)
	rctx := context.WithoutCancel(ctx)
	if s.later {
		s.l.background.Add(1)
		go func() {
			defer s.l.background.Done()
			if err := s.l.db.Batch.Later(rctx, record); err != nil {
				notRecorded(err)
			}
		}()
		return nil
	}
	if err := s.l.db.Batch.Do(rctx, record); err != nil {
		return notRecorded(err)
	}
	return nil
}

func (l *Logged) claimTx(ctx context.Context, tx *sql.Tx, m Message, now string) (*LoggedMessage, error) {
	prev, err := findMessage(ctx, tx, m.Ref)
	switch {
	case apperr.Code(err) == apperr.ENOTFOUND:
		if _, err := l.db.Batch.Exec(ctx, tx, `INSERT INTO sms_message
			(ref, to_number, body, purpose, provider, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 'sending', ?, ?)`,
			m.Ref, m.To, m.Body, m.Purpose, l.Provider, now, now); err != nil {
			return nil, fmt.Errorf("log sms: %w", err)
		}
		return nil, nil
	case err != nil:
		return nil, err
	case prev.To != m.To || prev.Body != m.Body:
		return nil, apperr.Errorf(apperr.ECONFLICT, "ref %s was already used for a different message", m.Ref)
	}
	switch prev.Status {
	case StatusSent, StatusFailed:
		return prev, nil
	case StatusRetryable:
		if _, err := l.db.Batch.Exec(ctx, tx, `UPDATE sms_message SET status = 'sending', provider = ?, updated_at = ? WHERE ref = ?`,
			l.Provider, now, m.Ref); err != nil {
			return nil, fmt.Errorf("log sms: %w", err)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%w (ref %s is %s since %s)", ErrUnsure, m.Ref, prev.Status, prev.UpdatedAt.Format(time.RFC3339))
}

// finishTx records the outcome of a claimed send; optOutReason, when set,
// also puts the number on the opt-out list in the same transaction.
func finishTx(ctx context.Context, tx *sql.Tx, ref, status, sid, providerStatus string, code int, msg string, attempts int, optOutReason string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE sms_message SET status = ?, provider_sid = ?, provider_status = ?,
		error_code = ?, error_message = ?, attempts = attempts + ?, updated_at = ? WHERE ref = ?`,
		status, sid, providerStatus, code, msg, attempts, formatTime(now), ref); err != nil {
		return fmt.Errorf("log sms outcome: %w", err)
	}
	if optOutReason != "" {
		var to string
		if err := tx.QueryRowContext(ctx, `SELECT to_number FROM sms_message WHERE ref = ?`, ref).Scan(&to); err != nil {
			return fmt.Errorf("log sms outcome: %w", err)
		}
		if err := optOut(ctx, tx, to, OptOutSourceTwilio, optOutReason, now); err != nil {
			return err
		}
	}
	return nil
}

// localSender is a Sender whose sending is a write to our own database
// (the Outbox), so it can be done inside a transaction.
type localSender interface {
	sendTx(ctx context.Context, tx *sql.Tx, m Message) (Result, error)
	database() *db.DB
}

// storedError rebuilds the refusal a failed row records.
func storedError(m *LoggedMessage) error {
	return &SendError{
		Code:          m.ErrorCode,
		Permanent:     true,
		OptedOut:      m.ErrorCode == CodeOptedOut,
		InvalidNumber: invalidNumberCodes[m.ErrorCode],
		Msg:           m.ErrorMessage,
		Attempts:      m.Attempts,
	}
}

// Release lets the next Send with ref send again after it was left
// "sending" or "unsure" (ErrUnsure). Staff call it once the provider's own
// log shows the message did not go out; releasing a send that did go out
// texts the person twice. It is ENOTFOUND for an unknown ref and ECONFLICT
// for one that is not unsure.
func (l *Logged) Release(ctx context.Context, ref string) error {
	tx, err := l.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	m, err := findMessage(ctx, tx, ref)
	if err != nil {
		return err
	}
	if m.Status != StatusSending && m.Status != StatusUnsure {
		return apperr.Errorf(apperr.ECONFLICT, "the message with ref %s is %s, not unsure; nothing to release", ref, m.Status)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sms_message SET status = 'retryable', updated_at = ? WHERE ref = ?`,
		formatTime(l.Now()), ref); err != nil {
		return fmt.Errorf("release sms: %w", err)
	}
	return tx.Commit()
}

// Lookup returns the log row for ref, or ENOTFOUND.
func (l *Logged) Lookup(ctx context.Context, ref string) (*LoggedMessage, error) {
	tx, err := l.db.Read.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findMessage(ctx, tx, ref)
}

func findMessage(ctx context.Context, tx *sql.Tx, ref string) (*LoggedMessage, error) {
	m, err := scanMessage(tx.QueryRowContext(ctx, `SELECT `+messageCols+` FROM sms_message WHERE ref = ?`, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "no text message with ref %s", ref)
	} else if err != nil {
		return nil, fmt.Errorf("read sms log: %w", err)
	}
	return m, nil
}

// messageCols are the sms_message columns scanMessage reads, in its order.
const messageCols = `id, ref, to_number, body, purpose, provider, provider_sid, provider_status,
	status, error_code, error_message, attempts, created_at, updated_at`

func scanMessage(s scanner) (*LoggedMessage, error) {
	var m LoggedMessage
	var created, updated string
	if err := s.Scan(&m.ID, &m.Ref, &m.To, &m.Body, &m.Purpose, &m.Provider, &m.ProviderSID, &m.ProviderStatus,
		&m.Status, &m.ErrorCode, &m.ErrorMessage, &m.Attempts, &created, &updated); err != nil {
		return nil, err
	}
	m.CreatedAt, m.UpdatedAt = parseTime(created), parseTime(updated)
	return &m, nil
}
