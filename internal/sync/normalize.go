package sync

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// The JSON shapes below read what every supported GitLab version sends;
// renamed fields are read under both names (draft / work_in_progress,
// merge_user / merged_by).

type userRef struct {
	Username string `json:"username"`
}

func usernames(us []userRef) []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		out = append(out, u.Username)
	}
	return out
}

func name(u *userRef) string {
	if u == nil {
		return ""
	}
	return u.Username
}

// labels reads label names, whether GitLab sent strings or objects
// (with_labels_details).
type labels []string

func (l *labels) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err == nil {
		*l = names
		return nil
	}
	var objs []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(b, &objs); err != nil {
		return err
	}
	*l = make([]string, 0, len(objs))
	for _, o := range objs {
		*l = append(*l, o.Name)
	}
	return nil
}

type mrJSON struct {
	ID                  int64      `json:"id"`
	IID                 int64      `json:"iid"`
	ProjectID           int64      `json:"project_id"`
	Title               string     `json:"title"`
	State               string     `json:"state"`
	Draft               *bool      `json:"draft"`
	WorkInProgress      bool       `json:"work_in_progress"`
	Author              *userRef   `json:"author"`
	Assignees           []userRef  `json:"assignees"`
	Reviewers           []userRef  `json:"reviewers"`
	Labels              labels     `json:"labels"`
	SourceBranch        string     `json:"source_branch"`
	TargetBranch        string     `json:"target_branch"`
	MergeStatus         string     `json:"merge_status"`
	DetailedMergeStatus string     `json:"detailed_merge_status"`
	MergeUser           *userRef   `json:"merge_user"`
	MergedBy            *userRef   `json:"merged_by"`
	SHA                 string     `json:"sha"`
	WebURL              string     `json:"web_url"`
	MergedAt            *time.Time `json:"merged_at"`
	ClosedAt            *time.Time `json:"closed_at"`
	CreatedAt           *time.Time `json:"created_at"`
	UpdatedAt           *time.Time `json:"updated_at"`
}

// normMR turns a REST merge request into the store's form.
func normMR(integrationID int64, raw json.RawMessage) (store.MergeRequest, error) {
	var j mrJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.MergeRequest{}, fmt.Errorf("sync: unreadable merge request: %w", err)
	}
	if j.ID == 0 || j.UpdatedAt == nil {
		return store.MergeRequest{}, fmt.Errorf("sync: merge request without id or updated_at")
	}
	draft := j.WorkInProgress
	if j.Draft != nil {
		draft = *j.Draft
	}
	mu := j.MergeUser
	if mu == nil {
		mu = j.MergedBy
	}
	return store.MergeRequest{IntegrationID: integrationID, ProjectGitLabID: j.ProjectID, GitLabID: j.ID, IID: j.IID, Title: j.Title,
		State: j.State, Draft: draft, Author: name(j.Author), Assignees: usernames(j.Assignees), Reviewers: usernames(j.Reviewers),
		Labels: j.Labels, SourceBranch: j.SourceBranch, TargetBranch: j.TargetBranch, MergeStatus: j.MergeStatus,
		DetailedMergeStatus: j.DetailedMergeStatus, MergeUser: name(mu), SHA: j.SHA, WebURL: j.WebURL, MergedAt: j.MergedAt,
		ClosedAt: j.ClosedAt, CreatedAt: j.CreatedAt, UpdatedAt: *j.UpdatedAt, Raw: raw}, nil
}

type issueJSON struct {
	ID           int64      `json:"id"`
	IID          int64      `json:"iid"`
	ProjectID    int64      `json:"project_id"`
	Title        string     `json:"title"`
	State        string     `json:"state"`
	Confidential bool       `json:"confidential"`
	Author       *userRef   `json:"author"`
	Assignees    []userRef  `json:"assignees"`
	Labels       labels     `json:"labels"`
	WebURL       string     `json:"web_url"`
	ClosedAt     *time.Time `json:"closed_at"`
	CreatedAt    *time.Time `json:"created_at"`
	UpdatedAt    *time.Time `json:"updated_at"`
}

func normIssue(integrationID int64, raw json.RawMessage) (store.Issue, error) {
	var j issueJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Issue{}, fmt.Errorf("sync: unreadable issue: %w", err)
	}
	if j.ID == 0 || j.UpdatedAt == nil {
		return store.Issue{}, fmt.Errorf("sync: issue without id or updated_at")
	}
	return store.Issue{IntegrationID: integrationID, ProjectGitLabID: j.ProjectID, GitLabID: j.ID, IID: j.IID, Title: j.Title, State: j.State,
		Confidential: j.Confidential, Author: name(j.Author), Assignees: usernames(j.Assignees), Labels: j.Labels, WebURL: j.WebURL,
		ClosedAt: j.ClosedAt, CreatedAt: j.CreatedAt, UpdatedAt: *j.UpdatedAt, Raw: raw}, nil
}

type pipelineJSON struct {
	ID         int64      `json:"id"`
	IID        *int64     `json:"iid"`
	ProjectID  int64      `json:"project_id"`
	Status     string     `json:"status"`
	Ref        string     `json:"ref"`
	SHA        string     `json:"sha"`
	Source     string     `json:"source"`
	Duration   *float64   `json:"duration"`
	WebURL     string     `json:"web_url"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	CreatedAt  *time.Time `json:"created_at"`
	UpdatedAt  *time.Time `json:"updated_at"`
}

// normPipeline reads a pipeline from the list endpoint (which has no
// duration, started_at or finished_at; webhooks and the single-pipeline
// endpoint do).
func normPipeline(integrationID, projectID int64, raw json.RawMessage) (store.Pipeline, error) {
	var j pipelineJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Pipeline{}, fmt.Errorf("sync: unreadable pipeline: %w", err)
	}
	if j.ID == 0 || j.UpdatedAt == nil {
		return store.Pipeline{}, fmt.Errorf("sync: pipeline without id or updated_at")
	}
	if j.ProjectID == 0 {
		j.ProjectID = projectID
	}
	var dur *int64
	if j.Duration != nil {
		d := int64(*j.Duration)
		dur = &d
	} else if j.StartedAt != nil && j.FinishedAt != nil {
		d := int64(j.FinishedAt.Sub(*j.StartedAt) / time.Second)
		dur = &d
	}
	return store.Pipeline{IntegrationID: integrationID, ProjectGitLabID: j.ProjectID, GitLabID: j.ID, IID: j.IID, Status: j.Status, Ref: j.Ref,
		SHA: j.SHA, Source: j.Source, DurationS: dur, WebURL: j.WebURL, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
		CreatedAt: j.CreatedAt, UpdatedAt: *j.UpdatedAt, Raw: raw}, nil
}

type eventJSON struct {
	ID             int64     `json:"id"`
	ProjectID      int64     `json:"project_id"`
	ActionName     string    `json:"action_name"`
	AuthorUsername string    `json:"author_username"`
	Author         *userRef  `json:"author"`
	CreatedAt      time.Time `json:"created_at"`
	PushData       *struct {
		CommitCount int64   `json:"commit_count"`
		Action      string  `json:"action"`
		RefType     string  `json:"ref_type"`
		CommitFrom  *string `json:"commit_from"`
		CommitTo    *string `json:"commit_to"`
		Ref         string  `json:"ref"`
		CommitTitle *string `json:"commit_title"`
	} `json:"push_data"`
}

// normPushEvent reads a push from a project event; ok is false for events
// that are not pushes.
func normPushEvent(integrationID, projectID int64, raw json.RawMessage) (store.Push, time.Time, bool, error) {
	var j eventJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Push{}, time.Time{}, false, fmt.Errorf("sync: unreadable event: %w", err)
	}
	if j.PushData == nil {
		return store.Push{}, j.CreatedAt, false, nil
	}
	d := j.PushData
	author := j.AuthorUsername
	if author == "" {
		author = name(j.Author)
	}
	p := store.Push{IntegrationID: integrationID, ProjectGitLabID: projectID, Ref: d.Ref, RefType: d.RefType, Action: d.Action,
		Author: author, CommitCount: d.CommitCount, PushedAt: j.CreatedAt, Raw: raw}
	if d.CommitFrom != nil {
		p.BeforeSHA = *d.CommitFrom
	}
	if d.CommitTo != nil {
		p.AfterSHA = *d.CommitTo
	}
	if d.CommitTitle != nil {
		p.CommitTitle = *d.CommitTitle
	}
	return p, j.CreatedAt, true, nil
}

type commitJSON struct {
	ID             string     `json:"id"`
	Title          string     `json:"title"`
	AuthorName     string     `json:"author_name"`
	AuthorEmail    string     `json:"author_email"`
	AuthoredDate   *time.Time `json:"authored_date"`
	CommittedDate  *time.Time `json:"committed_date"`
	ParentIDs      []string   `json:"parent_ids"`
	WebURL         string     `json:"web_url"`
	CreatedAt      *time.Time `json:"created_at"`
	CommitterEmail string     `json:"committer_email"`
}

// normCommit reads a commit; its id is kept whole (40 or 64 hex).
func normCommit(projectID int64, raw json.RawMessage) (store.Commit, error) {
	var j commitJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Commit{}, fmt.Errorf("sync: unreadable commit: %w", err)
	}
	if j.ID == "" {
		return store.Commit{}, fmt.Errorf("sync: commit without id")
	}
	return store.Commit{ProjectGitLabID: projectID, SHA: j.ID, Title: j.Title, AuthorName: j.AuthorName, AuthorEmail: j.AuthorEmail,
		AuthoredAt: j.AuthoredDate, CommittedAt: j.CommittedDate, ParentIDs: j.ParentIDs, WebURL: j.WebURL, Raw: raw}, nil
}

type projectJSON struct {
	ID                     int64      `json:"id"`
	Name                   string     `json:"name"`
	PathWithNamespace      string     `json:"path_with_namespace"`
	WebURL                 string     `json:"web_url"`
	DefaultBranch          string     `json:"default_branch"`
	Visibility             string     `json:"visibility"`
	Archived               bool       `json:"archived"`
	RepositoryObjectFormat string     `json:"repository_object_format"`
	LastActivityAt         *time.Time `json:"last_activity_at"`
	JobsEnabled            *bool      `json:"jobs_enabled"`
	BuildsAccessLevel      string     `json:"builds_access_level"`
	Namespace              struct {
		FullPath string `json:"full_path"`
	} `json:"namespace"`
}

func normProject(raw json.RawMessage) (store.Project, error) {
	var j projectJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Project{}, fmt.Errorf("sync: unreadable project: %w", err)
	}
	if j.ID == 0 {
		return store.Project{}, fmt.Errorf("sync: project without id")
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
		CIEnabled: ci, LastActivityAt: j.LastActivityAt, Raw: raw}, nil
}

type groupJSON struct {
	ID         int64  `json:"id"`
	ParentID   *int64 `json:"parent_id"`
	FullPath   string `json:"full_path"`
	Name       string `json:"name"`
	WebURL     string `json:"web_url"`
	Visibility string `json:"visibility"`
}
