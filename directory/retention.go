package directory

import (
	"context"
	"fmt"
	"time"
)

// KeepCorrectionsFor is how long a public correction is kept once staff
// have reviewed it (the privacy page's "until staff review it, then up to
// 1 year"); one not yet reviewed stays until it is.
const KeepCorrectionsFor = 365 * 24 * time.Hour

// PurgeCorrections deletes reviewed corrections older than
// KeepCorrectionsFor as of now, and returns how many went.
func (s *Store) PurgeCorrections(ctx context.Context, now time.Time) (int64, error) {
	r, err := s.db.Write.ExecContext(ctx, `DELETE FROM correction WHERE status <> 'new' AND julianday(created_at) < julianday(?)`,
		now.Add(-KeepCorrectionsFor).UTC().Format(time.RFC3339Nano))
	if err != nil {
		return 0, fmt.Errorf("purge corrections: %w", err)
	}
	return r.RowsAffected()
}
