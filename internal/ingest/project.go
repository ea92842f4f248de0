package ingest

import (
	"encoding/json"
	"fmt"

	"github.com/labsync/labsync/internal/store"
)

type commitJSON struct {
	ID            string   `json:"id"`
	Title         string   `json:"title"`
	AuthorName    string   `json:"author_name"`
	AuthorEmail   string   `json:"author_email"`
	AuthoredDate  Time     `json:"authored_date"`
	CommittedDate Time     `json:"committed_date"`
	ParentIDs     []string `json:"parent_ids"`
	WebURL        string   `json:"web_url"`
}

// Commit reads a commit of project projectID from an API item; its id is
// kept whole (40 or 64 hex).
func Commit(projectID int64, raw json.RawMessage) (store.Commit, error) {
	var j commitJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Commit{}, fmt.Errorf("ingest: unreadable commit: %w", err)
	}
	if j.ID == "" {
		return store.Commit{}, fmt.Errorf("ingest: commit without id")
	}
	authored, err := j.AuthoredDate.Parse()
	if err != nil {
		return store.Commit{}, fmt.Errorf("ingest: commit %s: %w", shorten(j.ID, 12), err)
	}
	committed, err := j.CommittedDate.Parse()
	if err != nil {
		return store.Commit{}, fmt.Errorf("ingest: commit %s: %w", shorten(j.ID, 12), err)
	}
	return store.Commit{ProjectGitLabID: projectID, SHA: j.ID, Title: j.Title, AuthorName: j.AuthorName, AuthorEmail: j.AuthorEmail,
		AuthoredAt: authored, CommittedAt: committed, ParentIDs: j.ParentIDs, WebURL: j.WebURL, Raw: raw}, nil
}

type projectJSON struct {
	ID                     int64  `json:"id"`
	Name                   string `json:"name"`
	PathWithNamespace      string `json:"path_with_namespace"`
	WebURL                 string `json:"web_url"`
	DefaultBranch          string `json:"default_branch"`
	Visibility             string `json:"visibility"`
	Archived               bool   `json:"archived"`
	RepositoryObjectFormat string `json:"repository_object_format"` // 16.9
	LastActivityAt         Time   `json:"last_activity_at"`
	JobsEnabled            *bool  `json:"jobs_enabled"` // before builds_access_level
	BuildsAccessLevel      string `json:"builds_access_level"`
	Namespace              struct {
		FullPath string `json:"full_path"`
	} `json:"namespace"`
}

// Project reads a project from an API item.
func Project(raw json.RawMessage) (store.Project, error) {
	var j projectJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Project{}, fmt.Errorf("ingest: unreadable project: %w", err)
	}
	if j.ID == 0 {
		return store.Project{}, fmt.Errorf("ingest: project without id")
	}
	active, err := j.LastActivityAt.Parse()
	if err != nil {
		return store.Project{}, fmt.Errorf("ingest: project %d: %w", j.ID, err)
	}
	ci := j.BuildsAccessLevel != "disabled"
	if j.JobsEnabled != nil && j.BuildsAccessLevel == "" {
		ci = *j.JobsEnabled
	}
	of := j.RepositoryObjectFormat
	if of == "" {
		of = "sha1" // before 16.9 every repository is SHA-1
	}
	return store.Project{GitLabID: j.ID, Name: j.Name, PathWithNamespace: j.PathWithNamespace, NamespacePath: j.Namespace.FullPath,
		WebURL: j.WebURL, DefaultBranch: j.DefaultBranch, Visibility: j.Visibility, Archived: j.Archived, ObjectFormat: of,
		CIEnabled: ci, LastActivityAt: active, Raw: raw}, nil
}

type groupJSON struct {
	ID         int64  `json:"id"`
	ParentID   *int64 `json:"parent_id"`
	FullPath   string `json:"full_path"`
	Name       string `json:"name"`
	WebURL     string `json:"web_url"`
	Visibility string `json:"visibility"`
}

// Group reads a group from an API item.
func Group(raw json.RawMessage) (store.Group, error) {
	var g groupJSON
	if err := json.Unmarshal(raw, &g); err != nil {
		return store.Group{}, fmt.Errorf("ingest: unreadable group: %w", err)
	}
	if g.ID == 0 {
		return store.Group{}, fmt.Errorf("ingest: group without id")
	}
	return store.Group{GitLabID: g.ID, ParentGitLabID: g.ParentID, FullPath: g.FullPath, Name: g.Name, WebURL: g.WebURL,
		Visibility: g.Visibility}, nil
}
