package gitlab

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"
)

// The calls other packages make to GitLab's REST API, in labsync's own
// types, so that this package is the only one that imports client-go.
// Errors are client-go's, for ClassifyError.

// ServerVersion is what GET /version answers (it needs a token).
type ServerVersion struct {
	Version  string
	Revision string
}

// ServerVersion reads GET /version.
func (c *Client) ServerVersion(ctx context.Context) (ServerVersion, error) {
	v, _, err := c.api.Version.GetVersion(gl.WithContext(ctx))
	if err != nil {
		return ServerVersion{}, err
	}
	return ServerVersion{Version: v.Version, Revision: v.Revision}, nil
}

// Metadata is what GET /metadata answers (15.2; enterprise from 15.6).
type Metadata struct {
	Version    string
	Revision   string
	Enterprise bool
}

// Metadata reads GET /metadata; before 15.2 it fails (404).
func (c *Client) Metadata(ctx context.Context) (Metadata, error) {
	md, _, err := c.api.Metadata.GetMetadata(gl.WithContext(ctx))
	if err != nil {
		return Metadata{}, err
	}
	return Metadata{Version: md.Version, Revision: md.Revision, Enterprise: md.Enterprise}, nil
}

// User is the account a credential acts as (GET /user).
type User struct {
	ID       int64
	Username string
	Name     string
	State    string
	IsAdmin  bool // only an administrator's own /user says true
	Bot      bool
}

// CurrentUser reads GET /user.
func (c *Client) CurrentUser(ctx context.Context) (User, error) {
	u, _, err := c.api.Users.CurrentUser(gl.WithContext(ctx))
	if err != nil {
		return User{}, err
	}
	return User{ID: u.ID, Username: u.Username, Name: u.Name, State: u.State, IsAdmin: u.IsAdmin, Bot: u.Bot}, nil
}

// AccessToken is what GET /personal_access_tokens/self (15.5) says of the
// token that asks: never the token itself.
type AccessToken struct {
	Name    string
	Scopes  []string
	Active  bool
	Revoked bool
	// ExpiresAt is the day it expires (at 00:00 UTC), nil for never.
	ExpiresAt *time.Time
}

// AccessTokenSelf reads GET /personal_access_tokens/self (15.5); OAuth
// tokens and older GitLabs are refused.
func (c *Client) AccessTokenSelf(ctx context.Context) (AccessToken, error) {
	pat, _, err := c.api.PersonalAccessTokens.GetSinglePersonalAccessToken(gl.WithContext(ctx))
	if err != nil {
		return AccessToken{}, err
	}
	out := AccessToken{Name: pat.Name, Scopes: pat.Scopes, Active: pat.Active, Revoked: pat.Revoked}
	if pat.ExpiresAt != nil {
		t := time.Time(*pat.ExpiresAt)
		out.ExpiresAt = &t
	}
	return out, nil
}

// ReporterAccess is GitLab's Reporter access level (min_access_level=20).
const ReporterAccess = 20

// ProjectFilter narrows GET /projects.
type ProjectFilter struct {
	Membership bool
	// MinAccessLevel is a GitLab access level (ReporterAccess), 0 for none.
	MinAccessLevel int
}

// ProjectsPage is the first page of one project per page: enough to count.
type ProjectsPage struct {
	// Listed is how many projects the page holds (0 or 1).
	Listed int64
	// More is true when GitLab points at a next page.
	More bool
	// Total is X-Total, valid when HasTotal (GitLab leaves it out above
	// 10,000 rows).
	Total    int64
	HasTotal bool
}

// FirstProjectsPage reads GET /projects?per_page=1&simple=true with f: one
// small request that counts the projects the credential sees.
func (c *Client) FirstProjectsPage(ctx context.Context, f ProjectFilter) (ProjectsPage, error) {
	opt := &gl.ListProjectsOptions{ListOptions: gl.ListOptions{PerPage: 1}, Simple: gl.Ptr(true)}
	if f.Membership {
		opt.Membership = gl.Ptr(true)
	}
	if f.MinAccessLevel > 0 {
		opt.MinAccessLevel = gl.Ptr(gl.AccessLevelValue(f.MinAccessLevel))
	}
	ps, resp, err := c.api.Projects.ListProjects(opt, gl.WithContext(ctx))
	if err != nil {
		return ProjectsPage{}, err
	}
	out := ProjectsPage{Listed: int64(len(ps))}
	if resp != nil {
		out.More = resp.NextPage > 0 || resp.NextLink != ""
		if resp.Header.Get("X-Total") != "" {
			out.Total, out.HasTotal = resp.TotalItems, true
		}
	}
	return out, nil
}

// HookSpec is a project hook as labsync registers it: every event labsync
// reads (push, tag push, merge request, issue, confidential issue,
// pipeline), TLS verification on.
type HookSpec struct {
	URL   string
	Token string // X-Gitlab-Token
	// SigningToken signs deliveries (19.0, Standard Webhooks); "" for none.
	SigningToken string
}

// ProjectHook is a project hook as GitLab stored it (never its tokens).
type ProjectHook struct {
	ID                  int64
	URL                 string
	PushEvents          bool
	IssuesEvents        bool
	MergeRequestsEvents bool
	PipelineEvents      bool
}

func projectHook(h *gl.ProjectHook) ProjectHook {
	return ProjectHook{ID: h.ID, URL: h.URL, PushEvents: h.PushEvents, IssuesEvents: h.IssuesEvents,
		MergeRequestsEvents: h.MergeRequestsEvents, PipelineEvents: h.PipelineEvents}
}

// ProjectHooks lists a project's hooks (GET /projects/:id/hooks).
func (c *Client) ProjectHooks(ctx context.Context, projectID int64) ([]ProjectHook, error) {
	hs, _, err := c.api.Projects.ListProjectHooks(projectID, nil, gl.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	out := make([]ProjectHook, 0, len(hs))
	for _, h := range hs {
		out = append(out, projectHook(h))
	}
	return out, nil
}

// ProjectHook reads one hook (GET /projects/:id/hooks/:hook_id).
func (c *Client) ProjectHook(ctx context.Context, projectID, hookID int64) (ProjectHook, error) {
	h, _, err := c.api.Projects.GetProjectHook(projectID, hookID, gl.WithContext(ctx))
	if err != nil {
		return ProjectHook{}, err
	}
	return projectHook(h), nil
}

// AddProjectHook registers s on a project (POST /projects/:id/hooks); the
// read-only guard refuses it unless the connection allows hook
// registration.
func (c *Client) AddProjectHook(ctx context.Context, projectID int64, s HookSpec) (ProjectHook, error) {
	opt := &gl.AddProjectHookOptions{URL: gl.Ptr(s.URL), Token: gl.Ptr(s.Token), EnableSSLVerification: gl.Ptr(true),
		PushEvents: gl.Ptr(true), TagPushEvents: gl.Ptr(true), MergeRequestsEvents: gl.Ptr(true),
		IssuesEvents: gl.Ptr(true), ConfidentialIssuesEvents: gl.Ptr(true), PipelineEvents: gl.Ptr(true),
		// Issue 20: comments, jobs, deployments (13.5) and releases. A
		// GitLab without one of these triggers ignores the parameter.
		NoteEvents: gl.Ptr(true), ConfidentialNoteEvents: gl.Ptr(true), JobEvents: gl.Ptr(true), DeploymentEvents: gl.Ptr(true),
		ReleasesEvents: gl.Ptr(true)}
	if s.SigningToken != "" {
		opt.SigningToken = gl.Ptr(s.SigningToken)
	}
	h, _, err := c.api.Projects.AddProjectHook(projectID, opt, gl.WithContext(ctx))
	if err != nil {
		return ProjectHook{}, err
	}
	return projectHook(h), nil
}

// EditProjectHook makes an existing hook s (PUT /projects/:id/hooks/:hook_id);
// guarded as AddProjectHook.
func (c *Client) EditProjectHook(ctx context.Context, projectID, hookID int64, s HookSpec) error {
	opt := &gl.EditProjectHookOptions{URL: gl.Ptr(s.URL), Token: gl.Ptr(s.Token), EnableSSLVerification: gl.Ptr(true),
		PushEvents: gl.Ptr(true), TagPushEvents: gl.Ptr(true), MergeRequestsEvents: gl.Ptr(true),
		IssuesEvents: gl.Ptr(true), ConfidentialIssuesEvents: gl.Ptr(true), PipelineEvents: gl.Ptr(true),
		// Issue 20: comments, jobs, deployments (13.5) and releases. A
		// GitLab without one of these triggers ignores the parameter.
		NoteEvents: gl.Ptr(true), ConfidentialNoteEvents: gl.Ptr(true), JobEvents: gl.Ptr(true), DeploymentEvents: gl.Ptr(true),
		ReleasesEvents: gl.Ptr(true)}
	if s.SigningToken != "" {
		opt.SigningToken = gl.Ptr(s.SigningToken)
	}
	_, _, err := c.api.Projects.EditProjectHook(projectID, hookID, opt, gl.WithContext(ctx))
	return err
}

// DeleteProjectHook removes a hook (DELETE /projects/:id/hooks/:hook_id);
// gone is true when GitLab answered 404 (the hook or project is gone), in
// which case err is nil.
func (c *Client) DeleteProjectHook(ctx context.Context, projectID, hookID int64) (gone bool, err error) {
	resp, err := c.api.Projects.DeleteProjectHook(projectID, hookID, gl.WithContext(ctx))
	if err != nil && resp != nil && resp.StatusCode == http.StatusNotFound {
		return true, nil
	}
	return false, err
}

// Answer is what GitLab answered a GET: its status and header (also when
// the request failed, if GitLab answered at all) and the pagination it
// sent.
type Answer struct {
	// Status is 0 when no answer came.
	Status int
	Header http.Header
	// NextPage is X-Next-Page (offset pagination), 0 on the last page.
	NextPage int64
	// NextLink is the Link rel="next" address (keyset pagination).
	NextLink string
	// Total is X-Total, valid when HasTotal.
	Total    int64
	HasTotal bool
}

// APIURL is the address of path under the API root (/api/v4/), with query
// q.
func (c *Client) APIURL(path string, q url.Values) *url.URL {
	u := c.api.BaseURL()
	base := strings.TrimSuffix(u.Path, "/")
	u.Path, u.RawPath = base+"/"+path, ""
	if strings.Contains(path, "%2F") {
		u.RawPath = base + "/" + path
	}
	u.RawQuery = q.Encode()
	return u
}

// Get sends GET u (an address under the API root: APIURL, or a next link
// GitLab gave) through the client and copies the body to w.
func (c *Client) Get(ctx context.Context, u *url.URL, w io.Writer) (Answer, error) {
	req, err := c.api.NewRequestToURL(http.MethodGet, u, nil, []gl.RequestOptionFunc{gl.WithContext(ctx)})
	if err != nil {
		return Answer{}, err
	}
	resp, err := c.api.Do(req, w)
	var a Answer
	if resp != nil && resp.Response != nil {
		a = Answer{Status: resp.StatusCode, Header: resp.Header, NextPage: resp.NextPage, NextLink: resp.NextLink}
		if resp.Header.Get("X-Total") != "" {
			a.Total, a.HasTotal = resp.TotalItems, true
		}
	}
	return a, err
}
