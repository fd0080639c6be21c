package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

// errorRoutes registers GET /err/:code and /api/err/:code answering with an
// apperr of that code, and a few handlers that fail in other ways.
func errorRoutes(s *Server) {
	h := func(c echo.Context) error {
		code := c.Param("code")
		return fmt.Errorf("wrapped: %w", apperr.Errorf(code, "Message for %s.", code))
	}
	s.Echo.GET("/err/:code", h)
	s.Echo.GET("/api/err/:code", h)
	s.Echo.POST("/hotline/err/:code", h)
	s.Echo.GET("/secret", func(c echo.Context) error {
		return errors.New("open /var/lib/secondchance/db.sqlite: permission denied")
	})
	s.Echo.GET("/api/secret", func(c echo.Context) error {
		return errors.New("open /var/lib/secondchance/db.sqlite: permission denied")
	})
	s.Echo.GET("/panic", func(c echo.Context) error {
		panic("nil map in handler: caller 816-555-0100")
	})
	s.Echo.GET("/api/panic", func(c echo.Context) error {
		var m map[string]int
		m["boom"]++ // a runtime error panic
		return nil
	})
	s.Echo.GET("/echo-error", func(c echo.Context) error {
		return echo.NewHTTPError(http.StatusBadRequest, "code=400, message=Syntax error: offset=12, error=invalid character")
	})
	s.Echo.GET("/teapot", func(c echo.Context) error {
		return echo.NewHTTPError(http.StatusTeapot)
	})
	s.Echo.GET("/partial", func(c echo.Context) error {
		if err := c.String(http.StatusOK, "partial answer"); err != nil {
			return err
		}
		return errors.New("failed after answering")
	})
}

func TestErrorMapping(t *testing.T) {
	ts := newTestServer(t, Config{}, errorRoutes)
	jsonAccept := map[string]string{"Accept": "application/json"}
	htmlAccept := map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}

	for _, tc := range []struct {
		Code   string
		Status int
	}{
		{apperr.EINVALID, 400},
		{apperr.EUNAUTHORIZED, 401},
		{apperr.EFORBIDDEN, 403},
		{apperr.ENOTFOUND, 404},
		{apperr.ECONFLICT, 409},
		{apperr.ETOOMANY, 429},
		{apperr.EUNAVAILABLE, 503},
		{apperr.ENOTIMPLEMENTED, 501},
		{apperr.EINTERNAL, 500},
		{"made_up_code", 500},
	} {
		msg := "Message for " + tc.Code + "."
		wantCode := tc.Code
		if tc.Status == 500 {
			msg, wantCode = "Internal error.", apperr.EINTERNAL
		}
		t.Run(tc.Code+"/json by Accept", func(t *testing.T) {
			_, b := ts.check(t, scenario{URL: "/err/" + tc.Code, Header: jsonAccept, Status: tc.Status,
				WantHeader: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}})
			var got errorBody
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("not JSON: %s", b)
			}
			if got.Error.Code != wantCode || got.Error.Message != msg || got.Error.RequestID == "" {
				t.Errorf("answer %+v, want code %q message %q and a request ID", got.Error, wantCode, msg)
			}
		})
		t.Run(tc.Code+"/json by path", func(t *testing.T) {
			ts.check(t, scenario{URL: "/api/err/" + tc.Code, Status: tc.Status,
				Contains: []string{`"code":"` + wantCode + `"`, `"message":"` + msg + `"`}})
		})
		t.Run(tc.Code+"/html", func(t *testing.T) {
			ts.check(t, scenario{URL: "/err/" + tc.Code, Header: htmlAccept, Status: tc.Status,
				Contains:    []string{`<html lang="en">`, "<h1>" + http.StatusText(tc.Status) + "</h1>", msg, `<a href="/">`},
				NotContains: []string{`"error"`},
				WantHeader:  map[string]string{"Content-Type": "text/html; charset=UTF-8"}})
		})
	}

	leak := []string{"/var/lib", "permission denied", "816-555-0100", "nil map", "Syntax error", "offset"}
	for _, sc := range []scenario{
		{Name: "unknown route under /hsds is JSON", URL: "/hsds/x", Status: 404,
			Contains: []string{`"code":"not_found"`, `"message":"We could not find that page."`}},
		{Name: "unknown route under /api is JSON", URL: "/api/nothing/here", Status: 404, Contains: []string{`"code":"not_found"`}},
		{Name: "unknown route elsewhere is HTML", URL: "/x", Status: 404,
			Contains: []string{`<html lang="en">`, "We could not find that page.", "Go to the home page"}},
		{Name: "unknown route, JSON asked for", URL: "/x", Header: jsonAccept, Status: 404, Contains: []string{`"code":"not_found"`}},
		{Name: "wrong method", Method: http.MethodPost, URL: "/healthz", Header: jsonAccept, Status: 405,
			Contains: []string{`"code":"method_not_allowed"`}, WantHeader: map[string]string{"Allow": "OPTIONS, GET, HEAD"}},
		{Name: "plain error is internal, JSON", URL: "/api/secret", Status: 500,
			Contains: []string{`"code":"internal"`, `"message":"Internal error."`}, NotContains: leak},
		{Name: "plain error is internal, HTML", URL: "/secret", Status: 500,
			Contains: []string{"Internal error."}, NotContains: leak},
		{Name: "echo's own message is not shown", URL: "/echo-error", Header: jsonAccept, Status: 400,
			Contains: []string{`"code":"invalid"`, "The request could not be understood."}, NotContains: leak},
		{Name: "other 4xx from echo", URL: "/teapot", Header: jsonAccept, Status: 418,
			Contains: []string{`"code":"invalid"`, "\"message\":\"I'm a teapot.\""}},
		{Name: "error after answering keeps the answer", URL: "/partial", Status: 200, Contains: []string{"partial answer"},
			NotContains: []string{"Internal error."}},
		{Name: "HEAD gets no body", Method: http.MethodHead, URL: "/x", Status: 404},
		{Name: "a webhook refused is told why in plain text", Method: http.MethodPost, URL: "/hotline/err/" + apperr.EFORBIDDEN,
			Header: htmlAccept, Status: 403, Contains: []string{"Message for forbidden."}, NotContains: []string{"<html", "form expired"},
			WantHeader: map[string]string{"Content-Type": "text/plain; charset=UTF-8"}},
		{Name: "an unknown webhook is plain text too", Method: http.MethodPost, URL: "/hotline/nothing", Status: 404,
			Contains: []string{"We could not find that page."}, NotContains: []string{"<html"}},
	} {
		t.Run(sc.Name, func(t *testing.T) {
			res, b := ts.check(t, sc)
			if sc.Method == http.MethodHead && len(b) != 0 {
				t.Errorf("HEAD answered with a body: %q", b)
			}
			_ = res
		})
	}

	// Only internal errors are logged, with the request ID and the real text.
	var internal []map[string]any
	internal = ts.logLines(t, "internal error")
	var sawSecret bool
	for _, l := range internal {
		if l["request_id"] == "" || l["request_id"] == nil {
			t.Errorf("internal error logged without a request ID: %v", l)
		}
		if strings.Contains(fmt.Sprint(l["err"]), "permission denied") {
			sawSecret = true
		}
		if strings.Contains(fmt.Sprint(l["err"]), "Message for "+apperr.ENOTFOUND) {
			t.Errorf("a not-found error was logged as internal: %v", l)
		}
	}
	if !sawSecret {
		t.Errorf("the internal error's real text was not logged:\n%s", ts.Logs.String())
	}
}

func TestPanicRecovery(t *testing.T) {
	ts := newTestServer(t, Config{}, errorRoutes)
	leak := []string{"816-555-0100", "nil map", "assignment to entry"}
	for _, sc := range []scenario{
		{Name: "panic, HTML", URL: "/panic", Header: map[string]string{"X-Request-Id": "panic-1"}, Status: 500,
			Contains: []string{"Internal error.", "panic-1"}, NotContains: leak},
		{Name: "runtime panic, JSON", URL: "/api/panic", Status: 500,
			Contains: []string{`"message":"Internal error."`}, NotContains: leak},
		{Name: "still serving", URL: "/healthz", Status: 200, Contains: []string{`"status":"ok"`}},
		{Name: "still serving errors", URL: "/hsds/x", Status: 404},
	} {
		t.Run(sc.Name, func(t *testing.T) { ts.check(t, sc) })
	}
	panics := ts.logLines(t, "panic")
	if len(panics) != 2 {
		t.Fatalf("%d panic log lines, want 2:\n%s", len(panics), ts.Logs.String())
	}
	if p := panics[0]; p["request_id"] != "panic-1" || p["route"] != "/panic" ||
		!strings.Contains(fmt.Sprint(p["stack"]), "errors_test.go") {
		t.Errorf("panic log line lacks request ID, route or stack: %v", p)
	}
	if n := len(ts.logLines(t, "internal error")); n != 0 {
		t.Errorf("panics were logged twice (%d internal error lines)", n)
	}
	// The access log and metrics see the 500 the client got.
	var sawAccess bool
	for _, l := range ts.logLines(t, "request") {
		if l["request_id"] == "panic-1" && l["status"] == float64(500) {
			sawAccess = true
		}
	}
	if !sawAccess {
		t.Errorf("no access log line with status 500 for the panic:\n%s", ts.Logs.String())
	}
	ts.check(t, scenario{URL: "/metrics", Status: 200,
		Contains: []string{`http_requests_total{method="GET",route="/panic",status="500"} 1`}})
}

func TestHTMLErrorReplaceable(t *testing.T) {
	ts := newTestServer(t, Config{BaseURL: "https://example.org/kc"}, func(s *Server) {
		s.Echo.GET("/custom/:fail", func(c echo.Context) error { return apperr.Errorf(apperr.ENOTFOUND, "No such service.") })
	})
	ts.check(t, scenario{Name: "default links home under BaseURL", URL: "/custom/no", Status: 404,
		Contains: []string{`<a href="/kc/">`, "No such service."}})

	ts.HTMLError = func(c echo.Context, status int, msg string) error {
		if c.Param("fail") == "yes" {
			return errors.New("template exploded")
		}
		return c.HTML(status, "<p>custom: "+msg+"</p>")
	}
	for _, sc := range []scenario{
		{Name: "replaced", URL: "/custom/no", Status: 404, Contains: []string{"<p>custom: No such service.</p>"}},
		{Name: "failing renderer falls back to text", URL: "/custom/yes", Status: 404, Contains: []string{"No such service."},
			NotContains: []string{"exploded"}, WantHeader: map[string]string{"Content-Type": "text/plain; charset=UTF-8"}},
		{Name: "JSON unaffected", URL: "/custom/no", Header: map[string]string{"Accept": "application/json"}, Status: 404,
			Contains: []string{`"code":"not_found"`}},
	} {
		t.Run(sc.Name, func(t *testing.T) { ts.check(t, sc) })
	}
}
