package hotline

import (
	"strings"
	"testing"
	"time"
)

// Without Spread every caller starts at once and waits exactly Think; with
// it, callers start at different moments within Spread and each wait is
// between Think/2 and 3*Think/2, varying from key to key.
func TestLoadPace(t *testing.T) {
	inStep := LoadOptions{Think: 300 * time.Millisecond}
	for n := range 5 {
		start, wait := inStep.pace(n)
		if start != 0 || wait() != 300*time.Millisecond || wait() != 300*time.Millisecond {
			t.Fatalf("in step, caller %d starts at %s and waits %s", n, start, wait())
		}
	}
	spread := LoadOptions{Think: 300 * time.Millisecond, Spread: 3 * time.Second, FirstNumber: 7}
	starts, waits := map[time.Duration]bool{}, map[time.Duration]bool{}
	for n := range 50 {
		start, wait := spread.pace(n)
		if start < 0 || start >= spread.Spread {
			t.Fatalf("caller %d starts at %s, outside [0, %s)", n, start, spread.Spread)
		}
		starts[start] = true
		for range 7 {
			w := wait()
			if w < 150*time.Millisecond || w > 450*time.Millisecond {
				t.Fatalf("caller %d waits %s, outside [150ms, 450ms]", n, w)
			}
			waits[w] = true
		}
		again, _ := spread.pace(n)
		if again != start {
			t.Fatalf("caller %d starts at %s, then at %s: not reproducible", n, start, again)
		}
	}
	if len(starts) < 45 || len(waits) < 300 {
		t.Errorf("%d different starts of 50 and %d different waits of 350: hardly spread", len(starts), len(waits))
	}
}

// The load benchmarks' options: 50 callers 300 ms apart, spread over the
// think time, unless HOTLINE_BENCH_THINK or HOTLINE_BENCH_SPREAD say
// otherwise (HOTLINE_BENCH_SPREAD=0: in step); a value that is not a
// duration is named in the error.
func TestBenchLoadOptions(t *testing.T) {
	t.Setenv("HOTLINE_BENCH_THINK", "")
	t.Setenv("HOTLINE_BENCH_SPREAD", "")
	if opt, err := BenchLoadOptions(100); err != nil || opt != (LoadOptions{Callers: 50, Think: 300 * time.Millisecond, Spread: 300 * time.Millisecond, FirstNumber: 100}) {
		t.Errorf("defaults: %+v %v", opt, err)
	}
	t.Setenv("HOTLINE_BENCH_THINK", "3s")
	if opt, err := BenchLoadOptions(0); err != nil || opt.Think != 3*time.Second || opt.Spread != 3*time.Second {
		t.Errorf("the spread follows the think time: %+v %v", opt, err)
	}
	t.Setenv("HOTLINE_BENCH_SPREAD", "2s")
	if opt, err := BenchLoadOptions(0); err != nil || opt.Think != 3*time.Second || opt.Spread != 2*time.Second {
		t.Errorf("from the environment: %+v %v", opt, err)
	}
	t.Setenv("HOTLINE_BENCH_SPREAD", "0")
	if opt, err := BenchLoadOptions(0); err != nil || opt.Think != 3*time.Second || opt.Spread != 0 {
		t.Errorf("in step: %+v %v", opt, err)
	}
	t.Setenv("HOTLINE_BENCH_SPREAD", "soon")
	if _, err := BenchLoadOptions(0); err == nil || !strings.Contains(err.Error(), `HOTLINE_BENCH_SPREAD="soon"`) {
		t.Errorf("a bad duration: %v", err)
	}
}
