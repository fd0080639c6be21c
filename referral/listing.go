package referral

import "context"

// ReferralCounts returns how many referrals each service was part of, for
// the directory's verification queue (the most referred listings are
// verified first).
func (s *Store) ReferralCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT service_id, COUNT(*) FROM referral_service GROUP BY service_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}
