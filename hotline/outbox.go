package hotline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/db"
)

// timeFormat stores times as UTC text that sorts in time order.
const timeFormat = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// Outbox is the sender used when no Twilio account is configured: messages
// are written to the sms_outbox table, where staff read them on a page, so a
// fresh install works end to end without an account.
type Outbox struct {
	db *db.DB
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// NewOutbox returns an Outbox on an open database.
func NewOutbox(d *db.DB) *Outbox { return &Outbox{db: d, Now: time.Now} }

// OutboxMessage is one message in the outbox.
type OutboxMessage struct {
	ID        int64
	Ref       string
	To        string
	Body      string
	Purpose   string
	Status    string
	CreatedAt time.Time
}

// SID is the provider id the outbox gives the message.
func (m *OutboxMessage) SID() string { return "outbox-" + strconv.FormatInt(m.ID, 10) }

// OutboxFilter selects outbox messages for List; zero fields match all.
type OutboxFilter struct {
	Ref     string
	To      string
	Purpose string
	Offset  int
	Limit   int // default 50, at most 500
}

// Send implements Sender: it queues the message in the outbox. A second
// Send with the same Ref writes nothing and returns the first result; with
// the same Ref but another number or body it is ECONFLICT.
func (o *Outbox) Send(ctx context.Context, m Message) (Result, error) {
	if err := m.Validate(); err != nil {
		return Result{}, err
	}
	var res Result
	err := o.db.Batch.Do(ctx, func(ctx context.Context, tx *sql.Tx) (err error) {
		res, err = o.sendTx(ctx, tx, m)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

var _ localSender = (*Outbox)(nil)

func (o *Outbox) database() *db.DB { return o.db }

// sendTx is Send inside the caller's transaction.
func (o *Outbox) sendTx(ctx context.Context, tx *sql.Tx, m Message) (Result, error) {
	prev, err := findOutbox(ctx, tx, m.Ref)
	if err == nil {
		if prev.To != m.To || prev.Body != m.Body {
			return Result{}, apperr.Errorf(apperr.ECONFLICT, "ref %s was already used for a different message", m.Ref)
		}
		return Result{SID: prev.SID(), Status: prev.Status, Provider: ProviderOutbox, Attempts: 1, Replayed: true}, nil
	} else if apperr.Code(err) != apperr.ENOTFOUND {
		return Result{}, err
	}
	r, err := o.db.Batch.Exec(ctx, tx, `INSERT INTO sms_outbox (ref, to_number, body, purpose, status, created_at)
		VALUES (?, ?, ?, ?, 'queued', ?)`, m.Ref, m.To, m.Body, m.Purpose, formatTime(o.Now()))
	if err != nil {
		return Result{}, fmt.Errorf("queue sms in outbox: %w", err)
	}
	id, err := r.LastInsertId()
	if err != nil {
		return Result{}, err
	}
	return Result{SID: (&OutboxMessage{ID: id}).SID(), Status: "queued", Provider: ProviderOutbox, Attempts: 1}, nil
}

// List returns the outbox messages matching f, newest first, and how many
// match in all.
func (o *Outbox) List(ctx context.Context, f OutboxFilter) ([]*OutboxMessage, int, error) {
	out, n, err := listNewest(ctx, o.db, "sms_outbox", "id, ref, to_number, body, purpose, status, created_at",
		[]match{{"ref", f.Ref}, {"to_number", f.To}, {"purpose", f.Purpose}}, f.Offset, f.Limit,
		func(rows *sql.Rows) (*OutboxMessage, error) { return scanOutbox(rows) })
	if err != nil {
		return nil, 0, fmt.Errorf("list outbox: %w", err)
	}
	return out, n, nil
}

// match is one equality condition of a listing; an empty value does not
// filter.
type match struct{ column, value string }

// listNewest reads one page of table's rows (cols, scanned by scan) that
// meet every non-empty match, newest (highest id) first, and how many meet
// them in all, in one read transaction. limit defaults to 50 and is at
// most 500.
func listNewest[T any](ctx context.Context, d *db.DB, table, cols string, ms []match, offset, limit int, scan func(*sql.Rows) (T, error)) ([]T, int, error) {
	var where []string
	var args []any
	for _, m := range ms {
		if m.value != "" {
			where, args = append(where, m.column+" = ?"), append(args, m.value)
		}
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	tx, err := d.Read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+cond, args...).Scan(&n); err != nil {
		return nil, 0, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+cols+` FROM `+table+cond+` ORDER BY id DESC LIMIT ? OFFSET ?`,
		append(args, limit, max(0, offset))...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	return out, n, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanOutbox(s scanner) (*OutboxMessage, error) {
	var m OutboxMessage
	var at string
	if err := s.Scan(&m.ID, &m.Ref, &m.To, &m.Body, &m.Purpose, &m.Status, &at); err != nil {
		return nil, err
	}
	m.CreatedAt = parseTime(at)
	return &m, nil
}

func findOutbox(ctx context.Context, tx *sql.Tx, ref string) (*OutboxMessage, error) {
	m, err := scanOutbox(tx.QueryRowContext(ctx,
		`SELECT id, ref, to_number, body, purpose, status, created_at FROM sms_outbox WHERE ref = ?`, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "no outbox message with ref %s", ref)
	}
	return m, err
}
