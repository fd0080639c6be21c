package hotline

import (
	"context"
	"fmt"
	"time"
)

// KeepMessagesFor is how long texts sent and received (numbers and
// bodies) are kept: two years, as the privacy page says of the referral
// log they belong to.
const KeepMessagesFor = 2 * 365 * 24 * time.Hour

// PurgeMessages deletes texts older than KeepMessagesFor as of now from the
// send log, the local outbox and the received messages, and returns how
// many rows went. Opt-outs are kept: forgetting one would text a person
// who asked us to stop.
func (l *Logged) PurgeMessages(ctx context.Context, now time.Time) (int64, error) {
	cut := formatTime(now.Add(-KeepMessagesFor))
	var total int64
	for _, q := range []string{
		`DELETE FROM sms_message WHERE created_at < ?`,
		`DELETE FROM sms_outbox WHERE created_at < ?`,
		`DELETE FROM sms_inbound WHERE received_at < ?`,
	} {
		r, err := l.db.Write.ExecContext(ctx, q, cut)
		if err != nil {
			return total, fmt.Errorf("purge messages: %w", err)
		}
		n, _ := r.RowsAffected()
		total += n
	}
	return total, nil
}
