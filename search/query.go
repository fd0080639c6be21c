package search

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Query is one search, already validated (see ParseQuery).
type Query struct {
	Text       string
	Lat, Lon   float64
	HasPoint   bool
	Radius     float64  // miles; 0 = no radius
	Categories []string // category keys or taxonomy term ids
	Facts      []string // reentry fact codes, all required
	Language   string
	OpenNow    bool
	Free       bool
	Age        int // 0 = any
	Page       int // from 1
	PerPage    int
	Sort       string // relevance or distance
}

// Hit is one service found.
type Hit struct {
	ServiceID string
	// PlaceID is the service_at_location that matched (nearest, when
	// searching near a point); empty for services with no physical place.
	PlaceID string
	Score   float64
}

// Facet is a count of results by one value.
type Facet struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// Result is a page of hits, the total, and facet counts.
type Result struct {
	Hits   []Hit
	Total  int
	Facets map[string][]Facet
	// Fallback is true when the index was not ready and SQL answered.
	Fallback bool
	// Relaxed is true when not every word could be matched, so services
	// matching any of them are shown.
	Relaxed bool
	Took    time.Duration
}

// Field weights: a name match outranks a description match.
var fieldBoosts = []struct {
	field string
	boost float64
}{
	{fName, 6}, {fAltName, 3}, {fCategory, 4}, {fOrg, 2}, {fDesc, 1}, {fDetails, 0.5}, {fSpanish, 1.5},
}

const (
	factBoost      = 8   // a service with a fact the query implies ranks first
	categoryBoost  = 3   // a service in the category a word implies
	expansionBoost = 0.5 // a synonym counts for less than the word typed
	fuzzyBoost     = 0.3 // a misspelling's match counts for less than an exact one
)

// textQuery matches one word or phrase in every text field.
func textQuery(text string, boost float64) query.Query {
	var qs []query.Query
	phrase := strings.Contains(text, " ")
	for _, fb := range fieldBoosts {
		if phrase {
			q := bleve.NewMatchPhraseQuery(text)
			q.SetField(fb.field)
			q.SetBoost(fb.boost * boost)
			qs = append(qs, q)
		} else {
			q := bleve.NewMatchQuery(text)
			q.SetField(fb.field)
			q.SetBoost(fb.boost * boost)
			qs = append(qs, q)
		}
	}
	return bleve.NewDisjunctionQuery(qs...)
}

// groupQuery matches one need: the word typed, its synonyms, its category,
// and (for a word that may be misspelled) near spellings.
func groupQuery(g group) query.Query {
	qs := []query.Query{textQuery(g.typed, 1)}
	for _, t := range g.terms {
		if t != g.typed {
			qs = append(qs, textQuery(t, expansionBoost))
		}
	}
	for _, c := range g.categories {
		q := bleve.NewTermQuery(c)
		q.SetField(fCat)
		q.SetBoost(categoryBoost)
		qs = append(qs, q)
	}
	for _, f := range g.facts {
		q := bleve.NewTermQuery(f)
		q.SetField(fFact)
		q.SetBoost(factBoost)
		qs = append(qs, q)
	}
	if g.fuzzy {
		q := bleve.NewFuzzyQuery(g.typed)
		q.SetField(fWords)
		q.SetFuzziness(1)
		if len([]rune(g.typed)) >= 8 {
			q.SetFuzziness(2)
		}
		q.SetBoost(fuzzyBoost)
		qs = append(qs, q)
	}
	return bleve.NewDisjunctionQuery(qs...)
}

// filters are the conditions every result must meet.
func (e *Engine) filters(q Query, now time.Time) []query.Query {
	var fs []query.Query
	term := func(field, v string) query.Query {
		t := bleve.NewTermQuery(v)
		t.SetField(field)
		return t
	}
	if len(q.Categories) > 0 {
		var any []query.Query
		for _, c := range q.Categories {
			if _, ok := directory.CategoryByKey(c); ok {
				any = append(any, term(fCat, c))
			} else {
				any = append(any, term(fTerms, c))
			}
		}
		fs = append(fs, bleve.NewDisjunctionQuery(any...))
	}
	for _, f := range q.Facts {
		fs = append(fs, term(fFact, f))
	}
	if q.Free && !slices.Contains(q.Facts, "free") {
		fs = append(fs, term(fFact, "free"))
	}
	if q.Language != "" {
		fs = append(fs, term(fLang, q.Language))
	}
	if q.Age > 0 {
		age := float64(q.Age)
		lo := bleve.NewNumericRangeInclusiveQuery(nil, &age, nil, boolPtr(true))
		lo.SetField(fMinAge)
		hi := bleve.NewNumericRangeInclusiveQuery(&age, nil, boolPtr(true), nil)
		hi.SetField(fMaxAge)
		fs = append(fs, lo, hi)
	}
	if q.OpenNow {
		fs = append(fs, term(fOpen, Slot(now.In(e.opt.Location))))
	}
	if q.HasPoint && q.Radius > 0 {
		geo := bleve.NewGeoDistanceQuery(q.Lon, q.Lat, fmt.Sprintf("%gmi", q.Radius))
		geo.SetField(fGeo)
		// Services by phone or online serve the whole area.
		fs = append(fs, bleve.NewDisjunctionQuery(geo, term(fRemote, "1")))
	}
	if !q.HasPoint {
		// One document per service, so totals and facets count services.
		fs = append(fs, term(fPrimary, "1"))
	}
	return fs
}

func boolPtr(b bool) *bool { return &b }

// Slot is the half-hour slot of the week that t falls in, as indexed in the
// "open" field: "d3s17" is Wednesday 08:30-09:00.
func Slot(t time.Time) string {
	return fmt.Sprintf("d%ds%d", int(t.Weekday()), t.Hour()*2+t.Minute()/30)
}

// build makes the bleve query: every group (AND) or any group (OR), the
// filters, and the reentry facts the words imply as a ranking boost.
func (e *Engine) build(q Query, groups []group, all bool, now time.Time) query.Query {
	b := bleve.NewBooleanQuery()
	for _, f := range e.filters(q, now) {
		b.AddMust(f)
	}
	switch {
	case len(groups) == 0:
		b.AddMust(bleve.NewMatchAllQuery())
	case all:
		for _, g := range groups {
			b.AddMust(groupQuery(g))
		}
	default:
		var any []query.Query
		for _, g := range groups {
			any = append(any, groupQuery(g))
		}
		b.AddMust(bleve.NewDisjunctionQuery(any...))
	}
	for _, g := range groups {
		for _, f := range g.facts {
			t := bleve.NewTermQuery(f)
			t.SetField(fFact)
			t.SetBoost(factBoost)
			b.AddShould(t)
		}
	}
	return b
}

// relaxBelow is how few results AND must find before OR is tried.
const relaxBelow = 3

// Search runs q against the index, or against SQL while the index is not
// ready.
func (e *Engine) Search(ctx context.Context, q Query) (*Result, error) {
	start := time.Now()
	e.mu.RLock()
	idx := e.idx
	ready, _ := e.Status()
	if idx == nil || !ready {
		e.mu.RUnlock()
		res, err := e.fallback(ctx, q)
		if res != nil {
			res.Took = time.Since(start)
		}
		return res, err
	}
	defer e.mu.RUnlock()
	groups := e.syn.analyze(q.Text)
	now := e.now()
	res, err := e.run(ctx, idx, q, e.build(q, groups, true, now))
	if err != nil {
		return nil, err
	}
	if res.Total < relaxBelow && len(groups) > 1 {
		relaxed, err := e.run(ctx, idx, q, e.build(q, groups, false, now))
		if err != nil {
			return nil, err
		}
		if relaxed.Total > res.Total {
			res = relaxed
			res.Relaxed = true
		}
	}
	res.Took = time.Since(start)
	return res, nil
}

func (e *Engine) run(ctx context.Context, idx bleve.Index, q Query, bq query.Query) (*Result, error) {
	offset := (q.Page - 1) * q.PerPage
	// Near a point, a service may match at several places: fetch enough
	// documents to fill the page with distinct services.
	size := q.PerPage
	if q.HasPoint {
		size = (offset+q.PerPage)*2 + 10
		offset = 0
	}
	req := bleve.NewSearchRequestOptions(bq, size, offset, false)
	closedLast := &search.SortField{Field: fClosed, Type: search.SortFieldAsString, Mode: search.SortFieldDefault, Missing: search.SortFieldMissingLast}
	order := search.SortOrder{closedLast}
	if q.HasPoint && q.Sort == "distance" {
		geo, err := search.NewSortGeoDistance(fGeo, "mi", q.Lon, q.Lat, false)
		if err != nil {
			return nil, err
		}
		order = append(order, geo)
	}
	order = append(order, &search.SortScore{Desc: true}, &search.SortDocID{})
	req.SortByCustom(order)
	req.AddFacet(fCat, bleve.NewFacetRequest(fCat, 20))
	req.AddFacet(fFact, bleve.NewFacetRequest(fFact, 20))
	req.AddFacet(fLang, bleve.NewFacetRequest(fLang, 20))
	sr, err := idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	res := &Result{Total: int(sr.Total), Facets: map[string][]Facet{}}
	seen := map[string]bool{}
	skip := (q.Page - 1) * q.PerPage
	for _, h := range sr.Hits {
		sid, place, _ := strings.Cut(h.ID, "/")
		if q.HasPoint {
			if seen[sid] {
				res.Total--
				continue
			}
			seen[sid] = true
			if skip > 0 {
				skip--
				continue
			}
			if len(res.Hits) == q.PerPage {
				continue
			}
		}
		res.Hits = append(res.Hits, Hit{ServiceID: sid, PlaceID: place, Score: h.Score})
	}
	for name, key := range map[string]string{fCat: "category", fFact: "attribute", fLang: "language"} {
		fr := sr.Facets[name]
		list := []Facet{}
		if fr != nil && fr.Terms != nil {
			for _, t := range fr.Terms.Terms() {
				list = append(list, Facet{Value: t.Term, Count: t.Count})
			}
		}
		res.Facets[key] = list
	}
	res.Total = max(res.Total, len(res.Hits))
	return res, nil
}

// ParseQuery validates search parameters (from /api/search or the web
// pages) into a Query. Each error names the parameter and why.
func ParseQuery(p Params) (Query, error) {
	q := Query{Text: strings.TrimSpace(p.Text), Page: 1, PerPage: 10, Sort: "relevance"}
	if n := len([]rune(q.Text)); n > MaxQueryLength {
		return q, badParam("q", "is %d characters; the most is %d", n, MaxQueryLength)
	}
	var err error
	if p.Page != "" {
		if q.Page, err = intParam("page", p.Page, 1, 1000); err != nil {
			return q, err
		}
	}
	if p.PerPage != "" {
		if q.PerPage, err = intParam("per_page", p.PerPage, 1, 50); err != nil {
			return q, err
		}
	}
	switch {
	case p.ZIP != "" && (p.Lat != "" || p.Lon != ""):
		return q, badParam("zip", "give a ZIP code or lat and lon, not both")
	case p.ZIP != "":
		z := strings.TrimSpace(p.ZIP)
		if len(z) == 10 && z[5] == '-' {
			z = z[:5]
		}
		if len(z) != 5 || strings.Trim(z, "0123456789") != "" {
			return q, badParam("zip", "must be a 5-digit ZIP code, got %q", p.ZIP)
		}
		pt, ok, err := directory.ZIPCentroid(z)
		if err != nil {
			return q, err
		}
		if !ok {
			return q, badParam("zip", "we don't know ZIP code %s", z)
		}
		q.Lat, q.Lon, q.HasPoint = pt.Lat, pt.Lon, true
	case p.Lat != "" || p.Lon != "":
		if q.Lat, err = floatParam("lat", p.Lat, -90, 90); err != nil {
			return q, err
		}
		if q.Lon, err = floatParam("lon", p.Lon, -180, 180); err != nil {
			return q, err
		}
		q.HasPoint = true
	}
	if p.Radius != "" {
		if !q.HasPoint {
			return q, badParam("radius_miles", "needs a zip, or lat and lon, to measure from")
		}
		if q.Radius, err = floatParam("radius_miles", p.Radius, 0.1, 200); err != nil {
			return q, err
		}
	}
	for _, c := range p.Categories {
		c = strings.TrimSpace(c)
		if _, ok := directory.CategoryByKey(c); !ok && !isUUID(c) {
			keys := []string{}
			for _, k := range directory.Categories() {
				keys = append(keys, k.Key)
			}
			return q, badParam("category", "%q is neither a category (%s) nor a taxonomy term id", c, strings.Join(keys, ", "))
		}
		q.Categories = append(q.Categories, c)
	}
	for _, a := range p.Attributes {
		a = strings.TrimSpace(a)
		if !slices.Contains(FactCodes, a) {
			return q, badParam("attribute", "%q is not one of %s", a, strings.Join(FactCodes, ", "))
		}
		q.Facts = append(q.Facts, a)
	}
	if p.Language != "" {
		l := strings.ToLower(strings.TrimSpace(p.Language))
		if len(l) != 2 || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz") != "" {
			return q, badParam("language", "must be a two-letter language code such as en or es, got %q", p.Language)
		}
		q.Language = l
	}
	if q.OpenNow, err = boolParam("open_now", p.OpenNow); err != nil {
		return q, err
	}
	if q.Free, err = boolParam("free", p.Free); err != nil {
		return q, err
	}
	if p.Age != "" {
		if q.Age, err = intParam("age", p.Age, 1, 120); err != nil {
			return q, err
		}
	}
	switch p.Sort {
	case "", "relevance":
	case "distance":
		if !q.HasPoint {
			return q, badParam("sort", "distance needs a zip, or lat and lon, to measure from")
		}
		q.Sort = "distance"
	default:
		return q, badParam("sort", "must be relevance or distance, got %q", p.Sort)
	}
	return q, nil
}

// MaxQueryLength is the longest search text accepted.
const MaxQueryLength = 200

// FactCodes are the reentry facts (docs/taxonomy.md).
var FactCodes = []string{"felony-ok", "sex-offense-ok", "supervision-ok", "no-photo-id", "recently-released",
	"fair-chance-employer", "women-only", "men-only", "veterans", "walk-ins", "free"}

// Params are search parameters as text, as they arrive.
type Params struct {
	Text, ZIP, Lat, Lon, Radius  string
	Categories, Attributes       []string
	Language, OpenNow, Free, Age string
	Page, PerPage, Sort          string
}

func badParam(name, format string, args ...any) error {
	return apperr.Errorf(apperr.EINVALID, "parameter %s: %s", name, fmt.Sprintf(format, args...))
}

func intParam(name, v string, lo, hi int) (int, error) {
	var n int
	if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d", &n); err != nil || fmt.Sprint(n) != strings.TrimSpace(v) || n < lo || n > hi {
		return 0, badParam(name, "must be a whole number from %d to %d, got %q", lo, hi, v)
	}
	return n, nil
}

func floatParam(name, v string, lo, hi float64) (float64, error) {
	var f float64
	if _, err := fmt.Sscanf(strings.TrimSpace(v), "%g", &f); err != nil || math.IsNaN(f) || f < lo || f > hi {
		return 0, badParam(name, "must be a number from %g to %g, got %q", lo, hi, v)
	}
	return f, nil
}

func boolParam(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false", "0", "no", "off":
		return false, nil
	case "true", "1", "yes", "on":
		return true, nil
	}
	return false, badParam(name, "must be true or false, got %q", v)
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}
