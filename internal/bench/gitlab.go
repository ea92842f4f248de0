package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/sandbox"
)

// benchGitLab is the simulated GitLab the backfill bench reads: in this
// process, or a `labsync sandbox` child process, so that the peak RSS
// printed is labsync's alone and not the simulated GitLab's dataset too.
type benchGitLab interface {
	URL() string
	AdminToken() string
	Manifest() (sandbox.Manifest, error)
	Requests() ([]sandbox.RequestLogEntry, error)
	ResetRequests() error
	Close() error
}

type inProcessGitLab struct{ *sandbox.Sandbox }

func (g inProcessGitLab) Manifest() (sandbox.Manifest, error) { return g.Sandbox.Manifest(), nil }
func (g inProcessGitLab) Requests() ([]sandbox.RequestLogEntry, error) {
	return g.Sandbox.Requests(), nil
}
func (g inProcessGitLab) ResetRequests() error { g.Sandbox.ResetRequests(); return nil }
func (g inProcessGitLab) Close() error         { g.Sandbox.Close(); return nil }

// childGitLab is `labsync sandbox` run by this binary, driven through its
// /-/sandbox/ control API.
type childGitLab struct {
	cmd        *exec.Cmd
	url, token string
	hc         *http.Client
}

func startChildGitLab(ctx context.Context, b *Backfill) (*childGitLab, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{"sandbox", "--addr", addr, "--version", b.Version, "--seed", "1",
		"--groups", fmt.Sprint(b.Groups), "--projects", fmt.Sprint(b.Projects), "--mrs", fmt.Sprint(b.MRs),
		"--issues", fmt.Sprint(b.Issues), "--pipelines", fmt.Sprint(b.Pipelines), "--commits", fmt.Sprint(b.Commits),
		"--latency", b.Latency.String()}
	if b.RateLimit > 0 {
		args = append(args, "--rate-limit", fmt.Sprintf("%d/min", b.RateLimit))
	}
	cmd, err := labsyncCommand(ctx, nil, args...)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &childGitLab{cmd: cmd, hc: &http.Client{Timeout: 60 * time.Second}}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "URL:"); ok {
			g.url = strings.Fields(v)[0]
		}
		if v, ok := strings.CutPrefix(line, "admin token:"); ok {
			g.token = strings.Fields(v)[0]
		}
		if strings.HasPrefix(line, "Press Ctrl-C") {
			break
		}
	}
	go io.Copy(io.Discard, out)
	if g.url == "" || g.token == "" {
		g.Close()
		return nil, errors.New("bench: the sandbox process did not print its URL and admin token")
	}
	return g, nil
}

func (g *childGitLab) URL() string        { return g.url }
func (g *childGitLab) AdminToken() string { return g.token }

func (g *childGitLab) control(method, path string, out any) error {
	req, _ := http.NewRequest(method, g.url+"/-/sandbox/"+path, nil)
	req.Header.Set("PRIVATE-TOKEN", g.token)
	res, err := g.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		return fmt.Errorf("bench: sandbox %s %s: %s", method, path, res.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(res.Body).Decode(out)
}

func (g *childGitLab) Manifest() (sandbox.Manifest, error) {
	var m sandbox.Manifest
	return m, g.control("GET", "manifest", &m)
}

func (g *childGitLab) Requests() ([]sandbox.RequestLogEntry, error) {
	var rs []sandbox.RequestLogEntry
	return rs, g.control("GET", "requests", &rs)
}

func (g *childGitLab) ResetRequests() error { return g.control("DELETE", "requests", nil) }

func (g *childGitLab) Close() error {
	if g.cmd.Process != nil {
		g.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { g.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			g.cmd.Process.Kill()
			<-done
		}
	}
	return nil
}
