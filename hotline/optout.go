package hotline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/db"
)

// Opt-out sources, as stored in opt_out.source.
const (
	OptOutSourceTwilio = "twilio" // Twilio answered 21610 to a send
	OptOutSourceSMS    = "sms"    // the person texted STOP
	OptOutSourceStaff  = "staff"  // staff recorded it (by phone, in person)
)

// OptOuts is the list of numbers that must not be texted. Logged consults
// it before every send and adds to it on Twilio's 21610; the SMS STOP/START
// handling calls OptOut and OptIn. Every method is idempotent, since
// webhooks may arrive twice.
type OptOuts struct {
	db *db.DB
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// NewOptOuts returns the opt-out list on an open database.
func NewOptOuts(d *db.DB) *OptOuts { return &OptOuts{db: d, Now: time.Now} }

// OptOut records that phone (E.164) must not be texted. source says who
// told us (OptOutSource...), reason what was said (e.g. "STOP",
// "twilio 21610"). A number already opted out keeps its first record.
func (o *OptOuts) OptOut(ctx context.Context, phone, source, reason string) error {
	if !IsE164(phone) {
		return apperr.Errorf(apperr.EINVALID, "the number to opt out must be in E.164 form, e.g. +18165550123 (got %s)", MaskPhone(phone))
	}
	tx, err := o.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := optOut(ctx, tx, phone, source, reason, o.Now()); err != nil {
		return err
	}
	return tx.Commit()
}

func optOut(ctx context.Context, tx *sql.Tx, phone, source, reason string, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO opt_out (phone, reason, source, at) VALUES (?, ?, ?, ?)
		ON CONFLICT (phone) DO NOTHING`, phone, reason, source, formatTime(at)); err != nil {
		return fmt.Errorf("record opt-out: %w", err)
	}
	return nil
}

// OptIn removes phone from the list (the person texted START). A number not
// on the list is not an error.
func (o *OptOuts) OptIn(ctx context.Context, phone string) error {
	tx, err := o.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM opt_out WHERE phone = ?`, phone); err != nil {
		return fmt.Errorf("remove opt-out: %w", err)
	}
	return tx.Commit()
}

// IsOptedOut reports whether phone must not be texted.
func (o *OptOuts) IsOptedOut(ctx context.Context, phone string) (bool, error) {
	var one int
	err := o.db.ReadStmts.QueryRow(ctx, `SELECT 1 FROM opt_out WHERE phone = ?`, phone).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("read opt-out: %w", err)
	}
	return true, nil
}
