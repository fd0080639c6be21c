package server

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/secondchancekc/secondchance/internal/db"
)

func TestMetrics(t *testing.T) {
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })

	ts := newTestServer(t, Config{}, func(s *Server) {
		s.Echo.GET("/items/:id", func(c echo.Context) error { return c.String(http.StatusOK, "item") })
		if err := s.RegisterDBStats("read", d.Read); err != nil {
			t.Fatal(err)
		}
		if err := s.RegisterDBStats("write", d.Write); err != nil {
			t.Fatal(err)
		}
		if err := s.RegisterDBStats("read", d.Read); err == nil {
			t.Error("registering the read pool twice succeeded")
		}
	})
	if _, err := d.Version(context.Background()); err != nil { // use the read pool
		t.Fatal(err)
	}
	for _, sc := range []scenario{
		{URL: "/items/42", Status: 200},
		{URL: "/items/43", Status: 200},
		{URL: "/nope/nothing", Status: 404},
		{Method: "BREW", URL: "/items/1", Status: 405},
	} {
		ts.check(t, sc)
	}
	for _, sc := range []scenario{
		{Name: "text format", URL: "/metrics", Status: 200,
			Contains: []string{
				`http_requests_total{method="GET",route="/items/:id",status="200"} 2`,
				`http_requests_total{method="GET",route="unmatched",status="404"} 1`,
				`http_requests_total{method="OTHER",route="/items/:id",status="405"} 1`,
				`http_request_duration_seconds_bucket{method="GET",route="/items/:id",le="+Inf"} 2`,
				`http_request_duration_seconds_count{method="GET",route="/items/:id"} 2`,
				`go_sql_open_connections{db_name="read"}`,
				`go_sql_open_connections{db_name="write"} 1`,
				`go_sql_in_use_connections{db_name="read"} 0`,
				`go_sql_idle_connections{db_name="write"} 1`,
				`go_sql_wait_count_total{db_name="read"} 0`,
				`go_sql_wait_duration_seconds_total{db_name="write"} 0`,
				`go_goroutines `,
				`process_open_fds `,
			},
			NotContains: []string{"/items/42", "BREW"},
			WantHeader:  map[string]string{"Content-Encoding": ""}},
	} {
		t.Run(sc.Name, func(t *testing.T) { ts.check(t, sc) })
	}
	// Registry is the Server's own: the default registry is untouched.
	ts.check(t, scenario{URL: "/metrics", Status: 200, NotContains: []string{"promhttp_metric_handler_requests_total"}})

	// Others may add metrics to the Registry.
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "secondchance_test_total", Help: "A test counter."})
	ts.Registry.MustRegister(c)
	c.Add(3)
	ts.check(t, scenario{URL: "/metrics", Status: 200, Contains: []string{"secondchance_test_total 3"}})
}
