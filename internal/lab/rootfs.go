package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// rootfsPackages are installed in the shared rootfs (LAB.md step 1).
var rootfsPackages = []string{
	"systemd", "systemd-sysv", "dbus", "openssh-server", "openssh-client",
	"openssh-sftp-server", "sudo", "iproute2", "iputils-ping", "procps",
	"psmisc", "rsync", "less", "netcat-openbsd", "postgresql-15",
	"postgresql-client-15", "postgresql-15-repmgr", "keepalived", "barman",
	"barman-cli", "python3", "ca-certificates", "cron",
}

// rootfsRecipe changes whenever the way the rootfs is built changes, so a
// cached rootfs of an older recipe is rebuilt.
const rootfsRecipe = "pgplay-lab rootfs 1"

// stampFile, inside the rootfs, says which recipe built it.
const stampFile = ".pgplay-lab-rootfs"

func (p Paths) rootfs() string    { return filepath.Join(p.Cache, "rootfs") }
func (p Paths) rootfsNew() string { return filepath.Join(p.Cache, "rootfs.new") }
func (p Paths) rootfsOld() string { return filepath.Join(p.Cache, "rootfs.old") }
func (p Paths) buildLog() string  { return filepath.Join(p.Cache, "build.log") }

func stampText() string {
	return rootfsRecipe + "\npackages: " + strings.Join(rootfsPackages, " ") + "\n"
}

// rootfsReady reports whether the cached rootfs exists and was built by the
// current recipe.
func (p Paths) rootfsReady() bool {
	data, err := os.ReadFile(filepath.Join(p.rootfs(), stampFile))
	return err == nil && string(data) == stampText()
}

// ensureRootfs builds the shared rootfs unless a current one is cached.
func (l *Lab) ensureRootfs(ctx context.Context, rebuild bool) error {
	if !rebuild && l.Paths.rootfsReady() {
		return nil
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return errors.New("debootstrap is not installed; it builds the lab's Debian 12 image once. " +
			"Install it: apt-get install debootstrap")
	}
	if err := os.MkdirAll(l.Paths.Cache, 0o755); err != nil {
		return fmt.Errorf("rootfs cache: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(l.Paths.Cache, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("rootfs cache lock: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		l.say("rootfs: another pgplay is building the rootfs; waiting for it")
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
			return fmt.Errorf("rootfs cache lock: %w", err)
		}
		if !rebuild && l.Paths.rootfsReady() {
			return nil
		}
	}
	return l.buildRootfs(ctx)
}

// buildRootfs runs debootstrap into rootfs.new, updates and configures it,
// then moves it into place.
func (l *Lab) buildRootfs(ctx context.Context) error {
	mirrors, err := readMirrors()
	if err != nil {
		return err
	}
	dir := l.Paths.rootfsNew()
	if err := removeTree(dir); err != nil {
		return err
	}
	logf, err := os.Create(l.Paths.buildLog())
	if err != nil {
		return fmt.Errorf("rootfs build log: %w", err)
	}
	defer logf.Close()
	start := time.Now()
	l.say("rootfs: building Debian 12 in %s from %s (once; about 2 minutes; log %s)",
		l.Paths.rootfs(), mirrors.Main, l.Paths.buildLog())
	fail := func(step string, err error) error {
		_ = logf.Sync()
		return fmt.Errorf("building the lab rootfs: %s: %w%s\n  full log: %s", step, err, tail(readTail(l.Paths.buildLog()), 12), l.Paths.buildLog())
	}

	// 1. debootstrap, with a progress line per phase.
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--components=main",
		"--include="+strings.Join(rootfsPackages, ","), labSuite, dir, mirrors.Main)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	if err := l.runPhased(cmd, logf, start); err != nil {
		return fail("debootstrap", err)
	}

	// 2. Security updates, so PostgreSQL's minor version is the current one.
	l.say("rootfs: %3ds installing updates from %s-security", secs(start), labSuite)
	if err := writeFile(filepath.Join(dir, "etc/apt/sources.list.d/debian.sources"), rootfsSources(mirrors), 0o644); err != nil {
		return fail("apt sources", err)
	}
	_ = os.Remove(filepath.Join(dir, "etc/apt/sources.list"))
	aptOpts := parseAptConfigDump(readCmd(ctx, "apt-config", "dump"))
	err = l.inChroot(ctx, dir, logf, func(run func(argv ...string) error) error {
		if err := run(append(append([]string{"apt-get"}, aptOpts...), "update")...); err != nil {
			return err
		}
		up := append([]string{"apt-get", "-y", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"}, aptOpts...)
		if err := run(append(up, "dist-upgrade")...); err != nil {
			return err
		}
		l.say("rootfs: %3ds configuring the image", secs(start))
		return run("/bin/sh", "-c", configureScript)
	})
	if err != nil {
		return fail("updating and configuring", err)
	}
	for name, content := range rootfsFiles {
		if err := writeFile(filepath.Join(dir, name), content, 0o644); err != nil {
			return fail("configuring", err)
		}
	}
	if err := writeFile(filepath.Join(dir, stampFile), stampText(), 0o644); err != nil {
		return fail("stamp", err)
	}

	// 3. Swap it in.
	old := l.Paths.rootfsOld()
	if err := removeTree(old); err != nil {
		return err
	}
	if _, err := os.Stat(l.Paths.rootfs()); err == nil {
		if err := os.Rename(l.Paths.rootfs(), old); err != nil {
			return fmt.Errorf("replacing the old rootfs: %w", err)
		}
	}
	if err := os.Rename(dir, l.Paths.rootfs()); err != nil {
		return fmt.Errorf("installing the new rootfs: %w", err)
	}
	if err := removeTree(old); err != nil {
		return err
	}
	l.say("rootfs: ready in %ds (%d MB)", secs(start), treeSize(l.Paths.rootfs())>>20)
	return nil
}

// configureScript runs inside the new rootfs (chroot) after the upgrade.
const configureScript = `set -e
if [ -d /etc/postgresql/15/main ]; then pg_dropcluster --stop 15 main; fi
sed -i 's/^#\?\s*create_main_cluster.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf
rm -f /etc/ssh/ssh_host_*
systemctl disable postgresql.service keepalived.service cron.service
for t in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
  systemctl mask "$t" >/dev/null 2>&1 || true
done
sed -i '/^AcceptEnv/d' /etc/ssh/sshd_config
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
`

// rootfsFiles are written into the rootfs after configureScript.
var rootfsFiles = map[string]string{
	"etc/ssh/sshd_config.d/pgplay-lab.conf": `# Written by pgplay lab.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
`,
	"etc/locale.conf":    "LANG=C.UTF-8\n",
	"etc/default/locale": "LANG=C.UTF-8\n",
	"etc/resolv.conf":    "# The lab has no DNS; hosts are in /etc/hosts.\n",
}

// inChroot prepares dir for running package scripts (proc, dev, no service
// starts, resolv.conf), calls fn with a runner of commands chrooted into dir,
// and undoes the preparation.
func (l *Lab) inChroot(ctx context.Context, dir string, logf io.Writer, fn func(run func(argv ...string) error) error) (err error) {
	policy := filepath.Join(dir, "usr/sbin/policy-rc.d")
	if err := writeFile(policy, "#!/bin/sh\nexit 101\n", 0o755); err != nil {
		return err
	}
	defer os.Remove(policy)
	if data, rerr := os.ReadFile("/etc/resolv.conf"); rerr == nil {
		_ = writeFile(filepath.Join(dir, "etc/resolv.conf"), string(data), 0o644)
	}
	var mounted []string
	defer func() {
		for i := len(mounted) - 1; i >= 0; i-- {
			if uerr := unmount(mounted[i]); uerr != nil && err == nil {
				err = uerr
			}
		}
	}()
	for _, m := range []struct{ src, dst, fstype string }{
		{"proc", "proc", "proc"},
		{"/dev", "dev", ""},
	} {
		target := filepath.Join(dir, m.dst)
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		flags := uintptr(0)
		if m.fstype == "" {
			flags = unix.MS_BIND
		}
		if err := unix.Mount(m.src, target, m.fstype, flags, ""); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.src, target, err)
		}
		mounted = append(mounted, target)
	}
	return fn(func(argv ...string) error {
		cmd := exec.CommandContext(ctx, "chroot", append([]string{dir}, argv...)...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive", "HOME=/root"}
		for _, k := range []string{"http_proxy", "https_proxy", "no_proxy"} {
			if v, ok := os.LookupEnv(k); ok {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
		}
		fmt.Fprintf(logf, "+ %s\n", strings.Join(argv, " "))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("`%s`: %w", strings.Join(argv, " "), err)
		}
		return nil
	})
}

// runPhased runs debootstrap, logging everything and printing one line per
// phase with the elapsed seconds.
func (l *Lab) runPhased(cmd *exec.Cmd, logf io.Writer, start time.Time) error {
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		phase := phaseNone
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if next := debootstrapPhase(line, phase); next != phase {
				phase = next
				l.say("rootfs: %3ds %s", secs(start), phaseNames[phase])
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Wait()
	pw.Close()
	<-done
	return err
}

// Phases of a debootstrap run, in order.
const (
	phaseNone = iota
	phaseResolve
	phaseDownload
	phaseExtract
	phaseInstallCore
	phaseUnpackBase
	phaseConfigureBase
	phaseDone
)

var phaseNames = map[int]string{
	phaseResolve:       "fetching package lists, resolving dependencies",
	phaseDownload:      "downloading packages",
	phaseExtract:       "extracting packages",
	phaseInstallCore:   "installing the required packages",
	phaseUnpackBase:    "unpacking the other packages",
	phaseConfigureBase: "configuring the packages",
	phaseDone:          "debootstrap finished",
}

// debootstrapPhase maps one line of debootstrap output to the phase it
// announces; phases only move forward.
func debootstrapPhase(line string, cur int) int {
	msg, ok := strings.CutPrefix(line, "I: ")
	if !ok {
		return cur
	}
	next := cur
	switch {
	case strings.HasPrefix(msg, "Base system installed successfully"):
		next = phaseDone
	case strings.HasPrefix(msg, "Configuring the base system"):
		next = phaseConfigureBase
	case strings.HasPrefix(msg, "Unpacking the base system"):
		next = phaseUnpackBase
	case strings.HasPrefix(msg, "Installing core packages"):
		next = phaseInstallCore
	case strings.HasPrefix(msg, "Extracting "), strings.HasPrefix(msg, "Chosen extractor"):
		next = phaseExtract
	case strings.HasPrefix(msg, "Retrieving Release"), strings.HasPrefix(msg, "Retrieving InRelease"),
		strings.HasPrefix(msg, "Retrieving Packages"), strings.HasPrefix(msg, "Resolving dependencies"):
		next = phaseResolve
	case strings.HasPrefix(msg, "Retrieving "):
		next = phaseDownload
	}
	if next < cur {
		return cur
	}
	return next
}

func secs(start time.Time) int { return int(time.Since(start).Seconds()) }

// readCmd returns the output of a command, or "" when it fails.
func readCmd(ctx context.Context, argv ...string) string {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// readTail returns the end of a file (for error messages).
func readTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(data) > 8192 {
		data = data[len(data)-8192:]
	}
	return string(data)
}

// treeSize adds up the sizes of the regular files under dir.
func treeSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
