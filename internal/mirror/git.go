package mirror

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Kind sorts fetch failures by what the user has to do.
type Kind string

// The kinds of [FetchError].
const (
	KindCredential   Kind = "credential"    // 401: token expired, revoked or missing
	KindPermission   Kind = "permission"    // 403: scope or role too small
	KindNotFound     Kind = "not_found"     // project gone or not readable
	KindTLS          Kind = "tls"           // certificate not trusted
	KindNetwork      Kind = "network"       // GitLab unreachable
	KindAddress      Kind = "address"       // GitLab's address refused by the address policy
	KindDiskFull     Kind = "disk_full"     // no space under LABSYNC_MIRROR_DIR
	KindObjectFormat Kind = "object_format" // SHA-1 and SHA-256 mixed up
	KindTimeout      Kind = "timeout"       // the command ran out of time
	KindInternal     Kind = "internal"      // anything else
)

// FetchError is a failed clone or fetch, with a remedy a platform engineer
// can act on. Message holds git's first error line with any credential
// scrubbed; it never holds a token.
type FetchError struct {
	Kind    Kind   `json:"kind"`
	Message string `json:"message"`
	Remedy  string `json:"remedy"`
}

func (e *FetchError) Error() string { return "mirror: " + string(e.Kind) + ": " + e.Message }

func diskError(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return &FetchError{Kind: KindDiskFull, Message: "no space left on the device holding the mirrors",
			Remedy: "Free space under LABSYNC_MIRROR_DIR or move it to a larger volume; the next fetch tries again."}
	}
	return &FetchError{Kind: KindInternal, Message: err.Error(), Remedy: "Check that labsync can write to LABSYNC_MIRROR_DIR."}
}

// classify turns git's stderr into a FetchError. The rules follow the
// messages of git 2.39's http transport under LC_ALL=C.
func classify(stderr string, runErr error, ctxErr error) *FetchError {
	line := firstErrorLine(stderr)
	if line == "" && runErr != nil {
		line = runErr.Error()
	}
	low := strings.ToLower(stderr)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(low, s) {
				return true
			}
		}
		return false
	}
	fe := &FetchError{Message: line}
	switch {
	case ctxErr != nil && errors.Is(ctxErr, context.DeadlineExceeded):
		fe.Kind, fe.Remedy = KindTimeout, "The fetch ran out of time; check the network to GitLab, or raise the limit for very large repositories. The next fetch tries again."
		if fe.Message == "" {
			fe.Message = "git ran out of time"
		}
	case ctxErr != nil:
		fe.Kind, fe.Remedy = KindInternal, "The fetch was cancelled (labsync stopping or the integration disconnected); the next fetch tries again."
		if fe.Message == "" {
			fe.Message = "cancelled"
		}
	case has("no space left on device"):
		fe.Kind, fe.Remedy = KindDiskFull, "Free space under LABSYNC_MIRROR_DIR or move it to a larger volume; the next fetch tries again."
	case has("returned error: 401", "authentication failed", "could not read username", "could not read password"):
		fe.Kind, fe.Remedy = KindCredential, "GitLab refused the integration's credential (expired or revoked): reconnect the integration or give it a new token with read_repository."
	case has("returned error: 403"):
		fe.Kind, fe.Remedy = KindPermission, "GitLab refused to serve the repository: the token needs the read_repository scope and its user at least Reporter access to the project (or the repository feature is disabled)."
	case has("returned error: 404", "not found"):
		fe.Kind, fe.Remedy = KindNotFound, "The project is gone or its user can no longer read it: check it in GitLab, or remove it from the selection."
	case has("ssl certificate", "certificate verify", "server certificate verification failed", "self-signed certificate", "unable to get local issuer"):
		fe.Kind, fe.Remedy = KindTLS, "GitLab's certificate is not trusted: add the CA that signed it to the integration (verification stays on)."
	case has("mismatched algorithms", "object format", "object-format"):
		fe.Kind, fe.Remedy = KindObjectFormat, "The repository's object format (SHA-1/SHA-256) differs from what GitLab's API reported; run a sync so labsync reads it again, then fetch."
	case has("could not resolve host", "failed to connect", "connection refused", "connection timed out", "operation timed out", "couldn't connect", "empty reply", "recv failure", "rpc failed"):
		fe.Kind, fe.Remedy = KindNetwork, "GitLab could not be reached over HTTPS; check the network and GitLab's health. The next fetch tries again."
	default:
		fe.Kind, fe.Remedy = KindInternal, "git failed; see the message. The next fetch tries again."
	}
	return fe
}

func firstErrorLine(stderr string) string {
	var first string
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if first == "" {
			first = l
		}
		if strings.HasPrefix(l, "fatal:") || strings.HasPrefix(l, "error:") {
			first = l
			break
		}
	}
	if len(first) > 300 {
		first = first[:300]
	}
	return first
}

// git runs one git command in dir (none for init). With remote != nil the
// command talks to GitLab: the credential goes in the child's environment
// only, and the CA in a temporary file named by -c http.sslCAInfo.
func (m *Manager) git(ctx context.Context, dir string, remote Remote, args ...string) ([]byte, error) {
	network := len(args) > 0 && args[0] == "fetch"
	pre := []string{
		"-c", "credential.helper=", // no helper from anywhere answers for GitLab
		"-c", "core.askPass=",
		"-c", "http.sslVerify=true", // verification is never off
		"-c", "http.followRedirects=false", // the header never goes to another host
		"-c", "protocol.version=2",
		"-c", "gc.auto=0", // gc runs by policy, not inside fetch
		"-c", "core.hooksPath=/dev/null",
	}
	env := m.baseEnv()
	proxySecret := ""
	if network {
		caFile, cleanup, err := m.caFile(remote.CAPEM)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		if caFile != "" {
			pre = append(pre, "-c", "http.sslCAInfo="+caFile)
			if m.systemCADir() {
				pre = append(pre, "-c", "http.sslCAPath="+m.cfg.SystemCADir)
			}
		}
		auth := base64.StdEncoding.EncodeToString([]byte(remote.Username + ":" + remote.Token.Reveal()))
		env = append(env,
			"GIT_CONFIG_KEY_0=http.extraHeader",
			"GIT_CONFIG_VALUE_0=Authorization: Basic "+auth,
		)
		count := 1
		var target *url.URL
		for _, a := range args {
			if strings.Contains(a, "://") {
				target, _ = url.Parse(a)
			}
		}
		var proxyURL *url.URL
		if m.cfg.Proxy != nil && target != nil {
			pu, err := m.cfg.Proxy(target)
			if err != nil {
				return nil, &FetchError{Kind: KindNetwork, Message: "no proxy for GitLab: " + err.Error(),
					Remedy: "Check LABSYNC_GITLAB_PROXY and the proxy variables."}
			}
			proxyURL = pu
		}
		if m.cfg.CheckAddress != nil && target != nil {
			pin, err := m.checkAddress(ctx, target, proxyURL != nil)
			if err != nil {
				return nil, err
			}
			if pin != "" {
				pre = append(pre, "-c", "http.curloptResolve="+pin)
			}
		}
		if m.cfg.Proxy != nil || m.cfg.CheckAddress != nil {
			// The same proxy as labsync's GitLab client, or none: an
			// empty http.proxy overrides any variable git would read.
			proxy := ""
			if proxyURL != nil {
				proxy = proxyURL.String()
				if pw, ok := proxyURL.User.Password(); ok && pw != "" {
					proxySecret = pw
				}
			}
			env = append(env, "GIT_CONFIG_KEY_1=http.proxy", "GIT_CONFIG_VALUE_1="+proxy)
			count++
		}
		env = append(env, fmt.Sprintf("GIT_CONFIG_COUNT=%d", count))
	}
	if dir != "" {
		pre = append(pre, "-C", dir)
	}
	cmd := exec.CommandContext(ctx, m.cfg.Git, append(pre, args...)...)
	cmd.Env = env
	cmd.Dir = m.home
	cmd.WaitDelay = 5 * time.Second
	dieWithParent(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &limitWriter{w: &stderr, n: 64 << 10}
	err := cmd.Run()
	if err != nil {
		msg := scrub(stderr.String(), remote)
		if proxySecret != "" {
			msg = strings.ReplaceAll(msg, proxySecret, "[redacted]")
		}
		if !network {
			if errors.Is(err, exec.ErrNotFound) {
				return nil, &FetchError{Kind: KindInternal, Message: "git is not installed", Remedy: "Install git (Debian's git package) on the machine running labsync."}
			}
			fe := classify(msg, err, ctx.Err())
			if fe.Kind == KindInternal && ctx.Err() == nil {
				fe.Message = fmt.Sprintf("git %s: %s", args[0], fe.Message)
			}
			return nil, fe
		}
		return nil, classify(msg, err, ctx.Err())
	}
	return stdout.Bytes(), nil
}

// checkAddress resolves target's host and checks its addresses against the
// address policy, as labsync's GitLab client does. Direct connections get
// back a curl resolve entry ("host:port:addr[,addr]") that pins git to the
// allowed addresses; through a proxy (which resolves the host itself) every
// address must be allowed and nothing is pinned. IP literals are checked and
// need no pin.
func (m *Manager) checkAddress(ctx context.Context, target *url.URL, proxied bool) (string, error) {
	host, port := target.Hostname(), target.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[target.Scheme]
	}
	refused := func(err error) error {
		fe := &FetchError{Kind: KindAddress, Message: err.Error(),
			Remedy: "Check the GitLab host name and its DNS record: it should resolve to the GitLab server's own address."}
		var r interface{ Remedy() string }
		if errors.As(err, &r) {
			fe.Remedy = r.Remedy()
		}
		return fe
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := m.cfg.CheckAddress(ip); err != nil {
			return "", refused(err)
		}
		return "", nil
	}
	ips, err := m.cfg.Resolver.LookupNetIP(ctx, "ip", host)
	if err == nil && len(ips) == 0 {
		err = errors.New("no addresses")
	}
	if err != nil {
		return "", &FetchError{Kind: KindNetwork, Message: "could not resolve host " + host + ": " + err.Error(),
			Remedy: "Check the GitLab host name and the DNS labsync uses."}
	}
	var allowed []string
	var first error
	for _, ip := range ips {
		if err := m.cfg.CheckAddress(ip); err != nil {
			if proxied {
				return "", refused(err)
			}
			if first == nil {
				first = err
			}
			continue
		}
		ip = ip.Unmap()
		if ip.Is6() {
			allowed = append(allowed, "["+ip.WithZone("").String()+"]")
		} else {
			allowed = append(allowed, ip.String())
		}
	}
	if proxied {
		return "", nil
	}
	if len(allowed) == 0 {
		return "", refused(first)
	}
	return host + ":" + port + ":" + strings.Join(allowed, ","), nil
}

// baseEnv is a minimal environment: no user or system git config, no
// prompts, messages in English for classify.
func (m *Manager) baseEnv() []string {
	env := []string{
		"HOME=" + m.home,
		"XDG_CONFIG_HOME=" + m.home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=",
		"SSH_ASKPASS=",
		"LC_ALL=C",
		"GIT_PROTOCOL_FROM_USER=0",
		"GIT_ALLOW_PROTOCOL=https:http",
	}
	pass := []string{"PATH", "TMPDIR"}
	if m.cfg.Proxy == nil && m.cfg.CheckAddress == nil {
		pass = append(pass, "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")
	}
	for _, k := range pass {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// systemCADir reports whether the system's certificate directory exists:
// git then trusts it through http.sslCAPath.
func (m *Manager) systemCADir() bool {
	fi, err := os.Stat(m.cfg.SystemCADir)
	return err == nil && fi.IsDir()
}

// caFile writes caPEM to a 0600 file for one command, after the system
// bundle when there is no system certificate directory to name beside it.
// It returns "" when caPEM is empty: git then uses its default roots.
func (m *Manager) caFile(caPEM []byte) (string, func(), error) {
	if len(bytes.TrimSpace(caPEM)) == 0 {
		return "", func() {}, nil
	}
	f, err := os.CreateTemp(m.home, "ca-*.pem")
	if err != nil {
		return "", nil, diskError(err)
	}
	cleanup := func() { _ = os.Remove(f.Name()) }
	if !m.systemCADir() { // else the system roots come from http.sslCAPath
		if sys, err := os.ReadFile(m.cfg.SystemCAFile); err == nil {
			_, _ = f.Write(sys)
			_, _ = f.Write([]byte("\n"))
		} else if !errors.Is(err, fs.ErrNotExist) {
			m.cfg.Logger.Warn("mirror: unable to read the system CA bundle; trusting the install's CA only", "file", m.cfg.SystemCAFile, "error", err)
		}
	}
	if _, err := f.Write(caPEM); err != nil {
		_ = f.Close()
		cleanup()
		return "", nil, diskError(err)
	}
	if err := f.Close(); err != nil {
		cleanup()
		return "", nil, diskError(err)
	}
	return filepath.Clean(f.Name()), cleanup, nil
}

// scrub removes the token, in clear and in the Basic form, from git output.
func scrub(s string, r Remote) string {
	tok := r.Token.Reveal()
	if tok == "" {
		return s
	}
	s = strings.ReplaceAll(s, tok, "[redacted]")
	s = strings.ReplaceAll(s, base64.StdEncoding.EncodeToString([]byte(r.Username+":"+tok)), "[redacted]")
	return s
}

type limitWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		if len(p) > room {
			l.w.Write(p[:room])
		} else {
			l.w.Write(p)
		}
	}
	return len(p), nil
}

func sortStatuses(s []Status) {
	slices.SortFunc(s, func(a, b Status) int { return int(a.ProjectID - b.ProjectID) })
}
