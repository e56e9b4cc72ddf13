package status

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseNodeAndJudge(t *testing.T) {
	primary := &Node{Name: "node1", Addr: "198.51.100.11", Reachable: true}
	parseNode(primary, "@vip\nyes\n@keepalived\nactive\n@vrrp\nMASTER 1764065000\n@pg\n"+
		`{"in_recovery" : false, "timeline" : 2, "upstream" : null, "receiver" : null, "lag_bytes" : null, "lag_seconds" : null, "sync_names" : "FIRST 1 (node2, node3)", "replicas" : [{"name" : "node2", "addr" : "198.51.100.12", "state" : "streaming", "sync_state" : "sync", "lag_bytes" : 0, "replay_lag" : null}, {"name" : "node3", "addr" : "198.51.100.13", "state" : "streaming", "sync_state" : "potential", "lag_bytes" : 128, "replay_lag" : 0.5}]}`+"\n")
	standby := &Node{Name: "node2", Addr: "198.51.100.12", Reachable: true}
	parseNode(standby, "@vip\nno\n@keepalived\nactive\n@vrrp\nBACKUP\n@pg\n"+
		`{"in_recovery" : true, "timeline" : 2, "upstream" : "198.51.100.11", "receiver" : "streaming", "lag_bytes" : 0, "lag_seconds" : 0, "sync_names" : "", "replicas" : null}`+"\n")
	stopped := &Node{Name: "node3", Addr: "198.51.100.13", Reachable: true}
	parseNode(stopped, "@vip\nno\n@keepalived\ninactive\n@vrrp\n@pg\npsql: error: connection to server on socket failed\n@pgfail\n")
	if primary.Role != "primary" || primary.Timeline != 2 || !primary.HasVIP || len(primary.Replicas) != 2 || primary.VRRPState != "MASTER" {
		t.Errorf("primary parsed as %+v", primary)
	}
	if standby.Role != "standby" || !standby.Streaming || standby.Upstream != "198.51.100.11" {
		t.Errorf("standby parsed as %+v", standby)
	}
	if stopped.Role != "stopped" || !strings.Contains(stopped.Error, "connection") {
		t.Errorf("stopped parsed as %+v", stopped)
	}
	r := &Report{VIP: "198.51.100.100", Nodes: []*Node{primary, standby, stopped}}
	r.judge()
	if r.Level != LevelDegraded || r.State != "degraded" || len(r.Problems) != 0 || r.Primary != "node1" {
		t.Errorf("a cluster with a stopped standby: level %d %q, primary %q, problems %v; want degraded", r.Level, r.State, r.Primary, r.Problems)
	}
	if standby.Upstream != "node1" || standby.SyncState != "sync" {
		t.Errorf("standby upstream/sync from the primary's view: %+v", standby)
	}
	if w := strings.Join(r.Warnings, "\n"); len(r.Warnings) != 2 || !strings.Contains(w, "node3: PostgreSQL is not answering") || !strings.Contains(w, "keepalived is inactive on node3") {
		t.Errorf("warnings: %v", r.Warnings)
	}
	var b bytes.Buffer
	r.WriteTable(&b)
	for _, want := range []string{"node1  primary", "node2  standby", "sync", "\ndegraded: node3: PostgreSQL is not answering",
		"\ncluster: degraded (primary node1, VIP 198.51.100.100 on it): 2 problem(s)\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestDegradedCases(t *testing.T) {
	mk := func(name, role string, vip bool) *Node {
		return &Node{Name: name, Addr: name, Reachable: true, Role: role, HasVIP: vip, Streaming: true}
	}
	cases := []struct {
		name  string
		nodes []*Node
		want  string
	}{
		{"no primary", []*Node{mk("a", "standby", true), mk("b", "standby", false)}, "no primary"},
		{"two primaries", []*Node{mk("a", "primary", true), mk("b", "primary", false)}, "2 primaries"},
		{"vip missing", []*Node{mk("a", "primary", false), mk("b", "standby", false)}, "on no node"},
		{"vip on standby", []*Node{mk("a", "primary", false), mk("b", "standby", true)}, "not the primary"},
		{"vip twice", []*Node{mk("a", "primary", true), mk("b", "standby", true)}, "on 2 nodes"},
	}
	for _, c := range cases {
		r := &Report{VIP: "10.0.0.100", Nodes: c.nodes}
		r.judge()
		if r.Level != LevelDown || r.State != "down" || !r.Degraded() || !strings.Contains(strings.Join(r.Problems, ";"), c.want) {
			t.Errorf("%s: level %d %q, problems %v, want down with %q", c.name, r.Level, r.State, r.Problems, c.want)
		}
	}
}

func TestParseBarman(t *testing.T) {
	b := &Barman{}
	parseBarman(b, "@list\npg 20261125T101500 - Wed Nov 25 10:15:02 2026 - Size: 36.2 MiB - WAL Size: 0 B\npg 20261124T101500 - Tue Nov 24 10:15:02 2026 - Size: 36.0 MiB - WAL Size: 16 MiB\n@check\nBARMAN OK - Ready to serve the Barman SSH for 1 server(s)\n")
	if b.Backups != 2 || !strings.HasPrefix(b.LastBackup, "pg 20261125T101500") || !b.CheckOK {
		t.Errorf("barman parsed as %+v", b)
	}
}

// A fenced former primary, as pgplay-watch leaves it: stopped, FAULT,
// start.conf manual; the table and the warning say so and how to bring
// it back, and psql's useful error line is kept.
func TestFencedNode(t *testing.T) {
	old := &Node{Name: "node1", Addr: "198.51.100.11", Reachable: true}
	parseNode(old, "@vip\nno\n@keepalived\nactive\n@vrrp\nFAULT 1764065000\n"+
		"@check\nfenced 1764065100 1764065010 stale primary: node2 is a primary on timeline 2, this node on 1\n"+
		"@fence\n1\n@fencereason\n1764065010 stale primary: node2 is a primary on timeline 2, this node on 1\n"+
		"@startconf\nmanual\n@pg\n"+
		"psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: No such file or directory\n"+
		"\tIs the server running locally and accepting connections on that socket?\n@pgfail\n")
	if old.Role != "stopped" || !old.Fenced || old.Check != "fenced" || old.StartConf != "manual" ||
		!strings.HasPrefix(old.FenceReason, "stale primary: node2") || !strings.HasPrefix(old.Error, "psql: error: connection to server") {
		t.Fatalf("fenced node parsed as %+v", old)
	}
	primary := &Node{Name: "node2", Addr: "198.51.100.12", Reachable: true}
	parseNode(primary, "@vip\nyes\n@keepalived\nactive\n@vrrp\nMASTER 1\n@check\nprimary 2 1 of 2 standbys replying\n@fence\n0\n@startconf\nauto\n@pg\n"+
		`{"in_recovery" : false, "timeline" : 2, "sync_names" : "FIRST 1 (node3)", "replicas" : [{"name" : "node3", "addr" : "198.51.100.13", "state" : "streaming", "sync_state" : "sync", "lag_bytes" : 0, "replay_lag" : null}]}`+"\n")
	if primary.Fenced || primary.Check != "primary" || primary.CheckDetail != "1 of 2 standbys replying" || primary.StartConf != "auto" {
		t.Fatalf("primary parsed as %+v", primary)
	}
	r := &Report{VIP: "198.51.100.100", Nodes: []*Node{old, primary}}
	r.judge()
	if r.Level != LevelDegraded || len(r.Problems) != 0 || len(r.Warnings) != 1 {
		t.Errorf("a fenced, stopped old primary: level %d, problems %v, warnings %v; want degraded for one reason", r.Level, r.Problems, r.Warnings)
	}
	var b bytes.Buffer
	r.WriteTable(&b)
	for _, want := range []string{"active/FAULT fenced", "degraded: node1 is fenced (stale primary: node2 is a primary on timeline 2, this node on 1); PostgreSQL is stopped",
		"pgplay run playbooks/rejoin.yaml -i INVENTORY --limit node1", "cluster: degraded (primary node2, VIP 198.51.100.100 on it): 1 problem(s)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// A standby streaming from a node that is not the primary is worth a
// warning (it has not followed the new primary yet).
func TestStandbyOfTheWrongUpstream(t *testing.T) {
	r := &Report{Nodes: []*Node{
		{Name: "node2", Addr: "a2", Reachable: true, Role: "primary"},
		{Name: "node3", Addr: "a3", Reachable: true, Role: "standby", Streaming: true, Upstream: "a1"},
		{Name: "node1", Addr: "a1", Reachable: true, Role: "standby", Streaming: true, Upstream: "a2"},
	}}
	r.judge()
	if w := strings.Join(r.Warnings, "\n"); !strings.Contains(w, "node3 streams from node1, not from the primary node2") || strings.Contains(w, "node1 streams") {
		t.Errorf("warnings: %s", w)
	}
}

// pgplay-promote's refusal, pgplay-watch's sync members and the primary's
// oldest commit waiting for a synchronous standby are read from their
// sections; absent files leave the fields empty.
func TestParseNewFacts(t *testing.T) {
	p := &Node{Name: "node1", Reachable: true}
	parseNode(p, "@vip\nyes\n@keepalived\nactive\n@promoterefused\n@sync\n1764065000 node2,node3\n@startconf\nauto\n@pg\n"+
		`{"in_recovery" : false, "timeline" : 1, "sync_names" : "ANY 1 (node2, node3)", "sync_wait_seconds" : 7.25, "replicas" : []}`+"\n")
	if p.SyncMembers != "node2,node3" || p.SyncWaitSeconds == nil || *p.SyncWaitSeconds != 7.25 || p.PromoteRefused != "" {
		t.Errorf("primary parsed as %+v", p)
	}
	s := &Node{Name: "node3", Reachable: true}
	parseNode(s, "@vip\nno\n@keepalived\nactive\n@promoterefused\n1764065100 node3 cannot prove it holds every acknowledged commit: node2 did not answer\n@sync\n@pg\n"+
		`{"in_recovery" : true, "timeline" : 1, "upstream" : null, "receiver" : null, "sync_names" : "", "sync_wait_seconds" : null, "replicas" : null}`+"\n")
	if s.PromoteRefused != "node3 cannot prove it holds every acknowledged commit: node2 did not answer" || s.SyncMembers != "" || s.SyncWaitSeconds != nil {
		t.Errorf("standby parsed as %+v", s)
	}
	// Old scripts: no sections at all.
	o := &Node{Name: "node2", Reachable: true}
	parseNode(o, "@vip\nno\n@keepalived\nactive\n@pg\n"+`{"in_recovery" : true, "timeline" : 1, "receiver" : "streaming", "sync_names" : ""}`+"\n")
	if o.PromoteRefused != "" || o.SyncMembers != "" || o.SyncWaitSeconds != nil || o.Role != "standby" {
		t.Errorf("node without the new sections parsed as %+v", o)
	}
	// A refusal without a reason still counts.
	e := &Node{Name: "node2", Reachable: true}
	parseNode(e, "@promoterefused\n1764065100\n@pg\n@pgfail\n")
	if e.PromoteRefused != "no reason recorded" {
		t.Errorf("a refusal without reason parsed as %q", e.PromoteRefused)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"sync_wait_seconds":7.25`, `"sync_members":"node2,node3"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("JSON lacks %s: %s", want, raw)
		}
	}
	if raw, _ := json.Marshal(s); !strings.Contains(string(raw), `"promote_refused":"node3 cannot prove`) {
		t.Errorf("JSON lacks promote_refused: %s", raw)
	}
}

// healthyCluster is node1 primary with the VIP, node2 its synchronous
// standby and node3 a potential one, and a barman host with a backup.
func healthyCluster() *Report {
	zero := int64(0)
	return &Report{VIP: "198.51.100.100", Nodes: []*Node{
		{Name: "node1", Addr: "198.51.100.11", Reachable: true, Role: "primary", Timeline: 1, HasVIP: true, Keepalived: "active", VRRPState: "MASTER",
			Check: "primary", CheckDetail: "2 of 2 standbys replying", SyncNames: "FIRST 1 (node2, node3)", SyncMembers: "node2,node3",
			Replicas: []Replica{
				{Name: "node2", Addr: "198.51.100.12", State: "streaming", SyncState: "sync", LagBytes: &zero},
				{Name: "node3", Addr: "198.51.100.13", State: "streaming", SyncState: "potential", LagBytes: &zero},
				{Name: "barman_receive_wal", Addr: "198.51.100.20", State: "streaming", SyncState: "async"},
			}},
		{Name: "node2", Addr: "198.51.100.12", Reachable: true, Role: "standby", Timeline: 1, Upstream: "198.51.100.11", Streaming: true, Keepalived: "active", VRRPState: "BACKUP", Check: "standby"},
		{Name: "node3", Addr: "198.51.100.13", Reachable: true, Role: "standby", Timeline: 1, Upstream: "198.51.100.11", Streaming: true, Keepalived: "active", VRRPState: "BACKUP", Check: "standby"},
	}, Barman: []*Barman{{Host: "backup1", Reachable: true, Backups: 1, LastBackup: "pgplay 20261125T233531",
		Check: "BARMAN OK - Ready to serve the Barman SSH for 1 server(s) | pgplay=OK;0;1", CheckOK: true}}}
}

func nodeOf(r *Report, name string) *Node {
	if n := r.node(name); n != nil {
		return n
	}
	panic("no node " + name)
}

func TestHealthy(t *testing.T) {
	r := healthyCluster()
	r.judge()
	if r.Level != LevelHealthy || r.State != "healthy" || r.Degraded() || len(r.Problems) != 0 || len(r.Warnings) != 0 {
		t.Fatalf("healthy cluster: level %d %q, problems %v, warnings %v", r.Level, r.State, r.Problems, r.Warnings)
	}
	var b bytes.Buffer
	r.WriteTable(&b)
	out := b.String()
	if !strings.HasSuffix(out, "\ncluster: healthy (primary node1, VIP 198.51.100.100 on it)\n") {
		t.Errorf("last line of a healthy cluster's table:\n%s", out)
	}
	if strings.Contains(out, "|") || strings.Contains(out, "pgplay=OK") || !strings.Contains(out, "check: BARMAN OK - Ready to serve the Barman SSH for 1 server(s)\n") {
		t.Errorf("the table shows barman's check without its perfdata, once:\n%s", out)
	}
	if strings.Contains(out, "down:") || strings.Contains(out, "degraded:") || strings.Contains(out, "node2,node3") {
		t.Errorf("a healthy table lists no reasons and no sync members:\n%s", out)
	}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"level":0`, `"state":"healthy"`, `"problems":[]`, `"warnings":[]`, `"check":"BARMAN OK - Ready to serve the Barman SSH for 1 server(s) | pgplay=OK;0;1"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("JSON lacks %s: %s", want, raw)
		}
	}
	// Quorum commit (ANY) and a short wait for the synchronous standby
	// are healthy too.
	r = healthyCluster()
	p := nodeOf(r, "node1")
	p.SyncNames = "ANY 1 (node2, node3)"
	p.Replicas[0].SyncState, p.Replicas[1].SyncState = "quorum", "quorum"
	wait := 3.0
	p.SyncWaitSeconds = &wait
	r.judge()
	if r.Level != LevelHealthy {
		t.Errorf("quorum commit, 3 s wait: level %d, problems %v, warnings %v", r.Level, r.Problems, r.Warnings)
	}
	// No synchronous_standby_names: nothing to wait for.
	r = healthyCluster()
	p = nodeOf(r, "node1")
	p.SyncNames, p.Replicas = "", nil
	r.judge()
	if r.Level != LevelHealthy {
		t.Errorf("asynchronous cluster: level %d, problems %v, warnings %v", r.Level, r.Problems, r.Warnings)
	}
}

// Each reason the cluster is down: level 2, state "down", the reason's
// text among the problems.
func TestDownReasons(t *testing.T) {
	cases := []struct {
		name   string
		change func(r *Report)
		want   string
	}{
		{"no primary", func(r *Report) { nodeOf(r, "node1").Role = "stopped" },
			"no primary: no node answers pg_is_in_recovery() = false"},
		{"two primaries", func(r *Report) { nodeOf(r, "node2").Role = "primary" },
			"2 primaries (node1, node2): split brain; fence all but one"},
		{"VIP on no node", func(r *Report) { nodeOf(r, "node1").HasVIP = false },
			"the VIP 198.51.100.100 is on no node: clients cannot connect"},
		{"VIP on two nodes", func(r *Report) { nodeOf(r, "node3").HasVIP = true },
			"the VIP 198.51.100.100 is on 2 nodes (node1, node3)"},
		{"VIP on a standby", func(r *Report) { nodeOf(r, "node1").HasVIP = false; nodeOf(r, "node2").HasVIP = true },
			"the VIP 198.51.100.100 is on node2, which is not the primary (node1)"},
		{"keepalived stopped on the primary", func(r *Report) {
			p := nodeOf(r, "node1")
			p.HasVIP, p.Keepalived, p.VRRPState = false, "inactive", ""
		}, "the VIP 198.51.100.100 is on no node: keepalived is inactive on the primary node1: the VIP left with it; start it on node1: systemctl start keepalived"},
		{"writes hang, no standby attached", func(r *Report) {
			p := nodeOf(r, "node1")
			p.Replicas = p.Replicas[2:]
		}, "writes hang: no synchronous standby is attached to node1 (synchronous_standby_names = 'FIRST 1 (node2, node3)'); bring a standby back"},
		{"writes hang, the named standby gone", func(r *Report) {
			p := nodeOf(r, "node1")
			p.SyncNames = "FIRST 1 (node2)"
			p.Replicas = p.Replicas[1:] // node3 potential... not named: async
			p.Replicas[0].SyncState = "async"
		}, "writes hang: no synchronous standby is attached to node1 (synchronous_standby_names = 'FIRST 1 (node2)'); name a streaming standby: pgplay role sync_standby -i INVENTORY -e sync_standbys=node3"},
		{"writes hang, the sync standby not streaming", func(r *Report) {
			nodeOf(r, "node1").Replicas[0].State = "catchup"
			nodeOf(r, "node1").Replicas[1].SyncState = "async"
		}, "writes hang: no synchronous standby is attached to node1"},
		{"no primary, a standby refuses to promote", func(r *Report) {
			nodeOf(r, "node1").Reachable = false
			nodeOf(r, "node1").Role = "unknown"
			nodeOf(r, "node3").PromoteRefused = "node2 did not answer: cannot prove this node holds every acknowledged commit"
		}, "no primary: node3 refuses to promote: node2 did not answer: cannot prove this node holds every acknowledged commit; to promote it anyway (it may lose acknowledged commits): pgplay run playbooks/promote.yaml -i INVENTORY --limit node3 -e force=true"},
	}
	for _, c := range cases {
		r := healthyCluster()
		c.change(r)
		r.judge()
		if r.Level != LevelDown || r.State != "down" || !r.Degraded() || !contains(r.Problems, c.want) {
			t.Errorf("%s: level %d %q, problems %q; want down with %q", c.name, r.Level, r.State, r.Problems, c.want)
		}
		var b bytes.Buffer
		r.WriteTable(&b)
		if last := lastLine(b.String()); last != "cluster: DOWN: "+r.Problems[0] {
			t.Errorf("%s: table's last line %q", c.name, last)
		}
		if !strings.Contains(b.String(), "\ndown: "+c.want) {
			t.Errorf("%s: the table does not list %q:\n%s", c.name, c.want, b.String())
		}
	}
}

// Each reason the cluster is degraded: level 1, state "degraded", no
// problems, the reason's text among the warnings.
func TestDegradedReasons(t *testing.T) {
	cases := []struct {
		name   string
		change func(r *Report)
		want   string
	}{
		{"unreachable", func(r *Report) {
			n := nodeOf(r, "node3")
			*n = Node{Name: "node3", Addr: n.Addr, Role: "unknown", Error: "dial tcp 198.51.100.13:22: i/o timeout"}
		}, "node3 is unreachable: dial tcp 198.51.100.13:22: i/o timeout"},
		{"PostgreSQL stopped", func(r *Report) {
			n := nodeOf(r, "node3")
			n.Role, n.Streaming, n.Error, n.Check, n.CheckDetail = "stopped", false, "psql: error: connection to server failed", "down", "PostgreSQL does not answer"
		}, "node3: PostgreSQL is not answering (psql: error: connection to server failed); a failed primary comes back with: pgplay run playbooks/rejoin.yaml -i INVENTORY --limit node3"},
		{"fenced", func(r *Report) {
			n := nodeOf(r, "node3")
			n.Role, n.Streaming, n.Fenced, n.FenceReason, n.Check = "stopped", false, true, "stale primary", "fenced"
		}, "node3 is fenced (stale primary); PostgreSQL is stopped: bring it back with: pgplay run playbooks/rejoin.yaml -i INVENTORY --limit node3"},
		{"standby not streaming", func(r *Report) { nodeOf(r, "node3").Streaming = false },
			"node3: standby is not streaming"},
		{"standby of a standby", func(r *Report) { nodeOf(r, "node3").Upstream = "198.51.100.12" },
			"node3 streams from node2, not from the primary node1"},
		{"keepalived stopped on a standby", func(r *Report) { nodeOf(r, "node2").Keepalived = "failed" },
			"keepalived is failed on node2: it cannot take the VIP over; start it on node2: systemctl start keepalived"},
		{"keepalived stopped on the primary holding the VIP", func(r *Report) { nodeOf(r, "node1").Keepalived = "inactive" },
			"keepalived is inactive on node1"},
		{"hold", func(r *Report) {
			n := nodeOf(r, "node3")
			n.Check, n.CheckDetail = "hold", "1764065100 node2 has more WAL (0/5000000 > 0/4000000)"
		}, "node3: its health check says hold (node2 has more WAL (0/5000000 > 0/4000000)): pgplay-promote declined to promote it"},
		{"paused", func(r *Report) { n := nodeOf(r, "node3"); n.Check, n.CheckDetail = "paused", "WAL replay is paused" },
			"node3: its health check says paused (WAL replay is paused): it cannot take over while its WAL replay is paused"},
		{"stuck", func(r *Report) {
			n := nodeOf(r, "node3")
			n.Check, n.CheckDetail = "stuck", "MASTER for over 30s without becoming the primary"
		}, "node3: its health check says stuck (MASTER for over 30s without becoming the primary): its promotion failed"},
		{"isolated", func(r *Report) {
			n := nodeOf(r, "node1")
			n.Check, n.CheckDetail = "isolated", "no standby replied for 10s and no other host answers"
		}, "node1: its health check says isolated (no standby replied for 10s and no other host answers)"},
		{"stale", func(r *Report) {
			n := nodeOf(r, "node3")
			n.Check, n.CheckDetail = "stale", "node2 is a primary on timeline 2, this node on 1"
		}, "node3: its health check says stale (node2 is a primary on timeline 2, this node on 1)"},
		{"down verdict, PostgreSQL answering status", func(r *Report) {
			n := nodeOf(r, "node3")
			n.Check, n.CheckDetail = "down", "unexpected answer: x"
		}, "node3: its health check says down (unexpected answer: x)"},
		{"barman unreachable", func(r *Report) { r.Barman[0] = &Barman{Host: "backup1", Error: "connection refused"} },
			"barman host backup1 is unreachable: connection refused"},
		{"barman check failing", func(r *Report) {
			r.Barman[0].CheckOK = false
			r.Barman[0].Check = "BARMAN CRITICAL - server pgplay has issues * pgplay FAILED: receive-wal running | pgplay=FAILED"
		}, "barman check on backup1: BARMAN CRITICAL - server pgplay has issues * pgplay FAILED: receive-wal running; details: barman check all (as barman) on backup1"},
		{"no backup", func(r *Report) { r.Barman[0].Backups, r.Barman[0].LastBackup = 0, "" },
			"barman has no backup yet on backup1"},
		{"commits waiting", func(r *Report) { w := 7.24; nodeOf(r, "node1").SyncWaitSeconds = &w },
			"commits on node1 have waited 7.2 s for a synchronous standby"},
		{"a stale refusal", func(r *Report) { nodeOf(r, "node3").PromoteRefused = "node2 did not answer" },
			"node3 refused to promote (node2 did not answer), but node1 is the primary now; clear the stale record on node3: rm /run/pgplay/promote.refused"},
	}
	for _, c := range cases {
		r := healthyCluster()
		c.change(r)
		r.judge()
		if r.Level != LevelDegraded || r.State != "degraded" || !r.Degraded() || len(r.Problems) != 0 || !contains(r.Warnings, c.want) {
			t.Errorf("%s: level %d %q, problems %q, warnings %q; want degraded with %q", c.name, r.Level, r.State, r.Problems, r.Warnings, c.want)
			continue
		}
		var b bytes.Buffer
		r.WriteTable(&b)
		out := b.String()
		if want := fmt.Sprintf("cluster: degraded (primary node1, VIP 198.51.100.100 on it): %d problem(s)", len(r.Warnings)); lastLine(out) != want {
			t.Errorf("%s: table's last line %q, want %q", c.name, lastLine(out), want)
		}
		if !strings.Contains(out, "\ndegraded: "+c.want) || strings.Contains(out, "|") {
			t.Errorf("%s: the table does not list %q (or shows perfdata):\n%s", c.name, c.want, out)
		}
	}
}

// A stopped node says so once, not again as its health check's "down".
func TestStoppedNodeOneReason(t *testing.T) {
	r := healthyCluster()
	n := nodeOf(r, "node3")
	n.Role, n.Streaming, n.Error, n.Check, n.CheckDetail = "stopped", false, "psql: error: no socket", "down", "PostgreSQL does not answer"
	r.judge()
	if len(r.Warnings) != 1 {
		t.Errorf("warnings for one stopped node: %q", r.Warnings)
	}
}

// Commits already reported hanging are not reported again as waiting.
func TestWritesHangOneReason(t *testing.T) {
	r := healthyCluster()
	p := nodeOf(r, "node1")
	p.Replicas = nil
	w := 30.0
	p.SyncWaitSeconds = &w
	r.judge()
	if len(r.Problems) != 1 || contains(r.Warnings, "commits on node1") {
		t.Errorf("problems %q, warnings %q", r.Problems, r.Warnings)
	}
}

// contains says whether one of lines contains s.
func contains(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// A primary cut off (or thawed) after a failover cannot commit and has no
// VIP: degraded, not a split brain, and the new primary is named.
func TestFailedOverPrimaryLeftRunning(t *testing.T) {
	r := healthyCluster()
	old, n2 := nodeOf(r, "node1"), nodeOf(r, "node2")
	old.HasVIP, old.VRRPState, old.Check, old.Replicas = false, "FAULT", "nostandby", nil
	n2.Role, n2.Timeline, n2.HasVIP, n2.VRRPState, n2.Check, n2.Upstream, n2.Streaming = "primary", 2, true, "MASTER", "primary", "", false
	n2.SyncNames = "FIRST 1 (node3)"
	n2.Replicas = []Replica{{Name: "node3", Addr: "198.51.100.13", State: "streaming", SyncState: "sync"}}
	nodeOf(r, "node3").Upstream = "198.51.100.12"
	r.judge()
	if r.Level != LevelDegraded || r.Primary != "node2" || len(r.Problems) != 0 {
		t.Fatalf("level %d, primary %q, problems %q; want degraded, node2, none", r.Level, r.Primary, r.Problems)
	}
	want := "node1 runs as a primary but cannot commit (no synchronous standby attached) and does not hold the VIP: it was failed over"
	if !strings.Contains(strings.Join(r.Warnings, "\n"), want) {
		t.Errorf("warnings %q lack %q", r.Warnings, want)
	}
	// one that can commit (or holds the VIP) is a split brain
	old.Replicas = []Replica{{Name: "node3", State: "streaming", SyncState: "sync"}}
	r = &Report{VIP: r.VIP, Nodes: r.Nodes, Barman: r.Barman}
	r.judge()
	if r.Level != LevelDown || !strings.Contains(strings.Join(r.Problems, "\n"), "2 primaries (node1, node2): split brain") {
		t.Errorf("level %d, problems %q; want down, split brain", r.Level, r.Problems)
	}
}

// Maintenance mode (playbooks/maintenance.yaml): parsed from the node's
// file, one degraded reason naming the nodes, the reason and how to end
// it; a cluster otherwise healthy exits 1.
func TestMaintenanceMode(t *testing.T) {
	n := &Node{Name: "node1", Reachable: true}
	parseNode(n, "@vip\nyes\n@keepalived\nactive\n@maintenance\n1796251200 kernel update\n@pg\n"+
		`{"in_recovery" : false, "timeline" : 1, "sync_names" : "", "replicas" : []}`+"\n")
	if n.Maintenance != "kernel update" || n.MaintenanceSince == nil || n.MaintenanceSince.Unix() != 1796251200 {
		t.Fatalf("maintenance parsed as %q since %v", n.Maintenance, n.MaintenanceSince)
	}
	if raw, _ := json.Marshal(n); !strings.Contains(string(raw), `"maintenance":"kernel update"`) || !strings.Contains(string(raw), `"maintenance_since":"2026-12-02T22:40:00Z"`) {
		t.Errorf("JSON lacks the maintenance fields: %s", raw)
	}
	off := &Node{Name: "node2", Reachable: true}
	parseNode(off, "@vip\nno\n@maintenance\n@pg\n"+`{"in_recovery" : true, "timeline" : 1, "receiver" : "streaming", "sync_names" : ""}`+"\n")
	if off.Maintenance != "" || off.MaintenanceSince != nil {
		t.Errorf("no maintenance file parsed as %q %v", off.Maintenance, off.MaintenanceSince)
	}

	r := healthyCluster()
	since := time.Unix(1796251200, 0).UTC()
	for _, n := range r.Nodes {
		n.Maintenance, n.MaintenanceSince, n.Check = "kernel update", &since, "maintenance"
	}
	r.judge()
	want := "maintenance mode is on for every node (node1, node2, node3), since 2026-12-02 22:40 UTC: kernel update; automatic failover is paused there (a failed primary is not replaced); end it with: pgplay run playbooks/maintenance.yaml -i INVENTORY -e maintenance=off"
	if r.Level != LevelDegraded || len(r.Warnings) != 1 || r.Warnings[0] != want || len(r.Problems) != 0 {
		t.Errorf("maintenance on every node: level %d, warnings %q, problems %q; want level 1 and %q", r.Level, r.Warnings, r.Problems, want)
	}
	r = healthyCluster()
	nodeOf(r, "node2").Maintenance = "kernel update"
	r.judge()
	if r.Level != LevelDegraded || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "for node2 only (not for node1, node3)") {
		t.Errorf("maintenance on one node: level %d, warnings %q", r.Level, r.Warnings)
	}
}
