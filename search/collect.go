package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/numeric"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"
	"github.com/secondchancekc/secondchance/directory"
)

// The collector.
//
// bleve's own collector reads, for every hit, the doc values of each sort
// field and each facet field (a decompression and a parse per field per
// hit) and the stored id for the doc-id tie-break: 60 to 80% of a search's
// time went there. What the engine needs of a document is small and never
// changes while its index segment lives (segments are immutable), so it is
// read once per segment into a table (segTable) and every search reads the
// table instead: the matching documents come from bleve's searchers, with
// bleve's scores, and are filtered by radius and age, ranked (temporarily
// closed last, then nearest place or score, then id), counted and faceted
// here. A document is a service (see docs/search.md), so totals and facets
// count services.

// segTable is what the collector knows of each document of one segment,
// by local document number. A document's facet values and places are
// ranges of shared arrays: a search reads them for every hit, in document
// order, and one slice per document cost a cache miss per hit.
type segTable struct {
	ids    []string  // external id: the service id; "" for a document that cannot be read
	closed []bool    // temporarily closed
	valOff []int32   // document i's facet values are vals[valOff[i]:valOff[i+1]]
	vals   []int32   // facet values (interned, see docTables.vals): categories, facts, languages
	plOff  []int32   // document i's places are pts[plOff[i]:plOff[i+1]] and plIDs alike
	pts    []geoPt   // physical places, in the service's order; none for a service by phone or online only
	plIDs  []string  // their service_at_location ids
	minAge []float64 // eligibility ages (0 and 200 when unset)
	maxAge []float64
}

// geoPt is a point as a unit vector. The straight-line (chord) distance
// between two such vectors grows with their great-circle distance, so the
// nearest place, the radius and the order by distance take a few
// multiplications per place rather than trigonometry (bleve's Haversin was
// a tenth of a distance search), and agree with the miles a result shows
// (directory.Miles, on the same sphere: its haversine h is chord²/4).
type geoPt struct{ x, y, z float64 }

func unitVector(lat, lon float64) geoPt {
	φ, λ := lat*math.Pi/180, lon*math.Pi/180
	return geoPt{math.Cos(φ) * math.Cos(λ), math.Cos(φ) * math.Sin(λ), math.Sin(φ)}
}

// chord2 is the squared chord between p and q.
func (p geoPt) chord2(q geoPt) float64 {
	dx, dy, dz := p.x-q.x, p.y-q.y, p.z-q.z
	return dx*dx + dy*dy + dz*dz
}

// chord2Miles is the squared chord of a great-circle distance in miles.
func chord2Miles(mi float64) float64 {
	c := 2 * math.Sin(mi/directory.EarthRadiusMiles/2)
	return c * c
}

// place is one physical place of a service.
type place struct {
	id       string // service_at_location id
	lat, lon float64
}

// row is one document's line of a table.
type row struct {
	id             string
	closed         bool
	vals           []int32
	places         []place
	minAge, maxAge float64
}

func newSegTable(n int) *segTable {
	return &segTable{
		ids: make([]string, 0, n), closed: make([]bool, 0, n), valOff: append(make([]int32, 0, n+1), 0),
		plOff: append(make([]int32, 0, n+1), 0), minAge: make([]float64, 0, n), maxAge: make([]float64, 0, n),
	}
}

// add appends the next document's row.
func (t *segTable) add(r row) {
	t.ids = append(t.ids, r.id)
	t.closed = append(t.closed, r.closed)
	t.vals = append(t.vals, r.vals...)
	t.valOff = append(t.valOff, int32(len(t.vals)))
	for _, p := range r.places {
		t.pts = append(t.pts, unitVector(p.lat, p.lon))
		t.plIDs = append(t.plIDs, p.id)
	}
	t.plOff = append(t.plOff, int32(len(t.pts)))
	t.minAge = append(t.minAge, r.minAge)
	t.maxAge = append(t.maxAge, r.maxAge)
}

// placeID is the service_at_location id a document is shown at: its place
// pl (an index into pts), or with pl -1 its first place, or "" for none.
func (t *segTable) placeID(local uint64, pl int32) string {
	if pl >= 0 {
		return t.plIDs[pl]
	}
	if from, to := t.plOff[local], t.plOff[local+1]; from < to {
		return t.plIDs[from]
	}
	return ""
}

// facetValue is one interned facet value.
type facetValue struct {
	field string // fCat, fFact or fLang
	value string
}

// docTables holds the tables of the segments of one index, and the
// interned services and facet values they refer to.
type docTables struct {
	idx bleve.Index

	mu     sync.Mutex
	segs   map[segKey]*segTable
	vals   []facetValue
	valIDs map[facetValue]int32
}

type segKey struct{ id, count uint64 }

func newDocTables(idx bleve.Index) *docTables {
	return &docTables{idx: idx, segs: map[segKey]*segTable{}, valIDs: map[facetValue]int32{}}
}

// tablesFor returns the tables of idx (a new set when the index changed).
func (e *Engine) tablesFor(idx bleve.Index) *docTables {
	e.tablesMu.Lock()
	defer e.tablesMu.Unlock()
	if e.tables == nil || e.tables.idx != idx {
		e.tables = newDocTables(idx)
	}
	return e.tables
}

// snapshotTables returns the table of each segment of the snapshot (in
// order), building the missing ones, and the facet values. Tables of segments no longer in the snapshot are
// dropped (a search on an older snapshot would rebuild them).
func (t *docTables) snapshotTables(snap *scorch.IndexSnapshot) ([]*segTable, []facetValue, error) {
	segs := snap.Segments()
	out := make([]*segTable, len(segs))
	t.mu.Lock()
	defer t.mu.Unlock()
	live := make(map[segKey]bool, len(segs))
	for i, ss := range segs {
		k := segKey{ss.Id(), ss.Segment().Count()}
		live[k] = true
		tab := t.segs[k]
		if tab == nil {
			var err error
			if tab, err = t.build(ss); err != nil {
				return nil, nil, err
			}
			t.segs[k] = tab
		}
		out[i] = tab
	}
	for k := range t.segs {
		if !live[k] {
			delete(t.segs, k)
		}
	}
	return out, t.vals, nil
}

var tableFields = []string{fCat, fFact, fLang, fClosed, fPlace, fMinAge, fMaxAge}

// build reads one segment's table. Call with mu held.
func (t *docTables) build(ss *scorch.SegmentSnapshot) (*segTable, error) {
	n := int(ss.Segment().Count())
	tab := newSegTable(n)
	dv, _ := ss.Segment().(segment.DocValueVisitable)
	var dvs segment.DocVisitState
	for doc := range n {
		id, err := ss.DocID(uint64(doc))
		r, err := t.read(id, err, func(visit index.DocValueVisitor) (err error) {
			if dv != nil {
				dvs, err = dv.VisitDocValues(uint64(doc), tableFields, visit, dvs)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		tab.add(r)
	}
	return tab, nil
}

// read makes a table's row from the document's id and doc values. Call
// with mu held.
func (t *docTables) read(id []byte, idErr error, visitDocValues func(index.DocValueVisitor) error) (row, error) {
	r := row{minAge: 0, maxAge: 200}
	if idErr != nil || id == nil {
		return r, nil // deleted and gone: never a hit
	}
	var order []int
	err := visitDocValues(func(field string, term []byte) {
		switch field {
		case fClosed:
			r.closed = string(term) == "1"
		case fPlace:
			// "n service_at_location_id lat lon": doc values come sorted,
			// n restores the service's order
			f := strings.Fields(string(term))
			if len(f) != 4 {
				return
			}
			n, err1 := strconv.Atoi(f[0])
			lat, err2 := strconv.ParseFloat(f[2], 64)
			lon, err3 := strconv.ParseFloat(f[3], 64)
			if err1 == nil && err2 == nil && err3 == nil {
				r.places = append(r.places, place{id: f[1], lat: lat, lon: lon})
				order = append(order, n)
			}
		case fMinAge, fMaxAge:
			pc := numeric.PrefixCoded(term)
			if shift, err := pc.Shift(); err == nil && shift == 0 {
				if i64, err := pc.Int64(); err == nil {
					if field == fMinAge {
						r.minAge = numeric.Int64ToFloat64(i64)
					} else {
						r.maxAge = numeric.Int64ToFloat64(i64)
					}
				}
			}
		default:
			fv := facetValue{field, string(term)}
			id, ok := t.valIDs[fv]
			if !ok {
				id = int32(len(t.vals))
				t.vals = append(t.vals, fv)
				t.valIDs[fv] = id
			}
			r.vals = append(r.vals, id)
		}
	})
	if err != nil {
		return row{}, fmt.Errorf("search: reading doc values: %w", err)
	}
	if ps := r.places; len(ps) > 1 {
		sorted := make([]place, len(ps))
		idx := make([]int, len(ps))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int { return order[a] - order[b] })
		for i, k := range idx {
			sorted[i] = ps[k]
		}
		r.places = sorted
	}
	r.id = string(id)
	return r, nil
}

// rowReader reads one document's row at a time, for an index that is not
// scorch (bleve's in-memory upsidedown index, used in tests): slow, but
// the same answers.
type rowReader struct {
	t   *docTables
	r   index.IndexReader
	dvr index.DocValueReader
	tab *segTable
}

func (rr *rowReader) row(id index.IndexInternalID) (*segTable, error) {
	ext, err := rr.r.ExternalID(id)
	rr.t.mu.Lock()
	defer rr.t.mu.Unlock()
	r, err := rr.t.read([]byte(ext), err, func(visit index.DocValueVisitor) error {
		return rr.dvr.VisitDocValues(id, visit)
	})
	rr.tab = newSegTable(1)
	rr.tab.add(r)
	return rr.tab, err
}

// warm builds the tables of the serving index's current segments, so that
// the first search after a change does not pay for them.
func (e *Engine) warm() {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.idx == nil {
		return
	}
	adv, err := e.idx.Advanced()
	if err != nil {
		return
	}
	r, err := adv.Reader()
	if err != nil {
		return
	}
	defer r.Close()
	if snap, ok := r.(*scorch.IndexSnapshot); ok {
		e.tablesFor(e.idx).snapshotTables(snap)
	}
}

// collectSpec is what a search asks of the collector.
type collectSpec struct {
	want     int             // services to rank: (page-1)*per_page + per_page
	point    bool            // lat/lon given: each hit is placed at its nearest place
	distance bool            // sort by distance from lat/lon (nearest place)
	radius   float64         // miles; 0 = none (services by phone or online always pass)
	lat, lon float64         // the point
	age      float64         // eligible at this age; 0 = any
	implied  map[string]bool // reentry facts the query implies: each multiplies the score by 1+factRank
}

// entry is one service found.
type entry struct {
	closed bool
	dist   float64 // when sorting by distance, the squared chord to its nearest place (see geoPt; +Inf for a service with no place), else 0
	score  float64
	id     string // set for the page only, or when tab is nil
	place  string // the place it is shown at: the nearest to the point, else its first (set for the page only)
	tab    *segTable
	local  uint32
	pl     int32 // the nearest place to the point, in tab.pts; -1 for none or the first
}

// ident is the service id.
func (a *entry) ident() string {
	if a.tab != nil {
		return a.tab.ids[a.local]
	}
	return a.id
}

// before says whether a ranks before b: open before temporarily closed,
// then nearest (when sorting by distance), then best score, then id.
func (a *entry) before(b *entry) bool {
	if a.closed != b.closed {
		return !a.closed
	}
	if a.dist != b.dist {
		return a.dist < b.dist
	}
	if a.score != b.score {
		return a.score > b.score
	}
	return a.ident() < b.ident()
}

// entryPool keeps the collector's list of services found between searches.
var entryPool = sync.Pool{New: func() any { return new([]entry) }}

// collect runs bq over idx and filters, ranks and counts its hits. A large
// index is searched in parts at once (parallel.go).
func (e *Engine) collect(ctx context.Context, idx bleve.Index, bq query.Query, spec collectSpec) (hits []entry, total int, facets map[string][]Facet, err error) {
	adv, err := idx.Advanced()
	if err != nil {
		return nil, 0, nil, err
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, 0, nil, err
	}
	defer r.Close()
	// The context bleve's own search sets up for its searchers.
	ctx = context.WithValue(ctx, search.GetScoringModelCallbackKey,
		search.GetScoringModelCallbackFn(func() string { return index.DefaultScoringModel }))
	ctx = context.WithValue(ctx, search.SearchIOStatsCallbackKey, search.SearchIOStatsCallbackFunc(func(uint64) {}))
	ctx = search.ContextWithTermSearchersCounter(ctx)

	tables := e.tablesFor(idx)
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		// Each hit's row read one by one, in one walk.
		dvr, err := r.DocValueReader(tableFields)
		if err != nil {
			return nil, 0, nil, err
		}
		c := &scan{spec: spec, rows: &rowReader{t: tables, r: r, dvr: dvr}, tables: tables}
		if err := c.run(ctx, r, idx, bq); err != nil {
			return nil, 0, nil, err
		}
		c.vals = tables.values()
		hits, total, facets = c.result([]*scan{c})
		return hits, total, facets, nil
	}
	tabs, vals, err := tables.snapshotTables(snap)
	if err != nil {
		return nil, 0, nil, err
	}
	offsets := make([]uint64, len(tabs)+1)
	for i, ss := range snap.Segments() {
		offsets[i+1] = offsets[i] + ss.Segment().Count()
	}
	docs := offsets[len(tabs)]
	parts := make([]*scan, e.parts(docs))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	var fuzzy *fuzzyMemo // shared by the parts, when there are several
	if len(parts) > 1 {
		fuzzy = &fuzzyMemo{words: map[fuzzyKey]*fuzzyTerms{}}
	}
	for i := range parts {
		lo, hi := docs*uint64(i)/uint64(len(parts)), docs*uint64(i+1)/uint64(len(parts))
		c := &scan{spec: spec, tabs: tabs, offsets: offsets, vals: vals, tables: tables}
		parts[i] = c
		var pr index.IndexReader = r
		if len(parts) > 1 {
			pr = &rangeReader{IndexReader: r, lo: lo, hi: hi, fuzzy: fuzzy}
		}
		if i == len(parts)-1 {
			errs[i] = c.run(ctx, pr, idx, bq) // the last part on this goroutine
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.run(ctx, pr, idx, bq)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, nil, err
	}
	hits, total, facets = parts[0].result(parts)
	return hits, total, facets, nil
}

// scan is one walk over the matches of a query (all of them, or one
// part's range): the services that pass, the best of them, and the facet
// counts.
type scan struct {
	spec    collectSpec
	tabs    []*segTable // the snapshot's tables, by segment, with
	offsets []uint64    // each segment's first document number
	rows    *rowReader  // or each hit's row read one by one
	tables  *docTables
	vals    []facetValue // the interned facet values counts refers to
	counts  []int        // per facet value
	total   int          // services that pass
	best    []entry      // the first spec.want of them, in no order
}

// run walks bq's matches in r.
func (c *scan) run(ctx context.Context, r index.IndexReader, idx bleve.Index, bq query.Query) error {
	s, err := bq.Searcher(ctx, r, idx.Mapping(), search.SearcherOptions{})
	if err != nil {
		return err
	}
	defer s.Close()
	sctx := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize()+1, 0), IndexReader: r}

	// per facet value: its count, and whether it is a fact the query
	// implies (a map lookup per value per hit cost a sixth of a search)
	spec, vals := c.spec, c.vals
	counts := make([]int, len(vals))
	implied := make([]bool, len(vals))
	for i, v := range vals {
		implied[i] = v.field == fFact && spec.implied[v.value]
	}
	ep := entryPool.Get().(*[]entry)
	entries := (*ep)[:0]
	defer func() {
		clear(entries) // drop the strings
		*ep = entries[:0]
		entryPool.Put(ep)
	}()
	at, within := unitVector(spec.lat, spec.lon), chord2Miles(spec.radius)
	seg := 0
	n := 0
	d, err := s.Next(sctx)
	for ; err == nil && d != nil; d, err = s.Next(sctx) {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		score := d.Score
		var tab *segTable
		var local uint64
		if c.rows != nil {
			if tab, err = c.rows.row(d.IndexInternalID); err != nil {
				return err
			}
		} else {
			g := d.IndexInternalID.Value()
			for g >= c.offsets[seg+1] {
				seg++
			}
			tab, local = c.tabs[seg], g-c.offsets[seg]
		}
		sctx.DocumentMatchPool.Put(d)
		if tab.ids[local] == "" {
			continue
		}
		if spec.age > 0 && (tab.minAge[local] > spec.age || tab.maxAge[local] < spec.age) {
			continue
		}
		en := entry{closed: tab.closed[local], score: score, tab: tab, local: uint32(local), pl: -1}
		from, to := tab.plOff[local], tab.plOff[local+1]
		if spec.point {
			if from < to {
				best := math.Inf(1)
				for k := from; k < to; k++ {
					if c := tab.pts[k].chord2(at); c < best {
						best, en.pl = c, k
					}
				}
				if spec.radius > 0 && best > within {
					continue
				}
				if spec.distance {
					en.dist = best
				}
			} else if spec.distance {
				en.dist = math.Inf(1)
			}
		}
		if c.rows != nil { // its one-row table is read afresh for each hit
			en.id, en.place, en.tab = tab.ids[local], tab.placeID(local, en.pl), nil
		}
		for _, v := range tab.vals[tab.valOff[local]:tab.valOff[local+1]] {
			if int(v) >= len(counts) { // a value first seen by the row reader
				vals = c.tables.values()
				counts = append(counts, make([]int, len(vals)-len(counts))...)
				for i := len(implied); i < len(vals); i++ {
					implied = append(implied, vals[i].field == fFact && spec.implied[vals[i].value])
				}
			}
			counts[v]++
			if implied[v] {
				en.score *= 1 + factRank
			}
		}
		entries = append(entries, en)
	}
	if err != nil {
		return err
	}
	c.counts, c.total, c.best = counts, len(entries), bestOf(entries, spec.want)
	return nil
}

// bestOf returns a copy of the first want entries, in no order.
func bestOf(entries []entry, want int) []entry {
	want = min(want, len(entries))
	if want >= len(entries)/4 {
		return slices.Clone(entries) // entries go back to the pool
	}
	// keep the best `want` in a heap whose root is the worst kept
	h := make([]int32, 0, want)
	for i := range entries {
		if len(h) < want {
			h = append(h, int32(i))
			up(h, entries, len(h)-1)
		} else if entries[i].before(&entries[h[0]]) {
			h[0] = int32(i)
			down(h, entries, 0)
		}
	}
	out := make([]entry, len(h))
	for i, k := range h {
		out[i] = entries[k]
	}
	return out
}

// result merges the parts' walks (c among them): the first spec.want
// services in order, how many passed, and the facets.
func (c *scan) result(parts []*scan) (hits []entry, total int, facets map[string][]Facet) {
	counts := make([]int, len(c.vals))
	for _, p := range parts {
		hits = append(hits, p.best...)
		total += p.total
		for i, n := range p.counts {
			counts[i] += n
		}
	}
	slices.SortFunc(hits, func(a, b entry) int {
		if a.before(&b) {
			return -1
		}
		if b.before(&a) {
			return 1
		}
		return 0
	})
	hits = hits[:min(c.spec.want, len(hits))]
	for i := range hits {
		h := &hits[i]
		if t := h.tab; t != nil {
			h.id, h.place = t.ids[h.local], t.placeID(uint64(h.local), h.pl)
		}
		h.tab = nil
	}

	facets = map[string][]Facet{}
	for key, field := range map[string]string{"category": fCat, "attribute": fFact, "language": fLang} {
		list := []Facet{}
		for i, n := range counts {
			if n > 0 && c.vals[i].field == field {
				list = append(list, Facet{Value: c.vals[i].value, Count: n})
			}
		}
		slices.SortFunc(list, func(a, b Facet) int {
			if a.Count != b.Count {
				return b.Count - a.Count
			}
			return strings.Compare(a.Value, b.Value)
		})
		if len(list) > facetSize {
			list = list[:facetSize]
		}
		facets[key] = list
	}
	return hits, total, facets
}

// values are the interned facet values so far.
func (t *docTables) values() []facetValue {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.vals
}

// facetSize is the most values each facet lists.
const facetSize = 20

// up and down keep h a heap over entries whose root ranks last.
func up(h []int32, es []entry, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !es[h[p]].before(&es[h[i]]) {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func down(h []int32, es []entry, i int) {
	for {
		l, worst := 2*i+1, i
		if l < len(h) && es[h[worst]].before(&es[h[l]]) {
			worst = l
		}
		if r := l + 1; r < len(h) && es[h[worst]].before(&es[h[r]]) {
			worst = r
		}
		if worst == i {
			return
		}
		h[worst], h[i] = h[i], h[worst]
		i = worst
	}
}
