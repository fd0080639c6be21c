package hotline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
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
}

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
	if err := m.Validate(); err != nil {
		return Result{}, err
	}
	log := l.Log.With("to", MaskPhone(m.To), "ref", m.Ref, "purpose", m.Purpose)
	opted, err := l.OptOuts.IsOptedOut(ctx, m.To)
	if err != nil {
		return Result{}, err
	}
	if opted {
		log.InfoContext(ctx, "sms not sent: the recipient opted out")
		return Result{}, &SendError{Code: CodeOptedOut, Permanent: true, OptedOut: true, Msg: "the recipient has opted out of text messages"}
	}
	if ls, ok := l.Next.(localSender); ok && ls.database() == l.db {
		return l.sendLocal(ctx, m, ls, log)
	}
	prev, err := l.claim(ctx, m)
	if err != nil {
		if errors.Is(err, ErrUnsure) {
			log.WarnContext(ctx, "sms not sent: an earlier send with this ref never finished; check the provider's log, then release it", "err", err)
		}
		return Result{}, err
	}
	if prev != nil {
		if prev.Status == StatusSent {
			log.DebugContext(ctx, "sms already sent; not sending again", "sid", prev.ProviderSID)
			return Result{SID: prev.ProviderSID, Status: prev.ProviderStatus, Provider: prev.Provider, Attempts: prev.Attempts, Replayed: true}, nil
		}
		return Result{}, storedError(prev)
	}

	res, sendErr := l.Next.Send(ctx, m)

	// Record the outcome even if ctx has ended: what was sent must be known.
	rctx := context.WithoutCancel(ctx)
	var se *SendError
	switch {
	case sendErr == nil:
		err = l.finish(rctx, m.Ref, StatusSent, res.SID, res.Status, 0, "", res.Attempts, "")
		if err != nil {
			// The row stays "sending": a later Send answers ErrUnsure
			// rather than texting again.
			log.ErrorContext(ctx, "sms sent but not recorded", "sid", res.SID, "err", err)
			return res, fmt.Errorf("sms sent (sid %s) but not recorded: %w", res.SID, err)
		}
		log.InfoContext(ctx, "sms sent", "provider", l.Provider, "sid", res.SID, "attempts", res.Attempts)
		return res, nil
	case errors.As(sendErr, &se):
		status := StatusRetryable
		if se.Permanent {
			status = StatusFailed
		}
		optOut := ""
		if se.OptedOut {
			optOut = fmt.Sprintf("twilio %d", se.Code)
		}
		err = l.finish(rctx, m.Ref, status, "", "", se.Code, se.Msg, max(se.Attempts, 1), optOut)
		log.WarnContext(ctx, "sms not sent", "provider", l.Provider, "code", se.Code, "http_status", se.Status,
			"permanent", se.Permanent, "opted_out", se.OptedOut, "invalid_number", se.InvalidNumber, "config", se.Config,
			"attempts", se.Attempts, "err", se.Error())
		if se.OptedOut && err == nil {
			log.InfoContext(ctx, "recipient recorded as opted out", "source", OptOutSourceTwilio)
		}
	case errors.Is(sendErr, ErrUnsure):
		err = l.finish(rctx, m.Ref, StatusUnsure, "", "", 0, sendErr.Error(), max(res.Attempts, 1), "")
		log.ErrorContext(ctx, "sms may or may not have been sent; not retried", "provider", l.Provider, "err", sendErr)
	default:
		err = l.finish(rctx, m.Ref, StatusRetryable, "", "", 0, sendErr.Error(), res.Attempts, "")
		log.WarnContext(ctx, "sms not sent", "provider", l.Provider, "err", sendErr)
	}
	if err != nil {
		log.ErrorContext(ctx, "sms outcome not recorded", "err", err)
	}
	return res, sendErr
}

// claim starts a send of m. It returns (nil, nil) when the caller should
// send, or the earlier row when its outcome stands (sent or failed).
func (l *Logged) claim(ctx context.Context, m Message) (*LoggedMessage, error) {
	now := formatTime(l.Now())
	var stood *LoggedMessage
	err := l.db.Batch.Do(ctx, func(ctx context.Context, tx *sql.Tx) (err error) {
		if m.With != nil {
			if err := m.With(ctx, tx); err != nil {
				return err
			}
		}
		stood, err = l.claimTx(ctx, tx, m, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return stood, nil
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

// finish records the outcome of a claimed send; optOutReason, when set,
// also puts the number on the opt-out list in the same transaction.
func (l *Logged) finish(ctx context.Context, ref, status, sid, providerStatus string, code int, msg string, attempts int, optOutReason string) error {
	now := l.Now()
	return l.db.Batch.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return finishTx(ctx, tx, ref, status, sid, providerStatus, code, msg, attempts, optOutReason, now)
	})
}

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

// sendLocal claims, sends and records m in one transaction, for a sender
// that writes to this database: one commit instead of three, and nothing
// can be half done (no "sending" row left by a crash), so never twice.
func (l *Logged) sendLocal(ctx context.Context, m Message, ls localSender, log *slog.Logger) (Result, error) {
	now := l.Now()
	var stood *LoggedMessage
	var res Result
	err := l.db.Batch.Do(ctx, func(ctx context.Context, tx *sql.Tx) (err error) {
		res = Result{}
		if m.With != nil {
			if err := m.With(ctx, tx); err != nil {
				return err
			}
		}
		stood, err = l.claimTx(ctx, tx, m, formatTime(now))
		if err != nil || stood != nil {
			return err
		}
		if res, err = ls.sendTx(ctx, tx, m); err != nil {
			return err
		}
		return finishTx(ctx, tx, m.Ref, StatusSent, res.SID, res.Status, 0, "", res.Attempts, "", now)
	})
	switch {
	case errors.Is(err, ErrUnsure):
		log.WarnContext(ctx, "sms not sent: an earlier send with this ref never finished; check the provider's log, then release it", "err", err)
		return Result{}, err
	case err != nil:
		log.WarnContext(ctx, "sms not sent", "provider", l.Provider, "err", err)
		return Result{}, err
	case stood != nil && stood.Status == StatusSent:
		log.DebugContext(ctx, "sms already sent; not sending again", "sid", stood.ProviderSID)
		return Result{SID: stood.ProviderSID, Status: stood.ProviderStatus, Provider: stood.Provider, Attempts: stood.Attempts, Replayed: true}, nil
	case stood != nil:
		return Result{}, storedError(stood)
	}
	log.InfoContext(ctx, "sms sent", "provider", l.Provider, "sid", res.SID, "attempts", res.Attempts)
	return res, nil
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
