package search

import (
	"context"
	"database/sql"
	"encoding/json"
	"html"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
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
	AssuredDate   string      `json:"assured_date,omitempty"` // last verified by a person
	Unverified    bool        `json:"unverified"`             // past Options.UnverifiedAfter months, or never verified
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

// cardData is what a card shows of a service that does not depend on the
// query or the time: kept in memory (cardCache) until the change feed says
// the service changed.
type cardData struct {
	card      Card // without place, phones of the place, attributes, categories, languages
	phones    []CardPhone
	places    []cardPlace
	locPhones map[string][]CardPhone // location id -> phones of the place
	attrs     []cardAttr
	languages []string
	svcSched  []map[string]any
	salSched  map[string][]map[string]any // service_at_location id -> schedules

	// hours are the opening hours parsed at each place ("": the
	// service's own), kept with the cached card: parsing them for every
	// card of every search was a quarter of the cards' time.
	hoursMu sync.Mutex
	hours   map[string]directory.Hours
}

// schedulesAt is the service's schedules with those of place p (nil: none).
func (d *cardData) schedulesAt(p *cardPlace) []map[string]any {
	all := slices.Clone(d.svcSched)
	if p != nil {
		all = append(all, d.salSched[p.salID]...)
	}
	return all
}

// hoursAt is the opening hours at place p (nil: the service's own).
func (d *cardData) hoursAt(p *cardPlace, loc *time.Location) directory.Hours {
	key := ""
	if p != nil {
		key = p.salID
	}
	d.hoursMu.Lock()
	defer d.hoursMu.Unlock()
	if h, ok := d.hours[key]; ok {
		return h
	}
	h, _ := directory.ParseHours(d.schedulesAt(p), loc)
	if d.hours == nil {
		d.hours = map[string]directory.Hours{}
	}
	d.hours[key] = h
	return h
}

type cardPlace struct {
	salID, locID, ltype string
	lat, lon            sql.NullFloat64
	addr                CardAddr
}

type cardAttr struct{ termID, value string }

// cardCache keeps cardData by service id. gen counts invalidations: data
// read from the database is kept only if no invalidation happened while
// it was read, so a change committed meanwhile is never hidden.
type cardCache struct {
	mu   sync.Mutex
	gen  uint64
	data map[string]*cardData
}

// cardCacheMax bounds the cache (a few KB a service): past it, it starts
// afresh.
const cardCacheMax = 5_000

func (c *cardCache) get(ids []string) (map[string]*cardData, []string, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := map[string]*cardData{}
	var missing []string
	for _, id := range ids {
		if d := c.data[id]; d != nil {
			got[id] = d
		} else if !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	return got, missing, c.gen
}

func (c *cardCache) put(gen uint64, ds map[string]*cardData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.data == nil || len(c.data)+len(ds) > cardCacheMax {
		c.data = map[string]*cardData{}
	}
	maps.Copy(c.data, ds)
}

// forget drops the services (all of them when ids is nil).
func (c *cardCache) forget(ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if ids == nil {
		c.data = nil
		return
	}
	for _, id := range ids {
		delete(c.data, id)
	}
}

// loadCards reads the cardData of services from the database, with five
// batch queries.
func (e *Engine) loadCards(ctx context.Context, ids []string) (map[string]*cardData, error) {
	out := map[string]*cardData{}
	if len(ids) == 0 {
		return out, nil
	}
	l := &loader{db: e.store.DB().Read}
	err := l.query(ctx, `SELECT s.id, s.name, COALESCE(s.description,''), s.status, COALESCE(s.alert,''), COALESCE(s.extra,''), COALESCE(s.assured_date,''),
		COALESCE(o.id,''), COALESCE(o.name,'') FROM service s LEFT JOIN organization o ON o.id = s.organization_id WHERE s.id IN (%s)`, ids, func(rs *sql.Rows) error {
		d := &cardData{locPhones: map[string][]CardPhone{}, salSched: map[string][]map[string]any{}}
		c := &d.card
		var extra string
		if err := rs.Scan(&c.ID, &c.Name, &c.description, &c.Status, &c.Alert, &extra, &c.AssuredDate, &c.Organization.ID, &c.Organization.Name); err != nil {
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
		out[c.ID] = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Every place of each service, in order.
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
		if d := out[sid]; d != nil {
			d.places = append(d.places, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Phones of the services, and of their places (those without a service).
	err = l.query(ctx, `SELECT COALESCE(service_id,''), COALESCE(location_id,''), number, COALESCE(CAST(extension AS TEXT),''), COALESCE(type,''), COALESCE(description,'')
		FROM phone WHERE service_id IN (%[1]s)
		OR location_id IN (SELECT location_id FROM service_at_location WHERE service_id IN (%[1]s)) ORDER BY rowid`, ids, func(rs *sql.Rows) error {
		var sid, lid string
		var p CardPhone
		if err := rs.Scan(&sid, &lid, &p.Number, &p.Extension, &p.Type, &p.Description); err != nil {
			return err
		}
		p.Extension = strings.TrimSuffix(p.Extension, ".0")
		if sid != "" {
			if d := out[sid]; d != nil {
				d.phones = append(d.phones, p)
			}
			return nil
		}
		for _, d := range out {
			if slices.ContainsFunc(d.places, func(pl cardPlace) bool { return pl.locID == lid }) {
				d.locPhones[lid] = append(d.locPhones[lid], p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Attributes (reentry facts and categories) and languages; terms are
	// named at render time from the cached taxonomy (a join with
	// taxonomy_term cost more than the rest of the statement).
	err = l.query(ctx, `SELECT 'a', link_id, taxonomy_term_id, COALESCE(value,''), rowid FROM attribute WHERE link_id IN (%[1]s)
		UNION ALL SELECT 'l', service_id, COALESCE(code,''), COALESCE(name,''), rowid FROM language WHERE service_id IN (%[1]s)
		ORDER BY 1, 5`, ids, func(rs *sql.Rows) error {
		var kind, sid, a, b string
		var rowid int64
		if err := rs.Scan(&kind, &sid, &a, &b, &rowid); err != nil {
			return err
		}
		d := out[sid]
		switch {
		case d == nil:
		case kind == "l":
			if lc := languageCode(a, b); lc != "" && !slices.Contains(d.languages, lc) {
				d.languages = append(d.languages, lc)
			}
		default:
			d.attrs = append(d.attrs, cardAttr{termID: a, value: b})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Schedules of the services and of all their places.
	err = l.query(ctx, `SELECT * FROM schedule WHERE service_id IN (%[1]s)
		OR service_at_location_id IN (SELECT id FROM service_at_location WHERE service_id IN (%[1]s))`, ids, func(rs *sql.Rows) error {
		m, err := scanMap(rs)
		if err != nil {
			return err
		}
		if sid, _ := m["service_id"].(string); out[sid] != nil {
			out[sid].svcSched = append(out[sid].svcSched, m)
			return nil
		}
		if salID, _ := m["service_at_location_id"].(string); salID != "" {
			for _, d := range out {
				if slices.ContainsFunc(d.places, func(pl cardPlace) bool { return pl.salID == salID }) {
					d.salSched[salID] = append(d.salSched[salID], m)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Cards makes the result cards for hits, in order, from each service's
// cardData (cached, or read with five batch queries). Distance is measured
// from q's point; open_now and next_open from now in loc. A card shows the
// place its hit was found at (the nearest one, near a point), else the
// service's first; with open_now, a place open now (the hit's when it is,
// else the nearest open one).
func (e *Engine) Cards(ctx context.Context, hits []Hit, q Query) ([]Card, error) {
	return e.cardsFor(ctx, hits, q, queryWords(e.syn.analyze(q.Text, nil)))
}

// cardsFor is Cards with the query's words to highlight.
func (e *Engine) cardsFor(ctx context.Context, hits []Hit, q Query, words []string) ([]Card, error) {
	if len(hits) == 0 {
		return []Card{}, nil
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ServiceID
	}
	data, missing, gen := e.cards.get(ids)
	if ready, _ := e.Status(); !ready {
		// While the index is being built nobody follows the change feed:
		// read everything afresh, keep nothing.
		data, missing, gen = map[string]*cardData{}, ids, gen-1
	}
	if len(missing) > 0 {
		loaded, err := e.loadCards(ctx, missing)
		if err != nil {
			return nil, err
		}
		e.cards.put(gen, loaded)
		maps.Copy(data, loaded)
	}
	tax, err := e.taxonomy(ctx)
	if err != nil {
		return nil, err
	}

	now := e.now().In(e.opt.Location)
	unverifiedAfter := e.opt.UnverifiedAfter
	if unverifiedAfter <= 0 {
		unverifiedAfter = directory.DefaultUnverifiedAfter
	}
	out := make([]Card, 0, len(hits))
	for _, h := range hits {
		d := data[h.ServiceID]
		if d == nil {
			continue // deleted since the index answered
		}
		c := d.card // a copy: the cached data is shared
		if m := directory.MonthsSince(c.AssuredDate, now); m < 0 || m >= unverifiedAfter {
			c.Unverified = true
		}
		c.Phones = slices.Clone(d.phones)
		if c.Phones == nil {
			c.Phones = []CardPhone{}
		}
		c.Attributes, c.Categories = []CardFact{}, []string{}
		c.Languages = append([]string{}, d.languages...)
		for _, a := range d.attrs {
			t, ok := tax.terms[a.termID]
			switch {
			case !ok:
			case t.taxonomy == directory.ReentryTaxonomyID:
				c.Attributes = append(c.Attributes, CardFact{Code: t.code, Name: t.name, Value: a.value})
			default:
				// named as the index names it: the categories of the term
				// or of its nearest ancestor that has any
				for _, k := range tax.categories(a.termID) {
					if !slices.Contains(c.Categories, k) {
						c.Categories = append(c.Categories, k)
					}
				}
			}
		}
		// The place: the hit's, else the first physical one; with
		// open_now, one open now.
		var chosen *cardPlace
		ps := d.places
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
		if q.OpenNow && chosen != nil {
			if !d.hoursAt(chosen, e.opt.Location).OpenAt(now) {
				best := math.Inf(1)
				for i := range ps {
					p := &ps[i]
					if p.ltype == "virtual" || p == chosen {
						continue
					}
					if !d.hoursAt(p, e.opt.Location).OpenAt(now) {
						continue
					}
					dist := 0.0
					if q.HasPoint && p.lat.Valid && p.lon.Valid {
						dist = directory.Miles(directory.Point{Lat: q.Lat, Lon: q.Lon}, directory.Point{Lat: p.lat.Float64, Lon: p.lon.Float64})
					}
					if dist < best {
						best, chosen = dist, p
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
			c.Phones = append(c.Phones, d.locPhones[chosen.locID]...)
		} else {
			c.Remote = true
		}
		if q.HasPoint && c.hasPoint {
			dist := directory.Miles(directory.Point{Lat: q.Lat, Lon: q.Lon}, directory.Point{Lat: c.lat, Lon: c.lon})
			dist = float64(int(dist*10+0.5)) / 10
			c.DistanceMiles = &dist
		}
		hours := d.hoursAt(chosen, e.opt.Location)
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
		out = append(out, c)
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
// the query it contains, cut between words, HTML-escaped, with the words
// wrapped in <mark>.
func snippet(text string, words []string) string {
	if text == "" || len(words) == 0 {
		return ""
	}
	// Lower case by ASCII only: the words are folded to ASCII, and the
	// offsets found in lower must be those of text (strings.ToLower
	// shortens some letters, the Kelvin sign to "k", which cut text out
	// of bounds).
	lower := lowerASCII(text)
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
	// whole words at either end
	if start > 0 && text[start-1] != ' ' {
		if k := strings.IndexByte(text[start:first], ' '); k >= 0 {
			start += k + 1
		}
	}
	if end < len(text) && text[end] != ' ' {
		if k := strings.LastIndexByte(text[first:end], ' '); k > 0 {
			end = first + k
		}
	}
	part, lp := text[start:end], lower[start:end]
	var b strings.Builder
	b.Grow(len(part) + 64)
	if start > 0 {
		b.WriteString("…")
	}
	plain := 0 // part[plain:i] is text not yet written
	for i := 0; i < len(part); {
		matched := 0
		for _, w := range words {
			if len(w) >= 3 && strings.HasPrefix(lp[i:], w) && len(w) > matched {
				matched = len(w)
			}
		}
		if matched == 0 {
			i++
			for i < len(part) && part[i]&0xC0 == 0x80 {
				i++
			}
			continue
		}
		// extend to the end of the word ("job" marks "jobs")
		j := i + matched
		for j < len(part) && (part[j] >= 'a' && part[j] <= 'z' || part[j] >= 'A' && part[j] <= 'Z') {
			j++
		}
		b.WriteString(html.EscapeString(part[plain:i]))
		b.WriteString("<mark>" + html.EscapeString(part[i:j]) + "</mark>")
		i, plain = j, j
	}
	b.WriteString(html.EscapeString(part[plain:]))
	if end < len(text) {
		b.WriteString("…")
	}
	return b.String()
}

// lowerASCII is s with A to Z in lower case and every other byte as it is.
func lowerASCII(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return 'A' <= r && r <= 'Z' })
	if i < 0 {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if 'A' <= b[i] && b[i] <= 'Z' {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}
