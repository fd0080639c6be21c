package search

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	index "github.com/blevesearch/bleve_index_api"
	"github.com/google/uuid"
	"github.com/secondchancekc/secondchance/data"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/db"
)

// --- helpers shared by index_test.go, api_test.go and query_test.go ---

// Demo services used by several tests (ids from data/demo/services.ndjson).
const (
	svcSecondChanceJobs = "53ca901c-7beb-57fb-b936-401bb6784356" // at the shared Second Chance office
	svcFairChanceTemp   = "fd3d2ed7-bd82-547f-8c49-6d451f4dfab3" // two places
	svcForklift         = "6091e4b4-1293-57a4-b38c-60af04a1ebfa" // tagged only with a grandchild of Work
	svcResumeWorkshop   = "41930322-565f-524f-a078-6c88b800f157" // English and Spanish
	svcWeeklyJobClub    = "ebe44a81-f74e-515d-817e-6c20f01c9d18"
	locSecondChance     = "3739ff54-6e96-5a54-a139-6c60bd99496e" // shared by five services
)

// demoFiles are the bytes of a database with the taxonomies and the demo
// directory loaded and of its built index, by path under their folder:
// made once, because loading the taxonomy and building take seconds under
// -race (bleve waits for each batch to reach the disk), and copied for each
// test.
type demoFiles struct {
	db    []byte
	index map[string][]byte
}

var demoTemplate = sync.OnceValues(func() (*demoFiles, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "secondchance-search-test-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "template.db")
	d, err := db.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	s := directory.NewStore(d)
	if _, err := s.LoadTaxonomies(ctx); err != nil {
		return nil, err
	}
	if _, _, err := s.LoadDemo(ctx); err != nil {
		return nil, err
	}
	if _, err := d.Write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return nil, err
	}
	out := &demoFiles{index: map[string][]byte{}}
	if out.db, err = os.ReadFile(path); err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		return nil, err
	}
	indexDir := filepath.Join(dir, "index")
	e, err := New(Options{Dir: indexDir, Store: s, Location: loc, Slots: Slots, Logger: quietLog})
	if err != nil {
		return nil, err
	}
	if err := e.Rebuild(ctx, nil); err != nil {
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	err = filepath.WalkDir(indexDir, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(indexDir, p)
		out.index[rel], err = os.ReadFile(p)
		return err
	})
	return out, err
})

// testEnv is a real SQLite database (a copy of the demo directory) and the
// place for an index, in a temporary folder.
type testEnv struct {
	dir      string
	dbPath   string
	indexDir string
	db       *db.DB
	store    *directory.Store
	loc      *time.Location
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	tmpl, err := demoTemplate()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	v := &testEnv{dir: dir, dbPath: filepath.Join(dir, "test.db"), indexDir: filepath.Join(dir, "index")}
	if err := os.WriteFile(v.dbPath, tmpl.db, 0o600); err != nil {
		t.Fatal(err)
	}
	v.db = openDB(t, v.dbPath)
	v.store = directory.NewStore(v.db)
	v.loc, err = time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func openDB(t testing.TB, path string) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// engine makes an Engine over the env's store and index folder; the index
// is neither opened nor built (see startEngine, or call Rebuild).
func (v *testEnv) engine(t testing.TB, mod func(*Options)) *Engine {
	t.Helper()
	opt := Options{Dir: v.indexDir, Store: v.store, Location: v.loc, Slots: Slots, Logger: quietLog, Poll: 50 * time.Millisecond}
	if mod != nil {
		mod(&opt)
	}
	e, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// copyIndex puts a copy of the demo directory's built index in the env's
// index folder, as a server that ran before would have left it.
func (v *testEnv) copyIndex(t testing.TB) {
	t.Helper()
	tmpl, err := demoTemplate()
	if err != nil {
		t.Fatal(err)
	}
	for rel, b := range tmpl.index {
		p := filepath.Join(v.indexDir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// builtEngine is an engine serving from a copy of the demo index, opened
// as Run opens it.
func (v *testEnv) builtEngine(t testing.TB) *Engine {
	t.Helper()
	v.copyIndex(t)
	e := v.engine(t, nil)
	if rebuild, why := e.open(context.Background()); rebuild {
		t.Fatalf("the copied demo index is not usable: %s", why)
	}
	e.state.Store("")
	return e
}

// memEngine is an engine over an index built in memory from v's database
// with the engine's own loader: the reference an index must agree with.
func (v *testEnv) memEngine(t testing.TB) *Engine {
	t.Helper()
	ctx := context.Background()
	e := v.engine(t, func(o *Options) { o.Dir = "" })
	im, err := newMapping()
	if err != nil {
		t.Fatal(err)
	}
	idx, err := bleve.NewMemOnly(im)
	if err != nil {
		t.Fatal(err)
	}
	l, err := e.newLoader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := queryIDs(t, v.db, `SELECT id FROM service`)
	docs, err := l.load(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	b := idx.NewBatch()
	for _, ds := range docs {
		for _, d := range ds {
			if err := b.Index(d.ID, d.Fields); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := idx.Batch(b); err != nil {
		t.Fatal(err)
	}
	e.idx = idx
	e.state.Store("")
	return e
}

// startEngine runs e.Run in a goroutine as `serve` does; stop cancels it
// and returns what Run returned. It is also called at cleanup.
func startEngine(t testing.TB, e *Engine) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("Run did not return within 30 s of its context ending")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return stop
}

// waitReady waits for the engine to serve from its index. Building takes
// most of a second under -race; the bound is only there so that a broken
// engine fails the test instead of hanging it.
func waitReady(t testing.TB, e *Engine) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		if ok, note := e.Status(); !ok {
			return fmt.Errorf("engine not ready: %s", note)
		}
		return nil
	})
}

// eventually polls f until it returns nil, failing with f's last error once
// within has passed.
func eventually(t testing.TB, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBound is how long a committed write may take to reach the index in a
// test: the requirement is "within a second"; this is only a bound for a
// test to fail rather than a measure of speed.
const syncBound = 2 * time.Second

// find runs q (text and defaults filled in) and fails the test on error.
func find(t testing.TB, e *Engine, q Query) *Result {
	t.Helper()
	if q.Page == 0 {
		q.Page = 1
	}
	if q.PerPage == 0 {
		q.PerPage = 50
	}
	if q.Sort == "" {
		q.Sort = "relevance"
	}
	res, err := e.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func hitIDs(res *Result) []string {
	out := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = h.ServiceID
	}
	return out
}

// demoServices are the compiled services of the demo directory, by id.
func demoServices(t testing.TB) map[string]map[string]any {
	t.Helper()
	b, err := data.FS.ReadFile("demo/services.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out[m["id"].(string)] = m
	}
	return out
}

// demoService returns a deep copy of one demo service, to change and
// import.
func demoService(t testing.TB, id string) map[string]any {
	t.Helper()
	m, ok := demoServices(t)[id]
	if !ok {
		t.Fatalf("no demo service %s", id)
	}
	return m
}

// writeNDJSON writes compiled services to a new file.
func writeNDJSON(t testing.TB, recs ...map[string]any) string {
	t.Helper()
	var buf bytes.Buffer
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	f, err := os.CreateTemp(t.TempDir(), "import-*.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// importServices imports compiled services through Store.Import, as the
// import command and the staff pages do.
func importServices(t testing.TB, s *directory.Store, recs ...map[string]any) *directory.ImportResult {
	t.Helper()
	src, err := directory.OpenSource(writeNDJSON(t, recs...))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Import(context.Background(), src, directory.ImportOptions{Actor: "search test"})
	if err != nil {
		t.Fatalf("import: %v (%v)", err, res.Problems)
	}
	return res
}

// liveServices are the ids of the services the index should hold: all but
// inactive and defunct ones.
func liveServices(t testing.TB, d *db.DB) []string {
	t.Helper()
	return queryIDs(t, d, `SELECT id FROM service WHERE status NOT IN ('inactive','defunct') ORDER BY id`)
}

// queryIDs runs a query of one column of ids.
func queryIDs(t testing.TB, d *db.DB, query string, args ...any) []string {
	t.Helper()
	rs, err := d.Read.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	out := []string{}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// indexedDocs lists every document id in e's index, sorted.
func indexedDocs(t testing.TB, e *Engine) []string {
	t.Helper()
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.idx == nil {
		t.Fatal("no index open")
	}
	res, err := e.idx.Search(bleve.NewSearchRequestOptions(bleve.NewMatchAllQuery(), 100000, 0, false))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range res.Hits {
		out = append(out, h.ID)
	}
	sort.Strings(out)
	return out
}

// fieldTerms is every term of a field in e's index with the number of
// documents that have it. The dictionary alone will not do: it keeps the
// terms of replaced documents until segments merge, and its counts are not
// reliable after a merge (seen: 1 for a term of 8 documents), so each term
// is searched.
func fieldTerms(t testing.TB, e *Engine, field string, also map[string]uint64) map[string]uint64 {
	t.Helper()
	e.mu.RLock()
	defer e.mu.RUnlock()
	d, err := e.idx.FieldDict(field)
	if err != nil {
		t.Fatal(err)
	}
	terms := []string{}
	for {
		entry, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		if entry == nil {
			break
		}
		terms = append(terms, entry.Term)
	}
	d.Close()
	for term := range also {
		terms = append(terms, term)
	}
	out := map[string]uint64{}
	for _, term := range terms {
		q := bleve.NewTermQuery(term)
		q.SetField(field)
		res, err := e.idx.Search(bleve.NewSearchRequestOptions(q, 0, 0, false))
		if err != nil {
			t.Fatal(err)
		}
		if res.Total > 0 {
			out[term] = res.Total
		}
	}
	return out
}

// checkIndexMatchesDB compares e's index with one built afresh (in memory)
// from the same database: the same documents, the same terms in the
// keyword fields and the name with the same document counts, and the same services found for a set of
// searches (sets, not order: scores may differ by segment history).
func checkIndexMatchesDB(t testing.TB, v *testEnv, e *Engine, texts ...string) {
	t.Helper()
	ref := v.memEngine(t)
	got, want := indexedDocs(t, e), indexedDocs(t, ref)
	if !slices.Equal(got, want) {
		t.Errorf("index documents differ from a fresh build:\n got %d %v\nwant %d %v", len(got), got, len(want), want)
	}
	// Every term of the keyword fields, and of the name, in as many
	// documents as in a fresh build.
	for _, field := range []string{fName, fService, fTerms, fCat, fFact, fLang, fZIP, fStatus, fClosed, fPlace, fRemote, fOpen} {
		want := fieldTerms(t, ref, field, nil)
		if got := fieldTerms(t, e, field, want); !maps.Equal(got, want) {
			var diff []string
			for term, n := range got {
				if want[term] != n {
					diff = append(diff, fmt.Sprintf("%q: %d, fresh %d", term, n, want[term]))
				}
			}
			for term, n := range want {
				if _, ok := got[term]; !ok {
					diff = append(diff, fmt.Sprintf("%q: 0, fresh %d", term, n))
				}
			}
			sort.Strings(diff)
			t.Errorf("field %s differs from a fresh build: %v", field, diff[:min(len(diff), 20)])
		}
	}
	res := find(t, e, Query{PerPage: 10000})
	if res.Fallback {
		t.Fatal("the engine is not serving from its index")
	}
	primaries := hitIDs(res)
	sort.Strings(primaries)
	if live := liveServices(t, v.db); !slices.Equal(primaries, live) {
		t.Errorf("services in the index differ from the database's live services:\n got %v\nwant %v", primaries, live)
	}
	for _, text := range append(texts, "job", "housing", "food", "id", "expungement", "mentor") {
		a, b := hitIDs(find(t, e, Query{Text: text, PerPage: 10000})), hitIDs(find(t, ref, Query{Text: text, PerPage: 10000}))
		sort.Strings(a)
		sort.Strings(b)
		if !slices.Equal(a, b) {
			t.Errorf("search %q: index finds %v, a fresh build finds %v", text, a, b)
		}
	}
}

// --- sync: every directory write reaches the index ---

// TestIndexFollowsImports runs the indexer as `serve` does and checks that
// each kind of directory change reaches search shortly after the import
// commits.
func TestIndexFollowsImports(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	// A poll far longer than the test: only OnChange (Notify) can wake the
	// indexer, so this also proves the import's OnChange call works.
	v.copyIndex(t)
	e := v.engine(t, func(o *Options) { o.Poll = time.Hour })
	v.store.OnChange = e.Notify
	startEngine(t, e)
	waitReady(t, e)

	t.Run("renamed service", func(t *testing.T) {
		svc := demoService(t, svcWeeklyJobClub)
		svc["name"] = "Weekly Zanzibar Club"
		two := demoService(t, svcFairChanceTemp) // at two places: both documents change
		two["name"] = "Fair-Chance Ibex Jobs"
		importServices(t, v.store, svc, two)
		eventually(t, syncBound, func() error {
			if ids := hitIDs(find(t, e, Query{Text: "zanzibar"})); !slices.Equal(ids, []string{svcWeeklyJobClub}) {
				return fmt.Errorf("search zanzibar found %v, want the renamed service", ids)
			}
			kc, _, _ := directory.ZIPCentroid("64106")
			if res := find(t, e, Query{Text: "ibex", HasPoint: true, Lat: kc.Lat, Lon: kc.Lon}); res.Total != 1 || len(res.Hits) != 1 {
				return fmt.Errorf("search ibex near a point found %d places, want the renamed service once", res.Total)
			}
			return nil
		})
	})

	t.Run("service made inactive disappears", func(t *testing.T) {
		if ids := hitIDs(find(t, e, Query{Text: "forklift"})); !slices.Contains(ids, svcForklift) {
			t.Fatalf("forklift: %v, want the forklift class before the change", ids)
		}
		svc := demoService(t, svcForklift)
		svc["status"] = "inactive"
		importServices(t, v.store, svc)
		eventually(t, syncBound, func() error {
			if ids := hitIDs(find(t, e, Query{Text: "forklift"})); slices.Contains(ids, svcForklift) {
				return fmt.Errorf("forklift still finds the inactive service: %v", ids)
			}
			return nil
		})
	})

	t.Run("deleted children", func(t *testing.T) {
		svc := demoService(t, svcResumeWorkshop)
		if !slices.Contains(hitIDs(find(t, e, Query{Language: "es"})), svcResumeWorkshop) {
			t.Fatal("language=es does not find the workshop before the change")
		}
		cards, err := e.Cards(context.Background(), []Hit{{ServiceID: svcResumeWorkshop}}, Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(cards) != 1 || len(cards[0].Phones) == 0 {
			t.Fatalf("the workshop's card has no phone before the change: %+v", cards)
		}
		svc["phones"] = []any{}
		var langs []any
		for _, l := range svc["languages"].([]any) {
			if l.(map[string]any)["code"] != "es" {
				langs = append(langs, l)
			}
		}
		svc["languages"] = langs
		importServices(t, v.store, svc)
		eventually(t, syncBound, func() error {
			if slices.Contains(hitIDs(find(t, e, Query{Language: "es"})), svcResumeWorkshop) {
				return errors.New("language=es still finds the workshop after its Spanish was removed")
			}
			return nil
		})
		res, err := e.Answer(context.Background(), Query{Text: "resume interview workshop", Page: 1, PerPage: 10}, "test")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Results {
			if c.ID == svcResumeWorkshop {
				if len(c.Phones) != 0 {
					t.Errorf("card still shows deleted phones: %+v", c.Phones)
				}
				if slices.Contains(c.Languages, "es") {
					t.Errorf("card still shows Spanish: %v", c.Languages)
				}
				return
			}
		}
		t.Errorf("the workshop is not found after its phone was deleted: %+v", res.Results)
	})

	t.Run("location change reaches every service there", func(t *testing.T) {
		var atOffice []string
		rs, err := v.db.Read.Query(`SELECT service_id FROM service_at_location WHERE location_id = ? ORDER BY service_id`, locSecondChance)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var id string
			rs.Scan(&id)
			atOffice = append(atOffice, id)
		}
		rs.Close()
		if len(atOffice) != 5 {
			t.Fatalf("the demo office has %d services, want 5", len(atOffice))
		}
		// Move the office (in one service's record) to St. Louis, far from
		// every other demo place.
		stl, ok, err := directory.ZIPCentroid("63101")
		if err != nil || !ok {
			t.Fatal("no centroid for 63101", err)
		}
		svc := demoService(t, svcSecondChanceJobs)
		loc := svc["service_at_locations"].([]any)[0].(map[string]any)["location"].(map[string]any)
		loc["latitude"], loc["longitude"] = stl.Lat, stl.Lon
		importServices(t, v.store, svc)
		near := Query{HasPoint: true, Lat: stl.Lat, Lon: stl.Lon, Radius: 10}
		eventually(t, syncBound, func() error {
			var found []string
			for _, h := range find(t, e, near).Hits {
				if h.PlaceID != "" { // not a service by phone or online
					found = append(found, h.ServiceID)
				}
			}
			sort.Strings(found)
			if !slices.Equal(found, atOffice) {
				return fmt.Errorf("near the moved office found %v, want its five services %v", found, atOffice)
			}
			return nil
		})
	})

	checkIndexMatchesDB(t, v, e, "zanzibar", "ibex", "forklift", "resume")
}

// TestIndexFollowsOtherProcess writes through a second connection to the
// same database file, with no OnChange (as `secondchance import` run beside
// the server does): the change feed alone must bring it to the index.
func TestIndexFollowsOtherProcess(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	v.copyIndex(t)
	e := v.engine(t, func(o *Options) { o.Poll = 0 }) // the default poll
	v.store.OnChange = e.Notify
	startEngine(t, e)
	waitReady(t, e)

	other := directory.NewStore(openDB(t, v.dbPath))
	svc := demoService(t, svcWeeklyJobClub)
	svc["name"] = "Weekly Quetzal Club"
	importServices(t, other, svc)
	eventually(t, syncBound, func() error {
		if ids := hitIDs(find(t, e, Query{Text: "quetzal"})); !slices.Equal(ids, []string{svcWeeklyJobClub}) {
			return fmt.Errorf("quetzal found %v, want the service renamed by the other process", ids)
		}
		return nil
	})
}

// --- start-up checks ---

// rebuildGate holds every Slots call (which the loader makes while
// building) until it is opened, so that a test can look at the engine in the
// middle of a rebuild.
type rebuildGate struct {
	held   atomic.Bool
	calls  atomic.Int64
	opened chan struct{}
	once   sync.Once
}

func newRebuildGate() *rebuildGate {
	g := &rebuildGate{opened: make(chan struct{})}
	g.held.Store(true)
	return g
}

func (g *rebuildGate) slots(s []map[string]any, loc *time.Location) []string {
	if g.held.Load() {
		g.calls.Add(1)
		<-g.opened
	}
	return Slots(s, loc)
}

func (g *rebuildGate) open() {
	g.once.Do(func() {
		g.held.Store(false)
		close(g.opened)
	})
}

// checkFallsBackWhileRebuilding starts e (whose Slots is g.slots) and
// checks that while the rebuild is held, searches answer from SQL and
// Status says why; then lets it finish and checks the index serves.
func checkFallsBackWhileRebuilding(t *testing.T, e *Engine, g *rebuildGate, wantNote string) {
	t.Helper()
	defer g.open()
	startEngine(t, e)
	eventually(t, 20*time.Second, func() error {
		if g.calls.Load() == 0 {
			return errors.New("the engine has not started rebuilding")
		}
		return nil
	})
	ready, note := e.Status()
	if ready || !strings.Contains(note, wantNote) {
		t.Errorf("Status while rebuilding = %v, %q; want not ready, a note with %q", ready, note, wantNote)
	}
	res := find(t, e, Query{Text: "job"})
	if !res.Fallback || res.Total == 0 {
		t.Errorf("search while rebuilding: fallback=%v total=%d; want a fallback answer with results", res.Fallback, res.Total)
	}
	g.open()
	waitReady(t, e)
	if res := find(t, e, Query{Text: "job"}); res.Fallback || res.Total == 0 {
		t.Errorf("search after the rebuild: fallback=%v total=%d; want the index's answer", res.Fallback, res.Total)
	}
}

// TestStartupRebuildsOtherMapping: an index built with another mapping
// version is rebuilt at start, answering from SQL meanwhile.
func TestStartupRebuildsOtherMapping(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	e := v.builtEngine(t)
	e.mu.Lock()
	if err := e.idx.SetInternal(keyMapping, []byte("0")); err != nil {
		t.Fatal(err)
	}
	e.mu.Unlock()
	e.Close()

	g := newRebuildGate()
	e2 := v.engine(t, func(o *Options) { o.Slots = g.slots })
	checkFallsBackWhileRebuilding(t, e2, g, "rebuilding")
	e2.mu.RLock()
	mv, _ := e2.idx.GetInternal(keyMapping)
	e2.mu.RUnlock()
	if string(mv) != fmt.Sprint(MappingVersion) {
		t.Errorf("mapping version after rebuild = %q, want %d", mv, MappingVersion)
	}
	checkIndexMatchesDB(t, v, e2)
}

// TestStartupRebuildsBrokenIndex: an index folder whose contents are gone,
// or partly gone, is rebuilt.
func TestStartupRebuildsBrokenIndex(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		remove func(path string, d os.DirEntry) bool
	}{
		{"everything", func(string, os.DirEntry) bool { return true }},
		{"segments", func(p string, _ os.DirEntry) bool { return strings.HasSuffix(p, ".zap") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := newTestEnv(t)
			e := v.builtEngine(t)
			e.Close()
			n := 0
			err := filepath.WalkDir(v.indexDir, func(p string, d os.DirEntry, err error) error {
				if err != nil || p == v.indexDir || d.IsDir() || !tc.remove(p, d) {
					return err
				}
				n++
				return os.Remove(p)
			})
			if err != nil || n == 0 {
				t.Fatalf("removed %d files: %v", n, err)
			}
			e2 := v.engine(t, nil)
			startEngine(t, e2)
			waitReady(t, e2)
			checkIndexMatchesDB(t, v, e2)
		})
	}
}

// TestStartupCatchesUpAfterCrash: changes written while no indexer ran (the
// server was down, or killed before it indexed them) are applied at start.
func TestStartupCatchesUpAfterCrash(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	v.copyIndex(t)
	e := v.engine(t, nil)
	v.store.OnChange = e.Notify
	stop := startEngine(t, e)
	waitReady(t, e)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	v.store.OnChange = nil

	svc := demoService(t, svcWeeklyJobClub)
	svc["name"] = "Weekly Narwhal Club"
	gone := demoService(t, svcForklift)
	gone["status"] = "defunct"
	importServices(t, v.store, svc, gone)

	e2 := v.engine(t, nil)
	startEngine(t, e2)
	waitReady(t, e2)
	if ids := hitIDs(find(t, e2, Query{Text: "narwhal"})); !slices.Equal(ids, []string{svcWeeklyJobClub}) {
		t.Errorf("narwhal found %v after restart, want the renamed service", ids)
	}
	checkIndexMatchesDB(t, v, e2, "narwhal", "forklift")
}

// TestStartupRebuildsWhenIndexDisagrees: an index missing a service that
// the database has (with the change feed saying it is up to date) is found
// out by the start-up count and rebuilt, answering from SQL meanwhile.
func TestStartupRebuildsWhenIndexDisagrees(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	e := v.builtEngine(t)
	ids, err := e.docIDs(context.Background(), svcForklift)
	if err != nil || len(ids) == 0 {
		t.Fatal(ids, err)
	}
	e.mu.Lock()
	for _, id := range ids {
		if err := e.idx.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	e.mu.Unlock()
	e.Close()

	g := newRebuildGate()
	e2 := v.engine(t, func(o *Options) { o.Slots = g.slots })
	checkFallsBackWhileRebuilding(t, e2, g, "rebuilding")
	if ids := hitIDs(find(t, e2, Query{Text: "forklift"})); !slices.Contains(ids, svcForklift) {
		t.Errorf("forklift after the rebuild: %v", ids)
	}
	checkIndexMatchesDB(t, v, e2, "forklift")
}

// TestStartupRebuildsWhenDatabaseReplaced: an index that has seen more
// changes than the database holds (the database was replaced by a fresh
// one, or an older backup) is rebuilt rather than trusted.
func TestStartupRebuildsWhenDatabaseReplaced(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	e := v.builtEngine(t)
	e.Close()

	// A fresh database, with the taxonomy and only a few services.
	fresh := filepath.Join(v.dir, "fresh.db")
	d := openDB(t, fresh)
	s := directory.NewStore(d)
	if _, err := s.LoadTaxonomies(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc := demoService(t, svcWeeklyJobClub)
	svc["name"] = "Weekly Platypus Club"
	importServices(t, s, svc)
	env2 := &testEnv{dir: v.dir, dbPath: fresh, indexDir: v.indexDir, db: d, store: s, loc: v.loc}

	e2 := env2.engine(t, nil)
	startEngine(t, e2)
	waitReady(t, e2)
	if ids := hitIDs(find(t, e2, Query{PerPage: 100})); !slices.Equal(ids, []string{svcWeeklyJobClub}) {
		t.Errorf("services in the index after the database was replaced: %v, want only the one it holds", ids)
	}
	checkIndexMatchesDB(t, env2, e2, "platypus")
}

// TestLockRefusesSecondHolder: two processes (or engines) never write the
// index at once; the second is told why.
func TestLockRefusesSecondHolder(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	a, b := v.engine(t, nil), v.engine(t, nil)
	unlock, err := a.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(); err == nil {
		t.Fatal("a second Lock on the same index succeeded")
	} else if msg := err.Error(); !strings.Contains(msg, v.indexDir) || !strings.Contains(msg, "in use by another secondchance process") {
		t.Errorf("second Lock: %q; want it to name the index and say it is in use", msg)
	}
	unlock()
	unlock2, err := b.Lock()
	if err != nil {
		t.Fatalf("Lock after the first holder let go: %v", err)
	}
	unlock2()
}

// --- killed and cancelled imports ---

// demoCopies makes n new services from the demo ones, each with new ids for
// the service and everything it owns (shared organizations, locations and
// taxonomy terms keep theirs), its name followed by word.
func demoCopies(t testing.TB, n int, word string) []map[string]any {
	t.Helper()
	demo := demoServices(t)
	ids := slices.Sorted(maps.Keys(demo))
	out := make([]map[string]any, 0, n)
	for i := range n {
		src := demo[ids[i%len(ids)]]
		b, _ := json.Marshal(src)
		var s map[string]any
		json.Unmarshal(b, &s)
		owned := map[string]string{}
		var collect func(v any, shared bool)
		collect = func(v any, shared bool) {
			switch v := v.(type) {
			case map[string]any:
				if id, ok := v["id"].(string); ok && !shared {
					owned[id] = uuid.NewSHA1(uuid.NameSpaceURL, []byte(fmt.Sprint(word, i, id))).String()
				}
				for k, c := range v {
					collect(c, shared || k == "organization" || k == "location" || k == "taxonomy_term")
				}
			case []any:
				for _, c := range v {
					collect(c, shared)
				}
			}
		}
		collect(s, false)
		var rewrite func(v any) any
		rewrite = func(v any) any {
			switch v := v.(type) {
			case map[string]any:
				for k, c := range v {
					v[k] = rewrite(c)
				}
			case []any:
				for j, c := range v {
					v[j] = rewrite(c)
				}
			case string:
				if n, ok := owned[v]; ok {
					return n
				}
			}
			return v
		}
		rewrite(s)
		s["name"] = fmt.Sprintf("%s %s %d", s["name"], word, i)
		out = append(out, s)
	}
	return out
}

// TestCancelledImportLeavesSearchCorrect cancels a large import half way
// through writing, while the indexer runs, then restarts the indexer: the
// directory is as it was and the index agrees with it.
func TestCancelledImportLeavesSearchCorrect(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	v.copyIndex(t)
	e := v.engine(t, nil)
	v.store.OnChange = e.Notify
	stop := startEngine(t, e)
	waitReady(t, e)

	renamed := demoService(t, svcWeeklyJobClub)
	renamed["name"] = "Weekly Axolotl Club"
	importServices(t, v.store, renamed)

	src, err := directory.OpenSource(writeNDJSON(t, demoCopies(t, 30, "Pangolin")...))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelledAt int64
	_, err = v.store.Import(ctx, src, directory.ImportOptions{Progress: func(phase string, done, total int64) {
		if phase == "writing" && done > total/2 && cancelledAt == 0 {
			cancelledAt = done
			cancel()
		}
	}})
	if err == nil || cancelledAt == 0 {
		t.Fatalf("import was not cancelled mid-way: err=%v, cancelled at byte %d", err, cancelledAt)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	e2 := v.engine(t, nil)
	startEngine(t, e2)
	waitReady(t, e2)
	if res := find(t, e2, Query{Text: "pangolin"}); res.Total != 0 {
		t.Errorf("pangolin finds %d services from the cancelled import", res.Total)
	}
	checkIndexMatchesDB(t, v, e2, "axolotl", "pangolin")
}

// The child process of TestKilledServerLeavesSearchCorrect: it runs the
// indexer and an import as `serve` would, says how far it got on stdout,
// and waits to be killed.
const childEnv = "SECONDCHANCE_SEARCH_TEST_CHILD"

func TestKilledServerChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("run by TestKilledServerLeavesSearchCorrect")
	}
	ctx := context.Background()
	d, err := db.Open(ctx, os.Getenv(childEnv+"_DB"))
	if err != nil {
		t.Fatal(err)
	}
	s := directory.NewStore(d)
	say := func(format string, args ...any) { fmt.Printf("CHILD "+format+"\n", args...) }
	var block atomic.Bool
	slots := func(sch []map[string]any, loc *time.Location) []string {
		if block.Load() {
			say("indexing")
			select {}
		}
		return Slots(sch, loc)
	}
	block.Store(mode == "mid-rebuild")
	e, err := New(Options{Dir: os.Getenv(childEnv + "_INDEX"), Store: s, Slots: slots, Logger: quietLog, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.OnChange = e.Notify
	go e.Run(ctx)
	if mode == "mid-rebuild" {
		select {}
	}
	for ok, _ := e.Status(); !ok; ok, _ = e.Status() {
		time.Sleep(10 * time.Millisecond)
	}
	say("ready")
	importServices(t, s, demoService(t, svcWeeklyJobClub), demoService(t, svcForklift)) // unchanged: no-op
	renamed := demoService(t, svcWeeklyJobClub)
	renamed["name"] = "Weekly Okapi Club"
	importServices(t, s, renamed)
	say("renamed")
	// Once the rename is indexed, the next Slots call can only come from
	// indexing the large import, after it commits.
	for res, err := e.Search(ctx, Query{Text: "okapi", Page: 1, PerPage: 1}); err != nil || res.Total == 0; res, err = e.Search(ctx, Query{Text: "okapi", Page: 1, PerPage: 1}) {
		time.Sleep(10 * time.Millisecond)
	}
	src, err := directory.OpenSource(os.Getenv(childEnv + "_IMPORT"))
	if err != nil {
		t.Fatal(err)
	}
	block.Store(mode == "mid-indexing")
	_, err = s.Import(ctx, src, directory.ImportOptions{Progress: func(phase string, done, total int64) {
		if mode == "mid-import" && phase == "writing" && done > total/4 {
			say("writing %d/%d", done, total)
			select {} // killed here, inside the import's transaction
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	say("imported")
	select {}
}

// TestKilledServerLeavesSearchCorrect kills (SIGKILL) a process running the
// indexer: in the middle of an import's transaction, while indexing a large
// committed import, and in the middle of building the index. After a
// restart, search agrees with the database.
func TestKilledServerLeavesSearchCorrect(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts child processes")
	}
	big := writeNDJSON(t, demoCopies(t, 30, "Kinkajou")...)
	for _, tc := range []struct {
		mode, killAt string
		wantBig      bool // the large import committed
	}{
		{"mid-import", "writing", false},
		{"mid-indexing", "indexing", true},
		{"mid-rebuild", "indexing", false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			v := newTestEnv(t)
			if tc.mode != "mid-rebuild" {
				v.copyIndex(t)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestKilledServerChild$", "-test.v")
			// The child is killed, so its own t.TempDir cleanup never runs:
			// its temporary files go under this test's folder instead.
			cmd.Env = append(os.Environ(), childEnv+"="+tc.mode, childEnv+"_DB="+v.dbPath, childEnv+"_INDEX="+v.indexDir, childEnv+"_IMPORT="+big, "TMPDIR="+t.TempDir())
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var seen []string
			timeout := time.After(30 * time.Second)
		wait:
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						cmd.Wait()
						t.Fatalf("child exited before %q; it said %q, stderr %s", tc.killAt, seen, stderr.String())
					}
					seen = append(seen, l)
					if strings.HasPrefix(l, "CHILD "+tc.killAt) {
						break wait
					}
				case <-timeout:
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("child did not reach %q in 30 s; it said %q", tc.killAt, seen)
				}
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			go func() {
				for range lines {
				}
			}()

			e := v.engine(t, nil)
			startEngine(t, e)
			waitReady(t, e)
			if tc.mode == "mid-rebuild" {
				if _, err := os.Stat(v.indexDir + ".building"); !os.IsNotExist(err) {
					t.Errorf("the half-built index is still there after restart: %v", err)
				}
			} else if ids := hitIDs(find(t, e, Query{Text: "okapi"})); !slices.Equal(ids, []string{svcWeeklyJobClub}) {
				t.Errorf("okapi (renamed just before the kill) finds %v", ids)
			}
			var inDB int
			if err := v.db.Read.QueryRow(`SELECT COUNT(*) FROM service WHERE name LIKE '%Kinkajou%' AND status IN ('active', 'temporarily closed')`).Scan(&inDB); err != nil {
				t.Fatal(err)
			}
			if committed := inDB > 0; committed != tc.wantBig {
				t.Errorf("%d services of the large import are in the database; want it committed: %v", inDB, tc.wantBig)
			}
			if got := find(t, e, Query{Text: "kinkajou", PerPage: 1}); got.Total != inDB {
				t.Errorf("kinkajou finds %d services, the database has %d", got.Total, inDB)
			}
			checkIndexMatchesDB(t, v, e, "okapi", "kinkajou")
		})
	}
}

// buildInto loads and indexes in chunks on several goroutines: every live
// service is indexed once, progress only grows and ends at the total, and
// a cancelled build or a failing load stops with its error.
func TestBuildIntoChunks(t *testing.T) {
	t.Parallel()
	e, s := newDemoEngine(t)
	ctx := context.Background()
	ids := queryIDs(t, s.DB(), `SELECT id FROM service ORDER BY rowid`)
	want, err := e.idx.DocCount()
	if err != nil || want < 20 {
		t.Fatalf("demo index holds %d services (%v)", want, err)
	}
	newIndex := func(t *testing.T) bleve.Index {
		im, err := newMapping()
		if err != nil {
			t.Fatal(err)
		}
		idx, err := bleve.New(filepath.Join(t.TempDir(), "index"), im)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { idx.Close() })
		return idx
	}
	l, err := e.newLoader(ctx)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("all", func(t *testing.T) {
		idx := newIndex(t)
		var seen []int
		if err := buildInto(ctx, idx, l, ids, 7, func(done, total int) {
			if total != len(ids) {
				t.Errorf("total %d, want %d", total, len(ids))
			}
			seen = append(seen, done)
		}); err != nil {
			t.Fatal(err)
		}
		if n, _ := idx.DocCount(); n != want {
			t.Errorf("%d documents, want %d", n, want)
		}
		if len(seen) != (len(ids)+6)/7 || !slices.IsSorted(seen) || seen[len(seen)-1] != len(ids) {
			t.Errorf("progress %v over %d services", seen, len(ids))
		}
	})
	t.Run("merged into one segment", func(t *testing.T) {
		im, err := newMapping()
		if err != nil {
			t.Fatal(err)
		}
		// bleve's own merging put off, so that the batches stay apart
		idx, err := bleve.NewUsing(filepath.Join(t.TempDir(), "index"), im, bleve.Config.DefaultIndexType, bleve.Config.DefaultKVStore,
			map[string]any{"scorchMergePlanOptions": map[string]any{"maxSegmentsPerTier": 1000, "segmentsPerMergeTask": 1000, "floorSegmentSize": 1}})
		if err != nil {
			t.Fatal(err)
		}
		defer idx.Close()
		if err := buildInto(ctx, idx, l, ids, 3, nil); err != nil {
			t.Fatal(err)
		}
		segments := func() int {
			r := openReader(t, idx)
			defer r.Close()
			return len(r.(*scorch.IndexSnapshot).Segments())
		}
		if n := segments(); n <= 10 {
			t.Fatalf("%d segments before merging batches of 3; want more than bleve merges in one task", n)
		}
		if err := mergeAll(ctx, idx); err != nil {
			t.Fatal(err)
		}
		if n := segments(); n != 1 {
			t.Errorf("%d segments after mergeAll", n)
		}
		if n, _ := idx.DocCount(); n != want {
			t.Errorf("%d documents after merging, want %d", n, want)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		err := buildInto(ctx, newIndex(t), l, ids, 3, func(done, total int) { cancel() })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled build: %v", err)
		}
	})
	t.Run("load fails", func(t *testing.T) {
		d, err := db.Open(ctx, filepath.Join(t.TempDir(), "closed.db"))
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
		bad := *l
		bad.db = d.Read
		err = buildInto(ctx, newIndex(t), &bad, ids, 5, nil)
		if err == nil || !strings.Contains(err.Error(), "load services") {
			t.Errorf("build over a closed database: %v", err)
		}
	})
}

// openReader is a reader of idx's current snapshot; the caller closes it.
func openReader(t testing.TB, idx bleve.Index) index.IndexReader {
	t.Helper()
	a, err := idx.Advanced()
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Reader()
	if err != nil {
		t.Fatal(err)
	}
	return r
}
