package search

import (
	"context"
	"strings"

	"github.com/secondchancekc/secondchance/directory"
)

// fallback answers from SQL while the index is missing or rebuilding: the
// same words and synonyms (every need must appear in the name, description
// or organization name), the category and fact filters, no misspellings,
// no distance and no facets. Results say so.
func (e *Engine) fallback(ctx context.Context, q Query) (*Result, error) {
	where := []string{"s.status IN ('active', 'temporarily closed')"}
	var args []any
	for _, g := range e.syn.analyze(q.Text) {
		var alts []string
		for _, t := range append([]string{g.typed}, g.terms...) {
			p := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(t) + "%"
			alts = append(alts, `s.name LIKE ? ESCAPE '\' OR s.description LIKE ? ESCAPE '\' OR o.name LIKE ? ESCAPE '\'`)
			args = append(args, p, p, p)
		}
		where = append(where, "("+strings.Join(alts, " OR ")+")")
	}
	if len(q.Categories) > 0 {
		var ids []string
		for _, c := range q.Categories {
			if cat, ok := directory.CategoryByKey(c); ok {
				ids = append(ids, cat.TermIDs...)
			} else {
				ids = append(ids, c)
			}
		}
		where = append(where, "EXISTS (SELECT 1 FROM attribute a WHERE a.link_id = s.id AND a.taxonomy_term_id IN ("+placeholders(len(ids))+"))")
		for _, id := range ids {
			args = append(args, id)
		}
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
	cond := " FROM service s LEFT JOIN organization o ON o.id = s.organization_id WHERE " + strings.Join(where, " AND ")
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
