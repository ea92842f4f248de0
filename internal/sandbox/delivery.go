package sandbox

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Delivery data: pipeline jobs, environments, deployments, tags, releases
// and incidents, generated after the rest of the dataset
// (generateReviewDelivery).
//
// What GitLab does, and where it says so:
//   - Jobs (lib/api/ci/jobs.rb, Entities::Ci::Job): GET /projects/:id/jobs
//     lists every job, retried ones included, newest first (scope[] filters
//     by status); GET /projects/:id/pipelines/:pipeline_id/jobs lists a
//     pipeline's latest jobs, the retried ones too with include_retried=true
//     (13.9). The REST entity has no retried flag: a retried job is an older
//     job of the same name in the same pipeline. Keyset pagination on project
//     jobs (doc/api/rest/index.md, "Keyset-based pagination": order_by=id,
//     sort=desc only) from 15.9 (the release the sandbox assumes), with a
//     Link rel="next" carrying an opaque cursor; other orders answer 405
//     "Keyset pagination is not yet available for this type of request"
//     (gitlab#417667 shows it for sort=asc). queued_duration from 13.12,
//     as the pipeline's (detail.go, hasQueuedDuration). failure_reason is
//     shown for failed jobs only.
//   - Environments (lib/api/environments.rb, Entities::Environment): tier
//     from 13.10. Before it, GitLab derived nothing; the sandbox keeps the
//     tier GitLab's Environment#guess_tier would give (tierFor) so the data
//     agree across versions. created_at and updated_at are shown from 13.0
//     (an estimate: lib/api/entities/environment_basic.rb exposes both in
//     the copy read, which is not dated; the release that added them was
//     not found).
//   - Deployments (lib/api/deployments.rb, DeploymentsFinder): order_by id
//     (default), iid, created_at, updated_at or ref, sort asc by default;
//     updated_after/updated_before and the deployment's updated_at from
//     12.4 (an estimate of the release: gitlab#33101 asked for the filter,
//     gitlab!17913 added updated_at to the entity and gitlab!19658 the
//     updated_at order, none of them dated to a release here). Pairing the
//     updated_at filters with order_by=updated_at is enforced from 16.0
//     only: the DeploymentsFinder of 14.x raises its InefficientQueryError
//     in development and tests alone (track_and_raise_for_dev_exception)
//     and answers production requests; the 400 "`updated_at` filter
//     requires `updated_at` sort" came behind the flag
//     deployments_raise_updated_at_inefficient_error (milestone 15.11,
//     config/feature_flags/development/…, gitlab!116656), and the flag's
//     removal (gitlab!119589) made it the rule in 16.0, as the note at the
//     top of gitlab#328500 says.
//   - Releases (lib/api/releases.rb, 11.7+): newest released_at first by
//     default (order_by released_at or created_at, sort desc); upcoming_release
//     from 12.1. Tags (lib/api/tags.rb): newest updated first by default; the
//     tag's created_at (annotated tags only, null for lightweight ones) is
//     shown from 16.11 (doc/api/tags.md, history of "List project
//     repository tags": created_at added by gitlab#451011 in 16.11);
//     "release" (the release notes) before 16.0.
//   - Incidents: issues of type incident. issue_type "incident" and type
//     "INCIDENT" where those fields exist (13.12 here, as renderIssue gates
//     them); before, the "incident" label GitLab's alert integration put
//     on them.
//
// With Config.Git every tag is a lightweight refs/tags/<name> of the
// repository (an annotated tag's message is the API's only), pointing at
// the commit the API names.

type runnerInfo struct {
	id          int64
	description string
	shared      bool
}

var sandboxRunners = []runnerInfo{{1, "shared-runners-manager-1", true}, {2, "shared-runners-manager-2", true}, {3, "docker-builder", false}}

type job struct {
	id           int64
	pl           *pipeline
	name, stage  string
	status       string
	allowFailure bool
	retried      bool
	failure      string
	created      time.Time
	started      time.Time
	finished     time.Time
	runner       *runnerInfo
	env          *environment
	deploy       *deployment
}

// updatedAt is the latest of the job's times; GitLab jobs expose none.
func (j *job) updatedAt() time.Time { return maxTime(j.created, maxTime(j.started, j.finished)) }

type environment struct {
	id          int64
	p           *project
	name        string
	tier        string
	externalURL string
	created     time.Time
	updated     time.Time
}

type deployment struct {
	id, iid int64
	p       *project
	env     *environment
	job     *job
	status  string
	userID  int64
	created time.Time
	updated time.Time
}

type tag struct {
	name     string
	p        *project
	c        *commit // the tagged commit (its sha follows Config.Git's rewrite)
	message  string
	created  time.Time
	authorID int64
}

type release struct {
	id       int64
	tag      *tag
	name     string
	desc     string
	authorID int64
	created  time.Time
	released time.Time
}

func (v version) hasEnvTier() bool             { return v.atLeast(13, 10) }
func (v version) hasEnvTimes() bool            { return v.atLeast(13, 0) }
func (v version) hasJobsKeyset() bool          { return v.atLeast(15, 9) }
func (v version) hasIncludeRetried() bool      { return v.atLeast(13, 9) }
func (v version) hasDeployUpdated() bool       { return v.atLeast(12, 4) }
func (v version) deployUpdatedNeedsSort() bool { return v.atLeast(16, 0) }
func (v version) hasReleases() bool            { return v.atLeast(11, 7) }
func (v version) hasUpcomingRelease() bool     { return v.atLeast(12, 1) }
func (v version) hasTagCreatedAt() bool        { return v.atLeast(16, 11) }

// Environment#guess_tier's name rules (app/models/environment.rb, 13.10).
var tierRules = []struct {
	re   *regexp.Regexp
	tier string
}{
	{regexp.MustCompile(`(?i)(dev|review|trunk)`), "development"},
	{regexp.MustCompile(`(?i)(test|tst|int|ac(ce|)pt|qa|qc|control|quality)`), "testing"},
	{regexp.MustCompile(`(?i)(st(a|)g|mod(e|)l|pre|demo|non)`), "staging"},
	{regexp.MustCompile(`(?i)(pr(o|)d|live)`), "production"},
}

// tierFor is the tier GitLab guesses from an environment's name.
func tierFor(name string) string {
	for _, r := range tierRules {
		if r.re.MatchString(name) {
			return r.tier
		}
	}
	return "other"
}

func (s *Sandbox) environment(p *project, name string, at time.Time) *environment {
	d := p.data()
	for _, e := range d.envs {
		if e.name == name {
			return e
		}
	}
	s.rdc.nextEnvID++
	e := &environment{id: s.rdc.nextEnvID, p: p, name: name, tier: tierFor(name), created: at, updated: at,
		externalURL: fmt.Sprintf("https://%s.%s.example.com", name, p.path)}
	d.envs = append(d.envs, e)
	return e
}

// makeJobs creates a pipeline's jobs: compile (build), unit and lint (test,
// lint allowed to fail) and, on the default branch of a pipeline that got
// that far, deploy-staging and deploy-production (deploy) with their
// deployments. A success pipeline's unit job was retried now and then.
// Jobs share the pipeline's time span stage by stage; job ids are the
// pipeline id times ten plus the job's rank.
func (s *Sandbox) makeJobs(r *rand.Rand, pl *pipeline) []*job {
	p := pl.p
	d := p.data()
	span := pl.finished.Sub(pl.started)
	stageAt := func(i int) (time.Time, time.Time) {
		from := pl.started.Add(span * time.Duration(i) / 3)
		return from, pl.started.Add(span * time.Duration(i+1) / 3)
	}
	deployFails := pl.status == "failed" && r.IntN(2) == 0
	var out []*job
	add := func(name, stage string, rank int, status string) *job {
		j := &job{id: pl.id*10 + int64(len(out)), pl: pl, name: name, stage: stage, status: status, created: pl.created,
			runner: &sandboxRunners[r.IntN(len(sandboxRunners))]}
		if status != "skipped" && status != "created" {
			from, to := stageAt(rank)
			j.started = between(r, from, from.Add((to.Sub(from))/4))
			j.finished = to
		} else {
			j.runner = nil
		}
		if status == "failed" {
			j.failure = "script_failure"
		}
		out = append(out, j)
		return j
	}
	testStatus := map[string]string{"success": "success", "failed": "failed", "canceled": "canceled", "skipped": "skipped"}[pl.status]
	if deployFails {
		testStatus = "success"
	}
	buildStatus := "success"
	if pl.status == "skipped" {
		buildStatus = "skipped"
	}
	add("compile", "build", 0, buildStatus)
	if pl.status == "success" && r.IntN(6) == 0 {
		first := add("unit", "test", 1, "failed")
		first.retried = true
		first.finished = first.started.Add(first.finished.Sub(first.started) / 2)
	}
	add("unit", "test", 1, testStatus)
	lint := add("lint", "test", 1, map[bool]string{true: "failed", false: testStatus}[testStatus == "success" && r.IntN(5) == 0])
	lint.allowFailure = true
	if pl.ref == p.defBranch && (pl.status == "success" || deployFails) {
		for _, env := range []string{"staging", "production"} {
			status := "success"
			if env == "production" && deployFails {
				status = "failed"
			}
			j := add("deploy-"+env, "deploy", 2, status)
			e := s.environment(p, env, j.started)
			s.rdc.nextDeplID++
			dep := &deployment{id: s.rdc.nextDeplID, iid: d.nextDepl, p: p, env: e, job: j, status: status, userID: pl.userID,
				created: j.created, updated: j.finished}
			d.nextDepl++
			j.env, j.deploy = e, dep
			e.updated = maxTime(e.updated, dep.updated)
			d.deploys = append(d.deploys, dep)
		}
	}
	d.jobs = append(d.jobs, out...)
	return out
}

func (s *Sandbox) generateDelivery(r *rand.Rand, p *project) {
	good := 0
	for _, pl := range p.pipelines {
		for _, j := range s.makeJobs(r, pl) {
			if j.name != "deploy-production" || j.status != "success" {
				continue
			}
			if good++; good%4 != 0 {
				continue
			}
			s.addTagRelease(p, pipelineCommit(s, pl), fmt.Sprintf("v1.%d.0", good/4), j.finished, pl.userID, good%8 == 0)
		}
	}
}

// addTagRelease tags the pipeline's commit and releases the tag.
func (s *Sandbox) addTagRelease(p *project, c *commit, name string, at time.Time, userID int64, annotated bool) (*tag, *release) {
	d := p.data()
	t := &tag{name: name, p: p, c: c, created: at, authorID: userID}
	if annotated {
		t.message = "Release " + name
	}
	d.tags = append(d.tags, t)
	if !s.ver.hasReleases() {
		return t, nil
	}
	s.rdc.nextReleaseID++
	rel := &release{id: s.rdc.nextReleaseID, tag: t, name: "Release " + name, desc: "Changes in " + name + ".", authorID: userID, created: at, released: at}
	d.releases = append(d.releases, rel)
	return t, rel
}

// generateIncidents makes about one issue in eight an incident.
func (s *Sandbox) generateIncidents(r *rand.Rand, p *project) {
	for _, is := range p.issues {
		if r.IntN(8) == 0 {
			is.incident = true
		}
	}
}

// issueLabels are the labels an issue shows: an incident carries the
// "incident" label before the issue_type field existed.
func (s *Sandbox) issueLabels(is *issue) []string {
	if is.incident && !s.ver.hasIncidentType() && !slices.Contains(is.labels, "incident") {
		return append(slices.Clip(is.labels), "incident")
	}
	return is.labels
}

func (s *Sandbox) issueType(is *issue) string {
	if is.incident {
		return "incident"
	}
	return "issue"
}

// --- rendering ------------------------------------------------------------

type runnerJSON struct {
	ID          int64       `json:"id"`
	Description string      `json:"description"`
	IPAddress   opt[string] `json:"ip_address,omitzero"`
	Active      bool        `json:"active"`
	Paused      opt[bool]   `json:"paused,omitzero"`
	IsShared    bool        `json:"is_shared"`
	RunnerType  opt[string] `json:"runner_type,omitzero"`
	Name        *string     `json:"name"`
	Online      bool        `json:"online"`
	Status      string      `json:"status"`
}

func (s *Sandbox) renderRunner(ri *runnerInfo) *runnerJSON {
	if ri == nil {
		return nil
	}
	typ := "project_type"
	if ri.shared {
		typ = "instance_type"
	}
	name := "gitlab-runner"
	return &runnerJSON{ID: ri.id, Description: ri.description, IPAddress: when(!s.ver.atLeast(17, 0), "127.0.0.1"), Active: true,
		Paused: when(s.ver.atLeast(14, 8), false), IsShared: ri.shared, RunnerType: when(s.ver.atLeast(12, 7), typ), Name: &name, Online: true, Status: "online"}
}

type jobPipelineJSON struct {
	ID        int64       `json:"id"`
	IID       opt[int64]  `json:"iid,omitzero"`
	ProjectID int64       `json:"project_id"`
	Ref       string      `json:"ref"`
	SHA       string      `json:"sha"`
	Status    string      `json:"status"`
	Source    opt[string] `json:"source,omitzero"`
	CreatedAt gtime       `json:"created_at"`
	UpdatedAt gtime       `json:"updated_at"`
	WebURL    string      `json:"web_url"`
}

type jobJSON struct {
	ID                int64           `json:"id"`
	Status            string          `json:"status"`
	Stage             string          `json:"stage"`
	Name              string          `json:"name"`
	Ref               string          `json:"ref"`
	Tag               bool            `json:"tag"`
	Coverage          *float64        `json:"coverage"`
	AllowFailure      bool            `json:"allow_failure"`
	CreatedAt         gtime           `json:"created_at"`
	StartedAt         gtime           `json:"started_at"`
	FinishedAt        gtime           `json:"finished_at"`
	ErasedAt          gtime           `json:"erased_at"`
	Duration          *float64        `json:"duration"`
	QueuedDuration    opt[*float64]   `json:"queued_duration,omitzero"`
	User              *userBasic      `json:"user"`
	Commit            *commitJSON     `json:"commit"`
	Pipeline          jobPipelineJSON `json:"pipeline"`
	FailureReason     opt[string]     `json:"failure_reason,omitzero"`
	WebURL            string          `json:"web_url"`
	Project           opt[any]        `json:"project,omitzero"`
	Artifacts         []any           `json:"artifacts"`
	Runner            *runnerJSON     `json:"runner"`
	ArtifactsExpireAt gtime           `json:"artifacts_expire_at"`
	Archived          opt[bool]       `json:"archived,omitzero"`
	TagList           []string        `json:"tag_list"`
}

// pipelineCommit is the commit a pipeline ran on, as the repository holds it.
func pipelineCommit(s *Sandbox, pl *pipeline) *commit {
	for _, c := range pl.p.commits {
		if c.sha == pl.sha {
			return c
		}
	}
	for _, m := range pl.p.mrs {
		if m.sha == pl.sha {
			return mrCommit(s, m)
		}
	}
	return &commit{sha: pl.sha, title: "Pipeline commit", author: s.userByID(pl.userID), created: pl.created.Truncate(time.Second)}
}

func (s *Sandbox) renderJob(j *job) *jobJSON {
	pl := j.pl
	out := &jobJSON{ID: j.id, Status: j.status, Stage: j.stage, Name: j.name, Ref: pl.ref, AllowFailure: j.allowFailure,
		CreatedAt: gtime(j.created), StartedAt: gtime(j.started), FinishedAt: gtime(j.finished), User: s.userByIDBasic(pl.userID),
		Commit: s.renderCommit(pl.p, pipelineCommit(s, pl)),
		Pipeline: jobPipelineJSON{ID: pl.id, IID: when(s.ver.atLeast(14, 6), pl.iid), ProjectID: pl.p.id, Ref: pl.ref, SHA: pl.sha, Status: pl.status,
			Source: when(s.ver.atLeast(14, 3), pl.source), CreatedAt: gtime(pl.created), UpdatedAt: gtime(pl.updated),
			WebURL: fmt.Sprintf("%s/%s/-/pipelines/%d", s.baseURL, pl.p.fullPath(), pl.id)},
		WebURL:    fmt.Sprintf("%s/%s/-/jobs/%d", s.baseURL, pl.p.fullPath(), j.id),
		Project:   when[any](s.ver.atLeast(14, 0), map[string]any{"ci_job_token_scope_enabled": false}),
		Artifacts: []any{}, Runner: s.renderRunner(j.runner), Archived: when(s.ver.atLeast(15, 0), false), TagList: []string{}}
	if !j.started.IsZero() && !j.finished.IsZero() {
		d := j.finished.Sub(j.started).Seconds()
		out.Duration = &d
	}
	if s.ver.hasQueuedDuration() {
		var q *float64
		if !j.started.IsZero() {
			v := j.started.Sub(j.created).Seconds()
			q = &v
		}
		out.QueuedDuration = some(q)
	}
	if j.status == "failed" {
		out.FailureReason = some(j.failure)
	}
	return out
}

// jobScopes reads scope or scope[] (statuses), as lib/api/ci/jobs.rb takes them.
func (c *call) jobScopes() ([]string, error) {
	q := c.r.URL.Query()
	scopes := append(q["scope[]"], q["scope"]...)
	valid := []string{"created", "pending", "running", "failed", "success", "canceled", "skipped", "waiting_for_resource", "manual"}
	for _, sc := range scopes {
		if !slices.Contains(valid, sc) {
			return nil, grapeErr(http.StatusBadRequest, "scope does not have a valid value")
		}
	}
	return scopes, nil
}

// keysetCursor is Gitlab::Pagination::Keyset's opaque cursor: base64 of a
// JSON object naming the last id and the direction.
func keysetCursor(id int64) string {
	b, _ := json.Marshal(map[string]string{"id": strconv.FormatInt(id, 10), "_kd": "n"})
	return base64.URLEncoding.EncodeToString(b)
}

func parseKeysetCursor(v string) (int64, bool) {
	b, err := base64.URLEncoding.DecodeString(v)
	if err != nil {
		if b, err = base64.RawURLEncoding.DecodeString(v); err != nil {
			return 0, false
		}
	}
	var m map[string]string
	if json.Unmarshal(b, &m) != nil {
		return 0, false
	}
	id, err := strconv.ParseInt(m["id"], 10, 64)
	return id, err == nil
}

// listProjectJobs serves GET /projects/:id/jobs: every job, newest first.
func (s *Sandbox) listProjectJobs(c *call) (any, error) {
	p, err := c.ciProject()
	if err != nil {
		return nil, err
	}
	scopes, err := c.jobScopes()
	if err != nil {
		return nil, err
	}
	js := make([]*job, 0, len(p.view().jobs))
	for _, j := range p.view().jobs {
		if len(scopes) == 0 || slices.Contains(scopes, j.status) {
			js = append(js, j)
		}
	}
	slices.SortFunc(js, func(a, b *job) int { return cmp.Compare(b.id, a.id) })
	if c.q("pagination") == "keyset" && s.ver.hasJobsKeyset() {
		if (c.q("order_by") != "" && c.q("order_by") != "id") || (c.q("sort") != "" && c.q("sort") != "desc") {
			return nil, grapeErr(http.StatusMethodNotAllowed, "Keyset pagination is not yet available for this type of request")
		}
		start := 0
		if v := c.q("cursor"); v != "" {
			last, ok := parseKeysetCursor(v)
			if !ok {
				return nil, badParam("cursor")
			}
			start, _ = slices.BinarySearchFunc(js, last, func(j *job, id int64) int { return cmp.Compare(id, j.id) })
			for start < len(js) && js[start].id >= last {
				start++
			}
		}
		pr := c.pageReq()
		end := min(start+pr.perPage, len(js))
		page := js[start:end]
		if end < len(js) && len(page) > 0 {
			link := c.pageLink(map[string]string{"cursor": keysetCursor(page[len(page)-1].id), "per_page": strconv.Itoa(pr.perPage)})
			c.w.Header().Set("Link", `<`+link+`>; rel="next"`)
		}
		out := make([]any, 0, len(page))
		for _, j := range page {
			out = append(out, s.renderJob(j))
		}
		return out, nil
	}
	if s.ver.hasJobsKeyset() {
		if err := c.checkOffsetLimit("Ci::Build"); err != nil {
			return nil, err
		}
	}
	return paginate(c, js, func(j *job) any { return s.renderJob(j) }), nil
}

// listPipelineJobs serves GET /projects/:id/pipelines/:pid/jobs: the
// pipeline's latest jobs (retried ones too with include_retried=true, 13.9+),
// oldest first.
func (s *Sandbox) listPipelineJobs(c *call) (any, error) {
	p, err := c.ciProject()
	if err != nil {
		return nil, err
	}
	id, err := c.iidParam("pid")
	if err != nil {
		return nil, err
	}
	var pl *pipeline
	for _, x := range p.pipelines {
		if x.id == id {
			pl = x
		}
	}
	if pl == nil {
		return nil, notFound("Pipeline")
	}
	scopes, err := c.jobScopes()
	if err != nil {
		return nil, err
	}
	retried, _ := c.boolParam("include_retried")
	retried = retried && s.ver.hasIncludeRetried()
	var js []*job
	for _, j := range p.view().jobs {
		if j.pl == pl && (retried || !j.retried) && (len(scopes) == 0 || slices.Contains(scopes, j.status)) {
			js = append(js, j)
		}
	}
	return paginate(c, js, func(j *job) any { return s.renderJob(j) }), nil
}

type environmentJSON struct {
	ID          int64       `json:"id"`
	Name        string      `json:"name"`
	Slug        string      `json:"slug"`
	ExternalURL string      `json:"external_url"`
	CreatedAt   opt[gtime]  `json:"created_at,omitzero"`
	UpdatedAt   opt[gtime]  `json:"updated_at,omitzero"`
	Tier        opt[string] `json:"tier,omitzero"`
	Project     any         `json:"project,omitempty"`
	State       string      `json:"state,omitempty"`
}

func (s *Sandbox) renderEnvironment(e *environment) *environmentJSON {
	return &environmentJSON{ID: e.id, Name: e.name, Slug: e.name, ExternalURL: e.externalURL,
		CreatedAt: when(s.ver.hasEnvTimes(), gtime(e.created)), UpdatedAt: when(s.ver.hasEnvTimes(), gtime(e.updated)),
		Tier: when(s.ver.hasEnvTier(), e.tier), State: "available"}
}

// listEnvironments serves GET /projects/:id/environments (name, search, states filters).
func (s *Sandbox) listEnvironments(c *call) (any, error) {
	p, err := c.project()
	if err != nil {
		return nil, err
	}
	name, search := c.q("name"), c.q("search")
	var es []*environment
	for _, e := range p.view().envs {
		if (name == "" || e.name == name) && (search == "" || strings.Contains(e.name, search)) {
			es = append(es, e)
		}
	}
	// Entities::Environment adds the project (BasicProjectDetails; the
	// sandbox sends its full project shape) and the state.
	return paginate(c, es, func(e *environment) any {
		out := s.renderEnvironment(e)
		out.Project = s.renderProject(e.p, c.user)
		return out
	}), nil
}

type deploymentJSON struct {
	ID          int64            `json:"id"`
	IID         int64            `json:"iid"`
	Ref         string           `json:"ref"`
	SHA         string           `json:"sha"`
	CreatedAt   gtime            `json:"created_at"`
	UpdatedAt   opt[gtime]       `json:"updated_at,omitzero"`
	Status      string           `json:"status"`
	User        *userBasic       `json:"user"`
	Environment *environmentJSON `json:"environment"`
	Deployable  *jobJSON         `json:"deployable"`
}

func (s *Sandbox) renderDeployment(d *deployment) *deploymentJSON {
	env := s.renderEnvironment(d.env)
	env.Tier = opt[string]{} // Entities::EnvironmentBasic has no tier, project or state
	env.State = ""
	return &deploymentJSON{ID: d.id, IID: d.iid, Ref: d.job.pl.ref, SHA: d.job.pl.sha, CreatedAt: gtime(d.created),
		UpdatedAt: when(s.ver.hasDeployUpdated(), gtime(d.updated)), Status: d.status, User: s.userByIDBasic(d.userID),
		Environment: env, Deployable: s.renderJob(d.job)}
}

// listDeployments serves GET /projects/:id/deployments.
func (s *Sandbox) listDeployments(c *call) (any, error) {
	p, err := c.project()
	if err != nil {
		return nil, err
	}
	var after, before time.Time
	if s.ver.hasDeployUpdated() {
		if after, err = c.timeParam("updated_after"); err != nil {
			return nil, err
		}
		if before, err = c.timeParam("updated_before"); err != nil {
			return nil, err
		}
		if s.ver.deployUpdatedNeedsSort() && (!after.IsZero() || !before.IsZero()) && c.q("order_by") != "updated_at" {
			return nil, msgErr(http.StatusBadRequest, "400 Bad request - `updated_at` filter requires `updated_at` sort")
		}
	}
	envName, status := c.q("environment"), c.q("status")
	var ds []*deployment
	for _, d := range p.view().deploys {
		if (envName != "" && d.env.name != envName) || (status != "" && d.status != status) ||
			(!after.IsZero() && !d.updated.After(after)) || (!before.IsZero() && !d.updated.Before(before)) {
			continue
		}
		ds = append(ds, d)
	}
	dir, err := c.sortDir("asc")
	if err != nil {
		return nil, err
	}
	var key func(a, b *deployment) int
	switch c.q("order_by") {
	case "", "id", "iid":
		key = func(a, b *deployment) int { return cmp.Compare(a.id, b.id) }
	case "created_at":
		key = func(a, b *deployment) int { return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.id, b.id)) }
	case "updated_at":
		key = func(a, b *deployment) int { return cmp.Or(a.updated.Compare(b.updated), cmp.Compare(a.id, b.id)) }
	case "ref":
		key = func(a, b *deployment) int {
			return cmp.Or(cmp.Compare(a.job.pl.ref, b.job.pl.ref), cmp.Compare(a.id, b.id))
		}
	default:
		return nil, grapeErr(http.StatusBadRequest, "order_by does not have a valid value")
	}
	slices.SortStableFunc(ds, func(a, b *deployment) int { return dir * key(a, b) })
	return paginate(c, ds, func(d *deployment) any { return s.renderDeployment(d) }), nil
}

func (s *Sandbox) renderTag(t *tag) map[string]any {
	out := map[string]any{"name": t.name, "message": t.message, "target": t.c.sha, "commit": s.renderCommit(t.p, t.c), "protected": false}
	if t.message == "" {
		out["message"] = nil
	}
	if !s.ver.atLeast(16, 0) {
		var rel any
		for _, r := range t.p.view().releases {
			if r.tag == t {
				rel = map[string]any{"tag_name": t.name, "description": r.desc}
			}
		}
		out["release"] = rel
	}
	if s.ver.hasTagCreatedAt() {
		out["created_at"] = nil
		if t.message != "" {
			out["created_at"] = gtime(t.created)
		}
	}
	return out
}

// listTags serves GET /projects/:id/repository/tags, newest first by
// default (order_by updated, name or version; sort).
func (s *Sandbox) listTags(c *call) (any, error) {
	p, err := c.project()
	if err != nil {
		return nil, err
	}
	ts := slices.Clone(p.view().tags)
	dir, err := c.sortDir("desc")
	if err != nil {
		return nil, err
	}
	switch c.q("order_by") {
	case "", "updated", "version":
		slices.SortStableFunc(ts, func(a, b *tag) int { return dir * a.created.Compare(b.created) })
	case "name":
		slices.SortStableFunc(ts, func(a, b *tag) int { return dir * cmp.Compare(a.name, b.name) })
	default:
		return nil, grapeErr(http.StatusBadRequest, "order_by does not have a valid value")
	}
	return paginate(c, ts, func(t *tag) any { return s.renderTag(t) }), nil
}

func (s *Sandbox) renderRelease(r *release) map[string]any {
	t := r.tag
	p := t.p
	base := fmt.Sprintf("%s/%s", s.baseURL, p.fullPath())
	out := map[string]any{"tag_name": t.name, "description": r.desc, "name": r.name, "created_at": gtime(r.created),
		"released_at": gtime(r.released), "author": s.userByIDBasic(r.authorID), "commit": s.renderCommit(p, t.c),
		"milestones": []any{}, "commit_path": "/" + p.fullPath() + "/-/commit/" + t.c.sha, "tag_path": "/" + p.fullPath() + "/-/tags/" + t.name,
		"assets": map[string]any{"count": 2, "sources": []any{
			map[string]any{"format": "zip", "url": fmt.Sprintf("%s/-/archive/%s/%s-%s.zip", base, t.name, p.path, t.name)},
			map[string]any{"format": "tar.gz", "url": fmt.Sprintf("%s/-/archive/%s/%s-%s.tar.gz", base, t.name, p.path, t.name)}},
			"links": []any{}},
		"evidences": []any{},
		"_links":    map[string]any{"self": base + "/-/releases/" + t.name}}
	if s.ver.hasUpcomingRelease() {
		out["upcoming_release"] = r.released.After(s.clock())
	}
	return out
}

// listReleases serves GET /projects/:id/releases (11.7+), newest
// released_at first by default.
func (s *Sandbox) listReleases(c *call) (any, error) {
	p, err := c.project()
	if err != nil {
		return nil, err
	}
	rs := slices.Clone(p.view().releases)
	dir, err := c.sortDir("desc")
	if err != nil {
		return nil, err
	}
	switch c.q("order_by") {
	case "", "released_at":
		slices.SortStableFunc(rs, func(a, b *release) int { return dir * a.released.Compare(b.released) })
	case "created_at":
		slices.SortStableFunc(rs, func(a, b *release) int { return dir * a.created.Compare(b.created) })
	default:
		return nil, grapeErr(http.StatusBadRequest, "order_by does not have a valid value")
	}
	return paginate(c, rs, func(r *release) any { return s.renderRelease(r) }), nil
}

// gitTagLines are update-ref --stdin commands creating the tags whose
// commits the repository holds (the default branch's or a merge request's).
func gitTagLines(p *project, ts []*tag) []byte {
	held := map[string]bool{}
	for _, c := range p.commits {
		held[c.sha] = true
	}
	for _, m := range p.mrs {
		held[m.sha] = true
	}
	var b []byte
	for _, t := range ts {
		if held[t.c.sha] {
			b = fmt.Appendf(b, "create refs/tags/%s %s\n", t.name, t.c.sha)
		}
	}
	return b
}

// gitWriteSeededTags writes the seeded tags into the repositories, one
// git update-ref per project that has some.
func (s *Sandbox) gitWriteSeededTags() error {
	for _, p := range s.projects[:s.seededProjects] {
		if p.rd == nil || len(p.rd.tags) == 0 {
			continue
		}
		if lines := gitTagLines(p, p.rd.tags); len(lines) > 0 {
			if _, err := s.git(lines, s.gitRepo(p), "update-ref", "--stdin"); err != nil {
				return fmt.Errorf("sandbox: project %d tags: %w", p.id, err)
			}
		}
	}
	return nil
}
