package search

import (
	"context"
	"fmt"
	"github.com/google/uuid"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	index "github.com/blevesearch/bleve_index_api"
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
	// groups is the query's analysis, when the index answered: the
	// cards highlight its words without analysing the query again.
	groups []group
}

// Field weights: a name match outranks a description match. Synonyms
// (English words) are not looked for in the Spanish text or the fine
// print: they found little there, and each field searched costs time.
var fieldBoosts = []struct {
	field     string
	boost     float64
	typedOnly bool
}{
	{fName, 6, false}, {fAltName, 3, false}, {fCategory, 4, false}, {fOrg, 2, true}, {fDesc, 1, true},
	{fDetails, 0.5, true}, {fSpanish, 1.5, true},
}

const (
	// factRank multiplies the score of a service by 1+factRank for each
	// reentry fact the query implies that it has, so that services with
	// those facts rank first (a multiple, unlike a boost, holds whatever
	// the scale of the text scores).
	factRank = 2
	// factBoost lets a fact the query implies meet a need on its own
	// ("felony" alone finds the services that take people with one).
	factBoost      = 8
	categoryBoost  = 30   // a service in the category a word implies
	expansionBoost = 0.25 // a synonym counts for less than the word typed
	fuzzyBoost     = 0.3  // a misspelling's match counts for less than an exact one
	// fieldTie is how much the other fields a word matches add to the
	// best one: a word in the name and the description is a better match
	// than in the name alone, but not twice as good.
	fieldTie = 0.2
	// synonymTie is how much further synonyms add to the best match of a
	// need: matching many loose synonyms in passing must not outweigh a
	// name that is the very words typed.
	synonymTie = 0.1
	// optionalBoost is what the words of an optional group (see
	// group.optional) count for, next to a need's: they rank services but
	// must not outweigh how well a service meets the need. (The reentry
	// facts they imply count through factRank.)
	optionalBoost = 0.4
	// allNeedsBoost ranks the services that meet every need typed above
	// those that meet only some, when too few meet them all (Relaxed).
	allNeedsBoost = 4
)

// keyQuery matches the documents whose keyword field holds v, every one
// with the same score: a service is in a category or has a fact, or not. A
// term query's score would shrink with the number of other categories or
// facts a service has, so the best documented services would rank lowest.
// It scores as bleve's match-all query with that boost would (boost times
// the query norm), without walking every document.
func keyQuery(field, v string, boost float64) query.Query {
	return &keyTermQuery{field: field, term: v, boost: boost}
}

type keyTermQuery struct {
	field, term string
	boost       float64
}

func (q *keyTermQuery) Searcher(ctx context.Context, i index.IndexReader, m mapping.IndexMapping, options search.SearcherOptions) (search.Searcher, error) {
	t := bleve.NewTermQuery(q.term)
	t.SetField(q.field)
	s, err := t.Searcher(ctx, i, m, search.SearcherOptions{Score: "none"})
	if err != nil {
		return nil, err
	}
	return &keySearcher{Searcher: s, boost: q.boost, weight: 1}, nil
}

// keySearcher gives every document its inner searcher finds the score
// boost × query norm, like bleve's constant scorer.
type keySearcher struct {
	search.Searcher
	boost, weight float64
}

func (s *keySearcher) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	d, err := s.Searcher.Next(ctx)
	if d != nil {
		d.Score = s.weight
	}
	return d, err
}

func (s *keySearcher) Advance(ctx *search.SearchContext, id index.IndexInternalID) (*search.DocumentMatch, error) {
	d, err := s.Searcher.Advance(ctx, id)
	if d != nil {
		d.Score = s.weight
	}
	return d, err
}

func (s *keySearcher) Weight() float64        { return s.boost * s.boost }
func (s *keySearcher) SetQueryNorm(n float64) { s.weight = s.boost * n }

// textQuery matches one word or phrase in every text field, scored by the
// best field (see fieldBoosts) plus a little for each other. A phrase
// matches a field that has all of its words: text fields carry no term
// positions (see newMapping), so a phrase query would never match, and
// people rarely keep a phrase's word order anyway ("license driver's").
func textQuery(text string, boost float64) query.Query { return fieldsQuery(text, boost, true) }

// synonymQuery is textQuery for a synonym: the fields marked typedOnly
// are left out.
func synonymQuery(text string, boost float64) query.Query { return fieldsQuery(text, boost, false) }

func fieldsQuery(text string, boost float64, typed bool) query.Query {
	// A phrase scores the sum of its words' scores: divide by their number
	// so that "peer support" does not outweigh "mentoring" for being two
	// words.
	boost /= float64(max(1, len(strings.Fields(text))))
	var qs []query.Query
	for _, fb := range fieldBoosts {
		if fb.typedOnly && !typed {
			continue
		}
		q := bleve.NewMatchQuery(text)
		q.SetField(fb.field)
		q.SetOperator(query.MatchQueryOperatorAnd)
		q.SetBoost(fb.boost)
		qs = append(qs, q)
	}
	return disMax(fieldTie, boost, qs...)
}

// groupQuery matches one need: the best of the words typed, their synonyms
// and (for a word that may be misspelled) near spellings, plus (when it is
// a need) its reentry facts. rank are what only raise a matching service's
// score: the categories the words imply. A category alone does not meet a
// need: a service must say the words, or a synonym in its name or
// categories (which every service in the category has).
func groupQuery(g group, need bool) (match query.Query, rank []query.Query) {
	words := []query.Query{textQuery(g.typed, 1)}
	if g.meant != "" {
		words = append(words, textQuery(g.meant, 1))
	}
	for _, t := range g.terms {
		if t != g.typed && t != g.meant {
			words = append(words, synonymQuery(t, expansionBoost))
		}
	}
	if g.fuzzy {
		q := bleve.NewFuzzyQuery(g.typed)
		q.SetField(fWords)
		q.SetFuzziness(1)
		if len([]rune(g.typed)) >= 8 {
			q.SetFuzziness(2)
		}
		q.SetBoost(fuzzyBoost)
		words = append(words, q)
	}
	qs := []query.Query{disMax(synonymTie, 1, words...)}
	for _, c := range g.categories {
		qs = append(qs, keyQuery(fCat, c, categoryBoost))
	}
	if need {
		for _, f := range g.facts {
			qs = append(qs, keyQuery(fFact, f, factBoost))
		}
	}
	if len(qs) == 1 {
		return qs[0], rank
	}
	return disMax(1, 1, qs...), rank
}

// filters are the conditions every result must meet.
func (e *Engine) filters(q Query, open []string) []query.Query {
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
	if q.OpenNow {
		// the opening spans that hold now (see Slots and openTerms)
		var any []query.Query
		for _, t := range open {
			any = append(any, term(fOpen, t))
		}
		if len(any) == 0 {
			fs = append(fs, bleve.NewMatchNoneQuery())
		} else {
			fs = append(fs, bleve.NewDisjunctionQuery(any...))
		}
	}
	// Age and radius are applied by the collector (collect.go), which
	// knows each service's ages and places; services by phone or online
	// serve the whole area.
	return fs
}

// knownWord reports whether w is a word of some listing: a term of the
// misspelling field, which holds the words of every service's name,
// categories and description as written. A search engine's spelling
// suggester does the same ("suggest only when missing"). An index that
// cannot be read here answers no, and the word is treated as before.
func knownWord(idx bleve.Index, w string) bool {
	d, err := idx.FieldDictRange(fWords, []byte(w), []byte(w))
	if err != nil {
		return false
	}
	defer d.Close()
	de, err := d.Next()
	return err == nil && de != nil && de.Term == w
}

// openTerms are the terms of the "open" field (see Slots) whose span holds
// t: the current day's terms, read from the index's dictionary.
func openTerms(idx bleve.Index, t time.Time) ([]string, error) {
	wd, sec := int(t.Weekday()), t.Hour()*3600+t.Minute()*60+t.Second()
	d, err := idx.FieldDictPrefix(fOpen, []byte(fmt.Sprintf("d%d:", wd)))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var out []string
	for {
		de, err := d.Next()
		if err != nil {
			return nil, err
		}
		if de == nil {
			return out, nil
		}
		if _, from, to, ok := openSpan(de.Term); ok && from <= sec && sec < to {
			out = append(out, de.Term)
		}
	}
}

// build makes the bleve query: every need (AND) or any need (OR), the
// filters, and the rest as ranking: qualifier groups ("felony", "women")
// and the reentry facts the words imply. Services only for people the
// words rule out (a women-only house for "men's shelter") are left out.
func (e *Engine) build(q Query, groups []group, all bool, open []string) query.Query {
	b := bleve.NewBooleanQuery()
	for _, f := range e.filters(q, open) {
		b.AddMust(f)
	}
	// Optional groups rank; the rest must match. When every group is
	// optional ("felony" alone), they are the needs.
	allOptional := !slices.ContainsFunc(groups, func(g group) bool { return !g.optional() })
	var needs, rank []query.Query
	for _, g := range groups {
		if g.optional() && !allOptional {
			m, r := groupQuery(g, false)
			rank = append(rank, disMax(0, optionalBoost, m))
			rank = append(rank, r...)
		} else {
			m, r := groupQuery(g, true)
			needs = append(needs, m)
			rank = append(rank, r...)
		}
	}
	switch {
	case len(needs) == 0:
		b.AddMust(bleve.NewMatchAllQuery())
	case all:
		for _, n := range needs {
			b.AddMust(n)
		}
	default:
		b.AddMust(bleve.NewDisjunctionQuery(needs...))
		if len(needs) > 1 {
			// bleve applies no boost to a conjunction itself
			rank = append(rank, disMax(1, allNeedsBoost, bleve.NewConjunctionQuery(needs...)))
		}
	}
	// What only ranks adds up in one clause: bleve would scale several
	// should clauses by the share of them that matched.
	if len(rank) > 0 {
		b.AddShould(disMax(1, 1, rank...))
	}
	implied := impliedFacts(groups)
	for _, g := range groups {
		for _, f := range g.exclude {
			if !implied[f] {
				t := bleve.NewTermQuery(f)
				t.SetField(fFact)
				b.AddMustNot(t)
			}
		}
	}
	if b.Should == nil && b.MustNot == nil {
		if must, ok := b.Must.(*query.ConjunctionQuery); ok && len(must.Conjuncts) == 1 {
			// One clause alone (a plain search): bleve's boolean and
			// conjunction around it only pass its matches through, at a
			// cost per match; its scores are the same with the query norm
			// they would have set.
			return &normQuery{must.Conjuncts[0]}
		}
	}
	return b
}

// normQuery is q with the query norm bleve's boolean query would give it
// on its own: 1/√weight.
type normQuery struct{ q query.Query }

func (q *normQuery) Searcher(ctx context.Context, i index.IndexReader, m mapping.IndexMapping, options search.SearcherOptions) (search.Searcher, error) {
	s, err := q.q.Searcher(ctx, i, m, options)
	if err != nil {
		return nil, err
	}
	if w := s.Weight(); w > 0 {
		s.SetQueryNorm(1 / math.Sqrt(w))
	}
	return s, nil
}

// impliedFacts are the reentry facts the words imply: the collector
// multiplies a service's score by 1+factRank for each one it has.
func impliedFacts(groups []group) map[string]bool {
	implied := map[string]bool{}
	for _, g := range groups {
		for _, f := range g.facts {
			implied[f] = true
		}
	}
	return implied
}

// needCount is the number of groups that must match (see build).
func needCount(groups []group) int {
	n := 0
	for _, g := range groups {
		if !g.optional() {
			n++
		}
	}
	if n == 0 {
		return len(groups)
	}
	return n
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
	groups := e.syn.analyze(q.Text, func(w string) bool { return knownWord(idx, w) })
	var open []string
	if q.OpenNow {
		var err error
		if open, err = openTerms(idx, e.now().In(e.opt.Location)); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	implied := impliedFacts(groups)
	res, err := e.run(ctx, idx, q, e.build(q, groups, true, open), implied)
	if err != nil {
		return nil, err
	}
	if res.Total < relaxBelow && needCount(groups) > 1 {
		relaxed, err := e.run(ctx, idx, q, e.build(q, groups, false, open), implied)
		if err != nil {
			return nil, err
		}
		if relaxed.Total > res.Total {
			res = relaxed
			res.Relaxed = true
		}
	}
	res.Took = time.Since(start)
	res.groups = groups
	return res, nil
}

func (e *Engine) run(ctx context.Context, idx bleve.Index, q Query, bq query.Query, implied map[string]bool) (*Result, error) {
	spec := collectSpec{want: q.Page * q.PerPage, lat: q.Lat, lon: q.Lon, age: float64(q.Age), implied: implied}
	if q.HasPoint {
		spec.point = true
		spec.distance = q.Sort == "distance"
		if q.Radius > 0 {
			spec.radius = q.Radius
		}
	}
	hits, total, facets, err := e.collect(ctx, idx, bq, spec)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	res := &Result{Total: total, Facets: facets, Hits: []Hit{}}
	for _, h := range hits[min(len(hits), (q.Page-1)*q.PerPage):] {
		res.Hits = append(res.Hits, Hit{ServiceID: h.id, PlaceID: h.place, Score: h.score})
	}
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
	// ParseFloat, not Sscanf: Sscanf reads "5km" as 5 and ignores the rest.
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || f < lo || f > hi {
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

// isUUID accepts the canonical 36-character form, as the importer does.
func isUUID(s string) bool {
	_, err := uuid.Parse(s)
	return len(s) == 36 && err == nil
}

// disMax matches what any of qs match. A document scores boost times the
// best score among them plus tie times the rest: tie 0 keeps the best
// alone, tie 1 is their sum. Unlike bleve's disjunction, the sum is not
// scaled by the share of queries that matched (which made a service that
// matched several loose synonyms outrank one named by the word typed), and
// the boost is applied (bleve ignores a disjunction's own boost).
func disMax(tie, boost float64, qs ...query.Query) query.Query {
	return &disMaxQuery{queries: qs, tie: tie, boost: boost}
}

type disMaxQuery struct {
	queries    []query.Query
	tie, boost float64
}

var _ query.Query = (*disMaxQuery)(nil)

func (q *disMaxQuery) Searcher(ctx context.Context, i index.IndexReader, m mapping.IndexMapping, options search.SearcherOptions) (search.Searcher, error) {
	ss := make([]search.Searcher, 0, len(q.queries))
	for _, sub := range q.queries {
		s, err := sub.Searcher(ctx, i, m, options)
		if err != nil {
			for _, s := range ss {
				s.Close()
			}
			return nil, err
		}
		if _, none := s.(*searcher.MatchNoneSearcher); none {
			s.Close()
			continue
		}
		ss = append(ss, s)
	}
	if len(ss) == 0 {
		return searcher.NewMatchNoneSearcher(i)
	}
	return &disMaxSearcher{searchers: ss, currs: make([]*search.DocumentMatch, len(ss)), ids: make([]uint64, len(ss)),
		tie: q.tie, boost: q.boost, explain: options.Explain}, nil
}

// disMaxSearcher walks its searchers in step, by document, like bleve's
// disjunction searcher.
type disMaxSearcher struct {
	searchers []search.Searcher
	currs     []*search.DocumentMatch
	// ids are the document numbers of currs (scorch's internal ids, read
	// once per match rather than at every comparison); exhausted for nil.
	ids []uint64
	// generic is set when ids are not scorch's (bleve's in-memory index,
	// in tests): they are compared as bytes.
	generic     bool
	tie, boost  float64
	explain     bool
	initialized bool
}

var _ search.Searcher = (*disMaxSearcher)(nil)

func (s *disMaxSearcher) init(ctx *search.SearchContext) error {
	for i, sub := range s.searchers {
		d, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		s.set(i, d)
	}
	s.initialized = true
	return nil
}

// exhausted is the id of a searcher that has no more matches: above any
// document number.
const exhausted = math.MaxUint64

// set makes d the current match of searcher i.
func (s *disMaxSearcher) set(i int, d *search.DocumentMatch) {
	s.currs[i] = d
	switch {
	case d == nil:
		s.ids[i] = exhausted
	case len(d.IndexInternalID) == 8:
		s.ids[i] = d.IndexInternalID.Value()
	default:
		s.generic = true
	}
}

// lowest is the searcher on the lowest document, -1 when all are done.
func (s *disMaxSearcher) lowest() int {
	first := -1
	if !s.generic {
		low := uint64(exhausted)
		for i, id := range s.ids {
			if id < low {
				first, low = i, id
			}
		}
		return first
	}
	for i, c := range s.currs {
		if c != nil && (first < 0 || c.IndexInternalID.Compare(s.currs[first].IndexInternalID) < 0) {
			first = i
		}
	}
	return first
}

// on reports whether searcher i is on document d (number n).
func (s *disMaxSearcher) on(i int, d *search.DocumentMatch, n uint64) bool {
	if !s.generic {
		return s.ids[i] == n
	}
	return s.currs[i] != nil && s.currs[i].IndexInternalID.Equals(d.IndexInternalID)
}

// next scores the lowest document any searcher is on and moves those
// searchers past it.
func (s *disMaxSearcher) next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	first := s.lowest()
	if first < 0 {
		return nil, nil
	}
	// The first match is the one returned; the others go back to the pool
	// once their score is taken.
	rv := s.currs[first]
	best, sum := rv.Score, rv.Score
	var expl []*search.Explanation
	if s.explain && rv.Expl != nil {
		expl = append(expl, rv.Expl)
	}
	n := s.ids[first]
	for i := first; i < len(s.currs); i++ {
		if !s.on(i, rv, n) {
			continue
		}
		if c := s.currs[i]; c != rv {
			sum += c.Score
			best = max(best, c.Score)
			if s.explain && c.Expl != nil {
				expl = append(expl, c.Expl)
			}
			rv.FieldTermLocations = append(rv.FieldTermLocations, c.FieldTermLocations...)
			ctx.DocumentMatchPool.Put(c)
		}
		d, err := s.searchers[i].Next(ctx)
		if err != nil {
			return nil, err
		}
		s.set(i, d)
	}
	rv.Score = s.boost * (best + s.tie*(sum-best))
	if s.explain {
		rv.Expl = &search.Explanation{Value: rv.Score, Message: fmt.Sprintf("%g x (best + %g x rest) of:", s.boost, s.tie), Children: expl}
	}
	return rv, nil
}

func (s *disMaxSearcher) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	if !s.initialized {
		if err := s.init(ctx); err != nil {
			return nil, err
		}
	}
	return s.next(ctx)
}

func (s *disMaxSearcher) Advance(ctx *search.SearchContext, id index.IndexInternalID) (*search.DocumentMatch, error) {
	if !s.initialized {
		if err := s.init(ctx); err != nil {
			return nil, err
		}
	}
	for i, c := range s.currs {
		if c == nil || !s.generic && s.ids[i] >= id.Value() || s.generic && c.IndexInternalID.Compare(id) >= 0 {
			continue
		}
		ctx.DocumentMatchPool.Put(c)
		d, err := s.searchers[i].Advance(ctx, id)
		if err != nil {
			return nil, err
		}
		s.set(i, d)
	}
	return s.next(ctx)
}

func (s *disMaxSearcher) Close() (err error) {
	for _, sub := range s.searchers {
		if e := sub.Close(); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// Weight is what the query norm is computed from, as for a disjunction.
func (s *disMaxSearcher) Weight() float64 {
	var w float64
	for _, sub := range s.searchers {
		w += sub.Weight()
	}
	return w
}

func (s *disMaxSearcher) SetQueryNorm(n float64) {
	for _, sub := range s.searchers {
		sub.SetQueryNorm(n)
	}
}

func (s *disMaxSearcher) Count() uint64 {
	var n uint64
	for _, sub := range s.searchers {
		n += sub.Count()
	}
	return n
}

func (s *disMaxSearcher) Min() int { return 0 }

func (s *disMaxSearcher) Size() int {
	n := 64
	for _, sub := range s.searchers {
		n += sub.Size()
	}
	return n
}

func (s *disMaxSearcher) DocumentMatchPoolSize() int {
	n := len(s.currs)
	for _, sub := range s.searchers {
		n += sub.DocumentMatchPoolSize()
	}
	return n
}
