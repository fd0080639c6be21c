package hotline

import (
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/twilio/twilio-go/client"
	"github.com/twilio/twilio-go/twiml"

	"github.com/secondchancekc/secondchance/internal/apperr"
)

// Signature checks X-Twilio-Signature on Twilio's webhooks (CONVENTIONS
// pattern 13): Twilio signs the URL it called, which is our public
// BaseURL plus the path and query, with the account's auth token.
type Signature struct {
	// AuthToken is the account's token; empty means webhooks cannot be
	// verified and are refused, unless Disabled.
	AuthToken string
	// BaseURL is the public URL Twilio calls (base_url), without a slash at
	// the end.
	BaseURL string
	// Disabled turns the check off (twilio.validate_signatures=false), for
	// local testing only.
	Disabled bool
	Log      *slog.Logger
}

// Middleware refuses a request whose signature does not match with 403,
// before any handler acts on it.
func (s Signature) Middleware() echo.MiddlewareFunc {
	v := client.NewRequestValidator(s.AuthToken)
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if s.Disabled {
				return next(c)
			}
			if s.AuthToken == "" {
				log.WarnContext(c.Request().Context(), "twilio webhook refused: no twilio.auth_token to check its signature (set it, or twilio.validate_signatures=false for local testing)")
				return apperr.Errorf(apperr.EFORBIDDEN, "Webhook signatures cannot be checked: no Twilio auth token is configured.")
			}
			if _, err := c.FormParams(); err != nil {
				return apperr.Errorf(apperr.EINVALID, "The webhook's form could not be read.")
			}
			// Twilio signs the POST body's parameters only; the query
			// string (our action URLs carry one) is part of the URL.
			form := c.Request().PostForm
			params := make(map[string]string, len(form))
			for k, vs := range form {
				if len(vs) > 0 {
					params[k] = vs[0]
				}
			}
			url := s.BaseURL + c.Request().URL.RequestURI()
			if !v.Validate(url, params, c.Request().Header.Get("X-Twilio-Signature")) {
				log.WarnContext(c.Request().Context(), "twilio webhook refused: bad signature", "url_path", c.Request().URL.Path)
				return apperr.Errorf(apperr.EFORBIDDEN, "The X-Twilio-Signature header does not match this request.")
			}
			return next(c)
		}
	}
}

// twimlMessage answers a messaging webhook with one reply text, or with an
// empty response when text is "".
func twimlMessage(c echo.Context, text string) error {
	var verbs []twiml.Element
	if text != "" {
		verbs = append(verbs, &twiml.MessagingMessage{Body: text})
	}
	x, err := twiml.Messages(verbs)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "text/xml; charset=utf-8", []byte(x))
}
