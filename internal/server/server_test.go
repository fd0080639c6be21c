package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/logbuf"
)

// testServer is a Server really listening on loopback.
type testServer struct {
	*Server
	URL    string
	Addr   string
	Logs   *logbuf.Buffer
	Client *http.Client
	cancel context.CancelFunc
	wait   func() error
}

// newTestServer builds a Server from cfg (Listen and Logger are set here),
// lets routes register handlers, starts it on a free port and stops it when
// the test ends.
func newTestServer(t *testing.T, cfg Config, routes func(s *Server)) *testServer {
	t.Helper()
	logs := &logbuf.Buffer{}
	cfg.Listen = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(cfg)
	if routes != nil {
		routes(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr, wait, err := s.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// No transparent gzip: the tests look at what is on the wire.
	tr := &http.Transport{DisableCompression: true}
	ts := &testServer{
		Server: s, URL: "http://" + addr, Addr: addr, Logs: logs,
		Client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		cancel: cancel, wait: wait,
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		cancel()
		if err := wait(); err != nil {
			t.Errorf("server stopped with %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// scenario is one request and what its answer must look like.
type scenario struct {
	Name        string
	Method      string // default GET
	URL         string // path on the test server
	Header      map[string]string
	Body        string
	Status      int
	Contains    []string
	NotContains []string
	WantHeader  map[string]string // "" means the header must be absent
}

// do sends sc's request and returns the response and its body.
func (ts *testServer) do(t *testing.T, sc scenario) (*http.Response, []byte) {
	t.Helper()
	method := sc.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if sc.Body != "" {
		body = strings.NewReader(sc.Body)
	}
	req, err := http.NewRequest(method, ts.URL+sc.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range sc.Header {
		req.Header.Set(k, v)
	}
	res, err := ts.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// check runs sc and asserts its expectations.
func (ts *testServer) check(t *testing.T, sc scenario) (*http.Response, []byte) {
	t.Helper()
	res, b := ts.do(t, sc)
	if res.StatusCode != sc.Status {
		t.Errorf("%s %s: status %d, want %d; body:\n%s", sc.Method, sc.URL, res.StatusCode, sc.Status, b)
	}
	for _, s := range sc.Contains {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("%s %s: body lacks %q; body:\n%s", sc.Method, sc.URL, s, b)
		}
	}
	for _, s := range sc.NotContains {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%s %s: body contains %q; body:\n%s", sc.Method, sc.URL, s, b)
		}
	}
	for k, v := range sc.WantHeader {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s %s: header %s = %q, want %q", sc.Method, sc.URL, k, got, v)
		}
	}
	return res, b
}

// logLines returns the JSON log records whose msg is msg.
func (ts *testServer) logLines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(ts.Logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.ReadTimeout != 15*time.Second || c.WriteTimeout != 30*time.Second || c.IdleTimeout != 120*time.Second ||
		c.ShutdownTimeout != 20*time.Second || c.BodyLimit != "1M" || c.Listen != ":8080" || c.Logger == nil {
		t.Errorf("defaults: %+v", c)
	}
	for _, tc := range []struct {
		Name string
		Path string
		Want string
	}{
		{"none", "", "/"},
		{"host only", "https://example.org", "/"},
		{"prefix", "https://example.org/kc", "/kc/"},
		{"prefix slash", "https://example.org/kc/", "/kc/"},
	} {
		if got := (Config{BaseURL: tc.Path}).homePath(); got != tc.Want {
			t.Errorf("%s: homePath = %q, want %q", tc.Name, got, tc.Want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		Name    string
		Config  Config
		WantErr string
	}{
		{"zero is fine", Config{}, ""},
		{"bad listen", Config{Listen: "8080"}, "listen address"},
		{"bad body limit", Config{BodyLimit: "lots"}, "body limit"},
		{"relative base URL", Config{BaseURL: "example.org"}, "base URL"},
		{"negative timeout", Config{ReadTimeout: -time.Second}, "read timeout"},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			err := tc.Config.Validate()
			if tc.WantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.WantErr) {
				t.Fatalf("Validate = %v, want an error about %q", err, tc.WantErr)
			}
			defer func() {
				if recover() == nil {
					t.Error("New accepted an invalid config")
				}
			}()
			New(tc.Config)
		})
	}
}

func TestStartTwice(t *testing.T) {
	ts := newTestServer(t, Config{}, nil)
	if _, _, err := ts.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}
}

func TestRequestID(t *testing.T) {
	ts := newTestServer(t, Config{}, nil)
	for _, tc := range []struct {
		Name     string
		Incoming string
		Keep     bool
	}{
		{"generated", "", false},
		{"honoured", "abc-123_DEF.4:5", true},
		{"uuid honoured", "0b5c6f2e-8d6f-4a43-9d3b-2f7a1c9e5d10", true},
		{"junk replaced", "<script>alert(1)</script>", false},
		{"too long replaced", strings.Repeat("a", 129), false},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			h := map[string]string{}
			if tc.Incoming != "" {
				h["X-Request-Id"] = tc.Incoming
			}
			res, _ := ts.check(t, scenario{URL: "/healthz", Header: h, Status: http.StatusOK})
			got := res.Header.Get("X-Request-Id")
			switch {
			case tc.Keep && got != tc.Incoming:
				t.Errorf("X-Request-Id = %q, want the incoming %q", got, tc.Incoming)
			case !tc.Keep && (got == "" || got == tc.Incoming || !validRequestID(got)):
				t.Errorf("X-Request-Id = %q, want a fresh valid ID", got)
			}
		})
	}
	// The ID is in the JSON error answer too.
	_, b := ts.check(t, scenario{URL: "/hsds/nope", Header: map[string]string{"X-Request-Id": "trace-42"}, Status: http.StatusNotFound})
	if !bytes.Contains(b, []byte(`"request_id":"trace-42"`)) {
		t.Errorf("error answer lacks the request ID: %s", b)
	}
}

// A query string that cannot be read is refused with a 400 that says so,
// JSON or HTML, before any handler: Go leaves out a pair it cannot read,
// so "q=jobs;zip=64127" would have searched for everything.
func TestUnreadableQueryString(t *testing.T) {
	ts := newTestServer(t, Config{}, func(s *Server) {
		show := func(c echo.Context) error { return c.String(http.StatusOK, "q="+c.QueryParam("q")) }
		s.Echo.GET("/api/show", show)
		s.Echo.GET("/show", show)
	})
	for _, sc := range []scenario{
		{Name: "readable", URL: "/api/show?q=jobs&zip=64127", Status: http.StatusOK, Contains: []string{"q=jobs"}},
		{Name: "escaped semicolon", URL: "/api/show?q=jobs%3Bfood", Status: http.StatusOK, Contains: []string{"q=jobs;food"}},
		{Name: "semicolon", URL: "/api/show?q=jobs;zip=64127", Status: http.StatusBadRequest,
			Contains: []string{`"code":"invalid"`, "cannot be read (invalid semicolon separator in query)"}, NotContains: []string{"q=jobs"}},
		{Name: "bad escape", URL: "/api/show?q=jobs&per_page=%ZZ", Status: http.StatusBadRequest,
			Contains: []string{"cannot be read (invalid URL escape", "write % as %25"}},
		{Name: "html answer", URL: "/show?q=jobs;zip=64127", Status: http.StatusBadRequest,
			Contains: []string{"cannot be read"}},
	} {
		t.Run(sc.Name, func(t *testing.T) { ts.check(t, sc) })
	}
}

func TestBodyLimit(t *testing.T) {
	ts := newTestServer(t, Config{BodyLimit: "1K"}, func(s *Server) {
		s.Echo.POST("/api/echo", func(c echo.Context) error {
			b, err := io.ReadAll(c.Request().Body)
			if err != nil {
				return err
			}
			return c.String(http.StatusOK, "read "+strconv.Itoa(len(b)))
		})
	})
	small, big := strings.Repeat("x", 1000), strings.Repeat("x", 2048)
	for _, sc := range []scenario{
		{Name: "under the limit", Method: http.MethodPost, URL: "/api/echo", Body: small, Status: http.StatusOK, Contains: []string{"read 1000"}},
		{Name: "declared length over the limit", Method: http.MethodPost, URL: "/api/echo", Body: big, Status: http.StatusRequestEntityTooLarge,
			Contains: []string{`"code":"request_too_large"`, "The request is too large."}},
		{Name: "html answer", Method: http.MethodPost, URL: "/upload", Body: big, Status: http.StatusRequestEntityTooLarge,
			Contains: []string{"The request is too large."}},
	} {
		t.Run(sc.Name, func(t *testing.T) { ts.check(t, sc) })
	}
	t.Run("chunked body over the limit", func(t *testing.T) {
		// No Content-Length: the limit trips while the handler reads.
		req, err := http.NewRequest(http.MethodPost, ts.URL+"/api/echo", io.NopCloser(strings.NewReader(big)))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1
		res, err := ts.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(b, []byte("request_too_large")) {
			t.Errorf("status %d, body %s; want 413 request_too_large", res.StatusCode, b)
		}
		if len(ts.logLines(t, "internal error")) != 0 {
			t.Error("a too-large body was logged as an internal error")
		}
	})
}

func TestAccessLog(t *testing.T) {
	ts := newTestServer(t, Config{}, func(s *Server) {
		s.Echo.GET("/items/:id", func(c echo.Context) error { return c.String(http.StatusOK, "item "+c.Param("id")) })
	})
	ts.check(t, scenario{URL: "/items/42?phone=8165550100", Header: map[string]string{"X-Request-Id": "log-1"}, Status: http.StatusOK})
	ts.check(t, scenario{URL: "/no/such/page?name=Jane", Status: http.StatusNotFound})
	if s := ts.Logs.String(); strings.Contains(s, "8165550100") || strings.Contains(s, "Jane") || strings.Contains(s, "/items/42") {
		t.Errorf("the access log holds a raw path or query string:\n%s", s)
	}
	var found bool
	for _, l := range ts.logLines(t, "request") {
		if l["request_id"] == "log-1" {
			found = true
			if l["route"] != "/items/:id" || l["method"] != "GET" || l["status"] != float64(200) ||
				l["bytes"] != float64(len("item 42")) || l["remote_ip"] != "127.0.0.1" || l["duration_ms"] == nil {
				t.Errorf("access log line: %v", l)
			}
		}
		if l["status"] == float64(404) && l["route"] != "unmatched" {
			t.Errorf("unmatched request logged with route %v", l["route"])
		}
	}
	if !found {
		t.Errorf("no access log line for the request:\n%s", ts.Logs.String())
	}
}

// waitDial dials addr until the connection is refused, for up to d.
func waitRefused(t *testing.T, addr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections after %s", addr, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGracefulShutdown(t *testing.T) {
	logs := &logbuf.Buffer{}
	s := New(Config{Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(logs, nil))})
	started := make(chan struct{})
	s.Echo.GET("/slow", func(c echo.Context) error {
		close(started)
		time.Sleep(500 * time.Millisecond)
		return c.String(http.StatusOK, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, wait, err := s.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		res, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		got <- result{res.StatusCode, string(b), err}
	}()
	<-started
	cancel() // as SIGTERM would

	// New connections are refused while the slow request is still allowed
	// to finish.
	waitRefused(t, addr, 10*time.Second)
	select {
	case r := <-got:
		if r.err != nil || r.status != http.StatusOK || r.body != "done" {
			t.Fatalf("in-flight request: status %d body %q err %v; want 200 done", r.status, r.body, r.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("in-flight request never finished")
	}
	runErr := make(chan error, 1)
	go func() { runErr <- wait() }()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after shutdown")
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatal("a new connection was accepted after shutdown")
	}
}

func TestShutdownTimeout(t *testing.T) {
	// A request that outlives ShutdownTimeout is cut off and Run says so.
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	s := New(Config{Listen: "127.0.0.1:0", ShutdownTimeout: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s.Echo.GET("/stuck", func(c echo.Context) error {
		close(started)
		<-release
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	addr, wait, err := s.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if res, err := http.Get("http://" + addr + "/stuck"); err == nil {
			res.Body.Close()
		}
	}()
	<-started
	cancel()
	if err := wait(); err == nil || !strings.Contains(err.Error(), "cut off") {
		t.Fatalf("Run = %v, want an error saying requests were cut off", err)
	}
}

func TestRun(t *testing.T) {
	// Run is Start plus wait: it serves until ctx ends and then returns nil.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := New(Config{Listen: addr, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("healthz: %d", res.StatusCode)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never answered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}

	// A second server on a taken address fails at once with the address.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s2 := New(Config{Listen: ln.Addr().String(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s2.Run(context.Background()); err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("Run on a taken address = %v", err)
	}
}
