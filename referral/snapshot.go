package referral

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"github.com/secondchancekc/secondchance/internal/apperr"

	"github.com/secondchancekc/secondchance/directory"
)

// ServiceLookup gives the name, organization name and phone of a directory
// service as listed now; a referral keeps them as they were. An unknown id
// is ENOTFOUND.
type ServiceLookup interface {
	Snapshot(ctx context.Context, serviceID string) (name, org, phone string, err error)
}

// DirectorySnapshots reads snapshots from the directory.
type DirectorySnapshots struct {
	Store *directory.Store
}

var _ ServiceLookup = DirectorySnapshots{}

// Snapshot returns the service's name, its organization's name and the
// first phone listed for it: the service's own, else that of a place where
// it is offered (the place's own phones before its location's, places in
// the order listed), else the organization's. A phone with an extension
// reads "(816) 555-0101 ext. 12". It is one prepared statement: the hotline
// logs a referral on every texted result, and composing the whole listing
// for three fields was most of a webhook's CPU.
func (d DirectorySnapshots) Snapshot(ctx context.Context, serviceID string) (name, org, phone string, err error) {
	var number sql.NullString
	var ext sql.NullFloat64
	err = d.Store.DB().ReadStmts.QueryRow(ctx, snapshotQuery, serviceID).Scan(&name, &org, &number, &ext)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", "", apperr.Errorf(apperr.ENOTFOUND, "No service with id %s.", serviceID)
	} else if err != nil {
		return "", "", "", err
	}
	phone = number.String
	if phone != "" && ext.Valid && ext.Float64 > 0 {
		phone += " ext. " + strconv.FormatFloat(ext.Float64, 'f', -1, 64)
	}
	return name, org, phone, nil
}

// snapshotQuery ranks the candidate phones as the composed listing orders
// them (each relation by rowid) and keeps the first.
const snapshotQuery = `SELECT s.name, COALESCE(o.name, ''),
	p.number, p.extension
	FROM service s
	LEFT JOIN organization o ON o.id = s.organization_id
	LEFT JOIN (
		SELECT number, extension, 0 AS a, 0 AS b, 0 AS c, rowid AS d FROM phone
			WHERE service_id = ?1 AND number != ''
		UNION ALL
		SELECT p.number, p.extension, 1, sal.rowid, 0, p.rowid FROM service_at_location sal
			JOIN phone p ON p.service_at_location_id = sal.id
			WHERE sal.service_id = ?1 AND p.number != ''
		UNION ALL
		SELECT p.number, p.extension, 1, sal.rowid, 1, p.rowid FROM service_at_location sal
			JOIN phone p ON p.location_id = sal.location_id
			WHERE sal.service_id = ?1 AND p.number != ''
		UNION ALL
		SELECT p.number, p.extension, 2, 0, 0, p.rowid FROM service sv
			JOIN phone p ON p.organization_id = sv.organization_id
			WHERE sv.id = ?1 AND p.number != ''
		ORDER BY a, b, c, d LIMIT 1
	) p ON 1
	WHERE s.id = ?1`
