package referral

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/secondchancekc/secondchance/templates"
)

// The reports at scale (issue 4, §9): 100,000 referrals over two years and
// 300,000 follow-ups. The database is generated once with plain SQL and
// cached under $TMPDIR, keyed by benchGenVersion: bump it whenever the
// generator or the schema changes (2: 0014_queue_filters.sql; a cached
// file opened by newer code is migrated in place, and older code then
// refuses it).
//
//	go test -run '^$' -bench Report -benchtime 20x ./referral/

const (
	benchGenVersion = 2
	benchReferrals  = 100_000
	benchFollowups  = 300_000 // three per referral
	benchServices   = 600
	benchPartners   = 150
	benchUnmet      = 20_000
	benchDays       = 730
)

// benchNow is the end of the generated data; the benchmark store's clock.
var benchNow = time.Date(2026, 3, 2, 18, 0, 0, 0, time.UTC)

// benchDB opens the cached generated database, generating it first if it
// is missing.
func benchDB(b *testing.B) *db.DB {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("secondchance-reports-bench-v%d.db", benchGenVersion))
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		tmp := path + ".partial"
		for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
			os.Remove(p)
		}
		d, err := db.Open(ctx, tmp)
		if err != nil {
			b.Fatal(err)
		}
		if err := generateReports(ctx, d.Write); err != nil {
			d.Close()
			b.Fatal(err)
		}
		if err := d.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
		b.Logf("generated %s in %s", path, time.Since(start).Round(time.Millisecond))
	}
	d, err := db.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// generateReports writes the data set in one transaction. Referrals are
// spread evenly over benchDays days before benchNow; 70% of clients have a
// phone and 60% consented; a referral names one to three services; about 60%
// have an outcome recorded, overall or per service.
func generateReports(ctx context.Context, w *sql.DB) error {
	rng := rand.New(rand.NewPCG(4, 2026))
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	prep := func(q string) *sql.Stmt {
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			panic(err)
		}
		return st
	}
	insClient := prep(`INSERT INTO referral_client (id, phone, name, language, consent_given, consent_at, consent_channel, consent_words, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?)`)
	insRef := prep(`INSERT INTO referral (id, client_id, channel, need_category, zip, created_by, notes, created_at) VALUES (?,?,?,?,?,?,?,?)`)
	insSvc := prep(`INSERT INTO referral_service (referral_id, position, service_id, name, organization, phone) VALUES (?,?,?,?,?,?)`)
	insOut := prep(`INSERT INTO referral_outcome (referral_id, service_id, reached, got_help, reason, still_needs_help, recorded_by, recorded_at, source)
		VALUES (?,?,?,?,?,?,?,?,?)`)
	insFU := prep(`INSERT INTO followup (id, referral_id, kind, state, due_at, sent_at, replied_at, reply_code, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?)`)
	insUnmet := prep(`INSERT INTO unmet_search (searched_at, channel, query, filters) VALUES (?,?,?,?)`)

	needs := needCategories()
	start := benchNow.AddDate(0, 0, -benchDays)
	span := benchNow.Sub(start)
	const clients = benchReferrals * 6 / 10
	for i := range clients {
		var phone, consentAt, words any
		var consent any
		if rng.IntN(10) < 7 {
			phone = fmt.Sprintf("+1816%07d", i)
			if rng.IntN(10) < 6 {
				consent, consentAt, words = 1, formatTime(start), "May we text you?"
			} else {
				consent = 0
			}
		}
		if _, err := insClient.ExecContext(ctx, fmt.Sprintf("c%07d", i), phone, "", "en", consent, consentAt, nullIf(consentAt, "staff"), words,
			formatTime(start), formatTime(start)); err != nil {
			return err
		}
	}
	fuID := 0
	for i := range benchReferrals {
		id := fmt.Sprintf("r%07d", i)
		at := start.Add(time.Duration(float64(span) * float64(i) / benchReferrals))
		if _, err := insRef.ExecContext(ctx, id, fmt.Sprintf("c%07d", rng.IntN(clients)), Channels[rng.IntN(len(Channels))],
			needs[rng.IntN(len(needs))], fmt.Sprintf("641%02d", rng.IntN(60)), "staff-1", "", formatTime(at)); err != nil {
			return err
		}
		n := 1 + rng.IntN(3)
		svcs := make([]int, 0, n)
		for len(svcs) < n {
			s := rng.IntN(benchServices)
			if !containsInt(svcs, s) {
				svcs = append(svcs, s)
			}
		}
		recAt := formatTime(at.Add(72 * time.Hour))
		for pos, s := range svcs {
			sid := fmt.Sprintf("svc-%04d", s)
			if _, err := insSvc.ExecContext(ctx, id, pos, sid, fmt.Sprintf("Service %d", s),
				fmt.Sprintf("Partner %d", s%benchPartners), "(816) 555-0100"); err != nil {
				return err
			}
			if n > 1 && rng.IntN(10) < 5 { // a per-service outcome
				if err := benchOutcome(ctx, insOut, rng, id, sid, recAt); err != nil {
					return err
				}
			}
		}
		if rng.IntN(10) < 4 {
			if err := benchOutcome(ctx, insOut, rng, id, "", recAt); err != nil {
				return err
			}
		}
		for k, kind := range []string{"checkin", "reminder", []string{"call", "final", "callback"}[rng.IntN(3)]} {
			due := at.Add(time.Duration(3+2*k) * 24 * time.Hour)
			state, sent, replied, code := "pending", any(nil), any(nil), ""
			if due.Before(benchNow) {
				switch {
				case isTask(kind):
					state = []string{"pending", "done", "done"}[rng.IntN(3)]
				case rng.IntN(2) == 0:
					state, sent, replied, code = "answered", formatTime(due), formatTime(due.Add(time.Hour)), fmt.Sprint(1+rng.IntN(4))
				default:
					state, sent = "sent", formatTime(due)
				}
			}
			fuID++
			if _, err := insFU.ExecContext(ctx, fmt.Sprintf("f%07d", fuID), id, kind, state, formatTime(due), sent, replied, code,
				formatTime(at), formatTime(at)); err != nil {
				return err
			}
		}
	}
	words := []string{"tattoo removal", "dentist", "storage unit", "car repair", "daycare night shift", "pet food", "", "sex offender housing"}
	for i := range benchUnmet {
		at := start.Add(time.Duration(float64(span) * float64(i) / benchUnmet))
		if _, err := insUnmet.ExecContext(ctx, at.UTC().Format(time.RFC3339), Channels[rng.IntN(3)], words[rng.IntN(len(words))],
			fmt.Sprintf(`{"category":[%q]}`, needs[rng.IntN(len(needs))])); err != nil {
			return err
		}
	}
	// A few flags to list.
	for s := range 12 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO service_review (service_id, reason, reports, flagged_at) VALUES (?,?,?,?)`,
			fmt.Sprintf("svc-%04d", s*7), "couldnt_reach:2,wrong_info:1", 3, formatTime(benchNow)); err != nil {
			return err
		}
	}
	if fuID != benchFollowups {
		return fmt.Errorf("generated %d follow-ups, want %d", fuID, benchFollowups)
	}
	return tx.Commit()
}

func nullIf(v any, s string) any {
	if v == nil {
		return nil
	}
	return s
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// benchOutcome writes a plausible outcome: 80% reached; of those 45% got
// help, 20% partly, 35% no; the rest say why.
func benchOutcome(ctx context.Context, ins *sql.Stmt, rng *rand.Rand, referralID, serviceID, at string) error {
	var reached, still any
	gotHelp, reason := "", ""
	if rng.IntN(10) < 8 {
		reached = 1
		switch p := rng.IntN(100); {
		case p < 45:
			gotHelp = GotHelpYes
		case p < 65:
			gotHelp, reason = GotHelpPartly, ReasonWaitlist
		default:
			gotHelp, reason = GotHelpNo, reasonValues[rng.IntN(len(reasonValues))]
		}
	} else {
		reached, reason = 0, []string{ReasonCouldntReach, ReasonWrongInfo, ReasonDidntGo}[rng.IntN(3)]
	}
	if gotHelp != GotHelpYes && rng.IntN(2) == 0 {
		still = 1
	}
	_, err := ins.ExecContext(ctx, referralID, serviceID, reached, gotHelp, reason, still, "staff-1", at, SourceStaff)
	return err
}

// benchStore is a store on the generated data, its clock at benchNow.
func benchStore(b *testing.B) *Store {
	s := NewStore(benchDB(b), nil)
	s.Now = func() time.Time { return benchNow }
	s.Zone = chicago
	return s
}

// benchRanges are the report ranges measured: the page's default (the last
// 12 weeks, about 11,500 referrals), a year, and everything.
func benchRanges() []struct {
	Name   string
	Filter ReportFilter
} {
	def := DefaultReportFilter(benchNow, chicago)
	year, all := def, def
	year.From = def.To.AddDate(-1, 0, 0)
	all.From = def.To.AddDate(0, 0, -benchDays-7)
	return []struct {
		Name   string
		Filter ReportFilter
	}{{"12weeks", def}, {"1year", year}, {"2years", all}}
}

// BenchmarkReport measures Store.Report and the tables built from it: the
// data behind the reports page.
func BenchmarkReport(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	for _, r := range benchRanges() {
		b.Run(r.Name, func(b *testing.B) {
			var rep *Report
			for b.Loop() {
				var err error
				if rep, err = s.Report(ctx, r.Filter); err != nil {
					b.Fatal(err)
				}
				rep.Tables()
			}
			b.ReportMetric(float64(rep.Referrals), "referrals")
		})
	}
}

// BenchmarkReportParts times each query of a 12-week report on its own.
func BenchmarkReportParts(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	f := DefaultReportFilter(benchNow, chicago)
	parts := []struct {
		Name string
		Run  func(q querier) error
	}{
		{"cohort", func(q querier) error { _, err := loadCohort(ctx, q, f); return err }},
		{"services", func(q querier) error { _, err := loadServices(ctx, q, f); return err }},
		{"followups", func(q querier) error { return (&Report{Filter: f}).followups(ctx, q) }},
		{"unmet", func(q querier) error {
			return (&Report{Filter: f, Zone: chicago}).unmet(ctx, q, weekBuckets(f, chicago))
		}},
	}
	for _, p := range parts {
		b.Run(p.Name, func(b *testing.B) {
			for b.Loop() {
				if err := p.Run(s.db.Read); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReportsPage measures the server time of GET /staff/reports (the
// handler, every query and the template, without the sign-in check) and of
// one CSV and the export, over the generated data.
func BenchmarkReportsPage(b *testing.B) {
	s := benchStore(b)
	pages, err := templates.New(templates.Options{})
	if err != nil {
		b.Fatal(err)
	}
	e := echo.New()
	RegisterReports(e.Group("/staff"), s, pages, func(echo.Context) string { return "1" })
	for _, tc := range []struct{ Name, URL string }{
		{"page-12weeks", "/staff/reports"},
		{"page-1year", "/staff/reports?from=2025-03-03&to=2026-03-02"},
		{"funnel.csv-12weeks", "/staff/reports/funnel.csv"},
		{"export.csv-12weeks", "/staff/reports/export.csv"},
	} {
		b.Run(tc.Name, func(b *testing.B) {
			size := 0
			for b.Loop() {
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.URL, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", tc.URL, rec.Code, rec.Body.String())
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes")
		})
	}
}
