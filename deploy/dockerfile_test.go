package deploy

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines
// joined: "RUN", "go build …".
type instruction struct {
	cmd, args string
	line      int
}

// stage is one FROM and the instructions under it.
type stage struct {
	from, name string
	body       []instruction
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.body {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// parseDockerfile reads the instructions of a Dockerfile: comments and
// blank lines dropped, lines ending in a backslash joined to the next.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		stages  []stage
		pending strings.Builder
		start   int
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && pending.Len() == 0) {
			continue
		}
		if pending.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending.WriteString(cont + " ")
			continue
		}
		pending.WriteString(line)
		text := strings.Join(strings.Fields(pending.String()), " ")
		pending.Reset()
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: args, line: start}
		if in.cmd == "FROM" {
			f := strings.Fields(args)
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s:%d: %s before the first FROM", path, start, in.cmd)
			}
			continue
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if pending.Len() > 0 {
		t.Fatalf("%s ends inside a continued line", path)
	}
	return stages
}

func dockerfile(t *testing.T) []stage {
	t.Helper()
	stages := parseDockerfile(t, filepath.Join("..", "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a runtime stage", len(stages))
	}
	return stages
}

// goBuildLine returns the `CGO_ENABLED=0 … go build …` command of the build
// stage's RUN instructions, up to the next && or ;.
func goBuildLine(t *testing.T, build stage) string {
	t.Helper()
	for _, run := range build.all("RUN") {
		i := strings.Index(run.args, "go build ")
		if i < 0 {
			continue
		}
		// Back up over the VAR=value words in front of go build, and
		// drop RUN's own flags (--mount=…) when they come first.
		j := strings.LastIndexAny(run.args[:i], "&;")
		cmd := strings.TrimSpace(run.args[j+1:])
		for strings.HasPrefix(cmd, "--") {
			_, cmd, _ = strings.Cut(cmd, " ")
			cmd = strings.TrimSpace(cmd)
		}
		if k := strings.IndexAny(cmd, "&;"); k >= 0 {
			cmd = strings.TrimSpace(cmd[:k])
		}
		return cmd
	}
	t.Fatal("no RUN … go build … in the build stage")
	return ""
}

func TestDockerfileStages(t *testing.T) {
	stages := dockerfile(t)
	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(build.from, "golang:1.26") || build.name == "" {
		t.Errorf("build stage is FROM %s AS %q, want golang:1.26… AS <name>", build.from, build.name)
	}
	if strings.HasPrefix(final.from, "golang") || !(strings.HasPrefix(final.from, "gcr.io/distroless/static") || final.from == "scratch") {
		t.Errorf("runtime stage is FROM %s, want distroless static or scratch", final.from)
	}
	if strings.HasPrefix(final.from, "gcr.io/distroless/") && !strings.Contains(final.from, "nonroot") {
		t.Errorf("runtime stage %s is not the nonroot variant", final.from)
	}
	copied := false
	for _, c := range final.all("COPY") {
		if strings.Contains(c.args, "--from="+build.name) && strings.Contains(c.args, "/usr/local/bin/labsync") {
			copied = true
		}
	}
	if !copied {
		t.Errorf("runtime stage does not COPY --from=%s the binary to /usr/local/bin/labsync", build.name)
	}
	if len(final.all("RUN")) > 0 {
		t.Error("runtime stage has RUN: the distroless image has no shell")
	}
}

func TestDockerfileRunsAsNonRoot(t *testing.T) {
	stages := dockerfile(t)
	final := stages[len(stages)-1]
	users := final.all("USER")
	if len(users) == 0 {
		t.Fatal("runtime stage has no USER: the container would run as root")
	}
	last := users[len(users)-1].args
	for i, part := range strings.Split(last, ":") {
		id, err := strconv.Atoi(part)
		if err != nil {
			t.Errorf("USER %s: want a numeric uid[:gid] so runAsNonRoot can verify it", last)
		} else if id == 0 {
			t.Errorf("USER %s: %s is root", last, []string{"uid", "gid"}[i])
		}
	}
}

func TestDockerfileBuild(t *testing.T) {
	stages := dockerfile(t)
	line := goBuildLine(t, stages[0])
	for _, want := range []string{
		"CGO_ENABLED=0",
		"-trimpath",
		"-X github.com/labsync/labsync/internal/buildinfo.Version=${VERSION}",
		"-X github.com/labsync/labsync/internal/buildinfo.Commit=${COMMIT}",
		"./cmd/labsync",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("go build line lacks %q:\n%s", want, line)
		}
	}
}

func TestDockerfileRuntimeSettings(t *testing.T) {
	stages := dockerfile(t)
	final := stages[len(stages)-1]
	env := map[string]string{}
	for _, e := range final.all("ENV") {
		for _, kv := range strings.Fields(e.args) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	for k, v := range map[string]string{"LABSYNC_ADDR": "0.0.0.0:8787", "LABSYNC_DATA_DIR": "/var/lib/labsync"} {
		if env[k] != v {
			t.Errorf("ENV %s=%q, want %q", k, env[k], v)
		}
	}
	for k := range env {
		if strings.Contains(k, "KEK") || strings.Contains(k, "DATABASE_URL") || strings.Contains(k, "PASSWORD") {
			t.Errorf("ENV %s bakes a secret into the image", k)
		}
	}
	has := func(cmd, want string) bool {
		for _, in := range final.all(cmd) {
			if strings.Contains(in.args, want) {
				return true
			}
		}
		return false
	}
	if !has("EXPOSE", "8787") {
		t.Error("no EXPOSE 8787")
	}
	if !has("VOLUME", "/var/lib/labsync") {
		t.Error("no VOLUME for /var/lib/labsync: under a read-only root filesystem the data dir must be a volume")
	}
	if !has("ENTRYPOINT", `["/usr/local/bin/labsync"]`) {
		t.Error(`ENTRYPOINT is not the exec form ["/usr/local/bin/labsync"]`)
	}
}

// TestNoTLSVerificationOff scans the Dockerfile and .dockerignore for
// anything that weakens TLS or module verification.
func TestNoTLSVerificationOff(t *testing.T) {
	bad := []string{"--insecure", "--no-check-certificate", "curl -k", " -k ", "insecureskipverify",
		"goinsecure", "gonosumdb", "gonosumcheck", "gosumdb=off", "goflags=-insecure", "git_ssl_no_verify",
		"sslverify=false", "sslmode=disable", "tls-verify=false", "--allow-insecure", "--disable-content-trust"}
	for _, name := range []string{"Dockerfile", ".dockerignore"} {
		b, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ToLower(string(b))
		for _, s := range bad {
			if strings.Contains(text, s) {
				t.Errorf("%s contains %q", name, strings.TrimSpace(s))
			}
		}
	}
}

func TestDockerignoreKeepsSecretsOut(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	for _, want := range []string{".git", "labsync-data", "**/labsync-data", "kek.dev*"} {
		if !slices.Contains(patterns, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
	for _, p := range patterns {
		for _, needed := range []string{"go.mod", "go.sum", "cmd", "internal"} {
			if p == needed || p == "/"+needed || p == "*" {
				t.Errorf(".dockerignore excludes %s, which the build needs", needed)
			}
		}
	}
}

// shellWords splits a command line as sh would for the plain words and
// double- or single-quoted strings the Dockerfile uses, substituting vars.
func shellWords(t *testing.T, s string, vars map[string]string) []string {
	t.Helper()
	var (
		words []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range os.Expand(s, func(k string) string { return vars[k] }) {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %s", s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// TestDockerfileGoBuildIsStatic runs the Dockerfile's own go build line
// here, with its output redirected to a temporary directory, and checks
// that the binary is statically linked (no ELF interpreter, no shared
// libraries) and that the ldflags reach internal/buildinfo. It builds the
// whole binary, so -short skips it.
func TestDockerfileGoBuildIsStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the labsync binary")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	stages := dockerfile(t)
	out := filepath.Join(t.TempDir(), "labsync")
	words := shellWords(t, goBuildLine(t, stages[0]), map[string]string{"VERSION": "v9.8.7-dockerfiletest", "COMMIT": "0123abc"})
	var env []string
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env = append(env, words[0])
		words = words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("cannot read the go build command: %q", words)
	}
	if i := slices.Index(words, "-o"); i < 0 || i+1 >= len(words) {
		t.Fatalf("go build has no -o: %q", words)
	} else {
		words[i+1] = out
	}
	cmd := exec.Command("go", words[1:]...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", strings.Join(env, " "), words, err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatalf("not an ELF binary: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter: it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %q", libs)
	}
	if runtime.GOOS != "linux" {
		return
	}
	v, err := exec.Command(out, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("labsync version: %v\n%s", err, v)
	}
	if !strings.Contains(string(v), "v9.8.7-dockerfiletest") || !strings.Contains(string(v), "0123abc") {
		t.Errorf("labsync version = %q: the -X ldflags did not reach internal/buildinfo", v)
	}
}
