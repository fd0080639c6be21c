package search

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
	"github.com/secondchancekc/secondchance/directory"
)

// openIndex opens the index at dir for serving. An index is built with
// scorch's unsafe_batch (see Rebuild), which bleve records with it: served,
// every batch waits until it is on disk, so that a change's sequence number
// is never recorded ahead of what survives a crash, and nothing written
// just before Close is lost.
func openIndex(dir string) (bleve.Index, error) {
	return bleve.OpenUsing(dir, map[string]any{"unsafe_batch": false})
}

// Internal keys stored with the index.
var (
	keyMapping = []byte("mapping_version")
	keySeq     = []byte("change_seq")
)

// Options configure an Engine.
type Options struct {
	// Dir is the index folder (data_dir/index).
	Dir   string
	Store *directory.Store
	// Location is the zone opening hours are read in (America/Chicago).
	Location *time.Location
	// Synonyms is the synonym file staff may edit; empty means the
	// embedded default only.
	Synonyms string
	Logger   *slog.Logger
	// Slots computes open half-hour slots of the week from schedules; nil
	// leaves "open now" unindexed.
	Slots func(schedules []map[string]any, loc *time.Location) []string
	// Poll is how often the change feed is read when nothing wakes the
	// indexer (default 500 ms).
	Poll time.Duration
	// UnverifiedAfter is directory.unverified_after in months: result
	// cards of listings not verified for that long are marked (0: 24).
	UnverifiedAfter int

	// partDocs and maxParts replace, in tests, the fewest documents per
	// part and the most parts a search is run in (parallel.go).
	partDocs, maxParts int
}

// Engine is the search index and the indexer that keeps it in step with
// the database. Until the index is usable, searches answer from SQL.
type Engine struct {
	opt   Options
	store *directory.Store
	log   *slog.Logger
	now   func() time.Time

	mu      sync.RWMutex
	idx     bleve.Index // nil while missing or rebuilding
	applied atomic.Int64
	state   atomic.Value // string: why the index is not serving, "" when it is
	wake    chan struct{}
	syn     *synonymSet
	rebuild atomic.Bool

	// tables are the collector's per-segment document tables of idx.
	tablesMu sync.Mutex
	tables   *docTables
	// tax is the taxonomy for cards and facet labels (*taxonomyCache).
	tax atomic.Value
	// cards keeps what result cards show of each service, until the
	// change feed says it changed.
	cards cardCache
}

// New prepares an Engine; Run opens or builds the index.
func New(opt Options) (*Engine, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Poll == 0 {
		opt.Poll = 500 * time.Millisecond
	}
	syn, err := loadSynonyms(opt.Synonyms, opt.Logger)
	if err != nil {
		return nil, err
	}
	e := &Engine{opt: opt, store: opt.Store, log: opt.Logger, now: time.Now, wake: make(chan struct{}, 1), syn: syn}
	e.state.Store("starting")
	return e, nil
}

// Status says whether searches use the index; note explains when not.
func (e *Engine) Status() (ready bool, note string) {
	s, _ := e.state.Load().(string)
	return s == "", s
}

// Notify wakes the indexer after a directory write (the change feed is
// polled anyway; this only makes it immediate).
func (e *Engine) Notify([]string) {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// open opens the existing index, or reports that it must be rebuilt: when
// it is missing, unreadable, built with another mapping, or ahead of the
// database (a restored backup).
func (e *Engine) open(ctx context.Context) (rebuild bool, why string) {
	os.RemoveAll(e.opt.Dir + ".building")
	idx, err := openIndex(e.opt.Dir)
	if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
		return true, "no index yet"
	} else if err != nil {
		return true, "index unreadable: " + err.Error()
	}
	v, _ := idx.GetInternal(keyMapping)
	if string(v) != strconv.Itoa(MappingVersion) {
		idx.Close()
		return true, fmt.Sprintf("index mapping version %q, this binary needs %d", v, MappingVersion)
	}
	sb, _ := idx.GetInternal(keySeq)
	seq, _ := strconv.ParseInt(string(sb), 10, 64)
	last, err := e.store.LastChange(ctx)
	if err != nil {
		idx.Close()
		return true, "change feed unreadable: " + err.Error()
	}
	if seq > last {
		idx.Close()
		return true, fmt.Sprintf("index is ahead of the database (change %d > %d): the database was replaced", seq, last)
	}
	e.mu.Lock()
	e.idx = idx
	e.mu.Unlock()
	e.applied.Store(seq)
	e.warm()
	return false, ""
}

// Run opens (or rebuilds in the background of the server) the index and
// then follows the change feed until ctx ends, then closes the index.
func (e *Engine) Run(ctx context.Context) error {
	defer e.Close()
	if rebuild, why := e.open(ctx); rebuild {
		e.log.Info("search index will be rebuilt; searches answer from SQL until it is ready", "why", why)
		if err := e.Rebuild(ctx, nil); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			e.state.Store("rebuild failed: " + err.Error())
			return err
		}
	}
	if err := e.catchUp(ctx); err != nil && ctx.Err() == nil {
		e.log.Error("search index: following the change feed", "err", err)
	}
	if ok, why := e.consistent(ctx); !ok {
		e.log.Warn("search index disagrees with the database; rebuilding", "why", why)
		// The old index stays open while the new one is built, so Rebuild
		// leaves the note alone: say why searches answer from SQL.
		e.state.Store("rebuilding the search index (" + why + "); answering from a plain SQL fallback")
		if err := e.Rebuild(ctx, nil); err != nil && ctx.Err() == nil {
			e.state.Store("rebuild failed: " + err.Error())
			return err
		}
	}
	e.state.Store("")
	t := time.NewTicker(e.opt.Poll)
	defer t.Stop()
	built := e.now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-e.wake:
		}
		// "Open now" slots are computed for the coming week: refresh them
		// daily, beside the serving index.
		if e.now().Sub(built) > 24*time.Hour {
			built = e.now()
			if err := e.Rebuild(ctx, nil); err != nil && ctx.Err() == nil {
				e.log.Error("daily search index rebuild", "err", err)
			}
		}
		if err := e.catchUp(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("search index: following the change feed", "err", err)
		}
	}
}

// Close closes the index.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.idx == nil {
		return nil
	}
	err := e.idx.Close()
	e.idx = nil
	return err
}

// consistent compares the number of services in the index with the number
// the database says should be there.
func (e *Engine) consistent(ctx context.Context) (bool, string) {
	var want uint64
	if err := e.store.DB().Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM service WHERE status NOT IN ('inactive','defunct')`).Scan(&want); err != nil {
		return false, err.Error()
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.idx == nil {
		return false, "no index"
	}
	n, err := e.idx.DocCount()
	if err != nil {
		return false, err.Error()
	}
	if n != want {
		return false, fmt.Sprintf("%d services indexed, %d in the database", n, want)
	}
	return true, ""
}

// catchUp applies the change feed after the last applied change.
func (e *Engine) catchUp(ctx context.Context) error {
	for {
		changes, err := e.store.Changes(ctx, e.applied.Load(), 1000)
		if err != nil || len(changes) == 0 {
			return err
		}
		seen := map[string]bool{}
		var ids []string
		for _, c := range changes {
			if !seen[c.ServiceID] {
				seen[c.ServiceID] = true
				ids = append(ids, c.ServiceID)
			}
		}
		e.cards.forget(ids)
		l, err := e.newLoader(ctx)
		if err != nil {
			return err
		}
		docs, err := l.load(ctx, ids)
		if err != nil {
			return err
		}
		last := changes[len(changes)-1].Seq
		e.mu.Lock()
		err = e.apply(ctx, docs, last)
		e.mu.Unlock()
		if err != nil {
			return err
		}
		e.applied.Store(last)
		e.warm()
	}
}

// apply replaces the documents of each service in one batch, together with
// the change sequence they bring the index to. Call with mu held.
func (e *Engine) apply(ctx context.Context, docs map[string][]document, seq int64) error {
	if e.idx == nil {
		return nil
	}
	b := e.idx.NewBatch()
	for sid, ds := range docs {
		// A service is one document, under its id: indexing it again
		// replaces it.
		if len(ds) == 0 {
			b.Delete(sid)
		}
		for _, d := range ds {
			if err := b.Index(d.ID, d.Fields); err != nil {
				return err
			}
		}
	}
	b.SetInternal(keySeq, []byte(strconv.FormatInt(seq, 10)))
	return e.idx.Batch(b)
}

func (e *Engine) docIDs(ctx context.Context, serviceID string) ([]string, error) {
	q := bleve.NewTermQuery(serviceID)
	q.SetField(fService)
	res, err := e.idx.SearchInContext(ctx, bleve.NewSearchRequestOptions(q, 1000, 0, false))
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		ids[i] = h.ID
	}
	return ids, nil
}

func (e *Engine) newLoader(ctx context.Context) (*loader, error) {
	var slots func([]map[string]any) []string
	if e.opt.Slots != nil {
		slots = func(s []map[string]any) []string { return e.opt.Slots(s, e.opt.Location) }
	}
	l, err := newLoader(ctx, e.store.DB().Read, slots)
	if err == nil {
		e.tax.Store(&taxonomyCache{l: l, when: e.now()})
	}
	return l, err
}

// batchSize is how many documents go into one bleve batch while building:
// 1,000 built fastest here; 5,000 used 2.5 times the memory for no gain.
const batchSize = 1000

// buildWorkers is how many batches are analysed and turned into segments
// at once while building. bleve analyses a batch's documents in parallel
// but builds its segment on the calling goroutine, and the loader's SQL
// runs on another: two writers and the loader keep two cores busy.
const buildWorkers = 2

// buildInto indexes the services ids into idx: one goroutine loads
// chunks of size services from the database while buildWorkers goroutines
// index earlier chunks, each a batch of its own (scorch takes concurrent
// batches). progress, if set, is told services indexed and total. It
// returns once every goroutine has stopped, with the first error.
func buildInto(ctx context.Context, idx bleve.Index, l *loader, ids []string, size int, progress func(done, total int)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type chunk struct {
		ids  []string
		docs map[string][]document
	}
	chunks := make(chan chunk, buildWorkers)
	go func() {
		defer close(chunks)
		for start := 0; start < len(ids); start += size {
			part := ids[start:min(start+size, len(ids))]
			docs, err := l.load(ctx, part)
			if err != nil {
				cancel(err)
				return
			}
			select {
			case chunks <- chunk{part, docs}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var done int // guarded by pmu
	var pmu sync.Mutex
	var wg sync.WaitGroup
	for range buildWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range chunks {
				if ctx.Err() != nil {
					continue // drain, so the loader is not left waiting
				}
				if err := indexChunk(idx, c.ids, c.docs); err != nil {
					cancel(err)
					continue
				}
				if progress != nil {
					pmu.Lock()
					done += len(c.ids)
					progress(done, len(ids))
					pmu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// indexChunk indexes the documents of ids as one batch.
func indexChunk(idx bleve.Index, ids []string, docs map[string][]document) error {
	b := idx.NewBatch()
	for _, id := range ids {
		for _, d := range docs[id] {
			if err := b.Index(d.ID, d.Fields); err != nil {
				return err
			}
		}
	}
	return idx.Batch(b)
}

// mergeAll merges a freshly built index into one segment. The build
// leaves a dozen segments at 100,000 services (bleve's tiers of ten), and
// a search pays for each segment in every word's dictionary lookups: one
// segment answered 10 to 40% faster at the median (docs/benchmarks.md).
// Later edits add small segments, which bleve merges as usual.
func mergeAll(ctx context.Context, idx bleve.Index) error {
	a, err := idx.Advanced()
	if err != nil {
		return err
	}
	s, ok := a.(*scorch.Scorch)
	if !ok {
		return nil
	}
	// bleve's single-segment plan merges ten at a time; all at once here
	opt := mergeplan.SingleSegmentMergePlanOptions
	opt.SegmentsPerMergeTask = 1 << 16
	if err := s.ForceMerge(ctx, &opt); err != nil {
		return fmt.Errorf("merge the new index: %w", err)
	}
	return ctx.Err()
}

// Rebuild builds a new index from the database beside the current one and
// swaps it in; searches use the old index (or SQL) meanwhile. progress, if
// set, is told services done and total.
func (e *Engine) Rebuild(ctx context.Context, progress func(done, total int)) error {
	if !e.rebuild.CompareAndSwap(false, true) {
		return fmt.Errorf("a rebuild is already running")
	}
	defer e.rebuild.Store(false)
	start := time.Now()
	e.mu.RLock()
	serving := e.idx != nil
	e.mu.RUnlock()
	if !serving {
		e.state.Store("rebuilding the search index; answering from a plain SQL fallback")
	}
	seq, err := e.store.LastChange(ctx)
	if err != nil {
		return err
	}
	var ids []string
	rs, err := e.store.DB().Read.QueryContext(ctx, `SELECT id FROM service ORDER BY rowid`)
	if err != nil {
		return err
	}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			rs.Close()
			return err
		}
		ids = append(ids, id)
	}
	rs.Close()
	im, err := newMapping()
	if err != nil {
		return err
	}
	tmp := e.opt.Dir + ".building"
	os.RemoveAll(tmp)
	// unsafe_batch: a batch returns once it is searchable in memory, not
	// once it is on disk, so loading the next one overlaps with writing;
	// the last batch waits for everything to be on disk (below). Nothing
	// searches this index until it is done, so bleve's merging of
	// segments as they come is put off: mergeAll merges them all once at
	// the end (at 100k, 4.9 s of CPU instead of 6.5 s of merging tiers
	// and 3.4 s for the last merge).
	idx, err := bleve.NewUsing(tmp, im, bleve.Config.DefaultIndexType, bleve.Config.DefaultKVStore, map[string]any{
		"unsafe_batch":           true,
		"scorchMergePlanOptions": map[string]any{"maxSegmentsPerTier": 1 << 16, "segmentsPerMergeTask": 1 << 16, "floorSegmentSize": 1},
	})
	if err != nil {
		return fmt.Errorf("create index: %w", err)
	}
	fail := func(err error) error {
		idx.Close()
		os.RemoveAll(tmp)
		return err
	}
	l, err := e.newLoader(ctx)
	if err != nil {
		return fail(err)
	}
	if err := buildInto(ctx, idx, l, ids, batchSize, progress); err != nil {
		return fail(err)
	}
	b := idx.NewBatch()
	b.SetInternal(keyMapping, []byte(strconv.Itoa(MappingVersion)))
	b.SetInternal(keySeq, []byte(strconv.FormatInt(seq, 10)))
	persisted := make(chan error, 1)
	b.SetPersistedCallback(func(err error) { persisted <- err })
	if err := idx.Batch(b); err != nil {
		return fail(err)
	}
	select {
	case err := <-persisted:
		if err != nil {
			return fail(err)
		}
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	if err := mergeAll(ctx, idx); err != nil {
		return fail(err)
	}
	if err := idx.Close(); err != nil {
		return fail(err)
	}
	e.mu.Lock()
	if e.idx != nil {
		e.idx.Close()
		e.idx = nil
	}
	old := e.opt.Dir + ".old"
	os.RemoveAll(old)
	if _, err := os.Stat(e.opt.Dir); err == nil {
		if err := os.Rename(e.opt.Dir, old); err != nil {
			e.mu.Unlock()
			return err
		}
	}
	if err := os.Rename(tmp, e.opt.Dir); err != nil {
		e.mu.Unlock()
		return err
	}
	os.RemoveAll(old)
	idx, err = openIndex(e.opt.Dir)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	e.idx = idx
	e.applied.Store(seq)
	e.mu.Unlock()
	e.cards.forget(nil)
	e.warm()
	e.log.Info("search index built", "services", len(ids), "took", time.Since(start).Round(time.Millisecond))
	return nil
}
