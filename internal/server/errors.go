package server

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

// codeStatus maps each apperr code to its HTTP status. A code missing here is
// treated as internal.
var codeStatus = map[string]int{
	apperr.EINVALID:        http.StatusBadRequest,
	apperr.EUNAUTHORIZED:   http.StatusUnauthorized,
	apperr.EFORBIDDEN:      http.StatusForbidden,
	apperr.ENOTFOUND:       http.StatusNotFound,
	apperr.ECONFLICT:       http.StatusConflict,
	apperr.ETOOMANY:        http.StatusTooManyRequests,
	apperr.EUNAVAILABLE:    http.StatusServiceUnavailable,
	apperr.ENOTIMPLEMENTED: http.StatusNotImplemented,
	apperr.EINTERNAL:       http.StatusInternalServerError,
}

// Codes for errors that come from echo or net/http rather than apperr.
const (
	codeMethodNotAllowed = "method_not_allowed"
	codeTooLarge         = "request_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
)

// statusAnswer is the code and message we send for an *echo.HTTPError of a
// given status. echo's own messages are not shown: they are terse, English
// only, and (for bind errors) can quote parser internals.
var statusAnswer = map[int]struct{ code, msg string }{
	http.StatusBadRequest:            {apperr.EINVALID, "The request could not be understood."},
	http.StatusUnauthorized:          {apperr.EUNAUTHORIZED, "Please sign in to continue."},
	http.StatusForbidden:             {apperr.EFORBIDDEN, "You do not have access to this page."},
	http.StatusNotFound:              {apperr.ENOTFOUND, "We could not find that page."},
	http.StatusMethodNotAllowed:      {codeMethodNotAllowed, "That action is not allowed here."},
	http.StatusRequestEntityTooLarge: {codeTooLarge, "The request is too large."},
	http.StatusUnsupportedMediaType:  {codeUnsupportedMedia, "The request is in a format this page does not accept."},
	http.StatusTooManyRequests:       {apperr.ETOOMANY, "Too many requests. Please wait a moment and try again."},
	http.StatusNotImplemented:        {apperr.ENOTIMPLEMENTED, "That is not available yet."},
	http.StatusServiceUnavailable:    {apperr.EUNAVAILABLE, "The service is busy or down for a moment. Please try again shortly."},
}

// internalMessage is the only thing a user ever learns about an internal error.
const internalMessage = "Internal error."

// statusClientClosed is nginx's convention for "the client went away before
// we answered"; it only shows up in our logs and metrics.
const statusClientClosed = 499

// classify turns any error into the status, code and user-safe message to
// answer with, and whether it is an internal error that must be logged.
func classify(c echo.Context, err error) (status int, code, msg string, internal bool) {
	var ae *apperr.Error
	if errors.As(err, &ae) {
		st, ok := codeStatus[ae.Code]
		if !ok || st == http.StatusInternalServerError {
			return http.StatusInternalServerError, apperr.EINTERNAL, internalMessage, true
		}
		return st, ae.Code, ae.Message, false
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		// echo wraps a body-limit error met while binding in a 400; the
		// inner error is the truthful one.
		var inner *echo.HTTPError
		if errors.As(he.Internal, &inner) {
			he = inner
		}
		return httpStatusAnswer(he.Code)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return httpStatusAnswer(http.StatusRequestEntityTooLarge)
	}
	if errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil {
		return statusClientClosed, apperr.EUNAVAILABLE, "The request was cancelled.", false
	}
	return http.StatusInternalServerError, apperr.EINTERNAL, internalMessage, true
}

func httpStatusAnswer(status int) (int, string, string, bool) {
	if a, ok := statusAnswer[status]; ok {
		return status, a.code, a.msg, false
	}
	switch {
	case status >= 400 && status < 500:
		return status, apperr.EINVALID, http.StatusText(status) + ".", false
	case status >= 500 && status < 600:
		return status, apperr.EINTERNAL, internalMessage, status == http.StatusInternalServerError
	}
	// Not an error status at all (a handler misused echo.NewHTTPError).
	return http.StatusInternalServerError, apperr.EINTERNAL, internalMessage, true
}

// handleError is the one echo.HTTPErrorHandler. Handlers return errors; this
// decides the status from the apperr code, logs internal errors (and only
// those) with the request ID, and answers JSON or HTML.
func (s *Server) handleError(err error, c echo.Context) {
	status, code, msg, internal := classify(c, err)
	var pe *panicError
	if internal && !errors.As(err, &pe) { // recovery already logged panics
		s.log.LogAttrs(c.Request().Context(), slog.LevelError, "internal error",
			slog.String("err", err.Error()),
			slog.String("method", c.Request().Method),
			slog.String("route", routeLabel(c)),
			slog.String("request_id", RequestID(c)),
		)
	}
	if c.Response().Committed {
		return // too late to answer; the log above is all we can do
	}
	if status == statusClientClosed {
		c.Response().WriteHeader(status) // for the access log and metrics
		return
	}
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-store")
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	var werr error
	if WantsJSON(c) {
		werr = c.JSON(status, errorBody{Error: errorDetail{Code: code, Message: msg, RequestID: RequestID(c)}})
	} else if isWebhook(c) {
		werr = c.String(status, msg+"\n")
	} else {
		werr = s.HTMLError(c, status, msg)
		if werr != nil && !c.Response().Committed {
			s.log.Error("render error page", "err", werr, "request_id", RequestID(c))
			werr = c.String(status, msg)
		}
	}
	if werr != nil {
		s.log.Debug("write error answer", "err", werr, "request_id", RequestID(c))
	}
}

// errorBody is the JSON error answer:
// {"error":{"code":"not_found","message":"...","request_id":"..."}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// isWebhook reports whether c is a call from a provider's servers
// (Twilio's, under /hotline/), not a person: it is answered in plain text,
// which the provider's request log shows as it is ("The X-Twilio-Signature
// header does not match this request."), not with a page about forms.
func isWebhook(c echo.Context) bool {
	return strings.HasPrefix(c.Request().URL.Path, "/hotline/")
}

// WantsJSON reports whether the answer to c should be JSON rather than HTML:
// the API paths (/hsds/, /api/) always are, and so is anything whose Accept
// header names application/json.
func WantsJSON(c echo.Context) bool {
	p := c.Request().URL.Path
	if p == "/hsds" || p == "/api" || strings.HasPrefix(p, "/hsds/") || strings.HasPrefix(p, "/api/") {
		return true
	}
	return strings.Contains(c.Request().Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON)
}

// errorPage is the stand-in error page until the templates package provides
// the real one: self-contained (no assets to fail), readable on a phone, and
// plain language.
var errorPage = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a;background:#fff}
a{color:#0b57d0}
.ref{color:#555;font-size:.875rem}
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
<p><a href="{{.Home}}">Go to the home page</a></p>
{{if .RequestID}}<p class="ref">Reference: {{.RequestID}}</p>{{end}}
</main>
</body>
</html>
`))

// defaultHTMLError renders errorPage; it is the initial Server.HTMLError.
func (s *Server) defaultHTMLError(c echo.Context, status int, msg string) error {
	title := http.StatusText(status)
	if title == "" {
		title = "Error"
	}
	var buf bytes.Buffer
	if err := errorPage.Execute(&buf, struct {
		Title, Message, Home, RequestID string
	}{title, msg, s.cfg.homePath(), RequestID(c)}); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}
