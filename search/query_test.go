package search

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/registry"
	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/data"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/logbuf"
	"github.com/secondchancekc/secondchance/templates"
)

// TestParseQuery: what each parameter becomes, and the defaults.
func TestParseQuery(t *testing.T) {
	t.Parallel()
	kc, ok, err := directory.ZIPCentroid("64127")
	if err != nil || !ok {
		t.Fatal("no centroid for 64127", err)
	}
	const work = "a713d350-7b69-5c80-a876-b07e6156bf18"
	for _, tc := range []struct {
		name string
		p    Params
		want Query
	}{
		{"defaults", Params{}, Query{Page: 1, PerPage: 10, Sort: "relevance"}},
		{"text is trimmed", Params{Text: "  job  "}, Query{Text: "job", Page: 1, PerPage: 10, Sort: "relevance"}},
		{"200 characters", Params{Text: strings.Repeat("a", 200)}, Query{Text: strings.Repeat("a", 200), Page: 1, PerPage: 10, Sort: "relevance"}},
		{"200 letters of two bytes", Params{Text: strings.Repeat("ñ", 200)}, Query{Text: strings.Repeat("ñ", 200), Page: 1, PerPage: 10, Sort: "relevance"}},
		{"zip", Params{ZIP: "64127"}, Query{Lat: kc.Lat, Lon: kc.Lon, HasPoint: true, Page: 1, PerPage: 10, Sort: "relevance"}},
		{"zip+4", Params{ZIP: "64127-1234"}, Query{Lat: kc.Lat, Lon: kc.Lon, HasPoint: true, Page: 1, PerPage: 10, Sort: "relevance"}},
		{"zip with spaces", Params{ZIP: " 64127 "}, Query{Lat: kc.Lat, Lon: kc.Lon, HasPoint: true, Page: 1, PerPage: 10, Sort: "relevance"}},
		{"point, radius, distance", Params{Lat: "39.1", Lon: "-94.5", Radius: "2.5", Sort: "distance"},
			Query{Lat: 39.1, Lon: -94.5, HasPoint: true, Radius: 2.5, Page: 1, PerPage: 10, Sort: "distance"}},
		{"categories by key and term", Params{Categories: []string{"employment", " " + work + " "}},
			Query{Categories: []string{"employment", work}, Page: 1, PerPage: 10, Sort: "relevance"}},
		{"attributes", Params{Attributes: []string{"felony-ok", "walk-ins"}},
			Query{Facts: []string{"felony-ok", "walk-ins"}, Page: 1, PerPage: 10, Sort: "relevance"}},
		{"language folded", Params{Language: "ES"}, Query{Language: "es", Page: 1, PerPage: 10, Sort: "relevance"}},
		{"booleans", Params{OpenNow: "yes", Free: "1"}, Query{OpenNow: true, Free: true, Page: 1, PerPage: 10, Sort: "relevance"}},
		{"false booleans", Params{OpenNow: "false", Free: "off"}, Query{Page: 1, PerPage: 10, Sort: "relevance"}},
		{"age and paging", Params{Age: "17", Page: "3", PerPage: "50", Sort: "relevance"}, Query{Age: 17, Page: 3, PerPage: 50, Sort: "relevance"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseQuery(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseQuery(%+v)\n got %+v\nwant %+v", tc.p, got, tc.want)
			}
		})
	}
}

// TestParseQueryErrors: every error is EINVALID and names its parameter
// (the HTTP side of each is in api_test.go).
func TestParseQueryErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p     Params
		param string
	}{
		{Params{Text: strings.Repeat("ñ", 201)}, "q"},
		{Params{ZIP: "99999"}, "zip"},
		{Params{ZIP: "6412"}, "zip"},
		{Params{ZIP: "64127-12"}, "zip"},
		{Params{ZIP: "64127", Lon: "-94"}, "zip"},
		{Params{Lat: "39"}, "lon"},
		{Params{Lat: "NaN", Lon: "-94"}, "lat"},
		{Params{Lat: "39", Lon: "Inf"}, "lon"},
		{Params{Lat: "39", Lon: "-94x"}, "lon"},
		{Params{Radius: "5"}, "radius_miles"},
		{Params{ZIP: "64127", Radius: "-1"}, "radius_miles"},
		{Params{Categories: []string{"a713d350-7b69-5c80-a876"}}, "category"},
		{Params{Attributes: []string{"felony-ok", "Free"}}, "attribute"},
		{Params{Language: "eng"}, "language"},
		{Params{OpenNow: "si"}, "open_now"},
		{Params{Free: "2"}, "free"},
		{Params{Age: "-1"}, "age"},
		{Params{Age: "1e2"}, "age"},
		{Params{Page: "1.5"}, "page"},
		{Params{PerPage: "+5"}, "per_page"},
		{Params{Sort: "distance"}, "sort"},
		{Params{Lat: "39", Lon: "-94", Sort: "nearest"}, "sort"},
	} {
		_, err := ParseQuery(tc.p)
		if apperr.Code(err) != apperr.EINVALID {
			t.Errorf("ParseQuery(%+v) = %v, want EINVALID", tc.p, err)
			continue
		}
		if msg := apperr.Message(err); !strings.HasPrefix(msg, "parameter "+tc.param+":") {
			t.Errorf("ParseQuery(%+v): %q does not name %s", tc.p, msg, tc.param)
		}
	}
}

// TestSlots: the opening spans of the week, one term per day and span,
// split at midnight, in wall-clock seconds.
func TestSlots(t *testing.T) {
	t.Parallel()
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		schedule map[string]any
		want     []string
	}{
		{"two days", map[string]any{"freq": "WEEKLY", "byday": "MO,WE", "opens_at": "09:00:00", "closes_at": "10:30:00"},
			[]string{"d1:32400-37800", "d3:32400-37800"}},
		{"quarter past", map[string]any{"freq": "WEEKLY", "byday": "TU", "opens_at": "08:45:00", "closes_at": "16:45:00"},
			[]string{"d2:31500-60300"}},
		{"overnight", map[string]any{"freq": "WEEKLY", "byday": "FR", "opens_at": "22:00:00", "closes_at": "02:00:00"},
			[]string{"d5:79200-86400", "d6:00000-07200"}},
	} {
		week := Slots([]map[string]any{tc.schedule}, chicago)
		slices.Sort(week)
		if !slices.Equal(week, tc.want) {
			t.Errorf("Slots(%s) = %v, want %v", tc.name, week, tc.want)
		}
		for _, term := range week {
			if _, _, _, ok := openSpan(term); !ok {
				t.Errorf("openSpan(%q) does not read it back", term)
			}
		}
	}
	if got := Slots(nil, chicago); got != nil {
		t.Errorf("Slots(no schedule) = %v, want none (hours unknown)", got)
	}
}

// TestSearchFilters checks filters on the engine directly, where the
// answers are easiest to state from the demo data.
func TestSearchFilters(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	e := v.builtEngine(t)
	kc, _, _ := directory.ZIPCentroid("64127")

	t.Run("radius keeps remote services", func(t *testing.T) {
		res := find(t, e, Query{HasPoint: true, Lat: kc.Lat, Lon: kc.Lon, Radius: 0.5, PerPage: 50})
		var remote, near int
		for _, h := range res.Hits {
			if h.PlaceID == "" {
				remote++
			} else {
				near++
			}
		}
		if remote == 0 {
			t.Error("services by phone or online are dropped by a radius")
		}
		want := sqlIDs(t, v, `NOT EXISTS (SELECT 1 FROM service_at_location sal JOIN location l ON l.id = sal.location_id
			WHERE sal.service_id = s.id AND l.location_type <> 'virtual' AND l.latitude IS NOT NULL AND l.longitude IS NOT NULL)`)
		if remote != len(want) {
			t.Errorf("%d remote services found, the database has %d", remote, len(want))
		}
	})

	t.Run("every place of a service can match", func(t *testing.T) {
		// The temp-to-hire service has places in 64108 and 66102: a small
		// radius around either finds it, at that place.
		rs, err := v.db.Read.Query(`SELECT sal.id, l.latitude, l.longitude FROM service_at_location sal JOIN location l ON l.id = sal.location_id WHERE sal.service_id = ?`, svcFairChanceTemp)
		if err != nil {
			t.Fatal(err)
		}
		type pl struct {
			id       string
			lat, lon float64
		}
		var pls []pl
		for rs.Next() {
			var p pl
			rs.Scan(&p.id, &p.lat, &p.lon)
			pls = append(pls, p)
		}
		rs.Close()
		if len(pls) != 2 {
			t.Fatalf("%d places", len(pls))
		}
		for _, p := range pls {
			res := find(t, e, Query{Text: "temp to hire", HasPoint: true, Lat: p.lat, Lon: p.lon, Radius: 0.5})
			i := slices.IndexFunc(res.Hits, func(h Hit) bool { return h.ServiceID == svcFairChanceTemp })
			if i < 0 {
				t.Errorf("not found within half a mile of its place %s", p.id)
				continue
			}
			if res.Hits[i].PlaceID != p.id {
				t.Errorf("found at place %s, want the nearby %s", res.Hits[i].PlaceID, p.id)
			}
		}
	})

	t.Run("age bounds are inclusive", func(t *testing.T) {
		// HiSET classes: minimum age 17.
		const hiset = "41054e1f-ae6c-5de3-ad92-0802c6b198a8"
		if ids := hitIDs(find(t, e, Query{Age: 17})); !slices.Contains(ids, hiset) {
			t.Error("age=17 misses a service whose minimum age is 17")
		}
		if ids := hitIDs(find(t, e, Query{Age: 16})); slices.Contains(ids, hiset) {
			t.Error("age=16 finds a service whose minimum age is 17")
		}
	})

	t.Run("temporarily closed sorts last", func(t *testing.T) {
		res := find(t, e, Query{Text: "job"})
		closed := false
		for _, h := range res.Hits {
			var status string
			v.db.Read.QueryRow(`SELECT status FROM service WHERE id = ?`, h.ServiceID).Scan(&status)
			if status == "temporarily closed" {
				closed = true
			} else if closed {
				t.Errorf("%s (%s) comes after a temporarily closed service", h.ServiceID, status)
			}
		}
		if !closed {
			t.Error("job should find the temporarily closed warehouse hiring")
		}
	})

	t.Run("inactive and defunct are never found", func(t *testing.T) {
		gone := sqlIDsAll(t, v, `status IN ('inactive', 'defunct')`)
		if len(gone) == 0 {
			t.Fatal("the demo data has inactive and defunct services")
		}
		for _, q := range []Query{{PerPage: 100}, {Text: "bike", PerPage: 100}, {Text: "record clearing", PerPage: 100}, {HasPoint: true, Lat: kc.Lat, Lon: kc.Lon, PerPage: 100}} {
			for _, id := range hitIDs(find(t, e, q)) {
				if slices.Contains(gone, id) {
					t.Errorf("%+v finds %s, which is inactive or defunct", q, id)
				}
			}
		}
	})
}

// sqlIDsAll returns the ids of services matching cond, whatever their
// status.
func sqlIDsAll(t testing.TB, v *testEnv, cond string, args ...any) []string {
	t.Helper()
	return queryIDs(t, v.db, `SELECT id FROM service WHERE `+cond+` ORDER BY id`, args...)
}

// TestOpenNowNeverShowsClosed: open_now=true must never list a place whose
// card says it is closed, also for hours that are not on the half hour.
func TestOpenNowNeverShowsClosed(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	e := v.builtEngine(t)
	svc := demoService(t, svcWeeklyJobClub)
	svc["name"] = "Weekly Gnu Club"
	svc["schedules"] = []any{map[string]any{"id": "5c0e6d52-0000-4000-8000-000000000001", "freq": "WEEKLY",
		"byday": "MO,TU,WE,TH,FR,SA,SU", "opens_at": "08:45:00", "closes_at": "16:45:00"}}
	importServices(t, v.store, svc)
	if err := e.catchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	tomorrow := time.Now().In(v.loc).AddDate(0, 0, 1) // inside the week Slots indexed
	for _, tc := range []struct {
		hour, min int
		found     bool
	}{
		{8, 40, false}, // opens at 8:45
		{9, 10, true},
		{12, 0, true},
		{16, 50, false},
	} {
		at := time.Date(tomorrow.Year(), tomorrow.Month(), tomorrow.Day(), tc.hour, tc.min, 0, 0, v.loc)
		e.now = func() time.Time { return at }
		res, err := e.Answer(context.Background(), Query{Text: "gnu", OpenNow: true, Page: 1, PerPage: 10}, "test")
		if err != nil {
			t.Fatal(err)
		}
		if found := res.Total > 0; found != tc.found {
			t.Errorf("open_now at %02d:%02d for hours 8:45 to 16:45: found %v, want %v", tc.hour, tc.min, found, tc.found)
		}
		for _, c := range res.Results {
			if c.OpenNow == nil || !*c.OpenNow {
				t.Errorf("open_now at %02d:%02d lists %s, whose card says it is closed", tc.hour, tc.min, c.Name)
			}
		}
	}
}

// TestLanguageCodes: HSDS allows ISO 639-1 or ISO 639-3 codes ("es" or
// "spa"); both must be found by language=es, the only form the API takes.
func TestLanguageCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ code, name, want string }{
		{"es", "", "es"}, {"ES", "", "es"}, {"es-MX", "", "es"}, {"es_US", "", "es"},
		{"spa", "Spanish", "es"}, {"eng", "", "en"}, {"vie", "", "vi"}, {"som", "", "so"},
		{"ara", "", "ar"}, {"fra", "", "fr"}, {"fre", "", "fr"}, {"swa", "", "sw"},
		{"", "Spanish", "es"}, {"", "Español", "es"}, {"", "English", "en"},
		{"", "Klingon", ""},
	} {
		if got := languageCode(tc.code, tc.name); got != tc.want {
			t.Errorf("languageCode(%q, %q) = %q, want %q", tc.code, tc.name, got, tc.want)
		}
	}

	v := newTestEnv(t)
	e := v.builtEngine(t)
	svc := demoService(t, svcWeeklyJobClub)
	svc["languages"] = []any{
		map[string]any{"id": "5c0e6d52-0000-4000-8000-000000000002", "code": "eng", "name": "English"},
		map[string]any{"id": "5c0e6d52-0000-4000-8000-000000000003", "code": "spa", "name": "Spanish"},
	}
	importServices(t, v.store, svc)
	if err := e.catchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := e.Answer(context.Background(), Query{Language: "es", Page: 1, PerPage: 50}, "test")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(res.Results, func(c Card) bool { return c.ID == svcWeeklyJobClub })
	if i < 0 {
		t.Fatal(`language=es misses a service whose language code is "spa"`)
	}
	if langs := res.Results[i].Languages; !slices.Equal(langs, []string{"en", "es"}) {
		t.Errorf("card languages %v, want [en es]", langs)
	}
	for _, f := range res.Facets["language"] {
		if len(f.Value) != 2 {
			t.Errorf("language facet %q is not a two-letter code", f.Value)
		}
	}
}

// TestMisspellingFieldHasNoStopWords: the field misspelled words are
// matched against leaves out stop words, so that "fore" or "thee" do not
// match nearly every service through "for" and "the".
func TestMisspellingFieldHasNoStopWords(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	e := v.builtEngine(t)
	r := openReader(t, e.idx)
	defer r.Close()
	stop, err := en.TokenMapConstructor(nil, registry.NewCache())
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.FieldDict(fWords)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var terms int
	for de, err := d.Next(); de != nil || err != nil; de, err = d.Next() {
		if err != nil {
			t.Fatal(err)
		}
		terms++
		if stop[de.Term] {
			t.Errorf("stop word %q is in the misspelling field of %d services", de.Term, de.Count)
		}
	}
	if terms < 100 {
		t.Fatalf("the misspelling field has %d words; the demo data has hundreds", terms)
	}
	res := find(t, e, Query{Text: "fore", PerPage: 50})
	if res.Total > 10 {
		t.Errorf(`"fore" finds %d services`, res.Total)
	}
}

// TestDistanceAgreesWithMilesShown: a radius keeps exactly the services
// with a place within it as directory.Miles measures it (the distance a
// result shows), each is placed at its nearest place, and sorting by
// distance orders them by that distance.
func TestDistanceAgreesWithMilesShown(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	e := v.builtEngine(t)
	rs, err := v.db.Read.Query(`SELECT sal.service_id, sal.id, l.latitude, l.longitude, s.status FROM service_at_location sal
		JOIN location l ON l.id = sal.location_id JOIN service s ON s.id = sal.service_id
		WHERE l.location_type <> 'virtual' AND l.latitude IS NOT NULL AND l.longitude IS NOT NULL
		AND s.status NOT IN ('inactive', 'defunct')`)
	if err != nil {
		t.Fatal(err)
	}
	from, _, _ := directory.ZIPCentroid("64127")
	nearest := map[string]float64{}    // service -> miles to its nearest place
	placeMiles := map[string]float64{} // service_at_location -> miles
	closed := map[string]bool{}
	for rs.Next() {
		var sid, salID, status string
		var p directory.Point
		if err := rs.Scan(&sid, &salID, &p.Lat, &p.Lon, &status); err != nil {
			t.Fatal(err)
		}
		mi := directory.Miles(from, p)
		placeMiles[salID] = mi
		if d, ok := nearest[sid]; !ok || mi < d {
			nearest[sid] = mi
		}
		closed[sid] = status == "temporarily closed"
	}
	rs.Close()
	if len(nearest) < 20 {
		t.Fatalf("%d services with places in the demo data", len(nearest))
	}
	for _, radius := range []float64{1, 2.5, 4, 7, 15} {
		res := find(t, e, Query{HasPoint: true, Lat: from.Lat, Lon: from.Lon, Radius: radius, Sort: "distance", PerPage: 500})
		var want, got []string
		for sid, mi := range nearest {
			if mi <= radius {
				want = append(want, sid)
			}
		}
		last := -1.0
		for _, h := range res.Hits {
			if h.PlaceID == "" {
				continue // by phone or online: kept, without a distance
			}
			got = append(got, h.ServiceID)
			if mi := placeMiles[h.PlaceID]; math.Abs(mi-nearest[h.ServiceID]) > 1e-9 {
				t.Errorf("radius %g: %s shown at a place %.4f miles away, its nearest is %.4f", radius, h.ServiceID, mi, nearest[h.ServiceID])
			}
			if !closed[h.ServiceID] {
				if nearest[h.ServiceID] < last {
					t.Errorf("radius %g: %s (%.4f miles) after a service %.4f miles away", radius, h.ServiceID, nearest[h.ServiceID], last)
				}
				last = nearest[h.ServiceID]
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("radius %g miles: found %d services with a place, %d are within it: %v, want %v", radius, len(got), len(want), got, want)
		}
	}
}

// TestSynonymFileEdits: staff edit the synonym file and searches use it
// without a restart, phrases and their misspellings included; an edit
// that cannot be read is logged with its file and line and the last good
// list stays in use.
func TestSynonymFileEdits(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	v.copyIndex(t)
	path := filepath.Join(t.TempDir(), "synonyms.txt")
	base, err := data.FS.ReadFile("search/synonyms.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, base, 0o600); err != nil {
		t.Fatal(err)
	}
	var logged logbuf.Buffer
	e := v.engine(t, func(o *Options) {
		o.Synonyms = path
		o.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	})
	if rebuild, why := e.open(context.Background()); rebuild {
		t.Fatalf("the copied demo index is not usable: %s", why)
	}
	e.state.Store("")
	edit := func(text string, age time.Duration) {
		t.Helper()
		if err := os.WriteFile(path, append(slices.Clone(base), text...), 0o600); err != nil {
			t.Fatal(err)
		}
		when := time.Now().Add(-age) // a new modification time
		if err := os.Chtimes(path, when, when); err != nil {
			t.Fatal(err)
		}
		e.syn.mu.Lock()
		e.syn.checked = time.Time{} // as if the 10 s since the last look had passed
		e.syn.mu.Unlock()
	}
	mentoring := func(q string) int {
		t.Helper()
		res := find(t, e, Query{Text: q})
		n := 0
		for _, h := range res.Hits {
			var cat int
			v.db.Read.QueryRow(`SELECT COUNT(*) FROM attribute a JOIN taxonomy_term tt ON tt.id = a.taxonomy_term_id
				WHERE a.link_id = ? AND tt.name LIKE '%Mentor%'`, h.ServiceID).Scan(&cat)
			if cat > 0 {
				n++
			}
		}
		return n
	}
	if n := mentoring("padrino"); n != 0 {
		t.Fatalf(`"padrino" finds %d mentoring services before any edit`, n)
	}
	edit("\npadrino, padrino de recuperacion => mentoring, peer recovery; category:mentoring\n", time.Minute)
	if n := mentoring("padrino"); n < 2 {
		t.Errorf(`after the edit "padrino" finds %d mentoring services`, n)
	}
	if g := e.syn.analyze("un padrino de recuperasion", nil); len(g) != 1 || g[0].meant != "padrino de recuperacion" {
		t.Errorf("a misspelled phrase of the edit is read as %+v", g)
	}
	edit("\nthis line has no arrow\n", 2*time.Minute)
	if n := mentoring("padrino"); n < 2 {
		t.Errorf(`after a broken edit "padrino" finds %d mentoring services: the last good list is lost`, n)
	}
	if out := logged.String(); !strings.Contains(out, "synonyms.txt line") || !strings.Contains(out, `expected \"words => expansions\"`) {
		t.Errorf("the broken edit was not logged with its file and line:\n%s", out)
	}
	e.syn.analyze("jobs", nil) // looked at again: the same broken edit is not logged twice
	if n := strings.Count(logged.String(), "synonym file is not used"); n != 1 {
		t.Errorf("the broken edit was logged %d times", n)
	}
}

// TestNoAllField: documents carry no "_all" field (every query names its
// fields): the index's fields are the mapping's own.
func TestNoAllField(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	e := v.builtEngine(t)
	fields, err := e.idx.Fields()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(fields, "_all") || !slices.Contains(fields, fName) {
		t.Errorf("index fields %v: want the mapping's, without _all", fields)
	}
}

// TestKnownWordIsNotMisspelled: a word some listing has is searched as
// typed, not also as a misspelling of its neighbours ("kits" is not
// "kids"), while a word no listing has still finds its near spellings.
func TestKnownWordIsNotMisspelled(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	e := v.builtEngine(t)
	for _, w := range []string{"kits", "kids"} {
		res := find(t, e, Query{Text: w, PerPage: 50})
		if res.Total == 0 {
			t.Fatalf("%q finds nothing; the demo data has it", w)
		}
		stem := strings.TrimSuffix(w, "s")
		for _, h := range res.Hits {
			var text string
			if err := v.db.Read.QueryRow(`SELECT lower(s.name || ' ' || COALESCE(s.alternate_name,'') || ' ' || COALESCE(s.description,'') || ' ' ||
				COALESCE(s.eligibility_description,'') || ' ' || COALESCE(s.application_process,'') || ' ' || COALESCE(o.description,''))
				FROM service s LEFT JOIN organization o ON o.id = s.organization_id WHERE s.id = ?`, h.ServiceID).Scan(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text, stem) {
				t.Errorf("%q finds %s, which does not say %q (a near spelling)", w, h.ServiceID, stem)
			}
		}
	}
	if res := find(t, e, Query{Text: "kitts", PerPage: 50}); res.Total == 0 {
		t.Error(`"kitts" (no listing has it) finds nothing: near spellings are no longer searched`)
	}
}

// TestCrisisWords: words that say someone may be in danger (synonyms
// marked crisis) set Response.Crisis, in English, in Spanish and
// misspelled, and the results page then gives the 988 line first, with
// links to call and text it; other searches do not.
func TestCrisisWords(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	e := v.builtEngine(t)
	ctx := context.Background()
	for q, want := range map[string]bool{"i want to die": true, "suicidal": true, "quiero morir": true,
		"suicidel thoughts": true, "jobs": false, "mental health": false} {
		resp, err := e.Answer(ctx, Query{Text: q, Page: 1, PerPage: 10}, "web")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Crisis != want || e.Crisis(q) != want {
			t.Errorf("%q: crisis %v (Crisis() %v), want %v", q, resp.Crisis, e.Crisis(q), want)
		}
		if want && (len(resp.Results) == 0 || resp.Results[0].Name != "Counseling for Individuals and Families") {
			t.Errorf("%q: results %d, want counseling first", q, len(resp.Results))
		}
	}

	pages, err := templates.New(templates.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := echo.New()
	RegisterPages(srv, Pages{Engine: e, Pages: pages, Zone: v.loc})
	for u, want := range map[string]bool{"/search?q=I+want+to+die": true, "/search?q=jobs": false} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u, nil))
		body := rec.Body.String()
		has := strings.Contains(body, `href="tel:988"`) && strings.Contains(body, `href="sms:988"`) && strings.Contains(body, "988 Suicide &amp; Crisis Lifeline")
		if rec.Code != http.StatusOK || has != want {
			t.Errorf("%s: %d, crisis line shown %v, want %v", u, rec.Code, has, want)
		}
		if want && strings.Index(body, "988") > strings.Index(body, `id="results"`) {
			t.Errorf("%s: the crisis line comes after the results heading", u)
		}
	}
}
