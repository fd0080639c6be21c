package hotline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

// LoadOptions shape a load test of the hotline (see Load).
type LoadOptions struct {
	// Callers call at once (default 50), Rounds times (default 1).
	Callers, Rounds int
	// Think is how long a caller listens before each key or text; 0 fires
	// the next request at once (far above what people can do).
	Think time.Duration
	// Spread, when set, makes the callers behave less in step: each starts
	// at a random moment within Spread and waits a random Think/2 to
	// 3*Think/2 before each key or text. 0: all start at once and wait
	// exactly Think, so every caller's request of a step arrives within
	// the same few milliseconds (the worst case).
	Spread time.Duration
	// FirstNumber numbers the callers: +1816555 and four digits from it.
	FirstNumber int
}

// LoadResult is every webhook answer time a load test saw.
type LoadResult struct {
	Voice, SMS []time.Duration
}

// Percentile is the p-th (0 to 1) of ds, sorted in place; 0 when empty.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	k := int(float64(len(ds))*p+0.999999) - 1
	return ds[max(0, min(k, len(ds)-1))]
}

// Load runs opt.Callers simulated people at once against the server base
// points at (Server, BaseURL, AuthToken, To; From and Input are set per
// caller), opt.Rounds times. Each places a whole call, the even ones in
// English for jobs near 64127, texting the results and agreeing to
// follow-ups, the odd ones in Spanish for housing with no ZIP, hearing more
// and declining; then each texts the SMS search "jobs 64127", "2", "more"
// and "vivienda". Every webhook's answer time is returned; the first error
// stops the test.
func Load(ctx context.Context, base Simulator, opt LoadOptions) (LoadResult, error) {
	if opt.Callers <= 0 {
		opt.Callers = 50
	}
	if opt.Rounds <= 0 {
		opt.Rounds = 1
	}
	if base.Client == nil {
		base.Client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: opt.Callers * 2}, Timeout: 30 * time.Second}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sleep := func(d time.Duration) bool {
		if d <= 0 {
			return ctx.Err() == nil
		}
		select {
		case <-time.After(d):
			return true
		case <-ctx.Done():
			return false
		}
	}
	var res LoadResult
	var mu sync.Mutex
	for round := range opt.Rounds {
		var wg sync.WaitGroup
		for c := range opt.Callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start, wait := opt.pace(round*opt.Callers + c)
				if !sleep(start) {
					return
				}
				script := []string{"1", "1", "64127#", "2", "1", "1", ""}
				if c%2 == 1 {
					script = []string{"2", "2", "#", "1", "2", ""}
				}
				n := 0
				s := base
				s.From = fmt.Sprintf("+1816555%04d", (opt.FirstNumber+round*opt.Callers+c)%10000)
				s.Out = nil
				s.Input = func(string) (string, bool) {
					if n >= len(script) || !sleep(wait()) {
						return "", false
					}
					n++
					return script[n-1], true
				}
				tr, err := s.Call(ctx)
				if err != nil {
					cancel(fmt.Errorf("call from %s: %w", MaskPhone(s.From), err))
					return
				}
				var texts []time.Duration
				for _, m := range []string{"jobs 64127", "2", "more", "vivienda"} {
					if !sleep(wait()) {
						return
					}
					_, took, err := s.SMS(ctx, m)
					if err != nil {
						cancel(fmt.Errorf("text %q from %s: %w", m, MaskPhone(s.From), err))
						return
					}
					texts = append(texts, took)
				}
				mu.Lock()
				res.Voice = append(res.Voice, tr.Latencies...)
				res.SMS = append(res.SMS, texts...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if err := context.Cause(ctx); err != nil {
			return res, err
		}
	}
	return res, nil
}

// pace is when caller n starts and how long it waits before each key or
// text (see Spread): the same for a given FirstNumber and n.
func (opt LoadOptions) pace(n int) (start time.Duration, wait func() time.Duration) {
	if opt.Spread <= 0 {
		return 0, func() time.Duration { return opt.Think }
	}
	rnd := rand.New(rand.NewPCG(uint64(opt.FirstNumber), uint64(n)))
	return time.Duration(rnd.Int64N(int64(opt.Spread))), func() time.Duration {
		return opt.Think/2 + time.Duration(rnd.Int64N(int64(opt.Think)+1))
	}
}

// BenchLoadOptions are the load benchmarks' options (BenchmarkHotline,
// BenchmarkHotlineServe): 50 callers, numbered from first, pacing from
// HOTLINE_BENCH_THINK (a Go duration, default 300ms; 0 fires each request
// at once, a stress test far above what people can do) and
// HOTLINE_BENCH_SPREAD (default: the think time, so that the calls are in
// progress together but their keys are not pressed in the same
// millisecond; 0 puts every caller in step, the worst case; see Spread).
func BenchLoadOptions(first int) (LoadOptions, error) {
	opt := LoadOptions{Callers: 50, Think: 300 * time.Millisecond, FirstNumber: first}
	for name, d := range map[string]*time.Duration{"HOTLINE_BENCH_THINK": &opt.Think, "HOTLINE_BENCH_SPREAD": &opt.Spread} {
		if v := os.Getenv(name); v != "" {
			var err error
			if *d, err = time.ParseDuration(v); err != nil || *d < 0 {
				return opt, fmt.Errorf("%s=%q: want a duration of 0 or more, such as 300ms", name, v)
			}
		}
	}
	if os.Getenv("HOTLINE_BENCH_SPREAD") == "" {
		opt.Spread = opt.Think
	}
	return opt, nil
}
