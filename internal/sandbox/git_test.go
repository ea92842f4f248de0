package sandbox

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireGit skips without git, or fails when LABSYNC_TEST_REQUIRE_TOOLS=1
// (CI), where a missing tool must not pass as a skipped test.
func requireGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		msg := "git is not installed (apt-get install -y git): " + err.Error()
		if os.Getenv("LABSYNC_TEST_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// gitCmd runs git with the credential in the environment only
// (http.extraHeader through GIT_CONFIG_*), never in the URL or argv.
func gitCmd(t *testing.T, dir, user, token string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0"}
	if token != "" {
		cred := base64.StdEncoding.EncodeToString([]byte(user + ":" + token))
		cmd.Env = append(cmd.Env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: Basic "+cred)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// gitConfig is a dataset with SHA-1 and SHA-256 projects (16.9+), merge
// requests and pipelines, backed by real repositories.
var gitConfig = Config{Version: "17.11", Seed: 4, Groups: 2, Projects: 10, MRs: 3, Issues: 1, Pipelines: 3, Commits: 12, Git: true}

func apiCommitIDs(t *testing.T, sb *Sandbox, pid int64, tok string) []string {
	t.Helper()
	var cs []struct {
		ID        string   `json:"id"`
		ParentIDs []string `json:"parent_ids"`
	}
	r := get(t, sb, fmt.Sprintf("/api/v4/projects/%d/repository/commits?per_page=100", pid), tok)
	if r.status != 200 {
		t.Fatalf("commits: %d %s", r.status, r.body)
	}
	mustJSON(t, r.body, &cs)
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func TestGitClonesShowTheCommitIDsTheAPIReports(t *testing.T) {
	requireGit(t)
	sb := start(t, gitConfig)
	tok := sb.CreateToken(TokenSpec{User: "root", Name: "clone", Scopes: []string{"read_repository", "read_api"}})
	var sha1, sha256 *project
	for _, p := range sb.projects {
		if p.sha256 && sha256 == nil {
			sha256 = p
		} else if !p.sha256 && sha1 == nil {
			sha1 = p
		}
	}
	if sha1 == nil || sha256 == nil {
		t.Fatalf("the dataset needs a SHA-1 and a SHA-256 project (sha1 %v, sha256 %v)", sha1 != nil, sha256 != nil)
	}
	for _, tc := range []struct {
		name   string
		p      *project
		format string
		idLen  int
	}{{"sha1", sha1, "sha1", 40}, {"sha256", sha256, "sha256", 64}} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			api := apiCommitIDs(t, sb, p.id, tok)
			if len(api) != gitConfig.Commits || len(api[0]) != tc.idLen {
				t.Fatalf("API lists %d commits (first %q), want %d of %d hex", len(api), api[0], gitConfig.Commits, tc.idLen)
			}
			url := sb.URL() + "/" + p.fullPath() + ".git"
			for _, mode := range []struct {
				name string
				args []string
				want []string
			}{
				{"full", nil, api},
				{"depth 1", []string{"--depth", "1"}, api[:1]},
				{"blobless", []string{"--filter=blob:none"}, api},
			} {
				t.Run(mode.name, func(t *testing.T) {
					dir := t.TempDir()
					gitCmd(t, dir, "anyone", tok, append(append([]string{"clone", "--quiet"}, mode.args...), url, "repo")...)
					repo := filepath.Join(dir, "repo")
					if f := gitCmd(t, repo, "", "", "rev-parse", "--show-object-format"); f != tc.format {
						t.Errorf("object format %q, want %q", f, tc.format)
					}
					got := strings.Fields(gitCmd(t, repo, "", "", "log", "--format=%H"))
					if strings.Join(got, " ") != strings.Join(mode.want, " ") {
						t.Errorf("git log ids\n%v\nwant the API's\n%v", got, mode.want)
					}
					if mode.name == "blobless" { // reading a file fetches its blob lazily
						if out := gitCmd(t, repo, "anyone", tok, "show", "HEAD:README.md"); !strings.Contains(out, p.name) {
							t.Errorf("README.md: %q", out)
						}
					}
				})
			}
			// Merge request heads and pipeline shas are objects of the repository.
			dir := t.TempDir()
			gitCmd(t, dir, "x", tok, "clone", "--quiet", "--mirror", url, "m.git")
			mirror := filepath.Join(dir, "m.git")
			for _, m := range p.mrs {
				r := get(t, sb, fmt.Sprintf("/api/v4/projects/%d/merge_requests/%d", p.id, m.iid), tok).json(t)
				if head := gitCmd(t, mirror, "", "", "rev-parse", fmt.Sprintf("refs/merge-requests/%d/head", m.iid)); head != r["sha"] {
					t.Errorf("MR !%d: refs/merge-requests head %s, API sha %v", m.iid, head, r["sha"])
				}
				// An open merge request has its merge result at
				// refs/merge-requests/<iid>/merge: the target's head and the
				// merge request's head as parents, the head's tree.
				mergeRef := fmt.Sprintf("refs/merge-requests/%d/merge", m.iid)
				refs := gitCmd(t, mirror, "", "", "for-each-ref", "--format=%(refname)", mergeRef)
				if r["state"] == "opened" && len(p.commits) > 0 {
					want := p.commits[len(p.commits)-1].sha + " " + r["sha"].(string)
					if got := gitCmd(t, mirror, "", "", "log", "-1", "--format=%P", mergeRef); got != want {
						t.Errorf("MR !%d: %s parents %q, want %q", m.iid, mergeRef, got, want)
					}
					if got, want := gitCmd(t, mirror, "", "", "rev-parse", mergeRef+"^{tree}"), gitCmd(t, mirror, "", "", "rev-parse", r["sha"].(string)+"^{tree}"); got != want {
						t.Errorf("MR !%d: %s tree %s, the head's %s", m.iid, mergeRef, got, want)
					}
				} else if refs != "" {
					t.Errorf("MR !%d (%v) has %s", m.iid, r["state"], mergeRef)
				}
				if mc, ok := r["merge_commit_sha"].(string); ok {
					gitCmd(t, mirror, "", "", "cat-file", "-e", mc+"^{commit}")
				}
				// diff_refs.base_sha is where the merge request's head branched off.
				if dr, ok := r["diff_refs"].(map[string]any); !ok {
					t.Errorf("MR !%d has no diff_refs", m.iid)
				} else if base, _ := dr["base_sha"].(string); base != "" {
					if parent := gitCmd(t, mirror, "", "", "rev-parse", r["sha"].(string)+"^"); parent != base || dr["head_sha"] != r["sha"] {
						t.Errorf("MR !%d diff_refs %v; the head's parent is %s", m.iid, dr, parent)
					}
				}
			}
			var pls []struct {
				SHA string `json:"sha"`
			}
			if r := get(t, sb, fmt.Sprintf("/api/v4/projects/%d/pipelines", p.id), tok); r.status == 200 {
				mustJSON(t, r.body, &pls)
			}
			for _, pl := range pls {
				gitCmd(t, mirror, "", "", "cat-file", "-e", pl.SHA+"^{commit}")
			}
		})
	}

	t.Run("activity makes real commits", func(t *testing.T) {
		p := sha256
		ch, err := sb.Push(p.id, "", 2)
		if err != nil {
			t.Fatal(err)
		}
		mr, err := sb.OpenMR(p.id, "Real branch")
		if err != nil {
			t.Fatal(err)
		}
		mergeRef := fmt.Sprintf("refs/merge-requests/%d/merge", mr.IID)
		if got := gitCmd(t, sb.gitRepo(p), "", "", "log", "-1", "--format=%P", mergeRef); got != ch.SHA+" "+mr.SHA {
			t.Errorf("the opened merge request's %s has parents %q, want the pushed head and its head %s %s", mergeRef, got, ch.SHA, mr.SHA)
		}
		merged, err := sb.MergeMR(p.id, mr.IID)
		if err != nil {
			t.Fatal(err)
		}
		api := apiCommitIDs(t, sb, p.id, tok)
		if api[0] != merged.SHA || api[1] != ch.SHA {
			t.Fatalf("API head %s, %s; want the merge %s over the push %s", api[0], api[1], merged.SHA, ch.SHA)
		}
		dir := t.TempDir()
		gitCmd(t, dir, "x", tok, "clone", "--quiet", sb.URL()+"/"+p.fullPath()+".git", "repo")
		repo := filepath.Join(dir, "repo")
		if got := gitCmd(t, repo, "", "", "log", "-1", "--format=%H %P"); got != merged.SHA+" "+ch.SHA+" "+mr.SHA {
			t.Errorf("merge commit and parents %q, want %s %s %s", got, merged.SHA, ch.SHA, mr.SHA)
		}
		got := strings.Fields(gitCmd(t, repo, "", "", "log", "--first-parent", "--format=%H"))
		if strings.Join(got, " ") != strings.Join(api, " ") {
			t.Errorf("first-parent history differs from the API's commits")
		}
	})
}

// TestNoMergeRefBeforeGitLabKeptOne: before 12.1 GitLab wrote
// refs/merge-requests/<iid>/merge only on request (hasMergeRef).
func TestNoMergeRefBeforeGitLabKeptOne(t *testing.T) {
	requireGit(t)
	cfg := gitConfig
	cfg.Version = "11.11"
	sb := start(t, cfg)
	for _, p := range sb.projects {
		if refs := gitCmd(t, sb.gitRepo(p), "", "", "for-each-ref", "--format=%(refname)", "refs/merge-requests/"); strings.Contains(refs, "/merge\n") || strings.HasSuffix(refs, "/merge") {
			t.Fatalf("project %d on 11.11 has merge refs:\n%s", p.id, refs)
		}
	}
	p := sb.projects[0]
	mr, err := sb.OpenMR(p.id, "No merge ref yet")
	if err != nil {
		t.Fatal(err)
	}
	if refs := gitCmd(t, sb.gitRepo(p), "", "", "for-each-ref", "--format=%(refname)", fmt.Sprintf("refs/merge-requests/%d/", mr.IID)); refs != fmt.Sprintf("refs/merge-requests/%d/head", mr.IID) {
		t.Errorf("an opened merge request on 11.11 has %q", refs)
	}
}

func TestGitOverHTTPAuthenticatesAsGitLabDoes(t *testing.T) {
	requireGit(t)
	cfg := gitConfig
	cfg.Projects, cfg.MRs, cfg.Pipelines, cfg.Commits = 16, 0, 0, 2
	sb := start(t, cfg)
	var private, public *project
	for _, p := range sb.projects {
		if p.vis == "private" && p.members[3] == 0 && groupAccess(p.group, 3) == 0 && private == nil {
			private = p
		}
		if p.vis == "public" && public == nil {
			public = p
		}
	}
	if private == nil || public == nil {
		t.Fatal("the dataset needs a private project bob cannot read and a public project")
	}
	reader := sb.CreateToken(TokenSpec{User: "root", Scopes: []string{"read_repository"}})
	apiOnly := sb.CreateToken(TokenSpec{User: "root", Scopes: []string{"read_user"}})
	bob := sb.CreateToken(TokenSpec{User: "bob", Scopes: []string{"read_repository"}})
	revoked := sb.CreateToken(TokenSpec{User: "root", Scopes: []string{"api"}})
	sb.RevokeToken(revoked)
	sb.mu.Lock()
	app := sb.defaultApp
	oauth := sb.issueOAuthToken(app, sb.users[0], []string{"api"}).value
	sb.mu.Unlock()

	refs := func(p *project, service string) string {
		return fmt.Sprintf("%s/%s.git/info/refs?service=%s", sb.URL(), p.fullPath(), service)
	}
	tests := []struct {
		name       string
		url        string
		user, pass string
		status     int
		challenge  bool
	}{
		{"no credentials on a private project", refs(private, "git-upload-pack"), "", "", 401, true},
		{"a wrong token", refs(private, "git-upload-pack"), "root", "glpat-wrong", 401, true},
		{"a revoked token", refs(private, "git-upload-pack"), "root", revoked, 401, true},
		{"read_repository with any user name", refs(private, "git-upload-pack"), "whoever", reader, 200, false},
		{"an OAuth token as oauth2", refs(private, "git-upload-pack"), "oauth2", oauth, 200, false},
		{"a user who cannot read the project", refs(private, "git-upload-pack"), "bob", bob, 404, false},
		{"a missing project", sb.URL() + "/nobody/nothing.git/info/refs?service=git-upload-pack", "root", reader, 404, false},
		{"a token without a repository scope", refs(private, "git-upload-pack"), "root", apiOnly, 403, false},
		{"push with a read-only scope", refs(private, "git-receive-pack"), "root", reader, 403, false},
		{"anonymous on a public project", refs(public, "git-upload-pack"), "", "", 200, false},
		{"anonymous push on a public project", refs(public, "git-receive-pack"), "", "", 401, true},
		{"dumb HTTP", sb.URL() + "/" + private.fullPath() + ".git/info/refs", "root", reader, 404, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
			if tt.pass != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("WWW-Authenticate"); (got == `Basic realm="GitLab"`) != tt.challenge {
				t.Errorf("WWW-Authenticate %q (challenge wanted: %v)", got, tt.challenge)
			}
			if tt.status == 200 && resp.Header.Get("Content-Type") != "application/x-git-upload-pack-advertisement" {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
		})
	}

	t.Run("protocol v2 through the Git-Protocol header", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, refs(private, "git-upload-pack"), nil)
		req.SetBasicAuth("x", reader)
		req.Header.Set("Git-Protocol", "version=2")
		r := do2(t, req)
		if r.status != 200 || !strings.Contains(string(r.body), "version 2") || !strings.Contains(string(r.body), "fetch") {
			t.Errorf("v2 advertisement: %d %q", r.status, r.body)
		}
	})
	t.Run("the request log names Git routes", func(t *testing.T) {
		by := sb.RequestsByRoute()
		if by["GET /{path_with_namespace}.git/info/refs"] == 0 {
			t.Errorf("requests by route %v: no Git info/refs route", by)
		}
	})
	t.Run("git clone fails without credentials", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		dir := t.TempDir()
		cmd := exec.CommandContext(ctx, "git", "clone", sb.URL()+"/"+private.fullPath()+".git", "repo")
		cmd.Dir, cmd.Env = dir, []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0"}
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("clone without credentials succeeded: %s", out)
		}
	})
	t.Run("the repositories are removed on Close", func(t *testing.T) {
		sb2 := start(t, cfg)
		dir := sb2.gitDir
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("repository directory: %v", err)
		}
		sb2.Close()
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Close: %v", dir, err)
		}
	})
}

func do2(t *testing.T, req *http.Request) rawResponse {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return rawResponse{resp.StatusCode, resp.Header, []byte(b.String())}
}

// TestGitRepositoriesAreDeterministic: equal seeds give equal commit ids.
func TestGitRepositoriesAreDeterministic(t *testing.T) {
	requireGit(t)
	cfg := gitConfig
	cfg.Projects = 3
	a, b := start(t, cfg), start(t, cfg)
	for pid := int64(1); pid <= 3; pid++ {
		x, y := apiCommitIDs(t, a, pid, a.AdminToken()), apiCommitIDs(t, b, pid, b.AdminToken())
		if strings.Join(x, " ") != strings.Join(y, " ") {
			t.Errorf("project %d: commit ids differ between equal seeds", pid)
		}
	}
}

// BenchmarkStartGit measures Start and Close with and without real
// repositories, for a dataset of 20 projects (1,000 commits, 100 merge
// requests).
func BenchmarkStartGit(b *testing.B) {
	for _, git := range []bool{false, true} {
		b.Run(fmt.Sprintf("git=%v", git), func(b *testing.B) {
			if _, err := exec.LookPath("git"); err != nil && git {
				b.Skip("git is not installed")
			}
			cfg := Config{Version: "17.11", Seed: 1, Groups: 4, Projects: 20, MRs: 5, Issues: 5, Pipelines: 5, Commits: 50, Git: git}
			for b.Loop() {
				sb, err := Start(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				sb.Close()
			}
		})
	}
}

func TestGitOnGitLabComMakesPublicWorldRepositoriesOnFirstUse(t *testing.T) {
	requireGit(t)
	sb := start(t, Config{Profile: ProfileGitLabCom, PublicProjects: 50, Seed: 1, Groups: 2, Projects: 3, Commits: 3, Git: true})
	var p *project
	for _, q := range sb.projects[sb.seededProjects:] {
		if q.vis == "public" && !q.archived {
			p = q
			break
		}
	}
	if n := len(sb.gitReady); n != sb.seededProjects {
		t.Errorf("%d repositories after Start, want the %d seeded ones only", n, sb.seededProjects)
	}
	url := sb.URL() + "/" + p.fullPath() + ".git"
	dir := t.TempDir()
	// Anonymous: public projects are readable by anyone, as on GitLab.com.
	gitCmd(t, dir, "", "", "clone", "--quiet", url, "empty")
	if out := gitCmd(t, filepath.Join(dir, "empty"), "", "", "rev-parse", "--show-object-format"); out != "sha1" {
		t.Errorf("object format %q", out)
	}
	ch, err := sb.Push(p.id, "", 3)
	if err != nil {
		t.Fatal(err)
	}
	gitCmd(t, dir, "alice", sb.UserToken(), "clone", "--quiet", url, "repo")
	got := strings.Fields(gitCmd(t, filepath.Join(dir, "repo"), "", "", "log", "--format=%H"))
	api := apiCommitIDs(t, sb, p.id, sb.UserToken())
	if len(got) != 3 || got[0] != ch.SHA || strings.Join(got, " ") != strings.Join(api, " ") {
		t.Errorf("git log %v, API %v, push %s", got, api, ch.SHA)
	}
}

// TestCleanupRemovesAClosedMergeRequestsRefsOnly: GitLab's ref cleanup
// after a close removes that merge request's head and merge refs and no
// other; an open merge request keeps its refs.
func TestCleanupRemovesAClosedMergeRequestsRefsOnly(t *testing.T) {
	requireGit(t)
	sb := start(t, gitConfig)
	p := sb.projects[0]
	a, err := sb.OpenMR(p.id, "Closed and cleaned up")
	if err != nil {
		t.Fatal(err)
	}
	b, err := sb.OpenMR(p.id, "Still open")
	if err != nil {
		t.Fatal(err)
	}
	refs := func(iid int64) string {
		return gitCmd(t, sb.gitRepo(p), "", "", "for-each-ref", "--format=%(refname)", fmt.Sprintf("refs/merge-requests/%d/", iid))
	}
	if err := sb.CleanupMergeRequestRefs(p.id, b.IID); !errors.Is(err, ErrInvalid) {
		t.Fatalf("cleanup of an open merge request: %v, want ErrInvalid", err)
	}
	if _, err := sb.CloseMR(p.id, a.IID); err != nil {
		t.Fatal(err)
	}
	before := refs(a.IID)
	if !strings.Contains(before, "/head") {
		t.Fatalf("the closed merge request had no head ref before the cleanup: %q", before)
	}
	if err := sb.CleanupMergeRequestRefs(p.id, a.IID); err != nil {
		t.Fatal(err)
	}
	if got := refs(a.IID); got != "" {
		t.Errorf("after the cleanup the closed merge request still has %q", got)
	}
	if got := refs(b.IID); !strings.Contains(got, fmt.Sprintf("refs/merge-requests/%d/head", b.IID)) || !strings.Contains(got, "/merge") {
		t.Errorf("the open merge request lost its refs: %q", got)
	}
}
