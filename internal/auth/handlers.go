package auth

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/templates"
)

// Register mounts the staff sign-in and account pages on e and installs the
// guard that keeps everything under /staff and /api/staff behind a login
// with CSRF checks (see RequireLogin and CSRF). Call it once, before serving.
//
//	GET  /staff/login                  sign-in form (?next=/staff/... to return to)
//	POST /staff/login                  sign in; 401 wrong, 429 locked or throttled
//	POST /staff/logout                 sign out
//	GET  /staff/invite/:token          set-password form of an invite or reset link
//	POST /staff/invite/:token          set the password (the link then stops working)
//	GET  /staff/admin/users            admins: list staff, invite form
//	POST /staff/admin/users/invite     admins: invite someone (shows the one-time link)
//	POST /staff/admin/users/:id/disable, /:id/enable
//	POST /staff/admin/users/:id/reset  admins: reset a password (shows the one-time link)
//	GET  /api/staff/me                 JSON: the signed-in user and their CSRF token
//	GET  /staff/                       the staff home page
func Register(e *echo.Echo, svc *Service) {
	e.Use(svc.guard)
	e.GET(loginPath, svc.loginPage)
	e.POST(loginPath, svc.login)
	e.POST(logoutPath, svc.logout)
	e.GET(invitePath, svc.invitePage)
	e.POST(invitePath, svc.acceptInvite)
	e.GET("/api/staff/me", svc.me, svc.RequireLogin)
	e.GET("/staff/", svc.home, svc.RequireLogin)
	adm := e.Group("/staff/admin", svc.RequireAdmin)
	adm.GET("/users", svc.usersPage)
	adm.POST("/users/invite", svc.invite)
	adm.POST("/users/:id/disable", svc.disable)
	adm.POST("/users/:id/enable", svc.enable)
	adm.POST("/users/:id/reset", svc.reset)
}

// loginData is the sign-in form.
type loginData struct {
	Email string
	Next  string
}

func (s *Service) loginPage(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if CurrentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, s.landing(next))
	}
	p := templates.Page{Title: "Staff sign in", Data: loginData{Next: next}}
	switch c.QueryParam("done") {
	case "signed-out":
		p.Notice = "You are signed out."
	case "password-set":
		p.Notice = "Your password is set. Sign in with it now."
	}
	return s.pages.Render(c, http.StatusOK, "staff/login", p)
}

func (s *Service) landing(next string) string {
	if next != "" {
		return next
	}
	return s.cfg.HomePath
}

func (s *Service) login(c echo.Context) error {
	ctx := c.Request().Context()
	d := loginData{Email: c.FormValue("email"), Next: safeNext(c.FormValue("next"))}
	p := templates.Page{Title: "Staff sign in", Data: d}
	ip := c.RealIP()
	key := throttleKey(ip)
	now := s.clock()
	if wait := s.throttle.retryAfter(key, now); wait > 0 {
		mins := int(math.Ceil(wait.Minutes()))
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		s.log.Warn("staff sign-in throttled", "client", key)
		p.Error = fmt.Sprintf("Too many failed sign-ins from your network. Please wait %d minute%s and try again.", mins, plural(mins))
		return s.pages.Render(c, http.StatusTooManyRequests, "staff/login", p)
	}
	u, err := s.Authenticate(ctx, d.Email, c.FormValue("password"))
	if err != nil {
		var locked *lockedError
		switch {
		case errors.As(err, &locked):
			s.throttle.fail(key, now)
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(locked.until.Sub(now).Seconds()))))
			p.Error = apperr.Message(err)
			return s.pages.Render(c, http.StatusTooManyRequests, "staff/login", p)
		case apperr.Code(err) == apperr.EUNAUTHORIZED:
			s.throttle.fail(key, now)
			p.Error = apperr.Message(err)
			return s.pages.Render(c, http.StatusUnauthorized, "staff/login", p)
		}
		return err
	}
	var old string
	if ck, err := c.Cookie(CookieName); err == nil {
		old = ck.Value
	}
	token, _, err := s.startSession(ctx, u, old, ip, c.Request().UserAgent())
	if err != nil {
		return err
	}
	s.setSessionCookie(c, token)
	c.SetCookie(&http.Cookie{Name: preCSRFCookie, Value: "", Path: "/staff", MaxAge: -1, HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode})
	return c.Redirect(http.StatusSeeOther, s.landing(d.Next))
}

func (s *Service) logout(c echo.Context) error {
	sess, err := s.load(c)
	if err != nil {
		return err
	}
	if sess != nil {
		if err := s.endSession(c.Request().Context(), sess); err != nil {
			return err
		}
	}
	s.clearCookie(c)
	return c.Redirect(http.StatusSeeOther, loginPath+"?done=signed-out")
}

// inviteData is the set-password form of a one-time link.
type inviteData struct {
	Reset   bool
	Email   string
	Role    Role
	Expires string
	Name    string
}

func (s *Service) invitePage(c echo.Context) error {
	l, err := s.pending(c.Request().Context(), c.Param("token"))
	if err != nil {
		return err
	}
	return s.pages.Render(c, http.StatusOK, "staff/invite", s.invitePageData(l, ""))
}

func (s *Service) invitePageData(l *pendingLink, name string) templates.Page {
	d := inviteData{Reset: l.Kind == kindReset, Email: l.Email, Role: l.Role, Expires: s.showTime(l.ExpiresAt), Name: name}
	title := "Create your staff account"
	if d.Reset {
		title = "Choose a new password"
	}
	return templates.Page{Title: title, Data: d}
}

func (s *Service) acceptInvite(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.Param("token")
	l, err := s.pending(ctx, token)
	if err != nil {
		return err
	}
	name, password := c.FormValue("name"), c.FormValue("password")
	p := s.invitePageData(l, name)
	if password != c.FormValue("confirm") {
		p.Error = "The two passwords do not match. Type the same password in both boxes."
		return s.pages.Render(c, http.StatusBadRequest, "staff/invite", p)
	}
	if _, err := s.AcceptInvite(ctx, token, name, password); err != nil {
		if apperr.Code(err) == apperr.EINVALID {
			p.Error = apperr.Message(err)
			return s.pages.Render(c, http.StatusBadRequest, "staff/invite", p)
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, loginPath+"?done=password-set")
}

// me answers GET /api/staff/me: who is signed in, and the token their
// unsafe API calls must send in X-CSRF-Token.
func (s *Service) me(c echo.Context) error {
	u := CurrentUser(c)
	return c.JSON(http.StatusOK, map[string]any{
		"id": u.ID, "email": u.Email, "name": u.Name, "role": u.Role, "csrf_token": CSRFToken(c),
	})
}

// usersData is the admin's staff list and invite form.
type usersData struct {
	Users       []userRow
	InviteEmail string
	InviteRole  Role
}

type userRow struct {
	*User
	Status   string
	Sessions int
	Self     bool
}

func (s *Service) usersPage(c echo.Context) error {
	return s.renderUsers(c, http.StatusOK, "", "", RoleStaff)
}

// renderUsers shows the staff list, with msg as an error and the invite
// form holding email and role.
func (s *Service) renderUsers(c echo.Context, status int, msg, email string, role Role) error {
	ctx := c.Request().Context()
	us, err := s.Users(ctx)
	if err != nil {
		return err
	}
	now := s.clock()
	me := CurrentUser(c)
	d := usersData{InviteEmail: email, InviteRole: role}
	for _, u := range us {
		ss, err := s.Sessions(ctx, u.ID)
		if err != nil {
			return err
		}
		d.Users = append(d.Users, userRow{User: u, Status: s.status(u, now), Sessions: len(ss), Self: me != nil && me.ID == u.ID})
	}
	return s.pages.Render(c, status, "staff/users", templates.Page{Title: "Staff accounts", Error: msg, Data: d})
}

func (s *Service) status(u *User, now time.Time) string {
	switch {
	case u.Disabled():
		return "Disabled"
	case now.Before(u.LockedUntil):
		return "Locked until " + u.LockedUntil.In(s.cfg.Location).Format("3:04 PM")
	case u.PasswordSetAt.IsZero():
		return "Waiting to set a password"
	}
	return "Active"
}

// linkData is the page that shows a one-time link, once.
type linkData struct {
	Link    *Link
	Reset   bool
	Expires string
}

func (s *Service) invite(c echo.Context) error {
	email, role := c.FormValue("email"), Role(c.FormValue("role"))
	link, err := s.Invite(c.Request().Context(), email, role, CurrentUser(c))
	if err != nil {
		switch apperr.Code(err) {
		case apperr.EINVALID:
			return s.renderUsers(c, http.StatusBadRequest, apperr.Message(err), email, role)
		case apperr.ECONFLICT:
			return s.renderUsers(c, http.StatusConflict, apperr.Message(err), email, role)
		}
		return err
	}
	// The link is shown here rather than after a redirect: it is a secret
	// stored nowhere in clear, not even in a flash message.
	return s.pages.Render(c, http.StatusOK, "staff/link", templates.Page{Title: "Invitation link", Data: linkData{Link: link, Expires: s.showTime(link.ExpiresAt)}})
}

func userIDParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFoundUser
	}
	return id, nil
}

func (s *Service) disable(c echo.Context) error {
	return s.toggle(c, true)
}

func (s *Service) enable(c echo.Context) error {
	return s.toggle(c, false)
}

func (s *Service) toggle(c echo.Context, disable bool) error {
	ctx := c.Request().Context()
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	u, err := s.UserByID(ctx, id)
	if err != nil {
		return err
	}
	var msg string
	if disable {
		err = s.Disable(ctx, id, CurrentUser(c))
		msg = fmt.Sprintf("%s is disabled and signed out everywhere.", u.Email)
	} else {
		err = s.Enable(ctx, id, CurrentUser(c))
		msg = fmt.Sprintf("%s can sign in again.", u.Email)
	}
	if apperr.Code(err) == apperr.EINVALID {
		return s.renderUsers(c, http.StatusBadRequest, apperr.Message(err), "", RoleStaff)
	} else if err != nil {
		return err
	}
	if err := s.SetFlash(c, msg); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/staff/admin/users")
}

func (s *Service) reset(c echo.Context) error {
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	link, err := s.ResetPassword(c.Request().Context(), id, CurrentUser(c))
	if apperr.Code(err) == apperr.EINVALID {
		return s.renderUsers(c, http.StatusBadRequest, apperr.Message(err), "", RoleStaff)
	} else if err != nil {
		return err
	}
	return s.pages.Render(c, http.StatusOK, "staff/link", templates.Page{Title: "Password reset link", Data: linkData{Link: link, Reset: true, Expires: s.showTime(link.ExpiresAt)}})
}

// home is the staff landing page after sign-in.
func (s *Service) home(c echo.Context) error {
	return s.pages.Render(c, http.StatusOK, "staff/home", templates.Page{Title: "Staff"})
}
