package referral

import (
	"context"
	"strconv"

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
// it is offered, else the organization's. A phone with an extension reads
// "(816) 555-0101 ext. 12".
func (d DirectorySnapshots) Snapshot(ctx context.Context, serviceID string) (name, org, phone string, err error) {
	doc, err := d.Store.Get(ctx, "service", serviceID, directory.Full)
	if err != nil {
		return "", "", "", err
	}
	name = directory.Text(doc.Get("name"))
	orgDoc, _ := doc.Get("organization").(directory.Doc)
	org = directory.Text(orgDoc.Get("name"))
	phone = firstPhone(doc.Get("phones"))
	if phone == "" {
		sals, _ := doc.Get("service_at_locations").([]directory.Doc)
		for _, sal := range sals {
			if phone = firstPhone(sal.Get("phones")); phone != "" {
				break
			}
			loc, _ := sal.Get("location").(directory.Doc)
			if phone = firstPhone(loc.Get("phones")); phone != "" {
				break
			}
		}
	}
	if phone == "" {
		phone = firstPhone(orgDoc.Get("phones"))
	}
	return name, org, phone, nil
}

// firstPhone is the first number of a composed phones array, with its
// extension.
func firstPhone(v any) string {
	phones, _ := v.([]directory.Doc)
	for _, p := range phones {
		n := directory.Text(p.Get("number"))
		if n == "" {
			continue
		}
		if ext, ok := p.Get("extension").(float64); ok && ext > 0 {
			n += " ext. " + strconv.FormatFloat(ext, 'f', -1, 64)
		}
		return n
	}
	return ""
}
