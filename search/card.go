package search

import (
	"context"
	"database/sql"
	"encoding/json"
	"html"
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

// Cards loads the result cards for hits, in order, with a few batch
// queries. Distance is measured from q's point; open_now and next_open
// from now in loc.
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
	// The place: the matched one, or the service's first.
	placeOf := map[string]string{}
	for _, h := range hits {
		if h.PlaceID != "" {
			placeOf[h.ServiceID] = h.PlaceID
		}
	}
	err = l.query(ctx, `SELECT sal.service_id, sal.id, l.id, l.location_type, l.latitude, l.longitude,
		COALESCE(a.address_1,''), COALESCE(a.address_2,''), COALESCE(a.city,''), COALESCE(a.state_province,''), COALESCE(a.postal_code,'')
		FROM service_at_location sal JOIN location l ON l.id = sal.location_id
		LEFT JOIN address a ON a.id = (SELECT id FROM address WHERE location_id = l.id ORDER BY address_type = 'physical' DESC, rowid LIMIT 1)
		WHERE sal.service_id IN (%s) ORDER BY sal.rowid`, ids, func(rs *sql.Rows) error {
		var sid, salID, locID, ltype string
		var lat, lon sql.NullFloat64
		var a CardAddr
		if err := rs.Scan(&sid, &salID, &locID, &ltype, &lat, &lon, &a.Address1, &a.Address2, &a.City, &a.StateProvince, &a.PostalCode); err != nil {
			return err
		}
		c := cards[sid]
		if c == nil || c.LocationID != "" && placeOf[sid] != salID {
			return nil
		}
		if want := placeOf[sid]; want != "" && want != salID {
			return nil
		}
		if ltype == "virtual" {
			c.Remote = true
			return nil
		}
		c.LocationID = locID
		if a.Address1 != "" {
			addr := a
			c.Address = &addr
		}
		if lat.Valid && lon.Valid {
			c.lat, c.lon, c.hasPoint = lat.Float64, lon.Float64, true
		}
		placeOf[sid] = salID
		return nil
	})
	if err != nil {
		return nil, err
	}
	locIDs := []string{}
	salIDs := []string{}
	for sid, c := range cards {
		if c.LocationID != "" {
			locIDs = append(locIDs, c.LocationID)
			salIDs = append(salIDs, placeOf[sid])
		} else {
			c.Remote = true
		}
	}
	phoneOwner := map[string]string{} // location id -> service id
	for sid, c := range cards {
		if c.LocationID != "" {
			phoneOwner[c.LocationID] = sid
		}
	}
	err = l.query(ctx, `SELECT COALESCE(service_id,''), COALESCE(location_id,''), number, COALESCE(CAST(extension AS TEXT),''), COALESCE(type,''), COALESCE(description,'')
		FROM phone WHERE service_id IN (%s) ORDER BY rowid`, ids, func(rs *sql.Rows) error {
		var sid, lid string
		var p CardPhone
		if err := rs.Scan(&sid, &lid, &p.Number, &p.Extension, &p.Type, &p.Description); err != nil {
			return err
		}
		p.Extension = strings.TrimSuffix(p.Extension, ".0")
		if c := cards[sid]; c != nil {
			c.Phones = append(c.Phones, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(locIDs) > 0 {
		err = l.query(ctx, `SELECT location_id, number, COALESCE(CAST(extension AS TEXT),''), COALESCE(type,''), COALESCE(description,'')
			FROM phone WHERE location_id IN (%s) AND service_id IS NULL ORDER BY rowid`, locIDs, func(rs *sql.Rows) error {
			var lid string
			var p CardPhone
			if err := rs.Scan(&lid, &p.Number, &p.Extension, &p.Type, &p.Description); err != nil {
				return err
			}
			p.Extension = strings.TrimSuffix(p.Extension, ".0")
			if c := cards[phoneOwner[lid]]; c != nil {
				c.Phones = append(c.Phones, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err = l.query(ctx, `SELECT a.link_id, t.code, t.name, COALESCE(a.value,''), t.taxonomy_id, t.id FROM attribute a
		JOIN taxonomy_term t ON t.id = a.taxonomy_term_id WHERE a.link_id IN (%s) ORDER BY a.rowid`, ids, func(rs *sql.Rows) error {
		var sid, code, name, value, tax, tid string
		if err := rs.Scan(&sid, &code, &name, &value, &tax, &tid); err != nil {
			return err
		}
		c := cards[sid]
		if c == nil {
			return nil
		}
		if tax == directory.ReentryTaxonomyID {
			c.Attributes = append(c.Attributes, CardFact{Code: code, Name: name, Value: value})
			return nil
		}
		for _, cat := range directory.Categories() {
			for _, id := range cat.TermIDs {
				if id == tid && !slices.Contains(c.Categories, cat.Key) {
					c.Categories = append(c.Categories, cat.Key)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = l.query(ctx, `SELECT service_id, COALESCE(code,''), COALESCE(name,'') FROM language WHERE service_id IN (%s) ORDER BY rowid`, ids, func(rs *sql.Rows) error {
		var sid, code, name string
		if err := rs.Scan(&sid, &code, &name); err != nil {
			return err
		}
		if c := cards[sid]; c != nil {
			if lc := languageCode(code, name); lc != "" && !slices.Contains(c.Languages, lc) {
				c.Languages = append(c.Languages, lc)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	schedIDs := append(append([]string{}, ids...), salIDs...)
	err = l.query(ctx, `SELECT * FROM schedule WHERE service_id IN (%[1]s) OR service_at_location_id IN (%[1]s)`, schedIDs, func(rs *sql.Rows) error {
		m, err := scanMap(rs)
		if err != nil {
			return err
		}
		if sid, _ := m["service_id"].(string); cards[sid] != nil {
			cards[sid].schedules = append(cards[sid].schedules, m)
			return nil
		}
		salID, _ := m["service_at_location_id"].(string)
		for sid, p := range placeOf {
			if p == salID && cards[sid] != nil {
				cards[sid].schedules = append(cards[sid].schedules, m)
			}
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
