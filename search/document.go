package search

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/secondchancekc/secondchance/directory"
)

// document is one bleve document: a service, with its places.
type document struct {
	ID     string
	Fields map[string]any
}

// loader builds documents from the database with a handful of bulk queries
// per batch of services, not one compose per service.
type loader struct {
	db    *sql.DB
	terms map[string]term     // every taxonomy term, by id
	cats  map[string][]string // term id -> category keys (a term may be in two)
	// factNames are the reentry facts' names by code (facet labels).
	factNames map[string]string
	// slots turns a service's (or a service at a location's) schedules
	// into the half-hour slots of the week when it is open.
	slots func(schedules []map[string]any) []string
}

type term struct {
	parent, code, name, taxonomy string
}

func newLoader(ctx context.Context, db *sql.DB, slots func([]map[string]any) []string) (*loader, error) {
	l := &loader{db: db, terms: map[string]term{}, cats: map[string][]string{}, factNames: map[string]string{}, slots: slots}
	rs, err := db.QueryContext(ctx, `SELECT id, COALESCE(parent_id,''), COALESCE(code,''), name, COALESCE(taxonomy_id,'') FROM taxonomy_term`)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	for rs.Next() {
		var id string
		var t term
		if err := rs.Scan(&id, &t.parent, &t.code, &t.name, &t.taxonomy); err != nil {
			return nil, err
		}
		l.terms[id] = t
		if t.taxonomy == directory.ReentryTaxonomyID {
			l.factNames[t.code] = t.name
		}
	}
	for _, c := range directory.Categories() {
		for _, id := range c.TermIDs {
			l.cats[id] = append(l.cats[id], c.Key)
		}
	}
	return l, rs.Err()
}

// categories returns our category keys for a term or for its nearest
// ancestor that has any.
func (l *loader) categories(id string) []string {
	for i := 0; id != "" && i < 10; i++ {
		if ks, ok := l.cats[id]; ok {
			return ks
		}
		id = l.terms[id].parent
	}
	return nil
}

type svcRow struct {
	id, name, alt, desc, elig, apply, fees, status, orgName, orgDesc string
	minAge, maxAge                                                   float64
	extra                                                            spanishText
	docs                                                             []string
	terms, cats, facts, langs, catNames                              set
	schedules                                                        []map[string]any
}

// spanishText is what the index reads of a service's extra fields: its
// Spanish text, where the data has it.
type spanishText struct {
	Name          string `json:"name_es"`
	Description   string `json:"description_es"`
	AlternateName string `json:"alternate_name_es"`
	Eligibility   string `json:"eligibility_description_es"`
}

type set map[string]bool

func (s set) list() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	return out
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// load builds the documents of the given services. A service that is gone,
// inactive or defunct gets no documents (its old ones are deleted).
func (l *loader) load(ctx context.Context, ids []string) (map[string][]document, error) {
	out := make(map[string][]document, len(ids))
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		if err := l.loadChunk(ctx, chunk, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (l *loader) query(ctx context.Context, q string, ids []string, each func(rs *sql.Rows) error) error {
	// Each %s (or %[1]s) in q is one list of the ids.
	query := fmt.Sprintf(q, placeholders(len(ids)))
	var args []any
	for range strings.Count(query, "(?") {
		for _, id := range ids {
			args = append(args, id)
		}
	}
	rs, err := l.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		if err := each(rs); err != nil {
			return err
		}
	}
	return rs.Err()
}

func (l *loader) loadChunk(ctx context.Context, ids []string, out map[string][]document) error {
	svcs := map[string]*svcRow{}
	var order []string
	err := l.query(ctx, `SELECT s.id, s.name, COALESCE(s.alternate_name,''), COALESCE(s.description,''),
		COALESCE(s.eligibility_description,''), COALESCE(s.application_process,''), COALESCE(s.fees_description,''),
		s.status, COALESCE(s.minimum_age, 0), COALESCE(s.maximum_age, 200), COALESCE(s.extra,''),
		COALESCE(o.name,''), COALESCE(o.description,'')
		FROM service s LEFT JOIN organization o ON o.id = s.organization_id WHERE s.id IN (%s)`, ids, func(rs *sql.Rows) error {
		r := &svcRow{terms: set{}, cats: set{}, facts: set{}, langs: set{}, catNames: set{}}
		var extra string
		if err := rs.Scan(&r.id, &r.name, &r.alt, &r.desc, &r.elig, &r.apply, &r.fees, &r.status, &r.minAge, &r.maxAge, &extra, &r.orgName, &r.orgDesc); err != nil {
			return err
		}
		if extra != "" {
			json.Unmarshal([]byte(extra), &r.extra)
		}
		svcs[r.id] = r
		order = append(order, r.id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load services: %w", err)
	}
	for _, id := range ids {
		out[id] = nil // gone unless built below
	}
	var live []string
	for _, id := range order {
		if st := svcs[id].status; st == "inactive" || st == "defunct" {
			continue
		}
		live = append(live, id)
	}
	if len(live) == 0 {
		return nil
	}
	if err := l.query(ctx, `SELECT service_id, COALESCE(document,'') FROM required_document WHERE service_id IN (%s)`, live, func(rs *sql.Rows) error {
		var sid, d string
		if err := rs.Scan(&sid, &d); err != nil {
			return err
		}
		svcs[sid].docs = append(svcs[sid].docs, d)
		return nil
	}); err != nil {
		return fmt.Errorf("load required documents: %w", err)
	}
	if err := l.query(ctx, `SELECT link_id, taxonomy_term_id FROM attribute WHERE link_id IN (%s)`, live, func(rs *sql.Rows) error {
		var sid, tid string
		if err := rs.Scan(&sid, &tid); err != nil {
			return err
		}
		r := svcs[sid]
		t, ok := l.terms[tid]
		if !ok {
			return nil
		}
		if t.taxonomy == directory.ReentryTaxonomyID {
			r.facts[t.code] = true
			return nil
		}
		for _, k := range l.categories(tid) {
			r.cats[k] = true
			if c, ok := directory.CategoryByKey(k); ok {
				r.catNames[c.NameEN] = true
			}
		}
		for id, i := tid, 0; id != "" && i < 10; id, i = l.terms[id].parent, i+1 {
			r.terms[id] = true
			r.catNames[l.terms[id].name] = true
		}
		return nil
	}); err != nil {
		return fmt.Errorf("load attributes: %w", err)
	}
	if err := l.query(ctx, `SELECT service_id, COALESCE(code,''), COALESCE(name,'') FROM language WHERE service_id IN (%s)`, live, func(rs *sql.Rows) error {
		var sid, code, name string
		if err := rs.Scan(&sid, &code, &name); err != nil {
			return err
		}
		if c := languageCode(code, name); c != "" {
			svcs[sid].langs[c] = true
		}
		return nil
	}); err != nil {
		return fmt.Errorf("load languages: %w", err)
	}
	salSchedules := map[string][]map[string]any{}
	if err := l.query(ctx, `SELECT sc.* FROM schedule sc WHERE sc.service_id IN (%[1]s)
		UNION ALL SELECT sc.* FROM schedule sc JOIN service_at_location sal ON sal.id = sc.service_at_location_id
		WHERE sal.service_id IN (%[1]s) AND (sc.service_id IS NULL OR sc.service_id NOT IN (%[1]s))`, live, func(rs *sql.Rows) error {
		m, err := scanMap(rs)
		if err != nil {
			return err
		}
		if sid, _ := m["service_id"].(string); sid != "" && svcs[sid] != nil {
			svcs[sid].schedules = append(svcs[sid].schedules, m)
		}
		if salID, _ := m["service_at_location_id"].(string); salID != "" {
			salSchedules[salID] = append(salSchedules[salID], m)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("load schedules: %w", err)
	}
	type place struct {
		salID, name, ltype, city, zip string
		lat, lon                      sql.NullFloat64
	}
	places := map[string][]place{}
	// a place's city and ZIP: from its physical address, else its first
	if err := l.query(ctx, `SELECT sal.service_id, sal.id, COALESCE(l.name,''), l.location_type, l.latitude, l.longitude,
		COALESCE(a.city, ''), COALESCE(a.postal_code, '')
		FROM service_at_location sal JOIN location l ON l.id = sal.location_id
		LEFT JOIN address a ON a.rowid = (SELECT rowid FROM address WHERE location_id = l.id ORDER BY address_type = 'physical' DESC, rowid LIMIT 1)
		WHERE sal.service_id IN (%s) ORDER BY sal.rowid`, live, func(rs *sql.Rows) error {
		var sid string
		var p place
		if err := rs.Scan(&sid, &p.salID, &p.name, &p.ltype, &p.lat, &p.lon, &p.city, &p.zip); err != nil {
			return err
		}
		places[sid] = append(places[sid], p)
		return nil
	}); err != nil {
		return fmt.Errorf("load locations: %w", err)
	}

	for _, id := range live {
		r := svcs[id]
		f := r.fields()
		// One document per service, with every physical place it is
		// offered at (see docs/search.md).
		var pts, zips, where []string
		var open []string
		svcOpenDone := false
		for _, p := range places[id] {
			if p.ltype == "virtual" || !p.lat.Valid || !p.lon.Valid {
				continue
			}
			pts = append(pts, placeValue(len(pts), p.salID, p.lat.Float64, p.lon.Float64))
			if z := zip5(p.zip); z != "" && !slices.Contains(zips, z) {
				zips = append(zips, z)
			}
			where = append(where, p.name, p.city)
			if own := salSchedules[p.salID]; len(own) > 0 {
				open = appendNew(open, l.openSlots(append(slices.Clone(r.schedules), own...))...)
			} else if !svcOpenDone {
				// the service's own hours: the same at every place without its own
				open = appendNew(open, l.openSlots(r.schedules)...)
				svcOpenDone = true
			}
		}
		if len(pts) == 0 {
			f[fRemote] = "1"
			var all []map[string]any
			all = append(all, r.schedules...)
			for _, p := range places[id] {
				all = append(all, salSchedules[p.salID]...)
			}
			open = l.openSlots(all)
		}
		f[fPlace] = pts
		f[fZIP] = zips
		f[fOpen] = open
		if len(where) > 0 {
			f[fDetails] = f[fDetails].(string) + "\n" + strings.Join(where, "\n")
		}
		out[id] = []document{{ID: id, Fields: f}}
	}
	return nil
}

// placeValue is a place as the "place" field holds it: its rank among
// the service's places, its service_at_location id and its point.
func placeValue(n int, salID string, lat, lon float64) string {
	return strconv.Itoa(n) + " " + salID + " " + strconv.FormatFloat(lat, 'f', -1, 64) + " " + strconv.FormatFloat(lon, 'f', -1, 64)
}

// fields are the parts of a document that every location of a service
// shares.
func (r *svcRow) fields() map[string]any {
	es := []string{}
	for _, v := range []string{r.extra.Name, r.extra.Description, r.extra.AlternateName, r.extra.Eligibility} {
		if v != "" {
			es = append(es, v)
		}
	}
	langs := r.langs
	if len(langs) == 0 {
		langs = set{"en": true}
	}
	closed := "0"
	if r.status == "temporarily closed" {
		closed = "1"
	}
	catText := strings.Join(r.catNames.list(), "\n")
	f := map[string]any{
		"_type":   docType,
		fName:     r.name,
		fAltName:  r.alt,
		fCategory: catText,
		fOrg:      r.orgName,
		fDesc:     r.desc,
		fDetails:  strings.Join([]string{r.elig, r.apply, r.fees, strings.Join(r.docs, "\n"), r.orgDesc}, "\n"),
		fSpanish:  strings.Join(es, "\n"),
		fWords:    strings.Join([]string{r.name, r.alt, catText, r.desc}, "\n"),
		fService:  r.id,
		fTerms:    r.terms.list(),
		fCat:      r.cats.list(),
		fFact:     r.facts.list(),
		fLang:     langs.list(),
		fStatus:   r.status,
		fClosed:   closed,
	}
	// Ages only when the service has them: a numeric field is 16 terms,
	// and three services in four have neither (the collector reads a
	// missing age as no limit, 0 and 200).
	if r.minAge > 0 {
		f[fMinAge] = r.minAge
	}
	if r.maxAge < 200 {
		f[fMaxAge] = r.maxAge
	}
	return f
}

// zip5 keeps the 5-digit ZIP of a postal code ("64127-1234" -> "64127").
func zip5(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 5 {
		return s[:5]
	}
	return s
}

// languageCode normalises a language to its ISO 639-1 code, from the code
// when present, else from an English or Spanish name.
func languageCode(code, name string) string {
	code = strings.ToLower(strings.TrimSpace(code))
	if i := strings.IndexAny(code, "-_"); i > 0 {
		code = code[:i]
	}
	if len(code) == 3 {
		// HSDS allows ISO 639-3 (and data carries 639-2/B): the API and the
		// facets speak ISO 639-1 where the language has a code there.
		if c, ok := iso6391[code]; ok {
			return c
		}
	}
	if len(code) == 2 || len(code) == 3 {
		return code
	}
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "english", "inglés", "ingles":
		return "en"
	case "spanish", "español", "espanol":
		return "es"
	}
	return ""
}

// iso6391 maps ISO 639-3 and 639-2/B codes of languages spoken in the
// Kansas City area (and a few more) to their ISO 639-1 codes.
var iso6391 = map[string]string{
	"eng": "en", "spa": "es", "vie": "vi", "som": "so", "ara": "ar", "fra": "fr", "fre": "fr",
	"swa": "sw", "amh": "am", "tir": "ti", "orm": "om", "kin": "rw", "mya": "my", "bur": "my",
	"nep": "ne", "fas": "fa", "per": "fa", "prs": "fa", "pus": "ps", "zho": "zh", "chi": "zh",
	"cmn": "zh", "kor": "ko", "jpn": "ja", "rus": "ru", "ukr": "uk", "por": "pt", "deu": "de",
	"ger": "de", "ita": "it", "pol": "pl", "hat": "ht", "tgl": "tl", "hin": "hi", "urd": "ur",
	"ben": "bn", "pan": "pa", "guj": "gu", "tam": "ta", "lao": "lo", "khm": "km", "tha": "th",
	"bos": "bs", "hrv": "hr", "srp": "sr", "tur": "tr", "kur": "ku",
}

// scanMap reads one row into column -> value.
func scanMap(rs *sql.Rows) (map[string]any, error) {
	cols, err := rs.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rs.Scan(ptrs...); err != nil {
		return nil, err
	}
	m := make(map[string]any, len(cols))
	for i, c := range cols {
		m[c] = vals[i]
	}
	return m, nil
}

func (l *loader) openSlots(schedules []map[string]any) []string {
	if l.slots == nil || len(schedules) == 0 {
		return nil
	}
	return l.slots(schedules)
}
