package search

import (
	"context"
	"fmt"
	"time"

	"github.com/secondchancekc/secondchance/internal/db"
)

// KeepUnmetFor is how long searches that found nothing are kept (the
// privacy page's "up to 2 years"); they hold no personal details, but the
// words people type can.
const KeepUnmetFor = 2 * 365 * 24 * time.Hour

// PurgeUnmet deletes unmet searches older than KeepUnmetFor as of now.
func PurgeUnmet(ctx context.Context, d *db.DB, now time.Time) (int64, error) {
	r, err := d.Write.ExecContext(ctx, `DELETE FROM unmet_search WHERE julianday(searched_at) < julianday(?)`,
		now.Add(-KeepUnmetFor).UTC().Format(time.RFC3339))
	if err != nil {
		return 0, fmt.Errorf("purge unmet searches: %w", err)
	}
	return r.RowsAffected()
}
