package search

import (
	"context"
	"database/sql"
	"encoding/json"
	"html"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/secondchancekc/secondchance/directory"
)

// Card is what a result shows: enough to choose and to call, on a small
// screen or read out on the phone.
type Card struct {
	ID            string      `json:"id"`
	Name          string      `json:"name"`
	NameES        string      `json:"name_es,omitempty"`
	Organization  CardOrg     `json:"organization"`
	Summary       string      `json:"summary"`
	SummaryES     string      `json:"summary_es,omitempty"`
	Status        string      `json:"status"`
	Alert         string      `json:"alert,omitempty"`
	Phones        []CardPhone `json:"phones"`
	Address       *CardAddr   `json:"address,omitempty"`
	LocationID    string      `json:"location_id,omitempty"`
	Remote        bool        `json:"remote"`
	DistanceMiles *float64    `json:"distance_miles"`
	HoursKnown    bool        `json:"hours_known"`
	OpenNow       *bool       `json:"open_now"`
	NextOpen      *time.Time  `json:"next_open"`
	Attributes    []CardFact  `json:"attributes"`
	Categories    []string    `json:"categories"`
	Languages     []string    `json:"languages"`
	SnippetHTML   string      `json:"snippet_html,omitempty"`
	Score         float64     `json:"score,omitempty"`
	lat, lon      float64
	hasPoint      bool
	schedules     []map[string]any
	description   string
	descriptionES string
}

// CardOrg names the organization.
type CardOrg struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// CardPhone is one phone number.
type CardPhone struct {
	Number      string `json:"number"`
	Extension   string `json:"extension,omitempty"`
	Type        string `json:"type,omitempty"`
	Description string `json:"description,omitempty"`
}

// CardAddr is the street address of the place.
type CardAddr struct {
	Address1      string `json:"address_1"`
	Address2      string `json:"address_2,omitempty"`
	City          string `json:"city"`
	StateProvince string `json:"state_province"`
	PostalCode    string `json:"postal_code"`
}

// CardFact is a reentry fact with its plain name.
type CardFact struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// Cards loads the result cards for hits, in order, with five batch
// queries. Distance is measured from q's point; open_now and next_open
// from now in loc. A card shows the place its hit was found at (the
// nearest one, near a point), else the service's first; with open_now, a
// place open now (the hit's when it is, else the nearest open one).
func (e *Engine) Cards(ctx context.Context, hits []Hit, q Query) ([]Card, error) {
	if len(hits) == 0 {
		return []Card{}, nil
	}
	db := e.store.DB().Read
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ServiceID
	}
	cards := map[string]*Card{}
	l := &loader{db: db}
	err := l.query(ctx, `SELECT s.id, s.name, COALESCE(s.description,''), s.status, COALESCE(s.alert,''), COALESCE(s.extra,''),
		COALESCE(o.id,''), COALESCE(o.name,'') FROM service s LEFT JOIN organization o ON o.id = s.organization_id WHERE s.id IN (%s)`, ids, func(rs *sql.Rows) error {
		c := &Card{Phones: []CardPhone{}, Attributes: []CardFact{}, Categories: []string{}, Languages: []string{}}
		var extra string
		if err := rs.Scan(&c.ID, &c.Name, &c.description, &c.Status, &c.Alert, &extra, &c.Organization.ID, &c.Organization.Name); err != nil {
			return err
		}
		if extra != "" {
			var x map[string]any
			json.Unmarshal([]byte(extra), &x)
			c.NameES, _ = x["name_es"].(string)
			c.descriptionES, _ = x["description_es"].(string)
		}
		c.Summary = summary(c.description)
		c.SummaryES = summary(c.descriptionES)
		cards[c.ID] = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Every place of each service, in order.
	type cardPlace struct {
		salID, locID, ltype string
		lat, lon            sql.NullFloat64
		addr                CardAddr
	}
	places := map[string][]cardPlace{}
	err = l.query(ctx, `SELECT sal.service_id, sal.id, l.id, l.location_type, l.latitude, l.longitude,
		COALESCE(a.address_1,''), COALESCE(a.address_2,''), COALESCE(a.city,''), COALESCE(a.state_province,''), COALESCE(a.postal_code,'')
		FROM service_at_location sal JOIN location l ON l.id = sal.location_id
		LEFT JOIN address a ON a.id = (SELECT id FROM address WHERE location_id = l.id ORDER BY address_type = 'physical' DESC, rowid LIMIT 1)
		WHERE sal.service_id IN (%s) ORDER BY sal.rowid`, ids, func(rs *sql.Rows) error {
		var sid string
		var p cardPlace
		if err := rs.Scan(&sid, &p.salID, &p.locID, &p.ltype, &p.lat, &p.lon, &p.addr.Address1, &p.addr.Address2, &p.addr.City, &p.addr.StateProvince, &p.addr.PostalCode); err != nil {
			return err
		}
		places[sid] = append(places[sid], p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Phones of the services, and of their places (those without a service).
	type locPhone struct {
		loc string
		p   CardPhone
	}
	var locPhones []locPhone
	err = l.query(ctx, `SELECT COALESCE(service_id,''), COALESCE(location_id,''), number, COALESCE(CAST(extension AS TEXT),''), COALESCE(type,''), COALESCE(description,'')
		FROM phone WHERE service_id IN (%[1]s)
		OR location_id IN (SELECT location_id FROM service_at_location WHERE service_id IN (%[1]s)) ORDER BY rowid`, ids, func(rs *sql.Rows) error {
		var sid, lid string
		var p CardPhone
		if err := rs.Scan(&sid, &lid, &p.Number, &p.Extension, &p.Type, &p.Description); err != nil {
			return err
		}
		p.Extension = strings.TrimSuffix(p.Extension, ".0")
		if sid == "" {
			locPhones = append(locPhones, locPhone{lid, p})
		} else if c := cards[sid]; c != nil {
			c.Phones = append(c.Phones, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Attributes (reentry facts and categories) and languages.
	tax, err := e.taxonomy(ctx)
	if err != nil {
		return nil, err
	}
	// (terms are named from the cached taxonomy: a join with taxonomy_term
	// cost more than the rest of the statement)
	err = l.query(ctx, `SELECT 'a', link_id, taxonomy_term_id, COALESCE(value,''), rowid FROM attribute WHERE link_id IN (%[1]s)
		UNION ALL SELECT 'l', service_id, COALESCE(code,''), COALESCE(name,''), rowid FROM language WHERE service_id IN (%[1]s)
		ORDER BY 1, 5`, ids, func(rs *sql.Rows) error {
		var kind, sid, a, b string
		var rowid int64
		if err := rs.Scan(&kind, &sid, &a, &b, &rowid); err != nil {
			return err
		}
		c := cards[sid]
		if c == nil {
			return nil
		}
		if kind == "l" {
			if lc := languageCode(a, b); lc != "" && !slices.Contains(c.Languages, lc) {
				c.Languages = append(c.Languages, lc)
			}
			return nil
		}
		tid, value := a, b
		t, ok := tax.terms[tid]
		switch {
		case !ok:
		case t.taxonomy == directory.ReentryTaxonomyID:
			c.Attributes = append(c.Attributes, CardFact{Code: t.code, Name: t.name, Value: value})
		default:
			// named as the index names it: the categories of the term or
			// of its nearest ancestor that has any
			for _, k := range tax.categories(tid) {
				if !slices.Contains(c.Categories, k) {
					c.Categories = append(c.Categories, k)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Schedules of the services and of all their places.
	svcSched := map[string][]map[string]any{}
	salSched := map[string][]map[string]any{}
	err = l.query(ctx, `SELECT * FROM schedule WHERE service_id IN (%[1]s)
		OR service_at_location_id IN (SELECT id FROM service_at_location WHERE service_id IN (%[1]s))`, ids, func(rs *sql.Rows) error {
		m, err := scanMap(rs)
		if err != nil {
			return err
		}
		if sid, _ := m["service_id"].(string); cards[sid] != nil {
			svcSched[sid] = append(svcSched[sid], m)
			return nil
		}
		if salID, _ := m["service_at_location_id"].(string); salID != "" {
			salSched[salID] = append(salSched[salID], m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	now := e.now().In(e.opt.Location)
	words := queryWords(e.syn.analyze(q.Text))
	out := make([]Card, 0, len(hits))
	for _, h := range hits {
		c := cards[h.ServiceID]
		if c == nil {
			continue // deleted since the index answered
		}
		// The place: the hit's, else the first physical one; with
		// open_now, one open now.
		var chosen *cardPlace
		ps := places[h.ServiceID]
		for i := range ps {
			p := &ps[i]
			if p.ltype == "virtual" {
				continue
			}
			if h.PlaceID == p.salID || chosen == nil && h.PlaceID == "" {
				chosen = p
			}
		}
		if chosen == nil {
			for i := range ps {
				if ps[i].ltype != "virtual" {
					chosen = &ps[i]
					break
				}
			}
		}
		schedulesAt := func(p *cardPlace) []map[string]any {
			all := slices.Clone(svcSched[h.ServiceID])
			if p != nil {
				all = append(all, salSched[p.salID]...)
			}
			return all
		}
		if q.OpenNow && chosen != nil {
			if hrs, _ := directory.ParseHours(schedulesAt(chosen), e.opt.Location); !hrs.OpenAt(now) {
				best := math.Inf(1)
				for i := range ps {
					p := &ps[i]
					if p.ltype == "virtual" || p == chosen {
						continue
					}
					if hrs, _ := directory.ParseHours(schedulesAt(p), e.opt.Location); !hrs.OpenAt(now) {
						continue
					}
					d := 0.0
					if q.HasPoint && p.lat.Valid && p.lon.Valid {
						d = directory.Miles(directory.Point{Lat: q.Lat, Lon: q.Lon}, directory.Point{Lat: p.lat.Float64, Lon: p.lon.Float64})
					}
					if d < best {
						best, chosen = d, p
					}
				}
			}
		}
		if chosen != nil {
			c.LocationID = chosen.locID
			if chosen.addr.Address1 != "" {
				addr := chosen.addr
				c.Address = &addr
			}
			if chosen.lat.Valid && chosen.lon.Valid {
				c.lat, c.lon, c.hasPoint = chosen.lat.Float64, chosen.lon.Float64, true
			}
			for _, lp := range locPhones {
				if lp.loc == chosen.locID {
					c.Phones = append(c.Phones, lp.p)
				}
			}
		} else {
			c.Remote = true
		}
		c.schedules = schedulesAt(chosen)
		if q.HasPoint && c.hasPoint {
			d := directory.Miles(directory.Point{Lat: q.Lat, Lon: q.Lon}, directory.Point{Lat: c.lat, Lon: c.lon})
			d = float64(int(d*10+0.5)) / 10
			c.DistanceMiles = &d
		}
		hours, _ := directory.ParseHours(c.schedules, e.opt.Location)
		if hours.Known() {
			c.HoursKnown = true
			open := hours.OpenAt(now)
			c.OpenNow = &open
			if next, ok := hours.NextOpen(now); ok {
				c.NextOpen = &next
			}
		}
		c.SnippetHTML = snippet(c.description, words)
		c.Score = h.Score
		out = append(out, *c)
	}
	return out, nil
}

// taxonomyCache is the taxonomy terms with their parents and categories,
// as the loader reads them, kept for a minute for the cards and facet
// labels (and refreshed by every index update).
type taxonomyCache struct {
	l    *loader
	when time.Time
}

func (e *Engine) taxonomy(ctx context.Context) (*loader, error) {
	if t, _ := e.tax.Load().(*taxonomyCache); t != nil && e.now().Sub(t.when) < time.Minute {
		return t.l, nil
	}
	l, err := newLoader(ctx, e.store.DB().Read, nil)
	if err != nil {
		return nil, err
	}
	e.tax.Store(&taxonomyCache{l: l, when: e.now()})
	return l, nil
}

// summary is the first sentence of a description, at most 160 characters.
func summary(desc string) string {
	desc = strings.TrimSpace(desc)
	if i := strings.Index(desc, ". "); i > 0 && i < 160 {
		return desc[:i+1]
	}
	if r := []rune(desc); len(r) > 160 {
		cut := string(r[:157])
		if j := strings.LastIndex(cut, " "); j > 100 {
			cut = cut[:j]
		}
		return cut + "…"
	}
	return desc
}

// queryWords are the words worth marking in a snippet.
func queryWords(groups []group) []string {
	var ws []string
	for _, g := range groups {
		ws = append(ws, strings.Fields(g.typed)...)
		for _, t := range g.terms {
			ws = append(ws, strings.Fields(t)...)
		}
	}
	return ws
}

// snippet is up to about 200 characters of text around the first word of
// the query it contains, HTML-escaped, with the words wrapped in <mark>.
func snippet(text string, words []string) string {
	if text == "" || len(words) == 0 {
		return ""
	}
	lower := strings.ToLower(text)
	first := -1
	for _, w := range words {
		if len(w) < 3 {
			continue
		}
		if i := strings.Index(lower, w); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first < 0 {
		return ""
	}
	start := max(0, first-60)
	for start > 0 && start < len(text) && text[start]&0xC0 == 0x80 {
		start--
	}
	end := min(len(text), start+200)
	for end < len(text) && text[end]&0xC0 == 0x80 {
		end++
	}
	part, lp := text[start:end], lower[start:end]
	var b strings.Builder
	if start > 0 {
		b.WriteString("…")
	}
	for i := 0; i < len(part); {
		matched := 0
		for _, w := range words {
			if len(w) >= 3 && strings.HasPrefix(lp[i:], w) && len(w) > matched {
				matched = len(w)
			}
		}
		if matched > 0 {
			// extend to the end of the word ("job" marks "jobs")
			j := i + matched
			for j < len(part) && (part[j] >= 'a' && part[j] <= 'z' || part[j] >= 'A' && part[j] <= 'Z') {
				j++
			}
			b.WriteString("<mark>" + html.EscapeString(part[i:j]) + "</mark>")
			i = j
			continue
		}
		j := i + 1
		for j < len(part) && part[j]&0xC0 == 0x80 {
			j++
		}
		b.WriteString(html.EscapeString(part[i:j]))
		i = j
	}
	if end < len(text) {
		b.WriteString("…")
	}
	return b.String()
}
