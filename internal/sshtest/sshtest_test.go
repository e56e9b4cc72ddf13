package sshtest_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/sshtest"
	"golang.org/x/crypto/ssh"
)

func banner(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return line
}

func TestStart(t *testing.T) {
	s := sshtest.Start(t)
	if b := banner(t, s.Addr()); !strings.HasPrefix(b, "SSH-2.0-OpenSSH") {
		t.Fatalf("banner %q", b)
	}
	kh, err := os.ReadFile(s.KnownHostsFile)
	if err != nil || string(kh) != s.KnownHostsLine(s.HostKey) {
		t.Fatalf("known_hosts %q %v", kh, err)
	}
	cfg := s.Config("n1")
	if cfg.Name != "n1" || cfg.Port != s.Port || cfg.Addr != "127.0.0.1" || cfg.SSHConfigFile != "none" ||
		cfg.KeyFiles[0] != s.ClientKeyFile || cfg.KnownHostsFiles[0] != s.KnownHostsFile || cfg.User != s.User {
		t.Fatalf("config %+v", cfg)
	}
	old := s.HostKey
	nk := s.RotateHostKey(t)
	if string(nk.Marshal()) == string(old.Marshal()) || ssh.FingerprintSHA256(s.HostKey) != ssh.FingerprintSHA256(nk) {
		t.Fatal("RotateHostKey kept the key")
	}
	if b := banner(t, s.Addr()); !strings.HasPrefix(b, "SSH-2.0-") {
		t.Fatalf("after rotation: banner %q", b)
	}
	s.Stop()
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Fatal("sshd still listening after Stop")
	}
}

func TestEmptyKnownHosts(t *testing.T) {
	s := sshtest.Start(t, sshtest.EmptyKnownHosts())
	if kh, err := os.ReadFile(s.KnownHostsFile); err != nil || len(kh) != 0 {
		t.Fatalf("known_hosts %q %v", kh, err)
	}
}

func TestSignalConnections(t *testing.T) {
	s := sshtest.Start(t)
	// The readiness probe's connection ends soon after Start.
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Connections()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connection processes %v without a connection", s.Connections())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil { // sshd forked for us
		t.Fatal(err)
	}
	if n := s.SignalConnections(syscall.SIGKILL); n == 0 {
		t.Fatal("no connection process signalled")
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("connection still open after SIGKILL")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection still open after SIGKILL (read timed out)")
	}
	if b := banner(t, s.Addr()); !strings.HasPrefix(b, "SSH-2.0-") {
		t.Fatalf("listener gone after SignalConnections: banner %q", b)
	}
}

// gone reports whether pid has ended (no such process, or a zombie).
func gone(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

// A test binary that is killed (its -timeout, the end of a CI job) runs
// no cleanup: its sshd must not outlive it.
func TestSSHDDiesWithTheTestBinary(t *testing.T) {
	if os.Getenv("SSHTEST_CHILD") == "1" {
		s := sshtest.Start(t)
		fmt.Printf("sshd-pid %d\n", s.PID())
		time.Sleep(time.Minute)
		return
	}
	child := exec.Command(os.Args[0], "-test.run=^TestSSHDDiesWithTheTestBinary$", "-test.v")
	child.Env = append(os.Environ(), "SSHTEST_CHILD=1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	pid := 0
	sc := bufio.NewScanner(out)
	for pid == 0 && sc.Scan() {
		_, _ = fmt.Sscanf(sc.Text(), "sshd-pid %d", &pid)
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	if pid <= 0 {
		t.Fatal("the child test binary did not report its sshd's PID")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("sshd (pid %d) still runs 5 s after its test binary was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
