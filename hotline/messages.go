package hotline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Statuses lists the statuses of the sms_message log, for filters.
var Statuses = []string{StatusSending, StatusSent, StatusFailed, StatusRetryable, StatusUnsure}

// MessageFilter selects messages of the sms_message log for Messages; zero
// fields match all.
type MessageFilter struct {
	Purpose string
	Status  string
	Offset  int
	Limit   int // default 50, at most 500
}

// Validate reports a filter naming a status that does not exist.
func (f MessageFilter) Validate() error {
	if f.Status != "" && !slices.Contains(Statuses, f.Status) {
		return apperr.Errorf(apperr.EINVALID, "There is no message status %.40q; choose one of %s.", f.Status, strings.Join(Statuses, ", "))
	}
	return nil
}

// Messages returns the log's messages matching f, newest first, and how
// many match in all. It only reads.
func (l *Logged) Messages(ctx context.Context, f MessageFilter) ([]*LoggedMessage, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	// id follows created_at (both are assigned at the first claim), and the
	// primary key makes the newest-first page cheap.
	out, n, err := listNewest(ctx, l.db, "sms_message", messageCols, []match{{"purpose", f.Purpose}, {"status", f.Status}},
		f.Offset, f.Limit, func(rows *sql.Rows) (*LoggedMessage, error) { return scanMessage(rows) })
	if err != nil {
		return nil, 0, fmt.Errorf("list sms log: %w", err)
	}
	return out, n, nil
}

// MessageByID returns one message of the log, or ENOTFOUND.
func (l *Logged) MessageByID(ctx context.Context, id int64) (*LoggedMessage, error) {
	tx, err := l.db.Read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	m, err := scanMessage(tx.QueryRowContext(ctx, `SELECT `+messageCols+` FROM sms_message WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "There is no text message %d.", id)
	} else if err != nil {
		return nil, fmt.Errorf("read sms log: %w", err)
	}
	return m, nil
}

// Purposes returns the purposes found in the log, sorted, for filters.
func (l *Logged) Purposes(ctx context.Context) ([]string, error) {
	rows, err := l.db.Read.QueryContext(ctx, `SELECT DISTINCT purpose FROM sms_message ORDER BY purpose`)
	if err != nil {
		return nil, fmt.Errorf("list sms purposes: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
