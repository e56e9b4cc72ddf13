package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// leftovers is everything of a lab found on this machine: from the runtime
// record and by the name prefix.
type leftovers struct {
	Record   *record
	Procs    []labProc
	Nspawns  map[int]uint64 // recorded nspawn PIDs still running
	Cgroups  []string
	Mounts   []string // deepest first
	Links    []string
	Netns    []string
	HostDirs []string
	Runtime  []string // systemd-nspawn runtime files and lock files
	Files    []string // state files
}

// empty reports whether nothing of a lab is left.
func (f *leftovers) empty() bool {
	return f.Record == nil && len(f.Procs) == 0 && len(f.Nspawns) == 0 && len(f.Cgroups) == 0 &&
		len(f.Mounts) == 0 && len(f.Links) == 0 && len(f.Netns) == 0 && len(f.HostDirs) == 0 &&
		len(f.Runtime) == 0 && len(f.Files) == 0
}

// Describe lists what was found, one item per line, for messages and tests.
func (f *leftovers) Describe() []string {
	var out []string
	if f.Record != nil {
		out = append(out, "runtime record (state dir "+f.Record.StateDir+")")
	}
	perHost := map[string][]string{}
	var hosts []string
	for _, p := range f.Procs {
		if perHost[p.Host] == nil {
			hosts = append(hosts, p.Host)
		}
		perHost[p.Host] = append(perHost[p.Host], fmt.Sprintf("%d %s", p.PID, p.Comm))
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		ps := perHost[h]
		more := ""
		if len(ps) > 4 {
			ps, more = ps[:4], fmt.Sprintf(", ... (%d in all)", len(perHost[h]))
		}
		out = append(out, fmt.Sprintf("processes of %s: %s%s", h, strings.Join(ps, ", "), more))
	}
	for pid := range f.Nspawns {
		out = append(out, fmt.Sprintf("process %d (systemd-nspawn)", pid))
	}
	add := func(kind string, items []string) {
		for _, i := range items {
			out = append(out, kind+" "+i)
		}
	}
	add("cgroup", f.Cgroups)
	add("mount", f.Mounts)
	add("link", f.Links)
	add("netns", f.Netns)
	add("directory", f.HostDirs)
	add("nspawn runtime", f.Runtime)
	add("state file", f.Files)
	return out
}

// Summary counts what was found, in one line.
func (f *leftovers) Summary() string {
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(len(f.Procs)+len(f.Nspawns), "processes")
	add(len(f.Cgroups), "cgroups")
	add(len(f.Mounts), "mounts")
	add(len(f.Links), "links")
	add(len(f.Netns), "network namespaces")
	add(len(f.HostDirs), "host directories")
	add(len(f.Runtime), "nspawn runtime files")
	add(len(f.Files), "state files")
	if f.Record != nil {
		parts = append(parts, "the runtime record")
	}
	return strings.Join(parts, ", ")
}

// discover finds what a lab left on this machine. stateDir, when not empty,
// is a state directory to clean besides the recorded one; its files are
// only taken when its inventory was written by the lab.
func (l *Lab) discover(rec *record, stateDir string) (*leftovers, error) {
	f := &leftovers{Record: rec, Nspawns: map[int]uint64{}}
	mounts, err := readMounts()
	if err != nil {
		return nil, err
	}
	cgm := findCgroupMounts(mounts)

	f.Procs = labProcs()
	inProcs := map[int]bool{}
	for _, p := range f.Procs {
		inProcs[p.PID] = true
	}
	cgroups := map[string]bool{}
	for _, c := range cgm.labCgroups() {
		cgroups[c] = true
	}
	hostDirs := map[string]bool{}
	for _, d := range prefixed(l.Paths.Hosts) {
		hostDirs[filepath.Join(l.Paths.Hosts, d)] = true
	}
	runtime := map[string]bool{}
	files := map[string]bool{}
	if rec != nil {
		for _, h := range rec.Hosts {
			if !inProcs[h.NspawnPID] && h.nspawnAlive() {
				f.Nspawns[h.NspawnPID] = h.NspawnStart
			}
			for _, c := range h.Cgroups {
				if exists(c) {
					cgroups[c] = true
				}
			}
			if exists(h.Dir) {
				hostDirs[h.Dir] = true
			}
			for _, lk := range h.Locks {
				if exists(lk) {
					runtime[lk] = true
				}
			}
		}
		for _, s := range rec.Files {
			if exists(s) {
				files[s] = true
			}
		}
	}
	// Mounts: overlays below the hosts directory, and what a crashed rootfs
	// build left mounted in rootfs.new.
	for _, dir := range append([]string{l.Paths.Hosts}, l.Paths.buildDirs()...) {
		f.Mounts = append(f.Mounts, mountsUnder(mounts, dir)...)
	}
	sort.SliceStable(f.Mounts, func(i, j int) bool { return len(f.Mounts[i]) > len(f.Mounts[j]) })
	for _, m := range f.Mounts {
		if filepath.Base(m) == "root" && isUnder(m, l.Paths.Hosts) {
			if lk, err := nspawnLockFor(m); err == nil && exists(lk) {
				runtime[lk] = true
			}
		}
	}
	for _, sub := range []string{"propagate", "unix-export"} {
		dir := filepath.Join(nspawnRunDir, sub)
		for _, name := range prefixed(dir) {
			runtime[filepath.Join(dir, name)] = true
		}
	}
	if stateDir != "" && (rec == nil || rec.StateDir != stateDir) && writtenByLab(stateFiles(stateDir)) {
		for _, s := range stateFiles(stateDir).All() {
			if exists(s) {
				files[s] = true
			}
		}
	}
	f.Links = labLinks()
	f.Netns = labNetns()
	f.Cgroups = sortedKeys(cgroups)
	f.HostDirs = sortedKeys(hostDirs)
	f.Runtime = sortedKeys(runtime)
	f.Files = sortedKeys(files)
	return f, nil
}

// writtenByLab reports whether a state directory's inventory was written by
// `pgplay lab up`.
func writtenByLab(sf StateFiles) bool {
	data, err := os.ReadFile(sf.Inventory)
	return err == nil && strings.HasPrefix(string(data), inventoryHeader)
}

// teardown removes everything in f (LAB.md step 5): SIGKILL of each
// container's PID-namespace init, cgroup.kill as a safety net, wait for
// nspawn to exit, then unmount, remove cgroups, links, namespaces,
// directories, runtime files, state files and the record.
func (l *Lab) teardown(ctx context.Context, f *leftovers) error {
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	// 1. Processes. nspawn processes (and any process) are identified by
	// PID and start time, so a reused PID is never signalled.
	nspawns := map[int]uint64{}
	for pid, start := range f.Nspawns {
		nspawns[pid] = start
	}
	for _, p := range f.Procs {
		if p.Comm == "systemd-nspawn" {
			nspawns[p.PID] = p.Start
		}
	}
	for _, p := range f.Procs {
		if p.Init && alive(p.PID, p.Start) {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
	if !waitGone(nspawns, 5*time.Second) {
		// nspawn did not notice its container died: stop it too.
		for pid, start := range nspawns {
			if alive(pid, start) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	for _, cg := range f.Cgroups {
		killCgroup(cg)
	}
	note(waitCgroupsEmpty(f.Cgroups, 10*time.Second))
	if !waitGone(nspawns, 5*time.Second) {
		note(errors.New("a systemd-nspawn process survived SIGKILL"))
	}

	// 2. Mounts, deepest first.
	for _, m := range f.Mounts {
		note(unmount(m))
	}

	// 3. Cgroups, deepest first within each.
	for _, cg := range f.Cgroups {
		note(removeCgroup(cg))
	}

	// 4. Network: veths, then the bridge, then the namespaces (their eth0
	// ends go with them).
	links := append([]string(nil), f.Links...)
	sort.SliceStable(links, func(i, j int) bool { return links[j] == BridgeName && links[i] != BridgeName })
	for _, link := range links {
		if _, err := os.Stat(filepath.Join("/sys/class/net", link)); err != nil {
			continue // went with its peer
		}
		_, err := run(ctx, "ip", "link", "del", link)
		note(err)
	}
	for _, ns := range f.Netns {
		_, err := run(ctx, "ip", "netns", "del", ns)
		note(err)
	}
	note(releaseNetnsDir())

	// 5. Directories and files.
	for _, d := range f.HostDirs {
		note(removeTree(d))
	}
	removeIfEmpty(l.Paths.Hosts)
	for _, dir := range l.Paths.buildDirs() {
		for _, m := range f.Mounts {
			if isUnder(m, dir) {
				// A crashed rootfs build: its half-built tree goes too.
				note(removeTree(dir))
				break
			}
		}
	}
	for _, r := range f.Runtime {
		note(os.RemoveAll(r))
	}
	// nspawn's runtime directories, when nothing else uses them.
	for _, sub := range []string{"locks", "propagate", "unix-export", ""} {
		removeIfEmpty(filepath.Join(nspawnRunDir, sub))
	}
	dirs := map[string]bool{}
	for _, s := range f.Files {
		if err := os.Remove(s); err != nil && !errors.Is(err, os.ErrNotExist) {
			note(err)
		}
		dirs[filepath.Dir(s)] = true
	}
	for d := range dirs {
		removeIfEmpty(d)
	}
	if err := os.Remove(l.Paths.recordFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		note(err)
	}
	removeIfEmpty(l.Paths.Run)
	return errors.Join(errs...)
}

// releaseNetnsDir unmounts /run/netns when no namespace is left in it.
func releaseNetnsDir() error {
	ents, err := os.ReadDir(netnsDir)
	if err != nil || len(ents) > 0 {
		return nil
	}
	mounts, err := readMounts()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if m.Point == netnsDir {
			if err := unix.Unmount(netnsDir, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("umount %s: %w", netnsDir, err)
			}
		}
	}
	removeIfEmpty(netnsDir)
	return nil
}

// removeIfEmpty removes a directory that has nothing in it.
func removeIfEmpty(dir string) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) == 0 {
		_ = os.Remove(dir)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
