// Package mirrortest serves bare Git repositories over smart HTTP with
// Debian's git http-backend, authenticated as GitLab authenticates Git over
// HTTPS (Basic, any user name, the token as password; 401 with
// WWW-Authenticate otherwise; push refused), for tests of mirrors and of Git
// served by labsync.
//
// It stands in for the sandbox's own Git service until that lands; it must
// never listen anywhere but loopback and is for tests only.
package mirrortest

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Server is a Git smart HTTP server on loopback.
type Server struct {
	*httptest.Server
	// Root holds the bare repositories, <path_with_namespace>.git.
	Root  string
	token string

	mu        sync.Mutex
	onRequest func(*http.Request)
	requests  int
}

// NewServer starts a server (TLS with httptest's certificate when useTLS)
// accepting token, closed with the test.
func NewServer(t testing.TB, token string, useTLS bool) *Server {
	t.Helper()
	s := &Server{Root: t.TempDir(), token: token}
	backend, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is not installed: %v", err)
	}
	h := &cgi.Handler{
		Path: backend,
		Args: []string{"http-backend"},
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.Root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
			"HOME=" + s.Root,
			"GIT_CONFIG_COUNT=2",
			"GIT_CONFIG_KEY_0=uploadpack.allowFilter", "GIT_CONFIG_VALUE_0=true",
			"GIT_CONFIG_KEY_1=http.receivepack", "GIT_CONFIG_VALUE_1=false",
		},
		InheritEnv: []string{"PATH"},
		Stderr:     io.Discard, // "Not a git repository" for missing projects
	}
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests++
		hook, want := s.onRequest, s.token
		s.mu.Unlock()
		if hook != nil {
			hook(r)
		}
		_, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
			http.Error(w, "HTTP Basic: Access denied", http.StatusUnauthorized)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/git-receive-pack") || r.URL.Query().Get("service") == "git-receive-pack" {
			http.Error(w, "You are not allowed to push code to this project.", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
	if useTLS {
		s.Server = httptest.NewTLSServer(mux)
	} else {
		s.Server = httptest.NewServer(mux)
	}
	t.Cleanup(s.Close)
	return s
}

// OnRequest sets a function called at the start of every request.
func (s *Server) OnRequest(f func(*http.Request)) {
	s.mu.Lock()
	s.onRequest = f
	s.mu.Unlock()
}

// SetToken changes the accepted password, as a rotated or revoked GitLab
// token would.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	s.token = token
	s.mu.Unlock()
}

// Requests returns how many requests arrived.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Repo returns the directory of the bare repository at path.
func (s *Server) Repo(path string) string {
	return filepath.Join(s.Root, filepath.FromSlash(path)+".git")
}

// NewRepo creates the bare repository path (object format "sha1" or
// "sha256") with n commits on branch main and a tag v1 on the first,
// generated deterministically with git fast-import, and returns main's id.
func (s *Server) NewRepo(t testing.TB, path, format string, n int) string {
	t.Helper()
	dir := s.Repo(path)
	Git(t, "", "init", "--quiet", "--bare", "--object-format="+format, "--initial-branch=main", dir)
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		msg := fmt.Sprintf("commit %d\n", i)
		body := fmt.Sprintf("line %d of %s\n", i, path)
		fmt.Fprintf(&b, "commit refs/heads/main\nmark :%d\ncommitter Sandbox <sandbox@example.com> %d +0000\ndata %d\n%s", i, 1700000000+i, len(msg), msg)
		if i > 1 {
			fmt.Fprintf(&b, "from :%d\n", i-1)
		}
		fmt.Fprintf(&b, "M 644 inline file%d.txt\ndata %d\n%s\n", i%50, len(body), body)
	}
	fmt.Fprintf(&b, "reset refs/tags/v1\nfrom :1\n\n")
	cmd := exec.Command("git", "-C", dir, "fast-import", "--quiet")
	cmd.Env = gitEnv()
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git fast-import: %v\n%s", err, out)
	}
	return Git(t, dir, "rev-parse", "refs/heads/main")
}

// Push adds one commit to main of the repository at path, as a push to
// GitLab would, and returns its id.
func (s *Server) Push(t testing.TB, path, message string) string {
	t.Helper()
	dir := s.Repo(path)
	id := Git(t, dir, "commit-tree", "-p", "refs/heads/main", "-m", message, "refs/heads/main^{tree}")
	Git(t, dir, "update-ref", "refs/heads/main", id)
	return id
}

// Git runs git in dir ("" for none) with a clean environment and returns
// its trimmed output, failing the test on error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.Command("git", args...)
	cmd.Env = gitEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func gitEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Sandbox", "GIT_AUTHOR_EMAIL=sandbox@example.com", "GIT_AUTHOR_DATE=1700000000 +0000",
		"GIT_COMMITTER_NAME=Sandbox", "GIT_COMMITTER_EMAIL=sandbox@example.com", "GIT_COMMITTER_DATE=1700000000 +0000", "LC_ALL=C"}
}
