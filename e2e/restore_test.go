//go:build e2e

package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// restoreDrill is TestDayTwo's RestoreDrill: playbooks/restore.yaml's
// refusals, then under a write load through the VIP (and straight at
// node1) a barman backup, a time T between two marker rows, and a
// restore to T onto spare1: every commit acknowledged before T is in the
// restore, none sent after it; the same request again changes nothing,
// another needs force=true; after the load, a forced restore of the
// latest backup holds every acknowledged commit. The cluster is untouched
// throughout: healthy, same timeline, no commit lost.
func restoreDrill(t *testing.T, c *foCluster) {
	c.expectHealthy(t, "node1", "node2", "node3")
	tl := c.hosts(t).sql("node1", "postgres", "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")
	restore := func(args ...string) (string, int) {
		t.Helper()
		return c.pgplay(t, append([]string{"run", "playbooks/restore.yaml", "-i", c.inv}, args...)...)
	}
	onSpare := func(query string) string {
		t.Helper()
		out, rc := c.hosts(t).try("spare1", "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-p", "5439", "-d", "postgres", "-c", query)
		if rc != 0 {
			t.Fatalf("spare1: psql -p 5439 %q: rc %d: %s", query, rc, out)
		}
		return strings.TrimSpace(out)
	}

	// Refusals, before any change.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-e", "target=node2"}, "target=node2 is a node of the cluster (group postgres)"},
		{[]string{"-e", "target=backup1"}, "target=backup1 is the barman host"},
		{[]string{"-e", "target=spare9"}, "target=spare9: name the host to restore onto"},
		{[]string{"-e", "target=spare1", "-e", "target_time=yesterday"}, "target_time=yesterday: not a time to recover to"},
		{[]string{"-e", "target=spare1", "-e", "target_time='2020-01-01 00:00:00+00'"}, "is before the end of the oldest backup"},
		{[]string{"-e", "target=spare1", "-e", "target_time='2099-01-01 00:00:00+00'"}, "is in the future"},
	} {
		out, code := restore(tc.args...)
		if code == 0 || !strings.Contains(out, tc.want) || !strings.Contains(out, "Nothing was changed") {
			t.Errorf("restore.yaml %s: exit %d; want a refusal saying %q\n%s", strings.Join(tc.args, " "), code, tc.want, out)
		}
	}
	if out, rc := c.hosts(t).try("spare1", "sh", "-c", "ls /etc/postgresql/15; ls /var/lib/postgresql/15"); strings.Contains(out, "restore") {
		t.Fatalf("a refused restore left a cluster on spare1 (rc %d):\n%s", rc, out)
	}

	r := c.underLoad(t, "node1", 120)
	if out, rc := c.hosts(t).try("backup1", "runuser", "-u", "barman", "--", "barman", "backup", "pgplay", "--wait"); rc != 0 {
		t.Fatalf("barman backup: rc %d\n%s", rc, out)
	}
	c.hosts(t).sql("node1", "postgres", "INSERT INTO pgplay_load (run, id) VALUES (-1, 1)")
	time.Sleep(2 * time.Second)
	at := time.Now()
	target := at.UTC().Format("2006-01-02 15:04:05.000000") + "+00"
	time.Sleep(2 * time.Second)
	c.hosts(t).sql("node1", "postgres", "INSERT INTO pgplay_load (run, id) VALUES (-1, 2)")

	start := time.Now()
	out, code := restore("-e", "target=spare1", "-e", "target_time='"+target+"'")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("restore.yaml -e target=spare1 -e target_time='%s': exit %d\n%s", target, code, out)
	}
	t.Logf("restore.yaml to %s: %s\n%s", target, took.Round(100*time.Millisecond), out)
	for _, want := range []string{"spare1: restored backup ", "to target_time " + target, "end LSN ", "recovery stopping before commit", "into 15/restore (port 5439"} {
		if !strings.Contains(out, want) {
			t.Errorf("restore.yaml's report lacks %q:\n%s", want, out)
		}
	}
	// Standalone: promoted, no upstream, no synchronous standbys, no
	// archiving, not in repmgr.
	if got := onSpare("SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names'), current_setting('archive_mode'), current_setting('primary_conninfo'), (SELECT count(*) FROM pg_stat_wal_receiver)"); got != "f||off||0" {
		t.Errorf("the restore on spare1: in recovery, synchronous_standby_names, archive_mode, primary_conninfo, WAL receivers = %q; want f||off||0", got)
	}
	if n := c.hosts(t).sql("node1", "repmgr", "SELECT count(*) FROM repmgr.nodes WHERE node_name = 'spare1'"); n != "0" {
		t.Errorf("spare1 is registered in repmgr (%s rows)", n)
	}
	markers := onSpare("SELECT string_agg(id::text, ',' ORDER BY id) FROM pgplay_load WHERE run = -1")
	if markers != "1" {
		t.Errorf("marker rows in the restore to T: %q; want 1 (inserted 2 s before T), not 2 (2 s after)", markers)
	}

	// The same request again: the restore is there, nothing changes.
	out, code = restore("-e", "target=spare1", "-e", "target_time='"+target+"'")
	if code != 0 || !strings.Contains(out, "spare1 holds this restore already") || !strings.Contains(out, "changed=0") {
		t.Errorf("restore.yaml a second time: exit %d; want spare1 holds this restore already, changed=0\n%s", code, out)
	}
	t.Logf("restore.yaml a second time:\n%s", out)
	// Another one needs force=true.
	out, code = restore("-e", "target=spare1")
	if code == 0 || !strings.Contains(out, "spare1 already holds the cluster 15/restore") || !strings.Contains(out, "-e force=true") {
		t.Errorf("restore.yaml of the latest over the restore to T: exit %d; want a refusal naming force=true\n%s", code, out)
	}
	t.Logf("restore.yaml of the latest over the restore to T:\n%s", out)

	// The commits acknowledged before T are in the restore, none sent
	// after it (half a second of margin either side). The writers end.
	v := r.check(t, "node1")
	if v.byNode["node1"] != v.acks {
		t.Errorf("commits acknowledged by %v; want all by node1 (the restore must not touch the cluster)", v.byNode)
	}
	tSec := float64(at.UnixNano()) / 1e9
	for _, l := range []*ackLoad{r.vip, r.old} {
		have := map[int]bool{}
		for _, s := range strings.Split(onSpare(fmt.Sprintf("SELECT string_agg(id::text, ',') FROM pgplay_load WHERE run = %d", l.run)), ",") {
			if id, err := strconv.Atoi(s); err == nil {
				have[id] = true
			}
		}
		var before, after int
		var missing, extra []int
		for _, a := range l.read(t, c) {
			switch {
			case a.at < tSec-0.5:
				before++
				if !have[a.id] {
					missing = append(missing, a.id)
				}
			case a.after > tSec+0.5:
				after++
				if have[a.id] {
					extra = append(extra, a.id)
				}
			}
		}
		if before == 0 || after == 0 {
			t.Errorf("writer to %s: %d commits acknowledged before T, %d sent after it; want some of each", l.target, before, after)
		}
		if len(missing) > 0 {
			t.Errorf("writer to %s: %d of %d commits acknowledged before T are not in the restore (first %v)", l.target, len(missing), before, missing[:min(len(missing), 8)])
		}
		if len(extra) > 0 {
			t.Errorf("writer to %s: %d of %d commits sent after T are in the restore (first %v)", l.target, len(extra), after, extra[:min(len(extra), 8)])
		}
		t.Logf("writer to %s: %d commits acknowledged before T all in the restore, %d sent after T none in it", l.target, before, after)
	}

	// After the load: the latest backup and all the WAL archived, with
	// force=true over the restore to T.
	start = time.Now()
	out, code = restore("-e", "target=spare1", "-e", "force=true")
	if code != 0 || !strings.Contains(out, "to the end of the archived WAL") {
		t.Fatalf("restore.yaml -e target=spare1 -e force=true: exit %d\n%s", code, out)
	}
	t.Logf("restore.yaml of the latest with force=true: %s\n%s", time.Since(start).Round(100*time.Millisecond), out)
	if m := onSpare("SELECT string_agg(id::text, ',' ORDER BY id) FROM pgplay_load WHERE run = -1"); m != "1,2" {
		t.Errorf("marker rows in the latest restore: %q; want 1,2", m)
	}
	for _, l := range []*ackLoad{r.vip, r.old} {
		n := onSpare(fmt.Sprintf("SELECT count(DISTINCT id) FROM pgplay_load WHERE run = %d", l.run))
		acks := l.read(t, c)
		if k, _ := strconv.Atoi(n); k < len(acks) {
			t.Errorf("writer to %s: %d commits acknowledged, the latest restore holds %s of them", l.target, len(acks), n)
		}
	}

	c.expectHealthy(t, "node1", "node2", "node3")
	if now := c.hosts(t).sql("node1", "postgres", "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"); now != tl {
		t.Errorf("node1's timeline went from %s to %s during the restore drill", tl, now)
	}
}
