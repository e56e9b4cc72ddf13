// Package sshtest runs a real OpenSSH sshd on the loopback interface for
// tests: a fresh host key, a client key in authorized_keys for the current
// user, and a known_hosts file, all in a temporary directory.
//
// It needs /usr/sbin/sshd and fails the test (it does not skip) when sshd
// is missing or does not start.
package sshtest

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/transport"
	"golang.org/x/crypto/ssh"
)

// SSHD is the sshd binary the tests run.
const SSHD = "/usr/sbin/sshd"

// Server is a running sshd on 127.0.0.1.
type Server struct {
	// Port is the TCP port sshd listens on (127.0.0.1 only).
	Port int
	// Dir is the temporary directory holding the keys, config and log.
	Dir string
	// User is the login user (the user running the tests).
	User string
	// ClientKey is the private key whose public half is in authorized_keys.
	ClientKey ed25519.PrivateKey
	// ClientKeyFile holds ClientKey in OpenSSH format (mode 0600).
	ClientKeyFile string
	// KnownHostsFile lists the host key for [127.0.0.1]:Port (or is empty
	// with EmptyKnownHosts).
	KnownHostsFile string
	// HostKey is the host's current ed25519 public key.
	HostKey ssh.PublicKey
	// ECDSAHostKey is the host's second key with ExtraECDSAHostKey (not in
	// KnownHostsFile), else nil.
	ECDSAHostKey ssh.PublicKey

	hostKeyFile string
	configFile  string
	logFile     string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

type options struct {
	emptyKnownHosts bool
	ecdsa           bool
	extra           []string
}

// Option changes how Start sets the server up.
type Option func(*options)

// EmptyKnownHosts makes KnownHostsFile an empty file: the host key is
// unknown to clients.
func EmptyKnownHosts() Option { return func(o *options) { o.emptyKnownHosts = true } }

// ExtraECDSAHostKey gives sshd an ECDSA host key besides the ed25519 one;
// KnownHostsFile still lists only the ed25519 key. A client that does not
// ask for the key type it knows gets the ECDSA key (Go's x/crypto prefers
// it) and sees a mismatch.
func ExtraECDSAHostKey() Option { return func(o *options) { o.ecdsa = true } }

// WithConfig appends lines to the generated sshd_config.
func WithConfig(lines ...string) Option {
	return func(o *options) { o.extra = append(o.extra, lines...) }
}

// Start starts sshd and stops it (by PID) when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	if _, err := os.Stat(SSHD); err != nil {
		t.Fatalf("sshtest: %s not found (%v): install openssh-server; these tests need a real sshd", SSHD, err)
	}
	if os.Geteuid() == 0 {
		// sshd's privilege separation directory (created by the package's
		// service unit, absent in containers).
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshtest: %v", err)
		}
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshtest: current user: %v", err)
	}
	dir := t.TempDir()
	s := &Server{
		Dir:            dir,
		User:           u.Username,
		ClientKeyFile:  filepath.Join(dir, "id_ed25519"),
		KnownHostsFile: filepath.Join(dir, "known_hosts"),
		hostKeyFile:    filepath.Join(dir, "ssh_host_ed25519_key"),
		configFile:     filepath.Join(dir, "sshd_config"),
		logFile:        filepath.Join(dir, "sshd.log"),
	}

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	s.ClientKey = priv
	writeKey(t, s.ClientKeyFile, priv)
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	writeFile(t, filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(sshPub), 0o600)
	s.HostKey = s.newHostKey(t)
	var extraKeys []string
	if o.ecdsa {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatalf("sshtest: %v", err)
		}
		f := filepath.Join(dir, "ssh_host_ecdsa_key")
		writeKey(t, f, k)
		if s.ECDSAHostKey, err = ssh.NewPublicKey(&k.PublicKey); err != nil {
			t.Fatalf("sshtest: %v", err)
		}
		extraKeys = append(extraKeys, "HostKey "+f)
	}

	s.Port = freePort(t)
	sftpServer := "internal-sftp"
	for _, p := range []string{"/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/lib/ssh/sftp-server"} {
		if _, err := os.Stat(p); err == nil {
			sftpServer = p
			break
		}
	}
	conf := []string{
		fmt.Sprintf("Port %d", s.Port),
		"ListenAddress 127.0.0.1",
		"HostKey " + s.hostKeyFile,
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"PidFile none",
		"StrictModes no",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"PermitRootLogin prohibit-password",
		"AllowTcpForwarding yes",
		"Subsystem sftp " + sftpServer,
		"LogLevel VERBOSE",
	}
	conf = append(conf, extraKeys...)
	conf = append(conf, o.extra...)
	writeFile(t, s.configFile, []byte(strings.Join(conf, "\n")+"\n"), 0o600)

	var kh []byte
	if !o.emptyKnownHosts {
		kh = []byte(s.KnownHostsLine(s.HostKey))
	}
	writeFile(t, s.KnownHostsFile, kh, 0o600)

	s.start(t)
	t.Cleanup(s.Stop)
	return s
}

// KnownHostsLine is the known_hosts line for this server and key.
func (s *Server) KnownHostsLine(key ssh.PublicKey) string {
	return fmt.Sprintf("[127.0.0.1]:%d %s", s.Port, ssh.MarshalAuthorizedKey(key))
}

// Addr is 127.0.0.1:Port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", fmt.Sprint(s.Port)) }

// Config returns a transport.Config that reaches this server as host
// name: key file, known_hosts and user set, no ssh_config.
func (s *Server) Config(name string) transport.Config {
	return transport.Config{
		Name:            name,
		Addr:            "127.0.0.1",
		Port:            s.Port,
		User:            s.User,
		KeyFiles:        []string{s.ClientKeyFile},
		KnownHostsFiles: []string{s.KnownHostsFile},
		SSHConfigFile:   "none",
		ConnectTimeout:  5 * time.Second,
	}
}

// Log returns what sshd logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logFile)
	return string(b)
}

// AcceptedLogins counts the successful authentications in the log.
func (s *Server) AcceptedLogins() int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(s.Log()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Accepted publickey for ") {
			n++
		}
	}
	return n
}

// RotateHostKey gives the server a new host key (known_hosts is left
// alone, so clients see a changed key) and restarts sshd on the same port.
func (s *Server) RotateHostKey(t testing.TB) ssh.PublicKey {
	t.Helper()
	s.Stop()
	s.HostKey = s.newHostKey(t)
	s.start(t)
	return s.HostKey
}

// PID is the sshd listener's process ID (0 when it is stopped).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Stop stops sshd (SIGTERM by PID, SIGKILL after 5s). Connections already
// open are served by their own sshd processes until they close.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Connections returns the PIDs of the processes serving the server's
// connections (the per-connection sshd processes and what they run),
// parents first; the listening sshd is not among them.
func (s *Server) Connections() []int {
	s.mu.Lock()
	pid := 0
	if s.cmd != nil {
		pid = s.cmd.Process.Pid
	}
	s.mu.Unlock()
	if pid == 0 {
		return nil
	}
	return descendants(pid)
}

// SignalConnections sends sig to every process serving the server's
// connections (by PID; the listener is spared) and returns how many it
// signalled. SIGKILL drops the connections as a crashed host would.
func (s *Server) SignalConnections(sig syscall.Signal) int {
	ps := s.Connections()
	for _, p := range ps {
		_ = syscall.Kill(p, sig)
	}
	return len(ps)
}

// descendants returns the processes below pid, parents first, read from
// /proc.
func descendants(pid int) []int {
	kids := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		kids[pp] = append(kids[pp], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range kids[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

func (s *Server) newHostKey(t testing.TB) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	writeKey(t, s.hostKeyFile, priv)
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	return k
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		logf, err := os.OpenFile(s.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatalf("sshtest: %v", err)
		}
		cmd := exec.Command(SSHD, "-D", "-e", "-f", s.configFile)
		cmd.Stdout, cmd.Stderr = logf, logf
		// sshd dies with the test binary, also when the binary is killed
		// (its -timeout, the end of a CI job) and no cleanup runs.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("sshtest: start %s: %v", SSHD, err)
		}
		logf.Close()
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if lastErr = WaitBanner(s.Addr(), exited, 10*time.Second); lastErr == nil {
			s.cmd, s.exited = cmd, exited
			return
		}
		_ = cmd.Process.Kill()
		<-exited
		time.Sleep(200 * time.Millisecond) // e.g. the port still held after a restart
	}
	t.Fatalf("sshtest: sshd did not start on %s: %v\nsshd log:\n%s", s.Addr(), lastErr, s.Log())
}

// WaitBanner waits until an SSH server at addr sends its banner line
// ("SSH-..."), at most timeout; it gives up early when exited is closed
// (the server process ended). The benchmark driver uses it too.
func WaitBanner(addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("sshd exited")
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil && strings.HasPrefix(line, "SSH-") {
				return nil
			}
			err = fmt.Errorf("banner %q: %v", line, rerr)
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no SSH banner from %s within %s: %v", addr, timeout, lastErr)
}

// freePort returns a TCP port free on 127.0.0.1 a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeKey(t testing.TB, path string, priv crypto.PrivateKey) {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	writeFile(t, path, pem.EncodeToMemory(block), 0o600)
}

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
}
