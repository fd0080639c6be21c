package search

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/directory"
	"github.com/secondchancekc/secondchance/internal/server"
)

// apiFixture is the demo directory, its index and the real HTTP server
// (internal/server with its error handler) serving /api/search and /hsds.
type apiFixture struct {
	env *testEnv
	eng *Engine
	srv *httptest.Server
	now time.Time
}

// fixedNow is the clock of the API tests: Tuesday at 10:40 in Kansas City,
// within the week from today that Slots indexes (earlier today when today
// is Tuesday after 10:40), so "open now" is the same whenever the tests
// run. It was the next weekday, which made "open now" differ from day to
// day: on Tuesdays and Thursdays a class held at two places is open at its
// second place only, which the test then got wrong.
func fixedNow(loc *time.Location) time.Time {
	n := time.Now().In(loc)
	return time.Date(n.Year(), n.Month(), n.Day()+(int(time.Tuesday)-int(n.Weekday())+7)%7, 10, 40, 0, 0, loc)
}

func newAPIFixture(t testing.TB) *apiFixture {
	t.Helper()
	v := newTestEnv(t)
	e := v.builtEngine(t)
	now := fixedNow(v.loc)
	e.now = func() time.Time { return now }
	v.store.OnChange = e.Notify
	v.store.SearchIDs = e.ServiceIDs
	srv := server.New(server.Config{Listen: "127.0.0.1:0", BaseURL: "http://secondchance.test", Logger: quietLog})
	RegisterAPI(srv.Echo, e)
	directory.RegisterAPI(srv.Echo.Group("/hsds"), v.store, "http://secondchance.test")
	hs := httptest.NewServer(srv.Echo)
	t.Cleanup(hs.Close)
	return &apiFixture{env: v, eng: e, srv: hs, now: now}
}

// get fetches path and returns the status, the headers and the body.
func (f *apiFixture) get(t testing.TB, path string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// search asks /api/search and decodes a 200 answer.
func (f *apiFixture) search(t testing.TB, params url.Values) Response {
	t.Helper()
	status, _, body := f.get(t, "/api/search?"+params.Encode())
	if status != http.StatusOK {
		t.Fatalf("/api/search?%s: %d %s", params.Encode(), status, body)
	}
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// all walks every page of a search and returns the cards in order,
// failing on a duplicate or a total that is wrong on some page.
//
// Near a point (zip, lat and lon) the index holds one document per place
// and the total is only corrected for the duplicates on the pages fetched
// (docs/search.md, "The document grain"): it may count a service with two
// places in range twice, and shrink on later pages. There the check is that
// it never undercounts; elsewhere it must be exact on every page.
func (f *apiFixture) all(t testing.TB, params url.Values, perPage int) []Card {
	t.Helper()
	near := params.Get("zip") != "" || params.Get("lat") != ""
	var out []Card
	seen := map[string]int{}
	total := -1
	var totals []int
	for page := 1; page <= 100; page++ {
		p := url.Values{}
		for k, v := range params {
			p[k] = v
		}
		p.Set("page", fmt.Sprint(page))
		p.Set("per_page", fmt.Sprint(perPage))
		r := f.search(t, p)
		totals = append(totals, r.Total)
		if total == -1 || near {
			total = r.Total
		} else if r.Total != total {
			t.Errorf("%s: total is %d on page 1 and %d on page %d", params.Encode(), total, r.Total, page)
		}
		for _, c := range r.Results {
			if prev, dup := seen[c.ID]; dup {
				t.Errorf("%s: %s (%s) is on page %d and again on page %d", params.Encode(), c.ID, c.Name, prev, page)
			}
			seen[c.ID] = page
			out = append(out, c)
		}
		if len(r.Results) < perPage {
			switch {
			case !near && len(out) != total:
				t.Errorf("%s: %d results over %d pages, but total says %d", params.Encode(), len(out), page, total)
			case near && slices.Min(totals) < len(out):
				t.Errorf("%s: %d results over %d pages, but the totals were %v", params.Encode(), len(out), page, totals)
			case near && slices.Max(totals) != len(out):
				t.Logf("%s per_page=%d: %d services; totals by page (places, not services: docs/search.md) %v", params.Encode(), perPage, len(out), totals)
			}
			return out
		}
	}
	t.Fatalf("%s: more than 100 pages", params.Encode())
	return nil
}

// count runs the search that params ask for on the engine (no cards) and
// returns the first page's total and the number of services on all pages.
func (f *apiFixture) count(t testing.TB, params url.Values) (total, services int) {
	t.Helper()
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/api/search?"+params.Encode(), nil), httptest.NewRecorder())
	q, err := ParseQuery(ParamsFrom(c))
	if err != nil {
		t.Fatal(err)
	}
	q.PerPage = 50
	seen := map[string]bool{}
	for q.Page = 1; ; q.Page++ {
		res := find(t, f.eng, q)
		if q.Page == 1 {
			total = res.Total
		}
		for _, h := range res.Hits {
			seen[h.ServiceID] = true
		}
		if len(res.Hits) < q.PerPage {
			return total, len(seen)
		}
	}
}

func cardIDs(cs []Card) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	sort.Strings(out)
	return out
}

// sqlIDs returns the live services (as the index holds them) that match
// cond, sorted.
func sqlIDs(t testing.TB, v *testEnv, cond string, args ...any) []string {
	t.Helper()
	return queryIDs(t, v.db, `SELECT s.id FROM service s WHERE s.status IN ('active','temporarily closed') AND (`+cond+`) ORDER BY s.id`, args...)
}

const hasFact = `EXISTS (SELECT 1 FROM attribute a JOIN taxonomy_term tt ON tt.id = a.taxonomy_term_id
	WHERE a.link_id = s.id AND tt.taxonomy_id = '` + directory.ReentryTaxonomyID + `' AND tt.code = ?)`

// openAt returns those of ids open at the time by their hours, as /hsds
// serves them: open at one of their places (the service's hours with the
// place's own), or, for a service offered at no place, by any of them.
func (f *apiFixture) openAt(t testing.TB, ids []string, at time.Time) []string {
	t.Helper()
	out := []string{}
	for _, id := range ids {
		status, _, body := f.get(t, "/hsds/services/"+id)
		var svc struct {
			Schedules []map[string]any `json:"schedules"`
			Places    []struct {
				Schedules []map[string]any `json:"schedules"`
				Location  struct {
					Type string `json:"location_type"`
				} `json:"location"`
			} `json:"service_at_locations"`
		}
		if err := json.Unmarshal(body, &svc); status != http.StatusOK || err != nil {
			t.Fatalf("/hsds/services/%s: %d %v", id, status, err)
		}
		openWith := func(more []map[string]any) bool {
			h, _ := directory.ParseHours(append(slices.Clone(svc.Schedules), more...), f.env.loc)
			return h.OpenAt(at)
		}
		var all []map[string]any
		placed, open := false, false
		for _, p := range svc.Places {
			all = append(all, p.Schedules...)
			if p.Location.Type != "virtual" {
				placed = true
				open = open || openWith(p.Schedules)
			}
		}
		if !placed {
			open = openWith(all)
		}
		if open {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// TestAPI checks /api/search, served by the real server (internal/server
// with its error handler), against the database, and /hsds/services?search=
// through the engine.
func TestAPI(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	t.Run("bad parameters", func(t *testing.T) { testAPIRejectsBadParameters(t, f) })
	t.Run("search", func(t *testing.T) { testAPISearch(t, f) })
}

// testAPIRejectsBadParameters: each bad parameter is a 400 whose message
// names it.
func testAPIRejectsBadParameters(t *testing.T, f *apiFixture) {
	for _, tc := range []struct {
		Name, URL string
		Contains  []string
	}{
		{"q too long", "?q=" + strings.Repeat("a", 201), []string{"parameter q", "201", "200"}},
		{"q too long in runes", "?q=" + url.QueryEscape(strings.Repeat("é", 201)), []string{"parameter q"}},
		{"zip unknown", "?zip=99999", []string{"parameter zip", "we don't know ZIP code 99999"}},
		{"zip malformed", "?zip=6410", []string{"parameter zip", "5-digit"}},
		{"zip letters", "?zip=abcde", []string{"parameter zip"}},
		{"zip and point", "?zip=64106&lat=39.1&lon=-94.5", []string{"parameter zip"}},
		{"lat without lon", "?lat=39.1", []string{"parameter lon"}},
		{"lon without lat", "?lon=-94.5", []string{"parameter lat"}},
		{"lat out of range", "?lat=91&lon=-94.5", []string{"parameter lat"}},
		{"lon not a number", "?lat=39&lon=west", []string{"parameter lon"}},
		{"radius without point", "?radius_miles=5", []string{"parameter radius_miles", "zip"}},
		{"radius too small", "?zip=64106&radius_miles=0", []string{"parameter radius_miles"}},
		{"radius too large", "?zip=64106&radius_miles=5000", []string{"parameter radius_miles"}},
		{"radius with a unit", "?zip=64106&radius_miles=5km", []string{"parameter radius_miles", "5km"}},
		{"category unknown", "?category=spaceships", []string{"parameter category", "spaceships", "employment"}},
		{"attribute unknown", "?attribute=felony", []string{"parameter attribute", "felony-ok"}},
		{"language long", "?language=spanish", []string{"parameter language"}},
		{"language digits", "?language=e5", []string{"parameter language"}},
		{"open_now", "?open_now=maybe", []string{"parameter open_now"}},
		{"free", "?free=perhaps", []string{"parameter free"}},
		{"age zero", "?age=0", []string{"parameter age"}},
		{"age too old", "?age=121", []string{"parameter age"}},
		{"age words", "?age=twenty", []string{"parameter age"}},
		{"age fraction", "?age=20.5", []string{"parameter age"}},
		{"page zero", "?page=0", []string{"parameter page"}},
		{"page words", "?page=two", []string{"parameter page"}},
		{"page too far", "?page=1001", []string{"parameter page"}},
		{"per_page zero", "?per_page=0", []string{"parameter per_page"}},
		{"per_page too many", "?per_page=51", []string{"parameter per_page"}},
		{"sort distance without point", "?sort=distance", []string{"parameter sort", "zip"}},
		{"sort other", "?zip=64106&sort=name", []string{"parameter sort", "relevance or distance"}},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			status, h, body := f.get(t, "/api/search"+tc.URL)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", status, body)
			}
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("not a JSON error: %s", body)
			}
			if e.Error.Code != "invalid" {
				t.Errorf("code %q, want invalid", e.Error.Code)
			}
			for _, want := range tc.Contains {
				if !strings.Contains(e.Error.Message, want) {
					t.Errorf("message %q does not contain %q", e.Error.Message, want)
				}
			}
			if cc := h.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
		})
	}
}

// testAPISearch checks the answers of /api/search against the database.
func testAPISearch(t *testing.T, f *apiFixture) {
	v := f.env

	t.Run("response basics", func(t *testing.T) {
		status, h, body := f.get(t, "/api/search?q=job")
		if status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
		if cc := h.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		var raw map[string]any
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"took_ms", "total", "page", "per_page", "fallback", "results", "facets"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("no %q in the answer", k)
			}
		}
		if ms, ok := raw["took_ms"].(float64); !ok || ms < 0 {
			t.Errorf("took_ms = %v", raw["took_ms"])
		}
		if raw["fallback"] != false {
			t.Errorf("fallback = %v with a built index", raw["fallback"])
		}
		if raw["page"] != 1.0 || raw["per_page"] != 10.0 {
			t.Errorf("page %v per_page %v, want 1 and 10 by default", raw["page"], raw["per_page"])
		}
	})

	t.Run("zip and radius", func(t *testing.T) {
		const zip, radius = "64127", 5.0
		pt, _, _ := directory.ZIPCentroid(zip)
		cards := f.all(t, vals("zip", zip, "radius_miles", fmt.Sprint(radius)), 10)
		got := map[string]Card{}
		for _, c := range cards {
			got[c.ID] = c
			switch {
			case c.Remote && c.DistanceMiles != nil:
				t.Errorf("%s is remote but has a distance %v", c.Name, *c.DistanceMiles)
			case !c.Remote && c.DistanceMiles == nil:
				t.Errorf("%s has a place but no distance", c.Name)
			case !c.Remote && *c.DistanceMiles > radius+0.05:
				t.Errorf("%s is %.1f miles away, outside %g", c.Name, *c.DistanceMiles, radius)
			}
		}
		// What the database says: near if some place is clearly inside,
		// remote if the service has no place on the map.
		rs, err := v.db.Read.Query(`SELECT s.id, l.location_type, l.latitude, l.longitude FROM service s
			LEFT JOIN service_at_location sal ON sal.service_id = s.id LEFT JOIN location l ON l.id = sal.location_id
			WHERE s.status IN ('active','temporarily closed')`)
		if err != nil {
			t.Fatal(err)
		}
		nearest := map[string]float64{}
		for rs.Next() {
			var id string
			var ltype *string
			var lat, lon *float64
			if err := rs.Scan(&id, &ltype, &lat, &lon); err != nil {
				t.Fatal(err)
			}
			if _, ok := nearest[id]; !ok {
				nearest[id] = -1 // remote until a place is seen
			}
			if lat != nil && lon != nil && (ltype == nil || *ltype != "virtual") {
				d := directory.Miles(pt, directory.Point{Lat: *lat, Lon: *lon})
				if nearest[id] < 0 || d < nearest[id] {
					nearest[id] = d
				}
			}
		}
		rs.Close()
		inside, remote := 0, 0
		for id, d := range nearest {
			_, found := got[id]
			switch {
			case d < 0:
				remote++
				if !found {
					t.Errorf("remote service %s is missing", id)
				}
			case d < radius-0.1:
				inside++
				if !found {
					t.Errorf("service %s at %.2f miles is missing", id, d)
				}
			case d > radius+0.1 && found:
				t.Errorf("service %s at %.2f miles is found", id, d)
			}
		}
		if inside < 3 || remote == 0 {
			t.Fatalf("the demo data should have services inside %g miles of %s (%d) and remote ones (%d)", radius, zip, inside, remote)
		}
	})

	t.Run("sort by distance", func(t *testing.T) {
		cards := f.all(t, vals("zip", "64111", "sort", "distance"), 10)
		last := -1.0
		sawRemote := false
		for _, c := range cards {
			if c.Status == "temporarily closed" {
				continue // closed services sort last whatever their distance
			}
			if c.DistanceMiles == nil {
				sawRemote = true
				continue
			}
			if sawRemote {
				t.Errorf("%s (%.1f mi) comes after a service with no distance", c.Name, *c.DistanceMiles)
			}
			if *c.DistanceMiles < last {
				t.Errorf("%s is %.1f miles away, after one %.1f miles away", c.Name, *c.DistanceMiles, last)
			}
			last = *c.DistanceMiles
		}
		for i, c := range cards {
			if c.Status == "temporarily closed" {
				for _, d := range cards[i+1:] {
					if d.Status != "temporarily closed" {
						t.Errorf("open %s after temporarily closed %s", d.Name, c.Name)
					}
				}
				break
			}
		}
	})

	t.Run("category includes child terms", func(t *testing.T) {
		var work string
		if err := v.db.Read.QueryRow(`SELECT id FROM taxonomy_term WHERE code = '110' AND taxonomy_id = ?`, directory.OpenEligibilityTaxonomyID).Scan(&work); err != nil {
			t.Fatal(err)
		}
		want := sqlIDs(t, v, `EXISTS (SELECT 1 FROM attribute a WHERE a.link_id = s.id AND a.taxonomy_term_id IN (
			WITH RECURSIVE sub(id) AS (SELECT ? UNION SELECT t.id FROM taxonomy_term t JOIN sub ON t.parent_id = sub.id) SELECT id FROM sub))`, work)
		if !slices.Contains(want, svcForklift) {
			t.Fatal("the forklift class (tagged only with a grandchild of Work) should be under Work")
		}
		if got := cardIDs(f.all(t, vals("category", work), 50)); !slices.Equal(got, want) {
			t.Errorf("category=<Work term>:\n got %v\nwant %v", got, want)
		}
		emp := cardIDs(f.all(t, vals("category", "employment"), 50))
		if !slices.Contains(emp, svcForklift) {
			t.Errorf("category=employment misses the forklift class: %v", emp)
		}
	})

	t.Run("attributes AND together", func(t *testing.T) {
		for _, attrs := range [][]string{{"felony-ok"}, {"felony-ok", "women-only"}, {"walk-ins", "no-photo-id", "free"}} {
			p := url.Values{"attribute": attrs}
			cond := []string{}
			var args []any
			for _, a := range attrs {
				cond = append(cond, hasFact)
				args = append(args, a)
			}
			want := sqlIDs(t, v, strings.Join(cond, " AND "), args...)
			cards := f.all(t, p, 50)
			if got := cardIDs(cards); !slices.Equal(got, want) {
				t.Errorf("attribute=%v:\n got %v\nwant %v", attrs, got, want)
			}
			for _, c := range cards {
				for _, a := range attrs {
					if !slices.ContainsFunc(c.Attributes, func(cf CardFact) bool { return cf.Code == a }) {
						t.Errorf("%s has no %s on its card", c.Name, a)
					}
				}
			}
		}
	})

	t.Run("language", func(t *testing.T) {
		cards := f.all(t, vals("language", "es"), 50)
		want := sqlIDs(t, v, `EXISTS (SELECT 1 FROM language l WHERE l.service_id = s.id AND (l.code LIKE 'es%' OR l.name IN ('Spanish','Español')))`)
		if got := cardIDs(cards); !slices.Equal(got, want) || len(want) == 0 {
			t.Errorf("language=es:\n got %v\nwant %v", got, want)
		}
		for _, c := range cards {
			if !slices.Contains(c.Languages, "es") {
				t.Errorf("%s does not list Spanish: %v", c.Name, c.Languages)
			}
		}
	})

	t.Run("free", func(t *testing.T) {
		want := sqlIDs(t, v, hasFact, "free")
		if got := cardIDs(f.all(t, vals("free", "true"), 50)); !slices.Equal(got, want) {
			t.Errorf("free=true:\n got %v\nwant %v", got, want)
		}
		if r := f.search(t, vals("free", "false", "per_page", "1")); r.Total != len(liveServices(t, v.db)) {
			t.Errorf("free=false filters: total %d", r.Total)
		}
	})

	t.Run("age", func(t *testing.T) {
		for _, age := range []int{13, 16, 17, 40} {
			want := sqlIDs(t, v, `COALESCE(s.minimum_age, 0) <= ? AND COALESCE(s.maximum_age, 200) >= ?`, age, age)
			if got := cardIDs(f.all(t, vals("age", fmt.Sprint(age)), 50)); !slices.Equal(got, want) {
				t.Errorf("age=%d:\n got %v\nwant %v", age, got, want)
			}
		}
	})

	t.Run("open now", func(t *testing.T) {
		// A service is open now when it is open at one of its places
		// (docs/search.md), which the cards of a search without open_now,
		// showing its first place, do not say: read from its hours.
		everything := f.all(t, url.Values{}, 50)
		want := f.openAt(t, cardIDs(everything), f.now)
		if len(want) == 0 {
			t.Fatalf("no demo service is open at %s", f.now)
		}
		elsewhere := 0
		for _, c := range everything {
			if c.OpenNow != nil && *c.OpenNow && !slices.Contains(want, c.ID) {
				t.Errorf("%s: its card says open at %s, its hours say closed", c.Name, f.now)
			}
			if (c.OpenNow == nil || !*c.OpenNow) && slices.Contains(want, c.ID) {
				elsewhere++
			}
		}
		// The data must exercise what is compared.
		if elsewhere == 0 {
			t.Errorf("no demo service is open at %s at another place than its first only", f.now)
		}
		cards := f.all(t, vals("open_now", "true"), 50)
		for _, c := range cards {
			if c.OpenNow == nil || !*c.OpenNow {
				t.Errorf("%s is found by open_now=true but its card says open_now=%v", c.Name, c.OpenNow)
			}
		}
		if got := cardIDs(cards); !slices.Equal(got, want) {
			t.Errorf("open_now=true at %s:\n got %v\nwant (open by their hours) %v", f.now, got, want)
		}
	})

	t.Run("facets match filtered searches", func(t *testing.T) {
		for _, base := range []url.Values{vals(), vals("q", "help"), vals("zip", "64127", "radius_miles", "30")} {
			r := f.search(t, base)
			for key, param := range map[string]string{"category": "category", "attribute": "attribute", "language": "language"} {
				list, ok := r.Facets[key]
				if !ok || len(list) == 0 {
					t.Errorf("%s: no %s facet", base.Encode(), key)
					continue
				}
				if base.Get("zip") != "" {
					list = list[:min(len(list), 3)] // each check walks every page
				}
				for _, fl := range list {
					if fl.Label == "" || (key == "attribute" && fl.Label == fl.Value) {
						t.Errorf("%s: facet %s=%s has no label but its code (%q)", base.Encode(), key, fl.Value, fl.Label)
					}
					p := url.Values{}
					for k, vv := range base {
						p[k] = vv
					}
					p.Set(param, fl.Value)
					total, n := f.count(t, p)
					if base.Get("zip") == "" {
						if total != fl.Count || n != fl.Count {
							t.Errorf("%s: facet %s=%s counts %d, but searching with it finds %d (total %d)", base.Encode(), key, fl.Value, fl.Count, n, total)
						}
						continue
					}
					// Near a point facets count places (docs/search.md):
					// never fewer than the services the filter finds.
					if fl.Count < n {
						t.Errorf("%s: facet %s=%s counts %d, but searching with it finds %d services", base.Encode(), key, fl.Value, fl.Count, n)
					} else if fl.Count != n {
						t.Logf("%s: facet %s=%s counts %d places of %d services", base.Encode(), key, fl.Value, fl.Count, n)
					}
				}
			}
		}
	})

	t.Run("pagination", func(t *testing.T) {
		live := liveServices(t, v.db)
		if got := cardIDs(f.all(t, url.Values{}, 7)); !slices.Equal(got, live) {
			t.Errorf("all pages of everything: %d services, want %d", len(got), len(live))
		}
		// Near a point a service is indexed once per place; it must still
		// appear once, and the total count services.
		for _, tc := range []struct {
			p   url.Values
			per int
		}{
			{vals("zip", "64106"), 4},
			{vals("zip", "64106", "radius_miles", "40"), 10},
			{vals("zip", "66102", "sort", "distance"), 7},
			{vals("zip", "64108", "q", "job"), 3},
		} {
			cards := f.all(t, tc.p, tc.per)
			if tc.p.Get("radius_miles") == "" && tc.p.Get("q") == "" && !slices.Equal(cardIDs(cards), live) {
				t.Errorf("%s per_page=%d: %d services, want all %d", tc.p.Encode(), tc.per, len(cards), len(live))
			}
		}
		// Pages of a relevance search come in the same order as one big page.
		one := f.search(t, vals("q", "job", "per_page", "50"))
		var paged []string
		for _, c := range f.all(t, vals("q", "job"), 4) {
			paged = append(paged, c.ID)
		}
		var whole []string
		for _, c := range one.Results {
			whole = append(whole, c.ID)
		}
		if !slices.Equal(paged, whole) {
			t.Errorf("q=job by pages of 4:\n%v\nin one page:\n%v", paged, whole)
		}
	})

	t.Run("unmet search is recorded without personal data", func(t *testing.T) {
		var before int
		v.db.Read.QueryRow(`SELECT COUNT(*) FROM unmet_search`).Scan(&before)
		r := f.search(t, vals("q", "hovercraft repair", "zip", "64127", "radius_miles", "3", "language", "es", "attribute", "veterans", "free", "true"))
		if r.Total != 0 {
			t.Fatalf("found %d", r.Total)
		}
		rs, err := v.db.Read.Query(`SELECT * FROM unmet_search ORDER BY id DESC LIMIT 1`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rs.Columns()
		if !slices.Equal(cols, []string{"id", "searched_at", "channel", "query", "filters"}) {
			t.Errorf("unmet_search columns %v: nothing about the person may be kept", cols)
		}
		if !rs.Next() {
			t.Fatal("no unmet search recorded")
		}
		var id int
		var at, channel, query, filters string
		if err := rs.Scan(&id, &at, &channel, &query, &filters); err != nil {
			t.Fatal(err)
		}
		rs.Close()
		if query != "hovercraft repair" || channel != "api" {
			t.Errorf("recorded query %q channel %q", query, channel)
		}
		if ts, err := time.Parse(time.RFC3339, at); err != nil || !ts.Equal(f.now.Truncate(time.Second)) {
			t.Errorf("searched_at %q, want the engine's clock %s", at, f.now.UTC())
		}
		var fs map[string]any
		if err := json.Unmarshal([]byte(filters), &fs); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"near", "radius_miles", "language", "attribute", "free"} {
			if _, ok := fs[k]; !ok {
				t.Errorf("filters %s lack %s", filters, k)
			}
		}
		near, _ := fs["near"].(map[string]any)
		for _, k := range []string{"lat", "lon"} {
			x, _ := near[k].(float64)
			if x == 0 || math.Abs(x*100-math.Round(x*100)) > 1e-6 {
				t.Errorf("near.%s = %v: the point must be kept to about a kilometre at most", k, near[k])
			}
		}
		var after int
		v.db.Read.QueryRow(`SELECT COUNT(*) FROM unmet_search`).Scan(&after)
		if after != before+1 {
			t.Errorf("%d unmet searches recorded, want 1", after-before)
		}
		// A search that finds something is not recorded.
		f.search(t, vals("q", "job"))
		v.db.Read.QueryRow(`SELECT COUNT(*) FROM unmet_search`).Scan(&after)
		if after != before+1 {
			t.Errorf("a search with results was recorded as unmet")
		}
	})

	t.Run("HSDS search uses the engine", func(t *testing.T) {
		status, _, body := f.get(t, "/hsds/services?search=emplyment&per_page=50")
		if status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
		var page struct {
			TotalItems int `json:"total_items"`
			Contents   []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"contents"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		ranked, err := f.eng.ServiceIDs(context.Background(), "emplyment")
		if err != nil {
			t.Fatal(err)
		}
		if len(ranked) == 0 || page.TotalItems != len(ranked) {
			t.Fatalf("HSDS search=emplyment: %d items, the engine finds %d", page.TotalItems, len(ranked))
		}
		var got []string
		for _, c := range page.Contents {
			got = append(got, c.ID)
		}
		if !slices.Equal(got, ranked) {
			t.Errorf("HSDS order %v\nengine order %v", got, ranked)
		}
		employment := sqlIDs(t, v, `EXISTS (SELECT 1 FROM attribute a WHERE a.link_id = s.id AND a.taxonomy_term_id IN (SELECT value FROM json_each(?)))`, catTermsJSON("employment"))
		if !slices.Contains(employment, got[0]) {
			t.Errorf("the first result for emplyment, %s, is not an employment service", page.Contents[0].Name)
		}
		n := 0
		for _, id := range got {
			if slices.Contains(employment, id) {
				n++
			}
		}
		if n < 5 {
			t.Errorf("emplyment finds only %d employment services: %v", n, page.Contents)
		}
	})
}

func catTermsJSON(key string) string {
	c, _ := directory.CategoryByKey(key)
	b, _ := json.Marshal(c.TermIDs)
	return string(b)
}

// TestFallbackWithoutIndex: an engine that never built its index answers
// from SQL, says so, and honours the filters it can.
func TestFallbackWithoutIndex(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	e := v.engine(t, nil) // never built
	if ok, note := e.Status(); ok || note == "" {
		t.Errorf("Status of an engine with no index = %v, %q", ok, note)
	}
	res := find(t, e, Query{Text: "job"})
	if !res.Fallback {
		t.Fatal("not a fallback answer")
	}
	jobs := hitIDs(res)
	for _, want := range []string{svcWeeklyJobClub, svcFairChanceTemp, svcSecondChanceJobs} {
		if !slices.Contains(jobs, want) {
			t.Errorf("job (fallback) misses %s: %v", want, jobs)
		}
	}
	if res.Total != len(jobs) {
		t.Errorf("total %d, hits %d", res.Total, len(jobs))
	}

	var work string
	if err := v.db.Read.QueryRow(`SELECT id FROM taxonomy_term WHERE code = '110' AND taxonomy_id = ?`, directory.OpenEligibilityTaxonomyID).Scan(&work); err != nil {
		t.Fatal(err)
	}
	built := v.builtEngine(t)
	for _, cat := range []string{"employment", work} {
		got := hitIDs(find(t, e, Query{Categories: []string{cat}, PerPage: 100}))
		if !slices.Contains(got, svcForklift) {
			t.Errorf("category %s (fallback) misses the forklift class, tagged with a grandchild term: %v", cat, got)
		}
		want := hitIDs(find(t, built, Query{Categories: []string{cat}, PerPage: 100}))
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("category %s: the fallback finds\n%v\nthe index finds\n%v", cat, got, want)
		}
	}

	// The other filters a person sets: the same services as the index.
	for _, q := range []Query{{Language: "es"}, {Language: "en"}, {Age: 16}, {Age: 17, Language: "es"}} {
		q.PerPage = 100
		got, want := hitIDs(find(t, e, q)), hitIDs(find(t, built, q))
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%+v: the fallback finds\n%v\nthe index finds\n%v", q, got, want)
		}
	}
	spanishJobs := hitIDs(find(t, e, Query{Text: "job", Language: "es", Age: 30}))
	spanish := hitIDs(find(t, built, Query{Language: "es", Age: 30, PerPage: 100}))
	if len(spanishJobs) == 0 {
		t.Error("job in Spanish for a 30-year-old finds nothing in the fallback")
	}
	for _, id := range spanishJobs {
		if !slices.Contains(spanish, id) {
			t.Errorf("job in Spanish for a 30-year-old: the fallback finds %s, which the filters exclude", id)
		}
	}

	withFacts := hitIDs(find(t, e, Query{Text: "job", Facts: []string{"walk-ins"}, Free: true}))
	want := sqlIDs(t, v, hasFact+" AND "+hasFact, "walk-ins", "free")
	if len(withFacts) == 0 {
		t.Error("job + walk-ins + free finds nothing in the fallback")
	}
	for _, id := range withFacts {
		if !slices.Contains(want, id) {
			t.Errorf("fallback job + walk-ins + free finds %s, which lacks one", id)
		}
	}
	if res := find(t, e, Query{Text: "job", Facts: []string{"women-only", "men-only"}}); res.Total != 0 {
		t.Errorf("women-only AND men-only finds %d", res.Total)
	}
	// Paging through the fallback.
	all := hitIDs(find(t, e, Query{PerPage: 100}))
	var paged []string
	for p := 1; ; p++ {
		r := find(t, e, Query{Page: p, PerPage: 7})
		paged = append(paged, hitIDs(r)...)
		if len(r.Hits) < 7 {
			break
		}
	}
	if !slices.Equal(all, paged) || len(all) != len(liveServices(t, v.db)) {
		t.Errorf("fallback pages %d services, one page %d, live %d", len(paged), len(all), len(liveServices(t, v.db)))
	}
}

// TestFallbackNearPoint: while the index is missing, a search near a ZIP
// code keeps the radius (the hotline asks within 10 miles first), ranks
// nearest first and names the nearest place, as the index does.
func TestFallbackNearPoint(t *testing.T) {
	t.Parallel()
	v := newTestEnv(t)
	e := v.engine(t, nil) // never built
	built := v.builtEngine(t)
	point := func(salID string) (lat, lon float64, ok bool) {
		err := v.db.Read.QueryRow(`SELECT l.latitude, l.longitude FROM service_at_location sal JOIN location l ON l.id = sal.location_id
			WHERE sal.id = ? AND l.latitude IS NOT NULL`, salID).Scan(&lat, &lon)
		return lat, lon, err == nil
	}
	for _, p := range []Params{
		{ZIP: "64127", Radius: "10", Categories: []string{"employment"}, PerPage: "50"},
		{ZIP: "66102", Radius: "3", PerPage: "50"},
		{ZIP: "64127", Text: "job", Sort: "distance", PerPage: "50"},
	} {
		q, err := ParseQuery(p)
		if err != nil {
			t.Fatal(err)
		}
		res := find(t, e, q)
		if !res.Fallback {
			t.Fatal("not a fallback answer")
		}
		got, want := hitIDs(res), hitIDs(find(t, built, q))
		if p.Text == "" { // the fallback has no misspellings or synonyms in names only: compare browsing
			gs, ws := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
			if !slices.Equal(gs, ws) {
				t.Errorf("%+v: the fallback finds\n%v\nthe index finds\n%v", p, gs, ws)
			}
		}
		if len(got) == 0 || res.Total != len(got) {
			t.Errorf("%+v: %d hits, total %d", p, len(got), res.Total)
		}
		last, remote, closed := -1.0, false, false
		for _, h := range res.Hits {
			var status string
			if err := v.db.Read.QueryRow(`SELECT status FROM service WHERE id = ?`, h.ServiceID).Scan(&status); err != nil {
				t.Fatal(err)
			}
			if c := status == "temporarily closed"; c != closed { // closed rank last, in the same order
				if closed {
					t.Errorf("%+v: %s (open) after a temporarily closed one", p, h.ServiceID)
				}
				last, remote, closed = -1, false, c
			}
			lat, lon, ok := point(h.PlaceID)
			if !ok {
				remote = true // by phone or online: after every place
				continue
			}
			if remote {
				t.Errorf("%+v: %s (at a place) after a service with none", p, h.ServiceID)
			}
			d := directory.Miles(directory.Point{Lat: q.Lat, Lon: q.Lon}, directory.Point{Lat: lat, Lon: lon})
			if d < last-1e-9 {
				t.Errorf("%+v: %s at %.2f miles after one at %.2f", p, h.ServiceID, d, last)
			}
			if q.Radius > 0 && d > q.Radius {
				t.Errorf("%+v: %s at %.2f miles, outside the radius", p, h.ServiceID, d)
			}
			last = d
		}
	}
}

// A cached card keeps each place's opening hours apart: the hours at one
// place (its own schedules with the service's) are never those of another
// or of the service alone, however often and in whatever order asked.
func TestCardHoursPerPlace(t *testing.T) {
	t.Parallel()
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	weekly := func(day, opens, closes string) map[string]any {
		return map[string]any{"freq": "WEEKLY", "byday": day, "opens_at": opens, "closes_at": closes}
	}
	d := &cardData{
		svcSched: []map[string]any{weekly("MO", "09:00:00", "12:00:00")},
		salSched: map[string][]map[string]any{
			"a": {weekly("TU", "13:00:00", "17:00:00")},
			"b": {weekly("WE", "08:00:00", "10:00:00")},
		},
	}
	a, b := &cardPlace{salID: "a"}, &cardPlace{salID: "b"}
	monday10 := time.Date(2026, 11, 30, 10, 0, 0, 0, loc)
	tuesday14 := monday10.AddDate(0, 0, 1).Add(4 * time.Hour)
	wednesday9 := monday10.AddDate(0, 0, 2).Add(-time.Hour)
	for range 2 {
		for _, c := range []struct {
			p             *cardPlace
			mon, tue, wed bool
		}{{nil, true, false, false}, {a, true, true, false}, {b, true, false, true}, {a, true, true, false}} {
			h := d.hoursAt(c.p, loc)
			if h.OpenAt(monday10) != c.mon || h.OpenAt(tuesday14) != c.tue || h.OpenAt(wednesday9) != c.wed {
				t.Errorf("place %v: open Monday 10:00 %v, Tuesday 14:00 %v, Wednesday 9:00 %v; want %v %v %v", c.p,
					h.OpenAt(monday10), h.OpenAt(tuesday14), h.OpenAt(wednesday9), c.mon, c.tue, c.wed)
			}
		}
	}
}

// The snippet under a result: the text around the first word of the
// query, cut between words, the words marked (to the end of the word), the
// rest escaped; text whose lower case is shorter than itself (the Kelvin
// sign) no longer cuts out of bounds.
func TestSnippet(t *testing.T) {
	cases := []struct {
		text  string
		words []string
		want  string
	}{
		{"Jobs & <training> for felons.", []string{"job", "felon"}, "<mark>Jobs</mark> &amp; &lt;training&gt; for <mark>felons</mark>."},
		{"Help with rent.", []string{"food"}, ""},
		{"Ayuda con identificación y JOBS", []string{"jobs", "co"}, "Ayuda con identificación y <mark>JOBS</mark>"},
		{strings.Repeat("\u212a", 30) + " work boots", []string{"boots"}, "…work <mark>boots</mark>"},
		{strings.Repeat("word ", 60) + "housing help " + strings.Repeat("more ", 50), []string{"housing"},
			"…" + strings.Repeat("word ", 12) + "<mark>housing</mark> help " + strings.Repeat("more ", 24) + "more…"},
		{strings.Repeat("a", 100) + " jobs", []string{"jobs"}, "…<mark>jobs</mark>"}, // no half word first
	}
	for _, c := range cases {
		if got := snippet(c.text, c.words); got != c.want {
			t.Errorf("snippet(%.40q, %q):\n got %q\nwant %q", c.text, c.words, got, c.want)
		}
	}
}
