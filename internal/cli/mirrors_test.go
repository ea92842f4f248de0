package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

// apiJSON calls a running serve's API with the world's token.
func (w *syncedWorld) apiJSON(t *testing.T, addr, method, path, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+w.apiToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
	}
	return res.StatusCode
}

type e2eMirror struct {
	ProjectID         int64  `json:"project_id"`
	PathWithNamespace string `json:"path_with_namespace"`
	State             string `json:"state"`
	ObjectFormat      string `json:"object_format"`
	CloneURL          string `json:"clone_url"`
	Error             *struct {
		Kind, Message, Remedy string
	} `json:"error"`
}

// runner runs git as a CI runner configured with one credential-helper line
// for labsync (the test binary standing in for labsync) and the API token
// in its environment only.
func runner(t *testing.T, addr, token string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pre := []string{"-c", "credential.helper=", "-c", "credential.http://" + addr + ".helper=!" + os.Args[0] + " git-credential"}
	cmd := exec.CommandContext(ctx, "git", append(pre, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
		"LABSYNC_TEST_MAIN=1", "LABSYNC_API_TOKEN=" + token}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestARunnerClonesSHA1AndSHA256ProjectsThroughLabsyncWithOneCredentialHelperLine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts labsync processes")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed (apt-get install -y git): %v", err)
	}
	dbURL := ""
	if storetest.Dialect(t) == store.Postgres {
		dbURL = storetest.FreshPostgresURL(t)
	}
	w := newSyncedWorld(t, dbURL, sandbox.Config{Version: "17.11", Seed: 4, Groups: 2, Projects: 10, MRs: 1, Issues: 1, Pipelines: 1, Commits: 12, Git: true})
	srv := startServe(t, w.env)
	base := fmt.Sprintf("/api/v1/integrations/%d", w.integ)
	if code := w.apiJSON(t, srv.addr, "PUT", base+"/selection", `{"services":{"pushes":false,"repository":true}}`, nil); code != 200 {
		t.Fatalf("switching the repository service on: %d", code)
	}
	w.startSync(t, srv.addr)

	// The sync selects the projects and the mirrors follow (with the
	// pushes service off, nothing but the applied selection asks for them).
	var mirrors []e2eMirror
	wantN := w.sb.Manifest().Projects
	for i := 0; ; i++ {
		var list struct {
			Enabled bool        `json:"enabled"`
			Mirrors []e2eMirror `json:"mirrors"`
		}
		w.apiJSON(t, srv.addr, "GET", base+"/mirrors", "", &list)
		ready := 0
		for _, m := range list.Mirrors {
			if m.State == "ready" {
				ready++
			}
			if m.Error != nil {
				t.Fatalf("mirror of %s failed: %+v", m.PathWithNamespace, *m.Error)
			}
		}
		if list.Enabled && len(list.Mirrors) > 0 && ready == len(list.Mirrors) && len(list.Mirrors) >= wantN/2 {
			mirrors = list.Mirrors
			break
		}
		if i == 600 {
			t.Fatalf("mirrors never all ready: %+v\n%s", list, srv.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}

	byFormat := map[string]e2eMirror{}
	for _, m := range mirrors {
		if _, ok := byFormat[m.ObjectFormat]; !ok {
			byFormat[m.ObjectFormat] = m
		}
	}
	merges := 0 // open merge requests whose merge ref was fetched
	for _, format := range []string{"sha1", "sha256"} {
		t.Run(format, func(t *testing.T) {
			m, ok := byFormat[format]
			if !ok {
				t.Fatalf("no %s project is selected in this dataset: %+v", format, mirrors)
			}
			dest := filepath.Join(t.TempDir(), "clone")
			if out, err := runner(t, srv.addr, w.apiToken, "clone", "--quiet", m.CloneURL, dest); err != nil {
				t.Fatalf("clone %s: %v\n%s", m.CloneURL, err, out)
			}
			head := strings.TrimSpace(gitOut(t, dest, "rev-parse", "HEAD"))
			if got := strings.TrimSpace(gitOut(t, dest, "rev-parse", "--show-object-format")); got != format {
				t.Errorf("clone's object format %s, want %s", got, format)
			}
			// GitLab pushes; labsync fetches on request; the runner fetches.
			ch, err := w.sb.Push(m.ProjectID, "", 1)
			if err != nil {
				t.Fatal(err)
			}
			var code int
			var out bytes.Buffer
			tokFile := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(tokFile, []byte(w.apiToken), 0o600); err != nil {
				t.Fatal(err)
			}
			code = Run(context.Background(), []string{"integrations", "mirrors", "fetch", fmt.Sprint(w.integ), fmt.Sprint(m.ProjectID),
				"--server", "http://" + srv.addr, "--api-token-file", tokFile}, &out, &out)
			if code != 0 {
				t.Fatalf("labsync integrations mirrors fetch: %d %s", code, out.String())
			}
			if o, err := runner(t, srv.addr, w.apiToken, "-C", dest, "pull", "--quiet", "--ff-only"); err != nil {
				t.Fatalf("pull: %v\n%s", err, o)
			}
			if got := strings.TrimSpace(gitOut(t, dest, "rev-parse", "HEAD")); got != ch.SHA || got == head {
				t.Errorf("after the push the runner has %s, want GitLab's new %s (was %s)", got, ch.SHA, head)
			}
			// A runner of a merge request pipeline fetches the merge
			// request's head ref, as it would from GitLab.
			for _, mr := range sandboxMRs(t, w.sb, m.ProjectID) {
				ref := fmt.Sprintf("refs/merge-requests/%d/head", mr.IID)
				if o, err := runner(t, srv.addr, w.apiToken, "-C", dest, "fetch", "--quiet", "origin", ref); err != nil {
					t.Fatalf("fetch %s through labsync: %v\n%s", ref, err, o)
				}
				if got := strings.TrimSpace(gitOut(t, dest, "rev-parse", "FETCH_HEAD")); got != mr.SHA {
					t.Errorf("%s through labsync is %s, GitLab's API says %s", ref, got, mr.SHA)
				}
				if mr.State != "opened" {
					continue
				}
				// An open merge request's merge ref (what a merged-results
				// pipeline checks out): the target's head merged with it.
				ref = fmt.Sprintf("refs/merge-requests/%d/merge", mr.IID)
				if o, err := runner(t, srv.addr, w.apiToken, "-C", dest, "fetch", "--quiet", "origin", ref); err != nil {
					t.Fatalf("fetch %s through labsync: %v\n%s", ref, err, o)
				}
				merges++
				if got := strings.TrimSpace(gitOut(t, dest, "rev-parse", "FETCH_HEAD^2")); got != mr.SHA {
					t.Errorf("%s through labsync merges %s, GitLab's API says the merge request's head is %s", ref, got, mr.SHA)
				}
			}
			// GitLab removes a closed or merged merge request's refs 14 days
			// later: the mirror drops them at its next fetch, and so do the
			// runners' clones through labsync; the other merge requests'
			// refs stay.
			mrs := sandboxMRs(t, w.sb, m.ProjectID)
			gone := mrs[0]
			if gone.State == "opened" {
				if _, err := w.sb.CloseMR(m.ProjectID, gone.IID); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.sb.CleanupMergeRequestRefs(m.ProjectID, gone.IID); err != nil {
				t.Fatal(err)
			}
			out.Reset()
			if code = Run(context.Background(), []string{"integrations", "mirrors", "fetch", fmt.Sprint(w.integ), fmt.Sprint(m.ProjectID),
				"--server", "http://" + srv.addr, "--api-token-file", tokFile}, &out, &out); code != 0 {
				t.Fatalf("labsync integrations mirrors fetch: %d %s", code, out.String())
			}
			listed, err := runner(t, srv.addr, w.apiToken, "ls-remote", m.CloneURL, "refs/merge-requests/*")
			if err != nil {
				t.Fatalf("ls-remote through labsync: %v\n%s", err, listed)
			}
			if strings.Contains(listed, fmt.Sprintf("refs/merge-requests/%d/", gone.IID)) {
				t.Errorf("merge request %d's refs, removed in GitLab, are still served:\n%s", gone.IID, listed)
			}
			if len(mrs) > 1 && !strings.Contains(listed, fmt.Sprintf("refs/merge-requests/%d/head", mrs[1].IID)) {
				t.Errorf("merge request %d's head ref went too:\n%s", mrs[1].IID, listed)
			}
			if o, err := runner(t, srv.addr, "lsk_not_a_token", "ls-remote", m.CloneURL); err == nil || !strings.Contains(o, "Authentication failed") && !strings.Contains(o, "401") {
				t.Errorf("a bad token listed refs: %v\n%s", err, o)
			}
		})
	}
	if merges == 0 {
		t.Error("no open merge request's merge ref was fetched: the dataset proves nothing about them")
	}
	var audit struct {
		Entries []struct {
			Action string `json:"action"`
		} `json:"entries"`
	}
	w.apiJSON(t, srv.addr, "GET", "/api/v1/audit", "", &audit)
	clones := 0
	for _, e := range audit.Entries {
		if e.Action == "repository.clone" {
			clones++
		}
	}
	if clones < 4 {
		t.Errorf("%d repository.clone audit entries, want one per clone and pull (4)", clones)
	}

	// Disconnecting deletes the mirrors at once, like the credential.
	dir := filepath.Join(w.opts.DataDir, "mirrors", fmt.Sprint(w.integ))
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("no mirror directory before the disconnect: %v", err)
	}
	if code := w.apiJSON(t, srv.addr, "DELETE", base, "", nil); code != 200 {
		t.Fatalf("disconnect: %d", code)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the mirrors are still on disk after the disconnect: %v", err)
	}
	if o, err := runner(t, srv.addr, w.apiToken, "ls-remote", byFormat["sha1"].CloneURL); err == nil || !strings.Contains(o, "not found") {
		t.Errorf("a disconnected integration's project is still served: %v\n%s", err, o)
	}
}

type sandboxMR struct {
	IID   int64  `json:"iid"`
	SHA   string `json:"sha"`
	State string `json:"state"`
}

// sandboxMRs lists a project's merge requests from the sandbox's API (it
// has at least one, or the test proves nothing).
func sandboxMRs(t *testing.T, sb *sandbox.Sandbox, project int64) []sandboxMR {
	t.Helper()
	var mrs []sandboxMR
	sandboxGET(t, sb, fmt.Sprintf("/api/v4/projects/%d/merge_requests?state=all&per_page=100", project), &mrs)
	if len(mrs) == 0 {
		t.Fatalf("project %d has no merge request", project)
	}
	return mrs
}

// sandboxGET reads one of the sandbox's API pages as its connected user
// (an administrator self-managed, alice on the gitlab.com profile).
func sandboxGET(t *testing.T, sb *sandbox.Sandbox, path string, out any) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sb.CAPEM())
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	req, _ := http.NewRequest("GET", sb.URL()+path, nil)
	req.Header.Set("PRIVATE-TOKEN", sb.UserToken())
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestACloneThroughEitherReplicaWorksWhileTheOtherIsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts labsync processes")
	}
	if storetest.Dialect(t) != store.Postgres {
		t.Skip("replicas share a PostgreSQL database: run with LABSYNC_TEST_DIALECT=postgres (and LABSYNC_TEST_POSTGRES_URL)")
	}
	w := newSyncedWorld(t, storetest.FreshPostgresURL(t), sandbox.Config{Version: "17.11", Seed: 4, Groups: 2, Projects: 4, MRs: 1, Issues: 1, Pipelines: 1, Commits: 12, Git: true})
	shared := filepath.Join(t.TempDir(), "shared-mirrors") // the volume every replica mounts
	env := append(append([]string(nil), w.env...), "LABSYNC_MIRROR_DIR="+shared)
	a, b := startServe(t, env), startServe(t, env)
	base := fmt.Sprintf("/api/v1/integrations/%d", w.integ)
	if code := w.apiJSON(t, a.addr, "PUT", base+"/selection", `{"services":{"repository":true}}`, nil); code != 200 {
		t.Fatalf("switching the repository service on: %d", code)
	}
	w.startSync(t, b.addr)
	var target e2eMirror
	for i := 0; target.CloneURL == ""; i++ {
		var list struct {
			Mirrors []e2eMirror `json:"mirrors"`
		}
		w.apiJSON(t, a.addr, "GET", base+"/mirrors", "", &list)
		for _, m := range list.Mirrors {
			if m.State == "ready" {
				target = m
				break
			}
		}
		if i == 600 {
			t.Fatalf("no mirror ready: %+v\n%s\n%s", list, a.logs, b.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	path := strings.SplitN(target.CloneURL, "/git/", 2)[1]
	clone := func(addr string) {
		t.Helper()
		dest := filepath.Join(t.TempDir(), "c")
		if out, err := runner(t, addr, w.apiToken, "clone", "--quiet", "http://"+addr+"/git/"+path, dest); err != nil {
			t.Fatalf("clone through %s: %v\n%s", addr, err, out)
		}
	}
	a.cmd.Process.Kill()
	a.cmd.Wait()
	clone(b.addr)
	a2 := startServe(t, env)
	b.cmd.Process.Kill()
	b.cmd.Wait()
	clone(a2.addr)
}

// TestAKill9DuringAFirstCloneServesNoHalfMirrorAndTheCloneIsMadeAgain kills
// a labsync serve process with SIGKILL while git is making a project's first
// mirror (GitLab slowed down so the clone is surely under way), checks that
// nothing half made is served, restarts labsync on the same data and checks
// that the mirror is made again by itself and clones as GitLab's repository.
func TestAKill9DuringAFirstCloneServesNoHalfMirrorAndTheCloneIsMadeAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts labsync processes")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed (apt-get install -y git): %v", err)
	}
	dbURL := ""
	if storetest.Dialect(t) == store.Postgres {
		dbURL = storetest.FreshPostgresURL(t)
	}
	w := newSyncedWorld(t, dbURL, sandbox.Config{Version: "17.11", Seed: 5, Groups: 1, Projects: 2, MRs: 1, Issues: 1, Pipelines: 1, Commits: 40, Git: true})
	env := append(append([]string(nil), w.env...), "LABSYNC_LOG_LEVEL=warn")
	srv := startServe(t, env)
	base := fmt.Sprintf("/api/v1/integrations/%d", w.integ)
	w.startSync(t, srv.addr)
	// The sync selects the projects (the repository service still off).
	for i := 0; ; i++ {
		var page struct {
			Repositories []json.RawMessage `json:"repositories"`
		}
		w.apiJSON(t, srv.addr, "GET", base+"/repositories?selected=true", "", &page)
		if len(page.Repositories) == w.sb.Manifest().Projects {
			break
		}
		if i == 1200 {
			t.Fatalf("the projects were never selected: %+v\n%s", page, srv.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// GitLab answers every request 3 s late: a first clone (three Git
	// requests) is under way for at least 6 s.
	w.sb.SetFaults(sandbox.Faults{Latency: 3 * time.Second})
	if code := w.apiJSON(t, srv.addr, "PUT", base+"/selection", `{"services":{"repository":true}}`, nil); code != 200 {
		t.Fatalf("switching the repository service on: %d", code)
	}
	dir := filepath.Join(w.opts.DataDir, "mirrors", fmt.Sprint(w.integ))
	var cut []string // projects whose clone the kill cut short
	for i := 0; len(cut) == 0; i++ {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".tmp-") && e.IsDir() {
				cut = append(cut, e.Name())
			}
		}
		if len(cut) > 0 {
			srv.cmd.Process.Signal(syscall.SIGKILL)
			srv.cmd.Wait()
			break
		}
		if i == 2400 {
			t.Fatalf("no first clone started within two minutes:\n%s", srv.logs)
		}
		time.Sleep(25 * time.Millisecond)
	}
	// Nothing half made is a mirror: every <id>.git left is complete.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".git") {
			gitOut(t, filepath.Join(dir, e.Name()), "fsck", "--connectivity-only", "--no-progress")
		}
	}

	w.sb.SetFaults(sandbox.Faults{})
	srv2 := startServe(t, env)
	var mirrors []e2eMirror
	for i := 0; ; i++ {
		var list struct {
			Mirrors []e2eMirror `json:"mirrors"`
		}
		w.apiJSON(t, srv2.addr, "GET", base+"/mirrors", "", &list)
		ready := 0
		for _, m := range list.Mirrors {
			if m.State == "ready" {
				ready++
			} else if m.CloneURL != "" {
				// Until it is made again a cut clone is not served.
				// (It may have become ready since the list: then it
				// must be whole.)
				if o, err := runner(t, srv2.addr, w.apiToken, "ls-remote", m.CloneURL); err == nil {
					if !strings.Contains(o, "refs/heads/") {
						t.Fatalf("a mirror that is %s answered ls-remote without branches:\n%s", m.State, o)
					}
				}
			}
		}
		if len(list.Mirrors) == w.sb.Manifest().Projects && ready == len(list.Mirrors) {
			mirrors = list.Mirrors
			break
		}
		if i == 1200 {
			t.Fatalf("the mirrors were not made again after the restart: %+v\n%s", list, srv2.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The restart removed what the killed clone left behind.
	for _, name := range cut {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("the clone the kill cut short (%s) is still on disk: %v", name, err)
		}
	}
	for _, m := range mirrors {
		dest := filepath.Join(t.TempDir(), "clone")
		if out, err := runner(t, srv2.addr, w.apiToken, "clone", "--quiet", "--mirror", m.CloneURL, dest); err != nil {
			t.Fatalf("clone %s after the restart: %v\n%s", m.CloneURL, err, out)
		}
		gitOut(t, dest, "fsck", "--no-progress")
		for _, mr := range sandboxMRs(t, w.sb, m.ProjectID) {
			if got := strings.TrimSpace(gitOut(t, dest, "rev-parse", fmt.Sprintf("refs/merge-requests/%d/head", mr.IID))); got != mr.SHA {
				t.Errorf("%s: merge request %d's head is %s, GitLab says %s", m.PathWithNamespace, mr.IID, got, mr.SHA)
			}
		}
	}
}

// TestOnGitLabComOnlySelectedProjectsAreMirroredWithAnOrdinaryUsersToken
// connects as alice (no administrator exists on the gitlab.com profile),
// selects two of the projects she is a member of, and checks that exactly
// those are mirrored and clone through labsync as GitLab has them — none of
// her other projects, none of the public world's.
func TestOnGitLabComOnlySelectedProjectsAreMirroredWithAnOrdinaryUsersToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts labsync processes")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed (apt-get install -y git): %v", err)
	}
	dbURL := ""
	if storetest.Dialect(t) == store.Postgres {
		dbURL = storetest.FreshPostgresURL(t)
	}
	w := newSyncedWorld(t, dbURL, sandbox.Config{Profile: sandbox.ProfileGitLabCom, PublicProjects: 2000, Seed: 6, Groups: 2, Projects: 6,
		MRs: 1, Issues: 1, Pipelines: 1, Commits: 12, Git: true})
	if w.sb.AdminToken() != "" {
		t.Fatal("the gitlab.com profile has an administrator token")
	}
	type glProject struct {
		ID                int64  `json:"id"`
		PathWithNamespace string `json:"path_with_namespace"`
		Visibility        string `json:"visibility"`
		DefaultBranch     string `json:"default_branch"`
	}
	var mine []glProject
	sandboxGET(t, w.sb, "/api/v4/projects?membership=true&per_page=100&order_by=id&sort=asc", &mine)
	if len(mine) < 3 {
		t.Fatalf("alice is a member of %d projects, want at least 3", len(mine))
	}
	want := []glProject{mine[0], mine[len(mine)-1]} // not every project she can read
	ids := []string{}
	for _, p := range want {
		ids = append(ids, fmt.Sprint(p.ID))
	}
	srv := startServe(t, w.env)
	base := fmt.Sprintf("/api/v1/integrations/%d", w.integ)
	if code := w.apiJSON(t, srv.addr, "PUT", base+"/selection",
		`{"projects":[`+strings.Join(ids, ",")+`],"groups":[],"services":{"merge_requests":true,"issues":true,"pipelines":true,"pushes":true,"repository":true}}`, nil); code != 200 {
		t.Fatalf("selecting %v with the repository service: %d", ids, code)
	}
	w.startSync(t, srv.addr)
	var mirrors []e2eMirror
	for i := 0; ; i++ {
		var list struct {
			Mirrors []e2eMirror `json:"mirrors"`
		}
		w.apiJSON(t, srv.addr, "GET", base+"/mirrors", "", &list)
		ready := 0
		for _, m := range list.Mirrors {
			if m.Error != nil {
				t.Fatalf("mirror of %s failed: %+v", m.PathWithNamespace, *m.Error)
			}
			if m.State == "ready" {
				ready++
			}
		}
		if len(list.Mirrors) >= len(want) && ready == len(list.Mirrors) {
			mirrors = list.Mirrors
			break
		}
		if i == 1200 {
			t.Fatalf("the selected projects were never all mirrored: %+v\n%s", list, srv.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := map[int64]e2eMirror{}
	for _, m := range mirrors {
		got[m.ProjectID] = m
	}
	if len(got) != len(want) {
		t.Errorf("%d mirrors, want the %d selected projects only: %+v", len(got), len(want), mirrors)
	}
	onDisk, _ := filepath.Glob(filepath.Join(w.opts.DataDir, "mirrors", fmt.Sprint(w.integ), "*.git"))
	if len(onDisk) != len(want) {
		t.Errorf("%d mirrors on disk, want %d: %v", len(onDisk), len(want), onDisk)
	}
	for _, p := range want {
		m, ok := got[p.ID]
		if !ok {
			t.Errorf("selected project %s is not mirrored", p.PathWithNamespace)
			continue
		}
		dest := filepath.Join(t.TempDir(), "clone")
		if out, err := runner(t, srv.addr, w.apiToken, "clone", "--quiet", "--mirror", m.CloneURL, dest); err != nil {
			t.Fatalf("clone %s: %v\n%s", m.CloneURL, err, out)
		}
		var commits []struct {
			ID string `json:"id"`
		}
		sandboxGET(t, w.sb, fmt.Sprintf("/api/v4/projects/%d/repository/commits?per_page=1", p.ID), &commits)
		if len(commits) == 0 {
			t.Fatalf("%s has no commits in GitLab's API", p.PathWithNamespace)
		}
		if head := strings.TrimSpace(gitOut(t, dest, "rev-parse", "refs/heads/"+p.DefaultBranch)); head != commits[0].ID {
			t.Errorf("%s: %s through labsync is %s, GitLab's API says %s", p.PathWithNamespace, p.DefaultBranch, head, commits[0].ID)
		}
	}
}
