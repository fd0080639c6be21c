package referral

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/logbuf"
	"github.com/secondchancekc/secondchance/internal/server"
)

// apiScenario is one request and what its answer must be. "{id}" in URL
// and Body is the id of the referral the first scenario created.
type apiScenario struct {
	Name        string
	Method      string // GET when empty
	URL         string
	Body        string
	NoUser      bool // the actor func finds nobody signed in
	Status      int
	Contains    []string
	NotContains []string
}

// newAPIServer serves RegisterAPI under /api/staff through the
// application's real server (middleware, error handler, access log), with a
// fake actor: staff-7, or nobody when the request says X-Test-No-User.
func newAPIServer(t *testing.T) (*env, *httptest.Server, *logbuf.Buffer) {
	t.Helper()
	e := newEnv(t)
	logs := &logbuf.Buffer{}
	srv := server.New(server.Config{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	actor := func(c echo.Context) string {
		if c.Request().Header.Get("X-Test-No-User") != "" {
			return ""
		}
		return "staff-7"
	}
	RegisterAPI(srv.Echo.Group("/api/staff"), e.Store, actor)
	hs := httptest.NewServer(srv.Echo)
	t.Cleanup(hs.Close)
	return e, hs, logs
}

func TestAPI(t *testing.T) {
	t.Parallel()
	_, hs, logs := newAPIServer(t)
	createBody := `{"client":{"phone":"(816) 231-0217","name":"Marcus","language":"es",
		"consent":{"given":true,"channel":"staff","words":"May we text you next week to ask how it went?"}},
		"need_category":"employment","zip":"64127","service_ids":["` + svcTempJobs + `","` + svcEmployment + `"],
		"notes":"Prefers mornings.","idempotency_key":"web:form-123"}`
	var id string
	scenarios := []apiScenario{
		{Name: "create", Method: "POST", URL: "/api/staff/referrals", Body: createBody, Status: http.StatusCreated,
			Contains: []string{`"phone":"+18162310217"`, `"channel":"staff"`, `"created_by":"staff-7"`, `"state":"open"`,
				`"name":"Fair-Chance Temp-to-Hire Jobs"`, `"organization":"Bridgeway Staffing Partners"`, `"phone":"(816) 555-0101"`,
				`"words":"May we text you next week to ask how it went?"`}},
		{Name: "create again with the same key", Method: "POST", URL: "/api/staff/referrals", Body: createBody, Status: http.StatusOK,
			Contains: []string{`"id":"{id}"`}},
		{Name: "get with events", URL: "/api/staff/referrals/{id}", Status: http.StatusOK,
			Contains: []string{`"id":"{id}"`, `"events":[`, `"action":"client.created"`, `"action":"referral.created"`, `"actor":"staff-7"`}},
		{Name: "record reached", Method: "POST", URL: "/api/staff/referrals/{id}/outcomes", Body: `{"reached":true}`, Status: http.StatusOK,
			Contains: []string{`"outcome":{"reached":true`, `"source":"staff"`, `"recorded_by":"staff-7"`}},
		{Name: "record got help for a service", Method: "POST", URL: "/api/staff/referrals/{id}/outcomes",
			Body:     `{"service_id":"` + svcTempJobs + `","reached":true,"got_help":"no","reason":"wrong_info","reason_note":"number disconnected","still_needs_help":true,"source":"voice"}`,
			Status:   http.StatusOK,
			Contains: []string{`"reason":"wrong_info"`, `"reason_note":"number disconnected"`, `"source":"voice"`}},
		{Name: "events after outcomes", URL: "/api/staff/referrals/{id}", Status: http.StatusOK,
			Contains: []string{`"action":"outcome.recorded","field":"outcome"`, `"field":"outcome[` + svcTempJobs + `]"`}},
		{Name: "list", URL: "/api/staff/referrals", Status: http.StatusOK,
			Contains: []string{`"total":1`, `"page":1`, `"per_page":50`, `"id":"{id}"`}},
		{Name: "list filtered", URL: "/api/staff/referrals?channel=staff&need_category=employment&service_id=" + svcEmployment +
			"&outcome=reached&phone=816.231.0217&created_from=2026-03-02&created_to=2026-03-02&page=1&per_page=10", Status: http.StatusOK,
			Contains: []string{`"total":1`, `"id":"{id}"`}},
		{Name: "list filtered out", URL: "/api/staff/referrals?outcome=closed", Status: http.StatusOK,
			Contains: []string{`"total":0`, `"referrals":[]`}},
		{Name: "list by date out of range", URL: "/api/staff/referrals?created_to=2026-03-01", Status: http.StatusOK,
			Contains: []string{`"total":0`}},

		{Name: "unknown id", URL: "/api/staff/referrals/0b0e2a43-0000-4000-8000-000000000000", Status: http.StatusNotFound,
			Contains: []string{`"code":"not_found"`}},
		{Name: "outcome for unknown id", Method: "POST", URL: "/api/staff/referrals/0b0e2a43-0000-4000-8000-000000000000/outcomes",
			Body: `{"reached":true}`, Status: http.StatusNotFound},
		{Name: "bad phone", Method: "POST", URL: "/api/staff/referrals", Status: http.StatusBadRequest,
			Body:     `{"client":{"phone":"816-231-02"},"need_category":"housing","service_ids":["` + svcShelter + `"]}`,
			Contains: []string{`"code":"invalid"`, `"message":"client.phone: `}, NotContains: []string{"231-02"}},
		{Name: "bad need", Method: "POST", URL: "/api/staff/referrals", Status: http.StatusBadRequest,
			Body: `{"need_category":"jobs","service_ids":["` + svcShelter + `"]}`, Contains: []string{`"message":"need_category: `}},
		{Name: "unknown service", Method: "POST", URL: "/api/staff/referrals", Status: http.StatusBadRequest,
			Body: `{"need_category":"housing","service_ids":["nope"]}`, Contains: []string{`"message":"service_ids[0]: no service with id nope`}},
		{Name: "unknown field", Method: "POST", URL: "/api/staff/referrals", Status: http.StatusBadRequest,
			Body: `{"need":"housing"}`, Contains: []string{`"message":"need: not a field of this request"`}},
		{Name: "wrong type", Method: "POST", URL: "/api/staff/referrals", Status: http.StatusBadRequest,
			Body: `{"service_ids":"x"}`, Contains: []string{`"message":"service_ids: must be a list`}},
		{Name: "wrong nested type", Method: "POST", URL: "/api/staff/referrals", Status: http.StatusBadRequest,
			Body: `{"client":{"consent":{"given":"yes"}}}`, Contains: []string{`"message":"client.consent.given: must be true or false`}},
		{Name: "bad consent time", Method: "POST", URL: "/api/staff/referrals", Status: http.StatusBadRequest,
			Body: `{"client":{"consent":{"at":"yesterday"}}}`, Contains: []string{`"message":"client.consent.at: `}},
		{Name: "not JSON", Method: "POST", URL: "/api/staff/referrals", Status: http.StatusBadRequest,
			Body: `{"need_category":`, Contains: []string{`"message":"body: not valid JSON"`}},
		{Name: "empty body", Method: "POST", URL: "/api/staff/referrals", Status: http.StatusBadRequest,
			Contains: []string{`"message":"body: empty`}},
		{Name: "stage rule", Method: "POST", URL: "/api/staff/referrals/{id}/outcomes", Status: http.StatusBadRequest,
			Body: `{"service_id":"` + svcEmployment + `","got_help":"yes"}`, Contains: []string{`"message":"got_help: needs reached to be true`}},
		{Name: "bad outcome value", Method: "POST", URL: "/api/staff/referrals/{id}/outcomes", Status: http.StatusBadRequest,
			Body: `{"reached":true,"got_help":"kinda"}`, Contains: []string{`"message":"got_help: must be one of`}},
		{Name: "outcome for a service not referred", Method: "POST", URL: "/api/staff/referrals/{id}/outcomes", Status: http.StatusBadRequest,
			Body: `{"service_id":"` + svcShelter + `","reached":true}`, Contains: []string{`"message":"service_id: `}},
		{Name: "bad filter", URL: "/api/staff/referrals?outcome=done", Status: http.StatusBadRequest,
			Contains: []string{`"message":"outcome: must be one of`}},
		{Name: "bad date", URL: "/api/staff/referrals?created_from=March", Status: http.StatusBadRequest,
			Contains: []string{`"message":"created_from: `}},
		{Name: "bad page", URL: "/api/staff/referrals?per_page=0", Status: http.StatusBadRequest,
			Contains: []string{`"message":"per_page: `}},
		{Name: "bad phone filter", URL: "/api/staff/referrals?phone=12", Status: http.StatusBadRequest,
			Contains: []string{`"message":"phone: `}},
		{Name: "nobody signed in", URL: "/api/staff/referrals", NoUser: true, Status: http.StatusUnauthorized},
		{Name: "nobody signed in may not create", Method: "POST", URL: "/api/staff/referrals", Body: createBody, NoUser: true,
			Status: http.StatusUnauthorized},
	}
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			method := sc.Method
			if method == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequest(method, hs.URL+strings.ReplaceAll(sc.URL, "{id}", id), strings.NewReader(strings.ReplaceAll(sc.Body, "{id}", id)))
			if err != nil {
				t.Fatal(err)
			}
			if sc.Body != "" || method == http.MethodPost {
				req.Header.Set("Content-Type", "application/json")
			}
			if sc.NoUser {
				req.Header.Set("X-Test-No-User", "1")
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			body := string(b)
			if id == "" && res.StatusCode == http.StatusCreated {
				var r Referral
				if err := json.Unmarshal(b, &r); err != nil {
					t.Fatal(err)
				}
				id = r.ID
				if loc := res.Header.Get("Location"); loc != "/api/staff/referrals/"+id {
					t.Errorf("Location = %q", loc)
				}
			}
			if res.StatusCode != sc.Status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, sc.Status, body)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			for _, s := range sc.Contains {
				if s = strings.ReplaceAll(s, "{id}", id); !strings.Contains(body, s) {
					t.Errorf("answer lacks %s:\n%s", s, body)
				}
			}
			for _, s := range sc.NotContains {
				if strings.Contains(body, s) {
					t.Errorf("answer has %s:\n%s", s, body)
				}
			}
		})
	}
	// The phone was in bodies and a query string; it must reach no log.
	if l := logs.String(); strings.Contains(l, "2310217") || strings.Contains(l, "231-0217") || strings.Contains(l, "231.0217") {
		t.Errorf("the logs hold the phone:\n%s", l)
	}
	if !strings.Contains(logs.String(), `"route":"/api/staff/referrals/:id"`) {
		t.Errorf("no access log of the API; the log check above proves nothing:\n%s", logs.String())
	}
}
