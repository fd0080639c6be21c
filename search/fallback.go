package search

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"slices"
	"strings"

	"github.com/secondchancekc/secondchance/directory"
)

// fallback answers from SQL while the index is missing or rebuilding: the
// same words and synonyms (every need must appear in the name, description
// or organization name), the category, fact, language and age filters, no
// misspellings, no "open now" and no facets. Near a point it keeps the
// radius and ranks nearest first (it has no relevance to rank by), each
// service at its nearest place; elsewhere by name. Results say so.
func (e *Engine) fallback(ctx context.Context, q Query) (*Result, error) {
	where := []string{"s.status IN ('active', 'temporarily closed')"}
	var args []any
	for _, g := range e.syn.analyze(q.Text, nil) {
		var alts []string
		for _, t := range append([]string{g.typed}, g.terms...) {
			p := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(t) + "%"
			alts = append(alts, `s.name LIKE ? ESCAPE '\' OR s.description LIKE ? ESCAPE '\' OR o.name LIKE ? ESCAPE '\'`)
			args = append(args, p, p, p)
		}
		where = append(where, "("+strings.Join(alts, " OR ")+")")
	}
	if len(q.Categories) > 0 {
		// The terms a category stands for, children included, chosen as
		// the index chooses them (see loader.category and the terms field).
		l, err := e.newLoader(ctx)
		if err != nil {
			return nil, err
		}
		ids := []string{}
		for id := range l.terms {
			for _, c := range q.Categories {
				if l.within(id, c) {
					ids = append(ids, id)
					break
				}
			}
		}
		list, _ := json.Marshal(ids)
		where = append(where, "EXISTS (SELECT 1 FROM attribute a WHERE a.link_id = s.id AND a.taxonomy_term_id IN (SELECT value FROM json_each(?)))")
		args = append(args, string(list))
	}
	facts := q.Facts
	if q.Free {
		facts = append(facts, "free")
	}
	for _, f := range facts {
		where = append(where, `EXISTS (SELECT 1 FROM attribute a JOIN taxonomy_term t ON t.id = a.taxonomy_term_id
			WHERE a.link_id = s.id AND t.taxonomy_id = ? AND t.code = ?)`)
		args = append(args, directory.ReentryTaxonomyID, f)
	}
	if q.Language != "" {
		ids, err := e.servicesSpeaking(ctx, q.Language)
		if err != nil {
			return nil, err
		}
		list, _ := json.Marshal(ids)
		where = append(where, "s.id IN (SELECT value FROM json_each(?))")
		args = append(args, string(list))
	}
	if q.Age > 0 {
		// As indexed: no minimum is 0, no maximum is 200.
		where = append(where, "COALESCE(s.minimum_age, 0) <= ? AND COALESCE(s.maximum_age, 200) >= ?")
		args = append(args, q.Age, q.Age)
	}
	const from = " FROM service s LEFT JOIN organization o ON o.id = s.organization_id"
	if q.HasPoint {
		return e.fallbackNear(ctx, q, from, " WHERE "+strings.Join(where, " AND "), args)
	}
	cond := from + " WHERE " + strings.Join(where, " AND ")
	db := e.store.DB().Read
	res := &Result{Fallback: true, Facets: map[string][]Facet{}}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*)"+cond, args...).Scan(&res.Total); err != nil {
		return nil, err
	}
	rs, err := db.QueryContext(ctx, "SELECT s.id"+cond+" ORDER BY s.status = 'temporarily closed', s.name LIMIT ? OFFSET ?",
		append(args, q.PerPage, (q.Page-1)*q.PerPage)...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	for rs.Next() {
		var h Hit
		if err := rs.Scan(&h.ServiceID); err != nil {
			return nil, err
		}
		res.Hits = append(res.Hits, h)
	}
	return res, rs.Err()
}

// fallbackNear is the fallback near a point: the services of from and
// where, each at its nearest physical place, within the radius (services
// by phone or online only always, last), nearest first, temporarily closed
// last.
func (e *Engine) fallbackNear(ctx context.Context, q Query, from, where string, args []any) (*Result, error) {
	rs, err := e.store.DB().Read.QueryContext(ctx, `SELECT s.id, s.status = 'temporarily closed', s.name, COALESCE(sal.id, ''),
		l.latitude, l.longitude, COALESCE(l.location_type, '')`+from+`
		LEFT JOIN service_at_location sal ON sal.service_id = s.id
		LEFT JOIN location l ON l.id = sal.location_id`+where+` ORDER BY s.rowid, sal.rowid`, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	type near struct {
		hit    Hit
		closed bool
		name   string
		miles  float64 // +Inf: no physical place
	}
	var found []*near
	at := directory.Point{Lat: q.Lat, Lon: q.Lon}
	for rs.Next() {
		var id, name, salID, ltype string
		var closed bool
		var lat, lon sql.NullFloat64
		if err := rs.Scan(&id, &closed, &name, &salID, &lat, &lon, &ltype); err != nil {
			return nil, err
		}
		if len(found) == 0 || found[len(found)-1].hit.ServiceID != id {
			found = append(found, &near{hit: Hit{ServiceID: id}, closed: closed, name: name, miles: math.Inf(1)})
		}
		n := found[len(found)-1]
		if salID == "" || ltype == "virtual" || !lat.Valid || !lon.Valid {
			continue
		}
		if d := directory.Miles(at, directory.Point{Lat: lat.Float64, Lon: lon.Float64}); d < n.miles {
			n.miles, n.hit.PlaceID = d, salID
		}
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	found = slices.DeleteFunc(found, func(n *near) bool { return q.Radius > 0 && !math.IsInf(n.miles, 1) && n.miles > q.Radius })
	slices.SortStableFunc(found, func(a, b *near) int {
		if a.closed != b.closed {
			if a.closed {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(a.miles, b.miles); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	res := &Result{Fallback: true, Facets: map[string][]Facet{}, Total: len(found)}
	for _, n := range found[min(len(found), (q.Page-1)*q.PerPage):min(len(found), q.Page*q.PerPage)] {
		res.Hits = append(res.Hits, n.hit)
	}
	return res, nil
}

// within reports whether term id falls under c, a category key or a
// taxonomy term id, as a filter on the index would find it: by its nearest
// categorised ancestor for a key, by any ancestor (or itself) for a term.
func (l *loader) within(id, c string) bool {
	if _, ok := directory.CategoryByKey(c); ok {
		return slices.Contains(l.categories(id), c)
	}
	for i := 0; id != "" && i < 10; id, i = l.terms[id].parent, i+1 {
		if id == c {
			return true
		}
	}
	return false
}

// servicesSpeaking lists the services offered in a language, read as the
// index reads it (languageCode; a service with none listed is English).
func (e *Engine) servicesSpeaking(ctx context.Context, lang string) ([]string, error) {
	rs, err := e.store.DB().Read.QueryContext(ctx, `SELECT s.id, COALESCE(l.code, ''), COALESCE(l.name, ''), l.id IS NULL
		FROM service s LEFT JOIN language l ON l.service_id = s.id`)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	ids := []string{}
	for rs.Next() {
		var id, code, name string
		var none bool
		if err := rs.Scan(&id, &code, &name, &none); err != nil {
			return nil, err
		}
		if none && lang == "en" || !none && languageCode(code, name) == lang {
			ids = append(ids, id)
		}
	}
	return ids, rs.Err()
}
