// Package storetest opens migrated stores for tests, on SQLite or
// PostgreSQL, each in isolation (a temporary file, or a fresh schema).
//
// LABSYNC_TEST_DIALECT picks the dialect of Open (sqlite by default);
// LABSYNC_TEST_POSTGRES_URL points at a PostgreSQL server whose database the
// tests may create schemas in. A PostgreSQL that was asked for but cannot be
// reached fails the test; it never skips.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"github.com/labsync/labsync/internal/store"
)

// PostgresURL returns the server tests use, and whether it was configured.
func PostgresURL() (string, bool) {
	if u := os.Getenv("LABSYNC_TEST_POSTGRES_URL"); u != "" {
		return u, true
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", false
}

// Dialect returns the dialect chosen by LABSYNC_TEST_DIALECT.
func Dialect(t testing.TB) store.Dialect {
	switch d := os.Getenv("LABSYNC_TEST_DIALECT"); d {
	case "", "sqlite":
		return store.SQLite
	case "postgres":
		return store.Postgres
	default:
		t.Fatalf("LABSYNC_TEST_DIALECT must be sqlite or postgres (got %q)", d)
		return ""
	}
}

// Open returns a migrated store of the dialect chosen by LABSYNC_TEST_DIALECT,
// closed (and, on PostgreSQL, its schema dropped) when the test ends.
func Open(t testing.TB) *store.Store {
	return OpenDialect(t, Dialect(t))
}

// OpenDialect returns a migrated store of dialect d.
func OpenDialect(t testing.TB, d store.Dialect) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var opts store.Options
	if d == store.Postgres {
		opts.DatabaseURL = freshSchema(t)
	} else {
		opts.SQLitePath = filepath.Join(t.TempDir(), "labsync.db")
	}
	s, err := store.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open %s store: %v", d, err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx, nil); err != nil {
		t.Fatalf("migrate %s store: %v", d, err)
	}
	return s
}

// SQLitePath returns the file behind a SQLite store opened by Open.
func SQLitePath(s *store.Store) string { return s.Path() }

// FreshPostgresURL returns a URL whose search_path is a new, empty schema
// dropped when the test ends, for tests that start labsync processes.
func FreshPostgresURL(t testing.TB) string { return freshSchema(t) }

// freshSchema creates a schema for this test and returns a URL whose
// search_path points at it.
func freshSchema(t testing.TB) string {
	t.Helper()
	base, _ := PostgresURL()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("PostgreSQL at LABSYNC_TEST_POSTGRES_URL: %v", err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("PostgreSQL is required for this test but unusable (set LABSYNC_TEST_POSTGRES_URL): %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("LABSYNC_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
