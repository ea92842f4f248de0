package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
	"github.com/spf13/cobra"
)

// newAdminOrgCmd is `labsync admin org create|list|delete`.
func newAdminOrgCmd() *cobra.Command {
	org := &cobra.Command{Use: "org", Short: "Organisations: create one with its owner, list them, delete one (crypto-shredding)"}

	var name, email string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an organisation and its owner; a new owner's one-time password is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || email == "" {
				return errors.New("both --name and --owner-email are required")
			}
			_, st, err := migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			c, err := accounts.New(st, nil, nil, accounts.Options{}).CreateOrganization(cmd.Context(), name, email)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Created organisation %q (id %d) owned by %s.\n", c.Org.Name, c.Org.ID, c.Owner.Email)
			if c.Password != "" {
				fmt.Fprintf(w, "One-time password for %s (shown only now): %s\n", c.Owner.Email, c.Password)
			}
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "the organisation's name")
	create.Flags().StringVar(&email, "owner-email", "", "its owner: an existing user joins, a new one is created")

	list := &cobra.Command{
		Use: "list", Short: "List organisations", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, st, err := migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			orgs, err := st.Organizations(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tCREATED")
			for _, o := range orgs {
				fmt.Fprintf(tw, "%d\t%s\t%s\n", o.ID, o.Name, o.CreatedAt.Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		},
	}

	var confirm string
	del := &cobra.Command{
		Use:   "delete ID --confirm NAME",
		Short: "Delete an organisation: disconnect its integrations, destroy its data keys, then delete its rows (no undo)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("%q is not an organisation id", args[0])
			}
			cfg, st, err := migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			o, err := st.Organization(ctx, id)
			if err != nil {
				return fmt.Errorf("organisation %d: %w", id, err)
			}
			// The confirmation is checked before the key is loaded.
			if confirm != o.Name {
				return fmt.Errorf("deleting organisation %d destroys its keys and all its data with no undo: add --confirm %q", id, o.Name)
			}
			log := newLogger(cfg, cmd.ErrOrStderr())
			kek, err := loadKEK(ctx, cfg, st, log)
			if err != nil {
				return err
			}
			integ := integrations.New(st, vault.New(kek, st.OrgKeys()), nil, cfg, log, nil)
			if _, err := accounts.New(st, log, integ, accounts.Options{}).DeleteOrganization(ctx, accounts.Principal{OrgID: id}, confirm); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted organisation %q (id %d): its data keys are destroyed and its rows deleted.\n", o.Name, id)
			return nil
		},
	}
	del.Flags().StringVar(&confirm, "confirm", "", "the organisation's name, to confirm")

	for _, c := range []*cobra.Command{create, list, del} {
		org.AddCommand(withConfigFlags(c))
	}
	return org
}

// newAdminPurgeCmd is `labsync admin purge`: the purge job, run now.
func newAdminPurgeCmd() *cobra.Command {
	purge := &cobra.Command{
		Use:   "purge",
		Short: "Purge now the data of every disconnected integration (the service does it within 24 h on its own)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, st, err := migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			log := newLogger(cfg, cmd.ErrOrStderr())
			kek, err := loadKEK(ctx, cfg, st, log)
			if err != nil {
				return err
			}
			svc := integrations.New(st, vault.New(kek, st.OrgKeys()), nil, cfg, log, nil)
			n, err := svc.PurgeDue(ctx)
			fmt.Fprintf(cmd.OutOrStdout(), "Purged %d disconnected integration(s).\n", n)
			return err
		},
	}
	return withConfigFlags(purge)
}

// newAdminTokenListCmd and newAdminTokenRevokeCmd manage API tokens of one
// organisation (default: the first).
func newAdminTokenListCmd() *cobra.Command {
	var orgID int64
	var asJSON bool
	cmd := &cobra.Command{
		Use: "list", Short: "List an organisation's API tokens (never the tokens themselves)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, st, err := migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if orgID, err = defaultOrg(cmd, st, orgID); err != nil {
				return err
			}
			ts, err := st.APITokens(cmd.Context(), orgID, 0)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(ts)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tUSER\tLAST USED\tSTATE")
			for _, t := range ts {
				used, state := "never", "active"
				if t.LastUsedAt != nil {
					used = t.LastUsedAt.Format("2006-01-02 15:04")
				}
				if t.RevokedAt != nil {
					state = "revoked"
				} else if t.ExpiresAt != nil && t.ExpiresAt.Before(st.Now()) {
					state = "expired"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", t.ID, t.Name, t.Prefix, t.UserID, used, state)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().Int64Var(&orgID, "org", 0, "organisation id (default: the first)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return withConfigFlags(cmd)
}

func newAdminTokenRevokeCmd() *cobra.Command {
	var orgID int64
	cmd := &cobra.Command{
		Use: "revoke ID", Short: "Revoke an API token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("%q is not a token id", args[0])
			}
			_, st, err := migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			if orgID, err = defaultOrg(cmd, st, orgID); err != nil {
				return err
			}
			if err := accounts.New(st, nil, nil, accounts.Options{}).RevokeOperatorToken(ctx, orgID, id); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no live token %d in organisation %d", id, orgID)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked API token %d.\n", id)
			return nil
		},
	}
	cmd.Flags().Int64Var(&orgID, "org", 0, "organisation id (default: the first)")
	return withConfigFlags(cmd)
}

// defaultOrg returns orgID, or the first organisation's when it is 0.
func defaultOrg(cmd *cobra.Command, st *store.Store, orgID int64) (int64, error) {
	if orgID != 0 {
		return orgID, nil
	}
	o, _, err := st.FirstOwner(cmd.Context())
	if errors.Is(err, store.ErrNotFound) {
		return 0, errors.New("no organisation yet: start `labsync serve` once, or create one with `labsync admin org create`")
	}
	return o.ID, err
}
