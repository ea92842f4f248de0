package config

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func load(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	getenv := func(k string) string { return env[k] }
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, err := Load(fs, getenv)
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

func TestDefaults(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8787" || c.DataDir != "./labsync-data" || c.UsesPostgres() || c.PublicURL != "http://127.0.0.1:8787" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	c, err := load(t, map[string]string{"LABSYNC_ADDR": "127.0.0.1:1111"}, "--addr", "127.0.0.1:2222")
	if err != nil || c.Addr != "127.0.0.1:2222" {
		t.Fatalf("%+v %v", c.Addr, err)
	}
	c, err = load(t, map[string]string{"LABSYNC_ADDR": "127.0.0.1:1111"})
	if err != nil || c.Addr != "127.0.0.1:1111" {
		t.Fatalf("%+v %v", c.Addr, err)
	}
}

func TestValidationNamesTheVariable(t *testing.T) {
	const kekValue = "c2hvcnQta2V5" // base64 of "short-key": 9 bytes
	cases := []struct {
		name, variable string
		env            map[string]string
	}{
		{"short KEK", "LABSYNC_KEK", map[string]string{"LABSYNC_KEK": kekValue}},
		{"KEK not base64", "LABSYNC_KEK", map[string]string{"LABSYNC_KEK": "%%%not-base64%%%"}},
		{"address without port", "LABSYNC_ADDR", map[string]string{"LABSYNC_ADDR": "localhost"}},
		{"address with bad port", "LABSYNC_ADDR", map[string]string{"LABSYNC_ADDR": "127.0.0.1:99999"}},
		{"database not postgres", "LABSYNC_DATABASE_URL", map[string]string{"LABSYNC_DATABASE_URL": "mysql://x"}},
		{"public URL relative", "LABSYNC_PUBLIC_URL", map[string]string{"LABSYNC_PUBLIC_URL": "labsync.example.com"}},
		{"log level", "LABSYNC_LOG_LEVEL", map[string]string{"LABSYNC_LOG_LEVEL": "loud"}},
		{"bool", "LABSYNC_ALLOW_LOOPBACK_GITLAB", map[string]string{"LABSYNC_ALLOW_LOOPBACK_GITLAB": "perhaps"}},
		{"duration", "LABSYNC_SHUTDOWN_TIMEOUT", map[string]string{"LABSYNC_SHUTDOWN_TIMEOUT": "soon"}},
		{"job timeout too short", "LABSYNC_JOB_TIMEOUT", map[string]string{"LABSYNC_JOB_TIMEOUT": "10ms"}},
		{"unknown role", "LABSYNC_ROLE", map[string]string{"LABSYNC_ROLE": "janitor"}},
		{"web role on SQLite", "LABSYNC_ROLE", map[string]string{"LABSYNC_ROLE": "web"}},
		{"worker role on SQLite", "LABSYNC_ROLE", map[string]string{"LABSYNC_ROLE": "worker"}},
		{"SOCKS GitLab proxy", "LABSYNC_GITLAB_PROXY", map[string]string{"LABSYNC_GITLAB_PROXY": "socks5://proxy:1080"}},
		{"GitLab proxy with a path", "LABSYNC_GITLAB_PROXY", map[string]string{"LABSYNC_GITLAB_PROXY": "http://proxy:3128/x"}},
		{"standard proxy with a bad port", "HTTPS_PROXY", map[string]string{"HTTPS_PROXY": "http://proxy:0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.env)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.variable) {
				t.Fatalf("error does not name %s: %v", c.variable, err)
			}
			if strings.Contains(err.Error(), kekValue) || strings.Contains(err.Error(), "not-base64") {
				t.Fatalf("error echoes the key: %v", err)
			}
		})
	}
}

func TestDatabaseURLNeverPrints(t *testing.T) {
	c, err := load(t, map[string]string{"LABSYNC_DATABASE_URL": "postgres://u:hunter2@db/x"})
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join([]string{c.DatabaseURL.String()}, ""); strings.Contains(s, "hunter2") {
		t.Fatal("database URL printed")
	}
	if !c.UsesPostgres() {
		t.Fatal("postgres not recognised")
	}
}

func TestRole(t *testing.T) {
	pg := map[string]string{"LABSYNC_DATABASE_URL": "postgres://db.example.com/labsync"}
	cases := []struct {
		name          string
		env           map[string]string
		args          []string
		want          Role
		serves, works bool
	}{
		{"default", nil, nil, RoleAll, true, true},
		{"all on SQLite", map[string]string{"LABSYNC_ROLE": "all"}, nil, RoleAll, true, true},
		{"web from the environment", map[string]string{"LABSYNC_ROLE": "web", "LABSYNC_DATABASE_URL": pg["LABSYNC_DATABASE_URL"]}, nil, RoleWeb, true, false},
		{"worker from the flag", pg, []string{"--role", "Worker"}, RoleWorker, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := load(t, c.env, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Role != c.want || cfg.Role.Serves() != c.serves || cfg.Role.Works() != c.works {
				t.Fatalf("role %q serves=%v works=%v", cfg.Role, cfg.Role.Serves(), cfg.Role.Works())
			}
		})
	}
}

func TestGitLabProxyComesFromItsVariableOrFlagAndWinsOverTheStandardOnes(t *testing.T) {
	target := &url.URL{Scheme: "https", Host: "gitlab.com"}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string // proxy for https://gitlab.com, "" = direct
	}{
		{"nothing set", nil, nil, ""},
		{"HTTPS_PROXY", map[string]string{"HTTPS_PROXY": "http://std:3128"}, nil, "http://std:3128 (HTTPS_PROXY)"},
		{"LABSYNC_GITLAB_PROXY wins", map[string]string{"HTTPS_PROXY": "http://std:3128", "LABSYNC_GITLAB_PROXY": "http://mine:8080"}, nil, "http://mine:8080 (LABSYNC_GITLAB_PROXY)"},
		{"the flag wins over the variable", map[string]string{"LABSYNC_GITLAB_PROXY": "http://mine:8080"}, []string{"--gitlab-proxy", "http://flag:9090"}, "http://flag:9090 (LABSYNC_GITLAB_PROXY)"},
		{"none connects directly", map[string]string{"HTTPS_PROXY": "http://std:3128", "LABSYNC_GITLAB_PROXY": "none"}, nil, ""},
		{"NO_PROXY still applies", map[string]string{"LABSYNC_GITLAB_PROXY": "http://mine:8080", "NO_PROXY": "gitlab.com"}, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := load(t, c.env, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.GitLabProxy.Describe(target); got != c.want {
				t.Fatalf("proxy for %s: %q, want %q", target, got, c.want)
			}
		})
	}
}

func TestGitLabProxyCredentialsStayOutOfFlagsHelpAndErrors(t *testing.T) {
	const pw = "pr0xy-Secret"
	env := map[string]string{"LABSYNC_GITLAB_PROXY": "http://svc:" + pw + "@proxy:3128"}
	getenv := func(k string) string { return env[k] }
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs, getenv)
	if strings.Contains(fs.FlagUsages(), pw) {
		t.Fatalf("help shows the proxy password:\n%s", fs.FlagUsages())
	}
	cfg, err := load(t, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GitLabProxy == nil {
		t.Fatal("the proxy from the variable was not used")
	}
	if s := fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg.GitLabProxy); strings.Contains(s, pw) {
		t.Fatalf("the config prints the proxy password: %s", s)
	}

	_, err = load(t, nil, "--gitlab-proxy", "http://svc:"+pw+"@proxy:3128")
	if err == nil || !strings.Contains(err.Error(), "LABSYNC_GITLAB_PROXY") || strings.Contains(err.Error(), pw) {
		t.Fatalf("a flag with credentials: %v; want a refusal naming LABSYNC_GITLAB_PROXY without the password", err)
	}
	_, err = load(t, map[string]string{"LABSYNC_GITLAB_PROXY": "socks5://svc:" + pw + "@proxy:1080"})
	if err == nil || strings.Contains(err.Error(), pw) {
		t.Fatalf("a refused proxy URL: %v", err)
	}
}

// A variable that may hold a password is used, but its value is not shown
// as the default of its flag in help output.
func TestHelpDoesNotShowCredentialsFromTheEnvironment(t *testing.T) {
	env := map[string]string{"LABSYNC_DATABASE_URL": "postgres://u:db-Pa55@db/x", "LABSYNC_GITLAB_PROXY": "http://u:px-Pa55@proxy:3128"}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs, func(k string) string { return env[k] })
	if help := fs.FlagUsages(); strings.Contains(help, "db-Pa55") || strings.Contains(help, "px-Pa55") {
		t.Fatalf("help shows a password:\n%s", help)
	}
	c, err := load(t, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL.Reveal() != env["LABSYNC_DATABASE_URL"] || c.GitLabProxy == nil {
		t.Fatalf("the variables were not used: database %v, proxy %v", c.DatabaseURL, c.GitLabProxy)
	}
	c, err = load(t, env, "--database-url", "postgres://db.example.com/y")
	if err != nil || c.DatabaseURL.Reveal() != "postgres://db.example.com/y" {
		t.Fatalf("the flag did not win over the variable: %v", err)
	}
}

func TestTrustedProxiesAreReadAsCIDRsAndAddresses(t *testing.T) {
	cases := []struct {
		name, value string
		want        string
		bad         bool
	}{
		{"unset trusts no proxy", "", "[]", false},
		{"a CIDR and an address", "10.0.0.0/8, 192.0.2.7", "[10.0.0.0/8 192.0.2.7/32]", false},
		{"IPv6 and an unmasked CIDR", "fd00::1/8 ::ffff:192.0.2.9", "[fd00::/8 192.0.2.9/32]", false},
		{"a host name is refused", "proxy.internal", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := load(t, map[string]string{"LABSYNC_TRUSTED_PROXIES": c.value})
			if c.bad {
				if err == nil || !strings.Contains(err.Error(), "LABSYNC_TRUSTED_PROXIES") {
					t.Fatalf("want an error naming LABSYNC_TRUSTED_PROXIES, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(cfg.TrustedProxies); got != c.want {
				t.Fatalf("trusted proxies %s, want %s", got, c.want)
			}
		})
	}
}
