package referral

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/secondchancekc/secondchance/internal/apperr"
	"github.com/secondchancekc/secondchance/templates"
)

// The staff reports pages. Login is the caller's business (cmd mounts the
// group under /staff, which the auth guard covers); every staff member may
// see reports and download the de-identified export.

type reports struct {
	store *Store
	pages *templates.Renderer
	actor func(echo.Context) string
}

// RegisterReports mounts the reports on g, which the caller mounts at
// /staff behind login and CSRF middleware:
//
//	GET  /reports                         the page (filters: from, to, channel, need_category, partner)
//	GET  /reports/<table>.csv             one table of the page, same filters (TableNames)
//	GET  /reports/export.csv, .ndjson     the de-identified export, one row per referred service
//	POST /reports/reviews/:id/clear       clear a re-verification flag (form field note)
//
// actor returns the signed-in staff user's id.
func RegisterReports(g *echo.Group, s *Store, pages *templates.Renderer, actor func(echo.Context) string) {
	r := &reports{store: s, pages: pages, actor: actor}
	g.GET("/reports", r.page)
	g.GET("/reports/:file", r.file)
	g.POST("/reports/reviews/:id/clear", r.clear)
}

// ParseReportFilter reads a report's filters from query parameters: from and
// to are dates (YYYY-MM-DD) in zone, to included; either may be left out
// (the default range, DefaultReportFilter, fills it in). Errors are EINVALID
// and name the parameter.
func ParseReportFilter(q url.Values, now time.Time, zone *time.Location) (ReportFilter, error) {
	if zone == nil {
		zone = time.UTC
	}
	f := DefaultReportFilter(now, zone)
	date := func(name string) (time.Time, bool, error) {
		v := strings.TrimSpace(q.Get(name))
		if v == "" {
			return time.Time{}, false, nil
		}
		t, err := time.ParseInLocation(time.DateOnly, v, zone)
		if err != nil {
			return time.Time{}, false, invalid(name, "must be a date such as 2026-03-02, got %q", clip(v))
		}
		return t, true, nil
	}
	from, hasFrom, err := date("from")
	if err != nil {
		return f, err
	}
	to, hasTo, err := date("to")
	if err != nil {
		return f, err
	}
	switch {
	case hasFrom && hasTo:
		f.From, f.To = from, to.AddDate(0, 0, 1)
	case hasFrom: // from a date to today
		f.From = from
	case hasTo: // the default length, ending that day
		f.To = to.AddDate(0, 0, 1)
		f.From = weekStart(to).AddDate(0, 0, -7*(DefaultReportWeeks-1))
	}
	f.Channel = strings.TrimSpace(q.Get("channel"))
	f.NeedCategory = strings.TrimSpace(q.Get("need_category"))
	f.Partner = strings.TrimSpace(q.Get("partner"))
	for name := range q {
		if !slices.Contains(reportParams, name) {
			return f, invalid(clip(name), "not a filter of this report; filters are %s", strings.Join(reportParams, ", "))
		}
	}
	return f, f.Validate()
}

var reportParams = []string{"from", "to", "channel", "need_category", "partner", "cleared"}

// query writes f back as query parameters (to is the last day included).
func (f ReportFilter) query(zone *time.Location) string {
	q := url.Values{}
	q.Set("from", f.From.In(zone).Format(time.DateOnly))
	q.Set("to", f.To.In(zone).AddDate(0, 0, -1).Format(time.DateOnly))
	for k, v := range map[string]string{"channel": f.Channel, "need_category": f.NeedCategory, "partner": f.Partner} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

func (r *reports) zone() *time.Location {
	if r.store.Zone == nil {
		return time.UTC
	}
	return r.store.Zone
}

// reportData is the page's Data.
type reportData struct {
	// The filters as typed (shown again after a refused filter).
	From, To, Channel, NeedCategory, Partner string
	Channels                                 []string
	Needs                                    []Count
	Report                                   *Report
	Tables                                   []tableView
	WeeksChart, FunnelChart, UnmetChart      template.HTML
	ExportCSV, ExportNDJSON                  string
	Assumptions                              []string
	StudyName                                string
	Range                                    string
}

// tableView is a table with the link to its CSV.
type tableView struct {
	Table
	CSV string
	// More is how many rows the page leaves to the CSV.
	More int
}

// MaxPageRows bounds the rows a table shows on the page (the long ones:
// services and partners); its CSV has them all.
const MaxPageRows = 50

func (r *reports) page(c echo.Context) error {
	q := c.QueryParams()
	d := reportData{From: q.Get("from"), To: q.Get("to"), Channel: q.Get("channel"), NeedCategory: q.Get("need_category"),
		Partner: q.Get("partner"), Channels: Channels, Assumptions: EstimateAssumptions, StudyName: StudyName}
	for _, k := range needCategories() {
		d.Needs = append(d.Needs, Count{Key: k, Label: NeedLabel(k)})
	}
	page := templates.Page{Title: "Reports", Data: &d}
	f, err := ParseReportFilter(q, r.store.Now(), r.zone())
	if err != nil {
		if apperr.Code(err) != apperr.EINVALID {
			return err
		}
		page.Error = apperr.Message(err)
		return r.pages.Render(c, http.StatusBadRequest, "staff/reports", page)
	}
	rep, err := r.store.Report(c.Request().Context(), f)
	if err != nil {
		return err
	}
	zone := r.zone()
	d.Report = rep
	d.From, d.To = f.From.In(zone).Format(time.DateOnly), f.To.In(zone).AddDate(0, 0, -1).Format(time.DateOnly)
	d.Range = f.From.In(zone).Format("Mon Jan 2, 2006") + " to " + f.To.In(zone).AddDate(0, 0, -1).Format("Mon Jan 2, 2006")
	query := f.query(zone)
	for _, t := range rep.Tables() {
		tv := tableView{Table: t, CSV: "/staff/reports/" + t.Name + ".csv?" + query}
		if len(t.Rows) > MaxPageRows {
			tv.More = len(t.Rows) - MaxPageRows
			tv.Rows = t.Rows[:MaxPageRows]
		}
		d.Tables = append(d.Tables, tv)
	}
	d.ExportCSV, d.ExportNDJSON = "/staff/reports/export.csv?"+query, "/staff/reports/export.ndjson?"+query
	d.WeeksChart = BarChart("Referrals by week", rep.WeekBars(rep.Weeks))
	d.FunnelChart = FunnelChart("Outcome funnel beside the "+StudyName, rep.Funnel)
	d.UnmetChart = BarChart("Unmet needs by week", rep.WeekBars(rep.Unmet.Weeks))
	if id := q.Get("cleared"); id != "" {
		page.Notice = "Flag " + clip(id) + " cleared: the listing was checked, and its count starts again."
	}
	return r.pages.Render(c, http.StatusOK, "staff/reports", page)
}

// file serves /reports/<table>.csv and the export.
func (r *reports) file(c echo.Context) error {
	name := c.Param("file")
	base, ext, _ := strings.Cut(name, ".")
	isTable := ext == "csv" && slices.Contains(TableNames, base)
	isExport := base == "export" && (ext == "csv" || ext == "ndjson")
	if !isTable && !isExport {
		return apperr.Errorf(apperr.ENOTFOUND, "No report file %s; the tables are %s.csv, and the export is export.csv or export.ndjson.",
			clip(name), strings.Join(TableNames, ".csv, "))
	}
	q := c.QueryParams()
	q.Del("cleared")
	f, err := ParseReportFilter(q, r.store.Now(), r.zone())
	if err != nil {
		return err
	}
	zone := r.zone()
	stamp := f.From.In(zone).Format("20060102") + "-" + f.To.In(zone).AddDate(0, 0, -1).Format("20060102")
	h := c.Response().Header()
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="secondchance-%s-%s.%s"`, base, stamp, ext))
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	ctx := c.Request().Context()
	if isTable {
		rep, err := r.store.Report(ctx, f)
		if err != nil {
			return err
		}
		t, _ := rep.Table(base)
		h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		c.Response().WriteHeader(http.StatusOK)
		return WriteCSV(c.Response(), t)
	}
	// The export streams; an error after the first row can only cut the
	// file short, and is returned for the log.
	started := false
	start := func(ct string) {
		if !started {
			h.Set(echo.HeaderContentType, ct)
			c.Response().WriteHeader(http.StatusOK)
			started = true
		}
	}
	if ext == "ndjson" {
		enc := json.NewEncoder(c.Response())
		err = r.store.Export(ctx, f, func(row *ExportRow) error {
			start("application/x-ndjson")
			return enc.Encode(row)
		})
		if err != nil {
			return err
		}
		start("application/x-ndjson")
		return nil
	}
	cw := csv.NewWriter(c.Response())
	err = r.store.Export(ctx, f, func(row *ExportRow) error {
		if !started {
			start("text/csv; charset=utf-8")
			if err := cw.Write(ExportColumns); err != nil {
				return err
			}
		}
		return cw.Write(row.Record())
	})
	if err != nil {
		return err
	}
	if !started {
		start("text/csv; charset=utf-8")
		cw.Write(ExportColumns)
	}
	cw.Flush()
	return cw.Error()
}

// clear clears a flag and goes back to the reports.
func (r *reports) clear(c echo.Context) error {
	who := r.actor(c)
	if who == "" {
		return apperr.Errorf(apperr.EUNAUTHORIZED, "Please sign in to continue.")
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return apperr.Errorf(apperr.ENOTFOUND, "No service review with id %s.", clip(c.Param("id")))
	}
	if err := r.store.ClearServiceReview(c.Request().Context(), id, who, c.FormValue("note")); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/staff/reports?cleared="+strconv.FormatInt(id, 10)+"#flagged")
}
