package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/hotline"
)

// BenchmarkHotlineServe is the hotline's load test against the whole
// server: `serve` with the demo directory, its search and referral log and
// Twilio credentials pointing at a fake of the Messages API, and 50
// simulated people calling and texting at once (hotline.Load, as
// `secondchance simulate load` runs it), each round a new set of numbers.
// HOTLINE_BENCH_THINK (a Go duration, default 300ms) is the time between
// keys. It reports the p99 of the voice and SMS webhooks.
//
//	go test -run '^$' -bench '^BenchmarkHotlineServe$' -benchtime 3x ./cmd/secondchance
func BenchmarkHotlineServe(b *testing.B) {
	think := 300 * time.Millisecond
	if s := os.Getenv("HOTLINE_BENCH_THINK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		think = d
	}
	dir := b.TempDir()
	api := newFakeTwilioAPI(b, 0)
	for k, v := range twilioEnv(api, filepath.Join(dir, "var")) {
		b.Setenv(k, v)
	}
	addr := freeAddr(b)
	base := "http://" + addr
	b.Setenv("SECONDCHANCE_LISTEN", addr)
	b.Setenv("SECONDCHANCE_BASE_URL", base)
	errb, exited := startServe(b)
	if err := waitReady(addr, time.Minute, exited); err != nil {
		b.Fatalf("%v\n%s", err, errb.String())
	}
	sim := hotline.Simulator{Server: base, BaseURL: base, AuthToken: fakeToken, To: fakeFrom}
	var voice, text []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := hotline.Load(context.Background(), sim, hotline.LoadOptions{Callers: 50, Think: think, FirstNumber: i * 50})
		if err != nil {
			b.Fatalf("%v\n%s", err, errb.String())
		}
		voice = append(voice, res.Voice...)
		text = append(text, res.SMS...)
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(hotline.Percentile(voice, .99)), "voice-p99-ms")
	b.ReportMetric(ms(hotline.Percentile(text, .99)), "sms-p99-ms")
	b.ReportMetric(ms(hotline.Percentile(voice, .5)), "voice-p50-ms")
	b.ReportMetric(ms(hotline.Percentile(text, .5)), "sms-p50-ms")
	b.ReportMetric(float64(len(voice)+len(text))/float64(b.N), "webhooks/op")
	b.ReportMetric(float64(len(api.sent()))/float64(b.N), "texts/op")
	b.ReportMetric(loadAverage(), "loadavg")
}
