package auth

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// These pages are stand-ins until the templates package takes over the
// site's layout: plain HTML, no JavaScript, readable on a phone.
//
//go:embed templates/*.html
var templatesFS embed.FS

// pageNames are the pages; layout.html wraps each of them.
var pageNames = []string{"login", "invite", "users", "link", "home"}

// pageData is what every page template gets.
type pageData struct {
	Title string
	Viewer
	// Notice is a one-off message from the page itself (not the session's
	// flash), e.g. "You are signed out."
	Notice string
	// Error is the message of a refused form, shown above it.
	Error string
	Data  any
}

// parsePages parses every page with the layout, and checks that every file
// in templates/ is a registered page, so a page added but not listed fails
// at start rather than at first use.
func parsePages() (map[string]*template.Template, error) {
	files, err := fs.Glob(templatesFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name != "layout" && !slices.Contains(pageNames, name) {
			return nil, fmt.Errorf("auth: template %s is not a registered page", f)
		}
	}
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).ParseFS(templatesFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("auth: page %s: %w", name, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("auth: page %s defines no content", name)
		}
		pages[name] = t
	}
	return pages, nil
}

// contentSecurityPolicy fits these pages exactly: an inline style sheet,
// forms posting to this site, nothing else, and no framing.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// render executes page into a buffer (so a template error becomes a clean
// 500, not half a page) and sends it with status.
func (s *Service) render(c echo.Context, status int, page string, p pageData) error {
	t := s.pages[page]
	if t == nil {
		return fmt.Errorf("auth: no page %q", page)
	}
	p.Viewer = ViewerOf(c)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("render %s: %w", page, err)
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set(echo.HeaderCacheControl, "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	return c.HTMLBlob(status, buf.Bytes())
}
