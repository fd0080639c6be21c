package server

import (
	"database/sql"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const metricsPath = "/metrics"

// httpMetrics are the request metrics every route gets.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newHTTPMetrics registers the request metrics and the Go runtime and
// process collectors on reg.
func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests answered, by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method and route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	reg.MustRegister(
		m.requests,
		m.duration,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// methodLabel bounds the method label: anything but the standard methods is
// "OTHER", so junk methods cannot create series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// metricsMiddleware counts and times every request by route template.
func (s *Server) metricsMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			// Answer now so the status counted is the one the client gets.
			c.Error(err)
		}
		method, route := methodLabel(c.Request().Method), routeLabel(c)
		s.metrics.requests.WithLabelValues(method, route, strconv.Itoa(c.Response().Status)).Inc()
		s.metrics.duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
		return nil
	}
}

// routeMetrics serves the Registry at GET /metrics.
func (s *Server) routeMetrics() {
	h := promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{
		ErrorLog: promLogger{s},
		// A failing collector should not blank the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
	})
	s.Echo.GET(metricsPath, echo.WrapHandler(h))
}

// promLogger adapts the Server's slog logger to promhttp.Logger.
type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) { l.s.log.Warn("metrics", "msg", fmt.Sprint(v...)) }

// RegisterDBStats exposes the statistics of a database pool (sql.DBStats:
// open, in use and idle connections, wait count and wait time, and more) on
// Registry as the go_sql_* metrics, labelled db_name=name. cmd registers
// "read" and "write". It fails if name is already registered.
func (s *Server) RegisterDBStats(name string, db *sql.DB) error {
	return s.Registry.Register(collectors.NewDBStatsCollector(db, name))
}
