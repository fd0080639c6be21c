package search

// Benchmarks of the index build and of each query shape over generated
// directories of 10,000 and 100,000 services (gen_test.go; generated once
// and cached in os.TempDir()). See docs/benchmarks.md for the commands and
// the figures. They run only with -bench.

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
)

// BenchmarkBuild10k and BenchmarkBuild100k time a full index build of the
// generated directory of that size.
func BenchmarkBuild10k(b *testing.B)  { benchBuild(b, 10_000) }
func BenchmarkBuild100k(b *testing.B) { benchBuild(b, 100_000) }

// benchBuild times Engine.Rebuild (every service loaded from SQL and
// indexed in batches, then the index swapped in) into a fresh folder.
func benchBuild(b *testing.B, n int) {
	ctx := context.Background()
	set := openBench(b, n)
	var took, cpu time.Duration
	var peak, base uint64
	var size int64
	for b.Loop() {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "index")
		e, err := New(Options{Dir: dir, Store: set.store, Location: chicago(b), Slots: Slots, Logger: benchLogger()})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		base = m.HeapInuse
		stop := heapPeak(20 * time.Millisecond)
		c0, start := processCPU(), time.Now()
		b.StartTimer()
		err = e.Rebuild(ctx, nil)
		b.StopTimer()
		took += time.Since(start)
		cpu += processCPU() - c0
		peak = max(peak, stop())
		if err != nil {
			b.Fatal(err)
		}
		size = dirSize(dir)
		e.Close()
		os.RemoveAll(dir)
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/took.Seconds(), "services/s")
	b.ReportMetric(took.Seconds()/float64(b.N), "s/build")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/build")
	b.ReportMetric(loadAverage(), "loadavg")
	b.ReportMetric(float64(peak-min(base, peak))/(1<<20), "build-heap-MiB")
	b.ReportMetric(float64(size)/(1<<20), "index-MiB")
}

// heapPeak samples runtime.MemStats.HeapInuse until stopped and returns the
// highest value seen.
func heapPeak(every time.Duration) (stop func() uint64) {
	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mu.Lock()
		peak = max(peak, m.HeapInuse)
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		sample()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// BenchmarkSearch10k ... BenchmarkAnswer100k time each query shape (and the
// 50-query mix), one search at a time, through Engine.Search (the index
// alone) and Engine.Answer (the index plus the result cards and facet
// labels from SQL, which is what /api/search returns), and report p50 and
// p99 latency.
func BenchmarkSearch10k(b *testing.B)  { benchQueries(b, 10_000, false) }
func BenchmarkAnswer10k(b *testing.B)  { benchQueries(b, 10_000, true) }
func BenchmarkSearch100k(b *testing.B) { benchQueries(b, 100_000, false) }
func BenchmarkAnswer100k(b *testing.B) { benchQueries(b, 100_000, true) }

func benchQueries(b *testing.B, n int, answer bool) {
	set := openBench(b, n)
	for _, shape := range shapesAndMix() {
		b.Run(shape.name, func(b *testing.B) {
			qs := parseMix(b, shape.queries)
			run := func(q Query) (int, error) {
				if answer {
					r, err := set.engine.Answer(context.Background(), q, "benchmark")
					if err != nil {
						return 0, err
					}
					return r.Total, nil
				}
				r, err := set.engine.Search(context.Background(), q)
				if err != nil {
					return 0, err
				}
				return r.Total, nil
			}
			// Warm up: the first search of each kind reads doc values
			// and dictionaries from disk.
			for range 3 {
				for _, q := range qs {
					if _, err := run(q); err != nil {
						b.Fatal(err)
					}
				}
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var lat latencies
			hits := 0
			i := 0
			for b.Loop() {
				q := qs[i%len(qs)]
				i++
				if err := lat.time(func() error {
					total, err := run(q)
					hits += total
					return err
				}); err != nil {
					b.Fatal(err)
				}
			}
			lat.report(b)
			b.ReportMetric(float64(hits)/float64(len(lat.wall)), "hits/op")
		})
	}
}

// reportLatency reports the 50th and 99th percentile of lat in ms.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(ms(percentile(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	k := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// threadCPU is the CPU time used so far by the calling OS thread (Linux).
// Benchmarks lock their goroutine to its thread and report the CPU a query
// used beside its wall-clock latency: on a shared machine the wall clock
// also counts time spent waiting for a core, the CPU time does not (it
// leaves out the garbage collector's background work).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// latencies records wall-clock and thread CPU time per query.
type latencies struct {
	wall []time.Duration
	cpu  time.Duration
}

// time runs fn once, locked to its thread, and records it.
func (l *latencies) time(fn func() error) error {
	c0, t0 := threadCPU(), time.Now()
	err := fn()
	l.wall = append(l.wall, time.Since(t0))
	l.cpu += threadCPU() - c0
	return err
}

func (l *latencies) report(b *testing.B) {
	reportLatency(b, l.wall)
	if len(l.wall) > 0 {
		b.ReportMetric(ms(l.cpu)/float64(len(l.wall)), "cpu-ms/op")
	}
	b.ReportMetric(loadAverage(), "loadavg")
}

// loadAverage is the one-minute load average when the benchmark ends, to
// read the figures by: above the number of cores, other work competed.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return f
}

// --- experiments behind the build changes in docs/benchmarks.md ---

// buildVariant is Engine.Rebuild's loop with one thing changed, to measure
// what it would save.
type buildVariant struct {
	name        string
	unsafeBatch bool // scorch unsafe_batch: a batch returns once introduced, not once persisted; the last one waits for persistence
	noSlots     bool // no "open now" slots
	pipelined   bool // load the next chunk from SQL while bleve indexes this one
}

var buildVariants = []buildVariant{
	{name: "engine"},
	{name: "unsafe-batch", unsafeBatch: true},
	{name: "no-open-slots", noSlots: true},
	{name: "unsafe-batch+pipelined", unsafeBatch: true, pipelined: true},
}

func (e *Engine) buildVariant(ctx context.Context, dir string, v buildVariant) (docs int, err error) {
	var ids []string
	rs, err := e.store.DB().Read.QueryContext(ctx, `SELECT id FROM service ORDER BY rowid`)
	if err != nil {
		return 0, err
	}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			rs.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rs.Close()
	im, err := newMapping()
	if err != nil {
		return 0, err
	}
	var idx bleve.Index
	if v.unsafeBatch {
		idx, err = bleve.NewUsing(dir, im, bleve.Config.DefaultIndexType, bleve.Config.DefaultKVStore, map[string]any{"unsafe_batch": true})
	} else {
		idx, err = bleve.New(dir, im)
	}
	if err != nil {
		return 0, err
	}
	closed := false
	defer func() {
		if !closed {
			idx.Close()
		}
	}()
	var slots func([]map[string]any) []string
	if !v.noSlots {
		slots = func(s []map[string]any) []string { return Slots(s, e.opt.Location) }
	}
	l, err := newLoader(ctx, e.store.DB().Read, slots)
	if err != nil {
		return 0, err
	}
	type chunk struct {
		ids  []string
		docs map[string][]document
		err  error
	}
	chunks := make(chan chunk, 1)
	go func() {
		defer close(chunks)
		for start := 0; start < len(ids); start += 500 {
			c := chunk{ids: ids[start:min(start+500, len(ids))]}
			if v.pipelined {
				c.docs, c.err = l.load(ctx, c.ids)
			}
			chunks <- c
		}
	}()
	b := idx.NewBatch()
	for c := range chunks {
		if !v.pipelined {
			c.docs, c.err = l.load(ctx, c.ids)
		}
		if c.err != nil {
			return docs, c.err
		}
		for _, id := range c.ids {
			for _, d := range c.docs[id] {
				docs++
				if err := b.Index(d.ID, d.Fields); err != nil {
					return docs, err
				}
				if b.Size() >= batchSize {
					if err := idx.Batch(b); err != nil {
						return docs, err
					}
					b.Reset()
				}
			}
		}
	}
	b.SetInternal(keyMapping, []byte(strconv.Itoa(MappingVersion)))
	persisted := make(chan error, 1)
	if v.unsafeBatch {
		b.SetPersistedCallback(func(err error) { persisted <- err })
	}
	if err := idx.Batch(b); err != nil {
		return docs, err
	}
	if v.unsafeBatch {
		if err := <-persisted; err != nil {
			return docs, err
		}
	}
	closed = true
	return docs, idx.Close()
}

// BenchmarkBuildVariants10k times the index build with each of
// buildVariants, at 10,000 services.
func BenchmarkBuildVariants10k(b *testing.B) {
	set := openBench(b, 10_000)
	ctx := context.Background()
	for _, v := range buildVariants {
		b.Run(v.name, func(b *testing.B) {
			var took, cpu time.Duration
			var size int64
			docs := 0
			for b.Loop() {
				dir := filepath.Join(b.TempDir(), "index")
				c0, t0 := processCPU(), time.Now()
				n, err := set.engine.buildVariant(ctx, dir, v)
				took += time.Since(t0)
				cpu += processCPU() - c0
				if err != nil {
					b.Fatal(err)
				}
				docs = n
				size = dirSize(dir)
				os.RemoveAll(dir)
			}
			b.ReportMetric(float64(set.n*b.N)/took.Seconds(), "services/s")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/build")
			b.ReportMetric(float64(docs), "docs")
			b.ReportMetric(float64(size)/(1<<20), "index-MiB")
			b.ReportMetric(loadAverage(), "loadavg")
		})
	}
}

// processCPU is the CPU time this process has used (all threads).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMixQueries10k and BenchmarkMixQueries100k log, for each query
// of the 50-query mix, its total, median and worst latency and median CPU
// time (of the benchmark's thread) through Engine.Search (with -v), to show
// which queries make the p99; slowest CPU first.
func BenchmarkMixQueries10k(b *testing.B)  { benchMixQueries(b, 10_000) }
func BenchmarkMixQueries100k(b *testing.B) { benchMixQueries(b, 100_000) }

func benchMixQueries(b *testing.B, n int) {
	set := openBench(b, n)
	ctx := context.Background()
	qs := parseMix(b, queryMix)
	type row struct {
		q               string
		total           int
		p50, worst, cpu time.Duration
	}
	var rows []row
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for b.Loop() {
		rows = rows[:0]
		for i, q := range qs {
			var lat, cpu []time.Duration
			total := 0
			for k := range 13 {
				start, c0 := time.Now(), threadCPU()
				r, err := set.engine.Search(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				if k >= 3 { // the first three warm up
					lat = append(lat, time.Since(start))
					cpu = append(cpu, threadCPU()-c0)
				}
				total = r.Total
			}
			slices.Sort(lat)
			slices.Sort(cpu)
			rows = append(rows, row{queryMix[i], total, lat[len(lat)/2], lat[len(lat)-1], cpu[len(cpu)/2]})
		}
	}
	slices.SortFunc(rows, func(a, c row) int { return int(c.cpu - a.cpu) })
	for _, r := range rows {
		b.Logf("%-62s total %6d  p50 %7.2f ms  max %7.2f ms  cpu p50 %6.2f ms", r.q, r.total, ms(r.p50), ms(r.worst), ms(r.cpu))
	}
	b.ReportMetric(loadAverage(), "loadavg")
}

// BenchmarkCards10k times what Answer adds to Search: the ten result cards
// (from the card cache, and from SQL with the cache emptied before each
// call), and the facet labels.
func BenchmarkCards10k(b *testing.B) {
	set := openBench(b, 10_000)
	ctx := context.Background()
	for _, s := range []string{"q=job", "q=food+pantry&zip=64127&sort=distance"} {
		q := parseMix(b, []string{s})[0]
		res, err := set.engine.Search(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		for _, cold := range []bool{false, true} {
			name := s + "/cached"
			if cold {
				name = s + "/from-sql" // the card cache emptied before each call
			}
			b.Run(name, func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				var lat latencies
				for b.Loop() {
					if cold {
						set.engine.cards.forget(nil)
					}
					if err := lat.time(func() error {
						_, err := set.engine.Cards(ctx, res.Hits, q)
						set.engine.labelFacets(ctx, res.Facets)
						return err
					}); err != nil {
						b.Fatal(err)
					}
				}
				lat.report(b)
			})
		}
	}
}
