// Package server is the HTTP plumbing shared by every domain package: one
// echo instance with request IDs, panic recovery, access logs, a body limit,
// gzip and Prometheus metrics; the one error handler; health and readiness
// endpoints; and a Run that shuts down gracefully when its context ends.
//
// Domain packages register their routes on Server.Echo. cmd builds the Server
// from plain values (Config) and owns its lifetime.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/labstack/gommon/bytes"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultListen          = ":8080"
	DefaultReadTimeout     = 15 * time.Second
	DefaultWriteTimeout    = 30 * time.Second
	DefaultIdleTimeout     = 120 * time.Second
	DefaultShutdownTimeout = 20 * time.Second
	DefaultBodyLimit       = "1M"
)

// Config is everything the server needs, as plain values; cmd fills it from
// viper. Zero fields get the Default* values above.
type Config struct {
	// Listen is the TCP address to listen on, e.g. ":8080" or "127.0.0.1:0"
	// (port 0 picks a free port; Start reports the real address).
	Listen string
	// BaseURL is the public URL of the site, e.g. "https://secondchancekc.org".
	// Its path (default "/") is where error pages link "home".
	BaseURL string
	// ReadTimeout, WriteTimeout and IdleTimeout are those of http.Server.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownTimeout bounds how long Run waits for in-flight requests after
	// its context is cancelled.
	ShutdownTimeout time.Duration
	// BodyLimit is the largest request body accepted, e.g. "1M" or "512K";
	// larger bodies get 413.
	BodyLimit string
	// Logger receives access logs, internal errors and recovered panics.
	// Nil means slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with zero fields filled in.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.BodyLimit == "" {
		c.BodyLimit = DefaultBodyLimit
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports, in words an operator can act on, what is wrong with c
// (after defaults). cmd should call it at start; New panics on a Config that
// Validate rejects.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: want host:port, e.g. :8080 or 127.0.0.1:8080", c.Listen))
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("base URL %q: want an absolute URL such as https://example.org", c.BaseURL))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"read timeout", c.ReadTimeout},
		{"write timeout", c.WriteTimeout},
		{"idle timeout", c.IdleTimeout},
		{"shutdown timeout", c.ShutdownTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %s: must not be negative", d.name, d.v))
		}
	}
	if n, err := bytes.Parse(c.BodyLimit); err != nil || n <= 0 {
		errs = append(errs, fmt.Errorf("body limit %q: want a size such as 512K or 1M", c.BodyLimit))
	}
	return errors.Join(errs...)
}

// homePath is the path of BaseURL, ending in "/", for "home" links.
func (c Config) homePath() string {
	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Path == "" {
		return "/"
	}
	if !strings.HasSuffix(u.Path, "/") {
		return u.Path + "/"
	}
	return u.Path
}

// Server is the HTTP server. Register routes on Echo and set HTMLError before
// calling Run or Start; neither may change while the server is serving.
type Server struct {
	// Echo is the router. Domain packages add their routes and groups to it.
	// It trusts no proxy header for the client IP (echo.ExtractIPDirect); behind
	// a reverse proxy, cmd should set Echo.IPExtractor accordingly.
	Echo *echo.Echo

	// Registry holds every metric served at /metrics. Domain packages may
	// register their own collectors on it.
	Registry *prometheus.Registry

	// HTMLError renders the HTML error page for status with a user-safe msg.
	// The default is a minimal self-contained page; the templates package
	// replaces it with the site's layout. If it returns an error, a plain-text
	// answer is sent instead.
	HTMLError func(c echo.Context, status int, msg string) error

	cfg Config
	log *slog.Logger

	metrics  *httpMetrics
	gzipPool sync.Pool

	readyMu      sync.Mutex
	readyTimeout time.Duration // readyCheckTimeout; tests shorten it
	readyChecks  map[string]func(ctx context.Context) error
	readyNotes   map[string]string

	startMu sync.Mutex
	started bool
}

// New builds a Server from cfg (zero fields take the defaults) with its
// middleware, error handler, /metrics, /healthz and /readyz. It panics if
// cfg.Validate fails: cmd validates first, so that is a programming error.
func New(cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic("server.New: invalid config: " + err.Error())
	}
	cfg = cfg.withDefaults()
	s := &Server{
		Echo:        echo.New(),
		Registry:    prometheus.NewRegistry(),
		cfg:         cfg,
		log:         cfg.Logger,
		readyChecks: map[string]func(context.Context) error{},
		readyNotes:  map[string]string{},

		readyTimeout: readyCheckTimeout,
	}
	s.HTMLError = s.defaultHTMLError
	s.metrics = newHTTPMetrics(s.Registry)

	e := s.Echo
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = echo.ExtractIPDirect()

	// Order matters. The request ID comes first so every later log line and
	// error answer carries it. Access log and metrics sit outside recovery so
	// that a panic is still logged and counted as the 500 it became; recovery
	// sits outside the body limit and gzip so it also catches their panics.
	e.Use(
		s.requestIDMiddleware(),
		s.logMiddleware,
		s.metricsMiddleware,
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			StackSize:       8 << 10,
			DisableStackAll: true,
			LogErrorFunc:    s.logPanic,
		}),
		middleware.BodyLimit(cfg.BodyLimit),
		s.gzipMiddleware,
		queryMiddleware,
	)

	s.routeMetrics()
	s.routeHealth()
	return s
}

// queryMiddleware refuses a request whose query string cannot be read: a
// ";" between parameters or a bad % escape. Go leaves such a pair out
// without a word, so "/search?q=jobs;zip=64127" searched for everything
// and "per_page=%ZZ" became the default.
func queryMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if raw := c.Request().URL.RawQuery; raw != "" {
			if _, err := url.ParseQuery(raw); err != nil {
				return apperr.Errorf(apperr.EINVALID, "The query string in the address cannot be read (%s): separate parameters with & and write %% as %%25.", err)
			}
		}
		return next(c)
	}
}

// requestIDMiddleware sets X-Request-Id on every response, keeping a sane
// incoming one (from a proxy or a client retrying) and replacing anything
// else, so an ID is always safe to log.
func (s *Server) requestIDMiddleware() echo.MiddlewareFunc {
	rid := middleware.RequestIDWithConfig(middleware.RequestIDConfig{
		TargetHeader: echo.HeaderXRequestID,
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := rid(next)
		return func(c echo.Context) error {
			req := c.Request()
			if id := req.Header.Get(echo.HeaderXRequestID); id != "" && !validRequestID(id) {
				req.Header.Del(echo.HeaderXRequestID)
			}
			return h(c)
		}
	}
}

// validRequestID accepts up to 128 characters of letters, digits, '-', '_',
// '.' and ':', which covers UUIDs and the IDs common proxies generate.
func validRequestID(id string) bool {
	if len(id) > 128 {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '-', r == '_', r == '.', r == ':':
		default:
			return false
		}
	}
	return true
}

// RequestID returns the request ID of c (the X-Request-Id response header),
// for handlers that log.
func RequestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// routeLabel is the route template that matched ("/hsds/services/:id"), never
// the raw path, so logs and metrics stay low-cardinality whatever URLs
// scanners try.
func routeLabel(c echo.Context) string {
	if p := c.Path(); p != "" {
		return p
	}
	return "unmatched"
}

// logMiddleware writes one structured line per request.
//
// It logs the route template, not the URL, and never the query string: a
// query may hold a caller's phone number, a name or a ZIP code, and access
// logs are kept longer and read by more people than the data itself.
func (s *Server) logMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			// Answer now so the status below is the one the client gets.
			c.Error(err)
		}
		res := c.Response()
		level := slog.LevelInfo
		switch {
		case res.Status >= 500:
			level = slog.LevelWarn
		case c.Path() == healthzPath || c.Path() == readyzPath || c.Path() == metricsPath:
			// Probes and scrapes arrive every few seconds; keep them out of
			// the way unless debugging.
			level = slog.LevelDebug
		}
		s.log.LogAttrs(c.Request().Context(), level, "request",
			slog.String("method", c.Request().Method),
			slog.String("route", routeLabel(c)),
			slog.Int("status", res.Status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int64("bytes", res.Size), // before compression
			slog.String("request_id", RequestID(c)),
			slog.String("remote_ip", c.RealIP()),
		)
		return nil
	}
}

// logPanic logs a recovered panic with its stack. The error it returns goes
// to the error handler, which answers 500 "Internal error." without logging
// it a second time.
func (s *Server) logPanic(c echo.Context, err error, stack []byte) error {
	s.log.LogAttrs(c.Request().Context(), slog.LevelError, "panic",
		slog.String("err", err.Error()),
		slog.String("method", c.Request().Method),
		slog.String("route", routeLabel(c)),
		slog.String("request_id", RequestID(c)),
		slog.String("stack", string(stack)),
	)
	return &panicError{err: err}
}

// panicError marks an error that recovery has already logged.
type panicError struct{ err error }

func (e *panicError) Error() string { return "panic: " + e.err.Error() }
func (e *panicError) Unwrap() error { return e.err }

// Run serves on cfg.Listen until ctx is cancelled, then shuts down
// gracefully: it stops accepting connections, lets in-flight requests finish
// within cfg.ShutdownTimeout and returns nil. It returns an error if it cannot
// listen, if serving fails, or if requests were still running at the
// deadline (they are then cut off).
func (s *Server) Run(ctx context.Context) error {
	_, wait, err := s.Start(ctx)
	if err != nil {
		return err
	}
	return wait()
}

// Start is Run in the background: it listens, returns the bound address (the
// real port when cfg.Listen asks for port 0) and a wait func that blocks until
// the server has shut down after ctx is cancelled and returns what Run would.
// A Server can be started once.
func (s *Server) Start(ctx context.Context) (addr string, wait func() error, err error) {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.started {
		return "", nil, errors.New("server: already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return "", nil, fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	s.started = true

	hs := &http.Server{
		Handler:      s.Echo,
		ReadTimeout:  s.cfg.ReadTimeout,
		WriteTimeout: s.cfg.WriteTimeout,
		IdleTimeout:  s.cfg.IdleTimeout,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// No BaseContext from ctx: cancelling ctx must not cancel the
		// requests that graceful shutdown is waiting for.
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	s.log.Info("http server listening", "addr", ln.Addr().String())

	done := make(chan struct{})
	var result error
	go func() {
		defer close(done)
		select {
		case err := <-serveErr:
			result = fmt.Errorf("http server: %w", err)
			return
		case <-ctx.Done():
		}
		s.log.Info("http server shutting down", "timeout", s.cfg.ShutdownTimeout.String())
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			hs.Close()
			result = fmt.Errorf("http server shutdown: requests still running after %s were cut off: %w", s.cfg.ShutdownTimeout, err)
		}
		if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			result = errors.Join(result, fmt.Errorf("http server: %w", err))
		}
		if result == nil {
			s.log.Info("http server stopped")
		}
	}()
	return ln.Addr().String(), func() error { <-done; return result }, nil
}
