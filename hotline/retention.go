package hotline

import (
	"context"
	"fmt"
	"time"

	"github.com/secondchancekc/secondchance/internal/db"
)

// KeepMessagesFor is how long texts sent and received (numbers and
// bodies) are kept: two years, as the privacy page says of the referral
// log they belong to.
const KeepMessagesFor = 2 * 365 * 24 * time.Hour

// PurgeMessages deletes texts and calls older than KeepMessagesFor as of
// now (the send log, the local outbox, the received messages, the calls
// and their steps) and expired SMS conversations, and returns how many
// rows went. Opt-outs are kept: forgetting one would text a person
// who asked us to stop.
func PurgeMessages(ctx context.Context, d *db.DB, now time.Time) (int64, error) {
	cut := formatTime(now.Add(-KeepMessagesFor))
	var total int64
	for _, q := range []struct {
		sql string
		at  string
	}{
		{`DELETE FROM sms_message WHERE created_at < ?`, cut},
		{`DELETE FROM sms_outbox WHERE created_at < ?`, cut},
		{`DELETE FROM sms_inbound WHERE received_at < ?`, cut},
		{`DELETE FROM hotline_call_step WHERE call_sid IN (SELECT call_sid FROM hotline_call WHERE started_at < ?)`, cut},
		{`DELETE FROM hotline_call WHERE started_at < ?`, cut},
		// A conversation is forgotten once it expires (hours, not years).
		{`DELETE FROM hotline_sms_conversation WHERE expires_at < ?`, formatTime(now)},
	} {
		r, err := d.Write.ExecContext(ctx, q.sql, q.at)
		if err != nil {
			return total, fmt.Errorf("purge messages: %w", err)
		}
		n, _ := r.RowsAffected()
		total += n
	}
	return total, nil
}
