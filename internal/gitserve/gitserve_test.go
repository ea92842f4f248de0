package gitserve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/mirror"
	"github.com/labsync/labsync/internal/mirror/mirrortest"
	"github.com/labsync/labsync/internal/secret"
)

// TestMain lets the test binary act as the credential helper git runs.
func TestMain(m *testing.M) {
	if os.Getenv("GITSERVE_TEST_CREDENTIAL_HELPER") == "1" {
		if err := CredentialHelper(os.Args[len(os.Args)-1], os.Stdin, os.Stdout, os.Getenv("LABSYNC_API_TOKEN"), ""); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	aliceToken = "lsk_alice0000000000000000000000000000000000000000000000"
	bobToken   = "lsk_bob000000000000000000000000000000000000000000000000"
)

// access is the organisations of this test: alice's org 1 selected g/app
// and g/sha of integration 1; bob's org 2 selected g/other of integration 2.
type access struct {
	mu      sync.Mutex
	tokens  map[string]int64 // token → org
	selects map[int64]map[string]mirror.Key
	audits  []Grant
}

func (a *access) Authorize(_ context.Context, token string, integrationID int64, path string) (Grant, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	org, ok := a.tokens[token]
	if !ok {
		return Grant{}, ErrUnauthenticated
	}
	k, ok := a.selects[org][path]
	if !ok || k.IntegrationID != integrationID {
		return Grant{}, ErrNotFound
	}
	return Grant{OrgID: org, Key: k, PathWithNamespace: path, Who: fmt.Sprintf("token of org %d", org)}, nil
}

func (a *access) Audit(_ context.Context, g Grant, _ time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.audits = append(a.audits, g)
	return nil
}

func (a *access) revoke(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.tokens, token)
}

type fixture struct {
	gitlab  *mirrortest.Server
	labsync *httptest.Server
	acc     *access
	heads   map[string]string
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{gitlab: mirrortest.NewServer(t, "glpat-source", false), heads: map[string]string{}}
	m, err := mirror.New(mirror.Config{
		Dir:    t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Remote: func(context.Context, int64, int64) (mirror.Remote, error) {
			return mirror.Remote{BaseURL: f.gitlab.URL, Username: "oauth2", Token: secret.New("glpat-source")}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	projects := []mirror.Project{
		{Key: mirror.Key{IntegrationID: 1, ProjectID: 10}, PathWithNamespace: "g/app", ObjectFormat: "sha1", DefaultBranch: "main"},
		{Key: mirror.Key{IntegrationID: 1, ProjectID: 11}, PathWithNamespace: "g/sha", ObjectFormat: "sha256", DefaultBranch: "main"},
		{Key: mirror.Key{IntegrationID: 1, ProjectID: 12}, PathWithNamespace: "g/unselected", ObjectFormat: "sha1", DefaultBranch: "main"},
		{Key: mirror.Key{IntegrationID: 2, ProjectID: 20}, PathWithNamespace: "g/other", ObjectFormat: "sha1", DefaultBranch: "main"},
	}
	for _, p := range projects {
		f.heads[p.PathWithNamespace] = f.gitlab.NewRepo(t, p.PathWithNamespace, p.ObjectFormat, 20)
		if err := m.Sync(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	f.acc = &access{
		tokens: map[string]int64{aliceToken: 1, bobToken: 2},
		selects: map[int64]map[string]mirror.Key{
			1: {"g/app": projects[0].Key, "g/sha": projects[1].Key, "g/notyet": {IntegrationID: 1, ProjectID: 13}},
			2: {"g/other": projects[3].Key},
		},
	}
	cfg := Config{Mirrors: m, Access: f.acc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	// As server.HandlePrefix mounts it: the path arrives uncleaned.
	f.labsync = httptest.NewServer(New(cfg))
	t.Cleanup(f.labsync.Close)
	return f
}

// runnerGit runs git as a runner configured with one credential-helper
// line for labsync and the token in its environment.
func (f *fixture) runnerGit(t *testing.T, token string, args ...string) (string, error) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pre := []string{"-c", "credential.helper=", "-c", "credential." + f.labsync.URL + ".helper=!" + self}
	cmd := exec.Command("git", append(pre, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
		"GITSERVE_TEST_CREDENTIAL_HELPER=1", "LABSYNC_API_TOKEN=" + token, "GIT_TRACE_PACKET=" + os.Getenv("TRACE")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestARunnerClonesASelectedProjectThroughLabsyncWithOneCredentialHelperLine(t *testing.T) {
	f := newFixture(t, nil)
	for _, path := range []string{"g/app", "g/sha"} {
		t.Run(path, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "clone")
			if out, err := f.runnerGit(t, aliceToken, "clone", "--quiet", f.labsync.URL+"/git/1/"+path+".git", dest); err != nil {
				t.Fatalf("clone: %v\n%s", err, out)
			}
			if got := mirrortest.Git(t, dest, "rev-parse", "HEAD"); got != f.heads[path] {
				t.Errorf("cloned HEAD %s, want GitLab's %s", got, f.heads[path])
			}
			if got := mirrortest.Git(t, dest, "rev-list", "--count", "HEAD"); got != "20" {
				t.Errorf("%s commits, want 20", got)
			}
			if got := mirrortest.Git(t, dest, "config", "--get", "remote.origin.url"); strings.Contains(got, "lsk_") {
				t.Errorf("the token landed in the clone's config: %s", got)
			}
		})
	}
	f.acc.mu.Lock()
	defer f.acc.mu.Unlock()
	if len(f.acc.audits) != 2 || f.acc.audits[0].PathWithNamespace != "g/app" || f.acc.audits[0].OrgID != 1 || f.acc.audits[0].Who == "" {
		t.Errorf("audit entries %+v, want one per clone with who and which project", f.acc.audits)
	}
}

func TestShallowPartialAndProtocolV2ClonesAreServed(t *testing.T) {
	f := newFixture(t, nil)
	url := f.labsync.URL + "/git/1/g/app.git"
	t.Run("depth 1", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "c")
		if out, err := f.runnerGit(t, aliceToken, "clone", "--quiet", "--depth", "1", url, dest); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if got := mirrortest.Git(t, dest, "rev-list", "--count", "HEAD"); got != "1" {
			t.Errorf("%s commits in a --depth 1 clone, want 1", got)
		}
	})
	t.Run("filter blob:none", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "c")
		if out, err := f.runnerGit(t, aliceToken, "clone", "--quiet", "--no-checkout", "--filter=blob:none", url, dest); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if got := mirrortest.Git(t, dest, "config", "--get", "remote.origin.partialclonefilter"); got != "blob:none" {
			t.Errorf("partialclonefilter %q, want blob:none", got)
		}
		missing := mirrortest.Git(t, dest, "rev-list", "--objects", "--missing=print", "HEAD")
		if !strings.Contains(missing, "\n?") {
			t.Errorf("no blob is missing from a blob:none clone:\n%s", missing)
		}
	})
	t.Run("protocol v2", func(t *testing.T) {
		self, _ := os.Executable()
		cmd := exec.Command("git", "-c", "protocol.version=2", "-c", "credential.helper=", "-c", "credential.helper=!"+self, "ls-remote", url)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
			"GITSERVE_TEST_CREDENTIAL_HELPER=1", "LABSYNC_API_TOKEN=" + aliceToken, "GIT_TRACE_PACKET=1"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(string(out), "git< version 2") {
			t.Errorf("the server did not speak protocol v2:\n%.2000s", out)
		}
	})
}

// raw sends one request with the path exactly as written (no cleaning by
// the client) and returns the response.
func raw(t *testing.T, base, method, path, token string, body []byte) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: labsync\r\nConnection: close\r\nContent-Length: %d\r\n", method, path, len(body))
	if method == http.MethodPost {
		b.WriteString("Content-Type: application/x-git-upload-pack-request\r\n")
	}
	if token != "" {
		fmt.Fprintf(&b, "Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte("runner:"+token)))
	}
	b.WriteString("\r\n")
	b.Write(body)
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestBadInputIsRefusedAsTheIssueSays(t *testing.T) {
	f := newFixture(t, nil)
	const refs = ".git/info/refs?service=git-upload-pack"
	cases := []struct {
		name, method, path, token string
		want                      int
	}{
		{"dot-dot segment", "GET", "/git/1/g/../g/app" + refs, aliceToken, 404},
		{"dot-dot out of the integration", "GET", "/git/1/../2/g/other" + refs, aliceToken, 404},
		{"encoded dot-dot", "GET", "/git/1/g/%2e%2e/g/app" + refs, aliceToken, 404},
		{"encoded slash", "GET", "/git/1/g%2fapp" + refs, aliceToken, 404},
		{"double-encoded dot-dot", "GET", "/git/1/g/%252e%252e/app" + refs, aliceToken, 404},
		{"absolute path", "GET", "/git/1//etc/passwd" + refs, aliceToken, 404},
		{"absolute path as integration", "GET", "/git//tmp/x" + refs, aliceToken, 404},
		{"backslash", "GET", `/git/1/g\app` + refs, aliceToken, 404},
		{"dot segment", "GET", "/git/1/./g/app" + refs, aliceToken, 404},
		{"not selected", "GET", "/git/1/g/unselected" + refs, aliceToken, 404},
		{"another organisation's project", "GET", "/git/2/g/other" + refs, aliceToken, 404},
		{"own project under another integration id", "GET", "/git/2/g/app" + refs, aliceToken, 404},
		{"no such project", "GET", "/git/1/g/nope" + refs, aliceToken, 404},
		{"receive-pack advertisement", "GET", "/git/1/g/app.git/info/refs?service=git-receive-pack", aliceToken, 403},
		{"receive-pack", "POST", "/git/1/g/app.git/git-receive-pack", aliceToken, 403},
		{"dumb protocol", "GET", "/git/1/g/app.git/info/refs", aliceToken, 403},
		{"mirror file outside upload-pack", "GET", "/git/1/g/app.git/HEAD", aliceToken, 404},
		{"no token", "GET", "/git/1/g/app" + refs, "", 401},
		{"bad token", "GET", "/git/1/g/app" + refs, "lsk_wrong", 401},
		{"selected but not mirrored yet", "GET", "/git/1/g/notyet" + refs, aliceToken, 503},
		{"the selected project", "GET", "/git/1/g/app" + refs, aliceToken, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := raw(t, f.labsync.URL, c.method, c.path, c.token, nil)
			defer resp.Body.Close()
			if resp.StatusCode != c.want {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("%s %s = %d, want %d: %s", c.method, c.path, resp.StatusCode, c.want, b)
			}
			if c.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("401 without a Basic WWW-Authenticate: %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestARevokedTokenGets401AndGitRefusesToPush(t *testing.T) {
	f := newFixture(t, nil)
	dest := filepath.Join(t.TempDir(), "c")
	url := f.labsync.URL + "/git/1/g/app.git"
	if out, err := f.runnerGit(t, bobToken, "clone", "--quiet", url, dest); err == nil {
		t.Fatalf("another organisation's token cloned alice's project:\n%s", out)
	}
	if out, err := f.runnerGit(t, aliceToken, "clone", "--quiet", url, dest); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mirrortest.Git(t, dest, "-c", "user.name=r", "-c", "user.email=r@x", "commit", "--quiet", "--allow-empty", "-m", "from a runner")
	out, err := f.runnerGit(t, aliceToken, "-C", dest, "push", "origin", "HEAD:main")
	if err == nil || !strings.Contains(out, "403") {
		t.Errorf("push through labsync: err %v, want a 403 refusal:\n%s", err, out)
	}
	f.acc.revoke(aliceToken)
	resp := raw(t, f.labsync.URL, "GET", "/git/1/g/app.git/info/refs?service=git-upload-pack", aliceToken, nil)
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("revoked token: %d %q, want 401 with WWW-Authenticate", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

func TestASlowClientIsCutOff(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.BodyTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.labsync.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	auth := base64.StdEncoding.EncodeToString([]byte("r:" + aliceToken))
	// Announce a 1 MB request, send 8 bytes of it, then stall.
	fmt.Fprintf(conn, "POST /git/1/g/app.git/git-upload-pack HTTP/1.1\r\nHost: l\r\nAuthorization: Basic %s\r\nContent-Type: application/x-git-upload-pack-request\r\nContent-Length: 1000000\r\n\r\n0014comm", auth)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("labsync kept a stalled client's connection open for 20s")
	}
}

func TestCredentialHelperAnswersGitsGetOnlyWhereTheTokenIsSafe(t *testing.T) {
	cases := []struct {
		name, action, in, host string
		want                   string
	}{
		{"get over https", "get", "protocol=https\nhost=labsync.example.com\npath=git/1/g/app.git\n\n", "", "username=labsync\npassword=lsk_x\n"},
		{"get for the configured host", "get", "protocol=https\nhost=labsync.example.com:8443\n\n", "labsync.example.com:8443", "username=labsync\npassword=lsk_x\n"},
		{"get for another host", "get", "protocol=https\nhost=evil.example.com\n\n", "labsync.example.com", ""},
		{"get over plain http to a network host", "get", "protocol=http\nhost=labsync.example.com\n\n", "", ""},
		{"get over http to loopback", "get", "protocol=http\nhost=127.0.0.1:8787\n\n", "", "username=labsync\npassword=lsk_x\n"},
		{"store is ignored", "store", "protocol=https\nhost=h\nusername=u\npassword=p\n\n", "", ""},
		{"erase is ignored", "erase", "protocol=https\nhost=h\n\n", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := CredentialHelper(c.action, strings.NewReader(c.in), &out, "lsk_x", c.host); err != nil {
				t.Fatal(err)
			}
			if out.String() != c.want {
				t.Errorf("answer %q, want %q", out.String(), c.want)
			}
		})
	}
	if err := CredentialHelper("get", strings.NewReader("protocol=https\nhost=h\n\n"), io.Discard, "", ""); err == nil {
		t.Error("no error without a token")
	}
}
