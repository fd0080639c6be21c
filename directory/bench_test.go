package directory

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// genNS is the UUID namespace of generated test data.
var genNS = uuid.MustParse("0b7c6a52-93d4-5b8e-9f3a-2c1d0e4f5a6b")

func genID(kind string, n int) string {
	return uuid.NewSHA1(genNS, fmt.Appendf(nil, "%s:%d", kind, n)).String()
}

var (
	genCities = []struct{ city, state, zip string }{
		{"Kansas City", "MO", "64127"}, {"Kansas City", "KS", "66102"}, {"Independence", "MO", "64050"},
		{"Olathe", "KS", "66061"}, {"Raytown", "MO", "64133"}, {"Overland Park", "KS", "66212"},
	}
	genWords = strings.Fields(`help with job search housing food clothing rides to appointments
		legal advice record clearing counseling peer support classes for adults coming home from prison
		or jail call ahead walk in welcome bring your release papers if you have them staff speak Spanish`)
)

// genText is deterministic filler of about n bytes.
func genText(seed, n int) string {
	var b strings.Builder
	for i := seed; b.Len() < n; i++ {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(genWords[(i*7+seed)%len(genWords)])
	}
	return b.String()
}

// genService is one realistic compiled service: an organization shared
// with nine other services, one location with an address, two phones, a
// weekly schedule, two category attributes (terms shared across the file)
// and a language. descLen sets the length of the description.
func genService(i, descLen int) map[string]any {
	org := i / 10
	city := genCities[i%len(genCities)]
	sid := genID("service", i)
	term := func(k int) map[string]any {
		return map[string]any{
			"id": genID("term", k), "code": fmt.Sprintf("GEN-%03d", k), "name": fmt.Sprintf("Category %d", k),
			"description": "A generated service category.", "taxonomy": "Generated", "taxonomy_id": genID("taxonomy", 0),
			"taxonomy_detail": map[string]any{"id": genID("taxonomy", 0), "name": "Generated", "description": "Categories for generated test data."},
		}
	}
	attr := func(k, t int) map[string]any {
		return map[string]any{"id": genID(fmt.Sprintf("attribute%d", k), i), "taxonomy_term_id": genID("term", t),
			"link_type": "category", "taxonomy_term": term(t)}
	}
	return map[string]any{
		"id": sid, "name": fmt.Sprintf("Reentry Service %d", i), "alternate_name": fmt.Sprintf("RS%d", i),
		"description":             genText(i, descLen),
		"status":                  "active",
		"eligibility_description": "Adults returning from incarceration in the Kansas City area.",
		"application_process":     "Call or walk in during open hours.",
		"fees_description":        "Free",
		"assured_date":            "2026-02-01",
		"last_modified":           "2026-02-01T12:00:00.000Z",
		"name_es":                 fmt.Sprintf("Servicio de reingreso %d", i),
		"organization": map[string]any{
			"id": genID("organization", org), "name": fmt.Sprintf("Generated Organization %d", org),
			"description": "A generated organization for load tests.", "website": fmt.Sprintf("https://org%d.example.org", org),
			"email": fmt.Sprintf("info@org%d.example.org", org),
		},
		"phones": []any{
			map[string]any{"id": genID("phone1", i), "number": fmt.Sprintf("(816) 555-%04d", i%10000), "type": "voice", "description": "Main line."},
			map[string]any{"id": genID("phone2", i), "number": fmt.Sprintf("(913) 555-%04d", i%10000), "type": "text"},
		},
		"schedules": []any{map[string]any{"id": genID("schedule", i), "freq": "WEEKLY", "byday": "MO,TU,WE,TH,FR",
			"opens_at": "09:00:00", "closes_at": "17:00:00", "description": "Weekdays 9 to 5."}},
		"languages": []any{map[string]any{"id": genID("language", i), "name": "English", "code": "en"}},
		"service_at_locations": []any{map[string]any{
			"id": genID("sal", i),
			"location": map[string]any{
				"id": genID("location", i), "location_type": "physical", "name": fmt.Sprintf("Site %d", i),
				"latitude": 39.0 + float64(i%1000)/10000, "longitude": -94.5 - float64(i%1000)/10000,
				"addresses": []any{map[string]any{
					"id": genID("address", i), "address_1": fmt.Sprintf("%d Example Street", 100+i%9000),
					"city": city.city, "state_province": city.state, "postal_code": city.zip, "country": "US", "address_type": "physical",
				}},
			},
		}},
		"attributes": []any{attr(1, i%20), attr(2, 20+i%5)},
	}
}

// writeGenerated writes n generated services as NDJSON to path and returns
// the file's size.
func writeGenerated(tb testing.TB, path string, n, descLen int) int64 {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(bw)
	for i := range n {
		if err := enc.Encode(genService(i, descLen)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return st.Size()
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

const benchServices = 10_000

// BenchmarkImport10kServices imports 10,000 generated compiled services
// (about 1,000 organizations) as NDJSON into an empty database.
func BenchmarkImport10kServices(b *testing.B) {
	ctx := context.Background()
	file := filepath.Join(b.TempDir(), "services.ndjson")
	size := writeGenerated(b, file, benchServices, 400)
	b.SetBytes(size)
	var peak, base uint64
	var took time.Duration
	for b.Loop() {
		b.StopTimer()
		s := newStore(b)
		src, err := OpenSource(file)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base = max(base, ms.HeapInuse)
		stop := heapPeak(25 * time.Millisecond)
		start := time.Now()
		b.StartTimer()
		res, err := s.Import(ctx, src, ImportOptions{})
		b.StopTimer()
		took += time.Since(start)
		peak = max(peak, stop())
		if err != nil {
			logProblems(b, res)
			b.Fatal(err)
		}
		if res.Created != benchServices {
			b.Fatalf("%s; want %d created", res.Summary(), benchServices)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(benchServices*b.N)/took.Seconds(), "services/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(base)/(1<<20), "heap-before-MiB")
	b.ReportMetric(float64(size)/(1<<20), "file-MiB")
}

// BenchmarkExportJSON exports 10,000 compiled services as NDJSON.
func BenchmarkExportJSON(b *testing.B) {
	ctx := context.Background()
	file := filepath.Join(b.TempDir(), "services.ndjson")
	writeGenerated(b, file, benchServices, 400)
	s := newStore(b)
	if res, err := importFile(b, s, file, ImportOptions{}); err != nil {
		logProblems(b, res)
		b.Fatal(err)
	}
	var written int64
	for b.Loop() {
		cw := &countingWriter{w: io.Discard}
		n, err := s.ExportJSON(ctx, cw)
		if err != nil {
			b.Fatal(err)
		}
		if n != benchServices {
			b.Fatalf("exported %d services, want %d", n, benchServices)
		}
		written = cw.n
	}
	b.SetBytes(written)
	b.ReportMetric(float64(benchServices*b.N)/b.Elapsed().Seconds(), "services/s")
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
