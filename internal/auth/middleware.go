package auth

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/internal/server"
	"github.com/secondchancekc/secondchance/templates"
)

// Names on the wire.
const (
	// CookieName is the session cookie: HttpOnly, SameSite=Lax, Path=/,
	// Secure when the base URL is https, and no expiry (it ends with the
	// browser; the server ends it sooner on idle or absolute timeout).
	CookieName = "sc_session"
	// CSRFField is the form field that carries the CSRF token.
	CSRFField = "csrf_token"
	// CSRFHeader is the header that carries the CSRF token for API calls.
	CSRFHeader = "X-CSRF-Token"

	// preCSRFCookie carries the CSRF token of the pages used without a
	// session (sign-in, invite): a double-submit token, so that another site
	// cannot sign a browser into an account of its choosing.
	preCSRFCookie = "sc_csrf"
)

// Paths of this package's pages.
const (
	loginPath  = "/staff/login"
	logoutPath = "/staff/logout"
	invitePath = "/staff/invite/:token"
)

// publicRoutes are the only routes under /staff reachable without a session.
var publicRoutes = map[string]bool{loginPath: true, logoutPath: true, invitePath: true}

// Keys in the echo context.
const (
	keyLoaded  = "auth.loaded"
	keySession = "auth.session"
	keyPreCSRF = "auth.precsrf"
)

var errCSRF = apperr.Errorf(apperr.EFORBIDDEN,
	"This form has expired or did not come from this site. Go back, reload the page and try again.")

var errNotAdmin = apperr.Errorf(apperr.EFORBIDDEN, "Only admins can open this page.")

// load finds the request's session once per request and caches it in c. A
// nil session with a nil error means the request is not signed in; a dead
// session's cookie is cleared.
func (s *Service) load(c echo.Context) (*Session, error) {
	if loaded, _ := c.Get(keyLoaded).(bool); loaded {
		sess, _ := c.Get(keySession).(*Session)
		return sess, nil
	}
	ck, err := c.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		c.Set(keyLoaded, true)
		return nil, nil
	}
	sess, err := s.session(c.Request().Context(), ck.Value)
	if apperr.Code(err) == apperr.EUNAUTHORIZED {
		c.Set(keyLoaded, true)
		s.clearCookie(c)
		return nil, nil
	} else if err != nil {
		return nil, err // fail closed: a database error is not "signed in"
	}
	c.Set(keyLoaded, true)
	c.Set(keySession, sess)
	return sess, nil
}

// RequireLogin is echo middleware that lets only signed-in staff through.
// Others are redirected to /staff/login?next=<this page> (GET and HEAD) or
// /staff/login (other methods), or answered 401 JSON when the path is under
// /api/ or the client asked for JSON.
//
// Register already applies it to everything under /staff and /api/staff;
// using it again on a group there is harmless.
func (s *Service) RequireLogin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := s.load(c)
		if err != nil {
			return err
		}
		if sess == nil {
			return s.unauthenticated(c)
		}
		return next(c)
	}
}

// RequireAdmin is RequireLogin that also answers 403 to staff who are not
// admins.
func (s *Service) RequireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return s.RequireLogin(func(c echo.Context) error {
		if !CurrentUser(c).IsAdmin() {
			return errNotAdmin
		}
		return next(c)
	})
}

// CSRF is echo middleware that refuses (403) any request with an unsafe
// method (not GET, HEAD, OPTIONS or TRACE) unless it carries the session's
// CSRF token in the csrf_token form field or the X-CSRF-Token header. On
// the public sign-in pages, where there is no session yet, the token is the
// one in the sc_csrf cookie instead.
//
// Register already applies it to everything under /staff and /api/staff.
func (s *Service) CSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !safeMethod(c.Request().Method) {
			if err := s.checkCSRF(c); err != nil {
				return err
			}
		}
		return next(c)
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

func (s *Service) checkCSRF(c echo.Context) error {
	sess, err := s.load(c)
	if err != nil {
		return err
	}
	var want string
	if sess != nil {
		want = sess.CSRFToken
	} else if ck, err := c.Cookie(preCSRFCookie); err == nil && validToken(ck.Value) {
		want = ck.Value
	}
	got := c.Request().Header.Get(CSRFHeader)
	if got == "" {
		got = c.FormValue(CSRFField)
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return errCSRF
	}
	return nil
}

// guard is installed on the whole echo instance by Register: everything
// under /staff and /api/staff needs a session (but for the public sign-in
// routes) and a CSRF token on unsafe methods, and is never cached. Doing it
// here rather than per group means a staff route added anywhere, or a path
// that matches no route, is covered too.
func (s *Service) guard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if !isStaffPath(req.URL.Path) && !isStaffPath(req.URL.RawPath) && !isStaffPath(c.Path()) {
			return next(c)
		}
		h := c.Response().Header()
		h.Set(echo.HeaderCacheControl, "no-store")
		h.Set(echo.HeaderXFrameOptions, "DENY")
		h.Set("Referrer-Policy", "same-origin")
		sess, err := s.load(c)
		if err != nil {
			return err
		}
		route := c.Path()
		if sess == nil {
			if !publicRoutes[route] || !isStaffPath(req.URL.Path) {
				return s.unauthenticated(c)
			}
			s.ensurePreCSRF(c)
			if route == logoutPath {
				return next(c) // nothing to sign out of, nothing to protect
			}
		}
		if !safeMethod(req.Method) {
			if err := s.checkCSRF(c); err != nil {
				return err
			}
		}
		if sess != nil && sess.User.IsPartner() {
			// Partners reach the directory pages and nothing else: not the
			// referral log, the queue, reports, texts or accounts.
			switch p := req.URL.Path; {
			case path.Clean(p) != strings.TrimSuffix(p, "/") && p != "/staff/":
				return errPartner
			case p == "/staff/" && safeMethod(req.Method):
				return c.Redirect(http.StatusSeeOther, "/staff/directory")
			case p == logoutPath, p == "/staff/directory", strings.HasPrefix(p, "/staff/directory/"):
			default:
				return errPartner
			}
		}
		return next(c)
	}
}

var errPartner = apperr.Errorf(apperr.EFORBIDDEN, "Partner accounts can open only their organization's listings.")

// isStaffPath reports whether p is /staff, /api/staff or below them.
func isStaffPath(p string) bool {
	return p == "/staff" || strings.HasPrefix(p, "/staff/") || p == "/api/staff" || strings.HasPrefix(p, "/api/staff/")
}

// unauthenticated answers a request that needs a session and has none.
func (s *Service) unauthenticated(c echo.Context) error {
	if server.WantsJSON(c) {
		return errNoSession
	}
	target := loginPath
	req := c.Request()
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		if next := safeNext(req.URL.RequestURI()); next != "" {
			target += "?next=" + url.QueryEscape(next)
		}
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// safeNext returns next if it is a staff page on this site to return to
// after sign-in, or "".
func safeNext(next string) string {
	if len(next) > 2000 || strings.ContainsAny(next, "\\\r\n\t\x00") || strings.HasPrefix(next, "//") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	if u.Path != "/staff" && !strings.HasPrefix(u.Path, "/staff/") {
		return ""
	}
	if u.Path == loginPath || u.Path == logoutPath || strings.HasPrefix(u.Path, "/staff/invite/") {
		return ""
	}
	return next
}

// ensurePreCSRF makes sure a request without a session has a pre-session
// CSRF token, setting the cookie when it has none.
func (s *Service) ensurePreCSRF(c echo.Context) {
	if ck, err := c.Cookie(preCSRFCookie); err == nil && validToken(ck.Value) {
		c.Set(keyPreCSRF, ck.Value)
		return
	}
	t := randomToken()
	c.SetCookie(&http.Cookie{Name: preCSRFCookie, Value: t, Path: "/staff", HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode})
	c.Set(keyPreCSRF, t)
}

func (s *Service) setSessionCookie(c echo.Context, token string) {
	c.SetCookie(&http.Cookie{Name: CookieName, Value: token, Path: "/", HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

func (s *Service) clearCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// CurrentUser returns the signed-in staff member, or nil when the request
// has no session (only possible on public pages: the guard turns everyone
// else away).
func CurrentUser(c echo.Context) *User {
	if sess, _ := c.Get(keySession).(*Session); sess != nil {
		return sess.User
	}
	return nil
}

// CSRFToken returns the token that forms on this page must send back in the
// csrf_token field (or API calls in the X-CSRF-Token header).
func CSRFToken(c echo.Context) string {
	if sess, _ := c.Get(keySession).(*Session); sess != nil {
		return sess.CSRFToken
	}
	t, _ := c.Get(keyPreCSRF).(string)
	return t
}

// PageViewer tells the page renderer who is looking at the request: the
// signed-in staff member (nil on public pages), the CSRF token for forms and
// the session's flash message. cmd passes it to templates.New.
func PageViewer(c echo.Context) templates.Viewer {
	var v templates.Viewer
	if u := CurrentUser(c); u != nil {
		v.User = u // only a non-nil *User, so that {{if .User}} means signed in
	}
	v.CSRF = CSRFToken(c)
	if sess, _ := c.Get(keySession).(*Session); sess != nil {
		v.Flash = sess.flash
	}
	return v
}

// SetFlash stores msg to be shown (once) on the next page the session
// loads: forms call it on success, then redirect.
func (s *Service) SetFlash(c echo.Context, msg string) error {
	sess, _ := c.Get(keySession).(*Session)
	if sess == nil {
		return errNoSession
	}
	return s.setFlash(c.Request().Context(), sess, msg)
}
