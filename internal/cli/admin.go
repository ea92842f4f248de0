package cli

import (
	"errors"
	"fmt"

	"github.com/labsync/labsync/internal/auth"
	"github.com/labsync/labsync/internal/store"
	"github.com/spf13/cobra"
)

func newAdminCmd() *cobra.Command {
	admin := &cobra.Command{Use: "admin", Short: "Operations on organisations, users and API tokens"}
	token := &cobra.Command{Use: "token", Short: "API tokens"}
	var name, email string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API token and print it once (only its hash is stored)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, st, err := migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			org, user, err := st.FirstOwner(ctx)
			if errors.Is(err, store.ErrNotFound) {
				return errors.New("no organisation yet: start `labsync serve` once to create the first one")
			}
			if err != nil {
				return err
			}
			if email != "" {
				if user, err = st.UserByEmail(ctx, email); err != nil {
					return fmt.Errorf("user %s: %w", email, err)
				}
				if _, err := st.MemberRole(ctx, org.ID, user.ID); err != nil {
					return fmt.Errorf("user %s is not a member of organisation %q", email, org.Name)
				}
			}
			tok, prefix, hash, err := auth.NewAPIToken()
			if err != nil {
				return err
			}
			t, err := st.CreateAPIToken(ctx, org.ID, user.ID, name, prefix, hash)
			if err != nil {
				return err
			}
			if err := st.Audit(ctx, store.AuditEntry{OrgID: org.ID, Actor: "cli", Action: "api_token.created",
				Target: fmt.Sprintf("api_token:%d", t.ID), Detail: []byte(fmt.Sprintf(`{"name":%q,"user":%q}`, name, user.Email))}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Created API token %q (id %d) for %s in %q. It is shown only now:\n", name, t.ID, user.Email, org.Name)
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "cli", "a name to recognise the token by")
	create.Flags().StringVar(&email, "user", "", "the user the token acts as (default: the first owner)")
	token.AddCommand(withConfigFlags(create), newAdminTokenListCmd(), newAdminTokenRevokeCmd())
	admin.AddCommand(token, newAdminOrgCmd(), newAdminPurgeCmd())
	return admin
}
