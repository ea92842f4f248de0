package sandbox

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// opt is a field that exists only in some versions: absent when unset
// (omitzero), otherwise encoded as its value (which may itself be null).
type opt[T any] struct {
	ok bool
	v  T
}

func some[T any](v T) opt[T]                  { return opt[T]{true, v} }
func when[T any](cond bool, v T) opt[T]       { return opt[T]{cond, v} }
func (o opt[T]) IsZero() bool                 { return !o.ok }
func (o opt[T]) MarshalJSON() ([]byte, error) { return json.Marshal(o.v) }

// gtime encodes like GitLab's API: ISO 8601 UTC with milliseconds; zero is null.
type gtime time.Time

func (t gtime) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + tt.UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

// hookTime is the format GitLab uses inside webhook object_attributes.
func hookTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

type userBasic struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	Name      string    `json:"name"`
	State     string    `json:"state"`
	Locked    opt[bool] `json:"locked,omitzero"`
	AvatarURL string    `json:"avatar_url"`
	WebURL    string    `json:"web_url"`
}

func (s *Sandbox) userBasic(u *user) *userBasic {
	if u == nil {
		return nil
	}
	return &userBasic{ID: u.id, Username: u.username, Name: u.name, State: "active", Locked: when(s.ver.atLeast(15, 6), false),
		AvatarURL: "https://www.gravatar.com/avatar/" + fakeSHA(false, u.email)[:32] + "?s=80&d=identicon", WebURL: s.baseURL + "/" + u.username}
}

func (s *Sandbox) userByIDBasic(id int64) *userBasic { return s.userBasic(s.userByID(id)) }

type namespaceJSON struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Path      string  `json:"path"`
	Kind      string  `json:"kind"`
	FullPath  string  `json:"full_path"`
	ParentID  *int64  `json:"parent_id"`
	AvatarURL *string `json:"avatar_url"`
	WebURL    string  `json:"web_url"`
}

type accessJSON struct {
	AccessLevel       int `json:"access_level"`
	NotificationLevel int `json:"notification_level"`
}

type permissionsJSON struct {
	ProjectAccess *accessJSON `json:"project_access"`
	GroupAccess   *accessJSON `json:"group_access"`
}

type projectJSON struct {
	ID                       int64             `json:"id"`
	Description              string            `json:"description"`
	Name                     string            `json:"name"`
	NameWithNamespace        string            `json:"name_with_namespace"`
	Path                     string            `json:"path"`
	PathWithNamespace        string            `json:"path_with_namespace"`
	CreatedAt                gtime             `json:"created_at"`
	UpdatedAt                opt[gtime]        `json:"updated_at,omitzero"`
	DefaultBranch            string            `json:"default_branch"`
	TagList                  opt[[]string]     `json:"tag_list,omitzero"`
	Topics                   opt[[]string]     `json:"topics,omitzero"`
	SSHURLToRepo             string            `json:"ssh_url_to_repo"`
	HTTPURLToRepo            string            `json:"http_url_to_repo"`
	WebURL                   string            `json:"web_url"`
	ReadmeURL                string            `json:"readme_url"`
	AvatarURL                *string           `json:"avatar_url"`
	ForksCount               int               `json:"forks_count"`
	StarCount                int               `json:"star_count"`
	LastActivityAt           gtime             `json:"last_activity_at"`
	Namespace                namespaceJSON     `json:"namespace"`
	RepositoryObjectFormat   opt[string]       `json:"repository_object_format,omitzero"`
	Links                    map[string]string `json:"_links"`
	EmptyRepo                bool              `json:"empty_repo"`
	Archived                 bool              `json:"archived"`
	Visibility               string            `json:"visibility"`
	Owner                    *userBasic        `json:"owner,omitempty"`
	IssuesEnabled            bool              `json:"issues_enabled"`
	MergeRequestsEnabled     bool              `json:"merge_requests_enabled"`
	WikiEnabled              bool              `json:"wiki_enabled"`
	JobsEnabled              bool              `json:"jobs_enabled"`
	SnippetsEnabled          bool              `json:"snippets_enabled"`
	IssuesAccessLevel        opt[string]       `json:"issues_access_level,omitzero"`
	RepositoryAccessLevel    opt[string]       `json:"repository_access_level,omitzero"`
	MergeRequestsAccessLevel opt[string]       `json:"merge_requests_access_level,omitzero"`
	BuildsAccessLevel        opt[string]       `json:"builds_access_level,omitzero"`
	CreatorID                int64             `json:"creator_id"`
	OpenIssuesCount          int               `json:"open_issues_count"`
	Permissions              *permissionsJSON  `json:"permissions,omitempty"`
	// Where deletion is delayed (EE's adjourned deletion, every tier on
	// GitLab.com and from 18.0): the day the project was marked, under both
	// names GitLab exposes, null when it is not marked.
	MarkedForDeletionAt opt[*string] `json:"marked_for_deletion_at,omitzero"`
	MarkedForDeletionOn opt[*string] `json:"marked_for_deletion_on,omitzero"`
}

func enabled(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func (s *Sandbox) renderProject(p *project, u *user) *projectJSON {
	web := s.baseURL + "/" + p.fullPath()
	api := fmt.Sprintf("%s/api/v4/projects/%d", s.baseURL, p.id)
	ns := namespaceJSON{ID: 1, Name: "Administrator", Path: "root", Kind: "user", FullPath: "root", WebURL: s.baseURL + "/root"}
	if g := p.group; g != nil {
		ns = namespaceJSON{ID: 1000 + g.id, Name: g.name, Path: g.path, Kind: "group", FullPath: g.fullPath, WebURL: s.baseURL + "/groups/" + g.fullPath}
		if g.parent != nil {
			pid := 1000 + g.parent.id
			ns.ParentID = &pid
		}
	}
	open := 0
	for _, is := range p.issues {
		if is.state == stateOpened {
			open++
		}
	}
	topics := []string{}
	out := &projectJSON{
		ID: p.id, Description: p.description, Name: p.name, NameWithNamespace: p.fullName(), Path: p.path, PathWithNamespace: p.fullPath(),
		CreatedAt: gtime(p.created), UpdatedAt: when(s.ver.atLeast(17, 0), gtime(p.updated)), DefaultBranch: p.defBranch,
		TagList: when(!s.ver.atLeast(16, 0), topics), Topics: when(s.ver.atLeast(14, 0), topics),
		SSHURLToRepo: "git@" + hostOf(s.baseURL) + ":" + p.fullPath() + ".git", HTTPURLToRepo: web + ".git", WebURL: web,
		ReadmeURL: web + "/-/blob/" + p.defBranch + "/README.md", LastActivityAt: gtime(p.lastAct), Namespace: ns,
		Links: map[string]string{"self": api, "issues": api + "/issues", "merge_requests": api + "/merge_requests", "repo_branches": api + "/repository/branches",
			"labels": api + "/labels", "events": api + "/events", "members": api + "/members"},
		EmptyRepo: len(p.commits) == 0, Archived: p.archived, Visibility: p.vis,
		IssuesEnabled: true, MergeRequestsEnabled: true, WikiEnabled: true, JobsEnabled: p.ciEnabled, SnippetsEnabled: true,
		IssuesAccessLevel: when(s.ver.atLeast(12, 10), "enabled"), RepositoryAccessLevel: when(s.ver.atLeast(12, 10), "enabled"),
		MergeRequestsAccessLevel: when(s.ver.atLeast(12, 10), "enabled"), BuildsAccessLevel: when(s.ver.atLeast(12, 10), enabled(p.ciEnabled)),
		CreatorID: p.creatorID, OpenIssuesCount: open,
	}
	if s.ver.hasObjectFormat() {
		f := "sha1"
		if p.sha256 {
			f = "sha256"
		}
		out.RepositoryObjectFormat = some(f)
	}
	if p.group == nil {
		out.Owner = s.userBasic(s.users[0])
	}
	if s.delayedDeletion() {
		var day *string
		if !p.markedAt.IsZero() {
			d := p.markedAt.UTC().Format("2006-01-02")
			day = &d
		}
		out.MarkedForDeletionAt, out.MarkedForDeletionOn = some(day), some(day)
	}
	if u != nil {
		perm := &permissionsJSON{}
		if l := p.members[u.id]; l > 0 {
			perm.ProjectAccess = &accessJSON{l, 3}
		}
		if l := groupAccess(p.group, u.id); l > 0 {
			perm.GroupAccess = &accessJSON{l, 3}
		}
		out.Permissions = perm
	}
	return out
}

func hostOf(base string) string {
	if i := len("https://"); len(base) > i && base[:i] == "https://" {
		base = base[i:]
	} else if len(base) > 7 {
		base = base[7:]
	}
	for i := 0; i < len(base); i++ {
		if base[i] == ':' {
			return base[:i]
		}
	}
	return base
}

type groupJSON struct {
	ID                   int64   `json:"id"`
	WebURL               string  `json:"web_url"`
	Name                 string  `json:"name"`
	Path                 string  `json:"path"`
	Description          string  `json:"description"`
	Visibility           string  `json:"visibility"`
	ShareWithGroupLock   bool    `json:"share_with_group_lock"`
	RequireTwoFactor     bool    `json:"require_two_factor_authentication"`
	ProjectCreationLevel string  `json:"project_creation_level"`
	SubgroupCreation     string  `json:"subgroup_creation_level"`
	LFSEnabled           bool    `json:"lfs_enabled"`
	AvatarURL            *string `json:"avatar_url"`
	RequestAccessEnabled bool    `json:"request_access_enabled"`
	FullName             string  `json:"full_name"`
	FullPath             string  `json:"full_path"`
	CreatedAt            gtime   `json:"created_at"`
	ParentID             *int64  `json:"parent_id"`
}

func (s *Sandbox) renderGroup(g *group) *groupJSON {
	out := &groupJSON{ID: g.id, WebURL: s.baseURL + "/groups/" + g.fullPath, Name: g.name, Path: g.path, Visibility: g.vis,
		ProjectCreationLevel: "developer", SubgroupCreation: "maintainer", LFSEnabled: true, RequestAccessEnabled: true,
		FullName: g.fullName, FullPath: g.fullPath, CreatedAt: gtime(g.created)}
	if g.parent != nil {
		id := g.parent.id
		out.ParentID = &id
	}
	return out
}

type referencesJSON struct {
	Short    string `json:"short"`
	Relative string `json:"relative"`
	Full     string `json:"full"`
}

type timeStatsJSON struct {
	TimeEstimate        int     `json:"time_estimate"`
	TotalTimeSpent      int     `json:"total_time_spent"`
	HumanTimeEstimate   *string `json:"human_time_estimate"`
	HumanTotalTimeSpent *string `json:"human_total_time_spent"`
}

type taskStatusJSON struct {
	Count          int `json:"count"`
	CompletedCount int `json:"completed_count"`
}

type mrJSON struct {
	ID                          int64               `json:"id"`
	IID                         int64               `json:"iid"`
	ProjectID                   int64               `json:"project_id"`
	Title                       string              `json:"title"`
	Description                 string              `json:"description"`
	State                       string              `json:"state"`
	CreatedAt                   gtime               `json:"created_at"`
	UpdatedAt                   gtime               `json:"updated_at"`
	MergedBy                    *userBasic          `json:"merged_by"`
	MergeUser                   opt[*userBasic]     `json:"merge_user,omitzero"`
	MergedAt                    gtime               `json:"merged_at"`
	ClosedBy                    *userBasic          `json:"closed_by"`
	ClosedAt                    gtime               `json:"closed_at"`
	TargetBranch                string              `json:"target_branch"`
	SourceBranch                string              `json:"source_branch"`
	UserNotesCount              int                 `json:"user_notes_count"`
	Upvotes                     int                 `json:"upvotes"`
	Downvotes                   int                 `json:"downvotes"`
	Author                      *userBasic          `json:"author"`
	Assignees                   []*userBasic        `json:"assignees"`
	Assignee                    *userBasic          `json:"assignee"`
	Reviewers                   opt[[]*userBasic]   `json:"reviewers,omitzero"`
	SourceProjectID             int64               `json:"source_project_id"`
	TargetProjectID             int64               `json:"target_project_id"`
	Labels                      []string            `json:"labels"`
	Draft                       opt[bool]           `json:"draft,omitzero"`
	WorkInProgress              bool                `json:"work_in_progress"`
	Milestone                   any                 `json:"milestone"`
	MergeWhenPipelineSucceeds   bool                `json:"merge_when_pipeline_succeeds"`
	MergeStatus                 string              `json:"merge_status"`
	DetailedMergeStatus         opt[string]         `json:"detailed_merge_status,omitzero"`
	SHA                         string              `json:"sha"`
	MergeCommitSHA              *string             `json:"merge_commit_sha"`
	SquashCommitSHA             opt[*string]        `json:"squash_commit_sha,omitzero"`
	DiscussionLocked            *bool               `json:"discussion_locked"`
	ShouldRemoveSourceBranch    *bool               `json:"should_remove_source_branch"`
	ForceRemoveSourceBranch     bool                `json:"force_remove_source_branch"`
	Reference                   string              `json:"reference"`
	References                  opt[referencesJSON] `json:"references,omitzero"`
	WebURL                      string              `json:"web_url"`
	TimeStats                   timeStatsJSON       `json:"time_stats"`
	Squash                      bool                `json:"squash"`
	TaskCompletionStatus        taskStatusJSON      `json:"task_completion_status"`
	HasConflicts                bool                `json:"has_conflicts"`
	BlockingDiscussionsResolved bool                `json:"blocking_discussions_resolved"`
}

func (s *Sandbox) renderMR(m *mergeRequest) *mrJSON {
	p := m.p
	out := &mrJSON{ID: m.id, IID: m.iid, ProjectID: p.id, Title: m.title, Description: m.description, State: stateNames[m.state],
		CreatedAt: gtime(m.created), UpdatedAt: gtime(m.updated), MergedAt: gtime(m.merged), ClosedAt: gtime(m.closed),
		TargetBranch: p.defBranch, SourceBranch: m.source, Author: s.userByIDBasic(m.authorID), UserNotesCount: p.userNotesCount(m),
		SourceProjectID: p.id, TargetProjectID: p.id, Labels: m.labels, WorkInProgress: m.draft,
		MergeStatus: "can_be_merged", SHA: m.sha, Reference: fmt.Sprintf("!%d", m.iid),
		References: when(s.ver.hasReferences(), referencesJSON{fmt.Sprintf("!%d", m.iid), fmt.Sprintf("!%d", m.iid), fmt.Sprintf("%s!%d", p.fullPath(), m.iid)}),
		WebURL:     fmt.Sprintf("%s/%s/-/merge_requests/%d", s.baseURL, p.fullPath(), m.iid), BlockingDiscussionsResolved: true,
		// reviewers and squash_commit_sha came with 13.8 and 13.x; the
		// sandbox shows them from 12.10 as it always did, and not before.
		Reviewers: when(s.ver.atLeast(12, 10), []*userBasic{}), SquashCommitSHA: when[*string](s.ver.atLeast(12, 10), nil)}
	if m.labels == nil {
		out.Labels = []string{}
	}
	if a := s.userByIDBasic(m.assigneeID); a != nil {
		out.Assignee, out.Assignees = a, []*userBasic{a}
	} else {
		out.Assignees = []*userBasic{}
	}
	if m.state == stateMerged {
		out.MergedBy = s.userByIDBasic(m.mergeUserID)
		sha := m.mergeSHA
		out.MergeCommitSHA = &sha
		out.MergeStatus = "merged"
	}
	if m.state == stateClosed {
		out.ClosedBy = s.userByIDBasic(m.authorID)
	}
	if s.ver.hasDraft() {
		out.Draft = some(m.draft)
	}
	if s.ver.hasMergeUser() {
		out.MergeUser = some(out.MergedBy)
	}
	if s.ver.hasDetailedStatus() {
		d := "mergeable"
		switch {
		case m.state == stateMerged:
			d = "merged"
		case m.state == stateClosed:
			d = "not_open"
		case m.draft:
			d = "draft_status"
		}
		out.DetailedMergeStatus = some(d)
	}
	return out
}

type issueJSON struct {
	ID                   int64               `json:"id"`
	IID                  int64               `json:"iid"`
	ProjectID            int64               `json:"project_id"`
	Title                string              `json:"title"`
	Description          string              `json:"description"`
	State                string              `json:"state"`
	CreatedAt            gtime               `json:"created_at"`
	UpdatedAt            gtime               `json:"updated_at"`
	ClosedAt             gtime               `json:"closed_at"`
	ClosedBy             *userBasic          `json:"closed_by"`
	Labels               []string            `json:"labels"`
	Milestone            any                 `json:"milestone"`
	Assignees            []*userBasic        `json:"assignees"`
	Author               *userBasic          `json:"author"`
	Type                 opt[string]         `json:"type,omitzero"`
	Assignee             *userBasic          `json:"assignee"`
	UserNotesCount       int                 `json:"user_notes_count"`
	MergeRequestsCount   int                 `json:"merge_requests_count"`
	Upvotes              int                 `json:"upvotes"`
	Downvotes            int                 `json:"downvotes"`
	DueDate              *string             `json:"due_date"`
	Confidential         bool                `json:"confidential"`
	DiscussionLocked     *bool               `json:"discussion_locked"`
	IssueType            opt[string]         `json:"issue_type,omitzero"`
	WebURL               string              `json:"web_url"`
	TimeStats            timeStatsJSON       `json:"time_stats"`
	TaskCompletionStatus taskStatusJSON      `json:"task_completion_status"`
	HasTasks             bool                `json:"has_tasks"`
	MovedToID            *int64              `json:"moved_to_id"`
	References           opt[referencesJSON] `json:"references,omitzero"`
	Links                map[string]string   `json:"_links"`
}

func (s *Sandbox) renderIssue(is *issue) *issueJSON {
	p := is.p
	api := fmt.Sprintf("%s/api/v4/projects/%d", s.baseURL, p.id)
	out := &issueJSON{ID: is.id, IID: is.iid, ProjectID: p.id, Title: is.title, Description: is.description, State: stateNames[is.state],
		CreatedAt: gtime(is.created), UpdatedAt: gtime(is.updated), ClosedAt: gtime(is.closed), Labels: s.issueLabels(is),
		Author: s.userByIDBasic(is.authorID), Type: when(s.ver.hasIncidentType(), strings.ToUpper(s.issueType(is))), IssueType: when(s.ver.hasIncidentType(), s.issueType(is)),
		WebURL:     fmt.Sprintf("%s/%s/-/issues/%d", s.baseURL, p.fullPath(), is.iid),
		References: when(s.ver.hasReferences(), referencesJSON{fmt.Sprintf("#%d", is.iid), fmt.Sprintf("#%d", is.iid), fmt.Sprintf("%s#%d", p.fullPath(), is.iid)}),
		Links: map[string]string{"self": fmt.Sprintf("%s/issues/%d", api, is.iid), "notes": fmt.Sprintf("%s/issues/%d/notes", api, is.iid),
			"award_emoji": fmt.Sprintf("%s/issues/%d/award_emoji", api, is.iid), "project": api}}
	if out.Labels == nil {
		out.Labels = []string{}
	}
	if a := s.userByIDBasic(is.assigneeID); a != nil {
		out.Assignee, out.Assignees = a, []*userBasic{a}
	} else {
		out.Assignees = []*userBasic{}
	}
	if is.state == stateClosed {
		out.ClosedBy = s.userByIDBasic(is.authorID)
	}
	if is.movedTo != 0 {
		out.MovedToID = &is.movedTo
	}
	return out
}

type pipelineJSON struct {
	ID        int64       `json:"id"`
	IID       opt[int64]  `json:"iid,omitzero"`
	ProjectID int64       `json:"project_id"`
	SHA       string      `json:"sha"`
	Ref       string      `json:"ref"`
	Status    string      `json:"status"`
	Source    opt[string] `json:"source,omitzero"`
	CreatedAt gtime       `json:"created_at"`
	UpdatedAt gtime       `json:"updated_at"`
	WebURL    string      `json:"web_url"`
}

func (s *Sandbox) renderPipeline(pl *pipeline) *pipelineJSON {
	return &pipelineJSON{ID: pl.id, IID: when(s.ver.atLeast(14, 6), pl.iid), ProjectID: pl.p.id, SHA: pl.sha, Ref: pl.ref, Status: pl.status,
		Source: when(s.ver.atLeast(14, 3), pl.source), CreatedAt: gtime(pl.created), UpdatedAt: gtime(pl.updated),
		WebURL: fmt.Sprintf("%s/%s/-/pipelines/%d", s.baseURL, pl.p.fullPath(), pl.id)}
}

type commitJSON struct {
	ID             string                 `json:"id"`
	ShortID        string                 `json:"short_id"`
	CreatedAt      gtime                  `json:"created_at"`
	ParentIDs      []string               `json:"parent_ids"`
	Title          string                 `json:"title"`
	Message        string                 `json:"message"`
	AuthorName     string                 `json:"author_name"`
	AuthorEmail    string                 `json:"author_email"`
	AuthoredDate   gtime                  `json:"authored_date"`
	CommitterName  string                 `json:"committer_name"`
	CommitterEmail string                 `json:"committer_email"`
	CommittedDate  gtime                  `json:"committed_date"`
	Trailers       opt[map[string]string] `json:"trailers,omitzero"`
	WebURL         string                 `json:"web_url"`
}

func (s *Sandbox) renderCommit(p *project, c *commit) *commitJSON {
	if c == nil {
		return nil
	}
	parents := []string{}
	if c.parent != "" {
		parents = append(parents, c.parent)
	}
	if c.merged != "" {
		parents = append(parents, c.merged)
	}
	return &commitJSON{ID: c.sha, ShortID: c.sha[:8], CreatedAt: gtime(c.created), ParentIDs: parents, Title: c.title, Message: c.title + "\n",
		AuthorName: c.author.name, AuthorEmail: c.author.email, AuthoredDate: gtime(c.created), CommitterName: c.author.name,
		CommitterEmail: c.author.email, CommittedDate: gtime(c.created), Trailers: when(s.ver.atLeast(15, 0), map[string]string{}),
		WebURL: fmt.Sprintf("%s/%s/-/commit/%s", s.baseURL, p.fullPath(), c.sha)}
}

type branchJSON struct {
	Name               string      `json:"name"`
	Commit             *commitJSON `json:"commit"`
	Merged             bool        `json:"merged"`
	Protected          bool        `json:"protected"`
	DevelopersCanPush  bool        `json:"developers_can_push"`
	DevelopersCanMerge bool        `json:"developers_can_merge"`
	CanPush            bool        `json:"can_push"`
	Default            bool        `json:"default"`
	WebURL             string      `json:"web_url"`
}

func (s *Sandbox) renderBranch(p *project, b *branch) *branchJSON {
	return &branchJSON{Name: b.name, Commit: s.renderCommit(p, b.head), Merged: b.merged, Protected: b.protected, CanPush: true,
		Default: b.name == p.defBranch, WebURL: fmt.Sprintf("%s/%s/-/tree/%s", s.baseURL, p.fullPath(), b.name)}
}

type pushDataJSON struct {
	CommitCount int     `json:"commit_count"`
	Action      string  `json:"action"`
	RefType     string  `json:"ref_type"`
	CommitFrom  *string `json:"commit_from"`
	CommitTo    string  `json:"commit_to"`
	Ref         string  `json:"ref"`
	CommitTitle string  `json:"commit_title"`
	RefCount    *int    `json:"ref_count"`
}

type eventJSON struct {
	ID             int64         `json:"id"`
	ProjectID      int64         `json:"project_id"`
	ActionName     string        `json:"action_name"`
	TargetID       *int64        `json:"target_id"`
	TargetIID      *int64        `json:"target_iid"`
	TargetType     *string       `json:"target_type"`
	AuthorID       int64         `json:"author_id"`
	TargetTitle    *string       `json:"target_title"`
	CreatedAt      gtime         `json:"created_at"`
	Author         *userBasic    `json:"author"`
	PushData       *pushDataJSON `json:"push_data,omitempty"`
	Note           *noteJSON     `json:"note,omitempty"`
	AuthorUsername string        `json:"author_username"`
}

func (s *Sandbox) renderEvent(e *event) *eventJSON {
	out := &eventJSON{ID: e.id, ProjectID: e.p.id, ActionName: e.action, AuthorID: e.authorID, CreatedAt: gtime(e.created),
		Author: s.userByIDBasic(e.authorID)}
	if out.Author != nil {
		out.AuthorUsername = out.Author.Username
	}
	if e.targetType != "" {
		id, iid, tt, title := e.targetID, e.targetIID, e.targetType, e.title
		out.TargetID, out.TargetIID, out.TargetType, out.TargetTitle = &id, &iid, &tt, &title
	}
	if e.note != nil {
		out.Note = s.renderNote(e.note) // Entities::Event exposes the note with Entities::Note
	}
	if d := e.push; d != nil {
		pd := &pushDataJSON{CommitCount: d.count, Action: d.action, RefType: "branch", CommitTo: d.to, Ref: d.ref, CommitTitle: d.commitTitle}
		if d.from != "" {
			from := d.from
			pd.CommitFrom = &from
		}
		out.PushData = pd
	}
	return out
}
