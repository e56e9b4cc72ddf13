//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/lab"
	"github.com/pgplay/pgplay/internal/transport"
)

// TestLab brings the 4-host lab up once and checks, in order: the hosts,
// VRRP across the bridge, idempotent up, up after a crash, and a down that
// leaves nothing behind. One lab at a time: the subtests share it.
// labPIDs returns the lab hosts' systemd-nspawn and init processes.
func labPIDs(t *testing.T, l *lab.Lab) []int {
	t.Helper()
	cur, err := l.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, hs := range cur.Hosts {
		pids = append(pids, hs.NspawnPID, hs.InitPID)
	}
	return pids
}

func TestLab(t *testing.T) {
	before := nspawnRuntime(t)
	l, opts, st := upLab(t, nil)
	if !st.Up || len(st.Hosts) != 4 {
		t.Fatalf("status after up: %+v", st)
	}
	inventoryFile := filepath.Join(opts.StateDir, "inventory.yaml")

	t.Run("Hosts", func(t *testing.T) {
		h := connect(t, inventoryFile)
		names := []string{"node1", "node2", "node3", "backup1"}
		if got := strings.Join(h.inv.Order, " "); got != strings.Join(names, " ") {
			t.Fatalf("inventory hosts = %s", got)
		}
		addrs := map[string]string{}
		for _, n := range names {
			if got := h.run(n, "hostname"); got != n {
				t.Errorf("%s: hostname = %q", n, got)
			}
			ip := h.run(n, "ip", "-4", "-o", "addr", "show", "eth0")
			want := fmt.Sprint(h.inv.Hosts[n].Vars["ssh_host"])
			if !strings.Contains(ip, " "+want+"/24 ") {
				t.Errorf("%s: eth0 = %q, want %s", n, ip, want)
			}
			if other, dup := addrs[want]; dup {
				t.Errorf("%s and %s share %s", n, other, want)
			}
			addrs[want] = n
			if state, _ := h.try(n, "systemctl", "is-system-running"); state != "running" && state != "degraded" {
				t.Errorf("%s: systemctl is-system-running = %q", n, state)
			}
			if v := h.run(n, "/usr/lib/postgresql/15/bin/postgres", "--version"); !strings.Contains(v, "(PostgreSQL) 15.") {
				t.Errorf("%s: postgres --version = %q", n, v)
			}
			if cl := h.run(n, "pg_lsclusters", "--no-header"); cl != "" {
				t.Errorf("%s: a cluster exists already: %q", n, cl)
			}
			if r := h.run(n, "ip", "-4", "route", "show", "default"); r != "" {
				t.Errorf("%s: has a default route: %q (lab traffic must stay on the machine)", n, r)
			}
		}
		// Private filesystems: a file written on node1 is not on node2.
		ctx := context.Background()
		marker := "/root/pgplay-e2e-marker"
		if err := h.targets["node1"].WriteFile(ctx, marker, []byte("node1\n"), transport.Attrs{Mode: 0o644}); err != nil {
			t.Fatalf("writing a marker on node1: %v", err)
		}
		for n, want := range map[string]bool{"node1": true, "node2": false, "backup1": false} {
			fi, err := h.targets[n].Stat(ctx, marker)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Exists != want {
				t.Errorf("%s: marker exists = %v, want %v", n, fi.Exists, want)
			}
		}
		// The hosts reach each other over the bridge.
		h.run("node1", "ping", "-c", "1", "-W", "2", "198.51.100.20")
		h.run("backup1", "ping", "-c", "1", "-W", "2", "node3")
	})

	t.Run("StrictHostKeys", func(t *testing.T) {
		// node1's name and address with node2's key: the transport refuses.
		kh, err := os.ReadFile(filepath.Join(opts.StateDir, "known_hosts"))
		if err != nil {
			t.Fatal(err)
		}
		var node2Key string
		for _, line := range strings.Split(string(kh), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && strings.HasPrefix(f[0], "node2,") {
				node2Key = f[1] + " " + f[2]
			}
		}
		wrong := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(wrong, []byte("node1,198.51.100.11 "+node2Key+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		p := transport.NewPool()
		defer p.Close()
		cfg := transport.Config{
			Name: "node1", Addr: "198.51.100.11", Port: 22, User: "root",
			KeyFiles: []string{filepath.Join(opts.StateDir, "id_ed25519")}, KnownHostsFiles: []string{wrong},
			SSHConfigFile: "none", ConnectTimeout: 10 * time.Second,
		}
		if _, err := p.Target(context.Background(), cfg, ""); err == nil {
			t.Fatal("connected to node1 with a known_hosts holding another key")
		}
		// And OpenSSH with the lab's ssh_config gets in.
		out, err := exec.Command("ssh", "-F", filepath.Join(opts.StateDir, "ssh_config"), "-o", "BatchMode=yes", "node2", "hostname").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "node2" {
			t.Errorf("ssh -F ssh_config node2 hostname: %v: %s", err, out)
		}
	})

	t.Run("VRRP", func(t *testing.T) {
		h := connect(t, inventoryFile)
		vip := fmt.Sprint(h.inv.Hosts["node1"].Vars["vip"])
		ctx := context.Background()
		for n, prio := range map[string]int{"node1": 150, "node2": 100} {
			conf := fmt.Sprintf(`vrrp_instance pgplay_e2e {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority %d
  advert_int 1
  virtual_ipaddress {
    %s/24
  }
}
`, prio, vip)
			if err := h.targets[n].WriteFile(ctx, "/etc/keepalived/keepalived.conf", []byte(conf), transport.Attrs{Mode: 0o644}); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			for _, n := range []string{"node1", "node2"} {
				h.try(n, "systemctl", "stop", "keepalived")
			}
		})
		holders := func() []string {
			var on []string
			for _, n := range []string{"node1", "node2"} {
				if strings.Contains(h.run(n, "ip", "-4", "-o", "addr", "show", "eth0"), " "+vip+"/") {
					on = append(on, n)
				}
			}
			return on
		}
		h.run("node1", "systemctl", "start", "keepalived")
		h.run("node2", "systemctl", "start", "keepalived")
		eventually(t, 20*time.Second, "VIP on node1 alone", func() (bool, string) {
			on := holders()
			return len(on) == 1 && on[0] == "node1", fmt.Sprintf("VIP on %v", on)
		})
		// node2 hears node1's adverts: it stays BACKUP well past the
		// master-down interval (3 adverts + skew) and never takes the VIP.
		time.Sleep(5 * time.Second)
		if on := holders(); len(on) != 1 || on[0] != "node1" {
			t.Fatalf("VIP on %v after 5s: VRRP adverts do not cross the bridge", on)
		}
		journal := h.run("node2", "journalctl", "-u", "keepalived", "--no-pager", "-o", "cat")
		if !strings.Contains(journal, "Entering BACKUP STATE") || strings.Contains(journal, "Entering MASTER STATE") {
			t.Errorf("node2's keepalived did not stay BACKUP:\n%s", journal)
		}
		// Failover: node1's keepalived stops, node2 takes the VIP.
		h.run("node1", "systemctl", "stop", "keepalived")
		eventually(t, 15*time.Second, "VIP moved to node2", func() (bool, string) {
			on := holders()
			return len(on) == 1 && on[0] == "node2", fmt.Sprintf("VIP on %v", on)
		})
		st, err := l.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.VIPHolders) != 1 || st.VIPHolders[0] != "node2" {
			t.Errorf("lab status VIP holders = %v, want [node2]", st.VIPHolders)
		}
		h.run("node2", "systemctl", "stop", "keepalived")
	})

	t.Run("UpIsIdempotent", func(t *testing.T) {
		kh1, _ := os.ReadFile(filepath.Join(opts.StateDir, "known_hosts"))
		start := time.Now()
		st2, err := l.Up(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("second up took %s", took)
		}
		for i, hs := range st2.Hosts {
			if hs.NspawnPID != st.Hosts[i].NspawnPID || !hs.Running {
				t.Errorf("%s was restarted or is down: %+v (before %+v)", hs.Name, hs, st.Hosts[i])
			}
		}
		kh2, _ := os.ReadFile(filepath.Join(opts.StateDir, "known_hosts"))
		if string(kh1) != string(kh2) {
			t.Error("second up rewrote the host keys")
		}
		// A different lab while this one runs is refused.
		other := opts
		other.StateDir = filepath.Join(t.TempDir(), "other")
		if _, err := l.Up(context.Background(), other); err == nil || !strings.Contains(err.Error(), "another lab is running") {
			t.Errorf("up of a second lab: %v", err)
		}
	})

	t.Run("UpAfterCrash", func(t *testing.T) {
		cur, err := l.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var old []int
		for _, hs := range cur.Hosts {
			if hs.InitPID == 0 {
				t.Fatalf("%s: no container init found", hs.Name)
			}
			old = append(old, hs.NspawnPID, hs.InitPID)
			// The crash: nspawn dies, its container is orphaned.
			if err := syscall.Kill(hs.NspawnPID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 5*time.Second, "status sees the crash", func() (bool, string) {
			s, err := l.Status(context.Background())
			return err == nil && !s.Up && len(s.Leftovers) > 0, fmt.Sprintf("%+v %v", s, err)
		})
		st3, err := l.Up(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if !st3.Up {
			t.Fatalf("not up after the crash: %+v", st3)
		}
		for _, pid := range old {
			if pidRunning(pid) {
				t.Errorf("process %d of the crashed lab still runs", pid)
			}
		}
		h := connect(t, inventoryFile)
		if got := h.run("node3", "hostname"); got != "node3" {
			t.Errorf("node3 hostname = %q", got)
		}
		// Fresh overlays: the marker of the crashed lab is gone.
		if fi, err := h.targets["node1"].Stat(context.Background(), "/root/pgplay-e2e-marker"); err != nil || fi.Exists {
			t.Errorf("node1 kept the crashed lab's files: %+v %v", fi, err)
		}
	})

	t.Run("AbandonedLabIsBroughtDown", func(t *testing.T) {
		// A test binary killed by its timeout (or by the end of a CI job)
		// leaves its lab up; the next run must not wait for it for ever.
		if gone, _ := abandoned(opts.StateDir); gone {
			t.Fatal("this test's own lab counts as abandoned while the test runs")
		}
		tracked := labPIDs(t, l)
		gone := exec.Command("true")
		if err := gone.Run(); err != nil {
			t.Fatal(err)
		}
		mark := fmt.Sprintf("%d 1\n", gone.Process.Pid)
		if err := os.WriteFile(filepath.Join(opts.StateDir, ownerFile), []byte(mark), 0o600); err != nil {
			t.Fatal(err)
		}
		waitNoLab(t, time.Minute)
		assertNoLab(t, tracked, before)
		// Up again, as this test's, for the subtests that follow.
		markOwner(t, opts.StateDir)
		if _, err := l.Up(context.Background(), opts); err != nil {
			t.Fatalf("lab up: %v", err)
		}
	})

	t.Run("DownLeavesNothing", func(t *testing.T) {
		tracked := labPIDs(t, l)
		// Harshest case: the state directory and the runtime record are
		// gone; down finds everything by the name prefix.
		if err := os.RemoveAll(opts.StateDir); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(lab.DefaultPaths().Run, "lab.json")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := l.Down(context.Background(), opts.StateDir); err != nil {
			t.Fatal(err)
		}
		t.Logf("down took %s", time.Since(start))
		assertNoLab(t, tracked, before)
		// A second down has nothing to do.
		if err := l.Down(context.Background(), opts.StateDir); err != nil {
			t.Errorf("second down: %v", err)
		}
		if st, err := l.Status(context.Background()); err != nil || st.Exists {
			t.Errorf("status after down: %+v %v", st, err)
		}
	})

	t.Run("RefusesRoutedSubnet", func(t *testing.T) {
		subnet := "203.0.113.0/24"
		if out, err := exec.Command("ip", "route", "add", "blackhole", subnet).CombinedOutput(); err != nil {
			t.Fatalf("ip route add blackhole %s: %v: %s", subnet, err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "route", "del", "blackhole", subnet).Run() })
		o := opts
		o.Subnet = netip.MustParsePrefix(subnet)
		_, err := l.Up(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "already in use") || !strings.Contains(err.Error(), "blackhole "+subnet) {
			t.Fatalf("up on a routed subnet: %v", err)
		}
		assertNoLab(t, nil, before)
	})
}

// nspawnRuntime lists what is in systemd-nspawn's runtime directory.
func nspawnRuntime(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	_ = filepath.Walk("/run/systemd/nspawn", func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			out[p] = true
		}
		return nil
	})
	return out
}

// assertNoLab checks that nothing of a lab is left: namespaces, links,
// mounts, cgroups, the tracked processes, nspawn's runtime files, the
// lab's directories.
func assertNoLab(t *testing.T, tracked []int, nspawnBefore map[string]bool) {
	t.Helper()
	if out, _ := exec.Command("ip", "netns", "list").CombinedOutput(); strings.Contains(string(out), "pglab-") {
		t.Errorf("network namespaces left: %s", out)
	}
	if out, _ := exec.Command("ip", "-o", "link", "show").CombinedOutput(); strings.Contains(string(out), "pglab-") {
		t.Errorf("links left: %s", out)
	}
	mounts, _ := os.ReadFile("/proc/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, "pglab-") || strings.Contains(line, "pgplay-lab") {
			t.Errorf("mount left: %s", line)
		}
	}
	if cgs, _ := filepath.Glob("/sys/fs/cgroup/*/pglab-*"); len(cgs) > 0 {
		t.Errorf("cgroups left: %v", cgs)
	}
	if cgs, _ := filepath.Glob("/sys/fs/cgroup/pglab-*"); len(cgs) > 0 {
		t.Errorf("cgroups left: %v", cgs)
	}
	for _, pid := range tracked {
		if pidRunning(pid) {
			t.Errorf("process %d still runs", pid)
		}
	}
	for p := range nspawnRuntime(t) {
		if !nspawnBefore[p] {
			t.Errorf("systemd-nspawn runtime file left: %s", p)
		}
	}
	for _, d := range []string{"/run/pgplay-lab", "/var/lib/pgplay-lab"} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left (%v)", d, err)
		}
	}
}
