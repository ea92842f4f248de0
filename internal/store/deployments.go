package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Environment tiers, GitLab's (13.10+).
const (
	TierProduction  = "production"
	TierStaging     = "staging"
	TierTesting     = "testing"
	TierDevelopment = "development"
	TierOther       = "other"
)

// Environment is a normalised GitLab environment. Tier is GitLab's, or
// derived from the name where GitLab gives none (before 13.10; see
// ingest.EnvironmentTier). UpdatedAt is GitLab's updated_at, or when
// labsync saw it where the source has none (a deployment webhook).
type Environment struct {
	ID              int64           `json:"-"`
	IntegrationID   int64           `json:"integration_id"`
	ProjectGitLabID int64           `json:"project_id"`
	ProjectPath     string          `json:"project_path,omitempty"`
	GitLabID        int64           `json:"id"`
	Name            string          `json:"name"`
	Slug            string          `json:"slug,omitempty"`
	Tier            string          `json:"tier"`
	State           string          `json:"state,omitempty"`
	ExternalURL     string          `json:"external_url,omitempty"`
	CreatedAt       *time.Time      `json:"created_at,omitempty"`
	UpdatedAt       time.Time       `json:"updated_at"`
	Raw             json.RawMessage `json:"raw,omitempty"`
}

// UpsertEnvironments stores environments with the guarantees of
// UpsertMergeRequests.
func (s *Store) UpsertEnvironments(ctx context.Context, tx Tx, orgID, integrationID int64, source string, envs []Environment) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		cols := []string{"org_id", "integration_id", "project_id", "gitlab_id", "name", "slug", "tier", "state", "external_url",
			"created_at", "updated_at", "raw", "content_hash", "ingested_at"}
		rows := make([]versionedRow, 0, len(envs))
		for _, e := range envs {
			pid, err := u.project(ctx, e.ProjectGitLabID)
			if err != nil {
				return err
			}
			if pid == 0 {
				u.skipped++
				continue
			}
			if e.UpdatedAt.IsZero() {
				e.UpdatedAt = u.now
			}
			e.UpdatedAt = e.UpdatedAt.UTC()
			raw := e.Raw
			e.Raw, e.ID, e.ProjectPath = nil, 0, ""
			rows = append(rows, versionedRow{gitlabID: e.GitLabID, projectID: pid, updatedAt: e.UpdatedAt, values: []any{orgID, integrationID,
				pid, e.GitLabID, e.Name, e.Slug, e.Tier, e.State, e.ExternalURL, utcPtr(e.CreatedAt), e.UpdatedAt, rawText(raw), contentHash(e), u.now}})
		}
		return u.versioned(ctx, "environments", EntityEnvironment, cols, rows)
	})
}

// Environments lists org's environments matching q (State filters state),
// by id (or newest first).
func (s *Store) Environments(ctx context.Context, orgID int64, q DataQuery) ([]Environment, error) {
	lq := newListQuery("environments", orgID, q)
	rows, err := s.rdb.QueryContext(ctx, lq.sql(`x.id, x.integration_id, p.gitlab_id, p.path_with_namespace, x.gitlab_id, x.name, x.slug,
		x.tier, x.state, x.external_url, x.created_at, x.updated_at`), lq.args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list environments: %w", err)
	}
	defer rows.Close()
	out := []Environment{}
	for rows.Next() {
		var e Environment
		if err := rows.Scan(&e.ID, &e.IntegrationID, &e.ProjectGitLabID, &e.ProjectPath, &e.GitLabID, &e.Name, &e.Slug, &e.Tier, &e.State,
			&e.ExternalURL, &e.CreatedAt, &e.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list environments: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Deployment is a normalised GitLab deployment, with its environment's
// name and tier. UpdatedAt is GitLab's updated_at (the deployments API), or
// the webhook's status_changed_at; FinishedAt is GitLab's finished_at, or
// status_changed_at of a webhook whose status is final (success, failed,
// canceled).
type Deployment struct {
	ID                    int64           `json:"-"`
	IntegrationID         int64           `json:"integration_id"`
	ProjectGitLabID       int64           `json:"project_id"`
	ProjectPath           string          `json:"project_path,omitempty"`
	GitLabID              int64           `json:"id"`
	IID                   *int64          `json:"iid,omitempty"`
	EnvironmentGitLabID   *int64          `json:"environment_id,omitempty"`
	EnvironmentName       string          `json:"environment"`
	EnvironmentTier       string          `json:"environment_tier"`
	Status                string          `json:"status"`
	Ref                   string          `json:"ref"`
	SHA                   string          `json:"sha"`
	DeployableJobGitLabID *int64          `json:"deployable_id,omitempty"`
	Username              string          `json:"user,omitempty"`
	CreatedAt             *time.Time      `json:"created_at"`
	FinishedAt            *time.Time      `json:"finished_at,omitempty"`
	UpdatedAt             time.Time       `json:"updated_at"`
	Raw                   json.RawMessage `json:"raw,omitempty"`
}

// UpsertDeployments stores deployments with the guarantees of
// UpsertMergeRequests.
func (s *Store) UpsertDeployments(ctx context.Context, tx Tx, orgID, integrationID int64, source string, ds []Deployment) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		cols := []string{"org_id", "integration_id", "project_id", "gitlab_id", "iid", "environment_gitlab_id", "environment_name",
			"environment_tier", "status", "ref", "sha", "deployable_job_gitlab_id", "username", "created_at", "finished_at", "updated_at",
			"raw", "content_hash", "ingested_at"}
		spec := keyedSpec{table: "deployments", entity: EntityDeployment, conflict: []string{"integration_id", "gitlab_id"}, cols: cols,
			fillNull: []string{"iid", "environment_gitlab_id", "created_at", "deployable_job_gitlab_id"}}
		rows := make([]keyedRow, 0, len(ds))
		for _, d := range ds {
			pid, err := u.project(ctx, d.ProjectGitLabID)
			if err != nil {
				return err
			}
			if pid == 0 {
				u.skipped++
				continue
			}
			if d.UpdatedAt.IsZero() {
				d.UpdatedAt = u.now
			}
			d.UpdatedAt = d.UpdatedAt.UTC()
			raw := d.Raw
			d.Raw, d.ID, d.ProjectPath = nil, 0, ""
			values := []any{orgID, integrationID, pid, d.GitLabID, d.IID, d.EnvironmentGitLabID, d.EnvironmentName, d.EnvironmentTier,
				d.Status, d.Ref, d.SHA, d.DeployableJobGitLabID, d.Username, utcPtr(d.CreatedAt), utcPtr(d.FinishedAt), d.UpdatedAt,
				rawText(raw), "", u.now}
			// Webhook payloads carry none of these: out of the fingerprint.
			d.IID, d.EnvironmentGitLabID, d.CreatedAt, d.DeployableJobGitLabID = nil, nil, nil, nil
			values[17] = contentHash(d)
			rows = append(rows, keyedRow{feedKey: fmt.Sprint(d.GitLabID), projectID: pid, updatedAt: d.UpdatedAt, values: values})
		}
		return u.keyed(ctx, spec, rows)
	})
}

// Deployments lists org's deployments matching q (State filters status),
// by id (or newest first).
func (s *Store) Deployments(ctx context.Context, orgID int64, q DataQuery) ([]Deployment, error) {
	lq := newListQuery("deployments", orgID, q)
	rows, err := s.rdb.QueryContext(ctx, lq.sql(`x.id, x.integration_id, p.gitlab_id, p.path_with_namespace, x.gitlab_id, x.iid,
		x.environment_gitlab_id, x.environment_name, x.environment_tier, x.status, x.ref, x.sha, x.deployable_job_gitlab_id, x.username,
		x.created_at, x.finished_at, x.updated_at`), lq.args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list deployments: %w", err)
	}
	defer rows.Close()
	out := []Deployment{}
	for rows.Next() {
		var d Deployment
		if err := rows.Scan(&d.ID, &d.IntegrationID, &d.ProjectGitLabID, &d.ProjectPath, &d.GitLabID, &d.IID, &d.EnvironmentGitLabID,
			&d.EnvironmentName, &d.EnvironmentTier, &d.Status, &d.Ref, &d.SHA, &d.DeployableJobGitLabID, &d.Username, &d.CreatedAt,
			&d.FinishedAt, &d.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list deployments: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
