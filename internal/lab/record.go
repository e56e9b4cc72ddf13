package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// record is the runtime record of a lab, kept in Paths.Run so `down` and
// `status` know what `up` created even when the state directory is gone.
type record struct {
	StateDir string       `json:"state_dir"`
	Created  time.Time    `json:"created"`
	Nodes    int          `json:"nodes"`
	Barman   bool         `json:"barman"`
	Spares   int          `json:"spares,omitempty"`
	Subnet   netip.Prefix `json:"subnet"`
	VIP      netip.Addr   `json:"vip"`
	Bridge   string       `json:"bridge"`
	Rootfs   string       `json:"rootfs"`
	// Image is the hosts' image (ImageDefault or ImageStock; "" in
	// records of older labs means the default).
	Image string `json:"image,omitempty"`
	// User is the login user of the hosts ("" means root).
	User string `json:"user,omitempty"`
	// Files are the state files `up` wrote.
	Files []string     `json:"files"`
	Hosts []hostRecord `json:"hosts"`
}

// hostRecord is what was created for one host.
type hostRecord struct {
	Name  string     `json:"name"`
	Addr  netip.Addr `json:"addr"`
	Role  string     `json:"role"`
	Netns string     `json:"netns"`
	// Dir holds the overlay (upper, work, root) and the nspawn log.
	Dir string `json:"dir"`
	// Root is the overlay mount point, the container's /.
	Root    string   `json:"root"`
	Cgroups []string `json:"cgroups"`
	// NspawnPID and NspawnStart identify the systemd-nspawn process
	// started for the host (start time guards against PID reuse).
	NspawnPID   int    `json:"nspawn_pid"`
	NspawnStart uint64 `json:"nspawn_start"`
	// Repo is the local apt repository bound read-only into the host at
	// StockRepoMount ("" when none).
	Repo string `json:"apt_repo,omitempty"`
	// Locks are nspawn's lock files for the root directory.
	Locks []string `json:"locks,omitempty"`
}

func (p Paths) recordFile() string { return filepath.Join(p.Run, "lab.json") }

// loadRecord reads the runtime record; nil when there is none.
func (l *Lab) loadRecord() (*record, error) {
	data, err := os.ReadFile(l.Paths.recordFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the lab record: %w", err)
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("reading the lab record %s: %w (remove it and run `pgplay lab down`)", l.Paths.recordFile(), err)
	}
	return &r, nil
}

// saveRecord writes the runtime record atomically.
func (l *Lab) saveRecord(r *record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("writing the lab record: %w", err)
	}
	if err := os.MkdirAll(l.Paths.Run, 0o755); err != nil {
		return fmt.Errorf("writing the lab record: %w", err)
	}
	return writeFile(l.Paths.recordFile(), string(data)+"\n", 0o644)
}

// matches reports whether the record describes the lab opts and plan ask for.
func (r *record) matches(opts Options, p Plan) bool {
	return r.StateDir == opts.StateDir && r.Nodes == opts.Nodes && r.Barman == opts.Barman && r.Spares == opts.Spares && r.image() == imageName(opts.Image) &&
		r.Subnet == p.Subnet && r.VIP == p.VIP && len(r.Hosts) == len(p.Hosts)
}

// image is the record's image name.
func (r *record) image() string { return imageName(r.Image) }

// user is the hosts' login user.
func (r *record) user() string {
	if r.User == "" {
		return "root"
	}
	return r.User
}

// imageName is the canonical name of an Options.Image value.
func imageName(s string) string {
	if s == "" {
		return ImageDefault
	}
	return s
}
