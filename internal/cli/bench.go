package cli

import "github.com/spf13/cobra"

func newBenchCmd() *cobra.Command {
	b := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks that print figures (webhook intake, backfill)",
	}
	b.AddCommand(newBenchWebhooksCmd())
	return b
}
