// Package dora computes the four DORA metrics — deployment frequency, lead
// time for changes, change failure rate and time to restore service — from
// the deployments, merge requests and issues labsync keeps, for every
// GitLab tier and version (GitLab computes them itself only on Ultimate).
// docs/dora.md defines each figure beside GitLab's own definition.
//
// Every figure is traceable: a report asked with Explain lists, for each
// point, the GitLab ids of the deployments, merge requests and incidents
// it was computed from.
//
// It must never read another organisation's rows (every store query takes
// the caller's organisation), never write anything, and never guess a
// figure it has no rows for: a point without data has no value (null), not
// zero, except deployment frequency, where no deployment is a count of 0.
package dora

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// The metric names, as GitLab's DORA API spells them.
const (
	DeploymentFrequency  = "deployment_frequency"
	LeadTimeForChanges   = "lead_time_for_changes"
	ChangeFailureRate    = "change_failure_rate"
	TimeToRestoreService = "time_to_restore_service"
)

// Query is what a report is asked for.
type Query struct {
	// IntegrationID is the GitLab integration measured; 0 means every
	// integration of the organisation.
	IntegrationID int64
	// ProjectGitLabID is GitLab's id of one project of the integration;
	// 0 means every project.
	ProjectGitLabID int64
	// Tier is the environment tier deployments count for; default
	// production.
	Tier     string
	From, To time.Time
	Interval Interval
	// Explain adds the rows behind each point.
	Explain bool
}

// defaultMonths is how far back a report goes when from is not given:
// three months, as GitLab's DORA API.
const defaultMonths = 3

// ParseQuery reads a query from URL values: integration_id (absent: every
// integration of the organisation), project_id (GitLab's project id; needs
// integration_id, as GitLab ids are per GitLab), environment_tier (default production),
// from and to (an RFC 3339 time, or a date YYYY-MM-DD: from is then the
// start of that day and to its end, both UTC; default: the three months up
// to the end of today), interval (day, week or month; default week) and
// explain (true or false). A value it refuses comes back as a
// *problem.Error naming the field.
func ParseQuery(v url.Values, now time.Time) (Query, error) {
	q := Query{Tier: TierProduction, Interval: Week}
	if s := strings.TrimSpace(v.Get("integration_id")); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return q, problem.MalformedField("integration_id", "integration_id must be a positive integer")
		}
		q.IntegrationID = n
	}
	if s := strings.TrimSpace(v.Get("project_id")); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return q, problem.MalformedField("project_id", "project_id must be a positive integer: GitLab's id of the project")
		}
		q.ProjectGitLabID = n
	}
	if s := strings.TrimSpace(v.Get("environment_tier")); s != "" {
		if !ValidTier(s) {
			return q, problem.InvalidField("environment_tier", "environment_tier must be one of %s", strings.Join(Tiers(), ", "))
		}
		q.Tier = s
	}
	if s := strings.TrimSpace(v.Get("interval")); s != "" {
		if !Interval(s).Valid() {
			return q, problem.InvalidField("interval", "interval must be day, week or month")
		}
		q.Interval = Interval(s)
	}
	if s := strings.TrimSpace(v.Get("explain")); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, problem.MalformedField("explain", "explain must be true or false")
		}
		q.Explain = b
	}
	today := time.Date(now.UTC().Year(), now.UTC().Month(), now.UTC().Day(), 0, 0, 0, 0, time.UTC)
	q.To = today.AddDate(0, 0, 1)
	if s := strings.TrimSpace(v.Get("to")); s != "" {
		t, date, err := parseTime(s)
		if err != nil {
			return q, problem.MalformedField("to", "to must be a date such as 2026-03-31 or an RFC 3339 time such as 2026-03-31T12:00:00Z")
		}
		if date {
			t = t.AddDate(0, 0, 1) // the whole day
		}
		q.To = t
	}
	q.From = q.To.AddDate(0, -defaultMonths, 0)
	if s := strings.TrimSpace(v.Get("from")); s != "" {
		t, _, err := parseTime(s)
		if err != nil {
			return q, problem.MalformedField("from", "from must be a date such as 2026-01-01 or an RFC 3339 time such as 2026-01-01T00:00:00Z")
		}
		q.From = t
	}
	return q, q.validate()
}

// parseTime reads an RFC 3339 time or a date; date says which it was.
func parseTime(s string) (t time.Time, date bool, err error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true, nil
	}
	t, err = time.Parse(time.RFC3339Nano, s)
	return t.UTC(), false, err
}

// validate checks what ParseQuery cannot see one field at a time.
func (q Query) validate() error {
	if q.IntegrationID < 0 {
		return problem.InvalidField("integration_id", "integration_id must be a positive integer")
	}
	if q.ProjectGitLabID != 0 && q.IntegrationID == 0 {
		return problem.InvalidField("project_id", "project_id needs integration_id: GitLab's project ids are per GitLab")
	}
	if !ValidTier(q.Tier) {
		return problem.InvalidField("environment_tier", "environment_tier must be one of %s", strings.Join(Tiers(), ", "))
	}
	if !q.Interval.Valid() {
		return problem.InvalidField("interval", "interval must be day, week or month")
	}
	if !q.From.Before(q.To) {
		return problem.InvalidField("from", "from must be before to")
	}
	if _, err := Buckets(q.From, q.To, q.Interval); err != nil {
		return problem.InvalidField("interval", "%v", err)
	}
	return nil
}

// Report is the four series of one query. Times are UTC.
type Report struct {
	// IntegrationID is the integration measured; absent for every
	// integration of the organisation.
	IntegrationID int64 `json:"integration_id,omitempty"`
	// ProjectID is GitLab's id of the project measured; absent for every
	// project of the integration.
	ProjectID       int64     `json:"project_id,omitempty"`
	EnvironmentTier string    `json:"environment_tier"`
	From            time.Time `json:"from"`
	To              time.Time `json:"to"`
	Interval        Interval  `json:"interval"`
	// WeekStart is the day weeks start on (UTC): monday.
	WeekStart            string `json:"week_start"`
	DeploymentFrequency  Series `json:"deployment_frequency"`
	LeadTimeForChanges   Series `json:"lead_time_for_changes"`
	ChangeFailureRate    Series `json:"change_failure_rate"`
	TimeToRestoreService Series `json:"time_to_restore_service"`
	// Missing says, in sentences, what data the report lacks and how to
	// get it; empty when every series has data.
	Missing []string `json:"missing"`
}

// Series is one metric over the report's buckets.
type Series struct {
	Metric string `json:"metric"`
	// Unit of Value: deployments, seconds or ratio (0.25 = 25 %).
	Unit string `json:"unit"`
	// Aggregation says how a point's rows become its value: count,
	// median or ratio.
	Aggregation string `json:"aggregation"`
	// Note qualifies the whole series (why it is empty for a tier).
	Note string `json:"note,omitempty"`
	// Total is the figure over the whole range (no rows listed).
	Total  Point   `json:"total"`
	Points []Point `json:"points"`
}

// Series returns the report's four series in the order GitLab lists them.
func (r *Report) Series() []*Series {
	return []*Series{&r.DeploymentFrequency, &r.LeadTimeForChanges, &r.ChangeFailureRate, &r.TimeToRestoreService}
}

// Point is one bucket of a series.
type Point struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Value is null when the bucket has no rows to compute it from (no
	// change deployed, no deployment for a failure rate, no incident
	// restored). Deployment frequency is a count and never null.
	Value *float64 `json:"value"`
	// Count is how many rows the value comes from: deployments (deployment
	// frequency), merge requests (lead time), incidents opened (change
	// failure rate), incidents closed (time to restore).
	Count int `json:"count"`
	// Deployments is the change failure rate's denominator.
	Deployments *int `json:"deployments,omitempty"`
	// PerDay is deployment frequency's count divided by the bucket's
	// length in days.
	PerDay *float64 `json:"per_day,omitempty"`
	// Rows are the rows behind the value, with explain=true.
	Rows *Rows `json:"rows,omitempty"`
}

// Rows are the rows behind one point, by GitLab id.
type Rows struct {
	Deployments   []DeploymentRow   `json:"deployments,omitempty"`
	MergeRequests []MergeRequestRow `json:"merge_requests,omitempty"`
	Incidents     []IncidentRow     `json:"incidents,omitempty"`
}

// DeploymentRow is a deployment behind a point.
type DeploymentRow struct {
	ID          int64  `json:"id"`
	IID         int64  `json:"iid"`
	ProjectID   int64  `json:"project_id"`
	ProjectPath string `json:"project_path"`
	Environment string `json:"environment"`
	// Tier is the environment's tier: GitLab's, or guessed from the name
	// by GitLab's rules where GitLab has none (before 13.10).
	Tier       string    `json:"tier"`
	Ref        string    `json:"ref"`
	SHA        string    `json:"sha"`
	FinishedAt time.Time `json:"finished_at"`
}

// MergeRequestRow is a merge request behind a lead time.
type MergeRequestRow struct {
	ID           int64     `json:"id"`
	IID          int64     `json:"iid"`
	ProjectID    int64     `json:"project_id"`
	ProjectPath  string    `json:"project_path"`
	TargetBranch string    `json:"target_branch"`
	MergedAt     time.Time `json:"merged_at"`
	// DeploymentID is GitLab's id of the deployment that first shipped it.
	DeploymentID int64     `json:"deployment_id"`
	DeployedAt   time.Time `json:"deployed_at"`
	LeadTimeS    float64   `json:"lead_time_s"`
}

// IncidentRow is an incident behind a failure rate or a time to restore.
type IncidentRow struct {
	ID          int64      `json:"id"`
	IID         int64      `json:"iid"`
	ProjectID   int64      `json:"project_id"`
	ProjectPath string     `json:"project_path"`
	Title       string     `json:"title"`
	WebURL      string     `json:"web_url,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	// RestoreS is closed_at - created_at, for a closed incident.
	RestoreS *float64 `json:"restore_s,omitempty"`
}

// Service computes reports over the store.
type Service struct {
	st *store.Store
}

// New returns the service over st.
func New(st *store.Store) *Service { return &Service{st: st} }

// Report computes the four series of q for organisation orgID. The
// integration (and project) must be the organisation's: another's is not
// found, as one that does not exist.
func (s *Service) Report(ctx context.Context, orgID int64, q Query) (*Report, error) {
	if err := q.validate(); err != nil {
		return nil, err
	}
	if q.IntegrationID != 0 {
		if _, err := s.st.Integration(ctx, orgID, q.IntegrationID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, &problem.Error{Kind: problem.NotFound, Code: "not_found", Field: "integration_id",
					Message: fmt.Sprintf("there is no integration %d in your organisation", q.IntegrationID)}
			}
			return nil, err
		}
	}
	if q.ProjectGitLabID != 0 {
		if _, err := s.st.ProjectByGitLabID(ctx, orgID, q.IntegrationID, q.ProjectGitLabID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, &problem.Error{Kind: problem.NotFound, Code: "not_found", Field: "project_id",
					Message: fmt.Sprintf("integration %d has no project with GitLab id %d", q.IntegrationID, q.ProjectGitLabID)}
			}
			return nil, err
		}
	}
	sq := store.DoraQuery{IntegrationID: q.IntegrationID, ProjectGitLabID: q.ProjectGitLabID, Tier: q.Tier, From: q.From, To: q.To}
	deps, err := s.st.DoraDeployments(ctx, orgID, sq)
	if err != nil {
		return nil, err
	}
	changes, err := s.st.DoraChanges(ctx, orgID, sq)
	if err != nil {
		return nil, err
	}
	var incidents []store.DoraIncident
	if q.Tier == TierProduction {
		if incidents, err = s.st.DoraIncidents(ctx, orgID, sq); err != nil {
			return nil, err
		}
	}
	r, err := compute(q, deps, changes, incidents)
	if err != nil {
		return nil, err
	}
	if r.DeploymentFrequency.Total.Count == 0 || r.LeadTimeForChanges.Total.Count == 0 ||
		(q.Tier == TierProduction && r.ChangeFailureRate.Total.Count == 0) {
		cov, err := s.st.DoraCoverage(ctx, orgID, sq)
		if err != nil {
			return nil, err
		}
		r.Missing = missing(q, r, cov)
	}
	return r, nil
}

// compute builds the report of q from its rows. It is the whole
// arithmetic of the metrics, apart from the selection of rows.
func compute(q Query, deps []store.DoraDeployment, changes []store.DoraChange, incidents []store.DoraIncident) (*Report, error) {
	bs, err := Buckets(q.From, q.To, q.Interval)
	if err != nil {
		return nil, problem.InvalidField("interval", "%v", err)
	}
	r := &Report{IntegrationID: q.IntegrationID, ProjectID: q.ProjectGitLabID, EnvironmentTier: q.Tier,
		From: q.From.UTC(), To: q.To.UTC(), Interval: q.Interval, WeekStart: "monday", Missing: []string{},
		DeploymentFrequency:  Series{Metric: DeploymentFrequency, Unit: "deployments", Aggregation: "count"},
		LeadTimeForChanges:   Series{Metric: LeadTimeForChanges, Unit: "seconds", Aggregation: "median"},
		ChangeFailureRate:    Series{Metric: ChangeFailureRate, Unit: "ratio", Aggregation: "ratio"},
		TimeToRestoreService: Series{Metric: TimeToRestoreService, Unit: "seconds", Aggregation: "median"},
	}
	if q.Tier != TierProduction {
		note := "GitLab's incidents name no environment; like GitLab, labsync counts them only for the production tier"
		r.ChangeFailureRate.Note, r.TimeToRestoreService.Note = note, note
	}
	type bucket struct {
		deps      []store.DoraDeployment
		changes   []store.DoraChange
		opened    []store.DoraIncident
		restored  []store.DoraIncident
		leadTimes []float64
		restores  []float64
	}
	per := make([]bucket, len(bs))
	var all bucket
	for _, d := range deps {
		if i := index(bs, d.FinishedAt); i >= 0 {
			per[i].deps = append(per[i].deps, d)
			all.deps = append(all.deps, d)
		}
	}
	for _, c := range changes {
		if i := index(bs, c.DeployedAt); i >= 0 {
			lt := c.DeployedAt.Sub(c.MergedAt).Seconds()
			per[i].changes = append(per[i].changes, c)
			per[i].leadTimes = append(per[i].leadTimes, lt)
			all.leadTimes = append(all.leadTimes, lt)
		}
	}
	for _, in := range incidents {
		if i := index(bs, in.CreatedAt); i >= 0 {
			per[i].opened = append(per[i].opened, in)
			all.opened = append(all.opened, in)
		}
		if in.ClosedAt != nil {
			if i := index(bs, *in.ClosedAt); i >= 0 {
				rs := in.ClosedAt.Sub(in.CreatedAt).Seconds()
				per[i].restored = append(per[i].restored, in)
				per[i].restores = append(per[i].restores, rs)
				all.restores = append(all.restores, rs)
			}
		}
	}
	production := q.Tier == TierProduction
	df := func(n int, b Bucket) Point {
		v, pd := float64(n), float64(n)/b.Days()
		return Point{Start: b.Start, End: b.End, Value: &v, Count: n, PerDay: &pd}
	}
	lt := func(xs []float64, b Bucket) Point {
		return Point{Start: b.Start, End: b.End, Value: median(xs), Count: len(xs)}
	}
	cfr := func(incidents, deployments int, b Bucket) Point {
		p := Point{Start: b.Start, End: b.End, Count: incidents}
		if production {
			p.Deployments = &deployments
			if deployments > 0 {
				v := float64(incidents) / float64(deployments)
				p.Value = &v
			}
		}
		return p
	}
	whole := Bucket{Start: r.From, End: r.To}
	r.DeploymentFrequency.Total = df(len(all.deps), whole)
	r.LeadTimeForChanges.Total = lt(all.leadTimes, whole)
	r.ChangeFailureRate.Total = cfr(len(all.opened), len(all.deps), whole)
	r.TimeToRestoreService.Total = lt(all.restores, whole)
	for i, b := range bs {
		pb := per[i]
		points := [4]Point{df(len(pb.deps), b), lt(pb.leadTimes, b), cfr(len(pb.opened), len(pb.deps), b), lt(pb.restores, b)}
		if q.Explain {
			dr := deploymentRows(pb.deps)
			points[0].Rows = &Rows{Deployments: dr}
			points[1].Rows = &Rows{MergeRequests: changeRows(pb.changes)}
			if production {
				points[2].Rows = &Rows{Deployments: dr, Incidents: incidentRows(pb.opened)}
				points[3].Rows = &Rows{Incidents: incidentRows(pb.restored)}
			} else {
				points[2].Rows, points[3].Rows = &Rows{}, &Rows{}
			}
		}
		r.DeploymentFrequency.Points = append(r.DeploymentFrequency.Points, points[0])
		r.LeadTimeForChanges.Points = append(r.LeadTimeForChanges.Points, points[1])
		r.ChangeFailureRate.Points = append(r.ChangeFailureRate.Points, points[2])
		r.TimeToRestoreService.Points = append(r.TimeToRestoreService.Points, points[3])
	}
	return r, nil
}

// median is the median of xs as PostgreSQL's PERCENTILE_CONT(0.5), which
// GitLab uses: the middle value, or the mean of the two middle values of
// an even count; nil for no values.
func median(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return &m
}

func deploymentRows(ds []store.DoraDeployment) []DeploymentRow {
	out := make([]DeploymentRow, 0, len(ds))
	for _, d := range ds {
		out = append(out, DeploymentRow{ID: d.GitLabID, IID: d.IID, ProjectID: d.ProjectGitLabID, ProjectPath: d.ProjectPath,
			Environment: d.EnvironmentName, Tier: d.EnvironmentTier, Ref: d.Ref, SHA: d.SHA, FinishedAt: d.FinishedAt})
	}
	return out
}

func changeRows(cs []store.DoraChange) []MergeRequestRow {
	out := make([]MergeRequestRow, 0, len(cs))
	for _, c := range cs {
		out = append(out, MergeRequestRow{ID: c.GitLabID, IID: c.IID, ProjectID: c.ProjectGitLabID, ProjectPath: c.ProjectPath,
			TargetBranch: c.TargetBranch, MergedAt: c.MergedAt, DeploymentID: c.DeploymentID, DeployedAt: c.DeployedAt,
			LeadTimeS: c.DeployedAt.Sub(c.MergedAt).Seconds()})
	}
	return out
}

func incidentRows(is []store.DoraIncident) []IncidentRow {
	out := make([]IncidentRow, 0, len(is))
	for _, in := range is {
		row := IncidentRow{ID: in.GitLabID, IID: in.IID, ProjectID: in.ProjectGitLabID, ProjectPath: in.ProjectPath, Title: in.Title,
			WebURL: in.WebURL, CreatedAt: in.CreatedAt, ClosedAt: in.ClosedAt}
		if in.ClosedAt != nil {
			rs := in.ClosedAt.Sub(in.CreatedAt).Seconds()
			row.RestoreS = &rs
		}
		out = append(out, row)
	}
	return out
}

// missing says what data an empty part of r lacks, from what exists for
// its integration and project at all.
func missing(q Query, r *Report, cov store.DoraCoverage) []string {
	out := []string{}
	var total int64
	for _, n := range cov.Deployments {
		total += n
	}
	switch {
	case total == 0:
		out = append(out, "No successful deployments have been synced"+scope(q)+
			". GitLab records a deployment when a CI/CD job with an environment runs; check that the deployments service is on and that a sync has run.")
	case r.DeploymentFrequency.Total.Count == 0 && cov.Deployments[q.Tier] == 0:
		var other []string
		for _, t := range Tiers() {
			if n := cov.Deployments[t]; n > 0 {
				other = append(other, fmt.Sprintf("%d to %s", n, t))
			}
		}
		out = append(out, fmt.Sprintf("No deployments to a %s-tier environment yet (%s). Set environment:deployment_tier in .gitlab-ci.yml, or name the environment so that GitLab's rules give it this tier.",
			q.Tier, strings.Join(other, ", ")))
	case r.DeploymentFrequency.Total.Count == 0:
		out = append(out, fmt.Sprintf("No successful deployments to a %s-tier environment finished in this range (%d at other times).", q.Tier, cov.Deployments[q.Tier]))
	}
	if r.LeadTimeForChanges.Total.Count == 0 && r.DeploymentFrequency.Total.Count > 0 {
		if !cov.MergedMergeRequests {
			out = append(out, "No merged merge requests have been synced"+scope(q)+", so there is no lead time for changes.")
		} else {
			out = append(out, "No merged merge request was deployed in this range: lead time counts a merge request when a deployment of its target branch finishes after its merge.")
		}
	}
	if q.Tier == TierProduction && r.ChangeFailureRate.Total.Count == 0 {
		if !cov.Incidents {
			out = append(out, "No incidents have been synced"+scope(q)+": change failure rate and time to restore service count issues of type incident (or, before GitLab 13.0, issues labelled incident).")
		}
	}
	return out
}

func scope(q Query) string {
	switch {
	case q.ProjectGitLabID != 0:
		return fmt.Sprintf(" for project %d", q.ProjectGitLabID)
	case q.IntegrationID != 0:
		return " for this integration"
	}
	return ""
}
