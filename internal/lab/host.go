package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func (p Paths) hostDir(name string) string { return filepath.Join(p.Hosts, Prefix+name) }

// nspawnLog is where a host's systemd-nspawn writes its own messages.
func (h *hostRecord) nspawnLog() string { return filepath.Join(h.Dir, "nspawn.log") }

// mountOverlay mounts the host's root: the shared rootfs read-only below,
// the host's private upper directory above.
func mountOverlay(rootfs string, h *hostRecord) error {
	upper, work := filepath.Join(h.Dir, "upper"), filepath.Join(h.Dir, "work")
	for _, d := range []string{upper, work, h.Root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("overlay of %s: %w", h.Name, err)
		}
	}
	opts := "lowerdir=" + rootfs + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", h.Root, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mounting the overlay of %s on %s: %w (is overlayfs available? modprobe overlay)", h.Name, h.Root, err)
	}
	return nil
}

// nspawnLockFor names the lock file systemd-nspawn takes for a directory
// image in /run/systemd/nspawn/locks (by device and inode).
func nspawnLockFor(root string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil {
		return "", fmt.Errorf("stat %s: %w", root, err)
	}
	return fmt.Sprintf("%s/locks/inode-%d:%d", nspawnRunDir, st.Dev, st.Ino), nil
}

// nspawnRunDir is systemd-nspawn's runtime directory.
const nspawnRunDir = "/run/systemd/nspawn"

// hostFiles are the per-host files written into the host's overlay.
type hostFiles struct {
	HostKey    keyPair
	Authorized string
	// User is the login user whose authorized_keys get Authorized.
	User string
}

// populate writes the host's identity into its root: hostname, hosts,
// machine-id, sshd host key, the login user's authorized_keys, and the apt
// source of the local repository when the host has one.
func populate(p Plan, h *hostRecord, f hostFiles) error {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return fmt.Errorf("machine-id for %s: %w", h.Name, err)
	}
	files := []struct {
		path    string
		content string
		mode    os.FileMode
	}{
		{"etc/hostname", h.Name + "\n", 0o644},
		{"etc/hosts", renderEtcHosts(p, h.Name), 0o644},
		{"etc/machine-id", hex.EncodeToString(id) + "\n", 0o444},
		{"etc/ssh/ssh_host_ed25519_key", f.HostKey.Private, 0o600},
		{"etc/ssh/ssh_host_ed25519_key.pub", f.HostKey.Public, 0o644},
	}
	if h.Repo != "" {
		files = append(files, struct {
			path    string
			content string
			mode    os.FileMode
		}{"etc/apt/sources.list.d/pgplay-local.sources", localSources(), 0o644})
	}
	for _, fl := range files {
		if err := writeFile(filepath.Join(h.Root, fl.path), fl.content, fl.mode); err != nil {
			return fmt.Errorf("files of %s: %w", h.Name, err)
		}
	}
	home, uid, gid, err := homeOf(h.Root, f.User)
	if err != nil {
		return fmt.Errorf("files of %s: %w", h.Name, err)
	}
	sshDir := filepath.Join(h.Root, home, ".ssh")
	keys := filepath.Join(sshDir, "authorized_keys")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		return fmt.Errorf("files of %s: %w", h.Name, err)
	}
	if err := writeFile(keys, f.Authorized, 0o600); err != nil {
		return fmt.Errorf("files of %s: %w", h.Name, err)
	}
	for _, p := range []string{sshDir, keys} {
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("files of %s: %w", h.Name, err)
		}
	}
	return nil
}

// homeOf reads user's home directory, uid and gid from the passwd file of
// the root directory root.
func homeOf(root, user string) (string, int, int, error) {
	if user == "" {
		user = "root"
	}
	data, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		return "", 0, 0, fmt.Errorf("the login user %s: %w", user, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 || f[0] != user {
			continue
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || !strings.HasPrefix(f[5], "/") {
			return "", 0, 0, fmt.Errorf("the login user %s: bad passwd line %q", user, line)
		}
		return f[5], uid, gid, nil
	}
	return "", 0, 0, fmt.Errorf("the login user %s is not in the image's /etc/passwd; rebuild it: pgplay lab up --rebuild-rootfs", user)
}

// nspawnArgs is the systemd-nspawn command line for a host (LAB.md step 4).
func nspawnArgs(h *hostRecord) []string {
	args := []string{
		"systemd-nspawn", "--quiet", "--boot",
		"--directory=" + h.Root,
		"--machine=" + Prefix + h.Name,
		"--hostname=" + h.Name,
		"--register=no", "--keep-unit",
		"--console=passive",
		"--link-journal=no",
		"--resolv-conf=off",
		"--network-namespace-path=" + filepath.Join(netnsDir, h.Netns),
		"--capability=CAP_NET_ADMIN,CAP_NET_RAW,CAP_NET_BROADCAST",
	}
	if h.Repo != "" {
		args = append(args, "--bind-ro="+h.Repo+":"+StockRepoMount)
	}
	return args
}

// launcher moves itself into the host's cgroups, starts systemd-nspawn in
// the background (detached from pgplay, which may exit) and prints its PID.
const launcher = `log=$1; shift
while [ "$1" != "--" ]; do echo $$ > "$1"; shift; done; shift
"$@" </dev/null >>"$log" 2>&1 &
echo $!`

// startNspawn boots the host's container and records the nspawn PID.
func startNspawn(ctx context.Context, h *hostRecord) error {
	for _, cg := range h.Cgroups {
		if err := os.MkdirAll(cg, 0o755); err != nil {
			return fmt.Errorf("cgroup of %s: %w", h.Name, err)
		}
	}
	args := []string{"-c", launcher, "pgplay-lab-launch", h.nspawnLog()}
	for _, cg := range h.Cgroups {
		args = append(args, filepath.Join(cg, "cgroup.procs"))
	}
	args = append(append(args, "--"), nspawnArgs(h)...)
	cmd := exec.CommandContext(ctx, "/bin/sh", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		return fmt.Errorf("starting systemd-nspawn for %s: %w%s", h.Name, err, tail(stderr, 6))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return fmt.Errorf("starting systemd-nspawn for %s: unexpected output %q", h.Name, out)
	}
	st, err := readProcStat(pid)
	if err != nil {
		return fmt.Errorf("systemd-nspawn for %s exited at once%s", h.Name, h.logTail())
	}
	h.NspawnPID, h.NspawnStart = pid, st.Start
	return nil
}

// nspawnAlive reports whether the host's recorded nspawn still runs.
func (h *hostRecord) nspawnAlive() bool { return alive(h.NspawnPID, h.NspawnStart) }

// deadNspawnError explains a container that stopped while booting.
func (h *hostRecord) deadNspawnError() error {
	return fmt.Errorf("%s: systemd-nspawn exited while booting%s", h.Name, h.logTail())
}

// logTail is the end of the host's nspawn log for an error message, or "".
func (h *hostRecord) logTail() string {
	if t := tail(readTail(h.nspawnLog()), 12); t != "" {
		return "; systemd-nspawn said:" + t
	}
	return ""
}

// waitGone waits until none of pids (with their start times) runs.
func waitGone(pids map[int]uint64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		left := 0
		for pid, start := range pids {
			if alive(pid, start) {
				left++
			}
		}
		if left == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
