package ingest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// pipelineJSON is a pipeline as an API item has it and as a payload's
// object_attributes has it (url for web_url; no updated_at or started_at
// in payloads).
type pipelineJSON struct {
	ID         int64    `json:"id"`
	IID        *int64   `json:"iid"` // 14.6 (payloads and items)
	ProjectID  int64    `json:"project_id"`
	Status     string   `json:"status"`
	Ref        string   `json:"ref"`
	SHA        string   `json:"sha"`
	Source     string   `json:"source"`
	Duration   *float64 `json:"duration"`
	WebURL     string   `json:"web_url"`
	StartedAt  Time     `json:"started_at"`
	FinishedAt Time     `json:"finished_at"`
	CreatedAt  Time     `json:"created_at"`
	UpdatedAt  Time     `json:"updated_at"`

	// Payload only.
	URL string `json:"url"`
}

// times reads the pipeline's times.
func (j *pipelineJSON) times() (created, started, finished, updated *time.Time, err error) {
	for _, f := range []struct {
		t   Time
		out **time.Time
	}{{j.CreatedAt, &created}, {j.StartedAt, &started}, {j.FinishedAt, &finished}, {j.UpdatedAt, &updated}} {
		if *f.out, err = f.t.Parse(); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	return created, started, finished, updated, nil
}

// Pipeline reads a pipeline from an API item. The list endpoint has no
// duration, started_at or finished_at (the single-pipeline endpoint and
// payloads do); the duration is taken from started and finished times when
// GitLab gave those but not it.
func Pipeline(integrationID, projectID int64, raw json.RawMessage) (store.Pipeline, error) {
	var j pipelineJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Pipeline{}, fmt.Errorf("ingest: unreadable pipeline: %w", err)
	}
	if j.ID == 0 {
		return store.Pipeline{}, fmt.Errorf("ingest: pipeline without id")
	}
	created, started, finished, updated, err := j.times()
	if err != nil || updated == nil {
		return store.Pipeline{}, fmt.Errorf("ingest: pipeline %d without a valid updated_at", j.ID)
	}
	if j.ProjectID == 0 {
		j.ProjectID = projectID
	}
	var dur *int64
	if j.Duration != nil {
		d := int64(*j.Duration)
		dur = &d
	} else if started != nil && finished != nil {
		d := int64(finished.Sub(*started) / time.Second)
		dur = &d
	}
	return store.Pipeline{IntegrationID: integrationID, ProjectGitLabID: j.ProjectID, GitLabID: j.ID, IID: j.IID, Status: j.Status,
		Ref: j.Ref, SHA: j.SHA, Source: j.Source, DurationS: dur, WebURL: j.WebURL, StartedAt: started, FinishedAt: finished,
		CreatedAt: created, UpdatedAt: *updated, Raw: raw}, nil
}

// PipelineHook is a pipeline webhook payload ("Pipeline Hook"), read by
// ParseHook.
type PipelineHook struct {
	ObjectAttributes pipelineJSON `json:"object_attributes"`
	Project          idOnly       `json:"project"`
	raw              json.RawMessage
}

// ProjectID is the payload's project.
func (h *PipelineHook) ProjectID() int64 { return h.Project.ID }

// ObjectID is the pipeline's GitLab id.
func (h *PipelineHook) ObjectID() int64 { return h.ObjectAttributes.ID }

// Row returns the pipeline the payload describes. Payloads have no
// updated_at: the latest time they carry (finished_at, else created_at)
// orders them, equal times letting the later delivery win. A duration of 0
// is no duration (a pipeline still running; labsync read payloads with an
// integer duration before, where null and 0 were alike), and there is no
// started_at.
func (h *PipelineHook) Row(integrationID int64) (store.Pipeline, error) {
	a := &h.ObjectAttributes
	if a.ID == 0 || h.Project.ID == 0 {
		return store.Pipeline{}, fmt.Errorf("pipeline payload without object or project id")
	}
	created, _, finished, _, err := a.times()
	if err != nil {
		return store.Pipeline{}, fmt.Errorf("pipeline payload: %w", err)
	}
	updated := created
	if finished != nil {
		updated = finished
	}
	if updated == nil {
		return store.Pipeline{}, fmt.Errorf("pipeline payload without created_at")
	}
	pl := store.Pipeline{IntegrationID: integrationID, ProjectGitLabID: h.Project.ID, GitLabID: a.ID, Status: a.Status, Ref: a.Ref,
		SHA: a.SHA, Source: a.Source, WebURL: a.URL, CreatedAt: created, FinishedAt: finished, UpdatedAt: *updated, Raw: h.raw}
	if a.IID != nil && *a.IID != 0 {
		iid := *a.IID
		pl.IID = &iid
	}
	if a.Duration != nil && *a.Duration >= 1 {
		dur := int64(*a.Duration)
		pl.DurationS = &dur
	}
	return pl, nil
}
