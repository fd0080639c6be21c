package search

// The benchmark directory generator: deterministic, realistic compiled HSDS
// services across the Kansas City metro, written as NDJSON and imported with
// Store.Import into a real SQLite database, then indexed with Engine.Rebuild.
// Used only by benchmarks (bench_test.go, fts_test.go and, through
// TestGenerateBenchData, cmd/secondchance/load_test.go).
//
// Generating is slow (the import dominates: 48 s at 10,000 services, 38
// minutes at 100,000 on the 2-core machine), so each size is cached under
//
//	os.TempDir()/secondchance-bench-<size>-g<genVersion>/
//	    secondchance.db   the directory (same layout as a data_dir)
//	    index/            the bleve index
//	    mix.txt           the 50-query load-test mix, one query string a line
//	    ready.json        written once the database is complete: what was
//	                      generated and how long it took
//
// and reused by later runs. The database is regenerated when ready.json is
// missing (an interrupted run) or genVersion changes (a new folder); the
// index alone is rebuilt, in a minute or two, when it is missing or was
// built with another MappingVersion. Delete the folder to start afresh. A
// lock file beside it keeps two processes from generating the same size at
// once.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/db"
)

// genVersion changes whenever the generator's output changes.
const genVersion = 1

// genSeed makes every generated directory the same from run to run.
const genSeed = 20260301

// genNamespace is the UUID namespace of generated ids.
var genNamespace = uuid.MustParse("6a1c3d2e-5b4f-5e8a-9c7d-1f2e3a4b5c6d")

func genID(kind string, n int) string {
	return uuid.NewSHA1(genNamespace, fmt.Appendf(nil, "%s:%d", kind, n)).String()
}

// benchInfo is what ready.json records about a generated directory.
type benchInfo struct {
	Services        int     `json:"services"`
	Organizations   int     `json:"organizations"`
	Locations       int     `json:"locations"`
	NDJSONBytes     int64   `json:"ndjson_bytes"`
	GenerateSeconds float64 `json:"generate_seconds"`
	ImportSeconds   float64 `json:"import_seconds"`
	DatabaseBytes   int64   `json:"database_bytes"`
}

// benchDir is the cache folder of a generated directory of n services.
func benchDir(n int) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("secondchance-bench-%d-g%d", n, genVersion))
}

func benchLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func chicago(tb testing.TB) *time.Location {
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		tb.Fatal(err)
	}
	return loc
}

// ensureBenchData returns the cache folder of n generated services,
// generating, importing and indexing them first when it is not there.
func ensureBenchData(tb testing.TB, n int) (string, benchInfo) {
	tb.Helper()
	dir := benchDir(n)
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		tb.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	var info benchInfo
	if b, err := os.ReadFile(filepath.Join(dir, "ready.json")); err == nil && json.Unmarshal(b, &info) == nil && info.Services == n {
		ensureBenchIndex(tb, dir)
		writeMix(tb, dir)
		return dir, info
	}
	tb.Logf("generating %d services in %s (cached for later runs)", n, dir)
	if err := os.RemoveAll(dir); err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(dir, "secondchance.db"))
	if err != nil {
		tb.Fatal(err)
	}
	store := directory.NewStore(d)
	if _, err := store.LoadTaxonomies(ctx); err != nil {
		tb.Fatal(err)
	}
	facts, err := factTermIDs(ctx, store)
	if err != nil {
		tb.Fatal(err)
	}

	start := time.Now()
	file := filepath.Join(dir, "services.ndjson")
	f, err := os.Create(file)
	if err != nil {
		tb.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	g := newGenerator(genSeed, facts)
	gi, err := g.write(bw, n)
	if err != nil {
		tb.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	info = gi
	info.GenerateSeconds = time.Since(start).Seconds()
	if st, err := os.Stat(file); err == nil {
		info.NDJSONBytes = st.Size()
	}

	start = time.Now()
	src, err := directory.OpenSource(file)
	if err != nil {
		tb.Fatal(err)
	}
	res, err := store.Import(ctx, src, directory.ImportOptions{Actor: "benchmark generator"})
	if err != nil {
		for i, p := range res.Problems {
			if i == 10 {
				break
			}
			tb.Log(p)
		}
		tb.Fatal(err)
	}
	if res.Created != n {
		tb.Fatalf("%s; want %d created", res.Summary(), n)
	}
	info.ImportSeconds = time.Since(start).Seconds()
	// Count what was written: an organization's site that none of its
	// services uses is not in the directory.
	for table, n := range map[string]*int{"organization": &info.Organizations, "location": &info.Locations} {
		if err := d.Read.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(n); err != nil {
			tb.Fatal(err)
		}
	}
	os.Remove(file) // 1.5 KB a service; the database is the cache

	if _, err := d.Write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		tb.Fatal(err)
	}
	info.DatabaseBytes = dirSize(filepath.Join(dir, "secondchance.db"))
	if err := d.Close(); err != nil {
		tb.Fatal(err)
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "ready.json"), b, 0o640); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("generated %d services (%d organizations, %d locations): NDJSON %.0f MiB in %.1fs, import %.1fs",
		n, info.Organizations, info.Locations, float64(info.NDJSONBytes)/(1<<20), info.GenerateSeconds, info.ImportSeconds)
	ensureBenchIndex(tb, dir)
	writeMix(tb, dir)
	return dir, info
}

// ensureBenchIndex builds the index of a generated directory when it is
// missing or was built with another mapping version. Call with the lock
// held.
func ensureBenchIndex(tb testing.TB, dir string) {
	tb.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(dir, "secondchance.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer d.Close()
	e, err := New(Options{Dir: filepath.Join(dir, "index"), Store: directory.NewStore(d), Location: chicago(tb), Slots: Slots, Logger: benchLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	unlock, err := e.Lock()
	if err != nil {
		tb.Fatalf("%v (run the benchmarks of one package at a time: go test -p 1)", err)
	}
	defer unlock()
	defer e.Close()
	rebuild, why := e.open(ctx)
	if !rebuild {
		return
	}
	tb.Logf("building the index of %s (%s)", dir, why)
	start := time.Now()
	if err := e.Rebuild(ctx, nil); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("built the index in %s", time.Since(start).Round(time.Millisecond))
}

// dirSize is the bytes of a file, or of every file under a folder.
func dirSize(p string) int64 {
	var n int64
	filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func writeMix(tb testing.TB, dir string) {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(dir, "mix.txt"), []byte(strings.Join(queryMix, "\n")+"\n"), 0o640); err != nil {
		tb.Fatal(err)
	}
}

// factTermIDs maps each reentry fact code to its taxonomy term id.
func factTermIDs(ctx context.Context, s *directory.Store) (map[string]string, error) {
	rs, err := s.DB().Read.QueryContext(ctx, `SELECT code, id FROM taxonomy_term WHERE taxonomy_id = ?`, directory.ReentryTaxonomyID)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	m := map[string]string{}
	for rs.Next() {
		var code, id string
		if err := rs.Scan(&code, &id); err != nil {
			return nil, err
		}
		m[code] = id
	}
	if len(m) != len(FactCodes) {
		return nil, fmt.Errorf("%d reentry facts in the taxonomy, want %d", len(m), len(FactCodes))
	}
	return m, rs.Err()
}

// TestGenerateBenchData generates (or finds cached) the benchmark directory
// of $SECONDCHANCE_BENCH_GENERATE services and prints its folder; the HTTP
// load test in cmd/secondchance runs it to share this generator. Skipped
// unless the variable is set.
func TestGenerateBenchData(t *testing.T) {
	v := os.Getenv("SECONDCHANCE_BENCH_GENERATE")
	if v == "" {
		t.Skip("set SECONDCHANCE_BENCH_GENERATE=10000 (or 100000) to generate benchmark data")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 100 {
		t.Fatalf("SECONDCHANCE_BENCH_GENERATE=%q: want a number of services, at least 100", v)
	}
	dir, info := ensureBenchData(t, n)
	if out := os.Getenv("SECONDCHANCE_BENCH_DIRFILE"); out != "" {
		if err := os.WriteFile(out, []byte(dir), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("benchmark data: %s (%+v)", dir, info)
}

// --- the load-test mix and query shapes ---

// queryMix is 50 realistic searches as /api/search query strings: plain
// words (English and Spanish, typed as people type), misspellings, filters,
// near a ZIP (with and without a radius, by relevance and by distance),
// category browsing, a second page, and one that finds nothing.
var queryMix = []string{
	"q=job",
	"q=jobs+for+felons",
	"q=need+a+job+felony",
	"q=place+to+stay+tonight",
	"q=shelter",
	"q=food+pantry",
	"q=free+meals",
	"q=birth+certificate",
	"q=state+id",
	"q=expungement",
	"q=lawyer",
	"q=ged+classes",
	"q=bus+pass",
	"q=rehab",
	"q=sober+living",
	"q=anger+management",
	"q=mentor",
	"q=work+clothes",
	"q=trabajo",
	"q=comida",
	"q=vivienda",
	"q=forklift+certification",
	"q=child+support",
	"q=mental+health+counseling",
	"q=emplyment",
	"q=housng",
	"q=expungment",
	"q=counceling",
	"q=transportaion",
	"q=identifcation",
	"q=job&category=employment&attribute=felony-ok",
	"q=shelter&attribute=women-only",
	"q=housing&attribute=sex-offense-ok&attribute=supervision-ok",
	"q=food&free=true&language=es",
	"q=classes&category=education&age=19",
	"q=tattoo+removal",
	"category=legal&attribute=felony-ok",
	"q=food+pantry&zip=64127&sort=distance",
	"q=job&zip=66102&radius_miles=10&sort=distance",
	"q=shelter&zip=64111&radius_miles=5",
	"q=clinic&zip=64050&sort=distance",
	"q=id&zip=66061&radius_miles=15",
	"category=housing&zip=64130&radius_miles=10&sort=distance",
	"q=expungement&zip=64106&radius_miles=10",
	"zip=64124&sort=distance",
	"q=mentoring&zip=64063&radius_miles=20&sort=distance",
	"category=housing",
	"category=employment",
	"category=id-documents&language=es",
	"q=job&page=2",
}

// benchShape is a named set of searches of one kind.
type benchShape struct {
	name    string
	queries []string
}

// benchShapes are the query shapes benchmarked one by one; facets are
// always on (the engine asks for three on every search).
var benchShapes = []benchShape{
	{"plain", []string{"q=job+training", "q=food+pantry", "q=birth+certificate", "q=sober+living", "q=bus+pass",
		"q=anger+management", "q=work+clothes", "q=legal+aid", "q=ged+classes", "q=mental+health"}},
	{"misspelling", []string{"q=emplyment", "q=housng", "q=expungment", "q=counceling", "q=transportaion",
		"q=identifcation", "q=mentring", "q=grocerys"}},
	{"filters", []string{"q=job&category=employment&attribute=felony-ok", "q=shelter&attribute=women-only",
		"q=housing&attribute=sex-offense-ok&attribute=supervision-ok", "q=food&free=true&language=es",
		"q=classes&category=education&age=19", "q=counseling&category=classes&attribute=walk-ins"}},
	{"distance", []string{"q=food+pantry&zip=64127&sort=distance", "q=job&zip=66102&sort=distance",
		"q=clinic&zip=64050&sort=distance", "q=shelter&zip=64111&sort=distance", "q=legal+aid&zip=64130&sort=distance",
		"q=mentor&zip=66212&sort=distance"}},
	{"distance-10mi", []string{"q=food+pantry&zip=64127&radius_miles=10&sort=distance", "q=job&zip=66102&radius_miles=10&sort=distance",
		"q=clinic&zip=64050&radius_miles=10&sort=distance", "q=shelter&zip=64111&radius_miles=10&sort=distance",
		"q=legal+aid&zip=64130&radius_miles=10&sort=distance", "q=mentor&zip=66212&radius_miles=10&sort=distance"}},
	{"browse", []string{"category=employment", "category=housing", "category=classes", "category=mentoring",
		"category=basic-needs", "category=id-documents", "category=legal", "category=health",
		"category=transportation", "category=education"}},
}

// shapesAndMix are benchShapes and the 50-query mix as one more shape.
func shapesAndMix() []benchShape {
	return append(slices.Clone(benchShapes), benchShape{"mix", queryMix})
}

// parseMix turns /api/search query strings into Queries exactly as the API
// reads them.
func parseMix(tb testing.TB, qs []string) []Query {
	tb.Helper()
	e := echo.New()
	out := make([]Query, len(qs))
	for i, s := range qs {
		c := e.NewContext(httptest.NewRequest("GET", "/api/search?"+s, nil), httptest.NewRecorder())
		q, err := ParseQuery(ParamsFrom(c))
		if err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
		out[i] = q
	}
	return out
}

// --- the generator ---

// genZIP is a metro ZIP code with its city; weight is how many services
// cluster there (the urban core has the most).
type genZIP struct {
	zip, city, state string
	weight           int
}

var genZIPs = []genZIP{
	{"64101", "Kansas City", "MO", 2}, {"64102", "Kansas City", "MO", 2}, {"64105", "Kansas City", "MO", 3},
	{"64106", "Kansas City", "MO", 4}, {"64108", "Kansas City", "MO", 4}, {"64109", "Kansas City", "MO", 4},
	{"64110", "Kansas City", "MO", 4}, {"64111", "Kansas City", "MO", 3}, {"64112", "Kansas City", "MO", 2},
	{"64113", "Kansas City", "MO", 1}, {"64114", "Kansas City", "MO", 2}, {"64116", "North Kansas City", "MO", 2},
	{"64117", "Kansas City", "MO", 2}, {"64118", "Gladstone", "MO", 2}, {"64119", "Kansas City", "MO", 1},
	{"64120", "Kansas City", "MO", 2}, {"64123", "Kansas City", "MO", 3}, {"64124", "Kansas City", "MO", 4},
	{"64125", "Kansas City", "MO", 2}, {"64126", "Kansas City", "MO", 3}, {"64127", "Kansas City", "MO", 5},
	{"64128", "Kansas City", "MO", 4}, {"64129", "Kansas City", "MO", 2}, {"64130", "Kansas City", "MO", 5},
	{"64131", "Kansas City", "MO", 2}, {"64132", "Kansas City", "MO", 3}, {"64133", "Raytown", "MO", 2},
	{"64134", "Kansas City", "MO", 3}, {"64136", "Kansas City", "MO", 1}, {"64137", "Kansas City", "MO", 1},
	{"64138", "Raytown", "MO", 1}, {"64145", "Kansas City", "MO", 1}, {"64146", "Kansas City", "MO", 1},
	{"64151", "Kansas City", "MO", 1}, {"64152", "Parkville", "MO", 1}, {"64154", "Kansas City", "MO", 1},
	{"64155", "Kansas City", "MO", 1}, {"64157", "Kansas City", "MO", 1}, {"64050", "Independence", "MO", 3},
	{"64052", "Independence", "MO", 2}, {"64053", "Independence", "MO", 2}, {"64054", "Independence", "MO", 1},
	{"64055", "Independence", "MO", 2}, {"64056", "Independence", "MO", 1}, {"64057", "Independence", "MO", 1},
	{"64058", "Independence", "MO", 1}, {"64063", "Lee's Summit", "MO", 1}, {"64064", "Lee's Summit", "MO", 1},
	{"64081", "Lee's Summit", "MO", 1}, {"64086", "Lee's Summit", "MO", 1}, {"64030", "Grandview", "MO", 2},
	{"64014", "Blue Springs", "MO", 1}, {"64015", "Blue Springs", "MO", 1}, {"64068", "Liberty", "MO", 1},
	{"64012", "Belton", "MO", 1}, {"66101", "Kansas City", "KS", 4}, {"66102", "Kansas City", "KS", 4},
	{"66103", "Kansas City", "KS", 2}, {"66104", "Kansas City", "KS", 3}, {"66105", "Kansas City", "KS", 2},
	{"66106", "Kansas City", "KS", 2}, {"66109", "Kansas City", "KS", 1}, {"66111", "Kansas City", "KS", 1},
	{"66112", "Kansas City", "KS", 1}, {"66061", "Olathe", "KS", 2}, {"66062", "Olathe", "KS", 2},
	{"66202", "Mission", "KS", 1}, {"66203", "Shawnee", "KS", 1}, {"66204", "Overland Park", "KS", 2},
	{"66210", "Overland Park", "KS", 1}, {"66212", "Overland Park", "KS", 2}, {"66214", "Overland Park", "KS", 1},
	{"66215", "Lenexa", "KS", 1}, {"66216", "Shawnee", "KS", 1}, {"66219", "Lenexa", "KS", 1},
	{"66206", "Leawood", "KS", 1}, {"66208", "Prairie Village", "KS", 1}, {"66012", "Bonner Springs", "KS", 1},
	{"66030", "Gardner", "KS", 1},
}

var (
	genStreets = []string{"Troost Ave", "Prospect Ave", "Independence Ave", "Truman Rd", "E 18th St", "Main St",
		"State Ave", "Minnesota Ave", "Blue Ridge Blvd", "Noland Rd", "Metcalf Ave", "Santa Fe St", "Broadway Blvd",
		"Linwood Blvd", "E 31st St", "Swope Pkwy", "Van Brunt Blvd", "Wornall Rd", "Westport Rd", "N Oak Trfy",
		"Parallel Pkwy", "Quindaro Blvd", "Central Ave", "Kansas Ave", "Shawnee Mission Pkwy", "E 63rd St",
		"Bannister Rd", "Red Bridge Rd", "Gregory Blvd", "E 12th St", "Grand Blvd", "Holmes Rd", "Raytown Rd",
		"Lee's Summit Rd", "Antioch Rd", "Vivion Rd", "Cleveland Ave", "Benton Blvd", "Paseo Blvd", "Leavenworth Rd"}
	genAreas = []string{"Northeast", "Westside", "Midtown", "Eastside", "Northland", "Southland", "Downtown",
		"Wyandotte", "Johnson County", "Eastern Jackson County", "Independence", "Raytown", "Grandview", "Argentine",
		"Rosedale", "Swope Park", "Ivanhoe", "Blue Valley", "Historic Northeast", "18th and Vine", "Troost Corridor",
		"Westport", "Crossroads", "Strawberry Hill", "Armourdale", "Quindaro", "Olathe", "Shawnee", "Heartland",
		"Metro", "Kaw River", "Missouri River", "Prospect", "Linwood", "Town Fork Creek", "Marlborough"}
	genSaints = []string{"St. Mark's", "St. James", "St. Paul's", "St. Mary's", "St. Luke's", "St. Vincent",
		"Good Samaritan", "Bethel", "Mount Zion", "New Hope", "Grace", "Trinity", "Cornerstone", "Harvest", "Shiloh"}
	genTrades = []string{"Warehouse", "Forklift", "Welding", "Construction", "Culinary", "CDL Truck Driving",
		"Landscaping", "Manufacturing", "Janitorial", "Roofing", "Auto Mechanic", "HVAC", "Electrical", "Plumbing",
		"Food Service", "Retail", "Customer Service", "Demolition", "Painting", "Recycling", "Meatpacking", "Hospitality"}
	genGroups = []string{"Men", "Women", "Veterans", "Young Adults", "Fathers", "Mothers", "Families",
		"Seniors", "Returning Citizens", "People on Probation", "Spanish Speakers"}
	genGeneric = []string{
		"We serve people coming home from prison or jail.",
		"People with criminal records are welcome.",
		"Open to adults returning from incarceration in the Kansas City area.",
		"Call ahead or walk in during open hours.",
		"Ask for a reentry navigator when you arrive.",
		"There is no waiting list right now.",
		"Referrals from parole and probation officers are welcome but not required.",
		"We can meet you at the bus stop if you are new to the area.",
	}
	genEligibility = []string{
		"Adults 18 and older coming home from prison or jail.",
		"Anyone in the Kansas City metro; no referral needed.",
		"People on probation or parole in Jackson County.",
		"Residents of Wyandotte County.",
		"People released within the last year.",
		"Low-income adults in Missouri or Kansas.",
		"Anyone who needs help; no questions asked.",
		"Adults with a criminal record who want to work.",
	}
	genApply = []string{
		"Call to make an appointment.",
		"Walk in during open hours.",
		"Ask your parole or probation officer for a referral.",
		"Apply online or by phone.",
		"Fill out an intake form at the front desk.",
		"Text us your name and we will call you back the same day.",
	}
	genDocs = []string{"Photo ID if you have one", "Release papers", "Proof of income", "Social Security card",
		"Proof of address", "Name of your parole or probation officer", "Birth certificate"}
	genSchedules = []struct{ byday, opens, closes, desc string }{
		{"MO,TU,WE,TH,FR", "09:00:00", "17:00:00", "Weekdays 9 to 5."},
		{"MO,TU,WE,TH,FR", "08:00:00", "16:30:00", "Weekdays 8 to 4:30."},
		{"MO,WE,FR", "10:00:00", "14:00:00", "Monday, Wednesday and Friday, 10 to 2."},
		{"TU,TH", "18:00:00", "20:00:00", "Tuesday and Thursday evenings."},
		{"SA", "09:00:00", "12:00:00", "Saturday mornings."},
		{"MO,TU,WE,TH,FR,SA,SU", "00:00:00", "23:59:59", "Open 24 hours."},
		{"MO,TU,WE,TH,FR", "11:30:00", "13:00:00", "Lunch, weekdays."},
		{"TU,WE,TH", "13:00:00", "19:00:00", "Tuesday to Thursday afternoons."},
	}
)

// genCategory is what services of one category say about themselves.
type genCategory struct {
	key       string
	weight    int
	orgNouns  []string
	names     []string // {trade} {area} {group} are filled in
	sentences []string
	namesES   []string
	sentES    []string
}

var genCategories = []genCategory{
	{key: "employment", weight: 18,
		orgNouns: []string{"Workforce Partners", "Staffing", "Job Readiness Center", "Trades Academy", "Employment Network", "Works"},
		names: []string{"{trade} Job Placement", "Fair-Chance {trade} Hiring", "{trade} Training Program", "{trade} Pre-Apprenticeship",
			"Resume and Interview Workshop", "{area} Job Club", "Temp-to-Hire {trade} Jobs", "Career Coaching for {group}",
			"Job Readiness Class", "{trade} Certification Class", "Day Labor Dispatch", "Transitional Jobs Program",
			"Second Chance Hiring Event", "Job Search Help for {group}"},
		sentences: []string{
			"We place people with records in {trade_l} jobs with employers who hire fairly.",
			"Staff help you write a resume, practice interviews and apply for jobs online.",
			"Paid on-the-job training in {trade_l} with a certificate at the end.",
			"Many of our employers hire people with felony convictions and look at the person, not just the record.",
			"Weekly job club with job leads, coffee and support from others looking for work.",
			"Temporary jobs that can lead to full-time work with benefits.",
			"Get help with work boots, tools, uniforms and bus fare for your first weeks on the job.",
			"We talk with employers about your skills and your second chance.",
			"Learn forklift driving, OSHA 10 and safety basics in a two-week class.",
			"Job coaches stay with you for the first 90 days of your new job.",
		},
		namesES: []string{"Empleo para personas con antecedentes", "Capacitación laboral", "Taller de currículum y entrevistas"},
		sentES: []string{"Ayuda para encontrar trabajo con empleadores que contratan a personas con antecedentes.",
			"Capacitación pagada y certificado al terminar.", "Le ayudamos con su currículum y a practicar entrevistas."},
	},
	{key: "housing", weight: 14,
		orgNouns: []string{"Housing Partners", "Reentry Housing", "Shelter Alliance", "Recovery Residences", "Rescue Mission", "Housing Bridge"},
		names: []string{"{area} Emergency Shelter", "Transitional House for {group}", "Sober Living Home", "Rapid Rehousing Program",
			"Rent and Deposit Help", "Supportive Housing for {group}", "Reentry Housing Program", "Overnight Warming Center",
			"Halfway House Beds", "Housing Search Help", "Recovery Residence", "Family Shelter"},
		sentences: []string{
			"Emergency shelter beds every night, first come first served.",
			"A safe, sober place to live for up to two years while you get back on your feet.",
			"Help paying the deposit and first month's rent for an apartment.",
			"Case managers help you search for housing that accepts people with records.",
			"Shared rooms in a transitional house with house meetings and a curfew.",
			"We accept people on probation or parole and work with your parole officer.",
			"Rapid rehousing pays part of your rent for up to six months.",
			"Beds for people coming home from prison who have nowhere to stay.",
			"Hot showers, laundry, lockers and a mailing address.",
			"Landlord liaisons help people with evictions or records find an apartment.",
		},
		namesES: []string{"Albergue de emergencia", "Vivienda de transición", "Ayuda con la renta y el depósito"},
		sentES: []string{"Camas de albergue todas las noches.", "Un lugar seguro y sobrio para vivir mientras se recupera.",
			"Ayuda para pagar el depósito y la primera renta."},
	},
	{key: "basic-needs", weight: 14,
		orgNouns: []string{"Food Pantry", "Community Pantry", "Open Table", "Clothing Closet", "Community Kitchen", "Mission"},
		names: []string{"{area} Food Pantry", "Community Grocery Pantry", "Free Hot Meals", "Clothing Closet", "Work Clothes Closet",
			"Hygiene Kits and Showers", "Mobile Food Pantry", "Diaper and Baby Supplies", "Free Cell Phone Sign-Up",
			"SNAP Application Help", "Community Kitchen", "Utility Bill Help"},
		sentences: []string{
			"Free groceries once a month, with fresh produce on Thursdays.",
			"Hot meals served every day at noon, no questions asked.",
			"Free clothing, coats and shoes for adults and children.",
			"Interview clothes and work boots for people starting a new job.",
			"Showers, laundry and hygiene kits for people without a home.",
			"Help applying for SNAP food stamps and WIC.",
			"Get a free phone through the Lifeline program.",
			"Help paying gas, water and electric bills to avoid a shutoff.",
			"Emergency food boxes for families in crisis.",
			"Welcome home kits with toiletries, a backpack and a bus pass.",
		},
		namesES: []string{"Despensa de comida", "Comidas calientes gratis", "Ropa gratis"},
		sentES: []string{"Comida gratis una vez al mes.", "Comidas calientes todos los días al mediodía.",
			"Ropa, abrigos y zapatos gratis."},
	},
	{key: "health", weight: 10,
		orgNouns: []string{"Health Center", "Recovery Center", "Community Clinic", "Recovery Network", "Behavioral Health"},
		names: []string{"Community Health Clinic", "Outpatient Addiction Treatment", "Mental Health Counseling", "Peer Recovery Coaching",
			"Medication-Assisted Treatment", "Free Dental Clinic", "Health Insurance Sign-Up Help", "Detox and Withdrawal Care",
			"HIV and Hepatitis Testing", "Walk-In Mental Health Crisis Center", "Recovery Support Group", "Eye Exams and Glasses"},
		sentences: []string{
			"Primary care for adults with or without insurance, on a sliding scale.",
			"Outpatient treatment for alcohol and drug addiction, including medication.",
			"Counseling for depression, anxiety, trauma and anger.",
			"Peer recovery coaches who have been there help you stay sober.",
			"Help signing up for Medicaid (KanCare or MO HealthNet) and the marketplace.",
			"Free dental cleanings and extractions for adults.",
			"Medication for opioid use disorder such as buprenorphine and naltrexone.",
			"A crisis line and walk-in center open around the clock.",
			"AA and NA meetings on site every evening.",
			"Free testing for HIV, hepatitis C and sexually transmitted infections.",
		},
		namesES: []string{"Clínica de salud", "Tratamiento para adicciones", "Consejería de salud mental"},
		sentES: []string{"Atención médica con o sin seguro.", "Tratamiento para el alcohol y las drogas.",
			"Consejería para la depresión y la ansiedad."},
	},
	{key: "legal", weight: 8,
		orgNouns: []string{"Legal Clinic", "Record Relief Project", "Legal Aid", "Justice Center", "Law Project"},
		names: []string{"Expungement Clinic", "Record Sealing Help", "Legal Aid for Reentry", "Driver's License Reinstatement",
			"Child Support Modification Help", "Warrant and Fines Clinic", "Tenant Rights Legal Help", "Know Your Rights Workshop",
			"Free Legal Advice Line", "Municipal Court Help", "Voting Rights Restoration", "Pardon and Clemency Help"},
		sentences: []string{
			"Free lawyers help you find out if your record can be expunged in Missouri or Kansas.",
			"Help with old warrants, court fines and fees.",
			"Get your driver's license back after a suspension.",
			"Lawyers help parents lower child support owed while in prison.",
			"Legal advice on housing, employment and family law for people with records.",
			"Volunteer attorneys meet with you at a monthly clinic.",
			"Learn your rights when employers or landlords ask about your record.",
			"Help restoring your right to vote after a felony conviction.",
			"Phone advice from a lawyer, Monday through Friday.",
			"Help filling out court forms and preparing for a hearing.",
		},
		namesES: []string{"Ayuda legal gratis", "Clínica para borrar antecedentes", "Abogados para personas con antecedentes"},
		sentES: []string{"Abogados gratis para borrar sus antecedentes.", "Ayuda con multas y órdenes de arresto.",
			"Consejos legales por teléfono."},
	},
	{key: "education", weight: 9,
		orgNouns: []string{"Learning Center", "Adult Education", "College Bridge", "Literacy Council", "Digital Skills Lab"},
		names: []string{"GED Classes", "HiSET Test Prep", "Adult Basic Education", "English Classes (ESL)", "College Enrollment Help",
			"Financial Aid and FAFSA Help", "Computer Skills Class", "Adult Literacy Tutoring", "Community College Bridge Program",
			"Digital Skills Lab", "Math Refresher", "Typing and Microsoft Office Class"},
		sentences: []string{
			"Free classes to prepare for the GED or HiSET high school equivalency test.",
			"Learn to read and write with a one-on-one tutor.",
			"English as a second language classes, mornings and evenings.",
			"Help applying to community college and for financial aid.",
			"Learn to use a computer, email and a smartphone.",
			"Classes are small and teachers work at your pace.",
			"Pell grants are open again to people with records; we help you apply.",
			"Certificate programs that lead to jobs in months, not years.",
			"Free testing fees for students who finish the class.",
			"Study hall with tutors two evenings a week.",
		},
		namesES: []string{"Clases de GED", "Clases de inglés", "Ayuda para ir a la universidad"},
		sentES: []string{"Clases gratis para el examen GED.", "Clases de inglés por la mañana y por la noche.",
			"Ayuda para solicitar ayuda financiera."},
	},
	{key: "classes", weight: 8,
		orgNouns: []string{"Counseling Center", "Reentry Learning Collaborative", "Family Services", "Life Skills Institute"},
		names: []string{"Thinking for a Change Class", "Anger Management Class", "Cognitive Behavioral Therapy Group",
			"Moral Reconation Therapy", "Parenting Class for {group}", "Healthy Relationships Workshop",
			"Domestic Violence Intervention", "Life Skills Class", "Financial Literacy Class", "Trauma Recovery Group",
			"Victim Impact Class", "Relapse Prevention Class"},
		sentences: []string{
			"A cognitive behavioral class that helps you change how you think and act.",
			"Learn to handle anger and conflict without violence.",
			"Court-approved classes; we send completion letters to your parole or probation officer.",
			"Weekly parenting class for parents reconnecting with their children.",
			"Budgeting, banking and credit basics after release.",
			"Small groups led by trained facilitators over 12 weeks.",
			"Life skills: cooking, managing time and getting around the city.",
			"Counseling for individuals, couples and families.",
			"Classes meet in the evening so you can keep your job.",
			"Certificates count toward your supervision requirements.",
		},
		namesES: []string{"Clase de manejo de la ira", "Clase para padres", "Consejería familiar"},
		sentES: []string{"Aprenda a manejar el enojo sin violencia.", "Clases aprobadas por la corte.",
			"Consejería para personas y familias."},
	},
	{key: "mentoring", weight: 7,
		orgNouns: []string{"Mentors", "Mentoring Project", "Peer Network", "Circle", "Ministries"},
		names: []string{"One-on-One Reentry Mentoring", "Peer Support Circle for {group}", "Reentry Warmline", "Faith-Based Mentoring",
			"Youth Mentoring Program", "Mentoring for {group}", "Support Group for Families of the Incarcerated", "Life Coaching",
			"Circles of Support", "Fathers Mentoring Program", "Welcome Home Mentors", "Women's Support Group"},
		sentences: []string{
			"A mentor who has been through reentry meets with you every week.",
			"Peer support from people who have come home from prison.",
			"Call or text a peer any day to talk through what is hard.",
			"Mentors help you set goals and stick with them for a year.",
			"Support groups for families of people in prison.",
			"We start meeting with you before release and keep going after.",
			"Faith-based mentoring from local congregations; all faiths welcome.",
			"Coaching on goals, jobs, family and staying out of trouble.",
			"Monthly dinners with mentors and others who have come home.",
			"You are matched with a mentor within two weeks.",
		},
		namesES: []string{"Mentoría para el regreso", "Grupo de apoyo", "Línea de apoyo entre compañeros"},
		sentES: []string{"Un mentor se reúne con usted cada semana.", "Apoyo de personas que salieron de prisión.",
			"Llame o escriba a un compañero cualquier día."},
	},
	{key: "id-documents", weight: 5,
		orgNouns: []string{"ID Project", "Welcome Home Project", "Document Center"},
		names: []string{"Birth Certificate and State ID Help", "ID Fee Vouchers", "Social Security Card Help", "Driver's License Help",
			"Document Recovery Program", "ID Clinic", "Missouri State ID Help", "Kansas State ID Help", "Vital Records Help",
			"Paperwork Help Desk"},
		sentences: []string{
			"Help ordering a birth certificate and getting a state ID.",
			"We pay the fee for your ID or birth certificate.",
			"Help replacing a lost Social Security card.",
			"Bring your release papers; we can use them to start getting your ID.",
			"Walk-in ID clinic on the first Saturday of each month.",
			"Help gathering the documents the DMV asks for.",
			"We order birth certificates by mail from any state.",
			"Help with paperwork for benefits, housing and jobs.",
			"No photo ID needed to start.",
		},
		namesES: []string{"Ayuda con identificación", "Acta de nacimiento e identificación estatal"},
		sentES:  []string{"Ayuda para obtener su acta de nacimiento y su identificación.", "Pagamos el costo de su identificación."},
	},
	{key: "transportation", weight: 7,
		orgNouns: []string{"Rides", "Bike Shop", "Transit Partners", "Mobility Project"},
		names: []string{"Bus Passes", "Free Rides to Work", "Rides to Appointments", "Earn-a-Bike Program", "Gas Cards",
			"Car Repair Help", "Driver's Education for Adults", "Transit Route Help", "Rides to Probation Appointments",
			"Used Car Program"},
		sentences: []string{
			"Free 30-day bus passes for people starting work.",
			"Rides to job interviews, work and medical appointments.",
			"Earn a free bike by volunteering in our shop.",
			"Gas cards for people driving to work or treatment.",
			"Help with car repairs so you can keep your job.",
			"Learn the bus routes and plan your trips with a transit guide.",
			"Rides to probation and parole appointments.",
			"Low-cost used cars with small monthly payments.",
			"RideKC passes and streetcar information.",
			"Driving lessons and help getting your license back.",
		},
		namesES: []string{"Pases de autobús", "Transporte gratis al trabajo"},
		sentES:  []string{"Pases de autobús gratis por 30 días.", "Transporte a entrevistas, trabajo y citas médicas."},
	},
}

// generator makes the directory. The organizations are drawn first, each
// with a home category, a home part of town and one to three sites; a
// service belongs to one organization and is offered at one to three of its
// sites, so locations are shared as they are in real directories.
type generator struct {
	seed      uint64
	facts     map[string]string // fact code -> term id
	cats      []directory.Category
	catWeight int
	zipWeight int
	points    map[string]directory.Point
}

func newGenerator(seed uint64, facts map[string]string) *generator {
	g := &generator{seed: seed, facts: facts, points: map[string]directory.Point{}}
	for _, c := range genCategories {
		g.catWeight += c.weight
	}
	for _, z := range genZIPs {
		p, ok, err := directory.ZIPCentroid(z.zip)
		if err != nil || !ok {
			panic(fmt.Sprintf("generator: no centroid for ZIP %s", z.zip))
		}
		g.points[z.zip] = p
		g.zipWeight += z.weight
	}
	g.cats = directory.Categories()
	return g
}

func (g *generator) rng(kind uint64, n int) *rand.Rand {
	return rand.New(rand.NewPCG(g.seed^kind*0x9e3779b97f4a7c15, uint64(n)))
}

func (g *generator) category(r *rand.Rand) *genCategory {
	k := r.IntN(g.catWeight)
	for i := range genCategories {
		if k < genCategories[i].weight {
			return &genCategories[i]
		}
		k -= genCategories[i].weight
	}
	panic("unreachable")
}

func (g *generator) zip(r *rand.Rand) genZIP {
	k := r.IntN(g.zipWeight)
	for _, z := range genZIPs {
		if k < z.weight {
			return z
		}
		k -= z.weight
	}
	panic("unreachable")
}

func (g *generator) termIDs(key string) []string {
	for _, c := range g.cats {
		if c.Key == key {
			return c.TermIDs
		}
	}
	panic("generator: no category " + key)
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

type genOrg struct {
	id, name, desc, website, email string
	home                           *genCategory
	sites                          []map[string]any
}

func (g *generator) org(k int) *genOrg {
	r := g.rng(1, k)
	home := g.category(r)
	area := pick(r, genAreas)
	var name string
	switch r.IntN(3) {
	case 0:
		name = pick(r, genSaints) + " " + pick(r, home.orgNouns)
	default:
		name = area + " " + pick(r, home.orgNouns)
	}
	slug := strings.ToLower(strings.NewReplacer(" ", "", "'", "", ".", "").Replace(name))
	o := &genOrg{
		id: genID("organization", k), name: name, home: home,
		desc: fmt.Sprintf("%s serves %s and the wider Kansas City metro, and has worked with people coming home from prison since %d.",
			name, area, 1975+r.IntN(48)),
		website: fmt.Sprintf("https://%s%d.example.org", slug, k),
		email:   fmt.Sprintf("info@%s%d.example.org", slug, k),
	}
	homeZIP := g.zip(r)
	for j := range 1 + r.IntN(3) {
		z := homeZIP
		if j > 0 && r.IntN(3) > 0 {
			z = g.zip(r)
		}
		p := g.points[z.zip]
		lat := p.Lat + (r.Float64()-0.5)*0.03
		lon := p.Lon + (r.Float64()-0.5)*0.04
		lid := genID("location", k*4+j)
		siteName := name
		if j > 0 {
			siteName = fmt.Sprintf("%s, %s site", name, z.city)
		}
		o.sites = append(o.sites, map[string]any{
			"id": lid, "location_type": "physical", "name": siteName, "organization_id": o.id,
			"latitude": math.Round(lat*1e5) / 1e5, "longitude": math.Round(lon*1e5) / 1e5,
			"addresses": []any{map[string]any{
				"id": genID("address", k*4+j), "address_1": fmt.Sprintf("%d %s", 100+r.IntN(9800), pick(r, genStreets)),
				"city": z.city, "state_province": z.state, "postal_code": z.zip, "country": "US", "address_type": "physical",
			}},
		})
	}
	return o
}

// fill replaces {trade}, {trade_l}, {area} and {group} in a template.
func fill(s string, trade, area, group string) string {
	return strings.NewReplacer("{trade}", trade, "{trade_l}", strings.ToLower(trade), "{area}", area, "{group}", group).Replace(s)
}

func (g *generator) service(i int, o *genOrg) map[string]any {
	r := g.rng(2, i)
	cat := o.home
	if r.IntN(100) >= 65 {
		cat = g.category(r)
	}
	trade, area, group := pick(r, genTrades), pick(r, genAreas), pick(r, genGroups)
	name := fill(pick(r, cat.names), trade, area, group)
	if r.IntN(4) == 0 {
		name = strings.SplitN(o.name, " ", 2)[0] + " " + name
	}
	var sent []string
	for _, k := range r.Perm(len(cat.sentences))[:2+r.IntN(3)] {
		sent = append(sent, fill(cat.sentences[k], trade, area, group))
	}
	if r.IntN(10) < 6 {
		sent = append(sent, pick(r, genGeneric))
	}
	spanish := r.IntN(4) == 0
	if spanish {
		sent = append(sent, "Staff speak English and Spanish.")
	}
	sid := genID("service", i)

	status := "active"
	switch x := r.IntN(100); {
	case x < 2:
		status = "temporarily closed"
	case x < 4:
		status = "inactive"
	case x < 5:
		status = "defunct"
	}
	// Reentry facts: most services take people with records; the rest
	// depend on what the service is and whom it serves.
	p := map[string]int{"felony-ok": 80, "supervision-ok": 65, "sex-offense-ok": 25, "no-photo-id": 25,
		"recently-released": 15, "fair-chance-employer": 0, "women-only": 2, "men-only": 2, "veterans": 4, "walk-ins": 30, "free": 70}
	switch cat.key {
	case "employment":
		p["fair-chance-employer"] = 40
	case "housing":
		p["women-only"], p["men-only"] = 10, 10
	case "basic-needs":
		p["no-photo-id"], p["walk-ins"], p["free"] = 50, 60, 95
	case "id-documents":
		p["no-photo-id"] = 70
	case "legal":
		p["free"] = 85
	}
	switch group {
	case "Women", "Mothers":
		if strings.Contains(name, group) {
			p["women-only"] = 100
		}
	case "Men", "Fathers":
		if strings.Contains(name, group) {
			p["men-only"] = 100
		}
	case "Veterans":
		if strings.Contains(name, group) {
			p["veterans"] = 100
		}
	}
	if p["women-only"] == 100 {
		p["men-only"] = 0
	}
	var attrs []any
	terms := g.termIDs(cat.key)
	for n, k := range r.Perm(len(terms))[:1+r.IntN(2)] {
		attrs = append(attrs, map[string]any{"id": genID(fmt.Sprintf("attribute-c%d", n), i), "taxonomy_term_id": terms[k],
			"link_type": "category", "link_entity": "service"})
	}
	if r.IntN(4) == 0 { // a second category
		c2 := g.category(r)
		if c2.key != cat.key {
			t2 := g.termIDs(c2.key)
			attrs = append(attrs, map[string]any{"id": genID("attribute-c9", i), "taxonomy_term_id": pick(r, t2),
				"link_type": "category", "link_entity": "service"})
		}
	}
	free := false
	for _, code := range FactCodes {
		if r.IntN(100) >= p[code] {
			continue
		}
		if code == "free" {
			free = true
		}
		a := map[string]any{"id": genID("attribute-"+code, i), "taxonomy_term_id": g.facts[code],
			"link_type": "reentry", "link_entity": "service", "value": "true"}
		if code == "recently-released" {
			a["value"] = pick(r, []string{"90", "180", "365"})
		}
		attrs = append(attrs, a)
	}
	fees := "Free."
	if !free {
		fees = pick(r, []string{"Sliding scale based on income.", "$10 a class; fees can be waived.", "Ask about costs when you call."})
	}

	langs := []any{map[string]any{"id": genID("language-en", i), "name": "English", "code": "en"}}
	if spanish {
		langs = append(langs, map[string]any{"id": genID("language-es", i), "name": "Spanish", "code": "es"})
	}
	for _, l := range []struct{ code, name string }{{"vi", "Vietnamese"}, {"so", "Somali"}, {"ar", "Arabic"}} {
		if r.IntN(50) == 0 {
			langs = append(langs, map[string]any{"id": genID("language-"+l.code, i), "name": l.name, "code": l.code})
		}
	}

	phones := []any{map[string]any{"id": genID("phone1", i), "number": fmt.Sprintf("(816) 555-%04d", r.IntN(10000)), "type": "voice",
		"description": "Main line."}}
	if r.IntN(3) == 0 {
		phones = append(phones, map[string]any{"id": genID("phone2", i), "number": fmt.Sprintf("(913) 555-%04d", r.IntN(10000)), "type": "text"})
	}
	schedule := func(kind string, n int) map[string]any {
		s := pick(r, genSchedules)
		return map[string]any{"id": genID(kind, n), "freq": "WEEKLY", "byday": s.byday, "opens_at": s.opens, "closes_at": s.closes,
			"description": s.desc}
	}
	var schedules []any
	perPlace := false
	switch x := r.IntN(100); {
	case x < 12: // hours unknown
	case x < 20:
		perPlace = true
	default:
		schedules = append(schedules, schedule("schedule1", i))
		if r.IntN(5) == 0 {
			schedules = append(schedules, schedule("schedule2", i))
		}
	}

	svc := map[string]any{
		"id": sid, "name": name, "description": strings.Join(sent, " "), "status": status,
		"eligibility_description": pick(r, genEligibility),
		"application_process":     pick(r, genApply),
		"fees_description":        fees,
		"assured_date":            fmt.Sprintf("2026-0%d-%02d", 1+r.IntN(3), 1+r.IntN(28)),
		"last_modified":           fmt.Sprintf("2026-0%d-%02dT12:00:00.000Z", 1+r.IntN(3), 1+r.IntN(28)),
		"organization":            map[string]any{"id": o.id, "name": o.name, "description": o.desc, "website": o.website, "email": o.email},
		"phones":                  phones,
		"schedules":               schedules,
		"languages":               langs,
		"attributes":              attrs,
	}
	if r.IntN(5) == 0 {
		svc["alternate_name"] = fmt.Sprintf("%s %s", area, strings.Fields(name)[len(strings.Fields(name))-1])
	}
	switch x := r.IntN(100); {
	case x < 20:
		svc["minimum_age"] = 18
	case x < 25:
		svc["minimum_age"], svc["maximum_age"] = 16, 24
	}
	if r.IntN(10) < 3 {
		var docs []any
		for n, k := range r.Perm(len(genDocs))[:1+r.IntN(2)] {
			docs = append(docs, map[string]any{"id": genID(fmt.Sprintf("document%d", n), i), "document": genDocs[k]})
		}
		svc["required_documents"] = docs
	}
	if spanish && r.IntN(10) < 6 {
		svc["name_es"] = pick(r, cat.namesES)
		svc["description_es"] = strings.Join([]string{pick(r, cat.sentES), pick(r, cat.sentES)}, " ")
	}
	// Where: at one to three of the organization's sites; a few are by
	// phone or online only.
	if r.IntN(25) > 0 {
		var sals []any
		for n, k := range r.Perm(len(o.sites))[:1+r.IntN(len(o.sites))] {
			loc := o.sites[k]
			sal := map[string]any{"id": genID(fmt.Sprintf("sal%d", n), i), "service_id": sid, "location_id": loc["id"], "location": loc}
			if perPlace {
				sal["schedules"] = []any{schedule(fmt.Sprintf("sal-schedule%d", n), i)}
			}
			sals = append(sals, sal)
		}
		svc["service_at_locations"] = sals
	} else if perPlace {
		svc["schedules"] = []any{schedule("schedule1", i)}
	}
	return svc
}

// write writes n services as NDJSON.
func (g *generator) write(w io.Writer, n int) (benchInfo, error) {
	enc := json.NewEncoder(w)
	info := benchInfo{Services: n}
	var o *genOrg
	left := 0
	for i := range n {
		if left == 0 {
			o = g.org(info.Organizations)
			info.Organizations++
			info.Locations += len(o.sites)
			// ~10 services an organization, from 1 to 19.
			left = 1 + g.rng(3, info.Organizations).IntN(19)
		}
		left--
		if err := enc.Encode(g.service(i, o)); err != nil {
			return info, err
		}
	}
	return info, nil
}

// --- shared by the benchmarks ---

// benchSet is a generated directory opened for benchmarks: its database,
// store and an engine serving its index. One per size per process.
type benchSet struct {
	n      int
	dir    string
	info   benchInfo
	db     *db.DB
	store  *directory.Store
	engine *Engine
}

var (
	benchSetsMu sync.Mutex
	benchSets   = map[int]*benchSet{}
)

// openBench returns the generated directory of n services, opened (and
// generated first when not cached). It stays open for the process.
func openBench(tb testing.TB, n int) *benchSet {
	tb.Helper()
	benchSetsMu.Lock()
	defer benchSetsMu.Unlock()
	if s := benchSets[n]; s != nil {
		return s
	}
	dir, info := ensureBenchData(tb, n)
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(dir, "secondchance.db"))
	if err != nil {
		tb.Fatal(err)
	}
	store := directory.NewStore(d)
	e, err := New(Options{Dir: filepath.Join(dir, "index"), Store: store, Location: chicago(tb), Slots: Slots, Logger: benchLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	// SECONDCHANCE_BENCH_PARTS=N searches in N parts whatever the size
	// (1: one walk), to compare with the engine's own choice.
	if v := os.Getenv("SECONDCHANCE_BENCH_PARTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			tb.Fatalf("SECONDCHANCE_BENCH_PARTS=%q: want a whole number of parts, 1 or more", v)
		}
		e.opt.partDocs, e.opt.maxParts = 1, n
	}
	if _, err := e.Lock(); err != nil {
		tb.Fatalf("%v (run the benchmarks of one package at a time: go test -p 1)", err)
	}
	if rebuild, why := e.open(ctx); rebuild {
		tb.Fatalf("cached index %s cannot be used (%s); delete %s", e.opt.Dir, why, dir)
	}
	e.state.Store("")
	s := &benchSet{n: n, dir: dir, info: info, db: d, store: store, engine: e}
	benchSets[n] = s
	return s
}
