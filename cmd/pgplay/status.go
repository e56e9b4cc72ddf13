package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/status"
	"github.com/pgplay/pgplay/internal/transport"
)

func newStatusCmd() *cobra.Command {
	var (
		inv, limit, output, group string
		acceptNew                 bool
		timeout                   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status -i INVENTORY",
		Short: "Show the cluster as its nodes see it: roles, timelines, lag, sync state, VIP, keepalived, backups",
		Long: `Asks every PostgreSQL node (the inventory's "postgres" group) what it is, never
trusting the inventory's pg_role, and the barman hosts for their backups.
Exit code 0 when the cluster is healthy, 2 when it is degraded (no primary,
two primaries, the VIP missing, on a standby or on two nodes).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if inv == "" {
				return withCode(exitOptions, fmt.Errorf("no inventory given\n  hint: pgplay status -i inventory.yaml"))
			}
			if output != "human" && output != "json" {
				return withCode(exitOptions, fmt.Errorf("--output %q: want human or json", output))
			}
			in, err := inventory.Load(inv)
			if err != nil {
				return withCode(exitParse, err)
			}
			pool := transport.NewPool()
			defer pool.Close()
			rep, err := status.Collect(cmd.Context(), in, pool, status.Options{
				Group: group, Limit: limit,
				Configure: func(c *transport.Config) {
					c.AcceptNewHostKeys = acceptNew
					c.ConnectTimeout = timeout
				},
			})
			if err != nil {
				return withCode(exitOptions, err)
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return withCode(exitError, err)
				}
			} else {
				rep.WriteTable(w)
			}
			if rep.Degraded() {
				return withCode(exitHostFailed, errSilent)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&inv, "inventory", "i", "", "inventory file")
	f.StringVarP(&limit, "limit", "l", "", "only these hosts")
	f.StringVar(&group, "group", "postgres", "inventory group of the PostgreSQL nodes")
	f.StringVar(&output, "output", "human", "human or json")
	f.BoolVar(&acceptNew, "accept-new-host-keys", false, "trust and record unknown host keys (never a changed one)")
	f.DurationVar(&timeout, "connect-timeout", 5*time.Second, "SSH connect timeout")
	return cmd
}
