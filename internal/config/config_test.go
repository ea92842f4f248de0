package config

import (
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
