package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// clientCommandPaths lists every command that talks to labsync's API or to
// a GitLab (connect, integrations, sync, doctor and their subcommands).
func clientCommandPaths(t *testing.T) [][]string {
	t.Helper()
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			if sub.Name() != "help" && sub.Name() != "completion" {
				walk(sub, append(append([]string{}, path...), sub.Name()))
			}
		}
	}
	root := newRootCmd()
	for _, name := range []string{"connect", "integrations", "sync", "doctor"} {
		c, _, err := root.Find([]string{name})
		if err != nil || c.Name() != name {
			t.Fatalf("no %s command: %v", name, err)
		}
		walk(c, []string{name})
	}
	if len(paths) < 8 {
		t.Fatalf("found only %v", paths)
	}
	return paths
}

func TestClientCommandsHelpListsNoServeOnlyFlag(t *testing.T) {
	// Flags serve shares with a client command, because that command
	// does the same thing with them.
	shared := map[string][]string{"doctor": {"allow-loopback-gitlab", "gitlab-proxy"}}
	var serveFlags []string
	newServeCmd().Flags().VisitAll(func(f *pflag.Flag) { serveFlags = append(serveFlags, f.Name) })
	if len(serveFlags) < 10 {
		t.Fatalf("serve has only %v", serveFlags)
	}
	for _, path := range clientCommandPaths(t) {
		t.Run(strings.Join(path, " "), func(t *testing.T) {
			isolate(t)
			code, out, errOut := run(t, context.Background(), append(path, "--help")...)
			if code != 0 || !strings.Contains(out, "Usage:") {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			for _, name := range serveFlags {
				if name == "help" || contains(shared[path[0]], name) {
					continue
				}
				if regexp.MustCompile(`(^|[^\w-])--` + regexp.QuoteMeta(name) + `([^\w-]|$)`).MatchString(out) {
					t.Errorf("lists serve's --%s:\n%s", name, out)
				}
			}
			for _, old := range []string{"--token-file", "LABSYNC_DOCTOR_TOKEN"} {
				if strings.Contains(out, old) {
					t.Errorf("shows the deprecated %s:\n%s", old, out)
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestOldSpellingsKeepTheirMeaningWithOneWarningLine: every spelling the
// client commands used before the convention still works as it did, and
// says once, on standard error, what to use instead.
func TestOldSpellingsKeepTheirMeaningWithOneWarningLine(t *testing.T) {
	url, tok, integration := apiServer(t, true)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	apiTok := write("api-token", tok+"\n")
	gitlabTok := write("gitlab-token", "glpat-not-a-real-token\n")
	dead := deadURL(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		// want in stdout+stderr: what shows the old spelling was read with
		// its old meaning.
		want    string
		warning string
	}{
		{"sync --token-file is the API token", map[string]string{envAPIToken: "lsk_not_a_token"},
			[]string{"sync", "--server", url, "--integration", fmt.Sprint(integration), "--follow=false", "--token-file", apiTok},
			"sync idle", `labsync: warning: --token-file is deprecated for "labsync sync"; use --api-token-file (same meaning)`},
		{"connect token --token-file is the GitLab token", map[string]string{envAPIToken: tok},
			[]string{"connect", "token", "--server", dead, "--url", "https://gitlab.example.com", "--token-file", gitlabTok},
			"cannot reach labsync at " + dead, `labsync: warning: --token-file is deprecated for "labsync connect token"; use --gitlab-token-file (same meaning)`},
		{"integrations set-token --token-file is the GitLab token", map[string]string{envAPIToken: tok},
			[]string{"integrations", "set-token", "1", "--server", dead, "--token-file", gitlabTok},
			"cannot reach labsync at " + dead, `labsync: warning: --token-file is deprecated for "labsync integrations set-token"; use --gitlab-token-file (same meaning)`},
		{"doctor --token-file is the GitLab token", nil,
			[]string{"doctor", "--url", dead, "--allow-loopback-gitlab", "--allow-insecure-http", "--timeout", "2s", "--token-file", gitlabTok},
			"", `labsync: warning: --token-file is deprecated for "labsync doctor"; use --gitlab-token-file (same meaning)`},
		{"doctor reads LABSYNC_DOCTOR_TOKEN", map[string]string{envDoctorToken: "glpat-not-a-real-token"},
			[]string{"doctor", "--url", dead, "--allow-loopback-gitlab", "--allow-insecure-http", "--timeout", "2s"},
			"", "labsync: warning: LABSYNC_DOCTOR_TOKEN is deprecated; set LABSYNC_GITLAB_TOKEN instead (same meaning)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, out, errOut := run(t, context.Background(), tc.args...)
			if !strings.Contains(out+errOut, tc.want) || strings.Count(errOut, "warning:") != 1 || !strings.Contains(errOut, tc.warning+"\n") {
				t.Fatalf("stdout:\n%s\nstderr:\n%s", out, errOut)
			}
			if tc.args[0] == "doctor" && strings.Contains(out, "No token given") {
				t.Fatalf("doctor did not read the token:\n%s", out)
			}
		})
	}
}

// TestTheNewSpellingsReachTheSameValues: --api-token-file on sync,
// --gitlab-token-file and LABSYNC_GITLAB_TOKEN on doctor, and no warning.
func TestTheNewSpellingsReachTheSameValues(t *testing.T) {
	url, tok, integration := apiServer(t, true)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("glpat-not-a-real-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiFile := filepath.Join(t.TempDir(), "api-token")
	if err := os.WriteFile(apiFile, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	dead := deadURL(t)
	doctor := []string{"doctor", "--url", dead, "--allow-loopback-gitlab", "--allow-insecure-http", "--timeout", "2s"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"sync --api-token-file", nil, []string{"sync", "--server", url, "--integration", fmt.Sprint(integration), "--follow=false", "--api-token-file", apiFile}, "sync idle"},
		{"doctor --gitlab-token-file", nil, append(doctor, "--gitlab-token-file", file), ""},
		{"doctor LABSYNC_GITLAB_TOKEN before LABSYNC_DOCTOR_TOKEN", map[string]string{envGitLabToken: "glpat-not-a-real-token", envDoctorToken: "other"}, doctor, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, out, errOut := run(t, context.Background(), tc.args...)
			if !strings.Contains(out, tc.want) || strings.Contains(errOut, "warning") || strings.Contains(out, "No token given") {
				t.Fatalf("stdout:\n%s\nstderr:\n%s", out, errOut)
			}
		})
	}
}

func TestAnOldSpellingTogetherWithItsNewOneIsRefused(t *testing.T) {
	isolate(t)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, context.Background(), "doctor", "--url", "https://gitlab.example.com", "--token-file", file, "--gitlab-token-file", file)
	if code != 1 || errOut != "labsync: give --gitlab-token-file only: --token-file is its deprecated spelling\n" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
