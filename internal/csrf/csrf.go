// Package csrf protects the public site's forms, whose visitors have no
// session: a double-submit token. The first page with a form sets a random
// token in a cookie (HttpOnly, SameSite=Lax) and writes the same token into
// the form; a POST is accepted only when the two agree. Another site can
// make a browser send the cookie, but cannot read it to put it in the form.
//
// Staff pages use internal/auth's session token instead.
package csrf

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Cookie is the name of the token cookie; Field the form field.
const (
	Cookie = "sc_form"
	Field  = "csrf_token"
)

const ctxKey = "csrf.public"

// Token returns the request's form token, setting the cookie when the
// visitor has none yet.
func Token(c echo.Context) string {
	if t, ok := c.Get(ctxKey).(string); ok {
		return t
	}
	if ck, err := c.Cookie(Cookie); err == nil && valid(ck.Value) {
		c.Set(ctxKey, ck.Value)
		return ck.Value
	}
	b := make([]byte, 24)
	rand.Read(b)
	t := base64.RawURLEncoding.EncodeToString(b)
	c.SetCookie(&http.Cookie{Name: Cookie, Value: t, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: c.Scheme() == "https"})
	c.Set(ctxKey, t)
	return t
}

// Check refuses (EFORBIDDEN) a request whose form token is missing or does
// not match its cookie. Call it after the body is parsed.
func Check(c echo.Context) error {
	ck, err := c.Cookie(Cookie)
	got := c.FormValue(Field)
	if err != nil || !valid(ck.Value) || subtle.ConstantTimeCompare([]byte(got), []byte(ck.Value)) != 1 {
		return apperr.Errorf(apperr.EFORBIDDEN, "This form expired. Please reload the page and try again.")
	}
	return nil
}

func valid(t string) bool { return len(t) == 32 }
