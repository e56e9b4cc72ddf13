package status

import (
	"bytes"
	"strings"
	"testing"
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
	if r.Degraded() || r.Primary != "node1" {
		t.Errorf("healthy cluster judged degraded: %+v", r.Problems)
	}
	if standby.Upstream != "node1" || standby.SyncState != "sync" {
		t.Errorf("standby upstream/sync from the primary's view: %+v", standby)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "node3") {
		t.Errorf("warnings: %v", r.Warnings)
	}
	var b bytes.Buffer
	r.WriteTable(&b)
	for _, want := range []string{"node1  primary", "node2  standby", "sync", "cluster: healthy (primary node1, VIP 198.51.100.100 on it)", "warning: node3"} {
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
		if !r.Degraded() || !strings.Contains(strings.Join(r.Problems, ";"), c.want) {
			t.Errorf("%s: problems %v, want %q", c.name, r.Problems, c.want)
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
		`{"in_recovery" : false, "timeline" : 2, "sync_names" : "FIRST 1 (node3)", "replicas" : []}`+"\n")
	if primary.Fenced || primary.Check != "primary" || primary.CheckDetail != "1 of 2 standbys replying" || primary.StartConf != "auto" {
		t.Fatalf("primary parsed as %+v", primary)
	}
	r := &Report{VIP: "198.51.100.100", Nodes: []*Node{old, primary}}
	r.judge()
	if r.Degraded() {
		t.Errorf("a fenced, stopped old primary makes the cluster degraded: %v", r.Problems)
	}
	var b bytes.Buffer
	r.WriteTable(&b)
	for _, want := range []string{"active/FAULT fenced", "node1 is fenced (stale primary: node2 is a primary on timeline 2, this node on 1); PostgreSQL is stopped",
		"pgplay run playbooks/rejoin.yaml -i INVENTORY --limit node1"} {
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
