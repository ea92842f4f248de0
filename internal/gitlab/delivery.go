package gitlab

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"
)

// The list endpoints of review and delivery data (issue 20): what the
// syncer asks, built by client-go's option types so that parameter names
// and encodings are the official client's. The syncer reads the pages raw
// (the normaliser takes GitLab's JSON as it came), so these return the
// request (path under /api/v4 and query), not decoded values.
//
// What each GitLab version offers, as checked in GitLab's source and docs
// (gitlabhq/gitlabhq unless said otherwise):
//
//   - Project events (GET /projects/:id/events, doc/api/events.md): `action`
//     and `target_type` filter, `after`/`before` are dates (YYYY-MM-DD,
//     exclusive), offset pages only. `action=commented` returns every user
//     comment, whatever its note class (the events' target_type is Note,
//     DiffNote or DiscussionNote, so a target_type filter is not used), with
//     the note itself in the event's `note` field (Entities::Note:
//     body, author, noteable_type/iid, system, resolvable, resolved…). System
//     notes create no event, and editing or resolving a note creates none:
//     events carry new comments only (edits and resolution arrive by Note Hook
//     webhooks). Events are the only bulk source of comments: notes have no
//     project-wide listing in REST v4.
//   - Approvals as events (`action=approved`): GitLab's Event model before
//     13.1 (app/models/event.rb, ACTIONS created…expired, 1–11) has no
//     approved action, and lib/api/events.rb accepts only Event.actions, so
//     such a GitLab answers 400; commit dcf3425d "Add approved type of
//     event" (26 May 2020, after 13.0 shipped) added it for 13.1, with
//     EventCreateService#approve_mr (MergeRequests::CreateApprovalEventService
//     records the event). Enterprise Edition names these events "approved"
//     from then; Community Edition, which has approvals from 13.2, rendered
//     their action_name as "opened" (gitlab#231259) until gitlab!42119 (for
//     gitlab#231306, September 2020) moved the name into the core model;
//     the listing is filtered on the stored action, so internal/ingest's
//     ApprovalEvent takes an "opened" merge request event in it as an
//     approval too. The release of gitlab!42119 was not found, so
//     ApprovalEventsFrom stays a conservative 13.4, an estimate (the sandbox
//     models the same). Before it
//     approvals are read per merge request
//     (GET …/merge_requests/:iid/approvals): nothing lists them in bulk. On
//     Community Edition before 13.2 approvals do not exist (they moved to the
//     Free tier in 13.2) and nothing is asked.
//   - MR commits (GET …/merge_requests/:iid/commits): per merge request only;
//     no project-wide listing exists in any version.
//   - Project jobs (GET /projects/:id/jobs, lib/api/ci/jobs.rb): newest first
//     by id; keyset pagination (`pagination=keyset`, id descending only —
//     order_by/sort are refused, gitlab#417667) from 15.9 (gitlab MR 107152,
//     documented by MR 109030). Retried jobs are listed too (include_retried
//     only concerns the pipeline jobs endpoint).
//   - Deployments (GET /projects/:id/deployments, doc/api/deployments.md):
//     `updated_after`/`updated_before` with `order_by=updated_at`; from 16.0
//     GitLab answers 400 to updated_after with another order
//     (DeploymentsFinder#validate!; 14.x raised it in development only,
//     gitlab#328500), so the syncer always sends order_by=updated_at&sort=asc
//     with it.
//   - Environments (GET /projects/:id/environments): `tier` from 13.10.
//   - Releases (GET /projects/:id/releases) and tags
//     (GET /projects/:id/repository/tags): plain offset listings.
//   - GraphQL (app/controllers/graphql_controller.rb, config/routes/api.rb):
//     /api/graphql is routed for GET and POST; GraphqlController refuses
//     mutations over GET (disallow_mutations_for_get) and queries longer than
//     10,000 characters (MAX_QUERY_SIZE). labsync only ever sends queries,
//     over GET, so the read-only guard needs no exception for GraphQL.
//     Project.pipelines (Types::Ci::PipelineType) has duration, startedAt,
//     finishedAt, createdAt and updatedAt from its first version (GitLab 11.x,
//     behind the `graphql` feature flag until 12.1, when GraphQL was enabled
//     by default): GraphQLPipelinesFrom is 12.1. queuedDuration came with
//     gitlab MR 59901 (13.12); it is asked from 14.0 on.
var (
	ApprovalEventsFrom   = [2]int{13, 4}
	ApprovalsFreeFrom    = [2]int{13, 2}
	JobsKeysetFrom       = [2]int{15, 9}
	EnvironmentTierFrom  = [2]int{13, 10}
	GraphQLPipelinesFrom = [2]int{12, 1}
	QueuedDurationFrom   = [2]int{14, 0}
)

// Has reports whether v is at least the release since (major, minor); an
// unknown version (0.0) is taken as recent.
func (v Version) Has(since [2]int) bool {
	return v.Major == 0 || v.AtLeast(since[0], since[1])
}

// Request is a GET of the REST API: a path under /api/v4 and its query.
type Request struct {
	Path  string
	Query url.Values
}

// request encodes opt as client-go does for a GET of path.
func (c *Client) request(path string, opt any) (Request, error) {
	req, err := c.api.NewRequest(http.MethodGet, path, opt, nil)
	if err != nil {
		return Request{}, fmt.Errorf("gitlab: unable to build the request for %s: %w", path, err)
	}
	q, err := url.ParseQuery(req.URL.RawQuery)
	if err != nil {
		return Request{}, err
	}
	return Request{Path: path, Query: q}, nil
}

// Page says which page of a listing to ask: PerPage items (at most 100),
// offset page Page (from 1), or the first keyset page when Keyset is set.
type Page struct {
	PerPage int64
	Page    int64
	Keyset  bool
}

func (p Page) list() gl.ListOptions {
	o := gl.ListOptions{PerPage: p.PerPage, Page: p.Page}
	if p.Keyset {
		o.Pagination, o.Page = "keyset", 0
	}
	return o
}

// EventFilter narrows a project's events.
type EventFilter struct {
	// Action is an event action ("pushed", "commented", "approved"), "" for all.
	Action string
	// TargetType is "note", "merge_request"…, "" for all.
	TargetType string
	// After keeps events of the days after this date (GitLab compares dates,
	// exclusive); nil for all.
	After *time.Time
}

// ProjectEvents is GET /projects/:id/events oldest first.
func (c *Client) ProjectEvents(projectID int64, f EventFilter, p Page) (Request, error) {
	opt := &gl.ListProjectVisibleEventsOptions{ListOptions: p.list(), Sort: gl.Ptr("asc")}
	if f.Action != "" {
		opt.Action = gl.Ptr(gl.EventTypeValue(f.Action))
	}
	if f.TargetType != "" {
		opt.TargetType = gl.Ptr(gl.EventTargetTypeValue(f.TargetType))
	}
	if f.After != nil {
		d := gl.ISOTime(f.After.UTC().Truncate(24 * time.Hour))
		opt.After = &d
	}
	return c.request(fmt.Sprintf("projects/%d/events", projectID), opt)
}

// MergeRequestApprovals is GET /projects/:id/merge_requests/:iid/approvals
// (one object, not a list).
func (c *Client) MergeRequestApprovals(projectID, iid int64) (Request, error) {
	return c.request(fmt.Sprintf("projects/%d/merge_requests/%d/approvals", projectID, iid), nil)
}

// MergeRequestCommits is GET /projects/:id/merge_requests/:iid/commits.
func (c *Client) MergeRequestCommits(projectID, iid int64, p Page) (Request, error) {
	return c.request(fmt.Sprintf("projects/%d/merge_requests/%d/commits", projectID, iid), &gl.GetMergeRequestCommitsOptions{ListOptions: p.list()})
}

// ProjectJobs is GET /projects/:id/jobs, newest first (keyset where p says
// so; see JobsKeysetFrom).
func (c *Client) ProjectJobs(projectID int64, p Page) (Request, error) {
	return c.request(fmt.Sprintf("projects/%d/jobs", projectID), &gl.ListJobsOptions{ListOptions: p.list()})
}

// ProjectDeployments is GET /projects/:id/deployments ordered by
// updated_at ascending, from updatedAfter when set.
func (c *Client) ProjectDeployments(projectID int64, updatedAfter *time.Time, p Page) (Request, error) {
	opt := &gl.ListProjectDeploymentsOptions{ListOptions: p.list(), OrderBy: gl.Ptr("updated_at"), Sort: gl.Ptr("asc")}
	if updatedAfter != nil {
		t := updatedAfter.UTC()
		opt.UpdatedAfter = &t
	}
	return c.request(fmt.Sprintf("projects/%d/deployments", projectID), opt)
}

// ProjectEnvironments is GET /projects/:id/environments.
func (c *Client) ProjectEnvironments(projectID int64, p Page) (Request, error) {
	return c.request(fmt.Sprintf("projects/%d/environments", projectID), &gl.ListEnvironmentsOptions{ListOptions: p.list()})
}

// ProjectReleases is GET /projects/:id/releases, newest released first.
func (c *Client) ProjectReleases(projectID int64, p Page) (Request, error) {
	return c.request(fmt.Sprintf("projects/%d/releases", projectID), &gl.ListReleasesOptions{ListOptions: p.list()})
}

// ProjectTags is GET /projects/:id/repository/tags.
func (c *Client) ProjectTags(projectID int64, p Page) (Request, error) {
	return c.request(fmt.Sprintf("projects/%d/repository/tags", projectID), &gl.ListTagsOptions{ListOptions: p.list()})
}

// GraphQLURL is the address of a GraphQL query sent over GET:
// {base}/api/graphql?query=…&variables=… (see the notes above: GitLab runs
// queries sent by GET and refuses mutations there, so the read-only guard
// stays GET-only). A mutation is refused here too, before anything is sent.
func (c *Client) GraphQLURL(query string, variables string) (*url.URL, error) {
	q := strings.TrimSpace(query)
	if strings.HasPrefix(q, "mutation") || strings.HasPrefix(q, "subscription") {
		return nil, fmt.Errorf("gitlab: labsync only sends GraphQL queries")
	}
	if len(q) > 10000 {
		return nil, fmt.Errorf("gitlab: a GraphQL query of %d characters is over GitLab's 10,000", len(q))
	}
	u := c.APIURL("x", nil)
	u.Path = strings.TrimSuffix(u.Path, "/v4/x") + "/graphql"
	u.RawPath = ""
	v := url.Values{"query": {q}}
	if variables != "" {
		v.Set("variables", variables)
	}
	u.RawQuery = v.Encode()
	return u, nil
}
