package directory

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
)

// The read-only HSDS 3.0 API, mounted by the caller at /hsds. Paths,
// parameter names and response shapes follow the HSDS OpenAPI description
// (data/hsds/openapi.json is ours, filled in); data/hsds/README.md says where
// it comes from.

const (
	defaultPerPage = 50
	// maxPerPage caps per_page. A larger value is served as this many per
	// page rather than refused, as HSDS APIs commonly do: the envelope's
	// total_pages tells the client how many pages there really are.
	maxPerPage = 100
	// maxSearch bounds the search text, and so the size of the query built
	// from it.
	maxSearch   = 200
	hsdsProfile = "https://openreferral.org/specification/3.0"
)

// api holds what the handlers share.
type api struct {
	store   *Store
	baseURL string
	openapi []byte
	// search turns the free text of the search parameter into a condition
	// on the service table aliased alias. It is plain SQL LIKE for now; the
	// bleve index replaces it.
	search func(alias, text string) (string, []any)
}

// RegisterAPI mounts the read-only HSDS 3.0 API on g (the caller mounts g at
// /hsds and installs the error handler that turns apperr codes into
// statuses). baseURL is the public address of the site, without a trailing
// slash, e.g. https://secondchancekc.org; the API names itself with it.
func RegisterAPI(g *echo.Group, s *Store, baseURL string) {
	baseURL = strings.TrimSuffix(baseURL, "/")
	doc, err := openAPIDocument(baseURL + "/hsds")
	if err != nil {
		panic(err) // the embedded file is a build-time fact
	}
	a := &api{store: s, baseURL: baseURL, openapi: doc, search: likeSearch}
	g.Use(allowAnyOrigin)
	route := func(path string, h echo.HandlerFunc) {
		g.GET(path, h)
		g.OPTIONS(path, preflight)
	}
	route("", a.root)
	route("/", a.root)
	route("/openapi.json", a.openAPI)
	route("/services", a.services)
	route("/services/:id", a.service)
	route("/organizations", a.organizations)
	route("/organizations/:id", a.organization)
	route("/service_at_locations", a.serviceAtLocations)
	route("/service_at_locations/:id", a.serviceAtLocation)
	route("/taxonomies", a.taxonomies)
	route("/taxonomies/:id", a.taxonomy)
	route("/taxonomy_terms", a.taxonomyTerms)
	route("/taxonomy_terms/:id", a.taxonomyTerm)
}

// allowAnyOrigin lets any web page read the API: it is public, read-only
// and uses no credentials.
func allowAnyOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderAccessControlAllowOrigin, "*")
		return next(c)
	}
}

// preflight answers a CORS preflight request.
func preflight(c echo.Context) error {
	h := c.Response().Header()
	h.Set(echo.HeaderAccessControlAllowMethods, "GET, OPTIONS")
	if rh := c.Request().Header.Get(echo.HeaderAccessControlRequestHeaders); rh != "" {
		h.Set(echo.HeaderAccessControlAllowHeaders, rh)
		h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestHeaders)
	}
	h.Set(echo.HeaderAccessControlMaxAge, "86400")
	h.Set(echo.HeaderAllow, "GET, OPTIONS")
	return c.NoContent(http.StatusNoContent)
}

func (a *api) root(c echo.Context) error {
	return c.JSON(http.StatusOK, Doc{
		{"version", "3.0"},
		{"profile", hsdsProfile},
		{"openapi_url", a.baseURL + "/hsds/openapi.json"},
	})
}

func (a *api) openAPI(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, a.openapi)
}

// --- services ---

func (a *api) services(c echo.Context) error {
	f, err := serviceFilterParams(c)
	if err != nil {
		return err
	}
	minimal, err := boolParam(c, "minimal")
	if err != nil {
		return err
	}
	full, err := boolParam(c, "full")
	if err != nil {
		return err
	}
	if minimal && full {
		return apperr.Errorf(apperr.EINVALID, "parameters minimal and full: ask for one or the other, not both")
	}
	shape, stream := serviceSummary, serviceFull
	switch {
	case minimal:
		shape, stream = serviceFlat, serviceFlat
	case full:
		shape = serviceFull
	}
	search, rank, err := a.searcher(c, f.Search)
	if err != nil {
		return err
	}
	where, args := f.conditions("t", search)
	var order string
	var orderArgs []any
	if rank != nil {
		order, orderArgs = rank.order, rank.args
	}
	return a.list(c, listing{
		table: "service", where: where, args: args, order: order, orderArgs: orderArgs,
		item:       func(ctx context.Context, q querier, id string) (Doc, error) { return serviceDoc(ctx, q, id, shape) },
		streamItem: func(ctx context.Context, q querier, id string) (Doc, error) { return serviceDoc(ctx, q, id, stream) },
	})
}

func (a *api) service(c echo.Context) error {
	return a.one(c, func(ctx context.Context, q querier, id string) (Doc, error) {
		return serviceDoc(ctx, q, id, serviceFull)
	})
}

// --- organizations ---

func (a *api) organizations(c echo.Context) error {
	full, err := boolParam(c, "full")
	if err != nil {
		return err
	}
	fullService, err := boolParam(c, "full_service")
	if err != nil {
		return err
	}
	search, err := searchParam(c)
	if err != nil {
		return err
	}
	// An organization in the list looks like GET /organizations/{id} when
	// full is set; full_service alone adds fully nested services to the
	// organization's own fields.
	services := noServices
	switch {
	case fullService:
		services = serviceFull
	case full:
		services = serviceFlat
	}
	where, args := likeWords("t", []string{"name", "alternate_name", "description"}, search)
	item := func(ctx context.Context, q querier, id string) (Doc, error) {
		return organizationDoc(ctx, q, id, full, services)
	}
	return a.list(c, listing{table: "organization", where: where, args: args, item: item, streamItem: item})
}

func (a *api) organization(c echo.Context) error {
	fullService, err := boolParam(c, "full_service")
	if err != nil {
		return err
	}
	services := serviceFlat
	if fullService {
		services = serviceFull
	}
	return a.one(c, func(ctx context.Context, q querier, id string) (Doc, error) {
		return organizationDoc(ctx, q, id, true, services)
	})
}

// --- service at locations ---

func (a *api) serviceAtLocations(c echo.Context) error {
	f, err := serviceFilterParams(c)
	if err != nil {
		return err
	}
	full, err := boolParam(c, "full")
	if err != nil {
		return err
	}
	postcode := strings.TrimSpace(c.QueryParam("postcode"))
	near, err := proximityParams(postcode, strings.TrimSpace(c.QueryParam("proximity")))
	if err != nil {
		return err
	}
	var where []string
	var args []any
	search, _, err := a.searcher(c, f.Search)
	if err != nil {
		return err
	}
	if sw, sa := f.conditions("s", search); len(sw) > 0 {
		where = append(where, "EXISTS (SELECT 1 FROM service s WHERE s.id = t.service_id AND "+strings.Join(sw, " AND ")+")")
		args = append(args, sa...)
	}
	if postcode != "" && near == nil {
		cond, condArgs := postcodeCondition("t.location_id", postcode)
		where = append(where, cond)
		args = append(args, condArgs...)
	}
	item := func(ctx context.Context, q querier, id string) (Doc, error) {
		return serviceAtLocationDoc(ctx, q, id, full)
	}
	return a.list(c, listing{table: "service_at_location", where: where, args: args, near: near, item: item, streamItem: item})
}

func (a *api) serviceAtLocation(c echo.Context) error {
	return a.one(c, func(ctx context.Context, q querier, id string) (Doc, error) {
		return serviceAtLocationDoc(ctx, q, id, true)
	})
}

// --- taxonomies ---

func (a *api) taxonomies(c echo.Context) error {
	search, err := searchParam(c)
	if err != nil {
		return err
	}
	where, args := likeWords("t", []string{"name", "description"}, search)
	item := plainDoc("taxonomy", Full)
	return a.list(c, listing{table: "taxonomy", where: where, args: args, item: item, streamItem: item})
}

func (a *api) taxonomy(c echo.Context) error {
	return a.one(c, plainDoc("taxonomy", Full))
}

func (a *api) taxonomyTerms(c echo.Context) error {
	search, err := searchParam(c)
	if err != nil {
		return err
	}
	topOnly, err := boolParam(c, "top_only")
	if err != nil {
		return err
	}
	where, args := likeWords("t", []string{"name", "description", "code"}, search)
	if v := strings.TrimSpace(c.QueryParam("taxonomy_id")); v != "" {
		where = append(where, "t.taxonomy_id = ?")
		args = append(args, v)
	}
	if v := strings.TrimSpace(c.QueryParam("parent_id")); v != "" {
		where = append(where, "t.parent_id = ?")
		args = append(args, v)
	}
	if topOnly {
		where = append(where, "(t.parent_id IS NULL OR t.parent_id = '')")
	}
	item := plainDoc("taxonomy_term", Full)
	return a.list(c, listing{table: "taxonomy_term", where: where, args: args, item: item, streamItem: item})
}

func (a *api) taxonomyTerm(c echo.Context) error {
	return a.one(c, plainDoc("taxonomy_term", Full))
}

// --- lists and pages ---

// Page is the HSDS envelope of one page of a list.
type Page struct {
	TotalItems int   `json:"total_items"`
	TotalPages int   `json:"total_pages"`
	PageNumber int   `json:"page_number"`
	Size       int   `json:"size"` // items on this page
	FirstPage  bool  `json:"first_page"`
	LastPage   bool  `json:"last_page"`
	Empty      bool  `json:"empty"` // no items on this page
	Contents   []Doc `json:"contents"`
}

func newPage(contents []Doc, total, page, perPage int) Page {
	if contents == nil {
		contents = []Doc{}
	}
	pages := (total + perPage - 1) / perPage
	return Page{
		TotalItems: total,
		TotalPages: pages,
		PageNumber: page,
		Size:       len(contents),
		FirstPage:  page == 1,
		LastPage:   page >= pages,
		Empty:      len(contents) == 0,
		Contents:   contents,
	}
}

// itemFunc composes one object of a list from its id.
type itemFunc func(ctx context.Context, q querier, id string) (Doc, error)

// listing is one list request: which rows, and how to show each.
type listing struct {
	table string
	where []string // conditions on the table aliased "t", ANDed
	args  []any
	near  *proximity // if set (service_at_location only), rows within reach, nearest first
	item  itemFunc   // an item on a page
	// streamItem is a line of format=ndjson.
	streamItem itemFunc
	// order, if set, replaces stored order (the search engine's ranking),
	// with its arguments.
	order     string
	orderArgs []any
}

// list answers a list request: one page in the HSDS envelope, or every
// match as NDJSON.
func (a *api) list(c echo.Context, l listing) error {
	page, perPage, err := pagingParams(c)
	if err != nil {
		return err
	}
	ndjson, err := formatParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	tx, err := a.store.db.Read.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	// One read transaction: the count, the ids and the documents come from
	// the same snapshot of the directory.
	defer tx.Rollback()

	var ids []string
	var total int
	switch {
	case l.near != nil:
		all, err := nearbyIDs(ctx, tx, l.where, l.args, *l.near)
		if err != nil {
			return err
		}
		total = len(all)
		if ndjson {
			ids = all
		} else if off := (page - 1) * perPage; off < len(all) {
			ids = all[off:min(off+perPage, len(all))]
		}
	case ndjson:
		ids, total, err = matchIDs(ctx, tx, l.table, l.where, l.args, l.order, l.orderArgs, 0, 0)
	default:
		ids, total, err = matchIDs(ctx, tx, l.table, l.where, l.args, l.order, l.orderArgs, perPage, (page-1)*perPage)
	}
	if err != nil {
		return err
	}
	if ndjson {
		return stream(c, tx, ids, l.streamItem)
	}
	docs := make([]Doc, 0, len(ids))
	for _, id := range ids {
		d, err := l.item(ctx, tx, id)
		if err != nil {
			return err
		}
		docs = append(docs, d)
	}
	return c.JSON(http.StatusOK, newPage(docs, total, page, perPage))
}

// stream writes one document per line. The status line goes out with the
// first document, so that a failure composing it is still a proper error.
func stream(c echo.Context, q querier, ids []string, item itemFunc) error {
	ctx := c.Request().Context()
	w := c.Response()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	start := func() {
		w.Header().Set(echo.HeaderContentType, "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
	}
	for i, id := range ids {
		d, err := item(ctx, q, id)
		if err != nil {
			return err
		}
		if i == 0 {
			start()
		}
		if err := enc.Encode(d); err != nil {
			return err
		}
		if i%50 == 49 {
			w.Flush()
		}
	}
	if len(ids) == 0 {
		start()
	}
	w.Flush()
	return nil
}

// one answers GET /{things}/{id}.
func (a *api) one(c echo.Context, item itemFunc) error {
	ctx := c.Request().Context()
	tx, err := a.store.db.Read.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	d, err := item(ctx, tx, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

// --- parameters ---

func badParam(name, format string, args ...any) error {
	return apperr.Errorf(apperr.EINVALID, "parameter %s: %s", name, fmt.Sprintf(format, args...))
}

func pagingParams(c echo.Context) (page, perPage int, err error) {
	page, perPage = 1, defaultPerPage
	if v := strings.TrimSpace(c.QueryParam("page")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000_000 {
			return 0, 0, badParam("page", "must be a whole number from 1 to 1000000000, got %q", clip(v))
		}
		page = n
	}
	if v := strings.TrimSpace(c.QueryParam("per_page")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil && isDigits(v) {
			n, err = maxPerPage, nil // too long for an int: still just "too many"
		}
		if err != nil || n < 1 {
			return 0, 0, badParam("per_page", "must be a whole number from 1 to %d (larger numbers are served as %d), got %q", maxPerPage, maxPerPage, clip(v))
		}
		perPage = min(n, maxPerPage)
	}
	return page, perPage, nil
}

func isDigits(s string) bool {
	s = strings.TrimPrefix(s, "+")
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// formatParam reports whether format=ndjson was asked for.
func formatParam(c echo.Context) (bool, error) {
	switch v := strings.TrimSpace(c.QueryParam("format")); strings.ToLower(v) {
	case "", "json":
		return false, nil
	case "ndjson":
		return true, nil
	default:
		return false, badParam("format", "must be json or ndjson, got %q", clip(v))
	}
}

// boolParam reads a true/false parameter; absent or empty is false.
func boolParam(c echo.Context, name string) (bool, error) {
	switch v := strings.TrimSpace(c.QueryParam(name)); strings.ToLower(v) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, badParam(name, "must be true or false (or 1 or 0), got %q", clip(v))
	}
}

func searchParam(c echo.Context) (string, error) {
	v := strings.TrimSpace(c.QueryParam("search"))
	if !validText(v) {
		return "", badParam("search", "is not valid UTF-8 text")
	}
	if n := len([]rune(v)); n > maxSearch {
		return "", badParam("search", "must be at most %d characters, got %d", maxSearch, n)
	}
	return v, nil
}

// serviceFilter selects services for the HSDS API. Empty fields do not
// filter; the others are ANDed.
type serviceFilter struct {
	Search         string
	TaxonomyTermID string    // has an attribute with this term
	TaxonomyID     string    // has an attribute with a term of this taxonomy
	OrganizationID string    // provided by this organization
	Status         string    // an extension to HSDS
	ModifiedAfter  time.Time // last_modified on or after; zero does not filter
}

func serviceFilterParams(c echo.Context) (serviceFilter, error) {
	var f serviceFilter
	var err error
	if f.Search, err = searchParam(c); err != nil {
		return f, err
	}
	f.TaxonomyTermID = strings.TrimSpace(c.QueryParam("taxonomy_term_id"))
	f.TaxonomyID = strings.TrimSpace(c.QueryParam("taxonomy_id"))
	f.OrganizationID = strings.TrimSpace(c.QueryParam("organization_id"))
	if v := strings.TrimSpace(c.QueryParam("status")); v != "" {
		field, _ := Schema.Table("service").Field("status")
		statuses := field.Enum
		if !slices.Contains(statuses, v) {
			return f, badParam("status", "must be one of %s, got %q", strings.Join(statuses, ", "), clip(v))
		}
		f.Status = v
	}
	if v := strings.TrimSpace(c.QueryParam("modified_after")); v != "" {
		// An unescaped + in a query string arrives as a space.
		t, err := time.Parse(time.RFC3339Nano, strings.ReplaceAll(v, " ", "+"))
		if err != nil {
			t, err = time.Parse(time.DateOnly, v)
		}
		if err != nil {
			return f, badParam("modified_after", "must be a date and time in RFC 3339 form (2026-03-15T10:30:00Z) or a date (2026-03-15), got %q", clip(v))
		}
		f.ModifiedAfter = t.UTC()
	}
	return f, nil
}

// conditions turns the filter into SQL conditions on the service table
// aliased alias.
func (f serviceFilter) conditions(alias string, search func(alias, text string) (string, []any)) ([]string, []any) {
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if f.Search != "" {
		if cond, a := search(alias, f.Search); cond != "" {
			add(cond, a...)
		}
	}
	if f.TaxonomyTermID != "" {
		add("EXISTS (SELECT 1 FROM attribute a WHERE a.link_id = "+alias+".id AND a.taxonomy_term_id = ?)", f.TaxonomyTermID)
	}
	if f.TaxonomyID != "" {
		add("EXISTS (SELECT 1 FROM attribute a JOIN taxonomy_term tt ON tt.id = a.taxonomy_term_id WHERE a.link_id = "+alias+".id AND tt.taxonomy_id = ?)", f.TaxonomyID)
	}
	if f.OrganizationID != "" {
		add(alias+".organization_id = ?", f.OrganizationID)
	}
	if f.Status != "" {
		add(alias+".status = ?", f.Status)
	}
	if !f.ModifiedAfter.IsZero() {
		// last_modified is stored in one fixed-width UTC form (see
		// Field.Parse), so text order is time order.
		add(alias+".last_modified >= ?", f.ModifiedAfter.Format("2006-01-02T15:04:05.000Z07:00"))
	}
	return where, args
}

// searcher returns how the search parameter selects services: through the
// search engine when the store has one (Store.SearchIDs), else SQL LIKE.
func (a *api) searcher(c echo.Context, text string) (search func(alias, text string) (string, []any), rank *ranking, err error) {
	if text == "" || a.store.SearchIDs == nil {
		return a.search, nil, nil
	}
	ids, err := a.store.SearchIDs(c.Request().Context(), text)
	if err != nil {
		return nil, nil, err
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, nil, err
	}
	return func(alias, _ string) (string, []any) {
			return alias + ".id IN (SELECT value FROM json_each(?))", []any{string(list)}
		}, &ranking{order: "(SELECT CAST(key AS INTEGER) FROM json_each(?) WHERE value = t.id)", args: []any{string(list)}},
		nil
}

// ranking orders services as the search engine ranked them.
type ranking struct {
	order string
	args  []any
}

// likeSearch matches services whose name, alternate name or description, or
// whose organization's name, contains every word of text (ASCII letters
// without regard to case).
func likeSearch(alias, text string) (string, []any) {
	var where []string
	var args []any
	for _, w := range strings.Fields(text) {
		p := "%" + escapeLike(w) + "%"
		where = append(where, "("+alias+".name LIKE ? ESCAPE '\\' OR "+alias+".alternate_name LIKE ? ESCAPE '\\' OR "+
			alias+".description LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM organization o WHERE o.id = "+alias+
			".organization_id AND o.name LIKE ? ESCAPE '\\'))")
		args = append(args, p, p, p, p)
	}
	return strings.Join(where, " AND "), args
}

// likeWords returns one condition per word of text: some column contains it.
func likeWords(alias string, cols []string, text string) ([]string, []any) {
	var where []string
	var args []any
	for _, w := range strings.Fields(text) {
		p := "%" + escapeLike(w) + "%"
		alts := make([]string, len(cols))
		for i, c := range cols {
			alts[i] = alias + "." + c + " LIKE ? ESCAPE '\\'"
			args = append(args, p)
		}
		where = append(where, "("+strings.Join(alts, " OR ")+")")
	}
	return where, args
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

var zipPattern = regexp.MustCompile(`^(\d{5})(?:[- ]?\d{4})?$`)

// postcodeCondition matches rows whose location (the column locCol) has an
// address with this postal code; a US ZIP matches its ZIP+4 forms.
func postcodeCondition(locCol, postcode string) (string, []any) {
	if m := zipPattern.FindStringSubmatch(postcode); m != nil {
		zip := m[1]
		return "EXISTS (SELECT 1 FROM address ad WHERE ad.location_id = " + locCol + " AND (ad.postal_code = ? OR ad.postal_code LIKE ? OR ad.postal_code LIKE ?))",
			[]any{zip, zip + "-%", zip + " %"}
	}
	return "EXISTS (SELECT 1 FROM address ad WHERE ad.location_id = " + locCol + " AND ad.postal_code = ? COLLATE NOCASE)", []any{postcode}
}

// proximity is a circle around a ZIP code's centroid.
type proximity struct {
	Lat, Lon float64
	Miles    float64
}

func proximityParams(postcode, miles string) (*proximity, error) {
	if miles == "" {
		return nil, nil
	}
	d, err := strconv.ParseFloat(miles, 64)
	if err != nil || math.IsNaN(d) || math.IsInf(d, 0) || d <= 0 {
		return nil, badParam("proximity", "must be a distance in miles greater than 0, got %q", clip(miles))
	}
	if postcode == "" {
		return nil, badParam("proximity", "needs a postcode to measure from (add postcode=64127, for example)")
	}
	m := zipPattern.FindStringSubmatch(postcode)
	if m == nil {
		return nil, badParam("postcode", "must be a 5-digit US ZIP code to use with proximity, got %q", clip(postcode))
	}
	p, ok, err := ZIPCentroid(m[1])
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, badParam("postcode", "we don't know ZIP code %s", m[1])
	}
	return &proximity{Lat: p.Lat, Lon: p.Lon, Miles: d}, nil
}

// --- queries (no HTTP below) ---

// matchIDs returns the ids of the matching rows of table in stored order,
// limit of them from offset (all when limit is 0), and the number that
// match.
func matchIDs(ctx context.Context, q querier, table string, where []string, args []any, order string, orderArgs []any, limit, offset int) ([]string, int, error) {
	w := ""
	if len(where) > 0 {
		w = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" t"+w, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count %s: %w", table, err)
	}
	if order == "" {
		order = "t.rowid"
	}
	query := "SELECT t.id FROM " + table + " t" + w + " ORDER BY " + order
	args = append(slices.Clone(args), orderArgs...)
	if limit > 0 {
		query += " LIMIT ? OFFSET ?"
		args = append(args, limit, offset)
	}
	ids, err := scanIDs(ctx, q, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", table, err)
	}
	return ids, total, nil
}

func scanIDs(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rs, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	ids := []string{}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rs.Err()
}

// nearbyIDs returns the ids of the matching service_at_location rows (where
// is on the table aliased "t") whose location is within reach of p, nearest
// first. A location without usable coordinates
// stands at the centroid of its first address's ZIP code; one with neither
// is left out. The directory is one metro area, small enough to measure
// every candidate here rather than teach SQLite trigonometry.
func nearbyIDs(ctx context.Context, q querier, where []string, args []any, p proximity) ([]string, error) {
	w := ""
	if len(where) > 0 {
		w = " WHERE " + strings.Join(where, " AND ")
	}
	rs, err := q.QueryContext(ctx, `SELECT t.id, l.latitude, l.longitude,
		(SELECT ad.postal_code FROM address ad WHERE ad.location_id = l.id ORDER BY ad.rowid LIMIT 1)
		FROM service_at_location t JOIN location l ON l.id = t.location_id`+w+` ORDER BY t.rowid`, args...)
	if err != nil {
		return nil, fmt.Errorf("nearby: %w", err)
	}
	defer rs.Close()
	type hit struct {
		id    string
		miles float64
	}
	var hits []hit
	for rs.Next() {
		var id string
		var lat, lon *float64
		var postal *string
		if err := rs.Scan(&id, &lat, &lon, &postal); err != nil {
			return nil, err
		}
		var at Point
		switch {
		case lat != nil && lon != nil && math.Abs(*lat) <= 90 && math.Abs(*lon) <= 180:
			at = Point{*lat, *lon}
		case postal != nil:
			m := zipPattern.FindStringSubmatch(strings.TrimSpace(*postal))
			if m == nil {
				continue
			}
			c, ok, err := ZIPCentroid(m[1])
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			at = c
		default:
			continue
		}
		if d := Miles(Point{p.Lat, p.Lon}, at); d <= p.Miles {
			hits = append(hits, hit{id, d})
		}
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(hits, func(a, b hit) int {
		switch {
		case a.miles < b.miles:
			return -1
		case a.miles > b.miles:
			return 1
		}
		return 0
	})
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.id
	}
	return ids, nil
}

// --- documents ---

// serviceShape is how much of a service an answer shows.
type serviceShape int

const (
	noServices serviceShape = iota
	// serviceFlat is the service's own fields.
	serviceFlat
	// serviceSummary adds its organization and program (their own fields),
	// as the items of HSDS service lists do (compiled/service_list.json).
	serviceSummary
	// serviceFull nests everything, as compiled/service.json.
	serviceFull
)

// composeID loads one object and composes it; ENOTFOUND when absent. path
// names the tables that the object is nested in.
func composeID(ctx context.Context, q querier, table, id string, depth Depth, path ...string) (Doc, error) {
	t := Schema.Table(table)
	r, err := getRow(ctx, q, t, id)
	if err != nil {
		return nil, err
	}
	return compose(ctx, q, t, r, depth, path)
}

// plainDoc composes objects of one table to depth.
func plainDoc(table string, depth Depth) itemFunc {
	return func(ctx context.Context, q querier, id string) (Doc, error) {
		return composeID(ctx, q, table, id, depth)
	}
}

func serviceDoc(ctx context.Context, q querier, id string, shape serviceShape, path ...string) (Doc, error) {
	switch shape {
	case serviceFull:
		return composeID(ctx, q, "service", id, Full, path...)
	case serviceFlat:
		return composeID(ctx, q, "service", id, Flat)
	}
	d, err := composeID(ctx, q, "service", id, Flat)
	if err != nil {
		return nil, err
	}
	return nestFlat(ctx, q, d, []Relation{
		{Key: "organization", Table: "organization", Col: "organization_id"},
		{Key: "program", Table: "program", Col: "program_id"},
	})
}

// nestFlat adds to d the own fields of the objects that its columns refer
// to, as the lighter HSDS list items do.
func nestFlat(ctx context.Context, q querier, d Doc, rels []Relation) (Doc, error) {
	for _, rel := range rels {
		ref, _ := d.Get(rel.Col).(string)
		if ref == "" {
			continue
		}
		cd, err := composeID(ctx, q, rel.Table, ref, Flat)
		if apperr.Code(err) == apperr.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, err
		}
		d = append(d, Prop{rel.Key, cd})
	}
	return d, nil
}

// organizationDoc composes an organization (fully nested when full) with
// its services in the given shape, as compiled/organization.json.
func organizationDoc(ctx context.Context, q querier, id string, full bool, services serviceShape) (Doc, error) {
	depth := Flat
	if full {
		depth = Full
	}
	d, err := composeID(ctx, q, "organization", id, depth)
	if err != nil || services == noServices {
		return d, err
	}
	ids, err := scanIDs(ctx, q, "SELECT id FROM service WHERE organization_id = ? ORDER BY rowid", id)
	if err != nil {
		return nil, err
	}
	arr := make([]Doc, 0, len(ids))
	for _, sid := range ids {
		// Nested in its organization, a service does not repeat it.
		sd, err := serviceDoc(ctx, q, sid, services, "organization")
		if err != nil {
			return nil, err
		}
		arr = append(arr, sd)
	}
	return append(d, Prop{"services", arr}), nil
}

// serviceAtLocationDoc composes a service at a location. Full is
// compiled/service_at_location.json: everything nested, with the service
// (which does not repeat its service_at_locations). Otherwise it is the list
// item of compiled/service_at_location_list.json: own fields, the location's
// own fields, and the service as in service lists.
func serviceAtLocationDoc(ctx context.Context, q querier, id string, full bool) (Doc, error) {
	if full {
		d, err := composeID(ctx, q, "service_at_location", id, Full)
		if err != nil {
			return nil, err
		}
		sid, _ := d.Get("service_id").(string)
		sd, err := serviceDoc(ctx, q, sid, serviceFull, "service_at_location")
		if err != nil {
			return nil, err
		}
		return append(d, Prop{"service", sd}), nil
	}
	d, err := composeID(ctx, q, "service_at_location", id, Flat)
	if err != nil {
		return nil, err
	}
	if d, err = nestFlat(ctx, q, d, []Relation{{Key: "location", Table: "location", Col: "location_id"}}); err != nil {
		return nil, err
	}
	sid, _ := d.Get("service_id").(string)
	sd, err := serviceDoc(ctx, q, sid, serviceSummary)
	if err != nil {
		return nil, err
	}
	return append(d, Prop{"service", sd}), nil
}
