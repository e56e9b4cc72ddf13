package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupMounts are the cgroup hierarchies of this machine.
type cgroupMounts struct {
	// Unified is the cgroup2 mount ("" when there is none).
	Unified string
	// Systemd is the v1 name=systemd hierarchy ("" on a pure v2 machine).
	Systemd string
	// All are every cgroup and cgroup2 mount point (for leftover search).
	All []string
}

// findCgroupMounts reads the cgroup hierarchies from the mount table.
func findCgroupMounts(mounts []mountEntry) cgroupMounts {
	var c cgroupMounts
	for _, m := range mounts {
		switch m.FSType {
		case "cgroup2":
			if c.Unified == "" {
				c.Unified = m.Point
			}
		case "cgroup":
			if c.Systemd == "" && contains(strings.Split(m.Opts, ","), "name=systemd") {
				c.Systemd = m.Point
			}
		default:
			continue
		}
		if !contains(c.All, m.Point) {
			c.All = append(c.All, m.Point)
		}
	}
	return c
}

// hostCgroups are the cgroups a host's nspawn runs in: its own parent
// cgroup in the unified and the v1 systemd hierarchies (LAB.md step 4).
func (c cgroupMounts) hostCgroups(h string) []string {
	var out []string
	for _, root := range []string{c.Unified, c.Systemd} {
		if root != "" {
			out = append(out, filepath.Join(root, Prefix+h))
		}
	}
	return out
}

// labCgroups lists the lab's cgroups (top-level directories named with the
// prefix) in every hierarchy.
func (c cgroupMounts) labCgroups() []string {
	var out []string
	for _, root := range c.All {
		for _, name := range prefixed(root) {
			out = append(out, filepath.Join(root, name))
		}
	}
	return out
}

// cgroupPIDs lists the processes in a cgroup and its descendants.
func cgroupPIDs(dir string) []int {
	var pids []int
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// killCgroup kills every process in a cgroup: cgroup.kill where the kernel
// has it (cgroup2), else SIGKILL to each member.
func killCgroup(dir string) {
	if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0o644); err == nil {
		return
	}
	for _, pid := range cgroupPIDs(dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// waitCgroupsEmpty waits until no process is left in dirs.
func waitCgroupsEmpty(dirs []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		for _, d := range dirs {
			if pids := cgroupPIDs(d); len(pids) > 0 {
				left = append(left, fmt.Sprintf("%s %v", d, pids))
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes survived SIGKILL in %s", strings.Join(left, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// removeCgroup removes a cgroup and its descendants, deepest first.
func removeCgroup(dir string) error {
	var dirs []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	sort.SliceStable(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	var errs []error
	for _, d := range dirs {
		var err error
		for i := 0; i < 20; i++ {
			// A cgroup whose last process just died can be busy a moment.
			if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) || !errors.Is(err, syscall.EBUSY) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}
