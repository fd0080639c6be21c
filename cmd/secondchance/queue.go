package main

import (
	"context"
	"strconv"

	"github.com/secondchancekc/secondchance/internal/auth"
	"github.com/secondchancekc/secondchance/referral"
	"github.com/secondchancekc/secondchance/search"
)

// serviceSearch adapts the search engine to the staff pages' search box.
type serviceSearch struct{ eng *search.Engine }

var _ referral.ServiceSearch = serviceSearch{}

// SearchServices runs a search as /api/search would: words near a ZIP code;
// a search without words lists the services of the need. Bad input (a ZIP
// code the engine does not know) is EINVALID, for the form to show.
func (s serviceSearch) SearchServices(ctx context.Context, q referral.ServiceQuery) ([]referral.ServiceHit, error) {
	p := search.Params{Text: q.Text, ZIP: q.ZIP, PerPage: strconv.Itoa(max(1, min(q.Limit, 50)))}
	if q.Text == "" && q.Need != "" && q.Need != referral.NeedOther {
		p.Categories = []string{q.Need}
	}
	sq, err := search.ParseQuery(p)
	if err != nil {
		return nil, err
	}
	res, err := s.eng.Answer(ctx, sq, "staff")
	if err != nil {
		return nil, err
	}
	hits := make([]referral.ServiceHit, 0, len(res.Results))
	for _, c := range res.Results {
		h := referral.ServiceHit{ID: c.ID, Name: c.Name, Organization: c.Organization.Name}
		if len(c.Phones) > 0 {
			h.Phone = c.Phones[0].Number
		}
		if c.Address != nil {
			h.Address = c.Address.Address1 + ", " + c.Address.City
		}
		hits = append(hits, h)
	}
	return hits, nil
}

// staffMembers names the staff accounts for the queue's assignees.
func staffMembers(svc *auth.Service) func(context.Context) ([]referral.StaffMember, error) {
	return func(ctx context.Context) ([]referral.StaffMember, error) {
		us, err := svc.Users(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]referral.StaffMember, 0, len(us))
		for _, u := range us {
			out = append(out, referral.StaffMember{ID: strconv.FormatInt(u.ID, 10), Name: u.DisplayName()})
		}
		return out, nil
	}
}
