//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/lab"
	"github.com/pgplay/pgplay/internal/status"
	"github.com/pgplay/pgplay/internal/transport"
)

// ackWriterScript runs on backup1: single-row commits to $1 (the VIP or a
// node's address) for $4 seconds, one psql session at a time, a new one
// when a session ends. After each INSERT the same session prints "ID
// EPOCH TIMELINE HOST": psql runs that SELECT only after the server said
// the commit is done, so the output lists exactly the acknowledged
// commits and which server acknowledged each ($2 output file, $3 run
// number). No statement_timeout: a cancelled wait for synchronous
// replication reports the commit as done although no standby has it; a
// session that hangs is killed at the deadline instead (no line printed:
// not acknowledged). The client does what docs/operations.md asks of
// applications: connect_timeout and tcp_user_timeout.
const ackWriterScript = `target=$1 out=$2 run=$3 deadline=$(( $(date +%s) + $4 ))
: > "$out"; : > "$out.err"
i=1
while [ "$(date +%s)" -lt "$deadline" ]; do
  left=$(( deadline - $(date +%s) ))
  awk -v s="$i" -v r="$run" 'BEGIN { for (j = s; j < s + 100000; j++)
      printf "INSERT INTO pgplay_load (run, id) VALUES (%d, %d);\nSELECT %d, extract(epoch FROM clock_timestamp()), substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8), trim(pg_read_file(%c/etc/hostname%c));\nSELECT pg_sleep(0.01) \\g /dev/null\n", r, j, j, 39, 39 }' |
    PGPASSFILE=/var/lib/barman/.pgpass timeout -s KILL "$left" stdbuf -oL \
      psql -XAtq -v ON_ERROR_STOP=1 -F ' ' "host=$target user=barman dbname=postgres connect_timeout=2 tcp_user_timeout=2000 keepalives_idle=2 keepalives_interval=1 keepalives_count=2" >> "$out" 2>> "$out.err"
  last=$(awk '$1 ~ /^[0-9]+$/ && $1 + 0 > m { m = $1 + 0 } END { print m + 0 }' "$out")
  i=$((last + 1))
  sleep 0.1
done
exit 0`

// ackLoad is one run of ackWriterScript.
type ackLoad struct {
	run    int
	target string // the VIP or a node's name
	out    string
	done   chan error
}

// ackRow is one acknowledged commit. at is the server's clock in the
// SELECT that follows the commit in the same session: an upper bound of
// the commit's time (a node frozen between the commit and that SELECT
// answers it only when thawed). after is the at of the writer's previous
// row (0 for its first): the INSERT was sent after it, a lower bound.
type ackRow struct {
	run, id  int
	at       float64
	timeline string
	node     string
	after    float64
}

// startAckLoad starts ackWriterScript against addr for secs seconds.
func (c *foCluster) startAckLoad(t *testing.T, addr, label string, secs int) *ackLoad {
	t.Helper()
	c.runs++
	l := &ackLoad{run: c.runs, target: label, out: fmt.Sprintf("/tmp/pgplay-ack-%d", c.runs), done: make(chan error, 1)}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+60)*time.Second)
		defer cancel()
		res, err := c.h.targets["backup1"].Query(ctx, transport.Cmd{
			Argv: []string{"sh", "-c", ackWriterScript, "sh", addr, l.out, strconv.Itoa(l.run), strconv.Itoa(secs)}, Dir: "/"})
		if err == nil && res.RC != 0 {
			err = fmt.Errorf("the writer failed (exit %d): %s", res.RC, res.Stderr)
		}
		l.done <- err
	}()
	return l
}

// rows waits for the writer to end and returns its acknowledged commits.
func (l *ackLoad) rows(t *testing.T, c *foCluster) []ackRow {
	t.Helper()
	select {
	case err := <-l.done:
		if err != nil {
			t.Errorf("writer to %s: %v", l.target, err)
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("the writer to %s did not end", l.target)
	}
	return l.read(t, c)
}

// read returns the commits the writer acknowledged so far, from its
// output file on backup1.
func (l *ackLoad) read(t *testing.T, c *foCluster) []ackRow {
	t.Helper()
	var rows []ackRow
	for _, line := range strings.Split(c.hosts(t).run("backup1", "cat", l.out), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			continue
		}
		id, err1 := strconv.Atoi(f[0])
		at, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		rows = append(rows, ackRow{l.run, id, at, f[2], f[3], 0})
	}
	// One writer, one statement at a time, each line printed when its
	// commit is acknowledged: the file is in the order the commits were
	// sent.
	for i := 1; i < len(rows); i++ {
		rows[i].after = rows[i-1].at
	}
	return rows
}

// onFinal returns the (run, id) of every row of both writers that the
// final primary holds.
func (r *faultRun) onFinal(t *testing.T, final string) map[[2]int]bool {
	t.Helper()
	have := map[[2]int]bool{}
	for _, run := range []int{r.vip.run, r.old.run} {
		ids := r.c.hosts(t).sql(final, "postgres", fmt.Sprintf("SELECT string_agg(DISTINCT id::text, ',') FROM pgplay_load WHERE run = %d", run))
		for _, s := range strings.Split(ids, ",") {
			if id, err := strconv.Atoi(s); err == nil {
				have[[2]int{run, id}] = true
			}
		}
	}
	return have
}

// count returns how many commits the writer has acknowledged so far.
func (l *ackLoad) count(t *testing.T, c *foCluster) int {
	out, _ := c.hosts(t).try("backup1", "sh", "-c", "wc -l < "+l.out)
	k, _ := strconv.Atoi(strings.TrimSpace(out))
	return k
}

// faultRun is one fault under load: a writer through the VIP and one
// straight at the primary, both recording who acknowledged each commit.
type faultRun struct {
	c        *foCluster
	primary  string
	at       time.Time
	vip, old *ackLoad
}

// underLoad starts both writers for secs seconds and waits until both
// have commits acknowledged.
func (c *foCluster) underLoad(t *testing.T, primary string, secs int) *faultRun {
	t.Helper()
	addr := fmt.Sprint(c.h.inv.Hosts[primary].Vars["ssh_host"])
	r := &faultRun{c: c, primary: primary,
		vip: c.startAckLoad(t, c.vip, "the VIP", secs),
		old: c.startAckLoad(t, addr, primary, secs)}
	eventually(t, 30*time.Second, "both writers have commits acknowledged", func() (bool, string) {
		a, b := r.vip.count(t, c), r.old.count(t, c)
		return a >= 20 && b >= 20, fmt.Sprintf("VIP %d, %s %d", a, primary, b)
	})
	r.at = time.Now()
	return r
}

// verdict is what a fault run showed.
type verdict struct {
	acks   int
	rto    time.Duration // failure -> first commit acknowledged through the VIP by final
	maxGap time.Duration // longest pause between two commits acknowledged through the VIP
	byNode map[string]int
}

// check waits for both writers and checks the invariants: every
// acknowledged commit is on final, no two nodes acknowledged commits in
// overlapping periods, and commits through the VIP were acknowledged by
// final after the failure.
func (r *faultRun) check(t *testing.T, final string) verdict {
	t.Helper()
	c := r.c
	rows := append(r.vip.rows(t, c), r.old.rows(t, c)...)
	v := verdict{acks: len(rows), byNode: map[string]int{}}
	if len(rows) == 0 {
		t.Fatal("no commit acknowledged")
	}
	// 1. zero loss: every acknowledged (run, id) is on the final primary.
	have := r.onFinal(t, final)
	var lost []string
	for _, a := range rows {
		if !have[[2]int{a.run, a.id}] {
			lost = append(lost, fmt.Sprintf("%d/%d by %s at %.2f", a.run, a.id, a.node, a.at-float64(r.at.UnixNano())/1e9))
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d ACKNOWLEDGED COMMITS LOST (not on the final primary %s), e.g. %v", len(lost), final, lost[:min(len(lost), 8)])
	}
	// 2. no overlap: each node's acknowledgements form one period, and
	// the periods do not overlap.
	type span struct {
		node        string
		first, last float64
	}
	spans := map[string]*span{}
	for _, a := range rows {
		v.byNode[a.node]++
		s := spans[a.node]
		if s == nil {
			spans[a.node] = &span{a.node, a.at, a.at}
			continue
		}
		s.first, s.last = min(s.first, a.at), max(s.last, a.at)
	}
	var ss []*span
	for _, s := range spans {
		ss = append(ss, s)
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].first < ss[j].first })
	// A commit of an earlier node must not have been sent after a later
	// node acknowledged one: then both took writes at the same time. (Its
	// acknowledgement may come later: the node was frozen between the
	// commit and the SELECT that reports it.)
	rel := func(x float64) float64 { return x - float64(r.at.UnixNano())/1e9 }
	for i := 1; i < len(ss); i++ {
		for _, a := range rows {
			if a.node != ss[i-1].node || a.after <= ss[i].first {
				continue
			}
			var near []string
			for _, b := range rows {
				if b.run == a.run && b.id >= a.id-2 && b.id <= a.id+1 {
					near = append(near, fmt.Sprintf("%d/%d %s %+.2f (after %+.2f)", b.run, b.id, b.node, rel(b.at), rel(b.after)))
				}
			}
			t.Errorf("two nodes took writes at the same time: %s acknowledged commit %d/%d sent after %+.2f s, after %s had acknowledged one at %+.2f s (%s %+.2f..%+.2f, %s %+.2f..%+.2f s after the fault); the writer's rows around it: %s",
				a.node, a.run, a.id, rel(a.after), ss[i].node, rel(ss[i].first),
				ss[i-1].node, rel(ss[i-1].first), rel(ss[i-1].last), ss[i].node, rel(ss[i].first), rel(ss[i].last), strings.Join(near, "; "))
			break
		}
	}
	// 3. writes work again: through the VIP, on final, after the fault;
	// the RTO and the longest pause.
	vipRows := r.vip.rows2(rows)
	f := float64(r.at.UnixNano()) / 1e9
	prev := 0.0
	for _, a := range vipRows {
		if prev > 0 && a.at > f-1 {
			if g := time.Duration((a.at - prev) * float64(time.Second)); g > v.maxGap {
				v.maxGap = g
			}
		}
		prev = a.at
		if v.rto == 0 && a.at > f && a.node == final && (r.primary != final || prevNode(vipRows, a) != final) {
			v.rto = time.Duration((a.at - f) * float64(time.Second))
		}
	}
	if len(vipRows) == 0 || vipRows[len(vipRows)-1].node != final || vipRows[len(vipRows)-1].at < f {
		errs, _ := c.hosts(t).try("backup1", "sh", "-c", "sort "+r.vip.out+".err | uniq -c | sort -rn | head -8; ip neigh show "+c.vip)
		t.Errorf("no commit through the VIP was acknowledged by %s after the fault (last: %+v); the writer's errors and ARP entry:\n%s", final, vipRows[max(0, len(vipRows)-1):], errs)
	}
	if r.primary == final {
		v.rto = v.maxGap
	}
	out, rc := c.hosts(t).try("backup1", "runuser", "-u", "barman", "--", "psql", "-XAtq",
		"host="+c.vip+" user=barman dbname=postgres connect_timeout=3", "-c", "INSERT INTO pgplay_load (run, id) VALUES (0, 1) RETURNING trim(pg_read_file('/etc/hostname'))")
	if rc != 0 || out != final {
		t.Errorf("a write through the VIP after the fault: exit %d, %q; want acknowledged by %s", rc, out, final)
	}
	spansTxt := ""
	for _, s := range ss {
		spansTxt += fmt.Sprintf(" %s %+.2f..%+.2f s (%d);", s.node, s.first-f, s.last-f, v.byNode[s.node])
	}
	t.Logf("RESULT %s: %d commits acknowledged, 0 lost: %v; acknowledged by:%s RTO (fault -> first commit through the VIP on %s) %s, longest pause %s",
		t.Name(), len(rows), len(lost) == 0, spansTxt, final, v.rto.Round(10*time.Millisecond), v.maxGap.Round(10*time.Millisecond))
	return v
}

// rows2 returns the rows of l among rows, in time order.
func (l *ackLoad) rows2(rows []ackRow) []ackRow {
	var out []ackRow
	for _, a := range rows {
		if a.run == l.run {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at < out[j].at })
	return out
}

// prevNode is the node that acknowledged the commit before a.
func prevNode(rows []ackRow, a ackRow) string {
	p := ""
	for _, b := range rows {
		if b.at >= a.at {
			break
		}
		p = b.node
	}
	return p
}

// statusLevel waits until `pgplay status` exits with level and its JSON
// holds each of want among its problems and warnings.
func (c *foCluster) statusLevel(t *testing.T, timeout time.Duration, level int, want ...string) *status.Report {
	t.Helper()
	var rep *status.Report
	c.eventually(t, timeout, fmt.Sprintf("pgplay status exits %d and says %q", level, want), func() (bool, string) {
		r, code, raw := c.status(t)
		rep = r
		if code != level {
			return false, fmt.Sprintf("exit %d\n%s", code, raw)
		}
		all := strings.Join(append(append([]string{}, r.Problems...), r.Warnings...), "\n")
		for _, w := range want {
			if !strings.Contains(all, w) {
				return false, fmt.Sprintf("no %q in\n%s", w, all)
			}
		}
		return true, ""
	})
	return rep
}

// netCut cuts host from peers (and back, with the function it returns):
// blackhole routes in host's network namespace to each peer's address and
// in each peer's to host's, so that no unicast packet (TCP, ping) goes
// between them, while VRRP's multicast adverts still pass and both still
// reach every other host (the clients' too): a partial partition. (The
// lab's kernel has no tc actions and no netfilter here.)
func (c *foCluster) netCut(t *testing.T, host string, peers ...string) func() {
	t.Helper()
	addr := func(h string) string { return fmt.Sprint(c.h.inv.Hosts[h].Vars["ssh_host"]) + "/32" }
	type route struct{ ns, dst string }
	var routes []route
	for _, p := range peers {
		routes = append(routes, route{host, addr(p)}, route{p, addr(host)})
	}
	var added []route
	undo := func() {
		for _, r := range added {
			_ = exec.Command("ip", "-n", lab.Prefix+r.ns, "route", "del", "blackhole", r.dst).Run()
		}
		added = nil
	}
	for _, r := range routes {
		if out, err := exec.Command("ip", "-n", lab.Prefix+r.ns, "route", "add", "blackhole", r.dst).CombinedOutput(); err != nil {
			undo()
			t.Fatalf("cutting %s from %v (%s: blackhole %s): %v: %s", host, peers, r.ns, r.dst, err, out)
		}
		added = append(added, r)
	}
	return undo
}

// dead makes host silent (or alive again): its processes frozen and its
// NIC down. A frozen host's kernel would go on answering ARP for the VIP
// it held, which a dead host does not.
func dead(t *testing.T, host string, isDead bool) {
	t.Helper()
	if !isDead {
		if out, err := exec.Command("ip", "-n", lab.Prefix+host, "link", "set", "eth0", "up").CombinedOutput(); err != nil {
			t.Errorf("%s's eth0 up: %v: %s", host, err, out)
		}
	}
	freeze(t, host, isDead)
	if isDead {
		if out, err := exec.Command("ip", "-n", lab.Prefix+host, "link", "set", "eth0", "down").CombinedOutput(); err != nil {
			t.Fatalf("%s's eth0 down: %v: %s", host, err, out)
		}
	}
}

// waitJournal waits until host's HA journal since at holds what.
func (c *foCluster) waitJournal(t *testing.T, timeout time.Duration, what string, at time.Time, hosts ...string) string {
	t.Helper()
	found := ""
	c.eventually(t, timeout, "a node logs "+what, func() (bool, string) {
		for _, h := range hosts {
			if strings.Contains(c.journal(h, "--since", fmt.Sprintf("@%d", at.Unix())), what) {
				found = h
				return true, ""
			}
		}
		return false, ""
	})
	return found
}

// syncStandby returns which of the two standbys `pgplay status` shows as
// the synchronous one, and the other.
func (c *foCluster) syncStandby(t *testing.T, standbys []string) (sync, other string) {
	t.Helper()
	rep, _, _ := c.status(t)
	for _, n := range standbys {
		if node(rep, n).SyncState == "sync" {
			sync = n
		} else {
			other = n
		}
	}
	if sync == "" || other == "" {
		t.Fatalf("want a synchronous and another standby among %v in status: %+v", standbys, rep.Nodes)
	}
	return sync, other
}

// TestFailoverFaults is the fault matrix of docs/operations.md ("What
// failover guarantees"): each fault under a write load through the VIP
// and straight at the primary, whose client records which server
// acknowledged each commit. Each asserts that every acknowledged commit is
// on the final primary, that no two nodes acknowledged commits in
// overlapping periods, that writes work at the end, and what `pgplay
// status` says; it logs a RESULT line with the RTO.
func TestFailoverFaults(t *testing.T) {
	c := deployedCluster(t)
	cur, others := "node1", []string{"node2", "node3"}
	c.expectHealthy(t, cur, others...)
	eventually(t, 30*time.Second, "the primary records its synchronous standbys (pgplay.sync)", func() (bool, string) {
		m, _ := c.hosts(t).try(cur, "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d", "repmgr", "-c", "SELECT members FROM pgplay.sync")
		return m == "node2,node3", m
	})
	dump := func(t *testing.T) {
		for _, n := range []string{"node1", "node2", "node3"} {
			pglog, _ := c.hosts(t).try(n, "tail", "-n", "25", "/var/log/postgresql/postgresql-15-main.log")
			t.Logf("%s:\n%s\nPostgreSQL log:\n%s", n, c.logs(t, n), pglog)
		}
		c.dumpWaiting(t)
	}
	// failed moves the roles after a failover to p, victim out.
	failed := func(victim, p string) {
		cur, others = p, append(without(without([]string{"node1", "node2", "node3"}, p), victim), victim)
	}
	healthyAgain := func(t *testing.T, victim string) {
		t.Helper()
		c.rejoin(t, victim, cur, without(others, victim)...)
		c.statusLevel(t, 60*time.Second, 0)
	}
	// failedOver: a standby became the primary, no acknowledged commit of
	// r is lost, the old primary is fenced, then rejoined.
	failedOver := func(t *testing.T, r *faultRun, victim string) {
		t.Helper()
		p := c.newPrimary(t, others...)
		failed(victim, p)
		r.check(t, cur)
		c.timeline(t, r.at, "node1", "node2", "node3")
		c.statusLevel(t, 90*time.Second, 1, victim+" is fenced")
		healthyAgain(t, victim)
	}

	// A primary frozen for 2 s (a short stall): no failover, no loss.
	if !t.Run("FrozenPrimary2sNoFailover", func(t *testing.T) {
		r := c.underLoad(t, cur, 25)
		freeze(t, cur, true)
		time.Sleep(2 * time.Second)
		freeze(t, cur, false)
		v := r.check(t, cur)
		if v.byNode[cur] != v.acks {
			t.Errorf("commits acknowledged by %v; want all by %s (no failover)", v.byNode, cur)
		}
		c.expectHealthy(t, cur, others...)
	}) {
		dump(t)
		return
	}

	// A primary frozen until the candidate has frozen the standbys, then
	// thawed in the middle of the promotion: the thawed primary cannot
	// get a commit acknowledged any more; the candidate promotes.
	if !t.Run("FrozenPrimaryThawsMidPromotion", func(t *testing.T) {
		victim := cur
		r := c.underLoad(t, cur, 40)
		freeze(t, victim, true)
		thawed := false
		defer func() {
			if !thawed {
				freeze(t, victim, false)
			}
		}()
		who := c.waitJournal(t, 30*time.Second, "froze the WAL receivers", r.at, others...)
		freeze(t, victim, false)
		thawed = true
		t.Logf("%s thawed %s after the freeze, as %s froze the standbys", victim, time.Since(r.at).Round(10*time.Millisecond), who)
		// The candidate may find that another standby has a few bytes of
		// WAL more (the old primary's last message reached one standby
		// only) and decline in its favour: it gives the freezes back, and
		// the thawed old primary, alive again, gets its standbys back
		// before the other standby takes the VIP: it keeps its role and
		// nothing is promoted. Safe as well; the checks are the same
		// (no commit lost, no overlap, writes work), with the old primary
		// as the final one.
		time.Sleep(20 * time.Second)
		since := fmt.Sprintf("@%d", r.at.Unix())
		promoted := false
		for _, h := range others {
			if strings.Contains(c.journal(h, "--since", since), "pg_promote:") {
				promoted = true
			}
		}
		if !promoted && strings.Contains(c.journal(who, "--since", since), "it should be promoted") {
			t.Logf("%s declined in favour of a standby with more WAL and gave the freezes back; the thawed %s kept its role", who, victim)
			c.newPrimary(t, victim)
			r.check(t, victim)
			c.expectHealthy(t, victim, others...)
			return
		}
		failedOver(t, r, victim)
	}) {
		dump(t)
		return
	}

	// Frozen for 15 s: thawed after the promotion, it finds itself stale
	// and is fenced.
	if !t.Run("FrozenPrimary15s", func(t *testing.T) {
		victim := cur
		r := c.underLoad(t, cur, 35)
		freeze(t, victim, true)
		time.Sleep(15 * time.Second)
		freeze(t, victim, false)
		failedOver(t, r, victim)
	}) {
		dump(t)
		return
	}

	// The primary and its synchronous standby die together (frozen: silent
	// hosts), the other standby may lack acknowledged commits: it refuses
	// to promote and status says so. The synchronous standby comes back:
	// the failover completes with nothing lost.
	if !t.Run("PrimaryAndSyncStandbyDieTogether", func(t *testing.T) {
		syncSb, other := c.syncStandby(t, others)
		victim := cur
		r := c.underLoad(t, cur, 60)
		dead(t, victim, true)
		dead(t, syncSb, true)
		thawedSync, thawedVictim := false, false
		defer func() {
			if !thawedSync {
				dead(t, syncSb, false)
			}
			if !thawedVictim {
				dead(t, victim, false)
			}
		}()
		c.waitJournal(t, 40*time.Second, "REFUSING to promote", r.at, other)
		c.statusLevel(t, 30*time.Second, 2, "refuses to promote", "promote.yaml")
		if on := c.vipIn(t); len(on) > 0 && on[0] == other {
			if out := c.hosts(t).sql(other, "postgres", "SELECT pg_is_in_recovery()"); out != "t" {
				t.Fatalf("%s promoted without %s", other, syncSb)
			}
		}
		out, code := c.pgplay(t, "run", "playbooks/promote.yaml", "-i", c.inv, "--limit", other)
		if code != 2 || !strings.Contains(out, "force=true") || strings.Contains(out, "changed:") {
			t.Errorf("promote.yaml without force: exit %d, want 2, the force=true hint and no change:\n%s", code, out)
		}
		time.Sleep(3 * time.Second)
		if s := c.hosts(t).sql(other, "postgres", "SELECT pg_is_in_recovery()"); s != "t" {
			t.Fatalf("%s promoted although %s, which may hold acknowledged commits, is gone", other, syncSb)
		}
		dead(t, syncSb, false)
		thawedSync = true
		c.reconnect(t, syncSb)
		p := c.newPrimary(t, others...)
		failed(victim, p)
		r.check(t, cur)
		dead(t, victim, false)
		thawedVictim = true
		c.reconnect(t, victim)
		c.timeline(t, r.at, "node1", "node2", "node3")
		c.statusLevel(t, 90*time.Second, 1, victim+" is fenced")
		healthyAgain(t, victim)
	}) {
		dump(t)
		return
	}

	// The primary is cut from the standbys (unicast; VRRP adverts pass)
	// but not from the clients' host: it cannot commit, its check fails
	// (nostandby) and it gives the VIP up within seconds; a standby takes
	// over; the old primary acknowledges nothing more.
	if !t.Run("PartialPartition", func(t *testing.T) {
		victim := cur
		r := c.underLoad(t, cur, 35)
		heal := c.netCut(t, victim, others...)
		defer heal()
		p := c.newPrimary(t, others...)
		c.eventually(t, 15*time.Second, victim+" gives the VIP up", func() (bool, string) {
			on := c.vipIn(t)
			return len(on) == 1 && on[0] == p, fmt.Sprintf("VIP on %v", on)
		})
		t.Logf("VIP on %s only after %s", p, time.Since(r.at).Round(100*time.Millisecond))
		failed(victim, p)
		r.check(t, cur)
		c.timeline(t, r.at, "node1", "node2", "node3")
		heal()
		c.statusLevel(t, 90*time.Second, 1, victim+" is fenced")
		healthyAgain(t, victim)
	}) {
		dump(t)
		return
	}

	// keepalived stopped on a healthy primary: pgplay-watch starts it
	// again, the VIP comes back, writes through it within 15 s.
	if !t.Run("KeepalivedStoppedOnPrimary", func(t *testing.T) {
		r := c.underLoad(t, cur, 30)
		// (pgplay-watch may start it again before systemd finished
		// stopping it: the stop job is then cancelled)
		if out, rc := c.hosts(t).try(cur, "systemctl", "stop", "keepalived"); rc != 0 && !strings.Contains(out, "canceled") {
			t.Fatalf("%s: systemctl stop keepalived: exit %d: %s", cur, rc, out)
		}
		v := r.check(t, cur)
		if v.maxGap > 15*time.Second {
			t.Errorf("writes through the VIP paused %s, want at most 15 s", v.maxGap)
		}
		c.expectHealthy(t, cur, others...)
	}) {
		dump(t)
		return
	}

	// The only candidate lacks WAL the synchronous standby has (its WAL
	// receiver was stopped while the other confirmed commits), and that
	// standby cannot take the VIP (its keepalived is stopped): when the
	// primary crashes, the candidate catches up from the frozen standby
	// and promotes, nothing lost. (Handing over instead would leave no
	// one to promote: the candidate would step down again and again.)
	if !t.Run("CandidateBehindCatchesUp", func(t *testing.T) {
		syncSb, behind := c.syncStandby(t, others)
		h := c.hosts(t)
		victim := cur
		h.run(syncSb, "systemctl", "stop", "keepalived")
		h.run(behind, "systemctl", "stop", "pgplay-watch")
		defer func() {
			c.hosts(t).try(syncSb, "systemctl", "start", "keepalived")
			c.hosts(t).try(behind, "systemctl", "start", "pgplay-watch")
		}()
		r := c.underLoad(t, cur, 40)
		h.sql(behind, "postgres", "ALTER SYSTEM SET primary_conninfo = ''")
		h.sql(behind, "postgres", "SELECT pg_reload_conf()")
		time.Sleep(3 * time.Second)
		lag := h.sql(cur, "postgres", "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)), -1) FROM pg_stat_replication WHERE application_name = '"+behind+"'")
		t.Logf("%s stopped receiving; the primary is %s bytes ahead of it", behind, lag)
		h.run(victim, "sh", "-c", "kill -9 $(head -n 1 /var/lib/postgresql/15/main/postmaster.pid)")
		p := c.newPrimary(t, behind)
		failed(victim, p)
		r.check(t, cur)
		c.timeline(t, r.at, "node1", "node2", "node3")
		if j := c.journal(behind, "--since", fmt.Sprintf("@%d", r.at.Unix())); !strings.Contains(j, "caught up from "+syncSb) {
			t.Errorf("%s's promotion log does not say it caught up from %s:\n%s", behind, syncSb, j)
		}
		c.hosts(t).run(syncSb, "systemctl", "start", "keepalived")
		c.hosts(t).run(behind, "systemctl", "start", "pgplay-watch")
		healthyAgain(t, victim)
	}) {
		dump(t)
		return
	}

	// A synchronous standby frozen for 12 s: the primary drops it from
	// synchronous_standby_names within seconds, commits go on with the
	// other standby; it comes back when thawed.
	t.Run("SyncStandbyFrozen", func(t *testing.T) {
		syncSb, _ := c.syncStandby(t, others)
		r := c.underLoad(t, cur, 30)
		freeze(t, syncSb, true)
		time.Sleep(12 * time.Second)
		freeze(t, syncSb, false)
		v := r.check(t, cur)
		if v.maxGap > 6*time.Second {
			t.Errorf("commits paused %s while the synchronous standby was frozen, want under 6 s", v.maxGap)
		}
		c.expectHealthy(t, cur, others...)
		if ssn := c.ssn(t, cur); !strings.Contains(ssn, syncSb) {
			t.Errorf("synchronous_standby_names on %s = %q: %s did not come back", cur, ssn, syncSb)
		}
	})
}
