package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// withConfigFlags adds the LABSYNC_* flags to cmd.
func withConfigFlags(cmd *cobra.Command) *cobra.Command {
	config.RegisterFlags(cmd.Flags(), os.Getenv)
	return cmd
}

// loadConfig parses and validates the configuration of cmd; a bad setting
// ends the process with exit code 2 and every problem listed.
func loadConfig(cmd *cobra.Command) (config.Config, error) {
	cfg, err := config.Load(cmd.Flags(), os.Getenv)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "labsync: invalid configuration:\n%s\n", indent(err.Error()))
		return cfg, exitError{2}
	}
	return cfg, nil
}

func indent(s string) string {
	out := "  "
	for _, r := range s {
		out += string(r)
		if r == '\n' {
			out += "  "
		}
	}
	return out
}

// newLogger returns a text logger on a terminal and a JSON logger otherwise.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// openStore connects to the configured database within a bounded time.
func openStore(ctx context.Context, cfg config.Config) (*store.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Options{DatabaseURL: cfg.DatabaseURL.Reveal(), DataDir: cfg.DataDir})
	if err != nil {
		if cfg.UsesPostgres() {
			return nil, fmt.Errorf("cannot reach the database named by LABSYNC_DATABASE_URL: %w", err)
		}
		return nil, fmt.Errorf("cannot open the SQLite database in LABSYNC_DATA_DIR (%s): %w", cfg.DataDir, err)
	}
	return st, nil
}

// migratedStore loads the configuration of cmd, opens the database and
// brings it to head: what every operations command needs first. The
// caller closes the store.
func migratedStore(cmd *cobra.Command) (config.Config, *store.Store, error) {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return cfg, nil, err
	}
	st, err := openStore(cmd.Context(), cfg)
	if err != nil {
		return cfg, nil, err
	}
	if err := st.Migrate(cmd.Context(), nil); err != nil {
		st.Close()
		return cfg, nil, err
	}
	return cfg, st, nil
}

// devKEKPath is where serve keeps a development KEK when LABSYNC_KEK is unset.
func devKEKPath(cfg config.Config) string { return filepath.Join(cfg.DataDir, "kek.dev") }

// loadKEK returns the key-encryption key: LABSYNC_KEK, else the development
// key file (created on first use, with a loud warning on every start). If a
// key rotation was interrupted after the database switched to the new
// development key but before the file was renamed, it finishes the rename.
func loadKEK(ctx context.Context, cfg config.Config, st *store.Store, log *slog.Logger) (*vault.LocalKEK, error) {
	var kek *vault.LocalKEK
	if !cfg.KEK.IsZero() {
		k, err := vault.ParseKEK(cfg.KEK.Reveal())
		if err != nil {
			return nil, err
		}
		kek = k
	} else {
		path := devKEKPath(cfg)
		k, created, err := vault.LoadOrCreateDevKEK(path)
		if err != nil {
			return nil, fmt.Errorf("development key %s: %w", path, err)
		}
		kek = k
		log.Warn("LABSYNC_KEK is not set: secrets are encrypted with a development key stored next to the database. "+
			"Anyone who can read the data directory can decrypt them. Set LABSYNC_KEK (base64 of 32 random bytes) for production "+
			"and run `labsync keys rotate` to move to it.", "key_file", path, "created_now", created)
	}
	ids, err := st.KEKIDs(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if id == kek.ID() {
			continue
		}
		if cfg.KEK.IsZero() {
			if pending, err := finishDevRotation(cfg, id); err == nil && pending != nil {
				log.Warn("finished an interrupted key rotation: the new development key is now in use")
				return pending, nil
			}
		}
		return nil, fmt.Errorf("the key-encryption key in use (%s) is not the one that wrapped this database's keys (%s): "+
			"set LABSYNC_KEK to the key this database was last rotated to", kek.ID(), id)
	}
	return kek, nil
}

// finishDevRotation renames kek.dev.new over kek.dev when the database is
// already wrapped by it.
func finishDevRotation(cfg config.Config, wantID string) (*vault.LocalKEK, error) {
	next := devKEKPath(cfg) + ".new"
	if _, err := os.Stat(next); err != nil {
		return nil, err
	}
	k, _, err := vault.LoadOrCreateDevKEK(next)
	if err != nil || k.ID() != wantID {
		return nil, errors.New("no matching pending key")
	}
	if err := os.Rename(next, devKEKPath(cfg)); err != nil {
		return nil, err
	}
	return k, nil
}
