package sshtest_test

import (
	"bufio"
	"net"
	"os"
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
