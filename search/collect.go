package search

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/geo"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/numeric"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// The collector.
//
// bleve's own collector reads, for every hit, the doc values of each sort
// field and each facet field (a decompression and a parse per field per
// hit) and the stored id for the doc-id tie-break: 60 to 80% of a search's
// time went there. What the engine needs of a document is small and never
// changes while its index segment lives (segments are immutable), so it is
// read once per segment into a table (docTable) and every search reads the
// table instead: the matching documents come from bleve's searchers as
// before, with the same scores, and are ranked, collapsed by service,
// counted and faceted here.
//
// Collapsing here also makes totals and facets count services, not places:
// near a point, every place of a service may match, and a service is
// counted once (its facets once) and ranked by its best place.

// segTable is what the collector knows of each document of one segment,
// by local document number.
type segTable struct {
	ids    []string  // external id: "service/place", or "service" for a remote service
	svc    []int32   // the service, interned (see docTables.svcs); -1 for an unreadable document
	closed []bool    // temporarily closed
	vals   [][]int32 // facet values (interned, see docTables.vals): categories, facts, languages
	lat    []float64 // the place, as bleve decodes it (NaN when none)
	lon    []float64
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
	svcIDs map[string]int32
	vals   []facetValue
	valIDs map[facetValue]int32
}

type segKey struct{ id, count uint64 }

func newDocTables(idx bleve.Index) *docTables {
	return &docTables{idx: idx, segs: map[segKey]*segTable{}, svcIDs: map[string]int32{}, valIDs: map[facetValue]int32{}}
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
// order), building the missing ones, the number of interned services and
// the facet values. Tables of segments no longer in the snapshot are
// dropped (a search on an older snapshot would rebuild them).
func (t *docTables) snapshotTables(snap *scorch.IndexSnapshot) ([]*segTable, int, []facetValue, error) {
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
				return nil, 0, nil, err
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
	return out, len(t.svcIDs), t.vals, nil
}

var tableFields = []string{fCat, fFact, fLang, fClosed, fGeo}

func newSegTable(n int) *segTable {
	return &segTable{
		ids: make([]string, n), svc: make([]int32, n), closed: make([]bool, n),
		vals: make([][]int32, n), lat: make([]float64, n), lon: make([]float64, n),
	}
}

// build reads one segment's table. Call with mu held.
func (t *docTables) build(ss *scorch.SegmentSnapshot) (*segTable, error) {
	n := int(ss.Segment().Count())
	tab := newSegTable(n)
	dv, _ := ss.Segment().(segment.DocValueVisitable)
	var dvs segment.DocVisitState
	for doc := range n {
		id, err := ss.DocID(uint64(doc))
		err = t.fill(tab, doc, id, err, func(visit index.DocValueVisitor) (err error) {
			if dv != nil {
				dvs, err = dv.VisitDocValues(uint64(doc), tableFields, visit, dvs)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return tab, nil
}

// fill sets a table's row from the document's id and doc values. Call
// with mu held.
func (t *docTables) fill(tab *segTable, doc int, id []byte, idErr error, visitDocValues func(index.DocValueVisitor) error) error {
	tab.svc[doc] = -1
	tab.lat[doc], tab.lon[doc] = math.NaN(), math.NaN()
	tab.closed[doc] = false
	if idErr != nil || id == nil {
		return nil // deleted and gone: never a hit
	}
	tab.ids[doc] = string(id)
	sid, _, _ := strings.Cut(tab.ids[doc], "/")
	s, ok := t.svcIDs[sid]
	if !ok {
		s = int32(len(t.svcIDs))
		t.svcIDs[sid] = s
	}
	tab.svc[doc] = s
	var vals []int32
	err := visitDocValues(func(field string, term []byte) {
		switch field {
		case fClosed:
			tab.closed[doc] = string(term) == "1"
		case fGeo:
			pc := numeric.PrefixCoded(term)
			if shift, err := pc.Shift(); err == nil && shift == 0 && math.IsNaN(tab.lat[doc]) {
				if i64, err := pc.Int64(); err == nil {
					tab.lon[doc] = geo.MortonUnhashLon(uint64(i64))
					tab.lat[doc] = geo.MortonUnhashLat(uint64(i64))
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
			vals = append(vals, id)
		}
	})
	if err != nil {
		return fmt.Errorf("search: reading doc values: %w", err)
	}
	tab.vals[doc] = vals
	return nil
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
	err = rr.t.fill(rr.tab, 0, []byte(ext), err, func(visit index.DocValueVisitor) error {
		return rr.dvr.VisitDocValues(id, visit)
	})
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
	distance bool            // sort by distance from lat/lon (nearest place)
	radius   float64         // metres; 0 = none (remote services always pass)
	lat, lon float64         // the point, when distance or radius
	implied  map[string]bool // reentry facts the query implies: each multiplies the score by 1+factRank
}

// entry is one service found: its best document.
type entry struct {
	closed bool
	dist   float64 // miles; +Inf when sorting by distance and it has no place
	score  float64
	id     string
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
	return a.id < b.id
}

// scratch is per-search memory, reused.
type scratch struct {
	stamp []uint32 // stamp[svc] == gen when the service was seen in this search
	best  []int32  // best[svc] = its entry
	gen   uint32
}

var scratchPool = sync.Pool{New: func() any { return &scratch{} }}

const metresPerMile = 1609.344

// collect runs bq over idx and ranks, collapses and counts its hits.
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
	// Each hit's row: from the segment tables, or read one by one.
	var (
		tabs    []*segTable
		offsets []uint64
		rows    *rowReader
		nsvc    int
		vals    []facetValue
	)
	tables := e.tablesFor(idx)
	if snap, ok := r.(*scorch.IndexSnapshot); ok {
		if tabs, nsvc, vals, err = tables.snapshotTables(snap); err != nil {
			return nil, 0, nil, err
		}
		offsets = make([]uint64, len(tabs)+1)
		for i, ss := range snap.Segments() {
			offsets[i+1] = offsets[i] + ss.Segment().Count()
		}
	} else {
		dvr, err := r.DocValueReader(tableFields)
		if err != nil {
			return nil, 0, nil, err
		}
		rows = &rowReader{t: tables, r: r, dvr: dvr, tab: newSegTable(1)}
		// every service and value is interned before the loop, so that
		// the counts below have room for them
		q := bleve.NewMatchAllQuery()
		all, err := q.Searcher(ctx, r, idx.Mapping(), search.SearcherOptions{})
		if err != nil {
			return nil, 0, nil, err
		}
		actx := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(all.DocumentMatchPoolSize()+1, 0)}
		for d, err := all.Next(actx); d != nil && err == nil; d, err = all.Next(actx) {
			rows.row(d.IndexInternalID)
			actx.DocumentMatchPool.Put(d)
		}
		all.Close()
		tables.mu.Lock()
		nsvc, vals = len(tables.svcIDs), tables.vals
		tables.mu.Unlock()
	}

	// The context bleve's own search sets up for its searchers.
	ctx = context.WithValue(ctx, search.GetScoringModelCallbackKey,
		search.GetScoringModelCallbackFn(func() string { return index.DefaultScoringModel }))
	ctx = context.WithValue(ctx, search.SearchIOStatsCallbackKey, search.SearchIOStatsCallbackFunc(func(uint64) {}))
	ctx = search.ContextWithTermSearchersCounter(ctx)
	s, err := bq.Searcher(ctx, r, idx.Mapping(), search.SearcherOptions{})
	if err != nil {
		return nil, 0, nil, err
	}
	defer s.Close()
	sctx := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize()+1, 0), IndexReader: r}

	implied := make([]bool, len(vals))
	for i, v := range vals {
		implied[i] = v.field == fFact && spec.implied[v.value]
	}
	counts := make([]int, len(vals))

	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	if len(sc.stamp) < nsvc {
		sc.stamp = make([]uint32, nsvc+nsvc/4)
		sc.best = make([]int32, len(sc.stamp))
		sc.gen = 0
	}
	sc.gen++
	if sc.gen == 0 { // wrapped: start afresh
		clear(sc.stamp)
		sc.gen = 1
	}
	gen := sc.gen

	var entries []entry
	seg := 0
	n := 0
	d, err := s.Next(sctx)
	for ; err == nil && d != nil; d, err = s.Next(sctx) {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, 0, nil, err
			}
		}
		score := d.Score
		var tab *segTable
		var local uint64
		if rows != nil {
			if tab, err = rows.row(d.IndexInternalID); err != nil {
				return nil, 0, nil, err
			}
		} else {
			g := d.IndexInternalID.Value()
			for g >= offsets[seg+1] {
				seg++
			}
			tab, local = tabs[seg], g-offsets[seg]
		}
		sctx.DocumentMatchPool.Put(d)
		svc := tab.svc[local]
		if svc < 0 {
			continue
		}
		dist := 0.0
		if spec.distance || spec.radius > 0 {
			if lat := tab.lat[local]; !math.IsNaN(lat) {
				km := geo.Haversin(spec.lon, spec.lat, tab.lon[local], lat)
				if spec.radius > 0 && km > spec.radius/1000 {
					continue
				}
				if spec.distance {
					dist = km * 1000 / metresPerMile
				}
			} else if spec.distance {
				dist = math.Inf(1)
			}
		}
		for _, v := range tab.vals[local] {
			if implied[v] {
				score *= 1 + factRank
			}
		}
		en := entry{closed: tab.closed[local], dist: dist, score: score, id: tab.ids[local]}
		if sc.stamp[svc] != gen {
			sc.stamp[svc] = gen
			sc.best[svc] = int32(len(entries))
			entries = append(entries, en)
			for _, v := range tab.vals[local] {
				counts[v]++
			}
			continue
		}
		if b := &entries[sc.best[svc]]; en.before(b) {
			*b = en
		}
	}
	if err != nil {
		return nil, 0, nil, err
	}

	// The first `want` services, in order.
	want := min(spec.want, len(entries))
	if want < len(entries)/4 {
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
		hits = make([]entry, len(h))
		for i, k := range h {
			hits[i] = entries[k]
		}
	} else {
		hits = entries
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
	hits = hits[:want]

	facets = map[string][]Facet{}
	for key, field := range map[string]string{"category": fCat, "attribute": fFact, "language": fLang} {
		list := []Facet{}
		for i, v := range vals {
			if v.field == field && counts[i] > 0 {
				list = append(list, Facet{Value: v.value, Count: counts[i]})
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
	return hits, len(entries), facets, nil
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
