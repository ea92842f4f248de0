// Package config parses labsync's settings once, from LABSYNC_* environment
// variables overridden by command-line flags, into one Config value that is
// passed explicitly to whatever needs it. It never reads the environment
// after Load and never holds secrets in plain strings: the KEK stays base64
// text only until the vault parses it.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"

	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/vault"
	"github.com/spf13/pflag"
)

// Config holds every setting of a labsync process.
type Config struct {
	// Addr is the host:port the HTTP server listens on (LABSYNC_ADDR).
	Addr string
	// DataDir holds the SQLite database and the development KEK (LABSYNC_DATA_DIR).
	DataDir string
	// MirrorDir holds the repository mirrors (LABSYNC_MIRROR_DIR); by
	// default "mirrors" in DataDir.
	MirrorDir string
	// DatabaseURL selects PostgreSQL when it is a postgres:// URL; empty means
	// SQLite in DataDir (LABSYNC_DATABASE_URL).
	DatabaseURL secret.Secret
	// KEK is the base64 key-encryption key (LABSYNC_KEK); empty means a
	// development key file in DataDir.
	KEK secret.Secret
	// PublicURL is how GitLab and browsers reach labsync (LABSYNC_PUBLIC_URL).
	PublicURL string
	// LogLevel is debug, info, warn or error (LABSYNC_LOG_LEVEL).
	LogLevel string
	// LogFormat is auto, text or json (LABSYNC_LOG_FORMAT); auto picks text
	// on a terminal and JSON otherwise.
	LogFormat string
	// AllowLoopbackGitLab lets integrations point at 127.0.0.0/8 and ::1
	// (LABSYNC_ALLOW_LOOPBACK_GITLAB); off by default, on for the sandbox quickstart.
	AllowLoopbackGitLab bool
	// ForbidPrivateGitLab refuses GitLab URLs on private address ranges
	// (LABSYNC_FORBID_PRIVATE_GITLAB).
	ForbidPrivateGitLab bool
	// ShutdownTimeout bounds how long in-flight requests may drain and
	// running jobs may finish on SIGTERM (LABSYNC_SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// JobTimeout is the longest one attempt of a background job runs
	// (LABSYNC_JOB_TIMEOUT, default 30m); a long sync continues in further
	// attempts. It also bounds how long a job of a replica that died stays
	// claimed before another replica takes it over (about 1.2 times this,
	// plus up to a minute for leader election and River's rescuer).
	JobTimeout time.Duration
	// GitLabProxy is the outbound HTTP proxy GitLab traffic goes through,
	// nil for none: LABSYNC_GITLAB_PROXY (flag --gitlab-proxy; "none"
	// connects directly) when set, else the standard HTTPS_PROXY,
	// HTTP_PROXY and NO_PROXY (or their lower-case forms), as Go reads them.
	// NO_PROXY applies to LABSYNC_GITLAB_PROXY too. Its printed forms never
	// show the proxy's credentials.
	GitLabProxy *gitlab.Proxy
	// Role is what a serve process does (LABSYNC_ROLE): RoleAll (default),
	// RoleWeb (UI, API and webhook intake) or RoleWorker (background work).
	// Only RoleAll is valid on SQLite.
	Role Role
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// Forwarded headers say who the client is (LABSYNC_TRUSTED_PROXIES,
	// comma-separated CIDRs or addresses). Empty: those headers are ignored
	// and the client is the connection's peer.
	TrustedProxies []netip.Prefix
}

// Role is what a `labsync serve` process does when several share one
// PostgreSQL database.
type Role string

// Roles of a serve process.
const (
	// RoleAll serves the UI, API and webhook receiver and runs the
	// background work: one process does everything.
	RoleAll Role = "all"
	// RoleWeb serves the UI, API and webhook receiver; it queues jobs but
	// works none, and leaves the inbox to worker processes.
	RoleWeb Role = "web"
	// RoleWorker runs River's workers, the periodic jobs and the inbox
	// processor, and serves only /healthz, /readyz and /metrics.
	RoleWorker Role = "worker"
)

// Serves reports whether the role serves the UI, API and webhook receiver.
func (r Role) Serves() bool { return r != RoleWorker }

// Works reports whether the role runs background work.
func (r Role) Works() bool { return r != RoleWeb }

// setting describes one variable and its flag.
type setting struct {
	env, flag, def, usage string
}

// credentialSettings are variables that may hold credentials: their flag
// does not show the variable's value as its default (help output would print
// it). A --gitlab-proxy value with credentials is refused too (it would stay
// in shell history and the process list).
var credentialSettings = map[string]bool{gitlab.EnvGitLabProxy: true, "LABSYNC_DATABASE_URL": true}

var settings = []setting{
	{"LABSYNC_ADDR", "addr", "127.0.0.1:8787", "address to listen on"},
	{"LABSYNC_DATA_DIR", "data-dir", "./labsync-data", "directory for the SQLite database and the development key"},
	{"LABSYNC_MIRROR_DIR", "mirror-dir", "", "directory for repository mirrors (default: mirrors in the data dir)"},
	{"LABSYNC_DATABASE_URL", "database-url", "", "postgres://… to use PostgreSQL; empty for SQLite in the data dir"},
	{"LABSYNC_KEK", "", "", ""}, // never a flag: keys do not belong in shell history
	{"LABSYNC_PUBLIC_URL", "public-url", "", "URL GitLab and browsers use to reach labsync (default http://ADDR)"},
	{"LABSYNC_LOG_LEVEL", "log-level", "info", "debug, info, warn or error"},
	{"LABSYNC_LOG_FORMAT", "log-format", "auto", "auto, text or json"},
	{"LABSYNC_ALLOW_LOOPBACK_GITLAB", "allow-loopback-gitlab", "false", "allow GitLab URLs on loopback addresses"},
	{"LABSYNC_FORBID_PRIVATE_GITLAB", "forbid-private-gitlab", "false", "refuse GitLab URLs on private address ranges"},
	{"LABSYNC_SHUTDOWN_TIMEOUT", "shutdown-timeout", "30s", "how long in-flight requests may drain and running jobs may finish on shutdown"},
	{"LABSYNC_JOB_TIMEOUT", "job-timeout", "30m", "longest one attempt of a background job runs; bounds takeover of a dead replica's jobs"},
	{"LABSYNC_ROLE", "role", "all", "serve only: all, web (UI, API, webhook intake) or worker (background work); web and worker need PostgreSQL"},
	{"LABSYNC_TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For/Forwarded headers name the client (default: none, the headers are ignored)"},
	{gitlab.EnvGitLabProxy, "gitlab-proxy", "", "HTTP proxy for GitLab traffic (http://proxy:3128), or none; wins over HTTPS_PROXY and HTTP_PROXY, NO_PROXY still applies; give proxy credentials only in the variable"},
}

// RegisterFlags adds one flag per setting to fs, with defaults taken from the
// environment (getenv) so that a flag overrides its variable.
func RegisterFlags(fs *pflag.FlagSet, getenv func(string) string) {
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		def := s.def
		if v := getenv(s.env); v != "" && !credentialSettings[s.env] {
			def = v
		}
		fs.String(s.flag, def, s.usage+" ("+s.env+")")
	}
}

// Load builds a Config from the environment and the flags registered by
// RegisterFlags. It does not validate; call Validate.
func Load(fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	get := func(s setting) string {
		if s.flag != "" && fs != nil {
			if f := fs.Lookup(s.flag); f != nil && (f.Changed || !credentialSettings[s.env]) {
				return f.Value.String()
			}
		}
		if v := getenv(s.env); v != "" {
			return v
		}
		return s.def
	}
	vals := map[string]string{}
	for _, s := range settings {
		vals[s.env] = strings.TrimSpace(get(s))
	}
	c := Config{
		Addr:        vals["LABSYNC_ADDR"],
		DataDir:     vals["LABSYNC_DATA_DIR"],
		MirrorDir:   vals["LABSYNC_MIRROR_DIR"],
		DatabaseURL: secret.New(vals["LABSYNC_DATABASE_URL"]),
		KEK:         secret.New(vals["LABSYNC_KEK"]),
		PublicURL:   vals["LABSYNC_PUBLIC_URL"],
		LogLevel:    strings.ToLower(vals["LABSYNC_LOG_LEVEL"]),
		LogFormat:   strings.ToLower(vals["LABSYNC_LOG_FORMAT"]),
		Role:        Role(strings.ToLower(vals["LABSYNC_ROLE"])),
	}
	var errs []error
	var err error
	if c.AllowLoopbackGitLab, err = parseBool("LABSYNC_ALLOW_LOOPBACK_GITLAB", vals["LABSYNC_ALLOW_LOOPBACK_GITLAB"]); err != nil {
		errs = append(errs, err)
	}
	if c.ForbidPrivateGitLab, err = parseBool("LABSYNC_FORBID_PRIVATE_GITLAB", vals["LABSYNC_FORBID_PRIVATE_GITLAB"]); err != nil {
		errs = append(errs, err)
	}
	if c.ShutdownTimeout, err = time.ParseDuration(vals["LABSYNC_SHUTDOWN_TIMEOUT"]); err != nil || c.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("LABSYNC_SHUTDOWN_TIMEOUT must be a duration such as 30s (got %q)", vals["LABSYNC_SHUTDOWN_TIMEOUT"]))
	}
	if c.JobTimeout, err = time.ParseDuration(vals["LABSYNC_JOB_TIMEOUT"]); err != nil || c.JobTimeout < time.Second {
		errs = append(errs, fmt.Errorf("LABSYNC_JOB_TIMEOUT must be a duration of at least 1s such as 30m (got %q)", vals["LABSYNC_JOB_TIMEOUT"]))
	}
	if c.TrustedProxies, err = ParseTrustedProxies(vals["LABSYNC_TRUSTED_PROXIES"]); err != nil {
		errs = append(errs, err)
	}
	if c.GitLabProxy, err = loadProxy(fs, getenv, vals[gitlab.EnvGitLabProxy]); err != nil {
		errs = append(errs, err)
	}
	if c.MirrorDir == "" && c.DataDir != "" {
		c.MirrorDir = filepath.Join(c.DataDir, "mirrors")
	}
	if c.PublicURL == "" && c.Addr != "" {
		c.PublicURL = "http://" + c.Addr
	}
	return c, errors.Join(errs...)
}

// ParseTrustedProxies reads LABSYNC_TRUSTED_PROXIES: CIDRs or single
// addresses, separated by commas or spaces. An empty value trusts no proxy.
func ParseTrustedProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("LABSYNC_TRUSTED_PROXIES must list CIDRs such as 10.0.0.0/8 or addresses such as 192.0.2.7, separated by commas (got %q)", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// loadProxy builds the GitLab proxy from the standard variables and
// gitlabProxy (LABSYNC_GITLAB_PROXY or --gitlab-proxy). Errors name the
// variable and never repeat credentials.
func loadProxy(fs *pflag.FlagSet, getenv func(string) string, gitlabProxy string) (*gitlab.Proxy, error) {
	if fs != nil {
		if f := fs.Lookup("gitlab-proxy"); f != nil && f.Changed && hasCredentials(f.Value.String()) {
			return nil, fmt.Errorf("--gitlab-proxy must not carry a user name or password, which would stay in shell history and the process list; put the proxy URL with its credentials in %s instead", gitlab.EnvGitLabProxy)
		}
	}
	ps := gitlab.ProxySettingsFromEnv(getenv)
	ps.GitLabProxy = gitlabProxy
	return gitlab.NewProxy(ps)
}

// hasCredentials reports whether a proxy URL carries a user name or password.
func hasCredentials(raw string) bool {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return strings.Contains(raw, "@")
	}
	return u.User != nil
}

func parseBool(name, v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s must be true or false (got %q)", name, v)
	}
	return b, nil
}

// UsesPostgres reports whether the database is PostgreSQL.
func (c Config) UsesPostgres() bool {
	u := c.DatabaseURL.Reveal()
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// Validate checks every setting and returns all problems at once, each
// naming its variable. It does not reach the network; the database is
// checked when the store opens.
func (c Config) Validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("LABSYNC_ADDR must be host:port such as 127.0.0.1:8787 (got %q)", c.Addr))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		errs = append(errs, fmt.Errorf("LABSYNC_ADDR has an invalid port %q", port))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("LABSYNC_DATA_DIR must not be empty"))
	}
	if db := c.DatabaseURL.Reveal(); db != "" && !c.UsesPostgres() {
		errs = append(errs, errors.New("LABSYNC_DATABASE_URL must start with postgres:// or postgresql:// (leave it empty for SQLite)"))
	} else if c.UsesPostgres() {
		if _, err := url.Parse(db); err != nil {
			errs = append(errs, errors.New("LABSYNC_DATABASE_URL is not a valid URL"))
		}
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("LABSYNC_PUBLIC_URL must be an absolute http(s) URL such as https://labsync.example.com (got %q)", c.PublicURL))
	}
	if !c.KEK.IsZero() {
		if _, err := vault.ParseKEK(c.KEK.Reveal()); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("LABSYNC_LOG_LEVEL must be debug, info, warn or error (got %q)", c.LogLevel))
	}
	switch c.LogFormat {
	case "auto", "text", "json":
	default:
		errs = append(errs, fmt.Errorf("LABSYNC_LOG_FORMAT must be auto, text or json (got %q)", c.LogFormat))
	}
	switch c.Role {
	case RoleAll:
	case RoleWeb, RoleWorker:
		if !c.UsesPostgres() {
			// A single SQLite file is one process's database: a web and a
			// worker process beside each other would fight over its lock.
			errs = append(errs, fmt.Errorf("LABSYNC_ROLE=%s needs PostgreSQL (set LABSYNC_DATABASE_URL); with SQLite one process does everything: leave LABSYNC_ROLE unset or set it to all", c.Role))
		}
	default:
		errs = append(errs, fmt.Errorf("LABSYNC_ROLE must be all, web or worker (got %q)", c.Role))
	}
	return errors.Join(errs...)
}
