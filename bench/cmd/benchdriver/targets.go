package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pgplay/pgplay/internal/sshtest"

	"golang.org/x/crypto/ssh"
)

// Targets are N loopback SSH "hosts": Debian's OpenSSH sshd listening on
// 127.0.0.2.. port Port, at most 16 ListenAddress lines per daemon, all
// logging in one unprivileged key-only user whose shell start-up is plain.
// Each host writes under its own directory (its pg_root).
type Targets struct {
	N     int
	Port  int
	State string // state directory (keys, configs, homes, logs)
	User  string // login user on the targets
	UID   int
	GID   int
	Home  string

	KeyFile        string // client private key (controller side)
	KnownHostsFile string

	daemons []*sshd
}

// sshd is one running daemon.
type sshd struct {
	conf   string
	addrs  []string
	cmd    *exec.Cmd
	exited chan struct{}
}

const (
	sshdBin         = "/usr/sbin/sshd"
	addrsPerDaemon  = 16 // sshd's limit on ListenAddress lines
	maxTargets      = 200
	benchUserShell  = "/bin/sh"
	targetNameWidth = 3
)

// HostName is the inventory name of host i (0-based).
func HostName(i int) string { return fmt.Sprintf("pg%0*d", targetNameWidth, i+1) }

// Addr is the loopback address of host i (0-based): 127.0.0.2 for the first.
func Addr(i int) string { return fmt.Sprintf("127.0.0.%d", i+2) }

// Root is host i's pg_root directory.
func (t *Targets) Root(i int) string { return filepath.Join(t.Home, "hosts", HostName(i)) }

// PIDs returns the PIDs of the running daemons (not of their sessions).
func (t *Targets) PIDs() map[int]bool {
	m := map[int]bool{}
	for _, d := range t.daemons {
		if d.cmd != nil && d.cmd.Process != nil {
			m[d.cmd.Process.Pid] = true
		}
	}
	return m
}

// setupTargets creates (or reuses) the bench user, keys and known_hosts,
// and writes the daemons' configurations. It needs root.
func setupTargets(state, userName string, n, port int) (*Targets, error) {
	if n < 1 || n > maxTargets {
		return nil, fmt.Errorf("%d targets: want 1 to %d (127.0.0.2 .. 127.0.0.%d)", n, maxTargets, maxTargets+1)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the bench driver must run as root: it creates the bench user and runs sshd (hint: sudo make bench)")
	}
	if _, err := os.Stat(sshdBin); err != nil {
		return nil, fmt.Errorf("%s: %w (hint: apt-get install openssh-server)", sshdBin, err)
	}
	t := &Targets{N: n, Port: port, State: state, User: userName, Home: filepath.Join(state, "home")}
	sshDir := filepath.Join(state, "ssh")
	for _, d := range []string{state, sshDir, filepath.Join(state, "logs"), "/run/sshd"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// The state dir and ssh dir must not be writable by others: sshd checks
	// the path to authorized_keys.
	for _, d := range []string{state, sshDir} {
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := t.ensureUser(); err != nil {
		return nil, err
	}
	if err := t.ensureKeys(sshDir); err != nil {
		return nil, err
	}
	if err := t.writeConfigs(sshDir); err != nil {
		return nil, err
	}
	return t, nil
}

// ensureUser creates the login user (no password: '*', so key-only but not
// "locked" for sshd), with a plain /bin/sh and a home without rc files.
func (t *Targets) ensureUser() error {
	if err := os.MkdirAll(filepath.Join(t.Home, "hosts"), 0o755); err != nil {
		return err
	}
	u, err := user.Lookup(t.User)
	if err != nil {
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return fmt.Errorf("look up user %s: %w", t.User, err)
		}
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--home-dir", t.Home,
			"--shell", benchUserShell, "--user-group", "--password", "*", t.User).CombinedOutput()
		if err != nil {
			return fmt.Errorf("useradd %s: %w: %s", t.User, err, strings.TrimSpace(string(out)))
		}
		if u, err = user.Lookup(t.User); err != nil {
			return fmt.Errorf("look up user %s after useradd: %w", t.User, err)
		}
	} else {
		// Reused: make sure the home and shell are the ones this bench wants.
		out, err := exec.Command("usermod", "--home", t.Home, "--shell", benchUserShell, "--password", "*", t.User).CombinedOutput()
		if err != nil {
			return fmt.Errorf("usermod %s: %w: %s", t.User, err, strings.TrimSpace(string(out)))
		}
	}
	if t.UID, err = strconv.Atoi(u.Uid); err != nil {
		return fmt.Errorf("uid of %s: %w", t.User, err)
	}
	if t.GID, err = strconv.Atoi(u.Gid); err != nil {
		return fmt.Errorf("gid of %s: %w", t.User, err)
	}
	for _, d := range []string{t.Home, filepath.Join(t.Home, "hosts")} {
		if err := os.Chown(d, t.UID, t.GID); err != nil {
			return err
		}
	}
	return nil
}

// ensureKeys makes the client key, the authorized_keys file and one host
// key per daemon (kept between runs), and writes known_hosts for the N
// addresses.
func (t *Targets) ensureKeys(sshDir string) error {
	t.KeyFile = filepath.Join(sshDir, "id_ed25519")
	pub, err := ensureKey(t.KeyFile)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(sshDir, "authorized_keys"), ssh.MarshalAuthorizedKey(pub), 0o644); err != nil {
		return err
	}
	var kh strings.Builder
	for d := 0; d*addrsPerDaemon < t.N; d++ {
		hk, err := ensureKey(filepath.Join(sshDir, fmt.Sprintf("ssh_host_ed25519_key.%d", d)))
		if err != nil {
			return err
		}
		for i := d * addrsPerDaemon; i < t.N && i < (d+1)*addrsPerDaemon; i++ {
			fmt.Fprintf(&kh, "[%s]:%d %s", Addr(i), t.Port, ssh.MarshalAuthorizedKey(hk))
		}
	}
	t.KnownHostsFile = filepath.Join(sshDir, "known_hosts")
	return os.WriteFile(t.KnownHostsFile, []byte(kh.String()), 0o644)
}

// ensureKey returns the public half of the ed25519 key in path, creating it
// when absent.
func ensureKey(path string) (ssh.PublicKey, error) {
	if b, err := os.ReadFile(path); err == nil {
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (delete it to make a new one)", path, err)
		}
		return s.PublicKey(), nil
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(pub)
}

func sftpServerPath() string {
	for _, p := range []string{"/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/lib/ssh/sftp-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "internal-sftp"
}

// writeConfigs writes one sshd_config per group of 16 addresses.
func (t *Targets) writeConfigs(sshDir string) error {
	t.daemons = nil
	for d := 0; d*addrsPerDaemon < t.N; d++ {
		sd := &sshd{conf: filepath.Join(sshDir, fmt.Sprintf("sshd_config.%d", d))}
		conf := []string{
			fmt.Sprintf("Port %d", t.Port),
		}
		for i := d * addrsPerDaemon; i < t.N && i < (d+1)*addrsPerDaemon; i++ {
			sd.addrs = append(sd.addrs, Addr(i))
			conf = append(conf, "ListenAddress "+Addr(i))
		}
		conf = append(conf,
			"HostKey "+filepath.Join(sshDir, fmt.Sprintf("ssh_host_ed25519_key.%d", d)),
			"AuthorizedKeysFile "+filepath.Join(sshDir, "authorized_keys"),
			"AllowUsers "+t.User,
			"PidFile none",
			// The state directory may live under a world-writable one
			// (/var/tmp): do not let sshd refuse the keys for it.
			"StrictModes no",
			"UsePAM no",
			"PasswordAuthentication no",
			"KbdInteractiveAuthentication no",
			"PubkeyAuthentication yes",
			"PermitRootLogin no",
			"PrintMotd no",
			"PrintLastLog no",
			"UseDNS no",
			"X11Forwarding no",
			"PermitUserEnvironment no",
			"MaxStartups 200:30:400",
			"MaxSessions 64",
			"LoginGraceTime 60",
			"Subsystem sftp "+sftpServerPath(),
			"LogLevel ERROR",
		)
		if err := os.WriteFile(sd.conf, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
			return err
		}
		t.daemons = append(t.daemons, sd)
	}
	return nil
}

// Start starts the daemons and waits until every address answers with an
// SSH banner.
func (t *Targets) Start() error {
	for i, d := range t.daemons {
		logf, err := os.OpenFile(filepath.Join(t.State, "logs", fmt.Sprintf("sshd.%d.log", i)), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		cmd := exec.Command(sshdBin, "-D", "-e", "-f", d.conf)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		err = cmd.Start()
		logf.Close()
		if err != nil {
			t.Stop()
			return fmt.Errorf("start %s -f %s: %w", sshdBin, d.conf, err)
		}
		d.cmd = cmd
		d.exited = make(chan struct{})
		go func(d *sshd) { _ = d.cmd.Wait(); close(d.exited) }(d)
	}
	for i, d := range t.daemons {
		for _, a := range d.addrs {
			if err := sshtest.WaitBanner(net.JoinHostPort(a, strconv.Itoa(t.Port)), d.exited, 15*time.Second); err != nil {
				log, _ := os.ReadFile(filepath.Join(t.State, "logs", fmt.Sprintf("sshd.%d.log", i)))
				t.Stop()
				return fmt.Errorf("sshd %s on %s: %w\n%s", d.conf, a, err, tail(string(log), 2000))
			}
		}
	}
	return nil
}

// Stop stops the daemons it started, by PID: SIGTERM, then SIGKILL after
// 5 s. Sessions still open end with their connections.
func (t *Targets) Stop() {
	for _, d := range t.daemons {
		if d.cmd == nil || d.cmd.Process == nil {
			continue
		}
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(5 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
		d.cmd = nil
	}
}

// Wipe removes every host's directory (a "first run" starts from empty
// hosts).
func (t *Targets) Wipe() error {
	for i := 0; i < t.N; i++ {
		if err := os.RemoveAll(t.Root(i)); err != nil {
			return fmt.Errorf("wipe %s: %w", t.Root(i), err)
		}
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
