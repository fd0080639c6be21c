package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/hotline"
	"github.com/secondchancekc/secondchance/internal/db"
)

// BenchmarkHotlineServe is the hotline's load test against the whole
// server: `serve` with the demo directory, its search and referral log and
// Twilio credentials pointing at a fake of the Messages API, and 50
// simulated people calling and texting at once (hotline.Load, as
// `secondchance simulate load` runs it), each round a new set of numbers.
// HOTLINE_BENCH_THINK (a Go duration, default 300ms) is the time between
// keys; HOTLINE_BENCH_SPREAD (default: the think time) starts the callers
// at random moments within it and varies each wait between half and one
// and a half the think time; HOTLINE_BENCH_SPREAD=0 makes every caller
// press each key at the same moment, a stress test (see
// hotline.BenchLoadOptions). It reports the p99 of the voice and SMS webhooks, and how long
// the follow-ups took to be planned after the answer (plan-lag: from the
// referral, or the caller's consent, to the planner's write). It logs the
// server's own time per hotline route (the request log's duration_ms).
//
//	go test -run '^$' -bench '^BenchmarkHotlineServe$' -benchtime 3x ./cmd/secondchance
func BenchmarkHotlineServe(b *testing.B) {
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
		opt, err := hotline.BenchLoadOptions(i * 50)
		if err != nil {
			b.Fatal(err)
		}
		res, err := hotline.Load(context.Background(), sim, opt)
		if err != nil {
			b.Fatalf("%v\n%s", err, errb.String())
		}
		voice = append(voice, res.Voice...)
		text = append(text, res.SMS...)
	}
	b.StopTimer()
	lag := planLag(b, filepath.Join(dir, "var", "secondchance.db"))
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(hotline.Percentile(lag, .99)), "plan-lag-p99-ms")
	b.ReportMetric(ms(slices.Max(lag)), "plan-lag-max-ms")
	b.ReportMetric(ms(hotline.Percentile(voice, .99)), "voice-p99-ms")
	b.ReportMetric(ms(hotline.Percentile(text, .99)), "sms-p99-ms")
	b.ReportMetric(ms(hotline.Percentile(voice, .5)), "voice-p50-ms")
	b.ReportMetric(ms(hotline.Percentile(text, .5)), "sms-p50-ms")
	b.ReportMetric(float64(len(voice)+len(text))/float64(b.N), "webhooks/op")
	b.ReportMetric(float64(len(api.sent()))/float64(b.N), "texts/op")
	b.ReportMetric(loadAverage(), "loadavg")
	b.Log(routeTimes(errb.String()))
}

// routeTimes summarises the request log's duration_ms of each /hotline
// route: p50, p99 and the count.
func routeTimes(log string) string {
	re := regexp.MustCompile(`msg=request method=POST route=(/hotline\S*) status=\d+ duration_ms=([\d.]+)`)
	by := map[string][]time.Duration{}
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		by[m[1]] = append(by[m[1]], time.Duration(v*float64(time.Millisecond)))
	}
	var out []string
	for route, ds := range by {
		out = append(out, fmt.Sprintf("%s p50 %.1f p99 %.1f ms (%d)", route,
			float64(hotline.Percentile(ds, .5).Microseconds())/1000, float64(hotline.Percentile(ds, .99).Microseconds())/1000, len(ds)))
	}
	slices.Sort(out)
	return "server time per route: " + strings.Join(out, "; ")
}

// planLag waits for the planner to finish, then returns, for each hotline
// referral with follow-ups, the time from the moment it could be planned
// (the referral made, or the caller's consent if later) to its follow-ups'
// planning: what staff wait before they see them.
func planLag(b *testing.B, path string) []time.Duration {
	b.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var left int
		if err := d.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM referral WHERE followups_planned_at IS NULL`).Scan(&left); err != nil {
			b.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d referrals still unplanned 10 s after the load", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rows, err := d.Read.QueryContext(ctx, `SELECT MIN(f.created_at), r.created_at, COALESCE(c.consent_at, '')
		FROM followup f JOIN referral r ON r.id = f.referral_id JOIN referral_client c ON c.id = r.client_id
		WHERE r.channel IN ('voice', 'sms') GROUP BY r.id`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var lag []time.Duration
	for rows.Next() {
		var planned, made, consent string
		if err := rows.Scan(&planned, &made, &consent); err != nil {
			b.Fatal(err)
		}
		p, err1 := time.Parse(time.RFC3339Nano, planned)
		from, err2 := time.Parse(time.RFC3339Nano, made)
		if err1 != nil || err2 != nil {
			b.Fatalf("times %q, %q: %v %v", planned, made, err1, err2)
		}
		if c, err := time.Parse(time.RFC3339Nano, consent); err == nil && c.After(from) {
			from = c
		}
		lag = append(lag, p.Sub(from))
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	if len(lag) == 0 {
		b.Fatal("no hotline referral got follow-ups")
	}
	return lag
}
