package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/store"
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
