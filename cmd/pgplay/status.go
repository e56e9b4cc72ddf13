package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/status"
	"github.com/pgplay/pgplay/internal/transport"
)

func newStatusCmd() *cobra.Command {
	var (
		inv                  []string
		limit, output, group string
		acceptNew            bool
		timeout              time.Duration
		verbose              int
	)
	cmd := &cobra.Command{
		Use:   "status -i INVENTORY",
		Short: "Show the cluster as its nodes see it: roles, timelines, lag, sync state, VIP, keepalived, backups",
		Long: `Asks every PostgreSQL node (the inventory's "postgres" group) what it is, never
trusting the inventory's pg_role, and the barman hosts for their backups.

The exit code is the cluster's level, as a monitoring plugin's:
  0  healthy: every node in, each standby streaming from the primary, the
     synchronous standby met, backups OK
  1  degraded: serving, but with less redundancy (a node unreachable,
     stopped or fenced, a standby not streaming or streaming from another
     standby, keepalived not active, a health check not fit, barman failing
     or without a backup, commits waiting over 5 s for a synchronous standby)
  2  down or split: no primary, two primaries, the VIP on no node, on two
     nodes or on a standby, writes hanging for want of a synchronous standby
Each reason is printed above the last line, prefixed "down: " or
"degraded: ", with what to do; --output json gives them as "problems"
(level 2) and "warnings" (level 1), with "level" and "state". A bad option
exits 5 and an inventory that does not parse 4, before any node is asked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(inv) == 0 {
				return withCode(exitOptions, fmt.Errorf("no inventory given\n  hint: pgplay status -i inventory.yaml"))
			}
			if output != "human" && output != "json" {
				return withCode(exitOptions, fmt.Errorf("--output %q: want human or json", output))
			}
			in, err := loadInventory(inv, "", cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			// The cluster role's defaults (paths, version, port), as site.yaml
			// sees them under the inventory's variables.
			cluster, err := playbook.LoadRole("cluster", loaderOptions(defaultSource(), nil))
			if err != nil {
				return withCode(exitParse, fmt.Errorf("status reads the cluster role's defaults: %w", err))
			}
			pool := transport.NewPool()
			defer pool.Close()
			var debug func(string)
			if verbose >= 3 {
				debug = lineWriter(cmd.ErrOrStderr())
			}
			rep, err := status.Collect(cmd.Context(), in, pool, status.Options{
				Group: group, Limit: limit, Defaults: cluster.Defaults,
				Configure: func(c *transport.Config) {
					c.AcceptNewHostKeys = acceptNew
					c.ConnectTimeout = timeout
					c.Debug = debug
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
			if code := statusExit(rep.Level); code != exitOK {
				return withCode(code, errSilent)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&inv, "inventory", "i", nil, "inventory file or directory (YAML or INI); repeat to merge several, in order")
	f.StringVarP(&limit, "limit", "l", "", "only these hosts")
	f.StringVar(&group, "group", "postgres", "inventory group of the PostgreSQL nodes")
	f.StringVar(&output, "output", "human", "human or json")
	f.BoolVar(&acceptNew, "accept-new-host-keys", false, "trust and record unknown host keys (never a changed one)")
	f.DurationVar(&timeout, "connect-timeout", 5*time.Second, "SSH connect timeout")
	f.CountVarP(&verbose, "verbose", "v", "-vvv: how each node is connected to (address, user, ssh_config, keys offered, jump hosts, known_hosts), on stderr")
	return cmd
}

// lineWriter returns a func writing each line it is given to w, one
// line at a time: the nodes are dialed in parallel.
func lineWriter(w io.Writer) func(string) {
	var mu sync.Mutex
	return func(line string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(w, line)
	}
}

// statusExit maps a status report's level to the command's exit code:
// 0 healthy, 1 degraded, 2 down; an unknown level counts as down.
func statusExit(level int) int {
	switch level {
	case status.LevelHealthy:
		return exitOK
	case status.LevelDegraded:
		return 1
	default:
		return 2
	}
}
