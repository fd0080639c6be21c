package templates

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
)

// Langs are the languages of the site, the first being the default. Each has
// a catalog messages/LANG.json with the same keys.
var Langs = []string{"en", "es"}

// catalog is the layouts' words in every language: lang -> key -> text.
// Listing and page text comes from the data or the page files themselves;
// the catalog is for the strings the layouts share.
type catalog struct {
	msgs map[string]map[string]string
}

func loadCatalog(fsys fs.FS) (*catalog, error) {
	c := &catalog{msgs: map[string]map[string]string{}}
	for _, lang := range Langs {
		b, err := fs.ReadFile(fsys, path.Join("messages", lang+".json"))
		if err != nil {
			return nil, fmt.Errorf("templates: catalog %s: %w", lang, err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("templates: catalog messages/%s.json: %w", lang, err)
		}
		c.msgs[lang] = m
	}
	// Every language must say everything English says, and nothing else:
	// a missing Spanish string would otherwise show only on a Spanish page.
	var errs []error
	en := c.msgs[Langs[0]]
	for _, lang := range Langs[1:] {
		for _, k := range slices.Sorted(maps.Keys(en)) {
			if strings.TrimSpace(c.msgs[lang][k]) == "" {
				errs = append(errs, fmt.Errorf("templates: messages/%s.json has no %q", lang, k))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(c.msgs[lang])) {
			if _, ok := en[k]; !ok {
				errs = append(errs, fmt.Errorf("templates: messages/%s.json has %q, which messages/en.json lacks", lang, k))
			}
		}
	}
	return c, errors.Join(errs...)
}

func (c *catalog) has(lang string) bool { return c.msgs[lang] != nil }

// text returns the message key in lang (English for an unknown lang); an
// unknown key is an error, which fails the render.
func (c *catalog) text(lang, key string) (string, error) {
	m := c.msgs[lang]
	if m == nil {
		m = c.msgs[Langs[0]]
	}
	if s, ok := m[key]; ok {
		return s, nil
	}
	return "", fmt.Errorf("no message %q in the catalog", key)
}
