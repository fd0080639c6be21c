package referral

import (
	"context"
	"fmt"
	"time"
)

// How long personal details are kept, as the public privacy page promises
// (templates/public/privacy.html): a client's phone, name, notes and
// replies until two years after their last contact (then DeleteClient
// de-identifies them; the facts stay for reports), and the hashed numbers
// and addresses of "Text me this" for 30 days.
const (
	KeepClientFor    = 2 * 365 * 24 * time.Hour
	KeepTextLimitFor = 30 * 24 * time.Hour
)

// SystemActorRetention is the actor of deletions made by the retention
// schedule rather than by a person.
const SystemActorRetention = SystemActorPrefix + "retention"

// PurgeResult counts what Purge removed.
type PurgeResult struct {
	ClientsDeidentified int   `json:"clients_deidentified"`
	TextLimitRows       int64 `json:"text_limit_rows"`
}

// Purge applies the retention periods as of now: clients not heard from in
// KeepClientFor (no referral, reply or change since) are de-identified,
// and "Text me this" rate-limit rows older than KeepTextLimitFor deleted.
// It is safe to run at any time and again.
func (s *Store) Purge(ctx context.Context, now time.Time) (PurgeResult, error) {
	var res PurgeResult
	cut := formatTime(now.Add(-KeepClientFor))
	ids, err := queryStrings(ctx, s.db.Read, `SELECT c.id FROM referral_client c
		WHERE c.deleted_at IS NULL AND (c.phone IS NOT NULL OR c.name <> '') AND c.updated_at < ?
		AND NOT EXISTS (SELECT 1 FROM referral r WHERE r.client_id = c.id AND r.created_at >= ?)
		AND NOT EXISTS (SELECT 1 FROM referral r JOIN followup f ON f.referral_id = r.id
			WHERE r.client_id = c.id AND (f.replied_at >= ? OR f.updated_at >= ?))`, cut, cut, cut, cut)
	if err != nil {
		return res, fmt.Errorf("find clients past retention: %w", err)
	}
	for _, id := range ids {
		if err := s.DeleteClient(ctx, id, SystemActorRetention); err != nil {
			return res, fmt.Errorf("de-identify client %s: %w", id, err)
		}
		res.ClientsDeidentified++
	}
	r, err := s.db.Write.ExecContext(ctx, `DELETE FROM public_text WHERE julianday(created_at) < julianday(?)`,
		now.Add(-KeepTextLimitFor).UTC().Format(time.RFC3339Nano))
	if err != nil {
		return res, fmt.Errorf("delete old text limits: %w", err)
	}
	res.TextLimitRows, _ = r.RowsAffected()
	return res, nil
}
