package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotRoot is returned when the lab is driven without root.
var ErrNotRoot = errors.New("the lab needs root (network namespaces, mounts, cgroups): run it with sudo, e.g. `sudo pgplay lab up`")

// preflight checks what `up` needs from the machine, with what to do when
// something is missing.
func preflight(ctx context.Context) (cgroupMounts, error) {
	if os.Geteuid() != 0 {
		return cgroupMounts{}, ErrNotRoot
	}
	for _, t := range []struct{ bin, pkg string }{
		{"systemd-nspawn", "systemd-container"},
		{"ip", "iproute2"},
		{"chroot", "coreutils"},
	} {
		if _, err := exec.LookPath(t.bin); err != nil {
			return cgroupMounts{}, fmt.Errorf("%s is not installed; the lab needs it: apt-get install %s", t.bin, t.pkg)
		}
	}
	if !hasOverlayFS() {
		_, _ = run(ctx, "modprobe", "overlay")
		if !hasOverlayFS() {
			return cgroupMounts{}, errors.New("the kernel has no overlayfs (not in /proc/filesystems, modprobe overlay failed); " +
				"the lab's hosts share one read-only rootfs through it: use a kernel with CONFIG_OVERLAY_FS")
		}
	}
	mounts, err := readMounts()
	if err != nil {
		return cgroupMounts{}, err
	}
	cg := findCgroupMounts(mounts)
	if cg.Unified == "" && cg.Systemd == "" {
		return cgroupMounts{}, errors.New("no cgroup hierarchy is mounted (neither cgroup2 nor name=systemd under /sys/fs/cgroup); " +
			"systemd-nspawn needs one: mount -t cgroup2 none /sys/fs/cgroup")
	}
	return cg, nil
}

func hasOverlayFS() bool {
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == "overlay" {
			return true
		}
	}
	return false
}

// normalize fills defaults and makes the state directory absolute.
func normalize(opts Options) (Options, error) {
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	abs, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return opts, fmt.Errorf("--state-dir %s: %w", opts.StateDir, err)
	}
	opts.StateDir = abs
	if opts.BootTimeout <= 0 {
		opts.BootTimeout = 120 * time.Second
	}
	return opts, nil
}

// Up brings the lab up, or leaves a running healthy lab of the same shape as
// it is. What a crashed earlier lab left behind is removed first. On failure
// everything Up created is removed again.
func (l *Lab) Up(ctx context.Context, opts Options) (*Status, error) {
	start := time.Now()
	opts, err := normalize(opts)
	if err != nil {
		return nil, err
	}
	plan, err := NewPlan(opts)
	if err != nil {
		return nil, err
	}
	cgm, err := preflight(ctx)
	if err != nil {
		return nil, err
	}
	unlock, err := l.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec, err := l.loadRecord()
	if err != nil {
		return nil, err
	}
	if rec != nil {
		running := false
		for _, h := range rec.Hosts {
			running = running || h.nspawnAlive()
		}
		sf := stateFiles(rec.StateDir)
		switch {
		case !opts.RebuildRootfs && rec.matches(opts, plan) && l.statusOf(ctx, rec).Up && writtenByLab(sf) && sshAnswers(ctx, rec, sf):
			l.say("lab: already up and healthy; nothing to do (`pgplay lab down` removes it)")
			return l.statusOf(ctx, rec), nil
		case running && !rec.matches(opts, plan):
			return nil, fmt.Errorf("another lab is running (state dir %s, image %s, %d nodes, barman %v, %d spares, subnet %s); "+
				"bring it down first with: sudo pgplay lab down", rec.StateDir, rec.image(), rec.Nodes, rec.Barman, rec.Spares, rec.Subnet)
		}
	}
	found, err := l.discover(rec, opts.StateDir)
	if err != nil {
		return nil, err
	}
	if !found.empty() {
		l.say("lab: removing what an earlier lab left behind: %s", found.Summary())
		if err := l.teardown(ctx, found); err != nil {
			return nil, fmt.Errorf("cleaning up an earlier lab: %w; try `sudo pgplay lab down`", err)
		}
	}
	if err := checkSubnetFree(ctx, plan); err != nil {
		return nil, err
	}
	img, _ := imageNamed(opts.Image)
	if err := l.ensureImage(ctx, img, opts.RebuildRootfs); err != nil {
		return nil, err
	}
	if w := bridgeNetfilterWarning(); w != "" {
		l.say("lab: %s", w)
	}
	rec, err = l.create(ctx, opts, img, plan, cgm)
	if err != nil {
		l.say("lab: up failed; removing what it created")
		if found, derr := l.discover(rec, opts.StateDir); derr == nil {
			if terr := l.teardown(context.WithoutCancel(ctx), found); terr != nil {
				err = fmt.Errorf("%w\n(cleaning up also failed: %v; run `sudo pgplay lab down`)", err, terr)
			}
		}
		return nil, err
	}
	st := l.statusOf(ctx, rec)
	l.say("lab: up in %.1fs", time.Since(start).Seconds())
	return st, nil
}

// create builds the lab of plan and returns its record.
func (l *Lab) create(ctx context.Context, opts Options, img image, plan Plan, cgm cgroupMounts) (*record, error) {
	sf := stateFiles(opts.StateDir)
	rec := &record{
		StateDir: opts.StateDir, Created: time.Now().UTC(), Nodes: opts.Nodes, Barman: opts.Barman, Spares: opts.Spares,
		Subnet: plan.Subnet, VIP: plan.VIP, Bridge: plan.Bridge, Rootfs: l.Paths.rootfsOf(img),
		Image: img.name, User: img.user,
	}
	for _, h := range plan.Hosts {
		dir := l.Paths.hostDir(h.Name)
		rec.Hosts = append(rec.Hosts, hostRecord{
			Name: h.Name, Addr: h.Addr, Role: h.Role, Netns: h.Netns(),
			Dir: dir, Root: filepath.Join(dir, "root"), Cgroups: cgm.hostCgroups(h.Name),
			Repo: l.Paths.repoOf(img),
		})
	}
	// The record comes first, so a crash from here on leaves a trail.
	if err := l.saveRecord(rec); err != nil {
		return rec, err
	}

	// Keys: the controller's client key, one host key per host.
	client, err := newKeyPair("pgplay-lab")
	if err != nil {
		return rec, err
	}
	hostKeys := map[string]keyPair{}
	hostPubs := map[string]string{}
	for _, h := range plan.Hosts {
		kp, err := newKeyPair("root@" + h.Name)
		if err != nil {
			return rec, err
		}
		hostKeys[h.Name], hostPubs[h.Name] = kp, kp.Public
	}

	l.say("net: bridge %s %s/%d, hosts %s", plan.Bridge, plan.BridgeAddr, plan.Subnet.Bits(), hostList(plan))
	if err := setupBridge(ctx, plan); err != nil {
		return rec, err
	}
	for _, h := range plan.Hosts {
		if err := setupHostNet(ctx, plan, h); err != nil {
			return rec, err
		}
	}
	for i := range rec.Hosts {
		h := &rec.Hosts[i]
		if err := os.MkdirAll(h.Dir, 0o700); err != nil {
			return rec, fmt.Errorf("host directory of %s: %w", h.Name, err)
		}
		if err := mountOverlay(rec.Rootfs, h); err != nil {
			return rec, err
		}
		if lk, err := nspawnLockFor(h.Root); err == nil {
			h.Locks = []string{lk}
		}
		if err := populate(plan, h, hostFiles{HostKey: hostKeys[h.Name], Authorized: client.Public, User: img.user}); err != nil {
			return rec, err
		}
	}
	if err := l.saveRecord(rec); err != nil {
		return rec, err
	}

	// State files the controller needs to reach the hosts.
	if err := writeStateFiles(sf, []stateFile{
		{sf.Key, client.Private, 0o600},
		{sf.PubKey, client.Public, 0o644},
		{sf.KnownHosts, renderKnownHosts(plan, hostPubs), 0o644},
		{sf.SSHConfig, renderSSHConfig(plan, sf, img.user), 0o644},
	}); err != nil {
		return rec, err
	}
	rec.Files = []string{sf.Key, sf.PubKey, sf.KnownHosts, sf.SSHConfig}
	if err := l.saveRecord(rec); err != nil {
		return rec, err
	}

	// Boot.
	for i := range rec.Hosts {
		err := startNspawn(ctx, &rec.Hosts[i])
		if serr := l.saveRecord(rec); err == nil {
			err = serr
		}
		if err != nil {
			return rec, err
		}
	}
	if err := l.waitHosts(ctx, rec, sf, opts.BootTimeout); err != nil {
		return rec, err
	}

	secrets, err := newSecrets()
	if err != nil {
		return rec, err
	}
	inv, err := renderInventory(plan, sf, img.user, secrets)
	if err != nil {
		return rec, err
	}
	if err := writeStateFiles(sf, []stateFile{{sf.Inventory, inv, 0o600}}); err != nil {
		return rec, err
	}
	rec.Files = append(rec.Files, sf.Inventory)
	return rec, l.saveRecord(rec)
}

func hostList(p Plan) string {
	var b []string
	for _, h := range p.Hosts {
		b = append(b, fmt.Sprintf("%s=%s", h.Name, h.Addr))
	}
	return strings.Join(b, " ")
}

type stateFile struct {
	path    string
	content string
	mode    os.FileMode
}

// writeStateFiles writes files into the state directory, owned by the user
// who ran sudo (so `pgplay run` and `ssh -F` work without root). A new
// state directory is 0700: it holds the lab's private key and an
// inventory with every password.
func writeStateFiles(sf StateFiles, files []stateFile) error {
	uid, gid := sudoUser()
	if _, err := os.Stat(sf.Dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(sf.Dir, 0o700); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
		if uid >= 0 {
			_ = os.Chown(sf.Dir, uid, gid)
		}
	}
	for _, f := range files {
		if err := writeFile(f.path, f.content, f.mode); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
		if uid >= 0 {
			if err := os.Chown(f.path, uid, gid); err != nil {
				return fmt.Errorf("state directory: %w", err)
			}
		}
	}
	return nil
}

// sudoUser returns the invoking user's ids under sudo, or -1, -1.
func sudoUser() (int, int) {
	uid, err1 := strconv.Atoi(os.Getenv("SUDO_UID"))
	gid, err2 := strconv.Atoi(os.Getenv("SUDO_GID"))
	if err1 != nil || err2 != nil || uid == 0 {
		return -1, -1
	}
	return uid, gid
}

// Down removes the lab: the recorded one and anything found by the name
// prefix. stateDir (optional) is a state directory to clean as well when
// no record names it. It reports what it removed and fails if anything is
// left.
func (l *Lab) Down(ctx context.Context, stateDir string) error {
	start := time.Now()
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	if stateDir != "" {
		abs, err := filepath.Abs(stateDir)
		if err != nil {
			return fmt.Errorf("--state-dir %s: %w", stateDir, err)
		}
		stateDir = abs
	}
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := l.loadRecord()
	if err != nil {
		return err
	}
	found, err := l.discover(rec, stateDir)
	if err != nil {
		return err
	}
	if found.empty() {
		l.say("lab: nothing to remove (no lab on this machine)")
		return nil
	}
	what := found.Summary()
	terr := l.teardown(ctx, found)
	again, err := l.discover(nil, stateDir)
	if err != nil {
		return err
	}
	if !again.empty() {
		return fmt.Errorf("lab down left behind:\n  %s%s", strings.Join(again.Describe(), "\n  "), errSuffix(terr))
	}
	if terr != nil {
		return fmt.Errorf("lab down: %w", terr)
	}
	l.say("lab: down in %.1fs (removed %s)", time.Since(start).Seconds(), what)
	return nil
}

// lock serialises `up` and `down` on this machine (one lab at a time). The
// lock file lives in the rootfs cache, which outlives labs.
func (l *Lab) lock() (unlock func(), err error) {
	if err := os.MkdirAll(l.Paths.Cache, 0o755); err != nil {
		return nil, fmt.Errorf("lab lock: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(l.Paths.Cache, "lab.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lab lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		l.say("lab: another `pgplay lab up/down` is running; waiting for it")
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lab lock: %w", err)
		}
	}
	return func() { f.Close() }, nil
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return "\nerrors:\n  " + strings.ReplaceAll(err.Error(), "\n", "\n  ")
}
