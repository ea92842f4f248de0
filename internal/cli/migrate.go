package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newMigrateCmd() *cobra.Command {
	var statusOnly bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database schema to head (serve does this too), or show where it stands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			if !statusOnly {
				if err := st.Migrate(ctx, nil); err != nil {
					return err
				}
			}
			s, err := st.MigrationStatus(ctx)
			if err != nil {
				return err
			}
			state := "at head"
			if !s.AtHead() {
				state = "migrations pending"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: schema version %d of %d, River tables %s — %s\n",
				st.Dialect(), s.Current, s.Head, map[bool]string{true: "pending", false: "current"}[s.RiverPending], state)
			return nil
		},
	}
	cmd.Flags().BoolVar(&statusOnly, "status", false, "only show the schema version, change nothing")
	return withConfigFlags(cmd)
}
