package search

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/directory"
)

// Response is the JSON answer of /api/search.
type Response struct {
	Total    int     `json:"total"`
	TookMS   float64 `json:"took_ms"`
	Page     int     `json:"page"`
	PerPage  int     `json:"per_page"`
	Fallback bool    `json:"fallback"`
	Relaxed  bool    `json:"relaxed"`
	// Crisis: the words say someone may be in danger (a synonym marked
	// crisis, such as "suicidal"): every channel then gives the 988
	// Suicide & Crisis Lifeline first, and 911 for danger right now.
	Crisis  bool                    `json:"crisis"`
	Results []Card                  `json:"results"`
	Facets  map[string][]FacetLabel `json:"facets"`
}

// FacetLabel is a facet count with a label for people.
type FacetLabel struct {
	Value string `json:"value"`
	Label string `json:"label"`
	Count int    `json:"count"`
}

// RegisterAPI mounts GET /api/search on e.
func RegisterAPI(e *echo.Echo, eng *Engine) {
	e.GET("/api/search", eng.handleSearch)
}

// ParamsFrom reads search parameters from a request's query string.
func ParamsFrom(c echo.Context) Params {
	qp := c.QueryParams()
	return Params{
		Text: qp.Get("q"), ZIP: qp.Get("zip"), Lat: qp.Get("lat"), Lon: qp.Get("lon"), Radius: qp.Get("radius_miles"),
		Categories: qp["category"], Attributes: qp["attribute"], Language: qp.Get("language"),
		OpenNow: qp.Get("open_now"), Free: qp.Get("free"), Age: qp.Get("age"),
		Page: qp.Get("page"), PerPage: qp.Get("per_page"), Sort: qp.Get("sort"),
	}
}

func (e *Engine) handleSearch(c echo.Context) error {
	q, err := ParseQuery(ParamsFrom(c))
	if err != nil {
		return err
	}
	resp, err := e.Answer(c.Request().Context(), q, "api")
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, resp)
}

// Answer runs a search and loads its cards and facet labels; a search that
// finds nothing is recorded as an unmet need (text and filters only).
func (e *Engine) Answer(ctx context.Context, q Query, channel string) (*Response, error) {
	res, err := e.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	groups := res.groups
	if groups == nil {
		groups = e.syn.analyze(q.Text, nil)
	}
	cards, err := e.cardsFor(ctx, res.Hits, q, queryWords(groups))
	if err != nil {
		return nil, err
	}
	if res.Total == 0 {
		e.recordUnmet(ctx, q, channel)
	}
	return &Response{
		Total: res.Total, TookMS: float64(res.Took.Microseconds()) / 1000, Page: q.Page, PerPage: q.PerPage,
		Fallback: res.Fallback, Relaxed: res.Relaxed, Crisis: crisis(groups), Results: cards, Facets: e.labelFacets(ctx, res.Facets),
	}, nil
}

// Crisis reports whether text says someone may be in danger (see
// Response.Crisis), for channels that search through other means (the
// hotline's texts and calls).
func (e *Engine) Crisis(text string) bool { return crisis(e.syn.analyze(text, nil)) }

func crisis(groups []group) bool {
	return slices.ContainsFunc(groups, func(g group) bool { return g.crisis })
}

func (e *Engine) labelFacets(ctx context.Context, fs map[string][]Facet) map[string][]FacetLabel {
	out := map[string][]FacetLabel{}
	names := e.factNames(ctx)
	for key, list := range fs {
		labels := []FacetLabel{}
		for _, f := range list {
			label := f.Value
			switch key {
			case "category":
				if c, ok := directory.CategoryByKey(f.Value); ok {
					label = c.NameEN
				}
			case "attribute":
				if n, ok := names[f.Value]; ok {
					label = n
				}
			case "language":
				label = languageName(f.Value)
			}
			labels = append(labels, FacetLabel{Value: f.Value, Label: label, Count: f.Count})
		}
		out[key] = labels
	}
	return out
}

// factNames maps reentry fact codes to their names (read only: the
// taxonomy's own map, built once per load of the terms).
func (e *Engine) factNames(ctx context.Context) map[string]string {
	tax, err := e.taxonomy(ctx)
	if err != nil {
		return nil
	}
	return tax.factNames
}

func languageName(code string) string {
	switch code {
	case "en":
		return "English"
	case "es":
		return "Español"
	case "vi":
		return "Tiếng Việt"
	case "so":
		return "Soomaali"
	case "ar":
		return "العربية"
	case "fr":
		return "Français"
	}
	return code
}

// recordUnmet keeps a search that found nothing, for the unmet-needs
// report. Failure to record never fails the search.
func (e *Engine) recordUnmet(ctx context.Context, q Query, channel string) {
	filters := map[string]any{}
	if q.HasPoint {
		filters["near"] = map[string]float64{"lat": round2(q.Lat), "lon": round2(q.Lon)}
	}
	if q.Radius > 0 {
		filters["radius_miles"] = q.Radius
	}
	if len(q.Categories) > 0 {
		filters["category"] = q.Categories
	}
	if len(q.Facts) > 0 {
		filters["attribute"] = q.Facts
	}
	if q.Language != "" {
		filters["language"] = q.Language
	}
	if q.OpenNow {
		filters["open_now"] = true
	}
	if q.Free {
		filters["free"] = true
	}
	if q.Age > 0 {
		filters["age"] = q.Age
	}
	b, _ := json.Marshal(filters)
	_, err := e.store.DB().Write.ExecContext(ctx, `INSERT INTO unmet_search (searched_at, channel, query, filters) VALUES (?, ?, ?, ?)`,
		e.now().UTC().Format(time.RFC3339), channel, q.Text, string(b))
	if err != nil {
		e.log.Warn("could not record an unmet search", "err", err)
	}
}

// round2 keeps a point to about a kilometre: enough for a report, not
// enough to place a person.
func round2(f float64) float64 { return float64(int(f*100)) / 100 }

// ServiceIDs returns the ids of every service matching text, best first,
// for the HSDS API's search parameter.
func (e *Engine) ServiceIDs(ctx context.Context, text string) ([]string, error) {
	q := Query{Text: text, Page: 1, PerPage: 10000, Sort: "relevance"}
	res, err := e.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		ids[i] = h.ServiceID
	}
	return ids, nil
}
