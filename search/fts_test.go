package search

// SQLite FTS5 (bm25) over the same data, to show what bleve buys us: the
// same query shapes and mix, timed the same way, and hits@3 on the
// relevance table (relevance_test.go's relevanceCases) over the demo
// directory. The FTS5 side is a fair plain implementation: the engine's
// filler words dropped, every word required (any word when that finds
// fewer than three, as the engine does), bm25 with the engine's field
// weights, the same filters and facets in SQL, distance from the nearest
// place. What it lacks is what the engine adds on top of a text index:
// synonyms and Spanish expansions, misspellings, implied reentry facts and
// categories, per-language analysis.

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/db"
)

// ftsVersion changes whenever the FTS tables change shape.
const ftsVersion = 1

// ensureFTS builds the FTS5 table and its side tables in d, unless a
// current one is there; it returns how long building took (0 when it was
// there).
func ensureFTS(tb testing.TB, d *db.DB) time.Duration {
	tb.Helper()
	ctx := context.Background()
	var v int
	if err := d.Read.QueryRowContext(ctx, `SELECT version FROM bench_fts_meta`).Scan(&v); err == nil && v == ftsVersion {
		return 0
	}
	start := time.Now()
	tx, err := d.Write.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		tb.Helper()
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			tb.Fatalf("%s: %v", strings.Fields(q)[:4], err)
		}
	}
	for _, t := range []string{"bench_fts", "bench_fts_cat", "bench_fts_fact", "bench_fts_lang", "bench_fts_meta"} {
		exec(`DROP TABLE IF EXISTS ` + t)
	}
	exec(`CREATE VIRTUAL TABLE bench_fts USING fts5(service_id UNINDEXED, name, alt_name, category, org, description, details,
		tokenize = 'porter unicode61 remove_diacritics 2')`)
	live := `s.status IN ('active', 'temporarily closed')`
	exec(`INSERT INTO bench_fts (service_id, name, alt_name, category, org, description, details)
		SELECT s.id, s.name, COALESCE(s.alternate_name, ''),
			COALESCE((SELECT group_concat(t.name, ' ') FROM attribute a JOIN taxonomy_term t ON t.id = a.taxonomy_term_id
				WHERE a.link_id = s.id AND t.taxonomy_id != ?), ''),
			COALESCE(o.name, ''), COALESCE(s.description, ''),
			concat_ws(' ', s.eligibility_description, s.application_process, s.fees_description, o.description)
		FROM service s LEFT JOIN organization o ON o.id = s.organization_id WHERE `+live, directory.ReentryTaxonomyID)
	exec(`CREATE TABLE bench_fts_cat (service_id TEXT NOT NULL, cat TEXT NOT NULL, PRIMARY KEY (service_id, cat)) WITHOUT ROWID`)
	exec(`CREATE INDEX bench_fts_cat_cat ON bench_fts_cat (cat)`)
	for _, c := range directory.Categories() {
		exec(`INSERT OR IGNORE INTO bench_fts_cat SELECT a.link_id, ? FROM attribute a JOIN service s ON s.id = a.link_id
			WHERE `+live+` AND a.taxonomy_term_id IN (`+placeholders(len(c.TermIDs))+`)`, append([]any{c.Key}, anys(c.TermIDs)...)...)
	}
	exec(`CREATE TABLE bench_fts_fact (service_id TEXT NOT NULL, code TEXT NOT NULL, PRIMARY KEY (service_id, code)) WITHOUT ROWID`)
	exec(`CREATE INDEX bench_fts_fact_code ON bench_fts_fact (code)`)
	exec(`INSERT OR IGNORE INTO bench_fts_fact SELECT a.link_id, t.code FROM attribute a JOIN taxonomy_term t ON t.id = a.taxonomy_term_id
		JOIN service s ON s.id = a.link_id WHERE `+live+` AND t.taxonomy_id = ?`, directory.ReentryTaxonomyID)
	exec(`CREATE TABLE bench_fts_lang (service_id TEXT NOT NULL, code TEXT NOT NULL, PRIMARY KEY (service_id, code)) WITHOUT ROWID`)
	exec(`CREATE INDEX bench_fts_lang_code ON bench_fts_lang (code)`)
	exec(`INSERT OR IGNORE INTO bench_fts_lang SELECT l.service_id, lower(substr(l.code, 1, 2)) FROM language l JOIN service s ON s.id = l.service_id
		WHERE ` + live + ` AND l.code IS NOT NULL`)
	exec(`CREATE TABLE bench_fts_meta (version INTEGER NOT NULL)`)
	exec(`INSERT INTO bench_fts_meta VALUES (?)`, ftsVersion)
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ftsResult is a page of service ids, the total and the facet counts.
type ftsResult struct {
	ids    []string
	total  int
	facets map[string]map[string]int
}

// ftsWords are the words of a query that FTS5 looks for: the engine's
// filler words dropped, each quoted.
func ftsWords(text string) []string {
	var ws []string
	for _, t := range tokens(text) {
		if !filler[t] {
			ws = append(ws, `"`+t+`"`)
		}
	}
	return ws
}

// ftsSearch runs q over the FTS5 table in one statement: the matches (with
// the filters) materialized once, then the page, the total and three
// facets from them. All words are required; any word when that finds
// fewer than relaxBelow.
func ftsSearch(ctx context.Context, d *sql.DB, q Query, facets bool) (*ftsResult, error) {
	words := ftsWords(q.Text)
	res, err := ftsRun(ctx, d, q, strings.Join(words, " "), facets)
	if err != nil || res.total >= relaxBelow || len(words) < 2 {
		return res, err
	}
	relaxed, err := ftsRun(ctx, d, q, strings.Join(words, " OR "), facets)
	if err != nil || relaxed.total <= res.total {
		return res, err
	}
	return relaxed, nil
}

func ftsRun(ctx context.Context, d *sql.DB, q Query, match string, facets bool) (*ftsResult, error) {
	var args []any
	var from, score string
	browse := match == "" && len(q.Categories) > 0
	switch {
	case match != "":
		from = `bench_fts f`
		score = `bm25(bench_fts, 0, 6, 3, 4, 2, 1, 0.5)`
	case browse:
		// Start from the category's services rather than every service.
		from = `(SELECT service_id FROM bench_fts_cat WHERE cat IN (` + placeholders(len(q.Categories)) + `) GROUP BY service_id) f`
		args = append(args, anys(q.Categories)...)
		score = `0`
	default:
		from = `(SELECT id AS service_id FROM service WHERE status IN ('active', 'temporarily closed')) f`
		score = `0`
	}
	dist := `0`
	var where []string
	if match != "" {
		where = append(where, `bench_fts MATCH ?`)
		args = append(args, match)
	}
	if q.HasPoint {
		// Squared distance in degrees of latitude to the nearest place,
		// longitude scaled by the cosine of the latitude; NULL for a
		// service with no physical place (which serves everywhere).
		k := math.Cos(q.Lat * math.Pi / 180)
		dist = fmt.Sprintf(`(SELECT MIN((l.latitude - %[1]g) * (l.latitude - %[1]g) + (l.longitude - %[2]g) * %[3]g * (l.longitude - %[2]g) * %[3]g)
			FROM service_at_location sal JOIN location l ON l.id = sal.location_id
			WHERE sal.service_id = f.service_id AND l.latitude IS NOT NULL)`, q.Lat, q.Lon, k)
	}
	if len(q.Categories) > 0 && !browse {
		where = append(where, `EXISTS (SELECT 1 FROM bench_fts_cat c WHERE c.service_id = f.service_id AND c.cat IN (`+placeholders(len(q.Categories))+`))`)
		args = append(args, anys(q.Categories)...)
	}
	facts := slices.Clone(q.Facts)
	if q.Free && !slices.Contains(facts, "free") {
		facts = append(facts, "free")
	}
	for _, f := range facts {
		where = append(where, `EXISTS (SELECT 1 FROM bench_fts_fact x WHERE x.service_id = f.service_id AND x.code = ?)`)
		args = append(args, f)
	}
	if q.Language != "" {
		where = append(where, `EXISTS (SELECT 1 FROM bench_fts_lang x WHERE x.service_id = f.service_id AND x.code = ?)`)
		args = append(args, q.Language)
	}
	if q.Age > 0 {
		where = append(where, `EXISTS (SELECT 1 FROM service s WHERE s.id = f.service_id AND COALESCE(s.minimum_age, 0) <= ? AND COALESCE(s.maximum_age, 200) >= ?)`)
		args = append(args, q.Age, q.Age)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	outer := ""
	if q.HasPoint && q.Radius > 0 {
		r := q.Radius / 69.0
		outer = fmt.Sprintf(" WHERE dist IS NULL OR dist <= %g", r*r)
	}
	order := "score"
	if q.HasPoint && q.Sort == "distance" {
		order = "dist IS NULL, dist, score"
	}
	stmt := `WITH m AS MATERIALIZED (SELECT * FROM (SELECT f.service_id AS sid, ` + score + ` AS score, ` + dist + ` AS dist FROM ` + from + cond + `)` + outer + `)
		SELECT 0, sid, 0 FROM (SELECT sid FROM m ORDER BY ` + order + ` LIMIT ? OFFSET ?)
		UNION ALL SELECT 1, '', COUNT(*) FROM m`
	if facets {
		stmt += `
		UNION ALL SELECT 2, c.cat, COUNT(*) FROM m JOIN bench_fts_cat c ON c.service_id = m.sid GROUP BY c.cat
		UNION ALL SELECT 3, x.code, COUNT(*) FROM m JOIN bench_fts_fact x ON x.service_id = m.sid GROUP BY x.code
		UNION ALL SELECT 4, x.code, COUNT(*) FROM m JOIN bench_fts_lang x ON x.service_id = m.sid GROUP BY x.code`
	}
	args = append(args, q.PerPage, (q.Page-1)*q.PerPage)
	rs, err := d.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	res := &ftsResult{facets: map[string]map[string]int{"category": {}, "attribute": {}, "language": {}}}
	for rs.Next() {
		var kind, n int
		var v string
		if err := rs.Scan(&kind, &v, &n); err != nil {
			return nil, err
		}
		switch kind {
		case 0:
			res.ids = append(res.ids, v)
		case 1:
			res.total = n
		case 2:
			res.facets["category"][v] = n
		case 3:
			res.facets["attribute"][v] = n
		case 4:
			res.facets["language"][v] = n
		}
	}
	return res, rs.Err()
}

// BenchmarkFTS10k and BenchmarkFTS100k time FTS5 over the generated
// directories, shape by shape and on the 50-query mix, as
// BenchmarkSearch10k/100k time the engine.
func BenchmarkFTS10k(b *testing.B)  { benchFTS(b, 10_000) }
func BenchmarkFTS100k(b *testing.B) { benchFTS(b, 100_000) }

func benchFTS(b *testing.B, n int) {
	set := openBench(b, n)
	if took := ensureFTS(b, set.db); took > 0 {
		b.Logf("built the FTS5 table over %d services in %s (kept in the cached database)", n, took.Round(time.Millisecond))
	}
	for _, shape := range shapesAndMix() {
		for _, facets := range []bool{true, false} {
			name := shape.name + "/facets"
			if !facets {
				name = shape.name + "/no-facets"
			}
			b.Run(name, func(b *testing.B) { benchFTSShape(b, set, shape, facets) })
		}
	}
}

func benchFTSShape(b *testing.B, set *benchSet, shape benchShape, facets bool) {
	ctx := context.Background()
	qs := parseMix(b, shape.queries)
	for range 3 {
		for _, q := range qs {
			if _, err := ftsSearch(ctx, set.db.Read, q, facets); err != nil {
				b.Fatalf("%q: %v", q.Text, err)
			}
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var lat latencies
	hits, i := 0, 0
	for b.Loop() {
		q := qs[i%len(qs)]
		i++
		if err := lat.time(func() error {
			r, err := ftsSearch(ctx, set.db.Read, q, facets)
			if r != nil {
				hits += r.total
			}
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	lat.report(b)
	b.ReportMetric(float64(hits)/float64(len(lat.wall)), "hits/op")
}

// BenchmarkFTSBuild10k times building the FTS5 table (and its side tables
// for filters and facets) over 10,000 services, to set beside
// BenchmarkBuild10k.
func BenchmarkFTSBuild10k(b *testing.B) {
	set := openBench(b, 10_000)
	var took time.Duration
	for b.Loop() {
		b.StopTimer()
		if _, err := set.db.Write.Exec(`DROP TABLE IF EXISTS bench_fts_meta`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		took += ensureFTS(b, set.db)
	}
	b.ReportMetric(float64(10_000*b.N)/took.Seconds(), "services/s")
}

// BenchmarkRelevanceFTS reports hits@3 on the relevance table
// (relevance_test.go) over the demo directory, for FTS5 and for the engine,
// with the same rule: every Want in the top 3, one of Any, none of Not. It
// lists the queries FTS5 misses with -v.
func BenchmarkRelevanceFTS(b *testing.B) {
	e, s := newDemoEngine(b)
	ensureFTS(b, s.DB())
	ctx := context.Background()
	names := map[string]string{} // id -> name
	rs, err := s.DB().Read.QueryContext(ctx, `SELECT id, name FROM service`)
	if err != nil {
		b.Fatal(err)
	}
	for rs.Next() {
		var id, name string
		if err := rs.Scan(&id, &name); err != nil {
			b.Fatal(err)
		}
		names[id] = name
	}
	rs.Close()
	met := func(c relevanceCase, ids []string) bool {
		var top []string
		for _, id := range ids[:min(3, len(ids))] {
			top = append(top, names[id])
		}
		for _, w := range c.Want {
			if !slices.Contains(top, w) {
				return false
			}
		}
		if len(c.Any) > 0 && !slices.ContainsFunc(c.Any, func(n string) bool { return slices.Contains(top, n) }) {
			return false
		}
		return !slices.ContainsFunc(c.Not, func(n string) bool { return slices.Contains(top, n) })
	}
	var ftsMet, engineMet int
	first := true
	for b.Loop() {
		ftsMet, engineMet = 0, 0
		for _, c := range relevanceCases {
			q, err := ParseQuery(Params{Text: c.Query, ZIP: c.ZIP, Radius: c.Radius})
			if err != nil {
				b.Fatal(err)
			}
			fr, err := ftsSearch(ctx, s.DB().Read, q, false)
			if err != nil {
				b.Fatalf("%q: %v", c.Query, err)
			}
			er, err := e.Search(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			var eids []string
			for _, h := range er.Hits {
				eids = append(eids, h.ServiceID)
			}
			fok, eok := met(c, fr.ids), met(c, eids)
			if fok {
				ftsMet++
			}
			if eok {
				engineMet++
			}
			if !fok && first && testing.Verbose() {
				var top []string
				for _, id := range fr.ids[:min(3, len(fr.ids))] {
					top = append(top, names[id])
				}
				b.Logf("FTS5 misses %-40q got %q (engine: %v)", c.Query, top, eok)
			}
		}
		first = false
	}
	n := float64(len(relevanceCases))
	b.ReportMetric(float64(ftsMet)/n, "fts-hits@3")
	b.ReportMetric(float64(engineMet)/n, "engine-hits@3")
	b.ReportMetric(n, "queries")
}
