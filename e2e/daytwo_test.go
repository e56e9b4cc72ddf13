//go:build e2e

package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/lab"
)

// TestDayTwo runs the day-2 operations of docs/operations.md on a lab
// cluster under a write load that records every acknowledged commit:
// maintenance mode (a stopped standby and a restarted primary cause no
// failover), a switchover to node2 and one back to node1 (no commit lost,
// the pause in writes measured), and site.yaml with the unchanged
// inventory at the end; a restore drill onto the lab's spare host.
func TestDayTwo(t *testing.T) {
	c := labCluster(t, func(o *lab.Options) { o.Spares = 1 })
	c.deploy(t)
	c.expectHealthy(t, "node1", "node2", "node3")
	dump := func(t *testing.T) {
		for _, n := range []string{"node1", "node2", "node3"} {
			t.Logf("%s:\n%s", n, c.logs(t, n))
		}
		c.dumpWaiting(t)
	}

	if !t.Run("MaintenanceMode", func(t *testing.T) {
		out, code := c.pgplay(t, "run", "playbooks/maintenance.yaml", "-i", c.inv, "-e", "maintenance=on", "-e", `maintenance_reason="kernel update"`)
		if code != 0 || !strings.Contains(out, "automatic failover is paused") {
			t.Fatalf("maintenance.yaml -e maintenance=on: exit %d\n%s", code, out)
		}
		c.statusLevel(t, 30*time.Second, 1, "maintenance mode is on for every node (node1, node2, node3)", "kernel update", "maintenance=off")
		if out, _ := c.pgplay(t, "run", "playbooks/maintenance.yaml", "-i", c.inv, "-e", "maintenance=on"); !strings.Contains(out, "changed=0") {
			t.Errorf("maintenance=on a second time changes something:\n%s", out)
		}
		r := c.underLoad(t, "node1", 60)
		// A standby stopped for 8 s, then the primary restarted, then
		// keepalived stopped on the primary: none of it fails over.
		c.hosts(t).run("node3", "systemctl", "stop", "postgresql@15-main")
		time.Sleep(8 * time.Second)
		c.hosts(t).run("node3", "systemctl", "start", "postgresql@15-main")
		c.hosts(t).run("node1", "systemctl", "restart", "postgresql@15-main")
		time.Sleep(15 * time.Second) // a failover takes 10-13 s
		c.hosts(t).run("node1", "systemctl", "stop", "keepalived")
		time.Sleep(10 * time.Second)
		if on := c.vipIn(t); len(on) != 0 {
			t.Errorf("keepalived stopped on the primary in maintenance mode: the VIP is on %v; want on no node (a standby does not take it)", on)
		}
		for _, n := range []string{"node2", "node3"} {
			if rec := c.hosts(t).sql(n, "postgres", "SELECT pg_is_in_recovery()"); rec != "t" {
				t.Errorf("%s promoted during maintenance mode (pg_is_in_recovery: %s)\n%s", n, rec, c.logs(t, n))
			}
		}
		if s, _ := c.hosts(t).try("node1", "systemctl", "is-active", "keepalived"); s != "inactive" {
			t.Errorf("keepalived stopped on the primary in maintenance mode is %s: pgplay-watch must leave it stopped", s)
		}
		c.hosts(t).run("node1", "systemctl", "start", "keepalived")
		eventually(t, 20*time.Second, "the VIP back on node1", func() (bool, string) {
			on := c.vipIn(t)
			return len(on) == 1 && on[0] == "node1", fmt.Sprint(on)
		})
		v := r.check(t, "node1")
		if v.byNode["node1"] != v.acks {
			t.Errorf("commits acknowledged by %v; want all by node1 (no failover in maintenance mode)", v.byNode)
		}
		if tl := c.hosts(t).sql("node1", "postgres", "SELECT timeline_id FROM pg_control_checkpoint()"); tl != "1" {
			t.Errorf("node1's timeline is %s after maintenance: a failover happened", tl)
		}
		out, code = c.pgplay(t, "run", "playbooks/maintenance.yaml", "-i", c.inv, "-e", "maintenance=off")
		if code != 0 || !strings.Contains(out, "automatic failover is active again") {
			t.Fatalf("maintenance.yaml -e maintenance=off: exit %d\n%s", code, out)
		}
		c.expectHealthy(t, "node1", "node2", "node3")
		// A wrong value is refused before any change.
		out, code = c.pgplay(t, "run", "playbooks/maintenance.yaml", "-i", c.inv, "-e", "maintenance=maybe")
		if code == 0 || !strings.Contains(out, "maintenance=maybe: say on or off") {
			t.Errorf("maintenance=maybe: exit %d\n%s", code, out)
		}
	}) {
		dump(t)
		return
	}

	if !t.Run("SwitchoverRefuses", func(t *testing.T) {
		for _, tc := range []struct{ arg, want string }{
			{"new_primary=node1", "node1 is the primary already"},
			{"new_primary=node9", "new_primary=node9: name the standby to make the primary"},
		} {
			out, code := c.pgplay(t, "run", "playbooks/switchover.yaml", "-i", c.inv, "-e", tc.arg)
			if code == 0 || !strings.Contains(out, tc.want) || !strings.Contains(out, "Nothing was changed") {
				t.Errorf("switchover.yaml -e %s: exit %d, want a refusal saying %q\n%s", tc.arg, code, tc.want, out)
			}
		}
		// An unhealthy cluster: a standby stopped.
		c.hosts(t).run("node3", "systemctl", "stop", "postgresql@15-main")
		out, code := c.pgplay(t, "run", "playbooks/switchover.yaml", "-i", c.inv, "-e", "new_primary=node2")
		c.hosts(t).run("node3", "systemctl", "start", "postgresql@15-main")
		if code == 0 || !strings.Contains(out, "the cluster is not healthy") || !strings.Contains(out, "node3") {
			t.Errorf("switchover.yaml with node3 stopped: exit %d, want a refusal naming node3\n%s", code, out)
		}
		c.expectHealthy(t, "node1", "node2", "node3")
	}) {
		dump(t)
		return
	}

	pause := regexp.MustCompile(`writes paused ([0-9.]+) s`)
	switchover := func(t *testing.T, from, to, other string) {
		t.Helper()
		r := c.underLoad(t, from, 40)
		start := time.Now()
		out, code := c.pgplay(t, "run", "playbooks/switchover.yaml", "-i", c.inv, "-e", "new_primary="+to)
		took := time.Since(start)
		if code != 0 {
			t.Fatalf("switchover.yaml -e new_primary=%s: exit %d\n%s", to, code, out)
		}
		m := pause.FindStringSubmatch(out)
		if m == nil || !strings.Contains(out, to+" is the primary and holds the VIP") || !strings.Contains(out, from+" is a standby of "+to) {
			t.Errorf("switchover.yaml's report lacks the new primary, the pause or the rejoin:\n%s", out)
		}
		c.timeline(t, start, "node1", "node2", "node3")
		v := r.check(t, to)
		if v.byNode[from]+v.byNode[to] != v.acks {
			t.Errorf("commits acknowledged by %v; want only %s then %s", v.byNode, from, to)
		}
		c.expectHealthy(t, to, from, other)
		if s := c.ssn(t, to); !strings.Contains(s, from) || !strings.Contains(s, other) {
			t.Errorf("synchronous_standby_names on %s after the switchover: %q; want %s and %s", to, s, from, other)
		}
		p := "?"
		if m != nil {
			p = m[1]
		}
		t.Logf("RESULT %s: %s -> %s in %s; writes paused %s s (reported), longest pause seen by the writer %s",
			t.Name(), from, to, took.Round(100*time.Millisecond), p, v.maxGap.Round(10*time.Millisecond))
	}
	if !t.Run("Switchover", func(t *testing.T) { switchover(t, "node1", "node2", "node3") }) {
		dump(t)
		return
	}
	// The inventory still says node1 is the primary: site.yaml acts on the
	// cluster as it runs, changes nothing the second time, and leaves the
	// VIP on node2.
	if !t.Run("SiteAfterSwitchover", func(t *testing.T) {
		for i := 1; i <= 2; i++ {
			r := pgplayRun(t, c.work, "playbooks/site.yaml", "-i", c.inv)
			if r.code != 0 || !strings.Contains(r.raw, "node2 is the primary (the inventory says node1") {
				t.Fatalf("site.yaml (run %d) with the inventory unchanged after the switchover: exit %d\n%s", i, r.code, r.raw)
			}
			if i == 1 {
				t.Logf("site.yaml after the switchover changed: %v", r.changes())
				for _, ch := range r.changes() {
					if strings.Contains(ch, "rank track file") {
						t.Errorf("site.yaml reset a keepalived rank while the primary is not the inventory's: %s", ch)
					}
				}
			}
			if i == 2 {
				for h, n := range r.changed(t) {
					if n != 0 {
						t.Errorf("the second site.yaml after the switchover: %s changed=%d: %v", h, n, r.changes())
					}
				}
			}
		}
		if on := c.vipIn(t); len(on) != 1 || on[0] != "node2" {
			t.Errorf("the VIP after site.yaml: on %v, want node2", on)
		}
		c.expectHealthy(t, "node2", "node1", "node3")
		// A former primary left stopped (no standby.signal) is not started
		// as a second primary: site.yaml stops before any change.
		c.hosts(t).run("node1", "systemctl", "stop", "postgresql@15-main")
		c.hosts(t).run("node1", "mv", "/var/lib/postgresql/15/main/standby.signal", "/root/standby.signal")
		out, code := c.pgplay(t, "run", "playbooks/site.yaml", "-i", c.inv)
		c.hosts(t).run("node1", "mv", "/root/standby.signal", "/var/lib/postgresql/15/main/standby.signal")
		c.hosts(t).run("node1", "systemctl", "start", "postgresql@15-main")
		if code == 0 || !strings.Contains(out, "node1: stopped (or fenced) and not a standby, while node2 is the primary") || !strings.Contains(out, "rejoin.yaml -i INVENTORY --limit node1") {
			t.Errorf("site.yaml with node1 stopped as a former primary: exit %d; want a refusal naming node1 and the rejoin\n%s", code, out)
		}
		if rec := c.hosts(t).sql("node1", "postgres", "SELECT pg_is_in_recovery()"); rec != "t" {
			t.Errorf("node1 after the refusal: pg_is_in_recovery %s", rec)
		}
		c.expectHealthy(t, "node2", "node1", "node3")
	}) {
		dump(t)
		return
	}
	if !t.Run("SwitchoverBack", func(t *testing.T) { switchover(t, "node2", "node1", "node3") }) {
		dump(t)
		return
	}
	// Back where the inventory says: site.yaml runs with it unchanged.
	if out, code := c.pgplay(t, "run", "playbooks/site.yaml", "-i", c.inv); code != 0 {
		t.Fatalf("site.yaml after the switchovers: exit %d\n%s", code, out)
	}
	c.expectHealthy(t, "node1", "node2", "node3")

	// Rolling restart, scale in and out (e2e/scale_test.go).
	for _, st := range []struct {
		name string
		f    func(*testing.T, *foCluster)
	}{{"RollingRestart", testRollingRestart}, {"RemoveNode", testRemoveNode}, {"ScaleOut", testScaleOut}} {
		if !t.Run(st.name, func(t *testing.T) { st.f(t, c) }) {
			dump(t)
			return
		}
	}
	if !t.Run("RestoreDrill", func(t *testing.T) { restoreDrill(t, c) }) {
		dump(t)
		return
	}
}
