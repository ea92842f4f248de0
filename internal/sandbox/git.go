package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Real Git behind the sandbox (Config.Git). Every project is a bare
// repository in a temporary directory the sandbox makes and removes on
// Close: the seeded projects are written at Start with `git fast-import`
// (deterministic: same seed, same commit ids), the gitlab.com public world's
// on first use, and activity adds real commits. The commit ids the API and
// the webhooks report are the repository's. Git smart HTTP is served by
// Debian's `git http-backend` as a CGI program — no Go reimplementation of
// Git — behind authentication that follows GitLab's
// (lib/gitlab/auth.rb: Basic with any user name and a token as password, or
// oauth2:<token>; abilities per token scope).

// gitRepo is a project's bare repository path.
func (s *Sandbox) gitRepo(p *project) string {
	return filepath.Join(s.gitDir, strconv.FormatInt(p.id, 10)+".git")
}

// gitEnv is the environment of every git command the sandbox runs: no user
// or system configuration, and upload-pack settings as Gitaly sets them so
// partial clones work.
func (s *Sandbox) gitEnv() []string {
	return []string{"PATH=" + filepath.Dir(s.gitBin) + ":/usr/bin:/bin", "HOME=" + s.gitDir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CONFIG_COUNT=2", "GIT_CONFIG_KEY_0=uploadpack.allowFilter", "GIT_CONFIG_VALUE_0=true",
		"GIT_CONFIG_KEY_1=uploadpack.allowAnySHA1InWant", "GIT_CONFIG_VALUE_1=true"}
}

func (s *Sandbox) git(stdin []byte, dir string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.gitBin, args...)
	cmd.Dir, cmd.Env = dir, s.gitEnv()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("sandbox: git %s: %w: %s", args[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// startGit finds git, makes the repository directory and writes the seeded
// projects' repositories, a few at a time (each is a git process waiting
// mostly on exec and the disk).
func (s *Sandbox) startGit() error {
	bin, err := exec.LookPath("git")
	if err != nil {
		return fmt.Errorf("sandbox: Config.Git needs Debian's git (apt-get install git): %w", err)
	}
	s.gitBin = bin
	if s.gitDir, err = os.MkdirTemp("", "labsync-sandbox-git-"); err != nil {
		return fmt.Errorf("sandbox: repository directory: %w", err)
	}
	s.gitReady = map[int64]bool{}
	var wg sync.WaitGroup
	errs := make([]error, s.seededProjects)
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = s.importProject(s.projects[i])
			}
		}()
	}
	for i := range s.seededProjects {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, p := range s.projects[:s.seededProjects] {
		s.gitReady[p.id] = true
	}
	if err := errors.Join(errs...); err != nil {
		os.RemoveAll(s.gitDir)
		return err
	}
	return nil
}

// initRepo makes an empty bare repository in the project's object format.
func (s *Sandbox) initRepo(p *project) error {
	format := "sha1"
	if p.sha256 {
		format = "sha256"
	}
	_, err := s.git(nil, s.gitDir, "init", "--quiet", "--bare", "--template=", "--object-format="+format, "--initial-branch="+p.defBranch, s.gitRepo(p))
	return err
}

// ensureRepo makes a public-world project's repository on first use. Call
// with s.mu held for writing, or from a handler before reading.
func (s *Sandbox) ensureRepo(p *project) error {
	s.gitMu.Lock()
	defer s.gitMu.Unlock()
	if s.gitReady == nil {
		return errors.New("sandbox: closed, its repositories are gone")
	}
	if s.gitReady[p.id] {
		return nil
	}
	if err := s.initRepo(p); err != nil {
		return err
	}
	s.gitReady[p.id] = true
	return nil
}

// fiCommit is one commit of a fast-import stream.
type fiCommit struct {
	ref     string
	mark    int
	from    string // ":mark", a commit id, or "" for a root commit
	merge   string // second parent, or ""
	author  *user
	when    time.Time
	message string
	file    string // README.md content
}

func writeFI(b *bytes.Buffer, c fiCommit) {
	sig := fmt.Sprintf("%s <%s> %d +0000", c.author.name, c.author.email, c.when.Unix())
	fmt.Fprintf(b, "commit %s\nmark :%d\nauthor %s\ncommitter %s\ndata %d\n%s\n", c.ref, c.mark, sig, sig, len(c.message), c.message)
	if c.from != "" {
		fmt.Fprintf(b, "from %s\n", c.from)
	}
	if c.merge != "" {
		fmt.Fprintf(b, "merge %s\n", c.merge)
	}
	fmt.Fprintf(b, "M 100644 inline README.md\ndata %d\n%s\n", len(c.file), c.file)
}

// fastImport runs a stream into p's repository and returns the commit id of
// each mark.
func (s *Sandbox) fastImport(p *project, stream []byte) (map[int]string, error) {
	marks := filepath.Join(s.gitRepo(p), "sandbox-marks")
	defer os.Remove(marks)
	if _, err := s.git(stream, s.gitRepo(p), "fast-import", "--quiet", "--force", "--export-marks="+marks); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(marks)
	if err != nil {
		return nil, fmt.Errorf("sandbox: fast-import marks: %w", err)
	}
	out := map[int]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		m, id, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.Atoi(strings.TrimPrefix(m, ":"))
		if !ok || err != nil {
			return nil, fmt.Errorf("sandbox: fast-import marks: bad line %q", sc.Text())
		}
		out[n] = id
	}
	return out, nil
}

func readme(p *project, title string, n int) string {
	return fmt.Sprintf("# %s\n\n%s (change %d)\n", p.name, title, n)
}

// importProject writes a seeded project's repository: the default branch's
// linear history, one head commit per merge request (a branch for open and
// closed ones, as the dataset has them; refs/merge-requests/<iid>/head for
// all, as GitLab keeps), refs/merge-requests/<iid>/merge for the open ones
// (hasMergeRef, mergeRefCommit), then rewrites every commit id the dataset holds —
// commits, branch heads, merge request sha and merge_commit_sha, pipeline
// sha, push events — with the repository's. A merged merge request's
// merge_commit_sha names the first default-branch commit at or after its
// merge (the seeded history has no merge commits).
func (s *Sandbox) importProject(p *project) error {
	if err := s.initRepo(p); err != nil {
		return err
	}
	var b bytes.Buffer
	mark := 0
	headRef := "refs/heads/" + p.defBranch
	for i, c := range p.commits {
		mark++
		writeFI(&b, fiCommit{ref: headRef, mark: mark, author: c.author, when: c.created, message: c.title + "\n", file: readme(p, c.title, i+1)})
	}
	mrMark, baseIdx := map[int64]int{}, map[int64]int{}
	for _, m := range p.mrs {
		mark++
		mrMark[m.id] = mark
		from, when := "", m.updated.Truncate(time.Second)
		if m.state == stateMerged {
			when = m.created.Truncate(time.Second)
		}
		// The branch point: the default branch's head for unmerged merge
		// requests (as the dataset says), the last commit before creation
		// for merged ones.
		base := len(p.commits)
		if m.state == stateMerged {
			base, _ = slices.BinarySearchFunc(p.commits, m.created, func(c *commit, t time.Time) int { return c.created.Compare(t) })
		}
		if base > 0 {
			from = ":" + strconv.Itoa(base)
			baseIdx[m.id] = base
		}
		ref := fmt.Sprintf("refs/merge-requests/%d/head", m.iid)
		author := s.userByID(m.authorID)
		writeFI(&b, fiCommit{ref: ref, mark: mark, from: from, author: author, when: when, message: m.title + "\n", file: readme(p, m.title, 0)})
		if m.state != stateMerged {
			fmt.Fprintf(&b, "reset refs/heads/%s\nfrom :%d\n", m.source, mark)
		}
		if m.state == stateOpened && from != "" && s.ver.hasMergeRef() {
			mark++
			writeFI(&b, s.mergeRefCommit(p, m, mark, from, ":"+strconv.Itoa(mrMark[m.id]), when, readme(p, m.title, 0)))
		}
	}
	if mark == 0 {
		return nil
	}
	marks, err := s.fastImport(p, b.Bytes())
	if err != nil {
		return fmt.Errorf("sandbox: project %d: %w", p.id, err)
	}
	re := map[string]string{}
	for i, c := range p.commits {
		re[c.sha] = marks[i+1]
		c.sha = marks[i+1]
		c.parent = ""
		if i > 0 {
			c.parent = p.commits[i-1].sha
		}
	}
	for _, m := range p.mrs {
		re[m.sha] = marks[mrMark[m.id]]
		m.sha = marks[mrMark[m.id]]
		if m.state == stateMerged {
			if i := baseIdx[m.id]; i > 0 {
				m.base = p.commits[i-1].sha
			}
			i, _ := slices.BinarySearchFunc(p.commits, m.merged, func(c *commit, t time.Time) int { return c.created.Compare(t) })
			switch {
			case i < len(p.commits):
				m.mergeSHA = p.commits[i].sha
			case len(p.commits) > 0:
				m.mergeSHA = p.commits[len(p.commits)-1].sha
			default:
				m.mergeSHA = m.sha
			}
		}
	}
	for _, br := range p.branches {
		if br.head == nil || br.name == p.defBranch {
			continue
		}
		if m := findMRBySource(p, br.name); m != nil {
			br.head.sha, br.head.created = m.sha, m.updated.Truncate(time.Second)
			br.head.parent = ""
			if len(p.commits) > 0 {
				br.head.parent = p.commits[len(p.commits)-1].sha
			}
		}
	}
	for _, pl := range p.pipelines {
		if id, ok := re[pl.sha]; ok {
			pl.sha = id
		} else if len(p.commits) == 0 && len(p.mrs) > 0 {
			pl.sha = p.mrs[0].sha
		}
	}
	for _, e := range p.events {
		if e.push == nil {
			continue
		}
		if id, ok := re[e.push.to]; ok {
			e.push.to = id
		}
		if id, ok := re[e.push.from]; ok {
			e.push.from = id
		}
	}
	return nil
}

// hasMergeRef: GitLab writes refs/merge-requests/<iid>/merge, the result of
// merging the merge request's head into its target branch, whenever it
// checks an open merge request's mergeability
// (MergeRequests::MergeabilityCheckService runs MergeToRefService and
// marks the merge request mergeable only when that merge succeeds; the
// merge commit's parents are the target's head, then the source's). The
// ref came with gitlab-ce#47110 (gitaly!1057, early 2019) for explicit
// merge_to_ref calls; gitlab-ce!29569 (June 2019, behind a feature flag)
// made the mergeability check keep it up to date, so 12.1 here is an
// estimate. GitLab does not write it for a merge request that cannot be
// merged, and after a push to the target it is stale until the next check
// (MergeRequests::RefreshService marks the merge request unchecked; the
// check runs later). It is removed, with /head and /train, 14 days after
// the merge request is merged or closed (MergeRequests::CleanupRefsService,
// MergeRequest#cleanup_refs); the sandbox, which runs for minutes, keeps
// both refs of closed and merged merge requests.
func (v version) hasMergeRef() bool { return v.atLeast(12, 1) }

// mergeRefCommit is the merge commit of refs/merge-requests/<iid>/merge:
// target (the target branch's head) and head (the merge request's head) as
// parents, in that order, and file, the merged README. The seeded and
// opened merge requests branch from the target's head, so the merge has
// the head's tree.
func (s *Sandbox) mergeRefCommit(p *project, m *mergeRequest, mark int, target, head string, when time.Time, file string) fiCommit {
	return fiCommit{ref: fmt.Sprintf("refs/merge-requests/%d/merge", m.iid), mark: mark, from: target, merge: head,
		author: s.userByID(m.authorID), when: when, message: fmt.Sprintf("Merge branch '%s' into '%s'\n", m.source, p.defBranch), file: file}
}

func findMRBySource(p *project, source string) *mergeRequest {
	for _, m := range p.mrs {
		if m.source == source {
			return m
		}
	}
	return nil
}

// gitCommits writes cs as real commits on ref (refs/heads/<branch> or
// refs/merge-requests/<iid>/head) starting from parent ("" for a root
// commit), the last one a merge of mergeParent when that is set, and sets
// each commit's sha, parent and time (whole seconds, as Git keeps them).
// Call with s.mu held for writing.
func (s *Sandbox) gitCommits(p *project, ref, parent, mergeParent string, cs []*commit) error {
	if err := s.ensureRepo(p); err != nil {
		return err
	}
	var b bytes.Buffer
	if parent == "" {
		fmt.Fprintf(&b, "reset %s\n", ref)
	}
	from := parent
	for i, c := range cs {
		c.created = c.created.Truncate(time.Second)
		fc := fiCommit{ref: ref, mark: i + 1, from: from, author: c.author, when: c.created, message: c.title + "\n",
			file: readme(p, c.title, len(p.commits)+i+1)}
		if i == len(cs)-1 {
			fc.merge = mergeParent
		}
		writeFI(&b, fc)
		from = ":" + strconv.Itoa(i+1)
	}
	marks, err := s.fastImport(p, b.Bytes())
	if err != nil {
		return fmt.Errorf("sandbox: project %d: %w", p.id, err)
	}
	prev := parent
	for i, c := range cs {
		c.sha, c.parent = marks[i+1], prev
		prev = c.sha
	}
	cs[len(cs)-1].merged = mergeParent
	return nil
}

// --- Git smart HTTP ---------------------------------------------------------

// gitAuthFailed is what GitLab's Git HTTP controller answers a request
// without valid credentials: 401 with a Basic challenge, so git asks its
// credential helper.
func gitAuthFailed(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte("HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect or you're required to use a token instead of a password. If a token was provided, it was either incorrect, expired, or improperly scoped.\n"))
}

func gitText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

// gitAbilities says what a token may do over Git HTTP, as the current
// Gitlab::Auth#abilities_for_scopes: api, read_api and read_repository
// download code; api and write_repository push. (Older lib/gitlab/auth.rb
// gave read_api no Git ability; the sandbox does not gate that by version.)
// OAuth access tokens get full abilities.
func gitAbilities(t *token) (download, push bool) {
	if t.kind == tokenOAuth {
		return true, true
	}
	for _, sc := range t.scopes {
		switch sc {
		case "api", "write_repository":
			download, push = true, true
		case "read_api", "read_repository":
			download = true
		}
	}
	return download, push
}

// serveGit answers /<path_with_namespace>.git/{info/refs,git-upload-pack,
// git-receive-pack}; every other path no route matched gets a 404.
func (s *Sandbox) serveGit(w http.ResponseWriter, r *http.Request) {
	i := strings.Index(r.URL.Path, ".git/")
	if s.gitDir == "" || i < 2 {
		http.NotFound(w, r)
		return
	}
	full, rest := r.URL.Path[1:i], r.URL.Path[i+4:]
	service := ""
	switch {
	case rest == "/info/refs" && r.Method == http.MethodGet:
		service = r.URL.Query().Get("service")
	case (rest == "/git-upload-pack" || rest == "/git-receive-pack") && r.Method == http.MethodPost:
		service = rest[1:]
	}
	// Name the route in the request log, as the API's patterns do.
	r.Pattern = r.Method + " /{path_with_namespace}.git" + rest
	if service != "git-upload-pack" && service != "git-receive-pack" {
		// Dumb HTTP and other paths: GitLab serves smart HTTP only.
		http.NotFound(w, r)
		return
	}
	var t *token
	if user, pass, ok := r.BasicAuth(); ok {
		var aerr *apiError
		// Any user name: GitLab tries the password as an OAuth token (user
		// oauth2), then as a personal access token.
		_ = user
		if t, aerr = s.authenticate(pass); aerr != nil {
			gitAuthFailed(w)
			return
		}
	}
	s.reap()
	s.mu.RLock()
	p := s.projectByRef(full)
	var u *user
	if t != nil {
		u = t.user
	}
	readable := p != nil && canRead(p, u)
	level := 0
	if p != nil {
		level = accessLevel(p, u)
	}
	s.mu.RUnlock()
	if !readable {
		if t == nil { // anonymous: ask for credentials, as GitLab does
			gitAuthFailed(w)
			return
		}
		gitText(w, http.StatusNotFound, "The project you were looking for could not be found or you don't have permission to view it.")
		return
	}
	if service == "git-receive-pack" {
		if t == nil {
			gitAuthFailed(w)
			return
		}
		if _, push := gitAbilities(t); !push || level < accessDeveloper {
			gitText(w, http.StatusForbidden, "You are not allowed to push code to this project.")
			return
		}
		// Pushes change the sandbox through its activity API (Push), which
		// keeps the API, the hooks and the repository in step.
		gitText(w, http.StatusForbidden, "The sandbox takes pushes through POST /-/sandbox/activity, not git push.")
		return
	}
	if t != nil {
		if download, _ := gitAbilities(t); !download {
			gitText(w, http.StatusForbidden, "You are not allowed to download code from this project.")
			return
		}
	}
	if err := s.ensureRepo(p); err != nil {
		gitText(w, http.StatusInternalServerError, "500 Internal Server Error")
		return
	}
	r2 := r.Clone(r.Context())
	r2.Header.Del("Authorization") // the token never reaches git's environment
	r2.URL.Path = "/" + strconv.FormatInt(p.id, 10) + ".git" + rest
	h := &cgi.Handler{Path: s.gitBin, Args: []string{"http-backend"}, Root: "/", Dir: s.gitDir,
		Env: append(s.gitEnv(), "GIT_PROJECT_ROOT="+s.gitDir, "GIT_HTTP_EXPORT_ALL=1")}
	h.ServeHTTP(w, r2)
}
