// Package store is labsync's only way to its database: one Store over
// database/sql that speaks SQLite (modernc.org/sqlite, the default) and
// PostgreSQL (pgx v5) with the same SQL wherever the two agree. Every query
// that reads or writes organisation data takes the organisation id and uses
// it in its WHERE clause; the store never returns another organisation's
// rows and never holds a secret in plaintext (secrets arrive sealed by the
// vault).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect names the database engine behind a Store.
type Dialect string

// The two dialects labsync supports.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Sentinel errors callers match with errors.Is.
var (
	// ErrNotFound means no row matched within the caller's organisation.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique constraint refused the write.
	ErrConflict = errors.New("already exists")
)

// Options tell Open where the database is.
type Options struct {
	// DatabaseURL is a postgres:// URL, or empty for SQLite.
	DatabaseURL string
	// DataDir holds the SQLite file when DatabaseURL is empty.
	DataDir string
	// SQLitePath overrides the SQLite file path (tests).
	SQLitePath string
}

// Store is the database. It is safe for concurrent use.
type Store struct {
	dialect Dialect
	// db takes writes. On SQLite it is one connection, so writers queue in
	// Go instead of spinning on SQLITE_BUSY.
	db *sql.DB
	// rdb takes reads. On SQLite it is a pool of read connections over the
	// WAL; on PostgreSQL it is db.
	rdb *sql.DB
	// pool is the pgx pool behind db on PostgreSQL (River's driver wants it).
	pool *pgxpool.Pool
	// path is the SQLite file.
	path string
	now  func() time.Time
	// ckpt checkpoints SQLite's WAL in the background (checkpoint.go).
	ckpt *checkpointer
	// stmts keeps SQLite's batch writes compiled (stmtcache.go).
	stmts stmtCache
}

// Open connects to the database and checks that it answers. It does not
// migrate; call Migrate.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.DatabaseURL != "" {
		return openPostgres(ctx, o.DatabaseURL)
	}
	path := o.SQLitePath
	if path == "" {
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("store: unable to create data directory %s: %w", o.DataDir, err)
		}
		path = filepath.Join(o.DataDir, "labsync.db")
	}
	return openSQLite(ctx, path)
}

func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	// FULL: a commit is fsync'd before it returns, so an acknowledged
	// webhook survives a power cut, not only a process kill.
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_time_format", "sqlite")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
		// Commits never checkpoint; the checkpointer does (checkpoint.go).
		q.Add("_pragma", "wal_autocheckpoint(0)")
		// A large batch stays in memory until it commits instead of
		// spilling pages to the WAL mid-transaction, and statement
		// journals never touch the disk.
		q.Add("_pragma", "temp_store(MEMORY)")
		// 64 MiB of page cache (SQLite's default is 2 MiB): the writer
		// keeps the inbox's, the feed's and the indexes' hot pages instead
		// of reading them back through the WAL for every batch (see
		// labsync bench webhooks, issue 18).
		q.Add("_pragma", "cache_size(-65536)")
	}
	return "file:" + path + "?" + q.Encode()
}

func openSQLite(ctx context.Context, path string) (*Store, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("store: unable to open SQLite database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: unable to open SQLite database %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: unable to restrict permissions of %s: %w", path, err)
	}
	rdb, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: unable to open SQLite database %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)*2))
	ckpt, err := startCheckpointer(ctx, path)
	if err != nil {
		rdb.Close()
		db.Close()
		return nil, err
	}
	return &Store{dialect: SQLite, db: db, rdb: rdb, path: path, now: time.Now, ckpt: ckpt}, nil
}

func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message can quote the URL, password included: keep it out.
		return nil, errors.New("store: LABSYNC_DATABASE_URL is not a valid PostgreSQL URL")
	}
	if cfg.MaxConns < 10 {
		cfg.MaxConns = 10
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: unable to connect to PostgreSQL at %s: %w", redactURL(dsn), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: unable to connect to PostgreSQL at %s: %w", redactURL(dsn), err)
	}
	db := stdlib.OpenDBFromPool(pool)
	return &Store{dialect: Postgres, db: db, rdb: db, pool: pool, now: time.Now}, nil
}

// redactURL returns the URL without its password, for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

// Dialect reports which engine this store uses.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB returns the write pool, for River's SQLite driver and for tests.
func (s *Store) DB() *sql.DB { return s.db }

// PgxPool returns the pgx pool on PostgreSQL, nil on SQLite.
func (s *Store) PgxPool() *pgxpool.Pool { return s.pool }

// Path returns the SQLite file path, empty on PostgreSQL.
func (s *Store) Path() string { return s.path }

// SetClock replaces the store's clock (tests).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Now is the store's clock, in UTC.
func (s *Store) Now() time.Time { return s.now().UTC() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: database unreachable: %w", err)
	}
	if s.rdb != s.db {
		if err := s.rdb.PingContext(ctx); err != nil {
			return fmt.Errorf("store: database unreachable: %w", err)
		}
	}
	return nil
}

// Close releases every connection.
func (s *Store) Close() error {
	var errs []error
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close())
	}
	s.stmts.close()
	if s.rdb != s.db {
		errs = append(errs, s.rdb.Close())
	}
	errs = append(errs, s.db.Close())
	if s.pool != nil {
		s.pool.Close()
	}
	return errors.Join(errs...)
}

// InTx runs fn in one transaction on the write pool, committing when fn
// returns nil and rolling back otherwise.
func (s *Store) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: unable to begin transaction: %w", err)
	}
	defer s.prepareWanted(ctx)
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: unable to commit: %w", err)
	}
	return nil
}

// InTxRepeatable is InTx for a fn that only writes through tx, so that it
// can run again from the start: when PostgreSQL ends the transaction to
// break a deadlock, or to keep it serializable, it is run again, at most
// three times in all. Writers of one table lock its rows in ascending id
// order, so a deadlock is rare; this is what makes a rare one harmless.
func (s *Store) InTxRepeatable(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.InTx(ctx, fn); !isRetryable(err) {
			return err
		}
	}
	return err
}

// isRetryable reports whether PostgreSQL ended a transaction to break a
// deadlock (40P01) or for a serialization failure (40001).
func isRetryable(err error) bool {
	type sqlState interface{ SQLState() string }
	var pe sqlState
	if errors.As(err, &pe) {
		return pe.SQLState() == "40P01" || pe.SQLState() == "40001"
	}
	return false
}

// isUniqueViolation reports whether err is a unique-constraint failure in
// either dialect.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	type sqlState interface{ SQLState() string }
	var pe sqlState
	if errors.As(err, &pe) {
		return pe.SQLState() == "23505"
	}
	type sqliteCode interface{ Code() int }
	var se sqliteCode
	if errors.As(err, &se) {
		// SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555).
		return se.Code() == 2067 || se.Code() == 1555
	}
	return false
}
