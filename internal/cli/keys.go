package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/keys"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
)

// keyConfig is where cfg says the KEK comes from.
func keyConfig(cfg config.Config) keys.Config {
	return keys.Config{KEK: cfg.KEK, DataDir: cfg.DataDir}
}

// loadKEK is keys.Load with cfg's key settings: the KEK serve and the
// operations commands run with.
func loadKEK(ctx context.Context, cfg config.Config, st *store.Store, log *slog.Logger) (*vault.LocalKEK, error) {
	return keys.Load(ctx, st, keyConfig(cfg), log)
}

func newKeysCmd() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "The key-encryption key (KEK) that protects every organisation's data key"}
	keys.AddCommand(newKeysGenerateCmd(), newKeysRotateCmd())
	return keys
}

func newKeysGenerateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "generate",
		Short: "Print a new random KEK (base64 of 32 bytes) for LABSYNC_KEK or LABSYNC_NEW_KEK",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, b64, err := vault.GenerateKEK()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), b64)
			return nil
		},
	}
}

func newKeysRotateCmd() *cobra.Command {
	var newKEKFile string
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Re-wrap every organisation's data key under a new KEK; the data itself is untouched",
		Long: `Re-wraps every organisation's data key under a new key-encryption key in one
transaction. Encrypted tokens and secrets are not rewritten: they are sealed by the
data keys, which stay the same. Afterwards the old KEK is no longer needed.

The current KEK is LABSYNC_KEK (or the development key file). The new one comes from
--new-kek-file or LABSYNC_NEW_KEK. On a development install with neither, a new
development key file replaces the old one.

Stop every labsync process first, then start them with LABSYNC_KEK set to the new key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, st, err := migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			log := newLogger(cfg, cmd.ErrOrStderr())
			ctx := cmd.Context()
			old, err := loadKEK(ctx, cfg, st, log)
			if err != nil {
				return err
			}
			var next *vault.LocalKEK // nil: a new development key
			switch {
			case newKEKFile != "":
				b, err := os.ReadFile(newKEKFile)
				if err != nil {
					return fmt.Errorf("--new-kek-file: %w", err)
				}
				if next, err = vault.ParseKEK(strings.TrimSpace(string(b))); err != nil {
					return fmt.Errorf("--new-kek-file: %w", err)
				}
			case os.Getenv("LABSYNC_NEW_KEK") != "":
				if next, err = vault.ParseKEK(os.Getenv("LABSYNC_NEW_KEK")); err != nil {
					return fmt.Errorf("LABSYNC_NEW_KEK: %w", err)
				}
			}
			r, err := keys.Rotate(ctx, st, keyConfig(cfg), old, next)
			if errors.Is(err, keys.ErrNoNewKey) {
				return errors.New("give the new key with LABSYNC_NEW_KEK or --new-kek-file (make one with `labsync keys generate`)")
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "re-wrapped %d organisation key(s) from %s to %s\n", r.Rewrapped, r.From, r.To)
			if !r.DevKey {
				fmt.Fprintln(cmd.OutOrStdout(), "now restart every labsync process with LABSYNC_KEK set to the new key; the old one is no longer needed")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&newKEKFile, "new-kek-file", "", "file holding the new KEK in base64")
	return withConfigFlags(cmd)
}
