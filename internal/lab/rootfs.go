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

// rootfsPackages are installed in the default image's rootfs (LAB.md
// step 1): everything the roles use is preinstalled.
var rootfsPackages = []string{
	"systemd", "systemd-sysv", "dbus", "openssh-server", "openssh-client",
	"openssh-sftp-server", "sudo", "iproute2", "iputils-ping", "procps",
	"psmisc", "rsync", "less", "netcat-openbsd", "postgresql-15",
	"postgresql-client-15", "postgresql-15-repmgr", "keepalived", "barman",
	"barman-cli", "python3", "ca-certificates", "cron",
}

// rootfsRecipe changes whenever the way the default rootfs is built
// changes, so a cached rootfs of an older recipe is rebuilt.
const rootfsRecipe = "pgplay-lab rootfs 1"

// stampFile, inside a rootfs, says which recipe built it.
const stampFile = ".pgplay-lab-rootfs"

// Images the lab's hosts can run (Options.Image).
const (
	// ImageDefault is pgplay's own image: PostgreSQL, repmgr, keepalived
	// and barman preinstalled, no `main` cluster, root login.
	ImageDefault = "default"
	// ImageStock is a stock Debian 12 server: openssh, sudo, a login user
	// `admin` with passwordless sudo, no database packages; apt installs
	// them from a local repository the lab serves (the lab is offline).
	ImageStock = "stock"
)

// Images lists the valid values of Options.Image.
var Images = []string{ImageDefault, ImageStock}

// image is how one kind of rootfs is built and used.
type image struct {
	name     string
	dir      string // below Paths.Cache
	recipe   string
	packages []string
	// configure runs in the chroot after the upgrade.
	configure string
	// files are written into the rootfs after configure.
	files map[string]string
	// user is the login user the lab's inventory and ssh_config use.
	user string
	// repo, when set, is the local apt repository built with the rootfs
	// (directory below Paths.Cache) and the packages it serves with
	// their dependencies.
	repo         string
	repoPackages []string
}

var defaultImage = image{
	name: ImageDefault, dir: "rootfs", recipe: rootfsRecipe, packages: rootfsPackages,
	configure: configureScript, files: rootfsFiles, user: "root",
}

// stockPackages are what a stock Debian 12 server image has beyond
// debootstrap's minbase: systemd, sshd, sudo and the usual tools. No
// PostgreSQL, repmgr, keepalived, barman, python or cron.
var stockPackages = []string{
	"systemd", "systemd-sysv", "dbus", "openssh-server", "openssh-client",
	"openssh-sftp-server", "sudo", "iproute2", "procps", "less",
	"ca-certificates", "netbase", "apt-utils",
}

// stockRepoPackages are what the local apt repository of the stock image
// serves, with every dependency the stock image lacks: the packages the
// roles install (roles/packages).
var stockRepoPackages = []string{
	"postgresql-15", "postgresql-client-15", "postgresql-15-repmgr",
	"keepalived", "iputils-ping", "barman", "barman-cli", "procps", "cron",
}

// StockUser is the login user of the stock image (passwordless sudo, as
// Debian's cloud images have it).
const StockUser = "admin"

// StockRepoMount is where the stock image's hosts see the lab's apt
// repository (read-only).
const StockRepoMount = "/srv/pgplay-apt"

var stockImage = image{
	name: ImageStock, dir: "rootfs-stock", recipe: "pgplay-lab stock rootfs 1", packages: stockPackages,
	configure: stockConfigureScript, files: stockFiles, user: StockUser,
	repo: "apt-stock", repoPackages: stockRepoPackages,
}

// imageNamed returns the image of an Options.Image value ("" is the
// default).
func imageNamed(name string) (image, bool) {
	switch name {
	case "", ImageDefault:
		return defaultImage, true
	case ImageStock:
		return stockImage, true
	}
	return image{}, false
}

func (p Paths) rootfsOf(img image) string { return filepath.Join(p.Cache, img.dir) }
func (p Paths) rootfs() string            { return p.rootfsOf(defaultImage) }
func (p Paths) newDir(dir string) string  { return filepath.Join(p.Cache, dir+".new") }
func (p Paths) buildLogOf(img image) string {
	if img.name == ImageDefault {
		return filepath.Join(p.Cache, "build.log")
	}
	return filepath.Join(p.Cache, "build-"+img.name+".log")
}

// repoOf is the image's local apt repository ("" when it has none).
func (p Paths) repoOf(img image) string {
	if img.repo == "" {
		return ""
	}
	return filepath.Join(p.Cache, img.repo)
}

// buildDirs are the directories a build writes before moving them into
// place (a crashed build may leave mounts there).
func (p Paths) buildDirs() []string {
	return []string{p.newDir(defaultImage.dir), p.newDir(stockImage.dir)}
}

func stampText() string { return defaultImage.stampText() }

func (img image) stampText() string {
	return img.recipe + "\npackages: " + strings.Join(img.packages, " ") + "\n"
}

// repoStampFile, inside a local apt repository, says which recipe built it.
const repoStampFile = ".pgplay-lab-apt"

func (img image) repoStampText() string {
	return img.recipe + " apt repository\nserves: " + strings.Join(img.repoPackages, " ") + "\n"
}

// rootfsReady reports whether the cached default rootfs exists and was
// built by the current recipe.
func (p Paths) rootfsReady() bool { return p.imageReady(defaultImage) }

// imageReady reports whether the image's rootfs (and its apt repository,
// if it has one) exist and were built by the current recipe.
func (p Paths) imageReady(img image) bool {
	data, err := os.ReadFile(filepath.Join(p.rootfsOf(img), stampFile))
	if err != nil || string(data) != img.stampText() {
		return false
	}
	if img.repo == "" {
		return true
	}
	data, err = os.ReadFile(filepath.Join(p.repoOf(img), repoStampFile))
	return err == nil && string(data) == img.repoStampText()
}

// ensureRootfs builds the default rootfs unless a current one is cached.
func (l *Lab) ensureRootfs(ctx context.Context, rebuild bool) error {
	return l.ensureImage(ctx, defaultImage, rebuild)
}

// ensureImage builds the image's rootfs (and apt repository) unless a
// current one is cached.
func (l *Lab) ensureImage(ctx context.Context, img image, rebuild bool) error {
	if !rebuild && l.Paths.imageReady(img) {
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
		l.say("rootfs: another pgplay is building a rootfs; waiting for it")
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
			return fmt.Errorf("rootfs cache lock: %w", err)
		}
		if !rebuild && l.Paths.imageReady(img) {
			return nil
		}
	}
	return l.buildRootfs(ctx, img)
}

// buildRootfs runs debootstrap into the image's .new directory, updates
// and configures it (and fills its apt repository), then moves it into
// place.
func (l *Lab) buildRootfs(ctx context.Context, img image) error {
	mirrors, err := readMirrors()
	if err != nil {
		return err
	}
	dir := l.Paths.newDir(img.dir)
	if err := removeTree(dir); err != nil {
		return err
	}
	var repoNew string
	if img.repo != "" {
		repoNew = l.Paths.newDir(img.repo)
		if err := removeTree(repoNew); err != nil {
			return err
		}
	}
	logPath := l.Paths.buildLogOf(img)
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("rootfs build log: %w", err)
	}
	defer logf.Close()
	start := time.Now()
	l.say("rootfs: building the %s Debian 12 image in %s from %s (once; about 2 minutes; log %s)",
		img.name, l.Paths.rootfsOf(img), mirrors.Main, logPath)
	fail := func(step string, err error) error {
		_ = logf.Sync()
		return fmt.Errorf("building the lab rootfs (%s image): %s: %w%s\n  full log: %s", img.name, step, err, tail(readTail(logPath), 12), logPath)
	}

	// 1. debootstrap, with a progress line per phase.
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--components=main",
		"--include="+strings.Join(img.packages, ","), labSuite, dir, mirrors.Main)
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
		if img.repo != "" {
			// What apt would fetch to install the repository's packages
			// on this very image: exactly the debs the hosts lack.
			l.say("rootfs: %3ds downloading the packages of the local apt repository", secs(start))
			if err := run("apt-get", "clean"); err != nil {
				return err
			}
			dl := append(append([]string{"apt-get", "-y", "--download-only"}, aptOpts...), "install")
			if err := run(append(dl, img.repoPackages...)...); err != nil {
				return err
			}
			if err := fillRepo(ctx, filepath.Join(dir, "var/cache/apt/archives"), repoNew, img); err != nil {
				return err
			}
		}
		l.say("rootfs: %3ds configuring the image", secs(start))
		return run("/bin/sh", "-c", img.configure)
	})
	if err != nil {
		return fail("updating and configuring", err)
	}
	for name, content := range img.files {
		if err := writeFile(filepath.Join(dir, name), content, 0o644); err != nil {
			return fail("configuring", err)
		}
	}
	if img.name == ImageStock {
		// The lab is offline: the hosts' apt knows only the local
		// repository (pgplay-local.sources, written per host).
		if err := os.Remove(filepath.Join(dir, "etc/apt/sources.list.d/debian.sources")); err != nil {
			return fail("configuring", err)
		}
	}
	if err := writeFile(filepath.Join(dir, stampFile), img.stampText(), 0o644); err != nil {
		return fail("stamp", err)
	}

	// 3. Swap them in.
	if err := swapIn(dir, l.Paths.rootfsOf(img)); err != nil {
		return err
	}
	if repoNew != "" {
		if err := swapIn(repoNew, l.Paths.repoOf(img)); err != nil {
			return err
		}
		l.say("rootfs: %s image ready in %ds (%d MB; apt repository %s, %d MB)", img.name, secs(start),
			treeSize(l.Paths.rootfsOf(img))>>20, l.Paths.repoOf(img), treeSize(l.Paths.repoOf(img))>>20)
		return nil
	}
	l.say("rootfs: ready in %ds (%d MB)", secs(start), treeSize(l.Paths.rootfsOf(img))>>20)
	return nil
}

// swapIn replaces dst by the freshly built src.
func swapIn(src, dst string) error {
	old := dst + ".old"
	if err := removeTree(old); err != nil {
		return err
	}
	if _, err := os.Stat(dst); err == nil {
		if err := os.Rename(dst, old); err != nil {
			return fmt.Errorf("replacing the old %s: %w", dst, err)
		}
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("installing the new %s: %w", dst, err)
	}
	return removeTree(old)
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
var rootfsFiles = imageFiles("prohibit-password")

// imageFiles are the files written into an image after its configure
// script; permitRoot is sshd's PermitRootLogin.
func imageFiles(permitRoot string) map[string]string {
	return map[string]string{
		"etc/ssh/sshd_config.d/pgplay-lab.conf": "# Written by pgplay lab.\n" +
			"HostKey /etc/ssh/ssh_host_ed25519_key\n" +
			"PermitRootLogin " + permitRoot + "\n" +
			"PasswordAuthentication no\n" +
			"KbdInteractiveAuthentication no\n" +
			"UseDNS no\n",
		"etc/locale.conf":    "LANG=C.UTF-8\n",
		"etc/default/locale": "LANG=C.UTF-8\n",
		"etc/resolv.conf":    "# The lab has no DNS; hosts are in /etc/hosts.\n",
	}
}

// stockConfigureScript runs inside the stock rootfs (chroot): the login
// user as Debian's cloud images have it (admin, passwordless sudo, key
// login only), no host keys (the lab writes one per host), no timers.
const stockConfigureScript = `set -e
useradd --create-home --shell /bin/bash --uid ` + stockUID + ` --user-group --groups sudo ` + StockUser + `
install -d -m 0700 -o ` + StockUser + ` -g ` + StockUser + ` /home/` + StockUser + `/.ssh
printf '%s ALL=(ALL) NOPASSWD:ALL\n' ` + StockUser + ` > /etc/sudoers.d/90-cloud-users
chmod 0440 /etc/sudoers.d/90-cloud-users
rm -f /etc/ssh/ssh_host_*
for t in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
  systemctl mask "$t" >/dev/null 2>&1 || true
done
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
`

// stockUID is the uid (and gid) of the stock image's login user.
const stockUID = "1000"

// stockFiles are written into the stock rootfs after its configure script
// (no root login: the stock image logs in as StockUser).
var stockFiles = imageFiles("no")

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
