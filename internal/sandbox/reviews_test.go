package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

// legacyCounts keeps the counts TestClientGoListsEverything lists; the
// review and delivery counts are listed by TestClientGoListsReviewAndDeliveryData.
func legacyCounts(c Counts) Counts {
	return Counts{MergeRequests: c.MergeRequests, Issues: c.Issues, Pipelines: c.Pipelines, Commits: c.Commits,
		Branches: c.Branches, Events: c.Events, Hooks: c.Hooks}
}

// TestClientGoListsReviewAndDeliveryData lists notes, discussions,
// approvals, MR commits, jobs, environments, deployments, releases, tags
// and incidents with the official Go client, across small pages, and
// compares every project's counts with the manifest.
func TestClientGoListsReviewAndDeliveryData(t *testing.T) {
	for _, tc := range []struct {
		name, version, profile string
	}{{"12.10", "12.10", ""}, {"15.11", "15.11", ""}, {"19.0", "19.0", ""}, {"gitlab.com", "", ProfileGitLabCom}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fidelityConfig
			cfg.Version, cfg.Profile, cfg.PublicProjects = tc.version, tc.profile, 10
			sb := start(t, cfg)
			gl := client(t, sb, sb.UserToken())
			m := sb.Manifest()
			lo := gitlab.ListOptions{PerPage: 2}
			var got Counts
			for _, pc := range m.PerProject {
				if tc.profile == ProfileGitLabCom && !contains(m.UserProjects, pc.ID) {
					continue
				}
				id := pc.ID
				c := Counts{MergeRequests: pc.MergeRequests}
				discussions := map[string]bool{}
				for iid := int64(1); iid <= int64(pc.MergeRequests); iid++ {
					for n, err := range gitlab.Scan2(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Note, *gitlab.Response, error) {
						return gl.Notes.ListMergeRequestNotes(id, iid, &gitlab.ListMergeRequestNotesOptions{ListOptions: lo}, p)
					}) {
						if err != nil {
							t.Fatalf("notes: %v", err)
						}
						c.Notes++
						if n.System {
							c.SystemNotes++
						}
					}
					for d, err := range gitlab.Scan2(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Discussion, *gitlab.Response, error) {
						return gl.Discussions.ListMergeRequestDiscussions(id, iid, &gitlab.ListMergeRequestDiscussionsOptions{ListOptions: lo}, p)
					}) {
						if err != nil {
							t.Fatalf("discussions: %v", err)
						}
						if len(d.Notes) == 0 || discussions[d.ID] {
							t.Errorf("project %d !%d: discussion %s empty or listed twice", id, iid, d.ID)
						}
						discussions[d.ID] = true
					}
					c.MergeRequestCommits += scan(t, "MR commits", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Commit, *gitlab.Response, error) {
						return gl.MergeRequests.GetMergeRequestCommits(id, iid, &gitlab.GetMergeRequestCommitsOptions{ListOptions: lo}, p)
					})
					a, resp, err := gl.MergeRequestApprovals.GetConfiguration(id, iid)
					switch {
					case err == nil:
						c.Approvals += len(a.ApprovedBy)
					case m.Totals.Approvals == 0 && resp != nil && resp.StatusCode == http.StatusNotFound:
					default:
						t.Fatalf("approvals: %v", err)
					}
				}
				c.Discussions = len(discussions)
				if pc.CIEnabled {
					jo := &gitlab.ListJobsOptions{ListOptions: lo}
					if sb.ver.hasJobsKeyset() {
						jo.Pagination, jo.OrderBy, jo.Sort = "keyset", "id", "desc"
					}
					seen := map[int64]bool{}
					for j, err := range gitlab.Scan2(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Job, *gitlab.Response, error) {
						return gl.Jobs.ListProjectJobs(id, jo, p)
					}) {
						if err != nil {
							t.Fatalf("jobs: %v", err)
						}
						if seen[j.ID] {
							t.Errorf("project %d: job %d listed twice", id, j.ID)
						}
						seen[j.ID] = true
						c.Jobs++
					}
					latest := 0
					for _, pl := range sb.projects[id-1].pipelines {
						latest += scan(t, "pipeline jobs", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Job, *gitlab.Response, error) {
							return gl.Jobs.ListPipelineJobs(id, pl.id, &gitlab.ListJobsOptions{ListOptions: lo}, p)
						})
					}
					c.RetriedJobs = c.Jobs - latest
				}
				c.Environments = scan(t, "environments", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Environment, *gitlab.Response, error) {
					return gl.Environments.ListEnvironments(id, &gitlab.ListEnvironmentsOptions{ListOptions: lo}, p)
				})
				c.Deployments = scan(t, "deployments", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Deployment, *gitlab.Response, error) {
					return gl.Deployments.ListProjectDeployments(id, &gitlab.ListProjectDeploymentsOptions{ListOptions: lo}, p)
				})
				c.Releases = scan(t, "releases", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Release, *gitlab.Response, error) {
					return gl.Releases.ListReleases(id, &gitlab.ListReleasesOptions{ListOptions: lo}, p)
				})
				c.Tags = scan(t, "tags", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Tag, *gitlab.Response, error) {
					return gl.Tags.ListTags(id, &gitlab.ListTagsOptions{ListOptions: lo}, p)
				})
				for is, err := range gitlab.Scan2(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Issue, *gitlab.Response, error) {
					return gl.Issues.ListProjectIssues(id, &gitlab.ListProjectIssuesOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}, p)
				}) {
					if err != nil {
						t.Fatalf("issues: %v", err)
					}
					if is.IssueType != nil && *is.IssueType == "incident" || contains(is.Labels, "incident") {
						c.Incidents++
					}
				}
				want := pc.Counts
				want.Issues, want.Pipelines, want.Commits, want.Branches, want.Events, want.Hooks = 0, 0, 0, 0, 0, 0
				if c != want {
					t.Errorf("project %d: listed %+v, manifest %+v", id, c, want)
				}
				got.add(c)
			}
			if got.Notes == 0 || got.Jobs == 0 || got.Deployments == 0 || got.Tags == 0 || got.Incidents == 0 || got.Discussions == 0 {
				t.Errorf("the dataset lacks some resource: %+v", got)
			}
			if sb.ver.atLeast(13, 2) && got.Approvals == 0 {
				t.Errorf("no approvals listed on %s", tc.name)
			}
		})
	}
}

// TestReviewAndDeliveryDataDependOnTheSeedOnly starts two sandboxes with
// the same seed and finds the same manifest.
func TestReviewAndDeliveryDataDependOnTheSeedOnly(t *testing.T) {
	a, b := start(t, fidelityConfig), start(t, fidelityConfig)
	ma, mb := a.Manifest(), b.Manifest()
	if !reflect.DeepEqual(ma.PerProject, mb.PerProject) {
		t.Errorf("equal seeds, different manifests:\n%+v\n%+v", ma.Totals, mb.Totals)
	}
	other := fidelityConfig
	other.Seed++
	if mc := start(t, other).Manifest(); reflect.DeepEqual(mc.Totals, ma.Totals) {
		t.Errorf("another seed gave the same totals %+v", mc.Totals)
	}
}

// BenchmarkStartLargeDataset measures Start (generation included) for 100
// projects of 100 merge requests and 50 pipelines, the issue's benchmark
// size, and reports the review and delivery rows generated.
func BenchmarkStartLargeDataset(b *testing.B) {
	cfg := Config{Seed: 1, Groups: 10, Projects: 100, MRs: 100, Issues: 20, Pipelines: 50, Commits: 50}
	for b.Loop() {
		sb, err := Start(b.Context(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		m := sb.Manifest()
		b.ReportMetric(float64(m.Totals.Notes), "notes")
		b.ReportMetric(float64(m.Totals.Jobs), "jobs")
		b.ReportMetric(float64(m.Totals.Deployments), "deployments")
		sb.Close()
	}
}

// TestWithGitTheNewResourcesNameTheRepositorysCommits: with Config.Git, an
// MR's commit is refs/merge-requests/<iid>/head, and tags, jobs and
// deployments name commits the repository holds.
func TestWithGitTheNewResourcesNameTheRepositorysCommits(t *testing.T) {
	requireGit(t)
	sb := start(t, gitConfig)
	tok := sb.AdminToken()
	if _, err := sb.CreateRelease(1, "v7.0.0"); err != nil {
		t.Fatalf("CreateRelease: %v", err)
	}
	if _, err := sb.CreateRelease(1, "bad..name"); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreateRelease with a bad name: %v, want ErrInvalid", err)
	}
	for _, pc := range sb.Manifest().PerProject {
		p := sb.projects[pc.ID-1]
		repo := sb.gitRepo(p)
		isCommit := func(what, sha string) {
			t.Helper()
			if out, err := sb.git(nil, repo, "cat-file", "-t", sha); err != nil || strings.TrimSpace(string(out)) != "commit" {
				t.Errorf("project %d: %s %s is not a commit of the repository (%s, %v)", p.id, what, sha, out, err)
			}
		}
		for iid := 1; iid <= pc.MergeRequests; iid++ {
			var cs []struct {
				ID string `json:"id"`
			}
			mustJSON(t, get(t, sb, fmt.Sprintf("/api/v4/projects/%d/merge_requests/%d/commits", p.id, iid), tok).body, &cs)
			head, err := sb.git(nil, repo, "rev-parse", fmt.Sprintf("refs/merge-requests/%d/head", iid))
			if err != nil || len(cs) != 1 || cs[0].ID != strings.TrimSpace(string(head)) {
				t.Errorf("project %d !%d: commits %v, refs/merge-requests head %s (%v)", p.id, iid, cs, head, err)
			}
		}
		var tags []struct {
			Name   string `json:"name"`
			Target string `json:"target"`
		}
		mustJSON(t, get(t, sb, fmt.Sprintf("/api/v4/projects/%d/repository/tags?per_page=100", p.id), tok).body, &tags)
		for _, tg := range tags {
			isCommit("tag target", tg.Target)
			if ref, err := sb.git(nil, repo, "rev-parse", "refs/tags/"+tg.Name); err != nil || strings.TrimSpace(string(ref)) != tg.Target {
				t.Errorf("project %d: refs/tags/%s is %s (%v), the API says %s", p.id, tg.Name, ref, err, tg.Target)
			}
		}
		if !pc.CIEnabled {
			continue
		}
		var deps []struct {
			SHA string `json:"sha"`
		}
		mustJSON(t, get(t, sb, fmt.Sprintf("/api/v4/projects/%d/deployments?per_page=100", p.id), tok).body, &deps)
		for _, d := range deps {
			isCommit("deployment sha", d.SHA)
		}
		var jobs []struct {
			Commit struct {
				ID string `json:"id"`
			} `json:"commit"`
		}
		mustJSON(t, get(t, sb, fmt.Sprintf("/api/v4/projects/%d/jobs?per_page=100", p.id), tok).body, &jobs)
		for _, j := range jobs {
			isCommit("job commit", j.Commit.ID)
		}
	}
}
