package directory

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/secondchancekc/secondchance/data"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

const testBaseURL = "https://secondchance.example"

// Ids in testdata/service_full.json (the HSDS example) and
// testdata/schema/fixture.ndjson.
const (
	exService  = "ac148810-d857-441c-9679-408f346de14b"
	exOrg      = "d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610"
	exSAL      = "e94c9f38-1e8f-4564-91d4-d53501ab1765"
	exTaxonomy = "5c4d79d7-cc55-470e-9f1f-8cad074e4892"
	exTerm     = "3f7b145d-84af-42d7-8fae-eaca714b02b2"

	orgA = "0a000000-0000-4000-8000-000000000001" // Kansas City Reentry Works
	orgB = "0a000000-0000-4000-8000-000000000002" // Westside Housing Partners

	svc1 = "5e000000-0000-4000-8000-000000000001" // Job Readiness Workshop (A) at L1; job-training, felony-ok
	svc2 = "5e000000-0000-4000-8000-000000000002" // Fair-Chance Hiring Events (A) at L1 and L3; employment
	svc3 = "5e000000-0000-4000-8000-000000000003" // Transitional Housing (B) at L2; housing, felony-ok
	svc4 = "5e000000-0000-4000-8000-000000000004" // Rental Deposit Help (B), inactive, no location; housing

	sal1 = "5a100000-0000-4000-8000-000000000001" // svc1 at L1 (64127, 2.0 mi from 64106)
	sal2 = "5a100000-0000-4000-8000-000000000002" // svc2 at L1
	sal3 = "5a100000-0000-4000-8000-000000000003" // svc2 at L3 (64050, no coordinates, 8.6 mi from 64106)
	sal4 = "5a100000-0000-4000-8000-000000000004" // svc3 at L2 (66101-2810, 3.1 mi from 64106)

	taxCategories = "7a000000-0000-4000-8000-000000000001"
	taxFacts      = "7a000000-0000-4000-8000-000000000002"
	termEmploy    = "7e000000-0000-4000-8000-000000000001"
	termJobTrain  = "7e000000-0000-4000-8000-000000000002" // child of termEmploy
	termHousing   = "7e000000-0000-4000-8000-000000000003"
	termFelonyOK  = "7e000000-0000-4000-8000-000000000004"
)

// testErrorHandler stands in for the app-wide handler of internal/server:
// apperr codes to statuses, JSON {"error": {"code", "message"}}.
func testErrorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) { // the router's own 404 and 405
		code := "http"
		if he.Code == http.StatusNotFound {
			code = apperr.ENOTFOUND
		}
		c.JSON(he.Code, map[string]any{"error": map[string]string{"code": code, "message": http.StatusText(he.Code)}})
		return
	}
	status := map[string]int{apperr.EINVALID: http.StatusBadRequest, apperr.ENOTFOUND: http.StatusNotFound}[apperr.Code(err)]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	c.JSON(status, map[string]any{"error": map[string]string{"code": apperr.Code(err), "message": apperr.Message(err)}})
}

// newAPIServer serves the API of a fresh store into which the sources are
// imported.
func newAPIServer(t *testing.T, sources ...Source) *httptest.Server {
	t.Helper()
	s := newStore(t)
	for _, src := range sources {
		res, err := s.Import(context.Background(), src, ImportOptions{})
		if err != nil {
			for _, p := range res.Problems {
				t.Log(p)
			}
			t.Fatalf("import %s: %v", src.Name(), err)
		}
	}
	e := echo.New()
	e.HideBanner = true
	e.HTTPErrorHandler = testErrorHandler
	RegisterAPI(e.Group("/hsds"), s, testBaseURL)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

func fileSource(t *testing.T, path string) Source {
	t.Helper()
	src, err := OpenSource(path)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func fixtureServer(t *testing.T) *httptest.Server {
	return newAPIServer(t, fileSource(t, "testdata/service_full.json"), fileSource(t, "testdata/schema/fixture.ndjson"))
}

// --- schemas ---

var (
	schemaMu    sync.Mutex
	schemaCache = map[string]*jsonschema.Schema{}
)

// hsdsSchema compiles testdata/schema/<name>.json (the official HSDS 3.0
// schemas), once per test binary. Formats (uuid, email, uri, date-time) are
// asserted too.
func hsdsSchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if sch, ok := schemaCache[name]; ok {
		return sch
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	abs, err := filepath.Abs(filepath.Join("testdata", "schema", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	// The three big compiled schemas are stored gzipped (2-3.5 MB each raw).
	if gz, err := os.Open(abs + ".gz"); err == nil {
		zr, err := gzip.NewReader(gz)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(zr)
		gz.Close()
		if err != nil {
			t.Fatalf("schema %s: %v", name, err)
		}
		if err := c.AddResource(abs, doc); err != nil {
			t.Fatal(err)
		}
	}
	sch, err := c.Compile(abs)
	if err != nil {
		t.Fatalf("compile schema %s: %v", name, err)
	}
	schemaCache[name] = sch
	return sch
}

func validate(t *testing.T, schema string, doc []byte, what string) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("%s: not JSON: %v", what, err)
	}
	if err := hsdsSchema(t, schema).Validate(v); err != nil {
		t.Errorf("%s does not validate against %s.json: %v\n%s", what, schema, err, clipBody(doc))
	}
}

func clipBody(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}

// --- scenarios ---

// apiScenario is one request and what its answer must be.
type apiScenario struct {
	Name        string
	Method      string // GET when empty
	URL         string // path and query, e.g. /hsds/services?page=2
	Header      map[string]string
	Status      int
	Contains    []string
	NotContains []string
	// Schema validates a 200 answer: the body, each item of a page's
	// contents, or each line of NDJSON.
	Schema string
	// IDs, when not nil, are the ids of the page's items or NDJSON lines, in
	// order.
	IDs []string
	// Total, when not nil, is the page's total_items.
	Total *int
	Check func(t *testing.T, body []byte)
}

func n(i int) *int { return &i }

// listEndpoints answer pages.
var listEndpoints = []string{"services", "organizations", "service_at_locations", "taxonomies", "taxonomy_terms"}

func (sc apiScenario) run(t *testing.T, srv *httptest.Server) {
	t.Helper()
	method := sc.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, srv.URL+sc.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range sc.Header {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != sc.Status {
		t.Fatalf("status %d, want %d\n%s", resp.StatusCode, sc.Status, clipBody(body))
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin = %q, want *", got)
	}
	for _, s := range sc.Contains {
		if !bytes.Contains(body, []byte(s)) {
			t.Errorf("body does not contain %q\n%s", s, clipBody(body))
		}
	}
	for _, s := range sc.NotContains {
		if bytes.Contains(body, []byte(s)) {
			t.Errorf("body contains %q\n%s", s, clipBody(body))
		}
	}
	switch {
	case resp.StatusCode >= 400:
		checkErrorBody(t, resp, body, sc.Status)
	case resp.StatusCode == http.StatusOK:
		u, _ := url.Parse(sc.URL)
		endpoint := strings.TrimPrefix(u.Path, "/hsds/")
		switch {
		case strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-ndjson"):
			checkNDJSON(t, body, sc)
		case slices.Contains(listEndpoints, endpoint):
			checkPage(t, u.Query(), body, sc)
		default:
			if sc.Schema != "" {
				validate(t, sc.Schema, body, "body")
			}
		}
	}
	if sc.Check != nil {
		sc.Check(t, body)
	}
}

func checkErrorBody(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type = %q, want JSON", ct)
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error body is not {\"error\": {\"code\", \"message\"}}: %v\n%s", err, body)
	}
	want := map[int]string{400: apperr.EINVALID, 404: apperr.ENOTFOUND}[status]
	if want != "" && e.Error.Code != want {
		t.Errorf("error code %q, want %q", e.Error.Code, want)
	}
}

// checkPage checks the HSDS envelope, its arithmetic against the request's
// page and per_page, and every item.
func checkPage(t *testing.T, q url.Values, body []byte, sc apiScenario) {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("page is not a JSON object: %v", err)
	}
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"contents", "empty", "first_page", "last_page", "page_number", "size", "total_items", "total_pages"}; !slices.Equal(keys, want) {
		t.Fatalf("page keys %v, want %v", keys, want)
	}
	var p struct {
		TotalItems int               `json:"total_items"`
		TotalPages int               `json:"total_pages"`
		PageNumber int               `json:"page_number"`
		Size       int               `json:"size"`
		FirstPage  bool              `json:"first_page"`
		LastPage   bool              `json:"last_page"`
		Empty      bool              `json:"empty"`
		Contents   []json.RawMessage `json:"contents"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("page: %v", err)
	}
	if string(raw["contents"]) == "null" {
		t.Errorf("contents is null, want an array")
	}
	page, perPage := 1, 50
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	if v := q.Get("per_page"); v != "" {
		if perPage, _ = strconv.Atoi(v); perPage > 100 || perPage == 0 {
			perPage = 100
		}
	}
	wantSize := max(0, min(perPage, p.TotalItems-(page-1)*perPage))
	checks := []struct {
		name      string
		got, want any
	}{
		{"page_number", p.PageNumber, page},
		{"size", p.Size, len(p.Contents)},
		{"items on the page", len(p.Contents), wantSize},
		{"total_pages", p.TotalPages, int(math.Ceil(float64(p.TotalItems) / float64(perPage)))},
		{"first_page", p.FirstPage, page == 1},
		{"last_page", p.LastPage, page >= p.TotalPages},
		{"empty", p.Empty, len(p.Contents) == 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if sc.Total != nil && p.TotalItems != *sc.Total {
		t.Errorf("total_items = %d, want %d", p.TotalItems, *sc.Total)
	}
	checkItems(t, p.Contents, sc)
}

func checkNDJSON(t *testing.T, body []byte, sc apiScenario) {
	t.Helper()
	var lines []json.RawMessage
	sc2 := bufio.NewScanner(bytes.NewReader(body))
	sc2.Buffer(nil, 16<<20)
	for sc2.Scan() {
		if len(bytes.TrimSpace(sc2.Bytes())) == 0 {
			t.Errorf("blank line in NDJSON")
			continue
		}
		lines = append(lines, json.RawMessage(slices.Clone(sc2.Bytes())))
	}
	if err := sc2.Err(); err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 && body[len(body)-1] != '\n' {
		t.Errorf("NDJSON does not end with a newline")
	}
	checkItems(t, lines, sc)
}

func checkItems(t *testing.T, items []json.RawMessage, sc apiScenario) {
	t.Helper()
	var ids []string
	for i, it := range items {
		var head struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(it, &head); err != nil {
			t.Fatalf("item %d is not a JSON object: %v", i, err)
		}
		ids = append(ids, head.ID)
		if sc.Schema != "" {
			validate(t, sc.Schema, it, fmt.Sprintf("item %d (%s)", i, head.ID))
		}
	}
	if sc.IDs != nil && !slices.Equal(ids, sc.IDs) {
		t.Errorf("ids %v,\n want %v", ids, sc.IDs)
	}
}

func runScenarios(t *testing.T, srv *httptest.Server, scenarios []apiScenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) { sc.run(t, srv) })
	}
}

// jsonPath decodes body and follows keys and indexes, e.g. "contents", 0, "organization".
func jsonPath(t *testing.T, body []byte, path ...any) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[p]
		case int:
			a, ok := v.([]any)
			if !ok || p >= len(a) {
				return nil
			}
			v = a[p]
		}
	}
	return v
}

// --- tests ---

func TestAPIServices(t *testing.T) {
	srv := fixtureServer(t)
	all := []string{exService, svc1, svc2, svc3, svc4}
	runScenarios(t, srv, []apiScenario{
		{Name: "list", URL: "/hsds/services", Status: 200, Schema: "service_list", IDs: all, Total: n(5),
			Contains:    []string{`"organization":{"id":"` + orgA, `"program":{"id":"e7ec2e57`, `"name_es":"Taller de preparación para el empleo"`},
			NotContains: []string{`"service_at_locations"`, `"phones"`}},
		{Name: "first page of two", URL: "/hsds/services?per_page=2", Status: 200, Schema: "service_list", IDs: []string{exService, svc1}, Total: n(5)},
		{Name: "middle page", URL: "/hsds/services?per_page=2&page=2", Status: 200, Schema: "service_list", IDs: []string{svc2, svc3}},
		{Name: "last page", URL: "/hsds/services?per_page=2&page=3", Status: 200, Schema: "service_list", IDs: []string{svc4}},
		{Name: "page after the last is empty", URL: "/hsds/services?per_page=2&page=4", Status: 200, IDs: []string{}, Total: n(5),
			Contains: []string{`"contents":[]`, `"empty":true`}},
		{Name: "far page", URL: "/hsds/services?page=1000000000", Status: 200, IDs: []string{}},
		{Name: "per_page over the cap is served as 100", URL: "/hsds/services?per_page=500", Status: 200, IDs: all},
		{Name: "huge per_page is served as 100", URL: "/hsds/services?per_page=99999999999999999999999", Status: 200, IDs: all},
		{Name: "minimal", URL: "/hsds/services?minimal=true", Status: 200, Schema: "service_list", IDs: all,
			NotContains: []string{`"organization":`, `"program":`}},
		{Name: "minimal=0 is the default", URL: "/hsds/services?minimal=0", Status: 200, Contains: []string{`"organization":{`}},
		{Name: "full", URL: "/hsds/services?full=1&per_page=3", Status: 200, Schema: "service", IDs: []string{exService, svc1, svc2},
			Contains: []string{`"service_at_locations":[{`, `"taxonomy_detail":{`}},

		{Name: "search name", URL: "/hsds/services?search=workshop", Status: 200, Schema: "service_list", IDs: []string{svc1}},
		{Name: "search any case", URL: "/hsds/services?search=WORKSHOP", Status: 200, IDs: []string{svc1}},
		{Name: "search organization name", URL: "/hsds/services?search=westside", Status: 200, IDs: []string{svc3, svc4}},
		{Name: "search every word, alternate name", URL: "/hsds/services?search=deposit+assistance", Status: 200, IDs: []string{svc4}},
		{Name: "search words anywhere", URL: "/hsds/services?search=apartment+westside", Status: 200, IDs: []string{svc4}},
		{Name: "search description", URL: "/hsds/services?search=counselling", Status: 200, IDs: []string{exService}},
		{Name: "search no match", URL: "/hsds/services?search=astronaut", Status: 200, IDs: []string{}, Total: n(0)},
		{Name: "search wildcards are literal", URL: "/hsds/services?search=%25", Status: 200, IDs: []string{}},
		{Name: "search underscore is literal", URL: "/hsds/services?search=_", Status: 200, IDs: []string{}},
		{Name: "taxonomy_term_id", URL: "/hsds/services?taxonomy_term_id=" + termFelonyOK, Status: 200, Schema: "service_list", IDs: []string{svc1, svc3}},
		{Name: "taxonomy_term_id exact term only", URL: "/hsds/services?taxonomy_term_id=" + termEmploy, Status: 200, IDs: []string{svc2}},
		{Name: "taxonomy_term_id unknown", URL: "/hsds/services?taxonomy_term_id=nope", Status: 200, IDs: []string{}},
		{Name: "taxonomy_id", URL: "/hsds/services?taxonomy_id=" + taxFacts, Status: 200, IDs: []string{svc1, svc3}},
		{Name: "taxonomy_id with several terms", URL: "/hsds/services?taxonomy_id=" + taxCategories, Status: 200, IDs: []string{svc1, svc2, svc3, svc4}},
		{Name: "organization_id", URL: "/hsds/services?organization_id=" + orgB, Status: 200, IDs: []string{svc3, svc4}},
		{Name: "status extension", URL: "/hsds/services?status=inactive", Status: 200, IDs: []string{svc4}},
		{Name: "status active", URL: "/hsds/services?status=active", Status: 200, IDs: []string{exService, svc1, svc2, svc3}},
		{Name: "modified_after date", URL: "/hsds/services?modified_after=2026-02-01", Status: 200, IDs: []string{svc2, svc3}},
		{Name: "modified_after is inclusive, any zone", URL: "/hsds/services?modified_after=2026-02-20T10:30:00%2B01:00", Status: 200, IDs: []string{svc2, svc3}},
		{Name: "modified_after with an unescaped +", URL: "/hsds/services?modified_after=2026-02-20T10:30:00+01:00", Status: 200, IDs: []string{svc2, svc3}},
		{Name: "modified_after a millisecond later", URL: "/hsds/services?modified_after=2026-02-20T09:30:00.001Z", Status: 200, IDs: []string{svc3}},
		{Name: "modified_after old date", URL: "/hsds/services?modified_after=2020-01-01", Status: 200, IDs: []string{exService, svc1, svc2, svc3}},
		{Name: "filters AND together", URL: "/hsds/services?organization_id=" + orgB + "&taxonomy_term_id=" + termFelonyOK, Status: 200, IDs: []string{svc3}},
		{Name: "search and status", URL: "/hsds/services?search=westside&status=active", Status: 200, IDs: []string{svc3}},
		{Name: "filters and paging", URL: "/hsds/services?taxonomy_id=" + taxCategories + "&per_page=3&page=2", Status: 200, IDs: []string{svc4}, Total: n(4)},

		{Name: "ndjson", URL: "/hsds/services?format=ndjson", Status: 200, Schema: "service", IDs: all,
			Contains: []string{`"service_at_locations":[`}, NotContains: []string{`"total_items"`, `"contents"`}},
		{Name: "ndjson filtered", URL: "/hsds/services?format=ndjson&organization_id=" + orgA, Status: 200, Schema: "service", IDs: []string{svc1, svc2}},
		{Name: "ndjson ignores paging", URL: "/hsds/services?format=NDJSON&per_page=1&page=2", Status: 200, IDs: all},
		{Name: "ndjson minimal", URL: "/hsds/services?format=ndjson&minimal=true", Status: 200, Schema: "service_list", IDs: all,
			NotContains: []string{`"organization":`}},
		{Name: "ndjson nothing", URL: "/hsds/services?format=ndjson&search=astronaut", Status: 200, IDs: []string{}},
		{Name: "format json", URL: "/hsds/services?format=json&per_page=1", Status: 200, IDs: []string{exService}},

		{Name: "one, fully nested", URL: "/hsds/services/" + svc2, Status: 200, Schema: "service",
			Contains: []string{`"id":"` + svc2 + `"`, `"organization":{"id":"` + orgA, `"service_at_locations":[{"id":"` + sal2, sal3, `"schedules":[{`, `"metadata":[{`}},
		{Name: "the HSDS example", URL: "/hsds/services/" + exService, Status: 200, Schema: "service",
			Contains: []string{`"cost_options":[{`, `"required_documents":[{`, `"taxonomy_detail":{"id":"` + exTaxonomy}},
		{Name: "unknown id", URL: "/hsds/services/5e000000-0000-4000-8000-000000000999", Status: 404, Contains: []string{"No service with id 5e000000-0000-4000-8000-000000000999"}},

		{Name: "bad page", URL: "/hsds/services?page=abc", Status: 400, Contains: []string{"parameter page:", `got \"abc\"`}},
		{Name: "page 0", URL: "/hsds/services?page=0", Status: 400, Contains: []string{"parameter page:"}},
		{Name: "negative page", URL: "/hsds/services?page=-2", Status: 400, Contains: []string{"parameter page:"}},
		{Name: "bad per_page", URL: "/hsds/services?per_page=abc", Status: 400, Contains: []string{"parameter per_page:", `got \"abc\"`}},
		{Name: "per_page 0", URL: "/hsds/services?per_page=0", Status: 400, Contains: []string{"parameter per_page:"}},
		{Name: "per_page fraction", URL: "/hsds/services?per_page=2.5", Status: 400, Contains: []string{"parameter per_page:"}},
		{Name: "bad format", URL: "/hsds/services?format=csv", Status: 400, Contains: []string{"parameter format:", "ndjson"}},
		{Name: "bad minimal", URL: "/hsds/services?minimal=yes", Status: 400, Contains: []string{"parameter minimal:"}},
		{Name: "bad full", URL: "/hsds/services?full=2", Status: 400, Contains: []string{"parameter full:"}},
		{Name: "minimal and full", URL: "/hsds/services?minimal=true&full=true", Status: 400, Contains: []string{"minimal", "full"}},
		{Name: "bad modified_after", URL: "/hsds/services?modified_after=yesterday", Status: 400, Contains: []string{"parameter modified_after:"}},
		{Name: "impossible modified_after", URL: "/hsds/services?modified_after=2026-13-01", Status: 400, Contains: []string{"parameter modified_after:"}},
		{Name: "bad status", URL: "/hsds/services?status=closed", Status: 400, Contains: []string{"parameter status:", "temporarily closed"}},
		{Name: "search too long", URL: "/hsds/services?search=" + strings.Repeat("a", 201), Status: 400, Contains: []string{"parameter search:"}},
		{Name: "bad page with ndjson", URL: "/hsds/services?format=ndjson&page=x", Status: 400, Contains: []string{"parameter page:"}},
	})
}

func TestAPIOrganizations(t *testing.T) {
	srv := fixtureServer(t)
	noOrganizationInServices := func(t *testing.T, services any) {
		t.Helper()
		arr, _ := services.([]any)
		if len(arr) == 0 {
			t.Fatalf("no services")
		}
		for _, s := range arr {
			if m, _ := s.(map[string]any); m["organization"] != nil {
				t.Errorf("service %v nested in its organization repeats the organization", m["id"])
			}
		}
	}
	runScenarios(t, srv, []apiScenario{
		{Name: "list", URL: "/hsds/organizations", Status: 200, Schema: "organization_list", IDs: []string{exOrg, orgA, orgB},
			NotContains: []string{`"services"`, `"locations"`}},
		{Name: "paged", URL: "/hsds/organizations?per_page=2&page=2", Status: 200, Schema: "organization_list", IDs: []string{orgB}, Total: n(3)},
		{Name: "search", URL: "/hsds/organizations?search=westside", Status: 200, IDs: []string{orgB}},
		{Name: "search description", URL: "/hsds/organizations?search=non-profit", Status: 200, IDs: []string{exOrg}},
		{Name: "full", URL: "/hsds/organizations?full=true", Status: 200, Schema: "organization", IDs: []string{exOrg, orgA, orgB},
			Contains: []string{`"locations":[`, `"services":[{"id":"` + svc1}, NotContains: []string{`"service_at_locations"`}},
		{Name: "full_service", URL: "/hsds/organizations?full_service=true&per_page=1&page=2", Status: 200, Schema: "organization", IDs: []string{orgA},
			Contains: []string{`"services":[{"id":"` + svc1, `"service_at_locations":[{`},
			Check: func(t *testing.T, body []byte) {
				noOrganizationInServices(t, jsonPath(t, body, "contents", 0, "services"))
			}},
		{Name: "ndjson", URL: "/hsds/organizations?format=ndjson", Status: 200, Schema: "organization_list", IDs: []string{exOrg, orgA, orgB}},
		{Name: "one", URL: "/hsds/organizations/" + orgB, Status: 200, Schema: "organization",
			Contains: []string{`"services":[{"id":"` + svc3, svc4}, NotContains: []string{`"service_at_locations"`},
			Check: func(t *testing.T, body []byte) {
				noOrganizationInServices(t, jsonPath(t, body, "services"))
			}},
		{Name: "one with full services", URL: "/hsds/organizations/" + orgA + "?full_service=1", Status: 200, Schema: "organization",
			Contains: []string{`"service_at_locations":[{"id":"` + sal1},
			Check: func(t *testing.T, body []byte) {
				noOrganizationInServices(t, jsonPath(t, body, "services"))
			}},
		{Name: "the HSDS example", URL: "/hsds/organizations/" + exOrg + "?full_service=true", Status: 200, Schema: "organization",
			Contains: []string{`"organization_identifiers":[{`, `"programs":[{`, `"services":[{"id":"` + exService}},
		{Name: "unknown id", URL: "/hsds/organizations/nope", Status: 404, Contains: []string{"No organization with id nope"}},
		{Name: "bad full_service", URL: "/hsds/organizations?full_service=maybe", Status: 400, Contains: []string{"parameter full_service:"}},
		{Name: "bad full_service on one", URL: "/hsds/organizations/" + orgA + "?full_service=maybe", Status: 400, Contains: []string{"parameter full_service:"}},
		{Name: "bad full", URL: "/hsds/organizations?full=x", Status: 400, Contains: []string{"parameter full:"}},
		{Name: "bad per_page", URL: "/hsds/organizations?per_page=-1", Status: 400, Contains: []string{"parameter per_page:"}},
	})
}

func TestAPIServiceAtLocations(t *testing.T) {
	srv := fixtureServer(t)
	all := []string{exSAL, sal1, sal2, sal3, sal4}
	runScenarios(t, srv, []apiScenario{
		{Name: "list", URL: "/hsds/service_at_locations", Status: 200, Schema: "service_at_location_list", IDs: all, Total: n(5),
			Contains: []string{`"location":{"id":"10c00000-0000-4000-8000-000000000001"`, `"service":{"id":"` + svc1, `"organization":{"id":"` + orgA}},
		{Name: "full", URL: "/hsds/service_at_locations?full=true", Status: 200, Schema: "service_at_location", IDs: all,
			Contains: []string{`"addresses":[{`}},
		{Name: "postcode", URL: "/hsds/service_at_locations?postcode=64127", Status: 200, Schema: "service_at_location_list", IDs: []string{sal1, sal2}},
		{Name: "postcode matches ZIP+4", URL: "/hsds/service_at_locations?postcode=66101", Status: 200, IDs: []string{sal4}},
		{Name: "ZIP+4 postcode", URL: "/hsds/service_at_locations?postcode=66101-2810", Status: 200, IDs: []string{sal4}},
		{Name: "foreign postcode", URL: "/hsds/service_at_locations?postcode=abc+1234", Status: 200, IDs: []string{exSAL}},
		{Name: "postcode nowhere", URL: "/hsds/service_at_locations?postcode=64050-0001", Status: 200, IDs: []string{sal3}},
		{Name: "proximity", URL: "/hsds/service_at_locations?postcode=64106&proximity=5", Status: 200, Schema: "service_at_location_list", IDs: []string{sal1, sal2, sal4}},
		{Name: "proximity reaches a location by its ZIP", URL: "/hsds/service_at_locations?postcode=64106&proximity=10", Status: 200, IDs: []string{sal1, sal2, sal4, sal3}},
		{Name: "proximity orders nearest first", URL: "/hsds/service_at_locations?postcode=64050&proximity=20", Status: 200, IDs: []string{sal3, sal1, sal2, sal4}},
		{Name: "proximity small", URL: "/hsds/service_at_locations?postcode=66101&proximity=0.5", Status: 200, IDs: []string{sal4}},
		{Name: "proximity pages", URL: "/hsds/service_at_locations?postcode=64050&proximity=20&per_page=3&page=2", Status: 200, IDs: []string{sal4}, Total: n(4)},
		{Name: "proximity and filters", URL: "/hsds/service_at_locations?postcode=64050&proximity=20&organization_id=" + orgA, Status: 200, IDs: []string{sal3, sal1, sal2}},
		{Name: "proximity ndjson", URL: "/hsds/service_at_locations?postcode=64050&proximity=20&format=ndjson", Status: 200, Schema: "service_at_location_list", IDs: []string{sal3, sal1, sal2, sal4}},
		{Name: "proximity full", URL: "/hsds/service_at_locations?postcode=64106&proximity=2.5&full=true", Status: 200, Schema: "service_at_location", IDs: []string{sal1, sal2}},
		{Name: "organization_id", URL: "/hsds/service_at_locations?organization_id=" + orgA, Status: 200, IDs: []string{sal1, sal2, sal3}},
		{Name: "taxonomy_term_id", URL: "/hsds/service_at_locations?taxonomy_term_id=" + termHousing, Status: 200, IDs: []string{sal4}},
		{Name: "taxonomy_id", URL: "/hsds/service_at_locations?taxonomy_id=" + taxFacts, Status: 200, IDs: []string{sal1, sal4}},
		{Name: "search", URL: "/hsds/service_at_locations?search=housing", Status: 200, IDs: []string{sal4}},
		{Name: "modified_after", URL: "/hsds/service_at_locations?modified_after=2026-02-01", Status: 200, IDs: []string{sal2, sal3, sal4}},
		{Name: "one", URL: "/hsds/service_at_locations/" + sal2, Status: 200, Schema: "service_at_location",
			Contains:    []string{`"location":{"id":"10c00000-0000-4000-8000-000000000001"`, `"service":{"id":"` + svc2, `"addresses":[{`},
			NotContains: []string{`"service_at_locations"`}},
		{Name: "the HSDS example", URL: "/hsds/service_at_locations/" + exSAL, Status: 200, Schema: "service_at_location",
			Contains: []string{`"accessibility":[{`, `"service":{"id":"` + exService}},
		{Name: "unknown id", URL: "/hsds/service_at_locations/nope", Status: 404, Contains: []string{"No service at location with id nope"}},
		{Name: "proximity without postcode", URL: "/hsds/service_at_locations?proximity=5", Status: 400, Contains: []string{"parameter proximity:", "postcode"}},
		{Name: "unknown ZIP", URL: "/hsds/service_at_locations?postcode=99999&proximity=5", Status: 400, Contains: []string{"postcode: we don't know ZIP code 99999"}},
		{Name: "not a ZIP", URL: "/hsds/service_at_locations?postcode=KC&proximity=5", Status: 400, Contains: []string{"parameter postcode:"}},
		{Name: "bad proximity", URL: "/hsds/service_at_locations?postcode=64106&proximity=far", Status: 400, Contains: []string{"parameter proximity:"}},
		{Name: "zero proximity", URL: "/hsds/service_at_locations?postcode=64106&proximity=0", Status: 400, Contains: []string{"parameter proximity:"}},
		{Name: "negative proximity", URL: "/hsds/service_at_locations?postcode=64106&proximity=-3", Status: 400, Contains: []string{"parameter proximity:"}},
		{Name: "infinite proximity", URL: "/hsds/service_at_locations?postcode=64106&proximity=Inf", Status: 400, Contains: []string{"parameter proximity:"}},
		{Name: "bad full", URL: "/hsds/service_at_locations?full=nope", Status: 400, Contains: []string{"parameter full:"}},
		{Name: "bad modified_after", URL: "/hsds/service_at_locations?modified_after=2026-02-30", Status: 400, Contains: []string{"parameter modified_after:"}},
	})
}

func TestAPITaxonomies(t *testing.T) {
	srv := fixtureServer(t)
	runScenarios(t, srv, []apiScenario{
		{Name: "taxonomies", URL: "/hsds/taxonomies", Status: 200, Schema: "taxonomy", IDs: []string{exTaxonomy, taxCategories, taxFacts}},
		{Name: "taxonomies search", URL: "/hsds/taxonomies?search=reentry", Status: 200, IDs: []string{taxFacts}},
		{Name: "taxonomies paged", URL: "/hsds/taxonomies?per_page=1&page=3", Status: 200, IDs: []string{taxFacts}, Total: n(3)},
		{Name: "taxonomies ndjson", URL: "/hsds/taxonomies?format=ndjson", Status: 200, Schema: "taxonomy", IDs: []string{exTaxonomy, taxCategories, taxFacts}},
		{Name: "taxonomy", URL: "/hsds/taxonomies/" + taxCategories, Status: 200, Schema: "taxonomy", Contains: []string{`"name":"Second Chance KC categories"`}},
		{Name: "unknown taxonomy", URL: "/hsds/taxonomies/nope", Status: 404, Contains: []string{"No taxonomy with id nope"}},

		{Name: "terms", URL: "/hsds/taxonomy_terms", Status: 200, Schema: "taxonomy_term", IDs: []string{exTerm, termJobTrain, termFelonyOK, termEmploy, termHousing},
			Contains: []string{`"taxonomy_detail":{"id":"` + taxCategories}},
		{Name: "terms of a taxonomy", URL: "/hsds/taxonomy_terms?taxonomy_id=" + taxCategories, Status: 200, Schema: "taxonomy_term", IDs: []string{termJobTrain, termEmploy, termHousing}},
		{Name: "terms by parent", URL: "/hsds/taxonomy_terms?parent_id=" + termEmploy, Status: 200, IDs: []string{termJobTrain}},
		{Name: "top terms", URL: "/hsds/taxonomy_terms?top_only=true", Status: 200, IDs: []string{termFelonyOK, termEmploy, termHousing}},
		{Name: "top_only false", URL: "/hsds/taxonomy_terms?top_only=false", Status: 200, Total: n(5)},
		{Name: "top terms of a taxonomy", URL: "/hsds/taxonomy_terms?top_only=1&taxonomy_id=" + taxCategories, Status: 200, IDs: []string{termEmploy, termHousing}},
		{Name: "terms search code", URL: "/hsds/taxonomy_terms?search=felony-ok", Status: 200, IDs: []string{termFelonyOK}},
		{Name: "terms search name", URL: "/hsds/taxonomy_terms?search=job", Status: 200, IDs: []string{termJobTrain, termEmploy}},
		{Name: "terms search every word", URL: "/hsds/taxonomy_terms?search=job+classes", Status: 200, IDs: []string{termJobTrain}},
		{Name: "term", URL: "/hsds/taxonomy_terms/" + termJobTrain, Status: 200, Schema: "taxonomy_term",
			Contains: []string{`"parent_id":"` + termEmploy, `"taxonomy_detail":{"id":"` + taxCategories}},
		{Name: "unknown term", URL: "/hsds/taxonomy_terms/nope", Status: 404, Contains: []string{"No taxonomy term with id nope"}},
		{Name: "bad top_only", URL: "/hsds/taxonomy_terms?top_only=yes", Status: 400, Contains: []string{"parameter top_only:"}},
		{Name: "bad format", URL: "/hsds/taxonomy_terms?format=xml", Status: 400, Contains: []string{"parameter format:"}},
		{Name: "bad page", URL: "/hsds/taxonomies?page=1.5", Status: 400, Contains: []string{"parameter page:"}},
	})
}

func TestAPIMeta(t *testing.T) {
	srv := fixtureServer(t)
	wantRoot := func(t *testing.T, body []byte) {
		var got map[string]string
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"version": "3.0", "profile": "https://openreferral.org/specification/3.0", "openapi_url": testBaseURL + "/hsds/openapi.json"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("got %v, want %v", got, want)
		}
	}
	runScenarios(t, srv, []apiScenario{
		{Name: "root", URL: "/hsds/", Status: 200, Check: wantRoot},
		{Name: "root without slash", URL: "/hsds", Status: 200, Check: wantRoot},
		{Name: "openapi.json", URL: "/hsds/openapi.json", Status: 200, Contains: []string{`"title": "Second Chance KC directory"`, `"url": "` + testBaseURL + `/hsds"`}},
		{Name: "preflight", Method: http.MethodOptions, URL: "/hsds/services?search=x", Status: 204,
			Header: map[string]string{"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "accept"},
			Check:  func(t *testing.T, body []byte) {}},
		{Name: "preflight on one", Method: http.MethodOptions, URL: "/hsds/services/" + svc1, Status: 204},
		{Name: "unknown path", URL: "/hsds/nothing", Status: 404},
		// The group's catch-all (which makes the CORS middleware run for
		// unknown paths) takes precedence over echo's 405.
		{Name: "not read-only", Method: http.MethodPost, URL: "/hsds/services", Status: 404},
	})

	t.Run("preflight headers", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/hsds/service_at_locations", nil)
		req.Header.Set("Origin", "https://elsewhere.example")
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "x-requested-with")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for h, want := range map[string]string{
			"Access-Control-Allow-Origin":  "*",
			"Access-Control-Allow-Methods": "GET, OPTIONS",
			"Access-Control-Allow-Headers": "x-requested-with",
		} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
	})

	// Our description is the official one with info and servers filled in:
	// the same paths, each of which we serve, and $refs to the published
	// schemas.
	t.Run("openapi matches the routes", func(t *testing.T) {
		resp, err := srv.Client().Get(srv.URL + "/hsds/openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ours, official struct {
			OpenAPI string `json:"openapi"`
			Info    struct {
				Title, Version, Description string
			} `json:"info"`
			Servers []struct{ URL string } `json:"servers"`
			Paths   map[string]any         `json:"paths"`
		}
		if err := json.Unmarshal(body, &ours); err != nil {
			t.Fatal(err)
		}
		ob, err := os.ReadFile("../../shared/hsds/spec-3.0/schema/openapi.json")
		if errors.Is(err, fs.ErrNotExist) {
			ob, err = data.FS.ReadFile("hsds/openapi.json") // compare with itself: still checks the routes
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(ob, &official); err != nil {
			t.Fatal(err)
		}
		if ours.OpenAPI != "3.1.0" || ours.Info.Title != "Second Chance KC directory" || strings.Contains(string(body), "REQUIRED --") {
			t.Errorf("openapi %q, title %q: the info is not filled in", ours.OpenAPI, ours.Info.Title)
		}
		if len(ours.Servers) != 1 || ours.Servers[0].URL != testBaseURL+"/hsds" {
			t.Errorf("servers %v, want one at %s/hsds", ours.Servers, testBaseURL)
		}
		var paths, officialPaths []string
		for p := range ours.Paths {
			paths = append(paths, p)
		}
		for p := range official.Paths {
			officialPaths = append(officialPaths, p)
		}
		slices.Sort(paths)
		slices.Sort(officialPaths)
		if !slices.Equal(paths, officialPaths) {
			t.Errorf("paths %v, official %v", paths, officialPaths)
		}
		for _, ref := range refs(ours.Paths) {
			if !strings.HasPrefix(ref, "#/components/") && !strings.HasPrefix(ref, "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/") {
				t.Errorf("$ref %s points at neither our components nor the published schemas", ref)
			}
		}
		ids := map[string]string{"services": svc1, "organizations": orgA, "service_at_locations": sal1, "taxonomies": taxFacts, "taxonomy_terms": termHousing}
		for _, p := range paths {
			u := p
			if strings.HasSuffix(p, "/{id}") {
				u = strings.TrimSuffix(p, "/{id}") + "/" + ids[strings.Trim(strings.TrimSuffix(p, "/{id}"), "/")]
			}
			resp, err := srv.Client().Get(srv.URL + "/hsds" + u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("GET /hsds%s (from %s): status %d", u, p, resp.StatusCode)
			}
		}
	})
}

// refs lists every $ref value in v.
func refs(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "$ref" {
				out = append(out, s)
			}
			out = append(out, refs(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, refs(x)...)
		}
	}
	return out
}

// TestAPIPerPage needs more services than one page holds.
func TestAPIPerPage(t *testing.T) {
	var b strings.Builder
	for i := range 120 {
		fmt.Fprintf(&b, `{"id":"5e000000-0000-4000-8000-%012d","name":"Service %d","status":"active","organization":{"id":"%s","name":"Many Services Inc.","description":"Offers a great many services."}}`+"\n", i+1, i+1, orgA)
	}
	path := filepath.Join(t.TempDir(), "many.ndjson")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := newAPIServer(t, fileSource(t, path))
	id := func(i int) string { return fmt.Sprintf("5e000000-0000-4000-8000-%012d", i) }
	runScenarios(t, srv, []apiScenario{
		{Name: "default is 50", URL: "/hsds/services", Status: 200, Schema: "service_list", Total: n(120),
			Check: func(t *testing.T, body []byte) {
				if got := jsonPath(t, body, "size"); got != 50.0 {
					t.Errorf("size %v, want 50", got)
				}
			}},
		{Name: "third page of 50", URL: "/hsds/services?page=3", Status: 200, Total: n(120),
			Check: func(t *testing.T, body []byte) {
				if got := jsonPath(t, body, "contents", 0, "id"); got != id(101) {
					t.Errorf("first id %v, want %s", got, id(101))
				}
			}},
		{Name: "capped at 100", URL: "/hsds/services?per_page=1000", Status: 200, Total: n(120),
			Check: func(t *testing.T, body []byte) {
				if got := jsonPath(t, body, "total_pages"); got != 2.0 {
					t.Errorf("total_pages %v, want 2", got)
				}
			}},
		{Name: "second capped page", URL: "/hsds/services?per_page=1000&page=2", Status: 200,
			Check: func(t *testing.T, body []byte) {
				if got := jsonPath(t, body, "size"); got != 20.0 {
					t.Errorf("size %v, want 20", got)
				}
			}},
		{Name: "ndjson is not paged", URL: "/hsds/services?format=ndjson&minimal=true", Status: 200,
			Check: func(t *testing.T, body []byte) {
				if got := bytes.Count(body, []byte("\n")); got != 120 {
					t.Errorf("%d lines, want 120", got)
				}
			}},
	})
}

// TestAPIDemo serves the demo directory and checks every answer against
// the official schemas.
func TestAPIDemo(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("short")
	}
	demo, err := data.FS.ReadFile("demo/services.ndjson")
	if err != nil {
		t.Skipf("no demo directory: %v", err)
	}
	taxonomy, err := fs.Sub(data.FS, "taxonomy")
	if err != nil {
		t.Fatal(err)
	}
	srv := newAPIServer(t,
		FSSource("taxonomy", taxonomy),
		ReaderSource("services.ndjson", int64(len(demo)), func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(demo)), nil }))
	get := func(t *testing.T, u string) []byte {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d\n%s", u, resp.StatusCode, clipBody(body))
		}
		return body
	}
	// everyID walks every page of a list, checks it, and returns the ids.
	everyID := func(t *testing.T, list, schema string) []string {
		var ids []string
		for page := 1; ; page++ {
			u := fmt.Sprintf("/hsds/%s?per_page=100&page=%d", list, page)
			apiScenario{URL: u, Status: 200, Schema: schema}.run(t, srv)
			body := get(t, u)
			var p struct {
				LastPage bool `json:"last_page"`
				Contents []struct {
					ID string `json:"id"`
				} `json:"contents"`
			}
			json.Unmarshal(body, &p)
			for _, c := range p.Contents {
				ids = append(ids, c.ID)
			}
			if p.LastPage {
				return ids
			}
		}
	}
	for _, c := range []struct{ list, itemSchema, oneSchema, oneQuery string }{
		{"services", "service_list", "service", ""},
		{"organizations", "organization_list", "organization", "?full_service=true"},
		{"service_at_locations", "service_at_location_list", "service_at_location", ""},
		{"taxonomies", "taxonomy", "taxonomy", ""},
		{"taxonomy_terms", "taxonomy_term", "taxonomy_term", ""},
	} {
		t.Run(c.list, func(t *testing.T) {
			ids := everyID(t, c.list, c.itemSchema)
			if len(ids) == 0 {
				t.Fatal("empty")
			}
			for _, id := range ids {
				validate(t, c.oneSchema, get(t, "/hsds/"+c.list+"/"+id+c.oneQuery), c.list+"/"+id)
			}
		})
	}
	t.Run("full lists", func(t *testing.T) {
		for _, c := range []struct{ url, schema string }{
			{"/hsds/services?full=true&per_page=100", "service"},
			{"/hsds/organizations?full=true&full_service=true&per_page=100", "organization"},
			{"/hsds/service_at_locations?full=true&per_page=100", "service_at_location"},
			{"/hsds/services?format=ndjson", "service"},
		} {
			apiScenario{URL: c.url, Status: 200, Schema: c.schema}.run(t, srv)
		}
	})
	t.Run("near Second Chance", func(t *testing.T) {
		body := get(t, "/hsds/service_at_locations?postcode=64127&proximity=3&per_page=100")
		var p struct {
			TotalItems int `json:"total_items"`
			Contents   []struct {
				Location struct{ Latitude, Longitude float64 } `json:"location"`
			} `json:"contents"`
		}
		json.Unmarshal(body, &p)
		if p.TotalItems == 0 {
			t.Fatal("nothing within 3 miles of 64127")
		}
		center, _, _ := ZIPCentroid("64127")
		last := 0.0
		for i, c := range p.Contents {
			if c.Location.Latitude == 0 {
				continue // placed by its ZIP
			}
			d := Miles(center, Point{c.Location.Latitude, c.Location.Longitude})
			if d > 3 || d < last-1e-9 {
				t.Errorf("item %d at %.2f miles (previous %.2f): not within 3 miles nearest first", i, d, last)
			}
			last = d
		}
	})
}

func TestOpenAPIDocument(t *testing.T) {
	b, err := openAPIDocument("https://x.example/hsds")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if got := jsonPath(t, b, "servers", 0, "url"); got != "https://x.example/hsds" {
		t.Errorf("server %v", got)
	}
	if !bytes.HasPrefix(b, []byte("{\n  \"openapi\": \"3.1.0\",")) {
		t.Errorf("openapi is not first:\n%s", b[:80])
	}
}

// TestSchemasReject makes sure that the schema checks above can fail.
func TestSchemasReject(t *testing.T) {
	for _, c := range []struct{ schema, doc string }{
		{"service", `{"id": "` + svc1 + `", "name": "No status"}`},
		{"service", `{"id": "` + svc1 + `", "name": "x", "status": "active", "minimum_age": "18"}`},
		{"service", `{"id": "` + svc1 + `", "name": "x", "status": "active", "phones": [{"id": "` + svc2 + `"}]}`},
		{"service_list", `{"id": "not-a-uuid", "name": "x", "status": "active"}`},
		{"service_at_location", `{"id": "` + sal1 + `", "service": {"id": "` + svc1 + `"}}`},
		{"organization", `{"id": "` + orgA + `", "name": "x", "description": "y", "services": [{"id": "` + svc1 + `"}]}`},
		{"taxonomy_term", `{"id": "` + termEmploy + `", "name": "x"}`},
	} {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(c.doc))
		if err != nil {
			t.Fatal(err)
		}
		if err := hsdsSchema(t, c.schema).Validate(v); err == nil {
			t.Errorf("%s accepts %s", c.schema, c.doc)
		}
	}
}

func TestMiles(t *testing.T) {
	// Downtown Kansas City (64106) to Independence (64050): about 8.6 miles.
	a, ok1, err1 := ZIPCentroid("64106")
	b, ok2, err2 := ZIPCentroid("64050")
	if err1 != nil || err2 != nil || !ok1 || !ok2 {
		t.Fatal("centroids missing", err1, err2)
	}
	if d := Miles(a, b); math.Abs(d-8.58) > 0.05 {
		t.Errorf("64106 to 64050: %.3f miles, want about 8.58", d)
	}
	if _, ok, _ := ZIPCentroid("99999"); ok {
		t.Error("99999 is known")
	}
}
