package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/vault"
)

// postgresOrSkip opens a PostgreSQL store when one is configured; when
// LABSYNC_TEST_REQUIRE_TOOLS=1 (CI) a missing server fails instead.
func postgresOrSkip(t *testing.T) *store.Store {
	t.Helper()
	if _, ok := storetest.PostgresURL(); !ok && os.Getenv("LABSYNC_TEST_REQUIRE_TOOLS") != "1" {
		t.Skip("LABSYNC_TEST_POSTGRES_URL is not set; set it to compare with PostgreSQL")
	}
	return storetest.OpenDialect(t, store.Postgres)
}

func TestBothDialectsReachTheSameSchema(t *testing.T) {
	ctx := context.Background()
	lite := storetest.OpenDialect(t, store.SQLite)
	pg := postgresOrSkip(t)

	ls, err := lite.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pg.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !ls.AtHead() || !ps.AtHead() || ls.Head != ps.Head {
		t.Fatalf("not at the same head: sqlite %+v, postgres %+v", ls, ps)
	}

	lc, pc := columns(t, lite), columns(t, pg)
	if strings.Join(lc, "\n") != strings.Join(pc, "\n") {
		t.Errorf("schemas differ\nsqlite only: %v\npostgres only: %v", minus(lc, pc), minus(pc, lc))
	}
	if len(lc) < 50 {
		t.Errorf("suspiciously few columns: %d", len(lc))
	}
}

// columns lists labsync's table.column pairs (River's and goose's excluded).
func columns(t *testing.T, s *store.Store) []string {
	t.Helper()
	q := `SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p
	      WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`
	if s.Dialect() == store.Postgres {
		q = `SELECT table_name || '.' || column_name FROM information_schema.columns
		     WHERE table_schema = current_schema()`
	}
	rows, err := s.DB().Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(c, "river_") || strings.HasPrefix(c, "goose_") {
			continue
		}
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

func TestMigrateTwiceIsANoop(t *testing.T) {
	s := storetest.Open(t)
	ctx := context.Background()
	if err := s.Migrate(ctx, nil); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	st, err := s.MigrationStatus(ctx)
	if err != nil || !st.AtHead() {
		t.Fatalf("status %+v, %v", st, err)
	}
}

func TestBootstrapCreatesOneOrganizationUnderConcurrency(t *testing.T) {
	s := storetest.Open(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	created := make(chan bool, 4)
	for range 4 {
		wg.Go(func() {
			_, ok, err := s.BootstrapIfEmpty(ctx, "Default", "owner@localhost", "hash")
			if err != nil {
				t.Error(err)
			}
			created <- ok
		})
	}
	wg.Wait()
	close(created)
	n := 0
	for ok := range created {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("bootstrap reported creation %d times, want 1", n)
	}
	if c, _ := s.CountOrganizations(ctx); c != 1 {
		t.Fatalf("%d organizations, want 1", c)
	}
	org, owner, err := s.FirstOwner(ctx)
	if err != nil || org.Name != "Default" || owner.Email != "owner@localhost" {
		t.Fatalf("first owner: %+v %+v %v", org, owner, err)
	}
	if r, err := s.MemberRole(ctx, org.ID, owner.ID); err != nil || r != store.RoleOwner {
		t.Fatalf("role %q, %v", r, err)
	}
}

func TestAPITokensAreScopedAndRevocable(t *testing.T) {
	s := storetest.Open(t)
	ctx := context.Background()
	b, _, err := s.BootstrapIfEmpty(ctx, "A", "a@localhost", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.CreateAPIToken(ctx, b.Org.ID, b.Owner.ID, "ci", "lsk_abcd", []byte("hash-1"))
	if err != nil {
		t.Fatal(err)
	}
	got, role, err := s.APITokenByHash(ctx, []byte("hash-1"))
	if err != nil || got.ID != tok.ID || role != store.RoleOwner {
		t.Fatalf("lookup: %+v %q %v", got, role, err)
	}
	other, err := s.CreateUser(ctx, "b@localhost", "B", "")
	if err != nil {
		t.Fatal(err)
	}
	orgB, err := s.CreateOrganization(ctx, "B", other.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIToken(ctx, orgB.ID, tok.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoking another organization's token: %v, want ErrNotFound", err)
	}
	if err := s.RevokeAPIToken(ctx, b.Org.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.APITokenByHash(ctx, []byte("hash-1")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoked token still resolves: %v", err)
	}
}

// TestNoPlaintextSecretInTheDatabase writes known secrets through the vault
// and scans the raw bytes the database keeps for them.
func TestNoPlaintextSecretInTheDatabase(t *testing.T) {
	ctx := context.Background()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			var s *store.Store
			if d == store.Postgres {
				s = postgresOrSkip(t)
			} else {
				s = storetest.OpenDialect(t, d)
			}
			kek, _, err := vault.GenerateKEK()
			if err != nil {
				t.Fatal(err)
			}
			v := vault.New(kek, s.OrgKeys())
			b, _, err := s.BootstrapIfEmpty(ctx, "A", "a@localhost", "")
			if err != nil {
				t.Fatal(err)
			}
			const known = "glpat-KNOWN-SECRET-0123456789abcdef"
			for i := range 50 {
				base := fmt.Sprintf("https://gitlab%d.example.com", i)
				sealed, err := v.Seal(ctx, b.Org.ID, vault.Binding{Table: "oauth_apps", Row: base, Field: "client_secret"}, []byte(known))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.SaveOAuthApp(ctx, b.Org.ID, base, "client", sealed); err != nil {
					t.Fatal(err)
				}
			}
			raw := rawBytes(t, s)
			if len(raw) == 0 {
				t.Fatal("read no raw bytes")
			}
			if bytes.Contains(raw, []byte(known)) || bytes.Contains(raw, []byte("KNOWN-SECRET")) {
				t.Fatal("the plaintext secret is in the database's raw bytes")
			}
			// The scan must be able to see what it looks for: the client id is stored in clear.
			if !bytes.Contains(raw, []byte("gitlab49.example.com")) {
				t.Fatal("scan did not see clear columns; it proves nothing")
			}
			app, err := s.OAuthAppFor(ctx, b.Org.ID, "https://gitlab7.example.com")
			if err != nil {
				t.Fatal(err)
			}
			pt, err := v.Open(ctx, b.Org.ID, vault.Binding{Table: "oauth_apps", Row: app.BaseURL, Field: "client_secret"}, app.ClientSecretSealed)
			if err != nil || string(pt) != known {
				t.Fatalf("open: %q %v", pt, err)
			}
		})
	}
}

// rawBytes returns what the database keeps on disk for the secrets' table:
// the SQLite file (and its WAL), or PostgreSQL's stored row images.
func rawBytes(t *testing.T, s *store.Store) []byte {
	t.Helper()
	if s.Dialect() == store.SQLite {
		if _, err := s.DB().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		var out []byte
		for _, p := range []string{s.Path(), s.Path() + "-wal"} {
			b, err := os.ReadFile(p)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			out = append(out, b...)
		}
		return out
	}
	// The heap pages of the table as PostgreSQL stores them.
	var path string
	if err := s.DB().QueryRow(`SELECT pg_relation_filepath('oauth_apps')`).Scan(&path); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(`CHECKPOINT`); err != nil {
		t.Logf("CHECKPOINT: %v (reading the row images instead)", err)
	}
	var dir string
	if err := s.DB().QueryRow(`SHOW data_directory`).Scan(&dir); err == nil {
		if b, err := os.ReadFile(dir + "/" + path); err == nil {
			return b
		}
	}
	// Not on the same machine or not readable: every stored tuple's bytes.
	rows, err := s.DB().Query(`SELECT textsend(t::text) FROM oauth_apps t`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

func TestRotateKEKKeepsEverySecretOpen(t *testing.T) {
	s := storetest.Open(t)
	ctx := context.Background()
	oldKEK, _, _ := vault.GenerateKEK()
	newKEK, _, _ := vault.GenerateKEK()
	v := vault.New(oldKEK, s.OrgKeys())

	b, _, err := s.BootstrapIfEmpty(ctx, "A", "a@localhost", "")
	if err != nil {
		t.Fatal(err)
	}
	u2, _ := s.CreateUser(ctx, "b@localhost", "B", "")
	org2, _ := s.CreateOrganization(ctx, "B", u2.ID)
	want := map[[2]any][]byte{}
	for _, org := range []int64{b.Org.ID, org2.ID} {
		for i := range 10 {
			base := fmt.Sprintf("https://g%d.example.com", i)
			secret := fmt.Sprintf("secret-%d-%d", org, i)
			sealed, err := v.Seal(ctx, org, vault.Binding{Table: "oauth_apps", Row: base, Field: "client_secret"}, []byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.SaveOAuthApp(ctx, org, base, "c", sealed); err != nil {
				t.Fatal(err)
			}
			want[[2]any{org, base}] = sealed
		}
	}
	n, err := s.RotateKEK(ctx, oldKEK, newKEK)
	if err != nil || n != 2 {
		t.Fatalf("rotated %d keys, %v; want 2", n, err)
	}
	ids, _ := s.KEKIDs(ctx)
	if len(ids) != 1 || ids[0] != newKEK.ID() {
		t.Fatalf("KEK ids after rotation: %v", ids)
	}
	// The data did not change, and it opens with the new KEK alone.
	fresh := vault.New(newKEK, s.OrgKeys())
	apps, err := s.OAuthApps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		if !bytes.Equal(a.ClientSecretSealed, want[[2]any{a.OrgID, a.BaseURL}]) {
			t.Fatalf("ciphertext of %d/%s changed", a.OrgID, a.BaseURL)
		}
		pt, err := fresh.Open(ctx, a.OrgID, vault.Binding{Table: "oauth_apps", Row: a.BaseURL, Field: "client_secret"}, a.ClientSecretSealed)
		if err != nil || !strings.HasPrefix(string(pt), "secret-") {
			t.Fatalf("open after rotation: %q %v", pt, err)
		}
	}
	// The old KEK is no longer accepted.
	stale := vault.New(oldKEK, s.OrgKeys())
	if _, err := stale.Open(ctx, b.Org.ID, vault.Binding{Table: "oauth_apps", Row: apps[0].BaseURL, Field: "client_secret"}, apps[0].ClientSecretSealed); err == nil {
		t.Fatal("the old KEK still opens secrets after rotation")
	}
	// Running it again is harmless.
	if n, err := s.RotateKEK(ctx, oldKEK, newKEK); err != nil || n != 0 {
		t.Fatalf("second rotation: %d, %v", n, err)
	}
}

// TestSQLiteWALIsFoldedBackOnClose: commits do not checkpoint (the
// background checkpointer does), and closing the store leaves the whole
// database in its main file, so copying that file alone after a clean stop
// is a complete backup.
func TestSQLiteWALIsFoldedBackOnClose(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "labsync.db")
	s, err := store.Open(ctx, store.Options{SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	b, _, err := s.BootstrapIfEmpty(ctx, "A", "a@localhost", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := s.CreateAPIToken(ctx, b.Org.ID, b.Owner.ID, "t", "lsk_x", []byte(fmt.Sprintf("hash-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("no WAL while open (%v): the test proves nothing", err)
	}
	// Commits leave checkpoints to the background checkpointer, which
	// copies them into the main file while the store is open (far fewer
	// than SQLite's default 1,000 pages are written here).
	var auto int
	if err := s.DB().QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("the writer checkpoints on commit: wal_autocheckpoint=%d (%v)", auto, err)
	}
	before, _ := os.Stat(path)
	grown := false
	for range 300 {
		if fi, err := os.Stat(path); err == nil && fi.Size() > before.Size() {
			grown = true
			break
		}
		if _, err := s.CreateAPIToken(ctx, b.Org.ID, b.Owner.ID, "t", "lsk_x", fmt.Appendf(nil, "more-%d", time.Now().UnixNano())); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !grown {
		t.Fatal("nothing was checkpointed into the main file while the store was open")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Fatalf("the WAL still holds %d bytes after a clean close", fi.Size())
	}
	s2, err := store.Open(ctx, store.Options{SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if ts, err := s2.APITokens(ctx, b.Org.ID, 0); err != nil || len(ts) < 301 {
		t.Fatalf("after reopening: %d tokens, %v", len(ts), err)
	}
}

// TestClosingTwiceIsHarmless: callers (and test cleanups) may close a
// store that was already closed.
func TestClosingTwiceIsHarmless(t *testing.T) {
	s := storetest.Open(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Close()
}
