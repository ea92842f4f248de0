package bench

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/sandbox"
)

// pagesBreakdown is the fewest requests any client needs for a sandbox's
// data, per resource: one page per 100 items (at least one) of each
// resource of each project, and, where GitLab has no bulk endpoint, one
// request per merge request.
type pagesBreakdown struct {
	// original: merge requests, issues, pipelines (a CI-disabled project's
	// one 403 counted), pushes and commits.
	original int
	// notes and approvals through the project events (the bulk endpoints
	// the syncer uses); approvalsPerMR where GitLab has no approval events
	// (one request per merge request is then the minimum).
	notes, approvals, approvalsPerMR int
	// perMRAlternative is what review data costs through the per-merge-
	// request endpoints: each merge request's notes (at least one page)
	// and approvals.
	perMRAlternative int
	// mrCommits: one request per merge request (no bulk endpoint exists).
	mrCommits int
	// jobs, pipelineTimes (GraphQL pages), environments, deployments,
	// releases and tags.
	jobs, pipelineTimes, environments, deployments, releases, tags int
	// pipelines is how many requests one per pipeline would cost.
	pipelines int
}

func pages(n int) int { return max(1, (n+99)/100) }

func (b *pagesBreakdown) addOriginal(p sandbox.ProjectCounts) {
	pushes := (p.Commits + 9) / 10 // the sandbox seeds one push per ten commits
	b.original += pages(p.MergeRequests) + pages(p.Issues) + pages(p.Pipelines) + pages(pushes) + pages(p.Commits)
}

// minimalPagesOf is the breakdown for a manifest of GitLab v (the sandbox
// models GitLab's versions: approval events from gitlab.ApprovalEventsFrom,
// approvals at all on Community Edition from gitlab.ApprovalsFreeFrom,
// GraphQL from gitlab.GraphQLPipelinesFrom, releases from 11.7).
func minimalPagesOf(m sandbox.Manifest, v gitlab.Version) pagesBreakdown {
	var b pagesBreakdown
	dotcom := m.Profile == sandbox.ProfileGitLabCom
	approvalsExist := dotcom || v.Enterprise || v.Has(gitlab.ApprovalsFreeFrom)
	for _, p := range m.PerProject {
		b.addOriginal(p)
		b.notes += pages(p.Notes - p.SystemNotes)
		notesPerMR := 0
		if p.MergeRequests > 0 {
			// Notes spread over the merge requests: each needs a page.
			notesPerMR = p.MergeRequests * pages(p.Notes/p.MergeRequests)
		}
		b.perMRAlternative += notesPerMR
		switch {
		case dotcom || v.Has(gitlab.ApprovalEventsFrom):
			b.approvals += pages(p.Approvals)
			b.perMRAlternative += p.MergeRequests
		case approvalsExist:
			b.approvalsPerMR += p.MergeRequests
			b.perMRAlternative += p.MergeRequests
		}
		b.mrCommits += p.MergeRequests
		if p.CIEnabled {
			b.jobs += pages(p.Jobs)
			if v.Has(gitlab.GraphQLPipelinesFrom) && p.Pipelines > 0 {
				b.pipelineTimes += pages(p.Pipelines)
				b.pipelines += p.Pipelines
			}
		}
		b.environments += pages(p.Environments)
		b.deployments += pages(p.Deployments)
		b.releases += pages(p.Releases)
		b.tags += pages(p.Tags)
	}
	return b
}

func (b pagesBreakdown) total() int {
	return b.original + b.notes + b.approvals + b.approvalsPerMR + b.mrCommits + b.jobs + b.pipelineTimes + b.environments + b.deployments +
		b.releases + b.tags
}

// printDeliveryRequests prints the requests the backfill made for review
// and delivery data, per resource, against the minimal pages, and what the
// per-merge-request alternative would have cost the review data.
func printDeliveryRequests(out io.Writer, rs []sandbox.RequestLogEntry, b pagesBreakdown) {
	var notes, approvalEvents, approvalsPerMR, mrCommits, jobs, graphql, envs, deps, rels, tags int
	for _, r := range rs {
		q, _ := url.ParseQuery(r.Query)
		switch {
		case r.Path == "/api/graphql":
			graphql++
		case strings.HasSuffix(r.Path, "/events") && q.Get("action") == "commented":
			notes++
		case strings.HasSuffix(r.Path, "/events") && q.Get("action") == "approved":
			approvalEvents++
		case strings.HasSuffix(r.Path, "/approvals") && strings.Contains(r.Path, "/merge_requests/"):
			approvalsPerMR++
		case strings.HasSuffix(r.Path, "/commits") && strings.Contains(r.Path, "/merge_requests/"):
			mrCommits++
		case strings.HasSuffix(r.Path, "/jobs"):
			jobs++
		case strings.HasSuffix(r.Path, "/environments"):
			envs++
		case strings.HasSuffix(r.Path, "/deployments"):
			deps++
		case strings.HasSuffix(r.Path, "/releases"):
			rels++
		case strings.HasSuffix(r.Path, "/repository/tags"):
			tags++
		}
	}
	ratio := func(made, minimal int) string {
		if minimal == 0 {
			return "-"
		}
		return fmt.Sprintf("%.3f", float64(made)/float64(minimal))
	}
	review, reviewMin := notes+approvalEvents+approvalsPerMR, b.notes+b.approvals+b.approvalsPerMR
	fmt.Fprintf(out, "review data       %d requests (comments %d + approvals %d as project events, %d approvals per merge request) for minimal pages %d of the endpoints used: ratio %s\n",
		review, notes, approvalEvents, approvalsPerMR, reviewMin, ratio(review, reviewMin))
	fmt.Fprintf(out, "                  per-merge-request alternative (each MR's notes and approvals): %d requests, %.1f× these\n",
		b.perMRAlternative, float64(b.perMRAlternative)/float64(max(review, 1)))
	fmt.Fprintf(out, "MR commits        %d requests, one per merge request (no bulk endpoint exists): minimal %d\n", mrCommits, b.mrCommits)
	fmt.Fprintf(out, "jobs              %d requests, minimal %d (ratio %s)\n", jobs, b.jobs, ratio(jobs, b.jobs))
	fmt.Fprintf(out, "pipeline times    %d GraphQL requests (pages of Project.pipelines), minimal %d; one request per pipeline would be %d\n", graphql,
		b.pipelineTimes, b.pipelines)
	fmt.Fprintf(out, "environments      %d, deployments %d, releases %d, tags %d requests; minimal %d, %d, %d, %d\n", envs, deps, rels, tags,
		b.environments, b.deployments, b.releases, b.tags)
}

// deliveryRequestCount counts the requests for review and delivery data
// (events of comments and approvals, per-merge-request approvals and
// commits, jobs, environments, deployments, releases, tags, GraphQL).
func deliveryRequestCount(rs []sandbox.RequestLogEntry) int {
	n := 0
	for _, r := range rs {
		q, _ := url.ParseQuery(r.Query)
		switch {
		case r.Path == "/api/graphql",
			strings.HasSuffix(r.Path, "/events") && (q.Get("action") == "commented" || q.Get("action") == "approved"),
			strings.Contains(r.Path, "/merge_requests/") && (strings.HasSuffix(r.Path, "/approvals") || strings.HasSuffix(r.Path, "/commits")),
			strings.HasSuffix(r.Path, "/jobs"), strings.HasSuffix(r.Path, "/environments"), strings.HasSuffix(r.Path, "/deployments"),
			strings.HasSuffix(r.Path, "/releases"), strings.HasSuffix(r.Path, "/repository/tags"):
			n++
		}
	}
	return n
}
