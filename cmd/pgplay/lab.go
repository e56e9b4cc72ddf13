package main

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/pgplay/pgplay/internal/lab"
)

// newLabCmd is `pgplay lab up|down|status`: a local multi-host lab of
// systemd-nspawn containers (node1..nodeN with PostgreSQL, backup1 with
// barman) to run the playbooks against.
func newLabCmd() *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "A local multi-host lab (systemd-nspawn containers) to try the playbooks",
		Long: `A local lab of Debian 12 hosts on this machine, each a systemd-nspawn container
booted with systemd, in its own network namespace on a private bridge:
node1..nodeN (PostgreSQL 15, repmgr, keepalived) and backup1 (barman).

  sudo pgplay lab up
  pgplay run playbooks/site.yaml -i lab/inventory.yaml
  ssh -F lab/ssh_config node2
  sudo pgplay lab status
  sudo pgplay lab down

The first 'up' builds the shared rootfs with debootstrap (about 2 minutes,
cached in /var/cache/pgplay-lab/rootfs). Needs root, systemd-nspawn
(systemd-container), debootstrap, iproute2 and overlayfs.

'up --image stock' runs the hosts as stock Debian 12 servers instead: login
user admin with passwordless sudo (root login disabled), none of the
database packages; site.yaml installs them with apt from a local repository
the lab serves read-only at /srv/pgplay-apt (built once from this machine's
Debian mirror, cached in /var/cache/pgplay-lab/apt-stock next to the
image's rootfs-stock).`,
	}
	cmd.PersistentFlags().StringVar(&stateDir, "state-dir", lab.DefaultStateDir,
		"directory for inventory.yaml, ssh_config, id_ed25519 and known_hosts")
	cmd.AddCommand(newLabUpCmd(&stateDir), newLabDownCmd(&stateDir), newLabStatusCmd())
	return cmd
}

func newLabUpCmd(stateDir *string) *cobra.Command {
	opts := lab.DefaultOptions()
	var subnet, vip string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Bring the lab up (idempotent; cleans up a crashed earlier lab first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.Subnet, err = netip.ParsePrefix(subnet); err != nil {
				return withCode(exitOptions, fmt.Errorf("--subnet %q: not a CIDR subnet like %s", subnet, lab.DefaultSubnet))
			}
			if vip != "" {
				if opts.VIP, err = netip.ParseAddr(vip); err != nil {
					return withCode(exitOptions, fmt.Errorf("--vip %q: not an IPv4 address", vip))
				}
			}
			opts.StateDir = *stateDir
			l := lab.New(cmd.ErrOrStderr())
			st, err := l.Up(cmd.Context(), opts)
			var oe *lab.OptionError
			if errors.As(err, &oe) {
				return withCode(exitOptions, err)
			}
			if err != nil {
				return withCode(exitError, err)
			}
			st.Write(cmd.OutOrStdout())
			fmt.Fprintf(cmd.OutOrStdout(), "next:       pgplay run playbooks/site.yaml -i %s\n", labRel(st.Files.Inventory))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Nodes, "nodes", lab.DefaultNodes, fmt.Sprintf("number of PostgreSQL hosts node1..nodeN (1-%d)", lab.MaxNodes))
	f.BoolVar(&opts.Barman, "barman", true, "add the barman host backup1")
	f.IntVar(&opts.Spares, "spares", 0, fmt.Sprintf("number of spare hosts spare1..spareN (0-%d; group spare, PostgreSQL installed, no cluster): targets for playbooks/restore.yaml", lab.MaxSpares))
	f.StringVar(&subnet, "subnet", lab.DefaultSubnet, "lab network (IPv4 CIDR); must not be routed on this machine")
	f.StringVar(&vip, "vip", "", "virtual IP for keepalived (default: the subnet's .100)")
	f.StringVar(&opts.Image, "image", lab.ImageDefault, "what the hosts run: default (PostgreSQL, repmgr, keepalived, barman preinstalled; root login) "+
		"or stock (a stock Debian 12 server: login user admin with sudo, no database packages, apt from a local repository)")
	f.BoolVar(&opts.RebuildRootfs, "rebuild-rootfs", false, "build the cached Debian rootfs again")
	f.DurationVar(&opts.BootTimeout, "boot-timeout", opts.BootTimeout, "how long to wait for the hosts to answer SSH and finish booting")
	return cmd
}

func newLabDownCmd(stateDir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Remove the lab: containers, namespaces, links, mounts, cgroups, state files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCode(exitError, lab.New(cmd.ErrOrStderr()).Down(cmd.Context(), *stateDir))
		},
	}
}

func newLabStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the lab's hosts, addresses and whether they run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := lab.New(cmd.ErrOrStderr()).Status(cmd.Context())
			if err != nil {
				return withCode(exitError, err)
			}
			st.Write(cmd.OutOrStdout())
			return nil
		},
	}
}

// labRel shows a path relative to the working directory when it is below it.
func labRel(path string) string { return lab.RelPath(path) }
