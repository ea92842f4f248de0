package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
)

// run runs the CLI in-process with a clean LABSYNC_* environment.
func run(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func isolate(t *testing.T) string {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "LABSYNC_") {
			t.Setenv(k, "")
		}
	}
	dir := t.TempDir()
	t.Setenv("LABSYNC_DATA_DIR", dir)
	t.Setenv("LABSYNC_LOG_FORMAT", "json")
	return dir
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, context.Background(), "version")
	if code != 0 || !strings.HasPrefix(out, "labsync ") || !strings.Contains(out, "commit") {
		t.Fatalf("%d %q", code, out)
	}
}

func TestServeRefusesAMalformedKEK(t *testing.T) {
	isolate(t)
	t.Setenv("LABSYNC_KEK", "dG9vLXNob3J0") // "too-short"
	code, _, errOut := run(t, context.Background(), "serve")
	if code != 2 || !strings.Contains(errOut, "LABSYNC_KEK") || !strings.Contains(errOut, "32") {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if strings.Contains(errOut, "dG9vLXNob3J0") {
		t.Fatal("the key was echoed")
	}
}

func TestServeExitsClearlyWhenTheDatabaseIsUnreachable(t *testing.T) {
	isolate(t)
	t.Setenv("LABSYNC_DATABASE_URL", "postgres://labsync:s3cret-pw@127.0.0.1:1/labsync?connect_timeout=2")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, _, errOut := run(t, ctx, "serve")
	if code == 0 || !strings.Contains(errOut, "LABSYNC_DATABASE_URL") {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if strings.Contains(errOut, "s3cret-pw") {
		t.Fatal("the database password was printed")
	}
}

func TestServeBootstrapsServesAndStops(t *testing.T) {
	dir := isolate(t)
	addr := freeAddr(t)
	t.Setenv("LABSYNC_ADDR", addr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var code int
	var errOut string
	go func() {
		code, _, errOut = run(t, ctx, "serve")
		close(done)
	}()
	// Wait until serve is ready or has exited; the bound is generous because
	// a first start migrates the whole schema, which under -race on a busy
	// machine takes seconds.
	ready := false
	deadline := time.Now().Add(2 * time.Minute)
wait:
	for time.Now().Before(deadline) {
		select {
		case <-done:
			break wait
		default:
		}
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				ready = true
				break
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	cancel()
	<-done
	if !ready {
		t.Fatalf("never ready; stderr:\n%s", errOut)
	}
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"owner@localhost", "password", "labsync admin token create", "LABSYNC_KEK is not set"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("first start does not say %q:\n%s", want, errOut)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "kek.dev"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("development key: %v %v", st, err)
	}

	// The second start does not bootstrap again but still warns about the key.
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(500 * time.Millisecond); cancel2() }()
	_, _, errOut2 := run(t, ctx2, "serve")
	if strings.Contains(errOut2, "first start") || !strings.Contains(errOut2, "LABSYNC_KEK is not set") {
		t.Fatalf("second start:\n%s", errOut2)
	}
}

func TestAdminTokenCreatePrintsATokenOnceAndStoresItsHash(t *testing.T) {
	dir := isolate(t)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	st.Migrate(ctx, nil)
	st.BootstrapIfEmpty(ctx, "Default", "owner@localhost", "")
	st.Close()
	code, out, errOut := run(t, ctx, "admin", "token", "create", "--name", "ci")
	tok := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(tok, "lsk_") {
		t.Fatalf("exit %d out %q err %s", code, out, errOut)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "labsync.db"))
	wal, _ := os.ReadFile(filepath.Join(dir, "labsync.db-wal"))
	if bytes.Contains(append(raw, wal...), []byte(tok)) {
		t.Fatal("the token is stored in clear")
	}
}

// TestKeysRotate populates a database under the development key, rotates
// to a new development key and then to an operator key, and opens every
// secret after each step.
func TestKeysRotate(t *testing.T) {
	dir := isolate(t)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	b, _, _ := st.BootstrapIfEmpty(ctx, "Default", "owner@localhost", "")
	dev, _, err := vault.LoadOrCreateDevKEK(filepath.Join(dir, "kek.dev"))
	if err != nil {
		t.Fatal(err)
	}
	v := vault.New(dev, st.OrgKeys())
	for i := range 20 {
		base := fmt.Sprintf("https://g%d.example.com", i)
		sealed, err := v.Seal(ctx, b.Org.ID, vault.Binding{Table: "oauth_apps", Row: base, Field: "client_secret"}, []byte("secret-"+base))
		if err != nil {
			t.Fatal(err)
		}
		st.SaveOAuthApp(ctx, b.Org.ID, base, "id", sealed)
	}
	st.Close()

	openAll := func(kek vault.KEK) {
		t.Helper()
		st, err := store.Open(ctx, store.Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		v := vault.New(kek, st.OrgKeys())
		apps, _ := st.OAuthApps(ctx)
		if len(apps) != 20 {
			t.Fatalf("%d apps", len(apps))
		}
		for _, a := range apps {
			pt, err := v.Open(ctx, a.OrgID, vault.Binding{Table: "oauth_apps", Row: a.BaseURL, Field: "client_secret"}, a.ClientSecretSealed)
			if err != nil || string(pt) != "secret-"+a.BaseURL {
				t.Fatalf("%s: %q %v", a.BaseURL, pt, err)
			}
		}
	}

	code, out, errOut := run(t, ctx, "keys", "rotate")
	if code != 0 || !strings.Contains(out, "re-wrapped 1 organisation key") {
		t.Fatalf("dev rotation: %d %s %s", code, out, errOut)
	}
	dev2, _, _ := vault.LoadOrCreateDevKEK(filepath.Join(dir, "kek.dev"))
	if dev2.ID() == dev.ID() {
		t.Fatal("development key file not replaced")
	}
	openAll(dev2)

	_, newB64, _ := vault.GenerateKEK()
	t.Setenv("LABSYNC_NEW_KEK", newB64)
	if code, out, errOut := run(t, ctx, "keys", "rotate"); code != 0 {
		t.Fatalf("operator rotation: %d %s %s", code, out, errOut)
	}
	t.Setenv("LABSYNC_NEW_KEK", "")
	opKEK, _ := vault.ParseKEK(newB64)
	openAll(opKEK)

	// serve now refuses the stale development key, naming the variable.
	t.Setenv("LABSYNC_ADDR", freeAddr(t))
	code, _, errOut = run(t, ctx, "serve")
	if code == 0 || !strings.Contains(errOut, "LABSYNC_KEK") {
		t.Fatalf("serve with the old key: exit %d, %s", code, errOut)
	}
}
