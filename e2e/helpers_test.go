//go:build e2e

// Package e2e holds end-to-end tests that bring up the local lab
// (`pgplay lab up`) and drive its hosts. They need root and run with
//
//	go test -tags e2e ./e2e/ -v
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/lab"
	"github.com/pgplay/pgplay/internal/transport"
)

// logWriter sends the lab's progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// requireRoot fails (not skips) the test when not run as root: the lab
// needs namespaces, mounts and cgroups.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the lab e2e tests need root: run them as root (CI does), e.g. sudo go test -tags e2e ./e2e/")
	}
}

// upLab brings a lab up in a fresh state directory and registers its
// teardown, which runs even when the test fails.
func upLab(t *testing.T, mod func(*lab.Options)) (*lab.Lab, lab.Options, *lab.Status) {
	t.Helper()
	requireRoot(t)
	l := lab.New(logWriter{t})
	opts := lab.DefaultOptions()
	opts.StateDir = filepath.Join(t.TempDir(), "lab")
	if mod != nil {
		mod(&opts)
	}
	waitNoLab(t, 20*time.Minute)
	markOwner(t, opts.StateDir)
	// A first rootfs build takes ~2 min; the stock image's with its apt
	// repository took 11 min on a loaded 2-core machine.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	st, err := l.Up(ctx, opts)
	// Registered only once this test's lab is up: Down finds labs by name,
	// so a cleanup after a refused Up would remove somebody else's lab. A
	// failed Up removes what it created itself.
	if err == nil || st != nil {
		t.Cleanup(func() {
			if err := l.Down(context.Background(), opts.StateDir); err != nil {
				t.Errorf("lab down: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	return l, opts, st
}

// labHosts connects to every host of the lab's inventory through pgplay's
// transport, as the runner would: the inventory's ssh_* variables, strict
// host keys against the lab's known_hosts.
type labHosts struct {
	t       *testing.T
	pool    *transport.Pool
	inv     *inventory.Inventory
	targets map[string]transport.Target
}

func connect(t *testing.T, inventoryFile string) *labHosts {
	t.Helper()
	inv, err := inventory.Load(inventoryFile)
	if err != nil {
		t.Fatalf("loading the lab inventory: %v", err)
	}
	h := &labHosts{t: t, pool: transport.NewPool(), inv: inv, targets: map[string]transport.Target{}}
	t.Cleanup(func() { _ = h.pool.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range inv.Order {
		tg, err := h.pool.Target(ctx, configOf(inv.Hosts[name]), becomeOf(inv.Hosts[name]))
		if err != nil {
			t.Fatalf("%s does not answer over SSH: %v", name, err)
		}
		h.targets[name] = tg
	}
	return h
}

// configOf maps a lab inventory host to a transport configuration.
func configOf(h *inventory.Host) transport.Config {
	v := func(k string) string { return fmt.Sprint(h.Vars[k]) }
	return transport.Config{
		Name: h.Name, Addr: v("ssh_host"), Port: 22, User: v("ssh_user"),
		KeyFiles: []string{v("ssh_key")}, KnownHostsFiles: []string{v("ssh_known_hosts")},
		SSHConfigFile: v("ssh_config"), ConnectTimeout: 10 * time.Second,
	}
}

// becomeOf is the user the tests' commands run as on a lab host: root,
// through sudo where the inventory logs in as another user and sets
// ansible_become (the stock image).
func becomeOf(h *inventory.Host) string {
	if on, ok := inventory.AnsibleBool(h.Vars["ansible_become"]); ok && on {
		return "root"
	}
	return ""
}

// run runs argv on host and fails the test unless it exits 0.
func (h *labHosts) run(host string, argv ...string) string {
	h.t.Helper()
	out, rc := h.try(host, argv...)
	if rc != 0 {
		h.t.Fatalf("%s: %s: exit %d: %s", host, strings.Join(argv, " "), rc, out)
	}
	return out
}

// try runs argv on host and returns its stdout (stderr when stdout is
// empty) and exit code.
func (h *labHosts) try(host string, argv ...string) (string, int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := h.targets[host].Query(ctx, transport.Cmd{Argv: argv})
	if err != nil {
		h.t.Fatalf("%s: %s: %v", host, strings.Join(argv, " "), err)
	}
	out := strings.TrimSpace(string(res.Stdout))
	if out == "" {
		out = strings.TrimSpace(string(res.Stderr))
	}
	return out, res.RC
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %s", what, timeout, detail)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// pidRunning reports whether pid is a live (not zombie) process.
func pidRunning(pid int) bool {
	if pid <= 0 {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// ownerFile marks a lab brought up by an e2e test binary: it holds the
// binary's PID and start time, so that a later run can tell a lab whose
// test is gone (killed by its timeout, or by the end of a CI job) from one
// still in use.
const ownerFile = ".e2e-owner"

// procStart returns the start time (clock ticks after boot) of pid.
func procStart(pid int) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: %d fields after the name, want 20 or more", pid, len(fields))
	}
	return fields[19], nil
}

// markOwner writes this test binary's owner mark into the state dir.
func markOwner(t *testing.T, stateDir string) {
	t.Helper()
	start, err := procStart(os.Getpid())
	if err == nil {
		err = os.MkdirAll(stateDir, 0o700)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(stateDir, ownerFile), []byte(fmt.Sprintf("%d %s\n", os.Getpid(), start)), 0o600)
	}
	if err != nil {
		t.Fatalf("marking the lab as this test's: %v", err)
	}
}

// abandoned reports whether the lab of stateDir was brought up by an e2e
// test binary that no longer runs, and which one.
func abandoned(stateDir string) (bool, string) {
	data, err := os.ReadFile(filepath.Join(stateDir, ownerFile))
	if err != nil {
		return false, ""
	}
	var pid int
	var start string
	if _, err := fmt.Sscan(string(data), &pid, &start); err != nil {
		return false, ""
	}
	now, err := procStart(pid)
	return err != nil || now != start, fmt.Sprintf("pid %d", pid)
}

// waitNoLab waits until no other lab runs on this machine (labs share
// names, so two cannot run at once), and fails after timeout without
// touching a lab in use: upLab's cleanup would tear down whatever lab
// runs. A lab whose e2e test binary is gone is brought down at once.
func waitNoLab(t *testing.T, timeout time.Duration) {
	t.Helper()
	requireRoot(t)
	deadline := time.Now().Add(timeout)
	for {
		l := lab.New(logWriter{t})
		st, err := l.Status(context.Background())
		if err != nil {
			t.Fatalf("lab status: %v", err)
		}
		if !st.Exists {
			return
		}
		if gone, who := abandoned(st.StateDir); gone {
			t.Logf("the lab of %s was brought up by an e2e test that no longer runs (%s); bringing it down", st.StateDir, who)
			if err := l.Down(context.Background(), st.StateDir); err != nil {
				t.Fatalf("bringing down an abandoned lab: %v", err)
			}
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("another lab (state dir %s) still runs after %s: one lab at a time; bring it down with: sudo pgplay lab down", st.StateDir, timeout)
		}
		t.Logf("another lab (state dir %s) is up; waiting for it to go", st.StateDir)
		time.Sleep(5 * time.Second)
	}
}
