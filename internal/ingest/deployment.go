package ingest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/labsync/labsync/internal/store"
)

// tierRules are GitLab's own rules for an environment's tier from its
// name, first match wins, else "other" (Environment#guess_tier,
// app/models/environment.rb, 13.10: the tier GitLab stored for every
// environment created before the field existed, and for those that set
// none).
var tierRules = []struct {
	re   *regexp.Regexp
	tier string
}{
	{regexp.MustCompile(`(?i)(dev|review|trunk)`), store.TierDevelopment},
	{regexp.MustCompile(`(?i)(test|tst|int|ac(ce|)pt|qa|qc|control|quality)`), store.TierTesting},
	{regexp.MustCompile(`(?i)(st(a|)g|mod(e|)l|pre|demo|non)`), store.TierStaging},
	{regexp.MustCompile(`(?i)(pr(o|)d|live)`), store.TierProduction},
}

// EnvironmentTier returns tier when GitLab gave one (13.10+), else the tier
// GitLab's name rules give name.
func EnvironmentTier(name, tier string) string {
	if tier != "" {
		return tier
	}
	for _, r := range tierRules {
		if r.re.MatchString(name) {
			return r.tier
		}
	}
	return store.TierOther
}

// environmentJSON is an environment as an API item has it
// (Entities::Environment; tier 13.10; created_at/updated_at).
type environmentJSON struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	ExternalURL string `json:"external_url"`
	State       string `json:"state"`
	Tier        string `json:"tier"`
	CreatedAt   Time   `json:"created_at"`
	UpdatedAt   Time   `json:"updated_at"`
}

// Environment reads an environment from an API item of project projectID.
// Items without updated_at (before 13.0) get the caller's time in the
// store.
func Environment(integrationID, projectID int64, raw json.RawMessage) (store.Environment, error) {
	var j environmentJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Environment{}, fmt.Errorf("ingest: unreadable environment: %w", err)
	}
	if j.ID == 0 {
		return store.Environment{}, fmt.Errorf("ingest: environment without id")
	}
	created, err := j.CreatedAt.Parse()
	if err != nil {
		return store.Environment{}, fmt.Errorf("ingest: environment %d: %w", j.ID, err)
	}
	updated, err := j.UpdatedAt.Parse()
	if err != nil {
		return store.Environment{}, fmt.Errorf("ingest: environment %d: %w", j.ID, err)
	}
	e := store.Environment{IntegrationID: integrationID, ProjectGitLabID: projectID, GitLabID: j.ID, Name: j.Name, Slug: j.Slug,
		Tier: EnvironmentTier(j.Name, j.Tier), State: j.State, ExternalURL: j.ExternalURL, CreatedAt: created, Raw: raw}
	if updated != nil {
		e.UpdatedAt = *updated
	}
	return e, nil
}

// deploymentJSON is a deployment as an API item has it
// (Entities::Deployment: updated_at 12.4, finished_at 15.x; environment is
// an Entities::EnvironmentBasic, without tier; deployable the job).
type deploymentJSON struct {
	ID          int64            `json:"id"`
	IID         *int64           `json:"iid"`
	Ref         string           `json:"ref"`
	SHA         string           `json:"sha"`
	Status      string           `json:"status"`
	CreatedAt   Time             `json:"created_at"`
	UpdatedAt   Time             `json:"updated_at"`
	FinishedAt  Time             `json:"finished_at"`
	User        *personJSON      `json:"user"`
	Environment *environmentJSON `json:"environment"`
	Deployable  *struct {
		ID         int64 `json:"id"`
		FinishedAt Time  `json:"finished_at"`
	} `json:"deployable"`
}

// finalDeployment says whether a deployment status is final.
func finalDeployment(status string) bool {
	switch status {
	case "success", "failed", "canceled", "skipped":
		return true
	}
	return false
}

// Deployment reads a deployment from an API item of project projectID.
// tierOf gives the tier of the deployment's environment by GitLab id (from
// the environments list; nil or "" falls back to GitLab's name rules).
// FinishedAt is finished_at (15.x), else, for a final status, updated_at:
// GitLab sets both when the deployment finishes (Deployment state machine).
func Deployment(integrationID, projectID int64, raw json.RawMessage, tierOf func(envID int64) string) (store.Deployment, []store.Person, error) {
	var j deploymentJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Deployment{}, nil, fmt.Errorf("ingest: unreadable deployment: %w", err)
	}
	if j.ID == 0 {
		return store.Deployment{}, nil, fmt.Errorf("ingest: deployment without id")
	}
	d := store.Deployment{IntegrationID: integrationID, ProjectGitLabID: projectID, GitLabID: j.ID, IID: j.IID, Status: j.Status,
		Ref: j.Ref, SHA: strings.ToLower(j.SHA), Username: j.User.username(), Raw: raw}
	var err error
	if d.CreatedAt, err = j.CreatedAt.Parse(); err != nil {
		return store.Deployment{}, nil, fmt.Errorf("ingest: deployment %d: %w", j.ID, err)
	}
	up, err := j.UpdatedAt.Parse()
	if err != nil {
		return store.Deployment{}, nil, fmt.Errorf("ingest: deployment %d: %w", j.ID, err)
	}
	if d.FinishedAt, err = j.FinishedAt.Parse(); err != nil {
		return store.Deployment{}, nil, fmt.Errorf("ingest: deployment %d: %w", j.ID, err)
	}
	switch {
	case up != nil:
		d.UpdatedAt = *up
	case d.CreatedAt != nil:
		d.UpdatedAt = *d.CreatedAt
	default:
		return store.Deployment{}, nil, fmt.Errorf("ingest: deployment %d without updated_at or created_at", j.ID)
	}
	if d.FinishedAt == nil && finalDeployment(j.Status) {
		at := d.UpdatedAt
		d.FinishedAt = &at
	}
	if e := j.Environment; e != nil {
		d.EnvironmentName = e.Name
		if e.ID != 0 {
			id := e.ID
			d.EnvironmentGitLabID = &id
		}
		tier := e.Tier
		if tier == "" && tierOf != nil && e.ID != 0 {
			tier = tierOf(e.ID)
		}
		d.EnvironmentTier = EnvironmentTier(e.Name, tier)
	}
	if j.Deployable != nil && j.Deployable.ID != 0 {
		id := j.Deployable.ID
		d.DeployableJobGitLabID = &id
	}
	return d, people(integrationID, &d.UpdatedAt, j.User), nil
}

// DeploymentHook is a deployment webhook payload ("Deployment Hook";
// Gitlab::DataBuilder::Deployment), read by ParseHook. deployment_id and
// status_changed_at are there from 13.x, environment_tier from 15.x (an
// environment's tier when the payload lacks it comes from GitLab's name
// rules, as GitLab's own did), ref from 14.x; the full sha only in
// commit_url (…/-/commit/<sha>).
type DeploymentHook struct {
	Status          string      `json:"status"`
	StatusChangedAt Time        `json:"status_changed_at"`
	DeploymentID    int64       `json:"deployment_id"`
	DeployableID    *int64      `json:"deployable_id"`
	Environment     string      `json:"environment"`
	EnvironmentTier string      `json:"environment_tier"`
	Project         idOnly      `json:"project"`
	ShortSHA        string      `json:"short_sha"`
	User            *personJSON `json:"user"`
	CommitURL       string      `json:"commit_url"`
	Ref             string      `json:"ref"`
	raw             json.RawMessage
}

// ProjectID is the payload's project.
func (h *DeploymentHook) ProjectID() int64 { return h.Project.ID }

// ObjectID is the deployment's GitLab id.
func (h *DeploymentHook) ObjectID() int64 { return h.DeploymentID }

var shaInURL = regexp.MustCompile(`/commit/([0-9a-fA-F]{40}(?:[0-9a-fA-F]{24})?)$`)

// Row returns the deployment the payload describes and the people it
// names. UpdatedAt is status_changed_at, and so is FinishedAt for a final
// status; created_at, iid and the environment's id are not in the payload
// (the caller keeps what it stored).
func (h *DeploymentHook) Row(integrationID int64) (store.Deployment, []store.Person, error) {
	if h.DeploymentID == 0 || h.Project.ID == 0 {
		return store.Deployment{}, nil, fmt.Errorf("deployment payload without deployment_id or project id")
	}
	changed, err := h.StatusChangedAt.Parse()
	if err != nil {
		return store.Deployment{}, nil, fmt.Errorf("deployment payload: %w", err)
	}
	d := store.Deployment{IntegrationID: integrationID, ProjectGitLabID: h.Project.ID, GitLabID: h.DeploymentID, Status: h.Status,
		Ref: h.Ref, EnvironmentName: h.Environment, EnvironmentTier: EnvironmentTier(h.Environment, h.EnvironmentTier),
		DeployableJobGitLabID: h.DeployableID, Username: h.User.username(), Raw: h.raw}
	if m := shaInURL.FindStringSubmatch(h.CommitURL); m != nil {
		d.SHA = strings.ToLower(m[1])
	} else {
		d.SHA = strings.ToLower(h.ShortSHA)
	}
	if changed != nil {
		d.UpdatedAt = *changed
		if finalDeployment(h.Status) {
			at := *changed
			d.FinishedAt = &at
		}
	}
	return d, people(integrationID, changed, h.User), nil
}
