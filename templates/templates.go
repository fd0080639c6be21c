// Package templates holds every HTML page of the site (staff now, public
// later), their two layouts and the message catalogs (en, es), embedded in
// the binary, and the Renderer that serves them.
//
// A page is one file, staff/NAME.html or public/NAME.html, that defines the
// template "content"; its folder picks the layout (layouts/staff.html or
// layouts/public.html). Every page is listed in pages.go, and New refuses to
// start when a page file is not listed or a listed page has no file, so a
// mistake shows at start rather than at a user's first click.
//
// To add a staff page "queue" rendered by referral/:
//
//  1. write templates/staff/queue.html: {{define "content"}}...{{end}},
//     reading its own values from .Data;
//  2. add "staff/queue" to pages in pages.go, and a sample to the table in
//     templates_test.go (the test fails until every page has one);
//  3. in referral/, take the *templates.Renderer that cmd built and call
//     pages.Render(c, http.StatusOK, "staff/queue", templates.Page{Title: "Follow-up queue", Data: queueData{...}}).
//
// This package imports nothing else of this module, like data/, so any
// package may use it, internal/auth included. Who is looking (User, CSRF
// token, flash) comes from the Viewer function cmd passes to New.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// files holds the layouts, the page folders, the catalogs and the public
// pages' style sheet (static/).
//
//go:embed layouts staff public messages static
var files embed.FS

// Layouts, by the folder of the page.
const (
	// Staff pages: signed-in staff, English, the staff navigation, never
	// cached.
	Staff = "staff"
	// Public pages: anyone, English or Spanish.
	Public = "public"
)

var layouts = []string{Staff, Public}

// User is the signed-in staff member as the layouts see them; *auth.User
// satisfies it. Pages may use the concrete type's other fields and methods
// (.User.Role).
type User interface {
	DisplayName() string
	IsAdmin() bool
	// IsPartner: a partner organization's user, who sees the directory
	// pages only.
	IsPartner() bool
}

// Viewer is who is looking at a page, from the request.
type Viewer struct {
	// User is nil when nobody is signed in (public and sign-in pages).
	User User
	// CSRF is the token every form sends back in the csrf_token field.
	CSRF string
	// Flash is the one-shot message set before a redirect.
	Flash string
}

// Page is what every page and layout receives. Render fills Site, Lang,
// CSRF, Flash, User and Path; handlers set Title, Data and, for a form
// refused or a one-off message, Error or Notice.
type Page struct {
	// Site is the site's name.
	Site string
	// Lang is "en" or "es"; staff pages are always "en".
	Lang string
	CSRF string
	// Flash is the session's one-shot message (shown above the content).
	Flash string
	User  User
	// Title is the page's heading and, with Site, its <title>.
	Title string
	// Notice is a one-off message from the page itself, e.g. "You are
	// signed out."
	Notice string
	// Error is the message of a refused form, shown above it with
	// id="form-error" (forms point aria-describedby at it).
	Error string
	// Data is the page's own values.
	Data any
	// Path is the request's path; the staff navigation marks where you are.
	Path string
	// URL is the request's path and query, for the public pages' language
	// switch to come back to.
	URL string
	// Style is the versioned URL of the public style sheet.
	Style string
}

// Options configure New.
type Options struct {
	// Site is the site's name; empty means "Second Chance KC".
	Site string
	// Viewer tells who is looking at a request; nil means nobody (every
	// page renders as for a visitor who is not signed in).
	Viewer func(echo.Context) Viewer
}

// Renderer renders the pages. Build it once at start with New; it is safe
// for concurrent use.
type Renderer struct {
	site   string
	viewer func(echo.Context) Viewer
	cat    *catalog
	pages  map[string]*page
	style  style
}

type page struct {
	name   string
	layout string
	t      *template.Template
}

// New parses every page with its layout, and the catalogs, and checks that
// the page files and the list in pages.go agree.
func New(o Options) (*Renderer, error) {
	return newRenderer(files, pages, o)
}

// newRenderer is New over any file system and page list (tests).
func newRenderer(fsys fs.FS, names []string, o Options) (*Renderer, error) {
	cat, err := loadCatalog(fsys)
	if err != nil {
		return nil, err
	}
	r := &Renderer{site: o.Site, viewer: o.Viewer, cat: cat, pages: map[string]*page{}, style: loadStyle(fsys)}
	if r.site == "" {
		r.site = "Second Chance KC"
	}
	if err := checkFiles(fsys, names); err != nil {
		return nil, err
	}
	var errs []error
	for _, name := range names {
		p, err := r.parse(fsys, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.pages[name] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// checkFiles compares the page files with the registered names, both ways.
func checkFiles(fsys fs.FS, names []string) error {
	var errs []error
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			errs = append(errs, fmt.Errorf("templates: page %s is listed twice in pages.go", name))
		}
		seen[name] = true
		if !slices.Contains(layouts, path.Dir(name)) {
			errs = append(errs, fmt.Errorf("templates: page %s: a page is staff/NAME or public/NAME", name))
		}
	}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		dir := path.Dir(p)
		switch {
		case dir == "layouts" || dir == "messages" || dir == "static":
		case !slices.Contains(layouts, dir) || path.Ext(p) != ".html":
			errs = append(errs, fmt.Errorf("templates: %s is not a page (pages are staff/NAME.html or public/NAME.html)", p))
		case !seen[strings.TrimSuffix(p, ".html")]:
			errs = append(errs, fmt.Errorf("templates: page file %s is not registered: add %q to pages in templates/pages.go", p, strings.TrimSuffix(p, ".html")))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, err := fs.Stat(fsys, name+".html"); err != nil {
			errs = append(errs, fmt.Errorf("templates: page %s is registered but %s.html does not exist", name, name))
		}
	}
	return errors.Join(errs...)
}

func (r *Renderer) parse(fsys fs.FS, name string) (*page, error) {
	layout := path.Dir(name)
	t, err := template.New(name).Funcs(r.funcs()).ParseFS(fsys, "layouts/base.html", "layouts/"+layout+".html", name+".html")
	if err != nil {
		return nil, fmt.Errorf("templates: page %s: %w", name, err)
	}
	if t.Lookup("content") == nil {
		return nil, fmt.Errorf("templates: page %s defines no {{define \"content\"}}", name)
	}
	return &page{name: name, layout: layout, t: t}, nil
}

// funcs are the template functions every page and layout may use.
func (r *Renderer) funcs() template.FuncMap {
	return template.FuncMap{
		// t looks up a catalog message: {{t .Lang "nav.queue"}}. An
		// unknown key fails the render.
		"t": r.cat.text,
		// here reports whether the page is at or under prefix, for
		// aria-current in navigation: {{if here .Path "/staff/queue"}}.
		"here": func(p, prefix string) bool {
			return p == prefix || strings.HasPrefix(p, strings.TrimSuffix(prefix, "/")+"/")
		},
		// tf formats a catalog message with fmt verbs:
		// {{tf .Lang "results.count" .Data.Total}}.
		"tf": func(lang, key string, args ...any) (string, error) {
			s, err := r.cat.text(lang, key)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf(s, args...), nil
		},
		// other is the language a public page offers to switch to.
		"other": func(lang string) string {
			if lang == "es" {
				return "en"
			}
			return "es"
		},
	}
}

// Has reports whether page is registered.
func (r *Renderer) Has(page string) bool { return r.pages[page] != nil }

// contentSecurityPolicy fits the staff pages: the style sheet is inline in
// the layout, forms post to this site, and there is no script, no framing
// and nothing loaded from elsewhere.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// publicContentSecurityPolicy fits the public pages: no inline style or
// script at all; the one style sheet comes from this site (its icons are
// data: URIs inside it).
const publicContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Render renders page with p and sends it with status. It executes into a
// buffer first, so a template error is returned (and becomes the error
// handler's 500) instead of half a page. Staff pages are sent with
// Cache-Control: no-store.
func (r *Renderer) Render(c echo.Context, status int, page string, p Page) error {
	pg := r.pages[page]
	if pg == nil {
		return fmt.Errorf("templates: no page %q (is it listed in templates/pages.go?)", page)
	}
	if r.viewer != nil {
		v := r.viewer(c)
		if p.User == nil && v.User != nil {
			p.User = v.User
		}
		if p.CSRF == "" {
			p.CSRF = v.CSRF
		}
		if p.Flash == "" {
			p.Flash = v.Flash
		}
	}
	p.Path = c.Request().URL.Path
	p.URL = c.Request().URL.RequestURI()
	p.Style = r.style.url
	if pg.layout == Public && p.Lang == "" {
		p.Lang = LangOf(c)
	}
	b, err := r.execute(pg, p)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	if pg.layout == Staff {
		h.Set(echo.HeaderCacheControl, "no-store")
	} else {
		h.Set("Content-Security-Policy", publicContentSecurityPolicy)
		h.Set(echo.HeaderXFrameOptions, "DENY")
		// The page depends on the language cookie and header, and may
		// carry a form token: shared caches must not keep it.
		h.Set(echo.HeaderCacheControl, "private, no-cache")
		h.Add(echo.HeaderVary, "Cookie, Accept-Language")
	}
	return c.HTMLBlob(status, b)
}

// execute renders pg into a buffer, after filling the defaults.
func (r *Renderer) execute(pg *page, p Page) ([]byte, error) {
	p.Site = r.site
	if pg.layout == Staff || !r.cat.has(p.Lang) {
		p.Lang = "en"
	}
	var buf bytes.Buffer
	if err := pg.t.ExecuteTemplate(&buf, pg.layout, p); err != nil {
		return nil, fmt.Errorf("render %s: %w", pg.name, err)
	}
	return buf.Bytes(), nil
}
