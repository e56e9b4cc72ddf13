package lab

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Status describes the lab on this machine.
type Status struct {
	// Exists is false when no lab (record or leftover) was found.
	Exists bool
	// Up is true when every recorded host runs.
	Up bool
	// StateDir and Files locate the state directory's files.
	StateDir string
	Files    StateFiles
	Subnet   netip.Prefix
	Bridge   string
	VIP      netip.Addr
	// VIPHolders are the hosts whose eth0 carries the VIP (needs root).
	VIPHolders []string
	Hosts      []HostStatus
	// Leftovers are resources of a lab that is not fully running.
	Leftovers []string
	Created   time.Time
	// Image is what the hosts run (ImageDefault, ImageStock) and User
	// the login user of the inventory and ssh_config.
	Image string
	User  string
}

// HostStatus is one host of the lab.
type HostStatus struct {
	Name string
	Addr netip.Addr
	Role string
	// Running is true while the host's systemd-nspawn runs.
	Running bool
	// SSH is true when sshd accepts TCP connections on port 22.
	SSH bool
	// NspawnPID is the host's systemd-nspawn process; InitPID the
	// container's PID 1 (systemd) as seen from the controller.
	NspawnPID int
	InitPID   int
}

// Status inspects the lab: the runtime record, the processes, and what a
// crashed lab may have left.
func (l *Lab) Status(ctx context.Context) (*Status, error) {
	rec, err := l.loadRecord()
	if err != nil {
		return nil, err
	}
	st := l.statusOf(ctx, rec)
	found, err := l.discover(rec, "")
	if err != nil {
		return nil, err
	}
	if !found.empty() {
		st.Exists = true
	}
	if !st.Up {
		for _, d := range found.Describe() {
			if !strings.HasPrefix(d, "runtime record") {
				st.Leftovers = append(st.Leftovers, d)
			}
		}
	}
	return st, nil
}

// statusOf describes the recorded lab (an empty Status when rec is nil).
func (l *Lab) statusOf(ctx context.Context, rec *record) *Status {
	st := &Status{}
	if rec == nil {
		return st
	}
	st.Exists = true
	st.StateDir, st.Files = rec.StateDir, stateFiles(rec.StateDir)
	st.Subnet, st.Bridge, st.VIP, st.Created = rec.Subnet, rec.Bridge, rec.VIP, rec.Created
	st.Image, st.User = rec.image(), rec.user()
	st.Up = len(rec.Hosts) > 0
	inits := map[string]int{}
	for _, p := range labProcs() {
		if p.Init {
			inits[p.Host] = p.PID
		}
	}
	for _, h := range rec.Hosts {
		hs := HostStatus{Name: h.Name, Addr: h.Addr, Role: h.Role, NspawnPID: h.NspawnPID, InitPID: inits[h.Name], Running: h.nspawnAlive()}
		if hs.Running {
			hs.SSH = portOpen(ctx, h.Addr, time.Second)
			if os.Geteuid() == 0 {
				for _, a := range nsAddrs(ctx, h.Netns) {
					if a == rec.VIP {
						st.VIPHolders = append(st.VIPHolders, h.Name)
					}
				}
			}
		}
		st.Up = st.Up && hs.Running
		st.Hosts = append(st.Hosts, hs)
	}
	return st
}

// Write prints the status for a person.
func (s *Status) Write(w io.Writer) {
	if !s.Exists {
		fmt.Fprintln(w, "no lab on this machine; start one with: sudo pgplay lab up")
		return
	}
	if len(s.Hosts) > 0 {
		state := "up"
		if !s.Up {
			state = "NOT fully running"
		}
		fmt.Fprintf(w, "lab %s: %d hosts on %s (bridge %s), created %s\n", state, len(s.Hosts), s.Subnet, s.Bridge, s.Created.Local().Format(time.DateTime))
		if s.Image == ImageStock {
			fmt.Fprintf(w, "image stock: stock Debian 12 hosts, login %s with sudo; apt from %s (the lab's local repository)\n", s.User, StockRepoMount)
		}
		vip := "not held by any host"
		switch {
		case os.Geteuid() != 0:
			vip = "holder unknown (run as root to see it)"
		case len(s.VIPHolders) == 1:
			vip = "on " + s.VIPHolders[0]
		case len(s.VIPHolders) > 1:
			vip = "on " + strings.Join(s.VIPHolders, " AND ") + " (split brain)"
		}
		fmt.Fprintf(w, "VIP %s %s\n", s.VIP, vip)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "HOST\tADDRESS\tROLE\tSTATE")
		for _, h := range s.Hosts {
			state := "stopped"
			if h.Running {
				state = "running"
				if h.SSH {
					state += ", sshd listening"
				} else {
					state += ", sshd not listening"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.Name, h.Addr, h.Role, state)
		}
		tw.Flush()
		fmt.Fprintf(w, "inventory:  %s\nssh:        ssh -F %s %s\n", RelPath(s.Files.Inventory), RelPath(s.Files.SSHConfig), s.Hosts[0].Name)
	}
	if len(s.Leftovers) > 0 {
		fmt.Fprintln(w, "left over from a lab that is not running (sudo pgplay lab down removes them):")
		for _, x := range s.Leftovers {
			fmt.Fprintln(w, "  "+x)
		}
	}
}

// RelPath shortens a path below the working directory to a relative one.
func RelPath(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
