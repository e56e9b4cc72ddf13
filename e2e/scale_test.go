//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/inventory"
)

// The day-2 operations of docs/operations.md's "Rolling restart and minor
// upgrades" and "Scale out and in", run by TestDayTwo on its cluster
// (node1 the primary) in this order: testRollingRestart, testRemoveNode,
// testScaleOut.

// withInventory returns c acting with another inventory file (for pgplay
// runs and status; the write loads stay on c, so their run numbers stay
// unique).
func (c *foCluster) withInventory(t *testing.T, path string) *foCluster {
	t.Helper()
	inv, err := inventory.Load(path)
	if err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	hh := *c.h
	hh.inv = inv
	cc := *c
	cc.inv, cc.h = path, &hh
	return &cc
}

// inventoryWithout writes a copy of the lab inventory without host and
// returns its path.
func (c *foCluster) inventoryWithout(t *testing.T, host string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "inventory-without-"+host+".yaml")
	editInventory(t, c.inv, dst, func(all map[string]any) {
		for _, g := range all["children"].(map[string]any) {
			if hosts, ok := g.(map[string]any)["hosts"].(map[string]any); ok {
				delete(hosts, host)
			}
		}
	})
	return dst
}

// segments checks a run of writes in which the primary moved along want
// (e.g. node1, node2, node1): every acknowledged commit is on final, and
// the commits, in the order the servers acknowledged them, come from the
// nodes of want in that order, never interleaved (two primaries never
// took writes at the same time). It returns the pauses through the VIP
// longer than a second, and the longest.
func (r *faultRun) segments(t *testing.T, final string, want ...string) (pauses []string, longest time.Duration) {
	t.Helper()
	c := r.c
	rows := append(r.vip.rows(t, c), r.old.rows(t, c)...)
	if len(rows) == 0 {
		t.Fatal("no commit acknowledged")
	}
	have := r.onFinal(t, final)
	lost := 0
	for _, a := range rows {
		if !have[[2]int{a.run, a.id}] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d ACKNOWLEDGED COMMITS LOST (not on the final primary %s)", lost, final)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].at < rows[j].at })
	var seq []string
	byNode := map[string]int{}
	for _, a := range rows {
		byNode[a.node]++
		if len(seq) == 0 || seq[len(seq)-1] != a.node {
			seq = append(seq, a.node)
		}
	}
	if len(seq) > len(want) || strings.Join(seq, ",") != strings.Join(want[:len(seq)], ",") {
		t.Errorf("the nodes acknowledged commits in the order %v; want %v, never interleaved", seq, want)
	}
	vip := r.vip.rows2(rows)
	f := float64(r.at.UnixNano()) / 1e9
	for i := 1; i < len(vip); i++ {
		g := time.Duration((vip[i].at - vip[i-1].at) * float64(time.Second))
		if g > longest {
			longest = g
		}
		if g > time.Second {
			pauses = append(pauses, fmt.Sprintf("%.1f s at +%.0f s (%s -> %s)", g.Seconds(), vip[i-1].at-f, vip[i-1].node, vip[i].node))
		}
	}
	t.Logf("RESULT %s: %d commits acknowledged (%v), %d lost; primaries in order %v; pauses through the VIP over 1 s: %v; longest %s",
		t.Name(), len(rows), byNode, lost, seq, pauses, longest.Round(10*time.Millisecond))
	return pauses, longest
}

// refusal returns the failure of a run's text output: from its "failed:"
// line to the recap.
func refusal(out string) string {
	i := strings.Index(out, "failed: [")
	j := strings.Index(out, "PLAY RECAP")
	if i < 0 || j < i {
		return out
	}
	return strings.TrimSpace(out[i:j])
}

// testRollingRestart runs rolling_restart.yaml with upgrade=true (the lab
// has no newer package: the upgrade path runs and changes nothing) under
// a write load: the standbys restart one at a time, node1 hands over to
// node2, restarts as a standby and takes over again.
func testRollingRestart(t *testing.T, c *foCluster) {
	out, code := c.pgplay(t, "run", "playbooks/rolling_restart.yaml", "-i", c.inv, "-e", "new_primary=node3")
	if code == 0 || !strings.Contains(out, "-e rolling_to=NODE") || !strings.Contains(out, "Nothing was changed") {
		t.Errorf("rolling_restart.yaml -e new_primary=node3: exit %d, want a refusal pointing at rolling_to\n%s", code, out)
	}
	tl := func(n string) int {
		v, _ := strconv.Atoi(c.hosts(t).sql(n, "postgres", "SELECT timeline_id FROM pg_control_checkpoint()"))
		return v
	}
	tl0 := tl("node1")
	r := c.underLoad(t, "node1", 150)
	start := time.Now()
	// The lab's hosts have no route to a Debian mirror: apt's lists are not
	// refreshed (apt_update_cache=false); upgrade=true still asks apt.
	out, code = c.pgplay(t, "run", "playbooks/rolling_restart.yaml", "-i", c.inv, "-e", "upgrade=true", "-e", "apt_update_cache=false")
	took := time.Since(start)
	t.Logf("rolling_restart.yaml -e upgrade=true (%s):\n%s", took.Round(100*time.Millisecond), out)
	if code != 0 {
		t.Fatalf("rolling_restart.yaml: exit %d", code)
	}
	c.timeline(t, start, "node1", "node2", "node3")
	reported := regexp.MustCompile(`writes paused ([0-9.]+) s`).FindAllStringSubmatch(out, -1)
	if len(reported) != 2 || !strings.Contains(out, "node2 is the primary and holds the VIP") || !strings.Contains(out, "node1 is the primary and holds the VIP") {
		t.Errorf("rolling_restart.yaml does not report a switchover to node2 and one back to node1 (%d pauses reported)", len(reported))
	}
	for _, n := range []string{"node2", "node3", "node1"} {
		if !strings.Contains(out, n+" restarted (up to date: ") {
			t.Errorf("rolling_restart.yaml does not report %s restarted with its packages up to date", n)
		}
	}
	if strings.Contains(out, "upgraded: ") {
		t.Errorf("rolling_restart.yaml upgraded a package in the lab (it has no newer one)")
	}
	pauses, longest := r.segments(t, "node1", "node1", "node2", "node1")
	var rep []string
	for _, m := range reported {
		rep = append(rep, m[1]+" s")
	}
	t.Logf("RESULT %s: %s in %s; writes paused %v (reported by the switchovers); the writer's pauses over 1 s: %v, longest %s",
		t.Name(), "rolling restart with upgrade=true", took.Round(time.Second), rep, pauses, longest.Round(10*time.Millisecond))
	// Writes never pause longer than a switchover: the standbys' restarts
	// do not stop them (a standby's clean stop hands the synchronous role
	// to the next standby at once).
	long := 0
	for _, p := range pauses {
		if s, err := strconv.ParseFloat(strings.Fields(p)[0], 64); err == nil && s > 5 {
			long++
		}
	}
	if long > 2 {
		t.Errorf("%d pauses in writes over 5 s; want at most the two switchovers'", long)
	}
	if longest > 30*time.Second {
		t.Errorf("writes paused %s, longer than a switchover may take", longest.Round(10*time.Millisecond))
	}
	if got := tl("node1"); got != tl0+2 {
		t.Errorf("node1's timeline is %d after the rolling restart, want %d (two promotions)", got, tl0+2)
	}
	c.expectHealthy(t, "node1", "node2", "node3")
}

// testRemoveNode takes node3 out under a write load, then runs site.yaml
// with an inventory without it.
func testRemoveNode(t *testing.T, c *foCluster) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "name the standby to take out of the cluster"},
		{[]string{"-e", "node=node9"}, "node=node9 is not a node of the inventory's postgres group"},
		{[]string{"-e", "node=node1"}, "node1 is the primary: remove_node.yaml takes standbys out"},
	} {
		out, code := c.pgplay(t, append([]string{"run", "playbooks/remove_node.yaml", "-i", c.inv}, tc.args...)...)
		if code == 0 || !strings.Contains(out, tc.want) || !strings.Contains(out, "Nothing was changed") {
			t.Errorf("remove_node.yaml %v: exit %d, want a refusal saying %q\n%s", tc.args, code, tc.want, out)
		}
		t.Logf("remove_node.yaml %v: exit %d:\n%s", tc.args, code, refusal(out))
	}
	nodeID := func(h, id string) string {
		return c.hosts(t).sql(h, "repmgr", "SELECT count(*) FROM repmgr.nodes WHERE node_id = "+id)
	}
	if nodeID("node1", "3") != "1" {
		t.Fatalf("node3 is not registered with repmgr before the test")
	}
	r := c.underLoad(t, "node1", 40)
	start := time.Now()
	out, code := c.pgplay(t, "run", "playbooks/remove_node.yaml", "-i", c.inv, "-e", "node=node3")
	t.Logf("remove_node.yaml -e node=node3 (%s):\n%s", time.Since(start).Round(100*time.Millisecond), out)
	if code != 0 || !strings.Contains(out, "node3 is out of the cluster") {
		t.Fatalf("remove_node.yaml -e node=node3: exit %d", code)
	}
	v := r.check(t, "node1")
	if v.byNode["node1"] != v.acks {
		t.Errorf("commits acknowledged by %v; want all by node1", v.byNode)
	}
	if s := c.ssn(t, "node1"); strings.Contains(s, "node3") || !strings.Contains(s, "node2") {
		t.Errorf("synchronous_standby_names on node1 after removing node3: %q", s)
	}
	if rec := c.hosts(t).sql("node1", "repmgr", "SELECT members || '|' || coalesce(want, '') FROM pgplay.sync"); strings.Contains(rec, "node3") {
		t.Errorf("pgplay.sync still names node3: %q (a failover would wait for it)", rec)
	}
	if nodeID("node1", "3") != "0" {
		t.Errorf("node3 is still in repmgr.nodes")
	}
	for _, n := range []string{"node1", "node2"} {
		if s := c.hosts(t).sql(n, "postgres", "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'repmgr_slot_3'"); s != "0" {
			t.Errorf("%s still has node3's replication slot", n)
		}
		if ha := c.hosts(t).run(n, "cat", "/etc/pgplay/ha.conf"); strings.Contains(ha, "node3 3 ") || strings.Contains(ha, "198.51.100.13") {
			t.Errorf("%s's ha.conf still names node3:\n%s", n, ha)
		}
	}
	for _, unit := range []string{"keepalived", "pgplay-watch"} {
		a, _ := c.hosts(t).try("node3", "systemctl", "is-active", unit)
		e, _ := c.hosts(t).try("node3", "systemctl", "is-enabled", unit)
		if a != "inactive" || e != "disabled" {
			t.Errorf("%s on node3 after its removal: %s, %s; want inactive, disabled", unit, a, e)
		}
	}
	if ls := c.hosts(t).run("node3", "pg_lsclusters", "--no-header"); !strings.Contains(ls, "down") {
		t.Errorf("PostgreSQL on node3 after its removal: %s", ls)
	}
	if sc := c.startConf(t, "node3"); sc != "manual" {
		t.Errorf("node3's start.conf: %q, want manual", sc)
	}
	// node2 is the last synchronous standby now: taking it out too would
	// leave every commit waiting.
	out, code = c.pgplay(t, "run", "playbooks/remove_node.yaml", "-i", c.inv, "-e", "node=node2")
	if code == 0 || !strings.Contains(out, "node2 is the only synchronous standby candidate") || !strings.Contains(out, "Nothing was changed") {
		t.Errorf("remove_node.yaml -e node=node2 (the last synchronous standby): exit %d, want a refusal\n%s", code, out)
	}
	t.Logf("remove_node.yaml -e node=node2: exit %d:\n%s", code, refusal(out))
	// A second run changes nothing.
	if rr := pgplayRun(t, c.work, "playbooks/remove_node.yaml", "-i", c.inv, "-e", "node=node3"); rr.code != 0 {
		t.Errorf("remove_node.yaml a second time: exit %d\n%s", rr.code, rr.failures())
	} else {
		for h, n := range rr.changed(t) {
			if n != 0 {
				t.Errorf("remove_node.yaml a second time: %s changed=%d: %v", h, n, rr.changes())
			}
		}
	}

	// The host leaves the inventory: the cluster is healthy with two
	// nodes, and site.yaml converges without it.
	cc := c.withInventory(t, c.inventoryWithout(t, "node3"))
	cc.expectHealthy(t, "node1", "node2")
	for i := 1; i <= 2; i++ {
		rr := pgplayRun(t, c.work, "playbooks/site.yaml", "-i", cc.inv)
		rr.requireOK(t, fmt.Sprintf("site.yaml without node3 (run %d)", i))
		t.Logf("site.yaml without node3, run %d: changed %v", i, rr.changes())
		// editInventory writes the groups sorted (barman first), which
		// reorders ha.conf's WITNESSES: that file (and pgplay-watch's
		// restart) is all the first run may change.
		for _, ch := range rr.changes() {
			if i == 1 && !strings.Contains(ch, "(ha.conf)") && !strings.Contains(ch, "restart pgplay-watch") {
				t.Errorf("site.yaml without node3 changed %s", ch)
			}
		}
		if i == 2 {
			for h, n := range rr.changed(t) {
				if n != 0 {
					t.Errorf("the second site.yaml without node3: %s changed=%d", h, n)
				}
			}
		}
	}
	cc.expectHealthy(t, "node1", "node2")
	if s, _ := c.hosts(t).try("node3", "systemctl", "is-active", "keepalived"); s != "inactive" {
		t.Errorf("keepalived on node3 after site.yaml without it: %s", s)
	}
}

// testScaleOut makes node3 a new host (an empty cluster, as installing
// postgresql-15 leaves one; no pgplay state) and adds it back: site.yaml
// with the lab inventory clones it from the primary, under a write load,
// without restarting the primary.
func testScaleOut(t *testing.T, c *foCluster) {
	h := c.hosts(t)
	h.run("node3", "pg_dropcluster", "--stop", "15", "main")
	h.run("node3", "pg_createcluster", "--start", "15", "main")
	h.run("node3", "rm", "-rf", "/var/lib/pgplay", "/etc/pgplay")
	started := h.sql("node1", "postgres", "SELECT pg_postmaster_start_time()")
	r := c.underLoad(t, "node1", 60)
	start := time.Now()
	rr := pgplayRun(t, c.work, "playbooks/site.yaml", "-i", c.inv)
	rr.requireOK(t, "site.yaml with node3 back in the inventory")
	t.Logf("site.yaml adding node3 (%s): changed %v", time.Since(start).Round(100*time.Millisecond), rr.changes())
	v := r.check(t, "node1")
	if v.byNode["node1"] != v.acks {
		t.Errorf("commits acknowledged by %v; want all by node1", v.byNode)
	}
	if now := h.sql("node1", "postgres", "SELECT pg_postmaster_start_time()"); now != started {
		t.Errorf("the primary node1 was restarted while node3 was added (started %s, now %s)", started, now)
	}
	rep := c.expectHealthy(t, "node1", "node2", "node3")
	if n := node(rep, "node3"); n.VRRPState != "BACKUP" || n.StartConf != "auto" {
		t.Errorf("node3 after scale out: keepalived %s, start.conf %q; want BACKUP, auto", n.VRRPState, n.StartConf)
	}
	if a, b := h.sql("node1", "postgres", "SELECT system_identifier FROM pg_control_system()"), h.sql("node3", "postgres", "SELECT system_identifier FROM pg_control_system()"); a != b {
		t.Errorf("node3 is not a clone of node1 (system identifiers %s, %s)", b, a)
	}
	if s := c.ssn(t, "node1"); !strings.Contains(s, "node3") {
		t.Errorf("synchronous_standby_names on node1 after adding node3: %q", s)
	}
	for _, n := range []string{"node1", "node2"} {
		if ha := h.run(n, "cat", "/etc/pgplay/ha.conf"); !strings.Contains(ha, "node3 3 198.51.100.13") {
			t.Errorf("%s's ha.conf does not name node3:\n%s", n, ha)
		}
	}
	eventually(t, 20*time.Second, "pgplay.sync names node3", func() (bool, string) {
		rec := h.sql("node1", "repmgr", "SELECT members FROM pgplay.sync")
		return strings.Contains(rec, "node3"), rec
	})
	rr = pgplayRun(t, c.work, "playbooks/site.yaml", "-i", c.inv)
	rr.requireOK(t, "the second site.yaml after adding node3")
	for host, n := range rr.changed(t) {
		if n != 0 {
			t.Errorf("the second site.yaml after adding node3: %s changed=%d: %v", host, n, rr.changes())
		}
	}
	c.expectHealthy(t, "node1", "node2", "node3")
}
