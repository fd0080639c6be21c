package directory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// rowRef names one stored row.
type rowRef struct{ table, id string }

// Change is one entry of the change feed: the service whose compiled form
// may have changed (or that is gone).
type Change struct {
	Seq       int64
	ServiceID string
}

// serviceLinks says, for a table, how a changed row leads to the services
// whose compiled documents include it.
var serviceLinks = map[string]string{
	"service":             `SELECT id FROM service WHERE id IN (%s)`,
	"organization":        `SELECT id FROM service WHERE organization_id IN (%s)`,
	"program":             `SELECT id FROM service WHERE program_id IN (%s)`,
	"location":            `SELECT service_id FROM service_at_location WHERE location_id IN (%s)`,
	"service_at_location": `SELECT service_id FROM service_at_location WHERE id IN (%s)`,
	"address":             `SELECT sal.service_id FROM address a JOIN service_at_location sal ON sal.location_id = a.location_id WHERE a.id IN (%s)`,
	// A join, not "link_id IN (SELECT id FROM service)", which scanned every
	// service for each chunk and made big imports quadratic.
	"attribute":     `SELECT a.link_id FROM attribute a JOIN service s ON s.id = a.link_id WHERE a.id IN (%s)`,
	"taxonomy_term": `SELECT a.link_id FROM attribute a JOIN service s ON s.id = a.link_id WHERE a.taxonomy_term_id IN (%s)`,
}

// logChanges works out which services the changed rows belong to and
// appends them to the change feed, inside the writing transaction.
func logChanges(ctx context.Context, q querier, rows []rowRef, now time.Time) ([]string, error) {
	byTable := map[string][]any{}
	for _, r := range rows {
		byTable[r.table] = append(byTable[r.table], r.id)
	}
	found := map[string]bool{}
	for table, ids := range byTable {
		query, ok := serviceLinks[table]
		var args []any
		if ok {
			args = ids
		} else if t := Schema.Tables[table]; t != nil {
			if _, has := t.Field("service_id"); !has {
				continue
			}
			query = "SELECT service_id FROM " + table + " WHERE id IN (%s)"
			args = ids
		}
		for start := 0; start < len(args); start += 500 {
			chunk := args[start:min(start+500, len(args))]
			rs, err := q.QueryContext(ctx, fmt.Sprintf(query, strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")), chunk...)
			if err != nil {
				return nil, fmt.Errorf("change feed for %s: %w", table, err)
			}
			for rs.Next() {
				var id *string
				if err := rs.Scan(&id); err != nil {
					rs.Close()
					return nil, err
				}
				if id != nil {
					found[*id] = true
				}
			}
			rs.Close()
			if err := rs.Err(); err != nil {
				return nil, err
			}
		}
	}
	// Deleted service rows are gone from the table; they are changes too.
	for _, r := range rows {
		if r.table == "service" {
			found[r.id] = true
		}
	}
	ids := slices.Sorted(maps.Keys(found))
	at := now.UTC().Format(time.RFC3339)
	// One statement per 500 services rather than one per service.
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, 0, 2*len(chunk))
		for _, id := range chunk {
			args = append(args, id, at)
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO directory_change (service_id, changed_at) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?),", len(chunk)), ","), args...); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// Changes returns up to limit entries of the change feed after seq.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]Change, error) {
	rs, err := s.db.Read.QueryContext(ctx, `SELECT seq, service_id FROM directory_change WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []Change
	for rs.Next() {
		var c Change
		if err := rs.Scan(&c.Seq, &c.ServiceID); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rs.Err()
}

// LastChange returns the newest sequence number of the change feed (0 when
// it is empty).
func (s *Store) LastChange(ctx context.Context) (int64, error) {
	var seq int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM directory_change`).Scan(&seq)
	return seq, err
}
