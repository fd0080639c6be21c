package templates

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// doc is a parsed page, with the lookups the tests need.
type doc struct {
	t    *testing.T
	root *html.Node
}

func parseDoc(t *testing.T, b []byte) *doc {
	t.Helper()
	n, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return &doc{t: t, root: n}
}

// all returns the elements under n (n included) for which ok is true.
func all(n *html.Node, ok func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && ok(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// tag matches elements by name and, optionally, attribute=value pairs.
func tag(name string, attrs ...string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		if n.Data != name {
			return false
		}
		for i := 0; i+1 < len(attrs); i += 2 {
			if v, ok := attr(n, attrs[i]); !ok || v != attrs[i+1] {
				return false
			}
		}
		return true
	}
}

func (d *doc) all(name string, attrs ...string) []*html.Node { return all(d.root, tag(name, attrs...)) }

// one returns the only element matching, failing the test otherwise.
func (d *doc) one(name string, attrs ...string) *html.Node {
	d.t.Helper()
	ns := d.all(name, attrs...)
	if len(ns) != 1 {
		d.t.Fatalf("%d <%s %v> elements, want 1", len(ns), name, attrs)
	}
	return ns[0]
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func has(n *html.Node, key string) bool { _, ok := attr(n, key); return ok }

// text is the text content of n, spaces collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// checkAccessible checks what every page must have: the language, one h1
// with the title, a skip link to main, a label for every visible control,
// unique ids, a CSRF token in every POST form, and no script.
func (d *doc) checkAccessible(lang, title, csrf string) {
	d.t.Helper()
	t := d.t
	if got, _ := attr(d.one("html"), "lang"); got != lang {
		t.Errorf("lang=%q, want %q", got, lang)
	}
	if got := text(d.one("h1")); got != title {
		t.Errorf("h1 %q, want %q", got, title)
	}
	if !strings.Contains(text(d.one("title")), title) {
		t.Errorf("title %q lacks %q", text(d.one("title")), title)
	}
	d.one("a", "class", "skip", "href", "#main")
	d.one("main", "id", "main")
	if s := d.all("script"); len(s) > 0 {
		t.Errorf("%d scripts", len(s))
	}
	ids := map[string]bool{}
	for _, n := range all(d.root, func(n *html.Node) bool { return has(n, "id") }) {
		id, _ := attr(n, "id")
		if ids[id] {
			t.Errorf("id %q used twice", id)
		}
		ids[id] = true
	}
	labels := map[string]bool{}
	for _, l := range d.all("label") {
		f, _ := attr(l, "for")
		labels[f] = true
	}
	for _, n := range all(d.root, func(n *html.Node) bool { return n.Data == "input" || n.Data == "select" || n.Data == "textarea" }) {
		typ, _ := attr(n, "type")
		if typ == "hidden" || has(n, "hidden") || typ == "submit" {
			continue
		}
		id, _ := attr(n, "id")
		if id == "" || !labels[id] {
			name, _ := attr(n, "name")
			t.Errorf("<%s name=%q> has no label", n.Data, name)
		}
	}
	for _, f := range d.all("form", "method", "post") {
		tok := all(f, tag("input", "type", "hidden", "name", "csrf_token"))
		if len(tok) != 1 {
			t.Errorf("a POST form has %d csrf_token fields", len(tok))
			continue
		}
		if v, _ := attr(tok[0], "value"); v != csrf {
			t.Errorf("csrf_token %q, want %q", v, csrf)
		}
		if b := all(f, tag("button")); len(b) == 0 || text(b[len(b)-1]) == "" {
			t.Error("a POST form has no named button")
		}
	}
}
