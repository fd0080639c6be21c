package main

// The HTTP load test: the real server (serve, in this process) over a
// generated directory, driven by vegeta with the 50-query mix; the same mix
// in-process against the engine, for the ratio of throughputs; and the
// resident memory of a serving process. Benchmarks only (go test -bench);
// see docs/benchmarks.md for the commands and the figures.
//
// The directories come from the search package's generator
// (search/gen_test.go), cached under os.TempDir(): these benchmarks run
// `go test -run TestGenerateBenchData ./search` to find (or make) them, so
// the first run of a size takes minutes and later runs seconds.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/secondchancekc/secondchance/internal/logbuf"
	"github.com/secondchancekc/secondchance/search"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

const (
	loadRate      = 200              // searches a second, for the latency target
	loadRateLow   = 50               // a rate the 2-core machine sustains, for comparison
	loadRateFor   = 15 * time.Second // how long each constant rate runs
	loadMaxFor    = 20 * time.Second // how long each max-throughput run lasts
	loadWorkers   = 4                // concurrent clients in max-throughput runs (2 cores)
	loadWarmUpFor = 3 * time.Second
)

// benchData returns the folder of the generated directory of n services
// (secondchance.db, index/, mix.txt), generating it through the search
// package's test when it is not cached.
func benchData(b *testing.B, n int) string {
	b.Helper()
	out := filepath.Join(b.TempDir(), "dir")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if p, err := exec.LookPath("go"); err == nil {
		gobin = p
	}
	cmd := exec.Command(gobin, "test", "-count=1", "-timeout=90m", "-run", "^TestGenerateBenchData$", "./search")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "SECONDCHANCE_BENCH_GENERATE="+strconv.Itoa(n), "SECONDCHANCE_BENCH_DIRFILE="+out)
	start := time.Now()
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("generating the benchmark directory: %v\n%s", err, o)
	}
	dir, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("benchmark data for %d services: %s (ready in %s)", n, dir, time.Since(start).Round(time.Second))
	return string(dir)
}

// readMix reads the 50-query mix written beside the generated data.
func readMix(b *testing.B, dir string) []string {
	b.Helper()
	f, err := os.ReadFile(filepath.Join(dir, "mix.txt"))
	if err != nil {
		b.Fatal(err)
	}
	mix := strings.Fields(string(f))
	if len(mix) != 50 {
		b.Fatalf("mix.txt has %d queries, want 50", len(mix))
	}
	return mix
}

// BenchmarkLoadSearch10k runs the load test at 10,000 services:
//
//  1. in-process: the mix against Engine.Search (the index alone) and
//     Engine.Answer (what /api/search returns), loadWorkers at a time, as
//     fast as they go;
//  2. the real server, the built binary in a process of its own, on a
//     free port: the mix at a constant loadRate a second (latency
//     percentiles, success ratio), then as fast as loadWorkers clients go
//     (throughput), and the server's resident memory;
//
// and reports the ratio of HTTP to in-process throughput.
func BenchmarkLoadSearch10k(b *testing.B) { benchLoad(b, 10_000) }

// BenchmarkLoadSearch100k is the same at 100,000 services.
func BenchmarkLoadSearch100k(b *testing.B) { benchLoad(b, 100_000) }

func benchLoad(b *testing.B, n int) {
	dir := benchData(b, n)
	mix := readMix(b, dir)
	bin := buildBinary(b)
	for b.Loop() {
		// 1. In process, through the engine alone.
		searchQPS, answerQPS, engineLat := inProcess(b, dir, mix)

		// 2. Through HTTP, to the server in a process of its own (in this
		// one it shared the garbage collector with the load generator and
		// with what the in-process runs left behind).
		srv := startBinary(b, bin, dir)
		targets := mixTargets(srv.addr, mix)
		// Warm up the server's connections and caches.
		attack(b, targets, vegeta.Rate{Freq: 0}, loadWarmUpFor, loadWorkers)
		low := attack(b, targets, vegeta.Rate{Freq: loadRateLow, Per: time.Second}, loadRateFor, 0)
		steady := attack(b, targets, vegeta.Rate{Freq: loadRate, Per: time.Second}, loadRateFor, 0)
		maxed := attack(b, targets, vegeta.Rate{Freq: 0}, loadMaxFor, loadWorkers)
		rss, hwm := procMemory(b, srv.pid)
		srv.stop()

		b.ReportMetric(ms(engineLat.p50), "engine-answer-p50-ms")
		b.ReportMetric(ms(engineLat.p99), "engine-answer-p99-ms")
		b.ReportMetric(searchQPS, "engine-search-qps")
		b.ReportMetric(answerQPS, "engine-answer-qps")
		b.ReportMetric(ms(steady.p50), "http200-p50-ms")
		b.ReportMetric(ms(steady.p95), "http200-p95-ms")
		b.ReportMetric(ms(steady.p99), "http200-p99-ms")
		b.ReportMetric(steady.success, "http200-success")
		b.ReportMetric(steady.rate, "http200-rate")
		b.ReportMetric(ms(low.p50), "http50-p50-ms")
		b.ReportMetric(ms(low.p99), "http50-p99-ms")
		b.ReportMetric(low.success, "http50-success")
		b.ReportMetric(maxed.throughput, "http-max-qps")
		b.ReportMetric(ms(maxed.p99), "http-max-p99-ms")
		b.ReportMetric(maxed.success, "http-max-success")
		b.ReportMetric(maxed.throughput/answerQPS, "http/answer")
		b.ReportMetric(maxed.throughput/searchQPS, "http/search")
		b.ReportMetric(float64(hwm)/(1<<20), "serve-hwm-MiB")
		b.ReportMetric(float64(rss)/(1<<20), "serve-rss-MiB")
		b.ReportMetric(loadAverage(), "loadavg")
		for _, r := range []struct {
			rate int
			f    attackFigures
		}{{loadRateLow, low}, {loadRate, steady}} {
			b.Logf("HTTP at %d/s for %s: p50 %s p95 %s p99 %s, %d requests, success %.4f, %d distinct errors",
				r.rate, loadRateFor, r.f.p50, r.f.p95, r.f.p99, r.f.requests, r.f.success, len(r.f.errors))
		}
		b.Logf("HTTP, %d clients as fast as they go: %.0f/s (p50 %s, p99 %s, %d distinct errors); in process: Answer %.0f/s (p50 %s, p99 %s), Search %.0f/s",
			loadWorkers, maxed.throughput, maxed.p50, maxed.p99, len(maxed.errors), answerQPS, engineLat.p50, engineLat.p99, searchQPS)
	}
}

type latencyFigures struct {
	p50, p95, p99 time.Duration
}

// inProcess runs the mix against an engine opened on dir, loadWorkers at a
// time for loadMaxFor each: Engine.Search, then Engine.Answer.
func inProcess(b *testing.B, dir string, mix []string) (searchQPS, answerQPS float64, answerLat latencyFigures) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := db.Open(ctx, filepath.Join(dir, "secondchance.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	store := directory.NewStore(d)
	loc, _ := time.LoadLocation("America/Chicago")
	eng, err := search.New(search.Options{Dir: filepath.Join(dir, "index"), Store: store, Location: loc, Slots: search.Slots,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	unlock, err := eng.Lock()
	if err != nil {
		b.Fatal(err)
	}
	defer unlock()
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(5 * time.Minute); ; {
		if ready, _ := eng.Status(); ready {
			break
		}
		if time.Now().After(deadline) {
			_, note := eng.Status()
			b.Fatalf("engine not ready after 5 minutes: %s", note)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e := echo.New()
	qs := make([]search.Query, len(mix))
	for i, s := range mix {
		c := e.NewContext(httptest.NewRequest("GET", "/api/search?"+s, nil), httptest.NewRecorder())
		if qs[i], err = search.ParseQuery(search.ParamsFrom(c)); err != nil {
			b.Fatalf("%s: %v", s, err)
		}
	}
	search1 := func(q search.Query) error { _, err := eng.Search(ctx, q); return err }
	answer1 := func(q search.Query) error { _, err := eng.Answer(ctx, q, "benchmark"); return err }
	hammer(b, qs, answer1, loadWarmUpFor)
	searchQPS, _ = hammer(b, qs, search1, loadMaxFor)
	answerQPS, answerLat = hammer(b, qs, answer1, loadMaxFor)
	return searchQPS, answerQPS, answerLat
}

// hammer runs the queries in order, round robin, from loadWorkers
// goroutines for d, and returns the throughput and latency percentiles.
func hammer(b *testing.B, qs []search.Query, fn func(search.Query) error, d time.Duration) (float64, latencyFigures) {
	b.Helper()
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for range loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(end) {
				q := qs[int(next.Add(1)-1)%len(qs)]
				t0 := time.Now()
				if err := fn(q); err != nil {
					failed.Store(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	slices.Sort(lat)
	return float64(len(lat)) / took.Seconds(), latencyFigures{percentile(lat, .5), percentile(lat, .95), percentile(lat, .99)}
}

// waitReady polls until a search on addr is answered from the index (not
// the SQL fallback used while the index opens or rebuilds).
func waitReady(addr string, within time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("the server exited: %v", err)
		default:
		}
		if r, err := http.Get("http://" + addr + "/api/search?q=job"); err == nil {
			var ans struct {
				Fallback bool `json:"fallback"`
			}
			err := json.NewDecoder(r.Body).Decode(&ans)
			r.Body.Close()
			if err == nil && r.StatusCode == 200 && !ans.Fallback {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the server's search index was not ready within %s", within)
}

func freeAddr(b *testing.B) string {
	b.Helper()
	s := httptest.NewUnstartedServer(nil)
	addr := s.Listener.Addr().String()
	s.Listener.Close()
	return addr
}

type attackFigures struct {
	latencyFigures
	requests         int
	rate, throughput float64
	success          float64
	errors           []string
}

// attack replays targets at rate for d (workers 0: vegeta's default, which
// adds workers as needed to hold the rate; with rate 0, exactly workers
// clients as fast as they go).
func attack(b *testing.B, targets []vegeta.Target, rate vegeta.Rate, d time.Duration, workers uint64) attackFigures {
	b.Helper()
	opts := []func(*vegeta.Attacker){vegeta.Timeout(30 * time.Second), vegeta.KeepAlive(true)}
	if workers > 0 {
		opts = append(opts, vegeta.Workers(workers), vegeta.MaxWorkers(workers))
	}
	atk := vegeta.NewAttacker(opts...)
	var m vegeta.Metrics
	var lat []time.Duration
	for r := range atk.Attack(vegeta.NewStaticTargeter(targets...), rate, d, "search") {
		m.Add(r)
		lat = append(lat, r.Latency)
	}
	m.Close()
	slices.Sort(lat)
	return attackFigures{
		latencyFigures: latencyFigures{percentile(lat, .5), percentile(lat, .95), percentile(lat, .99)},
		requests:       int(m.Requests), rate: m.Rate, throughput: m.Throughput, success: m.Success, errors: m.Errors,
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// procMemory reads VmRSS and VmHWM (peak resident) of a process ("self" or
// a pid) from /proc, in bytes.
func procMemory(b *testing.B, pid string) (rss, hwm int64) {
	b.Helper()
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		b.Logf("no /proc: %v", err)
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		kb, _ := strconv.ParseInt(fs[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return f
}

// BenchmarkServeRSS10k and BenchmarkServeRSS100k measure the resident
// memory of a real serving process: the binary is built, started with
// `serve` over the generated directory, driven with the mix as fast as
// loadWorkers clients go for loadMaxFor, and its VmHWM (peak) and VmRSS
// read from /proc. The throughput and latency of that run are reported too.
func BenchmarkServeRSS10k(b *testing.B)  { benchServeRSS(b, 10_000) }
func BenchmarkServeRSS100k(b *testing.B) { benchServeRSS(b, 100_000) }

func benchServeRSS(b *testing.B, n int) {
	dir := benchData(b, n)
	mix := readMix(b, dir)
	bin := buildBinary(b)
	for b.Loop() {
		srv := startBinary(b, bin, dir)
		rssIdle, _ := procMemory(b, srv.pid)
		maxed := attack(b, mixTargets(srv.addr, mix), vegeta.Rate{Freq: 0}, loadMaxFor, loadWorkers)
		rss, hwm := procMemory(b, srv.pid)
		srv.stop()
		b.ReportMetric(float64(hwm)/(1<<20), "serve-hwm-MiB")
		b.ReportMetric(float64(rss)/(1<<20), "serve-rss-MiB")
		b.ReportMetric(float64(rssIdle)/(1<<20), "serve-idle-rss-MiB")
		b.ReportMetric(srv.ready.Seconds(), "ready-s")
		b.ReportMetric(maxed.throughput, "http-max-qps")
		b.ReportMetric(ms(maxed.p50), "http-max-p50-ms")
		b.ReportMetric(ms(maxed.p99), "http-max-p99-ms")
		b.ReportMetric(maxed.success, "http-max-success")
		b.ReportMetric(loadAverage(), "loadavg")
	}
}

// buildBinary builds secondchance into a temporary folder.
func buildBinary(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "secondchance")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if p, err := exec.LookPath("go"); err == nil {
		gobin = p
	}
	if o, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, o)
	}
	return bin
}

// served is a `serve` process of the built binary.
type served struct {
	addr, pid string
	ready     time.Duration // from start to ready
	stop      func()        // SIGTERM, and wait
}

// startBinary runs `serve` of bin over the data folder dir on a free port,
// in a process of its own (no SECONDCHANCE_ settings from the
// environment), and waits until it is ready.
func startBinary(b *testing.B, bin, dir string) served {
	b.Helper()
	addr := freeAddr(b)
	errb := &logbuf.Buffer{Max: 1 << 20}
	cmd := exec.Command(bin, "serve", "--listen", addr, "--data-dir", dir, "--demo-data=false", "--base-url", "http://"+addr)
	cmd.Stdout, cmd.Stderr = io.Discard, errb
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "SECONDCHANCE_") })
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	start := time.Now()
	if err := waitReady(addr, 5*time.Minute, exited); err != nil {
		cmd.Process.Kill()
		b.Fatalf("%v\n%s", err, errb.String())
	}
	return served{addr: addr, pid: strconv.Itoa(cmd.Process.Pid), ready: time.Since(start), stop: func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			b.Error("serve did not stop on SIGTERM")
		}
	}}
}

// mixTargets are the mix's queries as requests to /api/search at addr.
func mixTargets(addr string, mix []string) []vegeta.Target {
	targets := make([]vegeta.Target, len(mix))
	for i, q := range mix {
		targets[i] = vegeta.Target{Method: "GET", URL: "http://" + addr + "/api/search?" + q}
	}
	return targets
}
