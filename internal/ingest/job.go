package ingest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/labsync/labsync/internal/store"
)

// jobJSON is a job as an API item has it (Entities::Ci::Job: GET
// /projects/:id/jobs and /pipelines/:id/jobs).
type jobJSON struct {
	ID             int64       `json:"id"`
	Name           string      `json:"name"`
	Stage          string      `json:"stage"`
	Status         string      `json:"status"`
	Ref            string      `json:"ref"`
	Tag            bool        `json:"tag"`
	AllowFailure   bool        `json:"allow_failure"`
	FailureReason  string      `json:"failure_reason"` // failed jobs only
	Duration       *float64    `json:"duration"`
	QueuedDuration *float64    `json:"queued_duration"` // 13.6
	CreatedAt      Time        `json:"created_at"`
	StartedAt      Time        `json:"started_at"`
	FinishedAt     Time        `json:"finished_at"`
	WebURL         string      `json:"web_url"`
	User           *personJSON `json:"user"`
	Commit         *struct {
		ID string `json:"id"`
	} `json:"commit"`
	Pipeline *struct {
		ID        int64  `json:"id"`
		ProjectID int64  `json:"project_id"`
		SHA       string `json:"sha"`
	} `json:"pipeline"`
	Runner *struct {
		ID          int64  `json:"id"`
		Description string `json:"description"`
	} `json:"runner"`
}

// Job reads a job from an API item of project projectID. The REST entity
// has no retried flag: a caller that asked with include_retried marks the
// older jobs of a name in a pipeline (store.Job.Retried).
func Job(integrationID, projectID int64, raw json.RawMessage) (store.Job, []store.Person, error) {
	var j jobJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Job{}, nil, fmt.Errorf("ingest: unreadable job: %w", err)
	}
	if j.ID == 0 {
		return store.Job{}, nil, fmt.Errorf("ingest: job without id")
	}
	out := store.Job{IntegrationID: integrationID, ProjectGitLabID: projectID, GitLabID: j.ID, Name: j.Name, Stage: j.Stage,
		Status: j.Status, Ref: j.Ref, Tag: j.Tag, AllowFailure: j.AllowFailure, FailureReason: j.FailureReason,
		DurationS: j.Duration, QueuedDurationS: j.QueuedDuration, WebURL: j.WebURL, Username: j.User.username(), Raw: raw}
	var err error
	if out.CreatedAt, err = j.CreatedAt.Parse(); err == nil {
		if out.StartedAt, err = j.StartedAt.Parse(); err == nil {
			out.FinishedAt, err = j.FinishedAt.Parse()
		}
	}
	if err != nil {
		return store.Job{}, nil, fmt.Errorf("ingest: job %d: %w", j.ID, err)
	}
	if j.Pipeline != nil && j.Pipeline.ID != 0 {
		id := j.Pipeline.ID
		out.PipelineGitLabID = &id
		out.SHA = j.Pipeline.SHA
		if j.Pipeline.ProjectID != 0 {
			out.ProjectGitLabID = j.Pipeline.ProjectID
		}
	}
	if j.Commit != nil && j.Commit.ID != "" {
		out.SHA = j.Commit.ID
	}
	out.SHA = strings.ToLower(out.SHA)
	if j.Runner != nil && j.Runner.ID != 0 {
		id := j.Runner.ID
		out.RunnerGitLabID, out.RunnerDescription = &id, j.Runner.Description
	}
	out.UpdatedAt = store.JobUpdatedAt(out.CreatedAt, out.StartedAt, out.FinishedAt)
	if out.UpdatedAt.IsZero() {
		return store.Job{}, nil, fmt.Errorf("ingest: job %d without created_at", j.ID)
	}
	return out, people(integrationID, &out.UpdatedAt, j.User), nil
}

// JobHook is a job webhook payload ("Job Hook", object_kind "build";
// Gitlab::DataBuilder::Build), read by ParseHook. Its fields carry a
// build_ prefix; times are "2016-08-12 15:23:28 UTC" (build_*_at) and, from
// 15.x, ISO 8601 beside them (build_*_at_iso). build_queued_duration is
// there from 13.x, build_failure_reason from 13.x, runner from 12.x.
type JobHook struct {
	Ref                 string      `json:"ref"`
	Tag                 bool        `json:"tag"`
	SHA                 string      `json:"sha"`
	BuildID             int64       `json:"build_id"`
	BuildName           string      `json:"build_name"`
	BuildStage          string      `json:"build_stage"`
	BuildStatus         string      `json:"build_status"`
	BuildCreatedAt      Time        `json:"build_created_at"`
	BuildStartedAt      Time        `json:"build_started_at"`
	BuildFinishedAt     Time        `json:"build_finished_at"`
	BuildCreatedAtISO   Time        `json:"build_created_at_iso"`
	BuildStartedAtISO   Time        `json:"build_started_at_iso"`
	BuildFinishedAtISO  Time        `json:"build_finished_at_iso"`
	BuildDuration       *float64    `json:"build_duration"`
	BuildQueuedDuration *float64    `json:"build_queued_duration"`
	BuildAllowFailure   bool        `json:"build_allow_failure"`
	BuildFailureReason  string      `json:"build_failure_reason"`
	PipelineID          int64       `json:"pipeline_id"`
	ProjectIDField      int64       `json:"project_id"`
	Project             *idOnly     `json:"project"` // 15.x
	User                *personJSON `json:"user"`
	Runner              *struct {
		ID          int64  `json:"id"`
		Description string `json:"description"`
	} `json:"runner"`
	raw json.RawMessage
}

// ProjectID is the payload's project: project.id where the payload has
// the object, else project_id (GitLab fills both from the job's project).
func (h *JobHook) ProjectID() int64 {
	if h.Project != nil && h.Project.ID != 0 {
		return h.Project.ID
	}
	return h.ProjectIDField
}

// ObjectID is the job's GitLab id.
func (h *JobHook) ObjectID() int64 { return h.BuildID }

// Row returns the job the payload describes and the people it names.
// failure_reason is kept for failed jobs only, as the API shows it
// ("unknown_failure" is sent for every job otherwise); a job that has not
// started has no duration.
func (h *JobHook) Row(integrationID int64) (store.Job, []store.Person, error) {
	if h.BuildID == 0 || h.ProjectID() == 0 {
		return store.Job{}, nil, fmt.Errorf("job payload without build or project id")
	}
	pick := func(iso, plain Time) Time {
		if iso != "" {
			return iso
		}
		return plain
	}
	out := store.Job{IntegrationID: integrationID, ProjectGitLabID: h.ProjectID(), GitLabID: h.BuildID, Name: h.BuildName,
		Stage: h.BuildStage, Status: h.BuildStatus, Ref: h.Ref, Tag: h.Tag, SHA: strings.ToLower(h.SHA), AllowFailure: h.BuildAllowFailure,
		DurationS: h.BuildDuration, QueuedDurationS: h.BuildQueuedDuration, Username: h.User.username(), Raw: h.raw}
	if h.BuildStatus == "failed" {
		out.FailureReason = h.BuildFailureReason
	}
	if h.PipelineID != 0 {
		id := h.PipelineID
		out.PipelineGitLabID = &id
	}
	var err error
	if out.CreatedAt, err = pick(h.BuildCreatedAtISO, h.BuildCreatedAt).Parse(); err == nil {
		if out.StartedAt, err = pick(h.BuildStartedAtISO, h.BuildStartedAt).Parse(); err == nil {
			out.FinishedAt, err = pick(h.BuildFinishedAtISO, h.BuildFinishedAt).Parse()
		}
	}
	if err != nil {
		return store.Job{}, nil, fmt.Errorf("job payload: %w", err)
	}
	if out.StartedAt == nil {
		out.DurationS = nil
	}
	if h.Runner != nil && h.Runner.ID != 0 {
		id := h.Runner.ID
		out.RunnerGitLabID, out.RunnerDescription = &id, h.Runner.Description
	}
	out.UpdatedAt = store.JobUpdatedAt(out.CreatedAt, out.StartedAt, out.FinishedAt)
	if out.UpdatedAt.IsZero() {
		return store.Job{}, nil, fmt.Errorf("job payload without build_created_at")
	}
	return out, people(integrationID, &out.UpdatedAt, h.User), nil
}
