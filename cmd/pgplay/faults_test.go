package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/sshtest"
)

// waitFor polls cond every 2ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return false
}

// tempFileIn says whether dir holds a pgplay temporary file for name (an
// atomic write under way).
func tempFileIn(dir, name string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "."+name+".pgplay-*"))
	return len(m) > 0
}

// twoServers is an inventory of hosts a and b, each on its own sshd (so
// that one host's connection can be killed alone), each with its root dir.
type twoServers struct {
	a, b         *sshtest.Server
	dir, inv     string
	rootA, rootB string
}

func newTwoServers(t *testing.T, varsA, varsB string, opts ...sshtest.Option) *twoServers {
	t.Helper()
	s := &twoServers{a: sshtest.Start(t, opts...), b: sshtest.Start(t, opts...), dir: t.TempDir()}
	s.rootA, s.rootB = filepath.Join(s.dir, "a"), filepath.Join(s.dir, "b")
	host := func(name string, srv *sshtest.Server, root, vars string) string {
		cfg := srv.Config(name)
		return fmt.Sprintf("    %s:\n      ssh_host: %s\n      ssh_port: %d\n      ssh_user: %s\n      ssh_key: %s\n      ssh_known_hosts: %s\n      ssh_config: none\n      root: %s\n%s",
			name, cfg.Addr, cfg.Port, cfg.User, cfg.KeyFiles[0], cfg.KnownHostsFiles[0], root, vars)
	}
	writeFiles(t, s.dir, map[string]string{
		"inv.yaml": "all:\n  hosts:\n" + host("a", s.a, s.rootA, varsA) + host("b", s.b, s.rootB, varsB),
		"a/.keep":  "", "b/.keep": "",
	})
	s.inv = filepath.Join(s.dir, "inv.yaml")
	return s
}

// runAsync runs pgplay with ctx in the background.
func runAsync(ctx context.Context, args ...string) <-chan [3]string {
	done := make(chan [3]string, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run(ctx, args, &out, &errb)
		done <- [3]string{strconv.Itoa(code), out.String(), errb.String()}
	}()
	return done
}

func wait(t *testing.T, done <-chan [3]string, d time.Duration) (int, string) {
	t.Helper()
	select {
	case r := <-done:
		code, _ := strconv.Atoi(r[0])
		return code, r[1] + r[2]
	case <-time.After(d):
		t.Fatalf("pgplay did not finish within %v", d)
	}
	return 0, ""
}

const bigWritePlay = `
- hosts: all
  tasks:
    - name: big write
      copy:
        dest: "{{ .root }}/big.conf"
        content: "{{ repeat 40000000 \"x\" }}"
    - name: after
      command: touch {{ .root }}/after
`

// TestConnectionKilledMidWrite kills host a's SSH connection (its sshd
// processes, by PID) while a file is being written: the old file must stay
// whole, a must be reported unreachable with the reason, and b must finish.
func TestConnectionKilledMidWrite(t *testing.T) {
	s := newTwoServers(t, "", "")
	for _, r := range []string{s.rootA, s.rootB} {
		writeFiles(t, r, map[string]string{"big.conf": "old\n"})
	}
	writeFiles(t, s.dir, map[string]string{"play.yaml": bigWritePlay})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := runAsync(ctx, "run", filepath.Join(s.dir, "play.yaml"), "-i", s.inv)

	if !waitFor(30*time.Second, func() bool { return tempFileIn(s.rootA, "big.conf") }) {
		t.Fatal("the write never started on a")
	}
	// Freeze the connection first, so the write cannot complete while the
	// processes are being found, then kill it.
	s.a.SignalConnections(syscall.SIGSTOP)
	if b, _ := os.ReadFile(filepath.Join(s.rootA, "big.conf")); string(b) != "old\n" {
		t.Fatalf("the file changed before the rename: %d bytes", len(b))
	}
	if n := s.a.SignalConnections(syscall.SIGKILL); n == 0 {
		t.Fatal("no connection process to kill")
	}

	code, out := wait(t, done, 45*time.Second)
	if b, _ := os.ReadFile(filepath.Join(s.rootA, "big.conf")); string(b) != "old\n" {
		t.Errorf("a: big.conf is %d bytes, want the old content intact", len(b))
	}
	if code != 3 || !strings.Contains(out, "unreachable: [a]") || !strings.Contains(out, "connection") || !strings.Contains(out, "lost") {
		t.Errorf("exit %d, want a unreachable (3) with the connection lost:\n%s", code, out)
	}
	rc := recap(t, out)
	if rc["a"][2]+rc["a"][3] != 1 || rc["b"][1] != 2 || rc["b"][3] != 0 {
		t.Errorf("recap %v, want a stopped and b changed twice\n%s", rc, out)
	}
	if st, err := os.Stat(filepath.Join(s.rootB, "big.conf")); err != nil || st.Size() != 40000000 {
		t.Errorf("b: big.conf not written whole: %v %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(s.rootB, "after")); err != nil {
		t.Errorf("b did not finish: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.rootA, "after")); err == nil {
		t.Errorf("a ran a task after losing its connection")
	}
}

// TestConnectionKilledMidCommand kills host a's connection while a command
// runs there: a is unreachable with the reason, b finishes, and pgplay does
// not wait for the command.
func TestConnectionKilledMidCommand(t *testing.T) {
	s := newTwoServers(t, "      nap: 60\n", "      nap: 0\n")
	writeFiles(t, s.dir, map[string]string{"play.yaml": `
- hosts: all
  tasks:
    - shell: "touch {{ .root }}/started; sleep {{ .nap }}"
    - command: touch {{ .root }}/after
`})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	done := runAsync(ctx, "run", filepath.Join(s.dir, "play.yaml"), "-i", s.inv)
	if !waitFor(30*time.Second, func() bool { _, err := os.Stat(filepath.Join(s.rootA, "started")); return err == nil }) {
		t.Fatal("the command never started on a")
	}
	s.a.SignalConnections(syscall.SIGKILL)
	code, out := wait(t, done, 45*time.Second)
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v: pgplay waited for the dead host", d)
	}
	if code != 3 || !strings.Contains(out, "unreachable: [a]") {
		t.Errorf("exit %d, want a unreachable (3):\n%s", code, out)
	}
	rc := recap(t, out)
	if rc["a"][2]+rc["a"][3] != 1 || rc["a"][1] != 0 || rc["b"][1] != 2 {
		t.Errorf("recap %v: want a stopped after its first task and b done\n%s", rc, out)
	}
	if _, err := os.Stat(filepath.Join(s.rootB, "after")); err != nil {
		t.Errorf("b did not finish: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(s.rootA, "after")); err == nil {
		t.Errorf("a ran a task after losing its connection")
	}
}

// TestStalledHostDetected freezes host a's sshd (the TCP connection stays
// open, nothing answers) during a command: keepalives (ServerAliveInterval
// from the host's ssh_config) must declare it unreachable within seconds.
func TestStalledHostDetected(t *testing.T) {
	s := newTwoServers(t, "", "")
	sshConfig := filepath.Join(s.dir, "ssh_config")
	writeFiles(t, s.dir, map[string]string{
		"ssh_config": "Host *\n  ServerAliveInterval 1\n",
		"play.yaml": `
- hosts: all
  tasks:
    - shell: "touch {{ .root }}/started; sleep 3"
    - command: touch {{ .root }}/after
`})
	inv, _ := os.ReadFile(s.inv)
	writeFiles(t, s.dir, map[string]string{"inv.yaml": strings.ReplaceAll(string(inv), "ssh_config: none", "ssh_config: "+sshConfig)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := runAsync(ctx, "run", filepath.Join(s.dir, "play.yaml"), "-i", s.inv)
	if !waitFor(30*time.Second, func() bool { _, err := os.Stat(filepath.Join(s.rootA, "started")); return err == nil }) {
		t.Fatal("the command never started on a")
	}
	frozen := time.Now()
	s.a.SignalConnections(syscall.SIGSTOP)
	t.Cleanup(func() { s.a.SignalConnections(syscall.SIGKILL) })
	code, out := wait(t, done, 45*time.Second)
	if d := time.Since(frozen); d > 15*time.Second {
		t.Errorf("the stalled host was detected after %v", d)
	}
	if code != 3 || !strings.Contains(out, "unreachable: [a]") || !strings.Contains(out, "keepalive") {
		t.Errorf("exit %d, want 3 with a keepalive message for a:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(s.rootB, "after")); err != nil {
		t.Errorf("b did not finish: %v\n%s", err, out)
	}
}

// TestInterruptStopsNewTasks cancels the run's context (what SIGINT does
// in main) while a task runs: no new task starts, the recap is printed,
// the exit code is 99, and a file being written is either old or new,
// never half written.
func TestInterruptStopsNewTasks(t *testing.T) {
	l := newLab(t, []string{"a"}, "")
	root := l.roots["a"]
	writeFiles(t, l.dir, map[string]string{
		"sleep.yaml": "- hosts: all\n  tasks:\n    - shell: touch {{ .root }}/started; sleep 1\n      notify: apply it\n    - command: touch {{ .root }}/second\n" +
			"  handlers:\n    - name: apply it\n      command: touch {{ .root }}/applied\n",
		"write.yaml": bigWritePlay,
	})

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, "run", filepath.Join(l.dir, "sleep.yaml"), "-i", l.inv)
	if !waitFor(30*time.Second, func() bool { _, err := os.Stat(filepath.Join(root, "started")); return err == nil }) {
		t.Fatal("the first task never started")
	}
	cancel()
	code, out := wait(t, done, 30*time.Second)
	if code != 99 {
		t.Errorf("exit %d, want 99 (interrupted)\n%s", code, out)
	}
	if !strings.Contains(out, "PLAY RECAP") || !strings.Contains(out, "interrupted") {
		t.Errorf("no recap or no word of the interruption:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(root, "second")); err == nil {
		t.Errorf("a new task started after the interrupt")
	}
	// The first task's change notified a handler that never ran: say so.
	if !strings.Contains(out, "handlers notified but not run") || !strings.Contains(out, "apply it [a]") {
		t.Errorf("no warning about the handler that did not run:\n%s", out)
	}

	// Interrupted during an atomic write.
	writeFiles(t, root, map[string]string{"big.conf": "old\n"})
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	done = runAsync(ctx, "run", filepath.Join(l.dir, "write.yaml"), "-i", l.inv)
	if !waitFor(30*time.Second, func() bool { return tempFileIn(root, "big.conf") }) {
		t.Fatal("the write never started")
	}
	cancel()
	code, out = wait(t, done, 30*time.Second)
	if code != 99 {
		t.Errorf("exit %d, want 99\n%s", code, out)
	}
	b, _ := os.ReadFile(filepath.Join(root, "big.conf"))
	if string(b) != "old\n" && len(b) != 40000000 {
		t.Errorf("big.conf is half written: %d bytes", len(b))
	}
	if _, err := os.Stat(filepath.Join(root, "after")); err == nil {
		t.Errorf("a new task started after the interrupt")
	}
}

// TestHungHostConnectTimeout points host a at a TCP listener that accepts
// and never speaks: a must be unreachable after --connect-timeout, with a
// message saying so, and b must finish.
func TestHungHostConnectTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // never answered, closed with the test
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for _, c := range held {
			c.Close()
		}
	})
	port := ln.Addr().(*net.TCPAddr).Port
	l := newLab(t, []string{"b"}, fmt.Sprintf("        hung:\n          root: /nonexistent\n          ssh_port: %d\n", port))
	writeFiles(t, l.dir, map[string]string{"play.yaml": "- hosts: web\n  tasks:\n    - command: touch {{ .root }}/done\n"})
	start := time.Now()
	code, out, errs := cli(t, "run", filepath.Join(l.dir, "play.yaml"), "-i", l.inv, "--connect-timeout", "2s")
	if d := time.Since(start); d > 12*time.Second {
		t.Errorf("took %v with --connect-timeout 2s", d)
	}
	if code != 3 || !strings.Contains(out, "unreachable: [hung]") || !strings.Contains(strings.ToLower(out), "timed out") {
		t.Errorf("exit %d, want 3 and a timeout message for hung:\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(l.roots["b"], "done")); err != nil {
		t.Errorf("b did not finish: %v", err)
	}
}

// TestSudoPasswordFailsFast logs in as a throwaway user who has no
// passwordless sudo: a become task must fail at once with a message saying
// what to do, not hang on a password prompt.
func TestSudoPasswordFailsFast(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test creates a user (useradd); CI runs as root")
	}
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	user := "pgplay-t" + hex.EncodeToString(rb[:])
	// '*': no password, but not a locked account (sshd refuses those).
	// Home "/": a missing home makes sshd write to stderr first, which
	// hides sudo's message (see the report on transport.sudoFailure).
	if out, err := exec.Command("useradd", "-M", "-d", "/", "-s", "/bin/sh", "-p", "*", user).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", "-f", user).Run() })

	srv := sshtest.Start(t)
	// The user must be able to read the shared authorized_keys.
	for _, d := range []string{filepath.Dir(srv.Dir), srv.Dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(srv.Dir, "authorized_keys"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := srv.Config("a")
	writeFiles(t, dir, map[string]string{
		"inv.yaml": fmt.Sprintf("all:\n  hosts:\n    a:\n      ssh_host: %s\n      ssh_port: %d\n      ssh_user: %s\n      ssh_key: %s\n      ssh_known_hosts: %s\n      ssh_config: none\n",
			cfg.Addr, cfg.Port, user, cfg.KeyFiles[0], cfg.KnownHostsFiles[0]),
		"play.yaml": "- hosts: all\n  tasks:\n    - command: id -un\n      register: who\n    - command: id -un\n      become: true\n",
	})
	start := time.Now()
	code, out, errs := cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", filepath.Join(dir, "inv.yaml"))
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %v: sudo must not wait for a password", d)
	}
	if code != 2 {
		t.Fatalf("exit %d, want 2 (host failed)\n%s%s", code, out, errs)
	}
	rc := recap(t, out)
	if rc["a"][1] != 1 || rc["a"][3] != 1 {
		t.Errorf("recap %v: want the login task ok and the become task failed\n%s", rc["a"], out)
	}
	if !strings.Contains(out, "become user root: sudo") || !strings.Contains(out, "NOPASSWD") && !strings.Contains(out, "sudoers") {
		t.Errorf("no clear sudo message:\n%s", out)
	}
}
