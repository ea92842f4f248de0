package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/labsync/labsync/internal/vault"
	"github.com/spf13/cobra"
)

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
			var (
				next    *vault.LocalKEK
				devNext string
			)
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
			case cfg.KEK.IsZero():
				// Development install: write the new key beside the old one
				// first, so a crash after the database commit loses nothing.
				devNext = devKEKPath(cfg) + ".new"
				os.Remove(devNext)
				if next, _, err = vault.LoadOrCreateDevKEK(devNext); err != nil {
					return err
				}
			default:
				return errors.New("give the new key with LABSYNC_NEW_KEK or --new-kek-file (make one with `labsync keys generate`)")
			}
			if next.ID() == old.ID() {
				return errors.New("the new KEK is the same as the current one")
			}
			n, err := st.RotateKEK(ctx, old, next)
			if err != nil {
				if devNext != "" {
					os.Remove(devNext)
				}
				return err
			}
			if devNext != "" {
				if err := os.Rename(devNext, devKEKPath(cfg)); err != nil {
					return fmt.Errorf("keys were rotated but %s could not replace %s (serve will finish this at start): %w", devNext, devKEKPath(cfg), err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "re-wrapped %d organisation key(s) from %s to %s\n", n, old.ID(), next.ID())
			if devNext == "" {
				fmt.Fprintln(cmd.OutOrStdout(), "now restart every labsync process with LABSYNC_KEK set to the new key; the old one is no longer needed")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&newKEKFile, "new-kek-file", "", "file holding the new KEK in base64")
	return withConfigFlags(cmd)
}
