//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/lab"
	"github.com/pgplay/pgplay/internal/status"
	"github.com/pgplay/pgplay/internal/transport"
)

// failoverTarget is the time from a primary's failure to the first commit
// acknowledged through the VIP by the new primary that the issue aims at;
// failoverLimit fails the test (the lab shares 2 cores with other work).
const (
	failoverTarget = 10 * time.Second
	failoverLimit  = 30 * time.Second
)

// writerScript runs on backup1: N single-row commits through the VIP
// ($1 VIP, $2 N, $3 output file, $4 run number, $5 seconds allowed), one
// psql session at a time; when a session ends (the primary went away) the
// next one starts at the first row not acknowledged. After each INSERT the
// same session reads the row id, the time and the server's timeline: that
// line is printed only once the INSERT's commit was acknowledged (psql
// runs the next statement after the server said the commit is done), so
// the output lists exactly the acknowledged commits ("ID EPOCH TIMELINE").
// The client does what docs/operations.md asks of applications: connect
// with a timeout, and give up a connection whose server stopped
// acknowledging (tcp_user_timeout), so that a session on a primary cut
// off the network ends in seconds, not after TCP's retransmissions.
const writerScript = `vip=$1 n=$2 out=$3 run=$4 deadline=$(( $(date +%s) + $5 ))
: > "$out"; : > "$out.err"
i=1
while [ "$i" -le "$n" ] && [ "$(date +%s)" -lt "$deadline" ]; do
  awk -v s="$i" -v e="$n" -v r="$run" 'BEGIN { for (j = s; j <= e; j++)
      printf "INSERT INTO pgplay_load (run, id) VALUES (%d, %d);\nSELECT %d, extract(epoch FROM clock_timestamp()), substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8);\n", r, j, j }' |
    runuser -u barman -- psql -XAtq -v ON_ERROR_STOP=1 -F ' ' "host=$vip user=barman dbname=postgres connect_timeout=2 tcp_user_timeout=2000 keepalives_idle=2 keepalives_interval=1 keepalives_count=2" >> "$out" 2>> "$out.err"
  last=$(tail -n 1 "$out" | cut -d' ' -f1)
  [ -n "$last" ] && i=$((last + 1))
  sleep 0.05
done
[ "$i" -gt "$n" ]`

// foCluster drives the deployed cluster of TestFailover.
type foCluster struct {
	t      *testing.T
	h      *labHosts
	inv    string // the lab inventory
	work   string // pgplay's working directory (no content on disk)
	vip    string
	bridge string
	runs   int
	// waiting is the last unmet condition of c.eventually: a dump prints
	// it last, so that the reason of a timeout is next to the FAIL line
	// (CI shows the end of the output only).
	waiting string
}

// eventually is eventually that remembers what it waited for in
// c.waiting until it holds.
func (c *foCluster) eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	eventually(t, timeout, what, func() (bool, string) {
		ok, detail := cond()
		if !ok {
			c.waiting = fmt.Sprintf("%s (for at most %s): %s", what, timeout, detail)
		}
		return ok, detail
	})
	c.waiting = ""
}

// dumpWaiting logs the condition a timed-out c.eventually waited for.
func (c *foCluster) dumpWaiting(t *testing.T) {
	if c.waiting != "" {
		t.Logf("the condition that was not met: %s", c.waiting)
	}
}

// pgplay runs the pgplay binary with args from c.work and returns its
// combined output and exit code.
func (c *foCluster) pgplay(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pgplayBinary(t), args...)
	cmd.Dir = c.work
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("pgplay %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), 0
}

// status runs `pgplay status --output json` and decodes its report.
func (c *foCluster) status(t *testing.T) (*status.Report, int, string) {
	t.Helper()
	out, code := c.pgplay(t, "status", "-i", c.inv, "--output", "json", "--connect-timeout", "3s")
	var rep status.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("pgplay status --output json: exit %d, not a JSON report: %v\n%s", code, err, out)
	}
	return &rep, code, out
}

// node returns the report's entry for name.
func node(rep *status.Report, name string) *status.Node {
	for _, n := range rep.Nodes {
		if n.Name == name {
			return n
		}
	}
	return &status.Node{Name: name}
}

// expectHealthy waits until `pgplay status` shows primary holding the VIP
// and each of standbys streaming from it, then checks what the human
// table says too: healthy (exit 0) when every node is named, else
// degraded (exit 1: a node is out).
func (c *foCluster) expectHealthy(t *testing.T, primary string, standbys ...string) *status.Report {
	t.Helper()
	var rep *status.Report
	want, line := 0, "cluster: healthy (primary "+primary+", VIP "+c.vip+" on it)"
	if len(standbys)+1 < len(c.h.inv.Groups["postgres"].Hosts) {
		want, line = 1, "cluster: degraded (primary "+primary+", VIP "+c.vip+" on it)"
	}
	c.eventually(t, 90*time.Second, "pgplay status: "+primary+" primary with the VIP, "+strings.Join(standbys, ", ")+" streaming from it", func() (bool, string) {
		r, code, raw := c.status(t)
		rep = r
		if code != want || r.Primary != primary || !node(r, primary).HasVIP {
			return false, fmt.Sprintf("exit %d\n%s", code, raw)
		}
		for _, s := range standbys {
			n := node(r, s)
			if n.Role != "standby" || !n.Streaming || n.Upstream != primary || n.SyncState == "" {
				return false, fmt.Sprintf("%s: %+v\n%s", s, *n, raw)
			}
		}
		return true, ""
	})
	out, code := c.pgplay(t, "status", "-i", c.inv)
	if code != want || !strings.Contains(out, line) {
		t.Errorf("pgplay status (table): exit %d, want %d and %q\n%s", code, want, line, out)
	}
	t.Logf("pgplay status:\n%s", out)
	return rep
}

// hosts returns the lab connections reporting failures to t (labHosts
// fails the test it was made for).
func (c *foCluster) hosts(t *testing.T) *labHosts {
	hh := *c.h
	hh.t = t
	return &hh
}

// reconnect replaces host's SSH connection by a new one (on a pool of its
// own): the old one may hang after the host's link was cut.
func (c *foCluster) reconnect(t *testing.T, host string) {
	t.Helper()
	pool := transport.NewPool()
	c.t.Cleanup(func() { _ = pool.Close() })
	eventually(t, 60*time.Second, "a new SSH connection to "+host, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tg, err := pool.Target(ctx, configOf(c.h.inv.Hosts[host]), becomeOf(c.h.inv.Hosts[host]))
		if err != nil {
			return false, err.Error()
		}
		c.h.targets[host] = tg
		return true, ""
	})
}

// ssn reads synchronous_standby_names on host.
func (c *foCluster) ssn(t *testing.T, host string) string {
	return c.hosts(t).sql(host, "postgres", "SHOW synchronous_standby_names")
}

// syncStates reads "name=sync_state" of the node standbys on primary.
func (c *foCluster) syncStates(t *testing.T, primary string) string {
	return c.hosts(t).sql(primary, "postgres", "SELECT string_agg(application_name || '=' || sync_state, ',' ORDER BY application_name) FROM pg_stat_replication WHERE application_name LIKE 'node%'")
}

// vipIn lists the lab hosts whose eth0 is up and holds the VIP, asked
// through their network namespaces from the controller (works while a
// host is cut off).
func (c *foCluster) vipIn(t *testing.T) []string {
	t.Helper()
	var on []string
	for _, n := range []string{"node1", "node2", "node3"} {
		out, err := exec.Command("ip", "-n", lab.Prefix+n, "-4", "-o", "addr", "show", "dev", "eth0", "up").CombinedOutput()
		if err != nil {
			continue // a killed host's namespace may be gone
		}
		if strings.Contains(string(out), " "+c.vip+"/") {
			on = append(on, n)
		}
	}
	return on
}

// load is one run of writerScript on backup1.
type load struct {
	c    *foCluster
	run  int
	n    int
	out  string
	done chan error
}

// startLoad starts n commits through the VIP and waits until some are
// acknowledged.
func (c *foCluster) startLoad(t *testing.T, n int) *load {
	t.Helper()
	c.runs++
	l := &load{c: c, run: c.runs, n: n, out: fmt.Sprintf("/tmp/pgplay-load-%d", c.runs), done: make(chan error, 1)}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		res, err := c.h.targets["backup1"].Query(ctx, transport.Cmd{
			Argv: []string{"sh", "-c", writerScript, "sh", c.vip, strconv.Itoa(n), l.out, strconv.Itoa(l.run), "240"}, Dir: "/"})
		if err == nil && res.RC != 0 {
			err = fmt.Errorf("the writer stopped before %d commits (exit %d)", n, res.RC)
		}
		l.done <- err
	}()
	eventually(t, 60*time.Second, "the write load acknowledges commits", func() (bool, string) {
		got, _ := c.hosts(t).try("backup1", "sh", "-c", "wc -l < "+l.out)
		k, _ := strconv.Atoi(strings.TrimSpace(got))
		return k >= n/5, fmt.Sprintf("%d acknowledged", k)
	})
	return l
}

// ack is one acknowledged commit.
type ack struct {
	id       int
	at       float64
	timeline string
}

// finish waits for the writer and returns the acknowledged commits.
func (l *load) finish(t *testing.T) []ack {
	t.Helper()
	select {
	case err := <-l.done:
		if err != nil {
			errs, _ := l.c.hosts(t).try("backup1", "sh", "-c", "sort "+l.out+".err | uniq -c | sort -rn | head -8")
			t.Errorf("write load: %v; its errors:\n%s", err, errs)
		}
	case <-time.After(5 * time.Minute):
		t.Fatalf("the write load did not end")
	}
	var acks []ack
	for _, line := range strings.Split(l.c.hosts(t).run("backup1", "cat", l.out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		id, err1 := strconv.Atoi(f[0])
		at, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			t.Errorf("unexpected line from the writer: %q", line)
			continue
		}
		acks = append(acks, ack{id, at, f[2]})
	}
	return acks
}

// failover measures, from the acknowledged commits, the time from the
// failure (at) to the first commit acknowledged on a new timeline, and
// checks that every acknowledged commit is on the new primary.
func (l *load) failover(t *testing.T, at time.Time, newPrimary string) time.Duration {
	t.Helper()
	acks := l.finish(t)
	if len(acks) == 0 {
		t.Fatal("no commit acknowledged")
	}
	oldTL := acks[0].timeline
	var first *ack
	for i := range acks {
		if acks[i].timeline != oldTL && acks[i].at > float64(at.UnixNano())/1e9 {
			first = &acks[i]
			break
		}
	}
	if first == nil {
		t.Fatalf("no commit was acknowledged on a new timeline after the failure (timeline %s throughout)", oldTL)
	}
	d := time.Duration((first.at - float64(at.UnixNano())/1e9) * float64(time.Second))
	// Every acknowledged commit is on the new primary: zero loss.
	rows := l.c.hosts(t).sql(newPrimary, "postgres", fmt.Sprintf("SELECT string_agg(DISTINCT id::text, ',') FROM pgplay_load WHERE run = %d", l.run))
	have := map[int]bool{}
	for _, s := range strings.Split(rows, ",") {
		if id, err := strconv.Atoi(s); err == nil {
			have[id] = true
		}
	}
	var missing []int
	for _, a := range acks {
		if !have[a.id] {
			missing = append(missing, a.id)
		}
	}
	sort.Ints(missing)
	if len(missing) > 0 {
		t.Errorf("%d acknowledged commits are missing on the new primary %s (first: %v)", len(missing), newPrimary, missing[:min(len(missing), 10)])
	}
	if len(acks) != l.n {
		t.Errorf("%d commits acknowledged, want %d", len(acks), l.n)
	}
	t.Logf("write load: %d commits acknowledged, all on %s; failure at %s, first commit on timeline %s after %s (old timeline %s)",
		len(acks), newPrimary, at.Format("15:04:05.000"), first.timeline, d.Round(10*time.Millisecond), oldTL)
	switch {
	case d > failoverLimit:
		t.Errorf("failover took %s: from the failure to the first write through the VIP on the new primary, want under %s (target %s)", d.Round(10*time.Millisecond), failoverLimit, failoverTarget)
	case d > failoverTarget:
		t.Logf("NOTE: failover took %s, over the %s target", d.Round(10*time.Millisecond), failoverTarget)
	}
	return d
}

// journal returns the HA scripts' journal on host, with journalctl's
// extra arguments; "" when the host does not answer (it may be cut off or
// dead: this never fails the test).
func (c *foCluster) journal(host string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	argv := append([]string{"journalctl", "-t", "pgplay", "-t", "pgplay-promote", "-t", "pgplay-watch", "-t", "pgplay-follow", "-t", "pgplay-check", "--no-pager", "-o", "short-unix"}, args...)
	res, err := c.h.targets[host].Query(ctx, transport.Cmd{Argv: argv})
	if err != nil || res.RC != 0 {
		return ""
	}
	return strings.TrimSpace(string(res.Stdout))
}

// logs returns the last lines of the HA scripts' journal on host (for
// failure messages).
func (c *foCluster) logs(_ *testing.T, host string) string {
	return c.journal(host, "-n", "40")
}

// timeline logs what the HA scripts of hosts did since at, merged in time
// order: how the failover went, step by step.
func (c *foCluster) timeline(t *testing.T, at time.Time, hosts ...string) {
	t.Helper()
	var lines []string
	for _, host := range hosts {
		if out := c.journal(host, "--since", fmt.Sprintf("@%d", at.Unix())); out != "" {
			lines = append(lines, strings.Split(out, "\n")...)
		}
	}
	sort.Strings(lines)
	var b strings.Builder
	for _, l := range lines {
		f := strings.SplitN(l, " ", 2)
		if ts, err := strconv.ParseFloat(f[0], 64); err == nil && len(f) == 2 {
			fmt.Fprintf(&b, "  +%5.2fs %s\n", ts-float64(at.UnixNano())/1e9, f[1])
		}
	}
	t.Logf("what the nodes did (seconds after the failure):\n%s", b.String())
}

// newPrimary waits until exactly one of candidates holds the VIP and
// `pgplay status` shows it the primary, and returns it.
func (c *foCluster) newPrimary(t *testing.T, candidates ...string) string {
	t.Helper()
	p := ""
	c.eventually(t, 90*time.Second, "one of "+strings.Join(candidates, ", ")+" is the primary and holds the VIP", func() (bool, string) {
		on := c.vipIn(t)
		if len(on) != 1 || !containsString(candidates, on[0]) {
			return false, fmt.Sprintf("VIP on %v", on)
		}
		rep, _, raw := c.status(t)
		if rep.Primary != on[0] {
			return false, raw
		}
		p = on[0]
		return true, ""
	})
	return p
}

// startConf reads host's start.conf setting.
func (c *foCluster) startConf(t *testing.T, host string) string {
	out, _ := c.hosts(t).try(host, "sh", "-c", "grep -v '^[[:space:]]*#' /etc/postgresql/15/main/start.conf | tr -d '[:space:]'")
	return out
}

// rejoin runs playbooks/rejoin.yaml on host and checks the cluster after.
func (c *foCluster) rejoin(t *testing.T, host, primary string, others ...string) {
	t.Helper()
	start := time.Now()
	out, code := c.pgplay(t, "run", "playbooks/rejoin.yaml", "-i", c.inv, "--limit", host)
	if code != 0 {
		t.Fatalf("rejoin.yaml --limit %s: exit %d\n%s\n%s", host, code, out, c.logs(t, host))
	}
	t.Logf("rejoin.yaml --limit %s: %s", host, time.Since(start).Round(100*time.Millisecond))
	if !strings.Contains(out, host+" is a standby of "+primary) {
		t.Errorf("rejoin.yaml does not report %s a standby of %s:\n%s", host, primary, out)
	}
	// The rejoined node ranks 10 below the lowest inventory priority of
	// the others, the same after every cycle (it used to drift down).
	low := 255
	for _, n := range without([]string{"node1", "node2", "node3"}, host) {
		if p, err := strconv.Atoi(fmt.Sprint(c.h.inv.Hosts[n].Vars["keepalived_priority"])); err == nil && p < low {
			low = p
		}
	}
	if want := fmt.Sprintf("keepalived priority %d (", low-10); !strings.Contains(out, want) {
		t.Errorf("rejoin.yaml of %s does not say %q:\n%s", host, want, out)
	}
	rep := c.expectHealthy(t, primary, append([]string{host}, others...)...)
	if n := node(rep, host); n.Fenced || n.VRRPState != "BACKUP" || n.StartConf != "auto" {
		t.Errorf("%s after rejoin: fenced %v, keepalived %s, start.conf %q; want not fenced, BACKUP, auto", host, n.Fenced, n.VRRPState, n.StartConf)
	}
	if s := c.hosts(t).sql(host, "postgres", "SELECT count(*) FROM pg_replication_slots"); s != "0" {
		t.Errorf("%s keeps %s replication slots after rejoin (stale: nothing streams from a standby)", host, s)
	}
	if ssn := c.ssn(t, primary); !strings.Contains(ssn, host) {
		t.Errorf("synchronous_standby_names on %s = %q: %s is not a candidate again", primary, ssn, host)
	}
	if on := c.vipIn(t); len(on) != 1 || on[0] != primary {
		t.Errorf("VIP on %v after rejoining %s, want %s only", on, host, primary)
	}
}

// TestFailover deploys the cluster once and takes it through the issue's
// scenarios in order, each starting from the state the previous one left:
// sync standby reassignment; failover when the primary's PostgreSQL stops
// (node1 -> node2, under a write load, timed); the old primary neither
// starting at boot nor coming back as a writable primary; rejoin refused
// on the primary, then node1 rejoined after its clean stop; failover after
// a crash of the primary (SIGKILL of node2's postmaster: -> node3, node1
// back in the cluster follows) and rejoin after that crash; failover when
// the primary's link is cut (node3 -> node1), node3 fenced and kept out
// when the link returns, rejoined; failover when the primary's whole
// container is killed (node1 -> node2). `pgplay status` is checked in
// each state.
// deployedCluster brings a lab up (once no other runs), deploys
// site.yaml on it and makes the table the writers fill.
func deployedCluster(t *testing.T) *foCluster {
	t.Helper()
	c := labCluster(t, nil)
	c.deploy(t)
	return c
}

// labCluster brings a lab up (once no other runs; mod changes its
// options) and connects to its hosts.
func labCluster(t *testing.T, mod func(*lab.Options)) *foCluster {
	t.Helper()
	_, opts, st := upLab(t, mod)
	c := &foCluster{t: t, inv: filepath.Join(opts.StateDir, "inventory.yaml"), work: t.TempDir(), bridge: st.Bridge}
	c.h = connect(t, c.inv)
	c.vip = fmt.Sprint(c.h.inv.Hosts["node1"].Vars["vip"])
	return c
}

// deploy runs site.yaml, makes the table the writers fill, and returns
// how long site.yaml took.
func (c *foCluster) deploy(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	if out, code := c.pgplay(t, "run", "playbooks/site.yaml", "-i", c.inv); code != 0 {
		t.Fatalf("site.yaml: exit %d\n%s", code, out)
	}
	d := time.Since(start)
	t.Logf("site.yaml: %s", d.Round(time.Second))
	c.h.sql("node1", "postgres", "CREATE TABLE pgplay_load (run int, id int, at timestamptz DEFAULT clock_timestamp())")
	return d
}

func TestFailover(t *testing.T) {
	c := deployedCluster(t)
	h := c.h
	h.run("backup1", "runuser", "-u", "barman", "--", "psql", "-XAtq", "host="+c.vip+" user=barman dbname=postgres connect_timeout=5", "-c", "SELECT 1")

	if !t.Run("Healthy", func(t *testing.T) {
		rep := c.expectHealthy(t, "node1", "node2", "node3")
		if s1, s2 := node(rep, "node2").SyncState, node(rep, "node3").SyncState; s1 != "sync" || s2 != "potential" {
			t.Errorf("status: node2 %s, node3 %s; want sync, potential", s1, s2)
		}
		for _, n := range rep.Nodes {
			if n.Check == "" || n.StartConf != "auto" || n.Fenced || n.LagBytes == nil && n.Role == "standby" {
				t.Errorf("status of %s: check %q, start.conf %q, fenced %v, lag %v", n.Name, n.Check, n.StartConf, n.Fenced, n.LagBytes)
			}
		}
		if len(rep.Barman) != 1 || rep.Barman[0].Backups < 1 || !rep.Barman[0].CheckOK {
			t.Errorf("status: barman %+v", rep.Barman)
		}
	}) {
		return
	}

	t.Run("SyncStandby", func(t *testing.T) {
		h := c.hosts(t)
		role := func(t *testing.T, args ...string) (string, int) {
			t.Helper()
			return c.pgplay(t, append([]string{"role", "sync_standby", "-i", c.inv}, args...)...)
		}
		// A standby is in pgplay.sync before the setting names it (a
		// candidate's copy of the record must name every standby that may
		// have confirmed a commit): with pgplay-watch, which otherwise
		// keeps the record in step with the setting, stopped, the role
		// records node3 itself.
		members := func() string { return h.sql("node1", "repmgr", "SELECT members FROM pgplay.sync") }
		if out, code := role(t, "-e", "sync_standbys=node2"); code != 0 || c.ssn(t, "node1") != "FIRST 1 (node2)" {
			t.Fatalf("sync_standbys=node2: exit %d, %q\n%s", code, c.ssn(t, "node1"), out)
		}
		eventually(t, 15*time.Second, "pgplay-watch records node2 only", func() (bool, string) {
			m := members()
			return m == "node2", m
		})
		h.run("node1", "systemctl", "stop", "pgplay-watch")
		out, code := role(t, "-e", "sync_standbys=node3,node2")
		m := members()
		h.run("node1", "systemctl", "start", "pgplay-watch")
		if m != "node2,node3" {
			t.Errorf("pgplay.sync members %q after sync_standbys=node3,node2 with pgplay-watch stopped, want node2,node3 (recorded before the setting names node3)", m)
		}
		if code != 0 || c.ssn(t, "node1") != "FIRST 1 (node3, node2)" || c.syncStates(t, "node1") != "node2=potential,node3=sync" {
			t.Fatalf("sync_standbys=node3,node2: exit %d, %q, %s\n%s", code, c.ssn(t, "node1"), c.syncStates(t, "node1"), out)
		}
		if rep := c.expectHealthy(t, "node1", "node2", "node3"); node(rep, "node3").SyncState != "sync" || node(rep, "node2").SyncState != "potential" {
			t.Errorf("status after the swap: node3 %s, node2 %s", node(rep, "node3").SyncState, node(rep, "node2").SyncState)
		}
		out, code = role(t, "-e", "sync_standbys=node2,node3", "-e", "sync_mode=ANY", "-e", "sync_count=1")
		if code != 0 || c.ssn(t, "node1") != "ANY 1 (node2, node3)" || c.syncStates(t, "node1") != "node2=quorum,node3=quorum" {
			t.Errorf("ANY 1: exit %d, %q, %s\n%s", code, c.ssn(t, "node1"), c.syncStates(t, "node1"), out)
		}
		out, code = role(t, "-e", "sync_standbys=node1,nodeX", "-e", "sync_count=3")
		for _, w := range []string{"node1 is the primary, not a standby", "nodeX is not a node of the postgres group", "sync_count 3 is more than the 2 standbys named"} {
			if code != 2 || !strings.Contains(out, w) {
				t.Errorf("bad names: exit %d, want 2 and %q:\n%s", code, w, out)
			}
		}
		// A named standby that is not connected: refused, nothing changed,
		// and commits never wait.
		h.run("node3", "systemctl", "stop", "postgresql@15-main")
		out, code = role(t, "-e", "sync_standbys=node3,node2")
		if code != 2 || !strings.Contains(out, "node3 is not connected to the primary node1") {
			t.Errorf("node3 stopped: exit %d, want 2 and a refusal naming node3:\n%s", code, out)
		}
		// (pgplay-watch drops the stopped node3 from the setting by itself)
		if s := c.ssn(t, "node1"); s != "ANY 1 (node2, node3)" && s != "ANY 1 (node2)" {
			t.Errorf("synchronous_standby_names changed to %q by a refused run", s)
		}
		h.sql("node1", "postgres", "INSERT INTO pgplay_load (run, id) VALUES (0, 0)") // does not hang
		h.run("node3", "systemctl", "start", "postgresql@15-main")
		eventually(t, 60*time.Second, "node3 streams again", func() (bool, string) {
			s := c.syncStates(t, "node1")
			return strings.Contains(s, "node3="), s
		})
		out, code = role(t, "-e", "sync_standbys=node2,node3")
		if code != 0 || c.ssn(t, "node1") != "FIRST 1 (node2, node3)" || c.syncStates(t, "node1") != "node2=sync,node3=potential" {
			t.Errorf("back to node2,node3: exit %d, %q, %s\n%s", code, c.ssn(t, "node1"), c.syncStates(t, "node1"), out)
		}
		c.expectHealthy(t, "node1", "node2", "node3")
	})

	if !t.Run("FailoverWhenPostgresStops", func(t *testing.T) {
		h := c.hosts(t)
		l := c.startLoad(t, 2000)
		at := time.Now()
		h.run("node1", "systemctl", "stop", "postgresql@15-main")
		c.expectHealthy(t, "node2", "node3")
		l.failover(t, at, "node2")
		c.timeline(t, at, "node1", "node2", "node3")
		if on := c.vipIn(t); len(on) != 1 || on[0] != "node2" {
			t.Errorf("VIP on %v, want node2 only", on)
		}
		rep, code, raw := c.status(t)
		if n := node(rep, "node1"); code != 1 || n.Role != "stopped" || n.VRRPState != "FAULT" || n.StartConf != "manual" {
			t.Errorf("status after the failover: exit %d, node1 %+v; want exit 1 (degraded), node1 stopped, FAULT, start.conf manual\n%s", code, *n, raw)
		}
		if ssn := c.ssn(t, "node2"); ssn != "FIRST 1 (node3)" {
			t.Errorf("synchronous_standby_names on node2 = %q, want FIRST 1 (node3)", ssn)
		}
		if logs := c.logs(t, "node2"); !strings.Contains(logs, "promoting node2") {
			t.Errorf("node2's journal does not show the promotion:\n%s", logs)
		}
	}) {
		t.Logf("node1:\n%s\nnode2:\n%s\nnode3:\n%s", c.logs(t, "node1"), c.logs(t, "node2"), c.logs(t, "node3"))
		return
	}

	t.Run("OldPrimaryStaysOut", func(t *testing.T) {
		h := c.hosts(t)
		// At boot the generator starts only clusters whose start.conf is
		// auto: node1's stays down.
		h.run("node1", "sh", "-c", "systemctl daemon-reload && systemctl start multi-user.target")
		time.Sleep(3 * time.Second)
		if out, rc := h.try("node1", "systemctl", "is-active", "postgresql@15-main"); rc == 0 {
			t.Errorf("node1's PostgreSQL started with the boot targets (%s): start.conf is %q", out, c.startConf(t, "node1"))
		}
		// Started by hand anyway, it comes up as a writable primary on the
		// old timeline: its health check finds it stale, pgplay-watch
		// fences it, and it never holds the VIP.
		// (pgplay-watch may stop it before systemd has finished starting
		// it: the start job is then cancelled.)
		if out, rc := h.try("node1", "systemctl", "start", "postgresql@15-main"); rc != 0 && !strings.Contains(out, "canceled") {
			t.Fatalf("starting node1's PostgreSQL by hand: exit %d: %s", rc, out)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			if on := c.vipIn(t); len(on) != 1 || on[0] != "node2" {
				t.Errorf("VIP on %v while the stale node1 runs, want node2 only", on)
			}
			_, rc := h.try("node1", "systemctl", "is-active", "postgresql@15-main")
			fence, _ := h.try("node1", "cat", "/var/lib/pgplay/fence")
			if rc != 0 && fence == "1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node1, a stale primary, is not fenced after 60 s (fence %q):\n%s", fence, c.logs(t, "node1"))
			}
			time.Sleep(500 * time.Millisecond)
		}
		rep, code, raw := c.status(t)
		if n := node(rep, "node1"); code != 1 || !n.Fenced || !strings.Contains(n.FenceReason, "stale") {
			t.Errorf("status: exit %d, node1 %+v; want fenced as stale\n%s", code, *n, raw)
		}
		if out, _ := c.pgplay(t, "status", "-i", c.inv); !strings.Contains(out, "node1 is fenced") || !strings.Contains(out, "rejoin.yaml -i INVENTORY --limit node1") {
			t.Errorf("status does not say node1 is fenced and how to bring it back:\n%s", out)
		}
	})

	t.Run("RejoinRefusesThePrimary", func(t *testing.T) {
		out, code := c.pgplay(t, "run", "playbooks/rejoin.yaml", "-i", c.inv, "--limit", "node2")
		if code != 2 || !strings.Contains(out, "node2 is the current primary") || !strings.Contains(out, "refuses to run against the current primary") {
			t.Errorf("rejoin.yaml --limit node2: exit %d, want 2 and a refusal:\n%s", code, out)
		}
		if strings.Contains(out, "changed:") {
			t.Errorf("the refused rejoin changed something:\n%s", out)
		}
		c.expectHealthy(t, "node2", "node3")
	})

	if !t.Run("RejoinAfterCleanStop", func(t *testing.T) {
		c.rejoin(t, "node1", "node2", "node3")
		if ssn := c.ssn(t, "node2"); ssn != "FIRST 1 (node3, node1)" {
			t.Errorf("synchronous_standby_names on node2 = %q, want FIRST 1 (node3, node1): the rejoined node comes last", ssn)
		}
	}) {
		return
	}

	t.Run("SyncStandbyFindsTheCurrentPrimary", func(t *testing.T) {
		// The inventory still says node1 is the primary: sync_standby asks
		// the nodes and changes node2, the primary now.
		out, code := c.pgplay(t, "role", "sync_standby", "-i", c.inv, "-e", "sync_standbys=node1,node3")
		if code != 0 || c.ssn(t, "node2") != "FIRST 1 (node1, node3)" || c.syncStates(t, "node2") != "node1=sync,node3=potential" {
			t.Errorf("sync_standbys=node1,node3 after the failover: exit %d, node2 %q, %s\n%s", code, c.ssn(t, "node2"), c.syncStates(t, "node2"), out)
		}
		out, code = c.pgplay(t, "role", "sync_standby", "-i", c.inv, "-e", "sync_standbys=node3,node1")
		if code != 0 || c.syncStates(t, "node2") != "node1=potential,node3=sync" {
			t.Errorf("back to node3,node1: exit %d, %s\n%s", code, c.syncStates(t, "node2"), out)
		}
	})

	// From here on, which standby becomes the primary depends on the WAL
	// each had received when the primary failed: the most advanced one is
	// promoted (a standby with less WAL declines), ties go to the higher
	// keepalived priority. cur is the primary, others the standbys.
	cur, others := "node2", []string{"node1", "node3"}
	failedOver := func(t *testing.T, l *load, at time.Time, victim string) {
		t.Helper()
		p := c.newPrimary(t, others...)
		t.Logf("%s failed; %s is the new primary", victim, p)
		cur, others = p, append(without(others, p), victim)
		l.failover(t, at, cur)
		c.timeline(t, at, "node1", "node2", "node3")
		c.expectHealthy(t, cur, without(others, victim)...)
	}

	if !t.Run("SecondFailoverAfterCrash", func(t *testing.T) {
		h := c.hosts(t)
		// node1 is back, with a lowered priority; node2's postmaster is
		// killed (a crash).
		l := c.startLoad(t, 1500)
		at := time.Now()
		h.run("node2", "sh", "-c", "kill -9 $(head -n 1 /var/lib/postgresql/15/main/postmaster.pid)")
		failedOver(t, l, at, "node2")
		if st := h.run("node2", "sh", "-c", "runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_controldata -D /var/lib/postgresql/15/main | sed -n 's/^Database cluster state: *//p'"); st != "in production" {
			t.Errorf("node2's cluster state after SIGKILL is %q, want in production (a crash)", st)
		}
		// The health check knows a crashed postmaster for certain (its
		// postmaster.pid is gone, or names a dead process) and faults at
		// once; it must not wait for its own psql to fail while it trusts
		// pgplay-watch's last answer.
		since := fmt.Sprintf("@%d", at.Unix()-1)
		var verdict string
		for _, line := range strings.Split(c.journal("node2", "-t", "pgplay-check", "--since", since, "-o", "cat"), "\n") {
			if strings.Contains(line, ": down (was primary)") {
				verdict = line
				break
			}
		}
		if !strings.Contains(verdict, "no postmaster.pid") && !strings.Contains(verdict, "postmaster (pid") {
			t.Errorf("node2's health check after SIGKILL of the postmaster said %q, want a certain down (no postmaster.pid, or its postmaster gone)", verdict)
		}
	}) {
		t.Logf("node1:\n%s\nnode2:\n%s\nnode3:\n%s", c.logs(t, "node1"), c.logs(t, "node2"), c.logs(t, "node3"))
		return
	}

	if !t.Run("RejoinAfterCrash", func(t *testing.T) {
		c.rejoin(t, "node2", cur, without(others, "node2")...)
	}) {
		return
	}

	victim := ""
	if !t.Run("FailoverWhenTheLinkIsCut", func(t *testing.T) {
		h := c.hosts(t)
		// The primary is cut off from the others (its veth leaves the
		// bridge): a standby takes over; the old primary finds itself
		// isolated and is fenced.
		victim = cur
		l := c.startLoad(t, 1500)
		link := lab.Prefix + victim
		at := time.Now()
		if out, err := exec.Command("ip", "link", "set", link, "nomaster").CombinedOutput(); err != nil {
			t.Fatalf("cutting %s's link: %v: %s", victim, err, out)
		}
		restored := false
		restore := func() {
			if !restored {
				restored = true
				if out, err := exec.Command("ip", "link", "set", link, "master", c.bridge).CombinedOutput(); err != nil {
					t.Errorf("restoring %s's link: %v: %s", victim, err, out)
				}
			}
		}
		defer restore()
		p := c.newPrimary(t, others...)
		t.Logf("%s cut off; %s is the new primary", victim, p)
		cur, others = p, append(without(others, p), victim)
		l.failover(t, at, cur)
		c.timeline(t, at, append(without(others, victim), cur)...)
		// Stay cut until the old primary fenced itself: its PostgreSQL
		// stops (seen from outside: nothing listens on its port any more).
		eventually(t, 60*time.Second, victim+"'s PostgreSQL stops (fenced)", func() (bool, string) {
			err := exec.Command("ip", "netns", "exec", lab.Prefix+victim, "sh", "-c", "! ss -Hltn 'sport = :5432' | grep -q .").Run()
			return err == nil, "PostgreSQL still listens on " + victim
		})
		restore()
		c.reconnect(t, victim)
		// The link is back: the old primary neither takes the VIP nor
		// accepts writes.
		for i := 0; i < 20; i++ {
			if on := c.vipIn(t); len(on) != 1 || on[0] != cur {
				t.Errorf("VIP on %v after %s's link came back, want %s only", on, victim, cur)
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if out, rc := h.try("backup1", "runuser", "-u", "barman", "--", "psql", "-XAtq", "host="+fmt.Sprint(h.inv.Hosts[victim].Vars["ssh_host"])+" user=barman dbname=postgres connect_timeout=3", "-c", "INSERT INTO pgplay_load (run, id) VALUES (-1, -1)"); rc == 0 {
			t.Errorf("%s accepted a write after its link came back: %s", victim, out)
		}
		c.expectHealthy(t, cur, without(others, victim)...)
		rep, _, raw := c.status(t)
		if n := node(rep, victim); n.Role != "stopped" || !n.Fenced || !strings.Contains(n.FenceReason, "isolated") || n.StartConf != "manual" {
			t.Errorf("status: %s %+v; want stopped, fenced as isolated, start.conf manual\n%s", victim, *n, raw)
		}
	}) {
		t.Logf("node1:\n%s\nnode2:\n%s\nnode3:\n%s", c.logs(t, "node1"), c.logs(t, "node2"), c.logs(t, "node3"))
		return
	}

	if !t.Run("RejoinAfterLinkCut", func(t *testing.T) {
		c.rejoin(t, victim, cur, without(others, victim)...)
	}) {
		return
	}

	t.Run("FailoverWhenTheHostDies", func(t *testing.T) {
		// The primary's whole container is killed (SIGKILL to its init).
		victim := cur
		lst, err := lab.New(nil).Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pid := 0
		for _, hs := range lst.Hosts {
			if hs.Name == victim {
				pid = hs.InitPID
			}
		}
		if pid <= 1 {
			t.Fatalf("%s's init process not found: %+v", victim, lst.Hosts)
		}
		l := c.startLoad(t, 1500)
		at := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("killing %s's container (pid %d): %v", victim, pid, err)
		}
		// The lab keeps a dead container's network namespace, whose kernel
		// would go on answering ARP for the VIP: a dead host's NIC is
		// silent.
		if out, err := exec.Command("ip", "-n", lab.Prefix+victim, "link", "set", "eth0", "down").CombinedOutput(); err != nil {
			t.Fatalf("taking %s's eth0 down: %v: %s", victim, err, out)
		}
		p := c.newPrimary(t, others...)
		t.Logf("%s died; %s is the new primary", victim, p)
		cur, others = p, without(others, p)
		l.failover(t, at, cur)
		c.timeline(t, at, cur, others[0])
		rep, code, raw := c.status(t)
		if code != 1 || rep.Primary != cur || node(rep, victim).Reachable || !node(rep, others[0]).Streaming || node(rep, others[0]).Upstream != cur {
			t.Errorf("status after %s died: exit %d\n%s", victim, code, raw)
		}
		if out, _ := c.pgplay(t, "status", "-i", c.inv); !strings.Contains(out, victim+" is unreachable") {
			t.Errorf("status does not warn that %s is unreachable:\n%s", victim, out)
		}
	})

	t.Run("BarmanFollowsTheNewPrimary", func(t *testing.T) {
		// barman streams through the VIP. After four failovers its
		// streaming position may point at WAL the new primary does not
		// have (an older timeline's segment): pgplay-barman-repair resets
		// it, barman cron starts receive-wal again; then a backup works.
		start := time.Now()
		ok := false
		for !ok && time.Since(start) < 240*time.Second {
			rep, _, _ := c.status(t)
			ok = len(rep.Barman) == 1 && rep.Barman[0].CheckOK
			if !ok {
				time.Sleep(5 * time.Second)
			}
		}
		h := c.hosts(t)
		repair, _ := h.try("backup1", "journalctl", "-t", "pgplay-barman", "--no-pager", "-o", "cat")
		t.Logf("barman check OK: %v after %s; pgplay-barman-repair: %q", ok, time.Since(start).Round(time.Second), repair)
		if !ok {
			diag, _ := h.try("backup1", "sh", "-c", "grep -v 'could not change directory' /var/log/barman/barman.log | tail -40")
			t.Fatalf("barman check not OK 4 minutes after the failovers; barman.log:\n%s", diag)
		}
		if out, rc := h.try("backup1", "runuser", "-u", "barman", "--", "barman", "backup", "pgplay", "--wait"); rc != 0 {
			t.Errorf("barman backup after the failovers: exit %d\n%s", rc, out)
		}
	})
}
