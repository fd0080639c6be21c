package auth

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/db"
	"github.com/secondchancekc/secondchance/internal/server"
)

// testArgon keeps tests fast; TestPasswordHashing checks the real cost.
var testArgon = argonParams{memory: 1024, time: 1, threads: 1, saltLen: 16, keyLen: 32}

// fakeClock is the injected clock: tests step it through timeouts.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newService opens a real SQLite database under t.TempDir() and builds a
// Service on it with a fake clock.
func newService(t *testing.T, cfg Config) (*Service, *fakeClock) {
	t.Helper()
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	clk := &fakeClock{t: time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://staff.test"
	}
	cfg.Logger = quiet
	svc, err := New(d, clk.Now, cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc.setHashParams(testArgon)
	return svc, clk
}

const (
	adminEmail = "ada@secondchancekc.org"
	adminPass  = "correct horse battery"
	staffEmail = "sam@secondchancekc.org"
	staffPass  = "purple monkey dishwasher"
	// secret stands for the sensitive data of a staff page.
	secret = "816-555-0100"
)

func mustUser(t *testing.T, svc *Service, email, password string, role Role) *User {
	t.Helper()
	u, err := svc.CreateUser(context.Background(), NewUser{Email: email, Name: strings.Split(email, "@")[0], Role: role, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// env is the Service behind a real server (internal/server, so the real
// error handler) on loopback, with stand-ins for other packages' staff
// routes registered after Register, as serve.go will.
type env struct {
	svc   *Service
	clk   *fakeClock
	srv   *server.Server
	url   string
	admin *User
	staff *User
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	svc, clk := newService(t, cfg)
	srv := server.New(server.Config{Listen: "127.0.0.1:0", BaseURL: svc.cfg.BaseURL, Logger: quiet})
	Register(srv.Echo, svc)
	e := srv.Echo
	e.GET("/staff/clients", func(c echo.Context) error { return c.String(http.StatusOK, "clients: "+secret) })
	e.POST("/staff/clients", func(c echo.Context) error { return c.String(http.StatusOK, "saved") })
	e.GET("/staff/clients/:id", func(c echo.Context) error { return c.String(http.StatusOK, "client: "+secret) })
	e.GET("/api/staff/clients", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"phone": secret}) })
	e.POST("/api/staff/clients", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"saved": "yes"}) })
	e.DELETE("/api/staff/clients/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	e.GET("/public", func(c echo.Context) error { return c.String(http.StatusOK, "public page") })

	ctx, cancel := context.WithCancel(context.Background())
	addr, wait, err := srv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := wait(); err != nil {
			t.Errorf("server stopped with %v", err)
		}
	})
	return &env{
		svc: svc, clk: clk, srv: srv, url: "http://" + addr,
		admin: mustUser(t, svc, adminEmail, adminPass, RoleAdmin),
		staff: mustUser(t, svc, staffEmail, staffPass, RoleStaff),
	}
}

// browser is a client with a cookie jar that does not follow redirects, so
// tests see each answer.
type browser struct {
	t    *testing.T
	e    *env
	c    *http.Client
	base *url.URL
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(e.url)
	return &browser{t: t, e: e, base: base, c: &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.url+path, nil)
	req.Header.Set("Accept", "text/html")
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf returns the CSRF token of the forms on page.
func (b *browser) csrf(page string) string {
	b.t.Helper()
	res, body := b.get(page)
	m := csrfRE.FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		b.t.Fatalf("GET %s: %d, no csrf_token in\n%s", page, res.StatusCode, body)
	}
	return m[1]
}

// form posts fields to path with the CSRF token taken from page.
func (b *browser) form(page, path string, fields ...string) (*http.Response, string) {
	b.t.Helper()
	v := url.Values{CSRFField: {b.csrf(page)}}
	for i := 0; i+1 < len(fields); i += 2 {
		v.Set(fields[i], fields[i+1])
	}
	return b.post(path, v)
}

func (b *browser) login(email, password string) (*http.Response, string) {
	b.t.Helper()
	return b.form(loginPath, loginPath, "email", email, "password", password)
}

// mustLogin signs in and checks that it worked.
func (b *browser) mustLogin(email, password string) {
	b.t.Helper()
	res, body := b.login(email, password)
	if res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login as %s: %d\n%s", email, res.StatusCode, body)
	}
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.url + "/staff/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(name, value string) {
	b.c.Jar.SetCookies(b.base, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// sessionCSRF is the CSRF token of the signed-in session, from /api/staff/me.
func (b *browser) sessionCSRF() string {
	b.t.Helper()
	res, body := b.get("/api/staff/me")
	m := regexp.MustCompile(`"csrf_token":"([^"]+)"`).FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		b.t.Fatalf("GET /api/staff/me: %d %s", res.StatusCode, body)
	}
	return m[1]
}

// expectSignedOut checks that b is sent to the sign-in page.
func (b *browser) expectSignedOut(path string) {
	b.t.Helper()
	res, body := b.get(path)
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), loginPath) {
		b.t.Fatalf("GET %s: %d %s, want a redirect to the sign-in page\n%s", path, res.StatusCode, res.Header.Get("Location"), body)
	}
	if strings.Contains(body, secret) {
		b.t.Fatalf("GET %s leaked the page while signed out", path)
	}
}

func (b *browser) expectSignedIn(path string) {
	b.t.Helper()
	res, body := b.get(path)
	if res.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d %s, want 200\n%s", path, res.StatusCode, res.Header.Get("Location"), body)
	}
}

// events returns the audit trail as "event" strings, oldest first.
func (e *env) events(t *testing.T) []string {
	return events(t, e.svc)
}

func events(t *testing.T, svc *Service) []string {
	t.Helper()
	rows, err := svc.db.Read.Query(`SELECT event FROM auth_event ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ev string
		rows.Scan(&ev)
		out = append(out, ev)
	}
	return out
}
