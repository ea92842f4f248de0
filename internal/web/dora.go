package web

import (
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/dora"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// registerDora mounts the DORA metrics page and parses its template.
func (u *UI) registerDora(mux Mux) {
	u.pages["dora"] = template.Must(template.New("layout.html").Funcs(funcs).
		ParseFS(templateFS, "templates/layout.html", "templates/dora.html"))
	u.page(mux, "GET /metrics/dora", memberLevel, u.doraPage)
}

// doraView is the DORA page: the filters, then the four series, each as a
// chart with its numbers in a table beside it, or what data is missing.
type doraView struct {
	Integrations []store.Integration
	Filter       url.Values
	Tiers        []string
	Intervals    []dora.Interval
	// Error is the refusal of a filter, in words; Field names it.
	Error, Field string
	Report       *dora.Report
	Sections     []doraSection
	// ExplainURL is the API call that lists the rows behind the figures.
	ExplainURL string
	// From and To are the range shown, as dates for the form.
	From, To string
}

// PageTitle is the page's title.
func (v doraView) PageTitle() string { return "DORA metrics" }

// doraSection is one metric: its chart and its table.
type doraSection struct {
	ID, Title, Definition, Unit string
	Note                        string
	Chart                       template.HTML
	Rows                        []doraRow
	Total                       doraRow
	Empty                       bool
}

// doraRow is one point in words.
type doraRow struct {
	Period, Value, Basis string
}

// doraDefinitions say in a sentence what each series is (docs/dora.md has
// them in full, beside GitLab's).
var doraDefinitions = map[string]struct{ title, definition string }{
	dora.DeploymentFrequency: {"Deployment frequency",
		"Successful deployments to an environment of the tier, by the time they finished."},
	dora.LeadTimeForChanges: {"Lead time for changes",
		"Median time from a merge request's merge to the end of the first successful deployment of its target branch after it."},
	dora.ChangeFailureRate: {"Change failure rate",
		"Incidents opened divided by successful deployments, per period (production only)."},
	dora.TimeToRestoreService: {"Time to restore service",
		"Median time incidents closed in the period were open (production only)."},
}

func (u *UI) doraPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	s := sessionFrom(ctx)
	in := r.URL.Query()
	v := doraView{Filter: in, Tiers: dora.Tiers(), Intervals: dora.Intervals()}
	var err error
	if v.Integrations, err = u.st.Integrations(ctx, s.OrgID); err != nil {
		return err
	}
	// The form names the project by its path; the service takes GitLab's
	// id, so the path is looked up in the chosen GitLab.
	q := url.Values{}
	for _, k := range []string{"integration_id", "project_id", "environment_tier", "from", "to", "interval"} {
		if x := strings.TrimSpace(in.Get(k)); x != "" {
			q.Set(k, x)
		}
	}
	if path := strings.Trim(strings.TrimSpace(in.Get("project")), "/"); path != "" {
		if perr := u.doraProject(r, q, path); perr != nil {
			return u.doraRefused(w, r, v, perr)
		}
	}
	dq, err := dora.ParseQuery(q, time.Now())
	if err != nil {
		return u.doraRefused(w, r, v, err)
	}
	v.From, v.To = dq.From.Format("2006-01-02"), dq.To.AddDate(0, 0, -1).Format("2006-01-02")
	rep, err := dora.New(u.st).Report(ctx, s.OrgID, dq)
	if err != nil {
		return u.doraRefused(w, r, v, err)
	}
	v.Report = rep
	v.Sections = doraSections(rep)
	ex := url.Values{}
	for k := range q {
		ex.Set(k, q.Get(k))
	}
	ex.Set("from", dq.From.Format(time.RFC3339))
	ex.Set("to", dq.To.Format(time.RFC3339))
	ex.Set("interval", string(dq.Interval))
	ex.Set("explain", "true")
	v.ExplainURL = "/api/v1/metrics/dora?" + ex.Encode()
	u.render(w, r, http.StatusOK, "dora", v)
	return nil
}

// doraProject sets q's project_id from a project path of the chosen GitLab.
func (u *UI) doraProject(r *http.Request, q url.Values, path string) error {
	id, err := strconv.ParseInt(q.Get("integration_id"), 10, 64)
	if err != nil || id <= 0 {
		return problem.InvalidField("project", "Choose the GitLab the project is on.")
	}
	p, err := u.st.ProjectByPath(r.Context(), sessionFrom(r.Context()).OrgID, id, path)
	if errors.Is(err, store.ErrNotFound) {
		return problem.InvalidField("project", "That GitLab has no project %s (give its full path, as in GitLab).", path)
	}
	if err != nil {
		return err
	}
	q.Set("project_id", strconv.FormatInt(p.GitLabID, 10))
	return nil
}

// doraRefused shows the page with the filters and what was refused; an
// error that is not the user's goes to the error page.
func (u *UI) doraRefused(w http.ResponseWriter, r *http.Request, v doraView, err error) error {
	p, ok := problem.From(err)
	if !ok || p.Kind == problem.Internal || p.Kind == problem.Canceled {
		return err
	}
	v.Error, v.Field = p.Message, p.Field
	status := http.StatusBadRequest
	if p.Kind == problem.NotFound {
		status = http.StatusNotFound
	}
	u.render(w, r, status, "dora", v)
	return nil
}

// doraSections turns the report's series into charts and tables.
func doraSections(rep *dora.Report) []doraSection {
	var out []doraSection
	for _, s := range rep.Series() {
		d := doraDefinitions[s.Metric]
		sec := doraSection{ID: s.Metric, Title: d.title, Definition: d.definition, Note: s.Note, Empty: true}
		c := chart{ID: "chart-" + s.Metric, Title: d.title}
		switch s.Unit {
		case "seconds":
			c.Axis = durationAxis
		case "ratio":
			c.Axis = ratioAxis
		default:
			c.Axis, c.Whole = countAxis, true
		}
		for _, p := range s.Points {
			c.Labels = append(c.Labels, bucketLabel(rep.Interval, p.Start))
			c.Values = append(c.Values, p.Value)
			if p.Value != nil && (s.Metric != dora.DeploymentFrequency || *p.Value > 0) {
				sec.Empty = false
			}
			sec.Rows = append(sec.Rows, doraRowOf(s.Metric, periodLabel(rep.Interval, p.Start, p.End), p))
		}
		sec.Total = doraRowOf(s.Metric, "Whole range", s.Total)
		sec.Chart = svgChart(c)
		out = append(out, sec)
	}
	return out
}

// doraRowOf says a point's value and what it rests on, in words.
func doraRowOf(metric, period string, p dora.Point) doraRow {
	row := doraRow{Period: period, Value: "no data"}
	switch metric {
	case dora.DeploymentFrequency:
		row.Value = fmt.Sprintf("%d", p.Count)
		if p.PerDay != nil {
			row.Basis = fmt.Sprintf("%s a day", trimFloat(*p.PerDay, 2))
		}
	case dora.LeadTimeForChanges:
		if p.Value != nil {
			row.Value = humanDuration(*p.Value)
		}
		row.Basis = counted(p.Count, "merge request", "merge requests")
	case dora.ChangeFailureRate:
		if p.Value != nil {
			row.Value = trimFloat(*p.Value*100, 1) + " %"
		}
		if p.Deployments != nil {
			row.Basis = fmt.Sprintf("%s, %s", counted(p.Count, "incident", "incidents"), counted(*p.Deployments, "deployment", "deployments"))
		}
	case dora.TimeToRestoreService:
		if p.Value != nil {
			row.Value = humanDuration(*p.Value)
		}
		row.Basis = counted(p.Count, "incident closed", "incidents closed")
	}
	return row
}

// counted says n with its noun: "1 incident", "3 incidents".
func counted(n int, one, many string) string {
	return fmt.Sprintf("%d %s", n, plural(n, one, many))
}

// trimFloat prints v with at most digits decimals and no trailing zeros.
func trimFloat(v float64, digits int) string {
	p := math.Pow(10, float64(digits))
	return strconv.FormatFloat(math.Round(v*p)/p, 'f', -1, 64)
}

// humanDuration says a number of seconds in the largest sensible unit.
func humanDuration(secs float64) string {
	switch {
	case secs < 60:
		return trimFloat(secs, 0) + " s"
	case secs < 3600:
		return trimFloat(secs/60, 1) + " min"
	case secs < 2*86400:
		return trimFloat(secs/3600, 1) + " h"
	default:
		return trimFloat(secs/86400, 1) + " days"
	}
}

// bucketLabel is a point's short name on the chart's axis.
func bucketLabel(iv dora.Interval, start time.Time) string {
	if iv == dora.Month {
		return start.Format("Jan 2006")
	}
	return start.Format("Jan 2")
}

// periodLabel is a point's period in the table: a day, or its first and
// last day.
func periodLabel(iv dora.Interval, start, end time.Time) string {
	last := end.Add(-time.Nanosecond)
	if iv == dora.Day || start.Format("2006-01-02") == last.Format("2006-01-02") {
		return start.Format("Mon 2006-01-02")
	}
	return start.Format("2006-01-02") + " – " + last.Format("2006-01-02")
}
