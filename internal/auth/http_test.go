package auth

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	b := e.browser(t)

	res, body := b.get(loginPath)
	if res.StatusCode != 200 || !strings.Contains(body, `<label for="email">`) || !strings.Contains(body, `autocomplete="current-password"`) ||
		strings.Contains(body, "<script") || res.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("login page %d\n%s", res.StatusCode, body)
	}
	pre := b.cookie(preCSRFCookie)
	if pre == "" || !strings.Contains(res.Header.Get("Set-Cookie"), "HttpOnly") {
		t.Fatalf("no pre-session CSRF cookie: %v", res.Header["Set-Cookie"])
	}

	// Wrong password and unknown email: the same generic answer.
	res1, body1 := b.login(staffEmail, "not the password")
	res2, body2 := b.login("nobody@secondchancekc.org", "not the password")
	for _, r := range []struct {
		res  *http.Response
		body string
	}{{res1, body1}, {res2, body2}} {
		if r.res.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, "The email or password is wrong.") {
			t.Errorf("failed login: %d\n%s", r.res.StatusCode, r.body)
		}
		if strings.Contains(r.body, "not the password") {
			t.Error("the typed password was sent back")
		}
	}
	if !strings.Contains(body1, `value="`+staffEmail+`"`) {
		t.Error("the email typed is not kept in the form")
	}
	if b.cookie(CookieName) != "" {
		t.Fatal("a failed login set a session cookie")
	}

	res, body = b.login(staffEmail, staffPass)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/staff/" {
		t.Fatalf("login: %d %q\n%s", res.StatusCode, res.Header.Get("Location"), body)
	}
	var sc *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == CookieName {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.Secure || sc.MaxAge != 0 || !sc.Expires.IsZero() {
		t.Fatalf("session cookie %+v", sc)
	}
	// Only the hash of the token is stored.
	var n int
	e.svc.db.Read.QueryRow(`SELECT COUNT(*) FROM staff_session WHERE token_hash = ?`, sc.Value).Scan(&n)
	if n != 0 {
		t.Fatal("the session token is stored in clear")
	}
	e.svc.db.Read.QueryRow(`SELECT COUNT(*) FROM staff_session WHERE token_hash = ?`, hashToken(sc.Value)).Scan(&n)
	if n != 1 {
		t.Fatal("no session row for the cookie")
	}
	if res, body := b.get("/staff/"); res.StatusCode != 200 || !strings.Contains(body, "You are signed in as") {
		t.Errorf("home after login: %d %s", res.StatusCode, body)
	}
	b.expectSignedIn("/staff/clients")
	// Signed in, the login page sends you on.
	if res, _ := b.get(loginPath + "?next=/staff/clients"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/staff/clients" {
		t.Errorf("login page when signed in: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	count := map[string]int{}
	for _, ev := range e.events(t) {
		count[ev]++
	}
	if count["login_failed"] != 2 || count["login"] != 1 {
		t.Errorf("audit trail: %v", count)
	}
}

func TestLoginReturnsToPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	b := e.browser(t)
	res, _ := b.get("/staff/clients/7?tab=notes")
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || loc != "/staff/login?next=%2Fstaff%2Fclients%2F7%3Ftab%3Dnotes" {
		t.Fatalf("redirect %d %q", res.StatusCode, loc)
	}
	_, body := b.get(loc)
	if !strings.Contains(body, `name="next" value="/staff/clients/7?tab=notes"`) {
		t.Fatalf("next not carried in the form:\n%s", body)
	}
	res, _ = b.form(loc, loginPath, "email", staffEmail, "password", staffPass, "next", "/staff/clients/7?tab=notes")
	if res.Header.Get("Location") != "/staff/clients/7?tab=notes" {
		t.Errorf("after login went to %q", res.Header.Get("Location"))
	}
	// Only staff pages on this site are places to return to.
	for _, next := range []string{"https://evil.example/staff/", "//evil.example/staff", "/\\evil.example", "/public", "/staff/logout", "javascript:alert(1)", "/staff/invite/x"} {
		b2 := e.browser(t)
		res, _ := b2.form(loginPath, loginPath, "email", staffEmail, "password", staffPass, "next", next)
		if res.Header.Get("Location") != "/staff/" {
			t.Errorf("next=%q: went to %q", next, res.Header.Get("Location"))
		}
	}
}

func TestLockoutOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	b := e.browser(t)
	for i := 1; i <= 4; i++ {
		if res, _ := b.login(staffEmail, "wrong password "+strconv.Itoa(i)); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, res.StatusCode)
		}
	}
	res, body := b.login(staffEmail, "wrong password 5")
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Try again after 3:15 PM UTC (in 15 minutes)") || res.Header.Get("Retry-After") != "900" {
		t.Fatalf("5th failure: %d Retry-After %q\n%s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	if res, _ := b.login(staffEmail, staffPass); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password while locked: %d", res.StatusCode)
	}
	// Other accounts are not affected.
	e.browser(t).mustLogin(adminEmail, adminPass)
	// The admin page shows the lock.
	a := e.browser(t)
	a.mustLogin(adminEmail, adminPass)
	if _, body := a.get("/staff/admin/users"); !strings.Contains(body, "Locked until 3:15 PM") {
		t.Errorf("users page does not show the lock:\n%s", body)
	}
	e.clk.Add(15 * time.Minute)
	b.mustLogin(staffEmail, staffPass)
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{ThrottleFailures: 3, ThrottleWindow: 10 * time.Minute})
	b := e.browser(t)
	for i := range 3 {
		if res, _ := b.login("nobody"+strconv.Itoa(i)+"@x.org", "whatever password"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, res.StatusCode)
		}
	}
	e.clk.Add(4 * time.Minute)
	// Now even the right password from this address waits.
	res, body := b.login(staffEmail, staffPass)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "360" || !strings.Contains(body, "wait 6 minutes") {
		t.Fatalf("throttled: %d Retry-After %q\n%s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	if b.cookie(CookieName) != "" {
		t.Fatal("throttled login set a session")
	}
	// The throttle is per address, not per account: nothing was counted
	// against the staff account.
	if u, _ := e.svc.UserByEmail(context.Background(), staffEmail); u.FailedLogins != 0 {
		t.Errorf("throttled attempt counted against the account: %d", u.FailedLogins)
	}
	e.clk.Add(6 * time.Minute)
	b.mustLogin(staffEmail, staffPass)
	if got := throttleKey("2001:db8:1:2:3:4:5:6"); got != "2001:db8:1:2::/64" {
		t.Errorf("IPv6 throttle key %q", got)
	}
	if got := throttleKey("::ffff:203.0.113.7"); got != "203.0.113.7" {
		t.Errorf("mapped IPv4 throttle key %q", got)
	}
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	b := e.browser(t)
	b.mustLogin(staffEmail, staffPass)
	e.clk.Add(20 * time.Minute)
	b.expectSignedIn("/staff/clients")
	e.clk.Add(20 * time.Minute) // 40 minutes after sign-in, 20 after last use
	b.expectSignedIn("/staff/clients")
	e.clk.Add(30 * time.Minute)
	b.expectSignedOut("/staff/clients")
	var n int
	e.svc.db.Read.QueryRow(`SELECT COUNT(*) FROM staff_session`).Scan(&n)
	if n != 0 {
		t.Errorf("%d session rows left after the idle timeout", n)
	}
	if b.cookie(CookieName) != "" {
		t.Error("dead session cookie not cleared")
	}
}

func TestAbsoluteTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	b := e.browser(t)
	b.mustLogin(staffEmail, staffPass)
	for elapsed := time.Duration(0); elapsed < 12*time.Hour-25*time.Minute; {
		e.clk.Add(25 * time.Minute)
		elapsed += 25 * time.Minute
		b.expectSignedIn("/staff/clients")
	}
	e.clk.Add(25 * time.Minute) // past 12 hours, though used 25 minutes ago
	b.expectSignedOut("/staff/clients")
}

func TestSessionFixation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	b := e.browser(t)
	planted := randomToken()
	b.setCookie(CookieName, planted)
	b.mustLogin(staffEmail, staffPass)
	first := b.cookie(CookieName)
	if first == "" || first == planted {
		t.Fatalf("session token %q after login with planted %q", first, planted)
	}
	// Signing in again (here as someone else) rotates the token and ends
	// the old session.
	res, _ := b.post(loginPath, url.Values{CSRFField: {b.sessionCSRF()}, "email": {adminEmail}, "password": {adminPass}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second login: %d", res.StatusCode)
	}
	second := b.cookie(CookieName)
	if second == first || second == "" {
		t.Fatal("token not rotated at the second login")
	}
	old := e.browser(t)
	old.setCookie(CookieName, first)
	old.expectSignedOut("/staff/clients")
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	b := e.browser(t)
	b.mustLogin(staffEmail, staffPass)
	token := b.cookie(CookieName)
	// Without the token, logout is refused (another site cannot sign you out).
	if res, _ := b.post(logoutPath, url.Values{}); res.StatusCode != http.StatusForbidden {
		t.Errorf("logout without CSRF: %d", res.StatusCode)
	}
	res, _ := b.post(logoutPath, url.Values{CSRFField: {b.sessionCSRF()}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/staff/login?done=signed-out" {
		t.Fatalf("logout: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if _, body := b.get(res.Header.Get("Location")); !strings.Contains(body, "You are signed out.") {
		t.Error("no signed-out notice")
	}
	b.expectSignedOut("/staff/clients")
	replay := e.browser(t)
	replay.setCookie(CookieName, token)
	replay.expectSignedOut("/staff/clients")
	// Logging out with no session just goes to the sign-in page.
	if res, _ := e.browser(t).post(logoutPath, url.Values{}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("logout without a session: %d", res.StatusCode)
	}
	if !strings.Contains(strings.Join(e.events(t), " "), "logout") {
		t.Error("no logout event")
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	b := e.browser(t)
	b.mustLogin(staffEmail, staffPass)
	token := b.sessionCSRF()

	other := e.browser(t)
	other.mustLogin(adminEmail, adminPass)
	otherToken := other.sessionCSRF()

	post := func(path string, form url.Values, header map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		return b.do(req)
	}
	for _, tc := range []struct {
		Name     string
		Path     string
		Form     url.Values
		Header   map[string]string
		Status   int
		Contains string
	}{
		{"form, missing", "/staff/clients", url.Values{}, nil, 403, "This form has expired or did not come from this site"},
		{"form, wrong", "/staff/clients", url.Values{CSRFField: {"x" + token[1:]}}, nil, 403, "reload the page"},
		{"form, another session's", "/staff/clients", url.Values{CSRFField: {otherToken}}, nil, 403, "reload the page"},
		{"form, empty", "/staff/clients", url.Values{CSRFField: {""}}, nil, 403, "reload the page"},
		{"form, right", "/staff/clients", url.Values{CSRFField: {token}}, nil, 200, "saved"},
		{"api, missing", "/api/staff/clients", url.Values{}, nil, 403, `"code":"forbidden"`},
		{"api, wrong header", "/api/staff/clients", url.Values{}, map[string]string{CSRFHeader: otherToken}, 403, `"code":"forbidden"`},
		{"api, right header", "/api/staff/clients", url.Values{}, map[string]string{CSRFHeader: token}, 200, `"saved":"yes"`},
		{"api, right field", "/api/staff/clients", url.Values{CSRFField: {token}}, nil, 200, `"saved":"yes"`},
		{"admin form by staff, right token", "/staff/admin/users/invite", url.Values{CSRFField: {token}, "email": {"x@y.org"}, "role": {"admin"}}, nil, 403, "Only admins"},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			res, body := post(tc.Path, tc.Form, tc.Header)
			if res.StatusCode != tc.Status || !strings.Contains(body, tc.Contains) {
				t.Errorf("%d, want %d with %q\n%s", res.StatusCode, tc.Status, tc.Contains, body)
			}
		})
	}
	// DELETE needs it too.
	req, _ := http.NewRequest(http.MethodDelete, e.url+"/api/staff/clients/3", nil)
	if res, _ := b.do(req); res.StatusCode != 403 {
		t.Errorf("DELETE without token: %d", res.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodDelete, e.url+"/api/staff/clients/3", nil)
	req.Header.Set(CSRFHeader, token)
	if res, _ := b.do(req); res.StatusCode != 204 {
		t.Errorf("DELETE with token: %d", res.StatusCode)
	}

	// The sign-in form has its own (pre-session) token.
	anon := e.browser(t)
	if res, _ := anon.post(loginPath, url.Values{"email": {staffEmail}, "password": {staffPass}}); res.StatusCode != 403 {
		t.Errorf("login without CSRF: %d", res.StatusCode)
	}
	anon.csrf(loginPath) // sets the cookie
	if res, _ := anon.post(loginPath, url.Values{CSRFField: {randomToken()}, "email": {staffEmail}, "password": {staffPass}}); res.StatusCode != 403 {
		t.Errorf("login with a wrong CSRF token: %d", res.StatusCode)
	}
	if anon.cookie(CookieName) != "" {
		t.Error("a login refused for CSRF set a session")
	}
}

// Every route under /staff and /api/staff, registered by this package or
// any other, and paths that match no route, turn away a visitor who is not
// signed in without showing anything.
func TestEveryStaffRouteNeedsLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	param := regexp.MustCompile(`:[a-z_]+|\*`)
	seen := 0
	type probe struct{ method, path string }
	var probes []probe
	for _, r := range e.srv.Echo.Routes() {
		if !isStaffPath(r.Path) || publicRoutes[r.Path] {
			continue
		}
		switch r.Method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			continue // echo's internal not-found routes of groups
		}
		probes = append(probes, probe{r.Method, param.ReplaceAllString(r.Path, "1")})
		seen++
	}
	if seen < 10 {
		t.Fatalf("only %d staff routes found", seen)
	}
	probes = append(probes,
		probe{"GET", "/staff"}, probe{"GET", "/staff/no/such/page"}, probe{"POST", "/staff/no/such/page"},
		probe{"GET", "/api/staff"}, probe{"GET", "/api/staff/no/such"}, probe{"GET", "/%73taff/clients"},
		probe{"GET", "/staff/%63lients"}, probe{"GET", "/staff//clients"}, probe{"GET", "/staff/admin/users/"},
		probe{"PUT", "/staff/clients"}, probe{"GET", "/staff/login/../clients"},
	)
	for _, p := range probes {
		t.Run(p.method+" "+p.path, func(t *testing.T) {
			b := e.browser(t)
			req, _ := http.NewRequest(p.method, e.url+p.path, strings.NewReader("a=b"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "text/html")
			res, body := b.do(req)
			if strings.Contains(body, secret) || strings.Contains(body, "saved") || strings.Contains(body, adminEmail) {
				t.Fatalf("leaked: %s", body)
			}
			if strings.HasPrefix(p.path, "/api/") {
				if res.StatusCode != 401 || !strings.Contains(body, `"code":"unauthorized"`) {
					t.Errorf("%d %s, want 401 JSON", res.StatusCode, body)
				}
				return
			}
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), loginPath) {
				t.Errorf("%d %q, want a redirect to sign in\n%s", res.StatusCode, res.Header.Get("Location"), body)
			}
			if res.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
			}
		})
	}
	// A JSON client on a staff page gets 401, not a redirect.
	req, _ := http.NewRequest(http.MethodGet, e.url+"/staff/clients", nil)
	req.Header.Set("Accept", "application/json")
	if res, _ := e.browser(t).do(req); res.StatusCode != 401 {
		t.Errorf("JSON client on a staff page: %d", res.StatusCode)
	}
	// Public pages are unaffected.
	if res, body := e.browser(t).get("/public"); res.StatusCode != 200 || body != "public page" {
		t.Errorf("public page: %d", res.StatusCode)
	}
}

func TestAdminPagesAreForAdmins(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	s := e.browser(t)
	s.mustLogin(staffEmail, staffPass)
	token := s.sessionCSRF()
	if res, body := s.get("/staff/admin/users"); res.StatusCode != 403 || strings.Contains(body, adminEmail) {
		t.Errorf("staff on the users page: %d", res.StatusCode)
	}
	for _, path := range []string{"/staff/admin/users/invite", "/staff/admin/users/1/disable", "/staff/admin/users/1/enable", "/staff/admin/users/1/reset"} {
		if res, _ := s.post(path, url.Values{CSRFField: {token}, "email": {"x@y.org"}, "role": {"admin"}}); res.StatusCode != 403 {
			t.Errorf("staff POST %s: %d", path, res.StatusCode)
		}
	}
	if u, _ := e.svc.UserByID(context.Background(), e.admin.ID); u.Disabled() || u.PasswordSetAt.IsZero() {
		t.Error("a staff member changed an admin's account")
	}
	a := e.browser(t)
	a.mustLogin(adminEmail, adminPass)
	res, body := a.get("/staff/admin/users")
	if res.StatusCode != 200 || !strings.Contains(body, staffEmail) || !strings.Contains(body, "Staff accounts") {
		t.Errorf("admin on the users page: %d\n%s", res.StatusCode, body)
	}
	if strings.Contains(body, "$argon2id") {
		t.Error("password hash on the page")
	}
}

var linkRE = regexp.MustCompile(`<p class="link" id="link">([^<]+)</p>`)

func linkPath(t *testing.T, body string) string {
	t.Helper()
	m := linkRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no link on the page:\n%s", body)
	}
	u, err := url.Parse(m[1])
	if err != nil || u.Host != "staff.test" {
		t.Fatalf("link %q", m[1])
	}
	return u.Path
}

func TestInviteFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	a := e.browser(t)
	a.mustLogin(adminEmail, adminPass)

	// Form errors re-render the page with the input and the message.
	res, body := a.form("/staff/admin/users", "/staff/admin/users/invite", "email", "not-an-email", "role", "staff")
	if res.StatusCode != 400 || !strings.Contains(body, "is not an email address") || !strings.Contains(body, `value="not-an-email"`) {
		t.Errorf("bad email: %d\n%s", res.StatusCode, body)
	}
	res, body = a.form("/staff/admin/users", "/staff/admin/users/invite", "email", staffEmail, "role", "admin")
	if res.StatusCode != 409 || !strings.Contains(body, "already an account") || !strings.Contains(body, `<option value="admin" selected>`) {
		t.Errorf("existing email: %d\n%s", res.StatusCode, body)
	}

	res, body = a.form("/staff/admin/users", "/staff/admin/users/invite", "email", "new.person@secondchancekc.org", "role", "staff")
	if res.StatusCode != 200 || !strings.Contains(body, "works once") {
		t.Fatalf("invite: %d\n%s", res.StatusCode, body)
	}
	path := linkPath(t, body)

	n := e.browser(t)
	res, body = n.get(path)
	if res.StatusCode != 200 || !strings.Contains(body, "new.person@secondchancekc.org") || !strings.Contains(body, "Create your staff account") ||
		res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("invite page: %d\n%s", res.StatusCode, body)
	}
	res, body = n.form(path, path, "name", "New Person", "password", "a garden of lemons", "confirm", "a garden of lemon")
	if res.StatusCode != 400 || !strings.Contains(body, "do not match") || !strings.Contains(body, `value="New Person"`) {
		t.Errorf("mismatch: %d\n%s", res.StatusCode, body)
	}
	res, body = n.form(path, path, "name", "New Person", "password", "password1234", "confirm", "password1234")
	if res.StatusCode != 400 || !strings.Contains(body, "too common") {
		t.Errorf("common password: %d\n%s", res.StatusCode, body)
	}
	res, _ = n.form(path, path, "name", "New Person", "password", "a garden of lemons", "confirm", "a garden of lemons")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/staff/login?done=password-set" {
		t.Fatalf("accept: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	// Once only.
	res, body = n.get(path)
	if res.StatusCode != 404 || !strings.Contains(body, "expired or has already been used") {
		t.Errorf("used link: %d\n%s", res.StatusCode, body)
	}
	n2 := e.browser(t)
	n2.csrf(loginPath)
	if res, _ := n2.post(path, url.Values{CSRFField: {n2.cookie(preCSRFCookie)}, "password": {"another password here"}, "confirm": {"another password here"}}); res.StatusCode != 404 {
		t.Errorf("second accept: %d", res.StatusCode)
	}
	n.mustLogin("new.person@secondchancekc.org", "a garden of lemons")
	n.expectSignedIn("/staff/clients")
	if res, _ := n.get("/staff/admin/users"); res.StatusCode != 403 {
		t.Errorf("invited staff reach the admin page: %d", res.StatusCode)
	}

	// Expiry.
	_, body = a.form("/staff/admin/users", "/staff/admin/users/invite", "email", "slow@secondchancekc.org", "role", "staff")
	slow := linkPath(t, body)
	e.clk.Add(72 * time.Hour)
	if res, _ := e.browser(t).get(slow); res.StatusCode != 404 {
		t.Errorf("expired link: %d", res.StatusCode)
	}
}

func TestResetOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	s := e.browser(t)
	s.mustLogin(staffEmail, staffPass)
	s2 := e.browser(t) // signed in on a second device
	s2.mustLogin(staffEmail, staffPass)

	a := e.browser(t)
	a.mustLogin(adminEmail, adminPass)
	res, body := a.form("/staff/admin/users", "/staff/admin/users/"+strconv.FormatInt(e.staff.ID, 10)+"/reset")
	if res.StatusCode != 200 || !strings.Contains(body, "no longer works") {
		t.Fatalf("reset: %d\n%s", res.StatusCode, body)
	}
	path := linkPath(t, body)
	s.expectSignedOut("/staff/clients")
	s2.expectSignedOut("/staff/clients")
	if res, _ := s.login(staffEmail, staffPass); res.StatusCode != 401 {
		t.Errorf("old password after reset: %d", res.StatusCode)
	}
	if _, body := a.get("/staff/admin/users"); !strings.Contains(body, "Waiting to set a password") {
		t.Error("users page does not show the pending reset")
	}
	res, body = s.get(path)
	if res.StatusCode != 200 || !strings.Contains(body, "Choose a new password") || strings.Contains(body, `name="name"`) {
		t.Fatalf("reset page: %d\n%s", res.StatusCode, body)
	}
	res, _ = s.form(path, path, "password", "my fresh new password", "confirm", "my fresh new password")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("set new password: %d", res.StatusCode)
	}
	s.mustLogin(staffEmail, "my fresh new password")
	// An unknown id is 404.
	if res, _ := a.form("/staff/admin/users", "/staff/admin/users/999/reset"); res.StatusCode != 404 {
		t.Errorf("reset of an unknown id: %d", res.StatusCode)
	}
	if res, _ := a.form("/staff/admin/users", "/staff/admin/users/abc/reset"); res.StatusCode != 404 {
		t.Errorf("reset of a bad id: %d", res.StatusCode)
	}
}

func TestDisableOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	s := e.browser(t)
	s.mustLogin(staffEmail, staffPass)
	a := e.browser(t)
	a.mustLogin(adminEmail, adminPass)
	id := strconv.FormatInt(e.staff.ID, 10)

	res, _ := a.form("/staff/admin/users", "/staff/admin/users/"+id+"/disable")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/staff/admin/users" {
		t.Fatalf("disable: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	_, body := a.get("/staff/admin/users")
	if !strings.Contains(body, staffEmail+" is disabled and signed out everywhere.") || !strings.Contains(body, `role="status"`) {
		t.Errorf("no flash after disabling:\n%s", body)
	}
	if _, body := a.get("/staff/admin/users"); strings.Contains(body, "is disabled and signed out") {
		t.Error("the flash shows twice")
	}
	s.expectSignedOut("/staff/clients")
	res, body = s.login(staffEmail, staffPass)
	if res.StatusCode != 401 || !strings.Contains(body, "The email or password is wrong.") {
		t.Errorf("disabled user login: %d\n%s", res.StatusCode, body)
	}
	// Admins cannot disable themselves.
	res, body = a.form("/staff/admin/users", "/staff/admin/users/"+strconv.FormatInt(e.admin.ID, 10)+"/disable")
	if res.StatusCode != 400 || !strings.Contains(body, "cannot disable your own account") {
		t.Errorf("self-disable: %d\n%s", res.StatusCode, body)
	}
	res, _ = a.form("/staff/admin/users", "/staff/admin/users/"+id+"/enable")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable: %d", res.StatusCode)
	}
	s.mustLogin(staffEmail, staffPass)
}

func TestSecureCookies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{BaseURL: "https://staff.test"})
	// The cookie jar would not send Secure cookies over plain HTTP, so this
	// test carries them by hand.
	res, body := e.browser(t).get(loginPath)
	var pre string
	for _, c := range res.Cookies() {
		if c.Name == preCSRFCookie {
			pre = c.Value
			if !c.Secure || !c.HttpOnly {
				t.Errorf("pre-session cookie %+v", c)
			}
		}
	}
	token := csrfRE.FindStringSubmatch(body)[1]
	form := url.Values{CSRFField: {token}, "email": {staffEmail}, "password": {staffPass}}
	req, _ := http.NewRequest(http.MethodPost, e.url+loginPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: preCSRFCookie, Value: pre})
	res, _ = e.browser(t).do(req)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	var sc *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == CookieName {
			sc = c
		}
	}
	if sc == nil || !sc.Secure || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v", sc)
	}
}

// After signing in, the staff home answers (it was a 404 before it existed)
// and shows admin links to admins only.
func TestStaffHome(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	b := e.browser(t)
	if res, _ := b.get("/staff/"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("home without login: %d, want a redirect to sign in", res.StatusCode)
	}
	if res, _ := b.login(staffEmail, staffPass); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	res, body := b.get("/staff/")
	if res.StatusCode != 200 || !strings.Contains(body, "You are signed in as") {
		t.Fatalf("home: %d\n%s", res.StatusCode, body)
	}
	if strings.Contains(body, "/staff/admin/users") {
		t.Error("a staff member sees the admin link")
	}
}
