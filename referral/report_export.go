package referral

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// ExportRow is one referred service in the de-identified export for
// partners and researchers. It holds no phone, name, note, staff id or
// time finer than the week, and the referral's own id is replaced by a key
// that is random for each export: rows of one referral share it within a
// file, but two exports cannot be joined on it, nor can it be traced back
// to the referral log.
type ExportRow struct {
	// ReferralKey groups the services of one referral within this export.
	ReferralKey string `json:"referral_key"`
	// Week is the Monday (in the configured zone) of the referral's week.
	Week    string `json:"week"`
	Channel string `json:"channel"`
	Need    string `json:"need_category"`
	// ZIP3 is the first three digits of the ZIP code given, or "".
	ZIP3 string `json:"zip3"`
	// Position is the service's place in the referral (0 first).
	Position     int    `json:"position"`
	ServiceID    string `json:"service_id"`
	Service      string `json:"service"`
	Organization string `json:"partner"`
	// OutcomeFrom says where the outcome below comes from: "service" (its
	// own), "referral" (the overall outcome of a referral to it alone), or
	// "" (none recorded).
	OutcomeFrom    string `json:"outcome_from"`
	Reached        *bool  `json:"reached"`
	GotHelp        string `json:"got_help"`
	Reason         string `json:"reason"`
	StillNeedsHelp *bool  `json:"still_needs_help"`
	// Follow-ups of the whole referral: texts sent and answered, and
	// staff call tasks created.
	TextsSent     int `json:"texts_sent"`
	TextsAnswered int `json:"texts_answered"`
	CallTasks     int `json:"call_tasks"`
}

// ExportColumns are the CSV header of the export, in ExportRow.Record's
// order.
var ExportColumns = []string{"referral_key", "week", "channel", "need_category", "zip3", "position", "service_id", "service",
	"partner", "outcome_from", "reached", "got_help", "reason", "still_needs_help", "texts_sent", "texts_answered", "call_tasks"}

// Record is the row as CSV cells (made safe with CSVCell).
func (r *ExportRow) Record() []string {
	rec := []string{r.ReferralKey, r.Week, r.Channel, r.Need, r.ZIP3, strconv.Itoa(r.Position), r.ServiceID, r.Service,
		r.Organization, r.OutcomeFrom, boolCell(r.Reached), r.GotHelp, r.Reason, boolCell(r.StillNeedsHelp),
		strconv.Itoa(r.TextsSent), strconv.Itoa(r.TextsAnswered), strconv.Itoa(r.CallTasks)}
	for i := range rec {
		rec[i] = CSVCell(rec[i])
	}
	return rec
}

func boolCell(b *bool) string {
	switch {
	case b == nil:
		return ""
	case *b:
		return "true"
	}
	return "false"
}

// Export calls fn with each referred service of the referrals f selects,
// oldest referral first, de-identified (see ExportRow). It reads from one
// snapshot; fn may write to the network (it is called while rows stream).
func (s *Store) Export(ctx context.Context, f ReportFilter, fn func(*ExportRow) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	zone := s.Zone
	if zone == nil {
		zone = time.UTC
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	key := func(id string) string {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(id))
		return hex.EncodeToString(m.Sum(nil)[:12])
	}
	tx, err := s.db.Read.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	where, args := f.where()

	// Follow-up counts per referral, first: one grouped query rather than
	// one per row.
	type counts struct{ sent, answered, calls int }
	fus := map[string]counts{}
	rows, err := tx.QueryContext(ctx, `SELECT f.referral_id, COUNT(f.sent_at), SUM(f.replied_at IS NOT NULL OR f.state = 'answered'),
		SUM(f.kind = 'call') FROM referral r JOIN followup f ON f.referral_id = r.id WHERE `+where+` GROUP BY f.referral_id`, args...)
	if err != nil {
		return fmt.Errorf("export follow-ups: %w", err)
	}
	for rows.Next() {
		var id string
		var c counts
		if err := rows.Scan(&id, &c.sent, &c.answered, &c.calls); err != nil {
			rows.Close()
			return err
		}
		fus[id] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	if f.Partner != "" {
		where += " AND s.organization = ?"
		args = append(args, f.Partner)
	}
	rows, err = tx.QueryContext(ctx, `SELECT r.id, r.created_at, r.channel, r.need_category, r.zip, s.position, s.service_id, s.name,
		s.organization, IIF(so.referral_id IS NOT NULL, 'service', IIF(ro.referral_id IS NOT NULL, 'referral', '')),
		`+effectiveReached+`, COALESCE(`+effectiveGotHelp+`, ''), COALESCE(`+effectiveReason+`, ''),
		IIF(so.referral_id IS NOT NULL, so.still_needs_help, ro.still_needs_help)
		FROM referral r JOIN referral_service s ON s.referral_id = r.id `+effectiveJoins+`
		WHERE `+where+` ORDER BY r.created_at, r.id, s.position`, args...)
	if err != nil {
		return fmt.Errorf("export referrals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, created, zip string
		var r ExportRow
		var reached, still nullBoolScan
		if err := rows.Scan(&id, &created, &r.Channel, &r.Need, &zip, &r.Position, &r.ServiceID, &r.Service, &r.Organization,
			&r.OutcomeFrom, &reached, &r.GotHelp, &r.Reason, &still); err != nil {
			return err
		}
		at, err := parseTime(created)
		if err != nil {
			return err
		}
		r.ReferralKey = key(id)
		r.Week = weekStart(at.In(zone)).Format("2006-01-02")
		if len(zip) >= 3 {
			r.ZIP3 = zip[:3]
		}
		r.Reached, r.StillNeedsHelp = reached.ptr(), still.ptr()
		c := fus[id]
		r.TextsSent, r.TextsAnswered, r.CallTasks = c.sent, c.answered, c.calls
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// nullBoolScan scans a nullable 0/1 column.
type nullBoolScan struct {
	valid, v bool
}

func (n *nullBoolScan) Scan(src any) error {
	switch x := src.(type) {
	case nil:
		n.valid = false
	case int64:
		n.valid, n.v = true, x == 1
	default:
		return fmt.Errorf("not a 0/1 value: %T", src)
	}
	return nil
}

func (n nullBoolScan) ptr() *bool {
	if !n.valid {
		return nil
	}
	b := n.v
	return &b
}
