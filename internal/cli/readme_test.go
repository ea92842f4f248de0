package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

// quickstartBlock returns the shell block under README.md's heading
// "Quickstart against the simulated GitLab", as a newcomer copies it.
func quickstartBlock(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "\n## Quickstart against the simulated GitLab\n")
	if !ok {
		t.Fatal(`README.md has no "## Quickstart against the simulated GitLab" section`)
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatal("the quickstart section has no ```sh block")
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatal("the quickstart's ```sh block does not end")
	}
	return block
}

// TestTheReadmeQuickstartRunsAsWritten runs README.md's quickstart block
// the way a newcomer does, line by line in a shell: the simulated GitLab,
// serve, an API token, the GitLab token kept outside the repository,
// connect, the group list, the selection, `sync --start` and the merge
// request list. Only what a person would do differently is changed:
// `go run ./cmd/labsync` is this test binary standing in for labsync, the
// ports are free ones, the token placeholder is the token the sandbox
// printed, and after each command left running in the background the
// person waits until it is up. Every command must succeed, and the last
// one must list merge requests.
func TestTheReadmeQuickstartRunsAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("starts labsync processes")
	}
	block := quickstartBlock(t)
	for _, want := range []string{"go run ./cmd/labsync sandbox", "go run ./cmd/labsync serve", "'glpat-…'", "127.0.0.1:8929", "127.0.0.1:8787",
		"sync --integration 1 --start", "/api/v1/merge_requests"} {
		if !strings.Contains(block, want) {
			t.Fatalf("the quickstart no longer contains %q; update this test with it:\n%s", want, block)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gitlabAddr, labsyncAddr := freeAddr(t), freeAddr(t)

	// The commands as the person types them, one per line (a trailing
	// backslash continues a line), and what they do in between.
	var script strings.Builder
	script.WriteString("set -e\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n")
	script.WriteString("wait_for() { for _ in $(seq 1 600); do if eval \"$1\" >/dev/null 2>&1; then return 0; fi; sleep 0.2; done; echo \"gave up waiting for: $1\" >&2; return 1; }\n")
	lines := strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n")
	commands := 0
	for _, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		commands++
		line = strings.ReplaceAll(line, "go run ./cmd/labsync", "labsync")
		line = strings.ReplaceAll(line, "127.0.0.1:8929", gitlabAddr)
		line = strings.ReplaceAll(line, "127.0.0.1:8787", labsyncAddr)
		line = strings.ReplaceAll(line, "'glpat-…'", `"$(grep -o 'glpat-[0-9a-f]*' sandbox.out | head -n 1)"`)
		switch {
		case strings.Contains(line, "labsync sandbox") && strings.Contains(line, "&"):
			// The person reads the token the sandbox printed.
			line = strings.Replace(line, "&", "> sandbox.out 2>&1 &", 1)
			fmt.Fprintf(&script, "echo '$ %d'\n%s\nwait_for \"grep -q glpat- sandbox.out\"\n", commands, line)
		case strings.Contains(line, "labsync serve") && strings.Contains(line, "&"):
			line = strings.Replace(line, "&", "> serve.out 2>&1 &", 1)
			fmt.Fprintf(&script, "echo '$ %d'\n%s\nwait_for \"curl -sf http://%s/readyz\"\n", commands, line, labsyncAddr)
		default:
			fmt.Fprintf(&script, "echo '$ %d'\n%s\n", commands, line)
		}
	}
	if commands < 8 {
		t.Fatalf("the quickstart has %d commands; expected the whole path:\n%s", commands, block)
	}

	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\nLABSYNC_TEST_MAIN=1 exec %q \"$@\"\n", exe)
	if err := os.WriteFile(filepath.Join(bin, "labsync"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() { // the person's shell has no labsync settings
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "LABSYNC_") && !strings.HasPrefix(k, "LABSYNC_TEST_") || k == "PATH" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "LABSYNC_ADDR="+labsyncAddr,
		"LABSYNC_PUBLIC_URL=http://"+labsyncAddr, "LABSYNC_LOG_LEVEL=warn")
	if storetest.Dialect(t) == store.Postgres {
		env = append(env, "LABSYNC_DATABASE_URL="+storetest.FreshPostgresURL(t))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if err != nil {
		serveLog, _ := os.ReadFile(filepath.Join(dir, "serve.out"))
		t.Fatalf("the quickstart failed (%v)\nscript:\n%s\nstdout:\n%s\nstderr:\n%s\nserve:\n%s", err, script.String(), out.String(), errOut.String(), serveLog)
	}

	// The last command lists the merge requests the sync stored.
	stdout := out.String()
	last := stdout[strings.LastIndex(stdout, fmt.Sprintf("$ %d\n", commands))+len(fmt.Sprintf("$ %d\n", commands)):]
	var page struct {
		Items []struct {
			IID   int64  `json:"iid"`
			Title string `json:"title"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(last)), &page); err != nil {
		t.Fatalf("the last command's answer is not the merge request list: %v\n%s", err, last)
	}
	if len(page.Items) == 0 {
		t.Fatalf("the quickstart ended with no merge requests listed:\n%s", stdout)
	}
	if regexp.MustCompile(`glpat-[0-9a-f]{8,}`).MatchString(stdout + errOut.String()) {
		t.Fatal("a GitLab token was printed by a command after the sandbox's banner")
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "glpat") || e.Name() == "pat" {
				t.Fatalf("the quickstart left the GitLab token in the working directory as %s", e.Name())
			}
		}
	}
	t.Logf("the quickstart's %d commands ran; the merge request list holds %d items", commands, len(page.Items))
}
