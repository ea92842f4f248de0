package cli

import (
	"fmt"

	"github.com/labsync/labsync/internal/accounts"
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
			t, err := accounts.New(st, nil, nil, accounts.Options{}).IssueOperatorToken(cmd.Context(), email, name)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Created API token %q (id %d) for %s in %q. It is shown only now:\n", name, t.APIToken.ID, t.User.Email, t.Org.Name)
			fmt.Fprintln(cmd.OutOrStdout(), t.Token)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "cli", "a name to recognise the token by")
	create.Flags().StringVar(&email, "user", "", "the user the token acts as (default: the first owner)")
	token.AddCommand(withConfigFlags(create), newAdminTokenListCmd(), newAdminTokenRevokeCmd())
	admin.AddCommand(token, newAdminOrgCmd(), newAdminPurgeCmd())
	return admin
}
