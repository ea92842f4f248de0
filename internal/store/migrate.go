package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations
var migrations embed.FS

// MigrationStatus says where the schema stands.
type MigrationStatus struct {
	Current int64 `json:"current"`
	Head    int64 `json:"head"`
	// RiverPending is true while River's own tables lag its version.
	RiverPending bool `json:"river_pending"`
}

// AtHead reports whether every migration has run.
func (m MigrationStatus) AtHead() bool { return m.Current == m.Head && !m.RiverPending }

func (s *Store) goose(log *slog.Logger) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return nil, err
	}
	d := goose.DialectSQLite3
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if log != nil {
		opts = append(opts, goose.WithSlog(log))
	}
	if s.dialect == Postgres {
		d = goose.DialectPostgres
		// Replicas that start together queue on an advisory lock instead
		// of racing each other through the same migrations.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(d, s.db, sub, opts...)
}

// Migrate brings labsync's schema and River's tables to head. It is safe to
// call from several processes at once on PostgreSQL.
func (s *Store) Migrate(ctx context.Context, log *slog.Logger) error {
	p, err := s.goose(log)
	if err != nil {
		return fmt.Errorf("store: unable to load migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migration failed: %w", err)
	}
	if err := s.migrateRiver(ctx); err != nil {
		return fmt.Errorf("store: River migration failed: %w", err)
	}
	return nil
}

func (s *Store) migrateRiver(ctx context.Context) error {
	if s.dialect == Postgres {
		m, err := rivermigrate.New(riverpgxv5.New(s.pool), nil)
		if err != nil {
			return err
		}
		// River's migrations are not guarded by goose's lock; take the same
		// kind of advisory lock so concurrent starts don't collide.
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		const key = 0x6c6162737963 // "labsyc"
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(key)); err != nil {
			return err
		}
		defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(key))
		// One transaction per River version: its enum changes cannot share one.
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		return err
	}
	m, err := rivermigrate.New(riversqlite.New(s.db), nil)
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

// MigrationStatus reads the current and head versions without changing anything.
func (s *Store) MigrationStatus(ctx context.Context) (MigrationStatus, error) {
	p, err := s.goose(nil)
	if err != nil {
		return MigrationStatus{}, fmt.Errorf("store: unable to load migrations: %w", err)
	}
	cur, head, err := p.GetVersions(ctx)
	if err != nil {
		return MigrationStatus{}, fmt.Errorf("store: unable to read schema version: %w", err)
	}
	st := MigrationStatus{Current: cur, Head: head}
	st.RiverPending, err = s.riverPending(ctx)
	if err != nil {
		return st, fmt.Errorf("store: unable to read River's schema version: %w", err)
	}
	return st, nil
}

func (s *Store) riverPending(ctx context.Context) (bool, error) {
	var (
		all, existing []rivermigrate.Migration
	)
	if s.dialect == Postgres {
		m, err := rivermigrate.New(riverpgxv5.New(s.pool), nil)
		if err != nil {
			return false, err
		}
		all = m.AllVersions()
		if existing, err = m.ExistingVersions(ctx); err != nil {
			if isUndefinedTable(err) {
				return true, nil
			}
			return false, err
		}
	} else {
		m, err := rivermigrate.New(riversqlite.New(s.db), nil)
		if err != nil {
			return false, err
		}
		all = m.AllVersions()
		if existing, err = m.ExistingVersions(ctx); err != nil {
			if isUndefinedTable(err) {
				return true, nil
			}
			return false, err
		}
	}
	if len(all) == 0 {
		return false, nil
	}
	if len(existing) == 0 {
		return true, nil
	}
	return existing[len(existing)-1].Version < all[len(all)-1].Version, nil
}

func isUndefinedTable(err error) bool {
	type sqlState interface{ SQLState() string }
	var pe sqlState
	if errors.As(err, &pe) && pe.SQLState() == "42P01" {
		return true
	}
	var se interface{ Code() int }
	// SQLITE_ERROR "no such table" carries the generic code 1.
	return errors.As(err, &se) && se.Code() == 1
}
