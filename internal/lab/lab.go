// Package lab runs a local multi-host lab for pgplay: systemd-nspawn
// containers booted with systemd on a shared read-only Debian 12 rootfs, each
// with a private overlay, in its own network namespace on a bridge, reachable
// from the controller over SSH with strict host keys (see LAB.md).
//
// The lab keeps a runtime record under /run/pgplay-lab and names every
// resource it creates with the prefix "pglab-" (network namespaces, links,
// cgroups, overlay directories), so `down` can remove a lab whose state
// directory or record is gone.
package lab

import (
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Prefix starts the name of every namespace, link, cgroup and directory the
// lab creates.
const Prefix = "pglab-"

// Default values of Options.
const (
	DefaultSubnet   = "198.51.100.0/24"
	DefaultNodes    = 3
	DefaultStateDir = "lab"
	// MaxNodes bounds --nodes (addresses .11-.19; backup1 is .20).
	MaxNodes = 9
	// MaxSpares bounds --spares (addresses .21-.29).
	MaxSpares = 9
)

// Paths are where the lab keeps its files on the controller.
type Paths struct {
	// Cache holds the shared rootfs, built once (/var/cache/pgplay-lab).
	Cache string
	// Hosts holds one directory per host: overlay upper, work and mount
	// point, nspawn log (/var/lib/pgplay-lab).
	Hosts string
	// Run holds the runtime record of the running lab (/run/pgplay-lab).
	Run string
}

// DefaultPaths are the system-wide locations.
func DefaultPaths() Paths {
	return Paths{Cache: "/var/cache/pgplay-lab", Hosts: "/var/lib/pgplay-lab", Run: "/run/pgplay-lab"}
}

// Options say what lab `Up` brings up.
type Options struct {
	// StateDir receives inventory.yaml, ssh_config, id_ed25519(.pub) and
	// known_hosts. It is made absolute.
	StateDir string
	// Nodes is the number of PostgreSQL hosts (node1..nodeN), 1..MaxNodes.
	Nodes int
	// Barman adds the host backup1 (group barman).
	Barman bool
	// Spares is the number of spare hosts spare1..spareN (group spare,
	// 0..MaxSpares): the image's packages, no cluster, no role of the
	// cluster; a target for a restore drill (playbooks/restore.yaml).
	Spares int
	// Subnet is the lab network (IPv4); the bridge gets its .1.
	Subnet netip.Prefix
	// VIP is the virtual IP for keepalived; zero means the subnet's .100.
	VIP netip.Addr
	// Image is what the hosts run: ImageDefault ("" too) or ImageStock.
	Image string
	// RebuildRootfs builds the rootfs again even when one is cached.
	RebuildRootfs bool
	// BootTimeout bounds the wait for all hosts to answer SSH and finish
	// booting (0 means 2 minutes).
	BootTimeout time.Duration
}

// DefaultOptions are the options of a plain `pgplay lab up`.
func DefaultOptions() Options {
	return Options{
		StateDir: DefaultStateDir,
		Nodes:    DefaultNodes,
		Barman:   true,
		Subnet:   netip.MustParsePrefix(DefaultSubnet),
		// Boots take seconds; a loaded CI machine is slower.
		BootTimeout: 2 * time.Minute,
	}
}

// Lab brings the lab up and down. Its zero value is not usable; use New.
type Lab struct {
	// Paths are where the lab keeps its files.
	Paths Paths
	// Out receives progress lines (nil discards them).
	Out io.Writer
}

// New returns a Lab using the default paths that reports progress to out.
func New(out io.Writer) *Lab {
	return &Lab{Paths: DefaultPaths(), Out: out}
}

// say prints one progress line.
func (l *Lab) say(format string, args ...any) {
	if l.Out == nil {
		return
	}
	fmt.Fprintf(l.Out, format+"\n", args...)
}
