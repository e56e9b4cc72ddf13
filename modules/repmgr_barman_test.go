package modules

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/transport"
)

const repmgrConf = `node_id=2
node_name='node2'
conninfo='host=198.51.100.12 user=repmgr dbname=repmgr connect_timeout=2'
data_directory='/var/lib/postgresql/15/main'
pg_bindir='/usr/lib/postgresql/15/bin'
use_replication_slots=yes   # slots
`

// clusterShowTable is `repmgr cluster show` of a three-node cluster.
const clusterShowTable = ` ID | Name  | Role    | Status    | Upstream | Location | Priority | Timeline | Connection string
----+-------+---------+-----------+----------+----------+----------+----------+---------------------------------------------------------
 1  | node1 | primary | * running |          | default  | 100      | 1        | host=198.51.100.11 user=repmgr dbname=repmgr connect_timeout=2
 2  | node2 | standby |   running | node1    | default  | 100      | 1        | host=198.51.100.12 user=repmgr dbname=repmgr connect_timeout=2
 3  | node3 | standby |   unreachable | node1    | default  | 100      |          | host=198.51.100.13 user=repmgr dbname=repmgr connect_timeout=2
`

// nodeStatusCSV is `repmgr node status --csv` on a standby, in the shape
// repmgr 5.3.3's do_node_status prints it.
const nodeStatusCSV = `"Node name","node2"
"Node ID","2"
"PostgreSQL version","15.18"
"Total data size","30 MB"
"Conninfo","host=198.51.100.12 user=repmgr dbname=repmgr connect_timeout=2"
"Role","standby"
"WAL archiving","disabled (on standbys "archive_mode" must be set to "always" to be effective)"
"Archive command","/bin/true"
"WALs pending archiving","0"
"Replication connections","0 (of maximal 10)"
"Replication slots","0 physical (of maximal 10; 0 missing)"
"Upstream node","node1 (ID: 1)"
"Replication lag","0 seconds"
"Last received LSN","0/3000148"
"Last replayed LSN","0/3000148"
"max_wal_senders",10
"occupied_wal_senders",0
"max_replication_slots",10
"active_replication_slots",0
"inactive_replication_slots",2,"repmgr_slot_3","barman"
"missing_replication_slots",0
`

func TestRepmgrParsers(t *testing.T) {
	conf := parseRepmgrConf(repmgrConf + "node_name2='it''s \\'x\\''\n")
	if conf["node_id"] != "2" || conf["data_directory"] != "/var/lib/postgresql/15/main" || conf["use_replication_slots"] != "yes" || conf["node_name2"] != "it's 'x'" {
		t.Errorf("conf = %v", conf)
	}
	ci := parseConninfo(conf["conninfo"] + ` application_name='a b\'c'`)
	if ci["host"] != "198.51.100.12" || ci["dbname"] != "repmgr" || ci["application_name"] != "a b'c" {
		t.Errorf("conninfo = %v", ci)
	}
	if got := parseConninfo("host=" + conninfoQuote("my host's") + " user=" + conninfoQuote(`back\slash`)); got["host"] != "my host's" || got["user"] != `back\slash` {
		t.Errorf("conninfoQuote round trip = %v", got)
	}
	csv := parseClusterShowCSV("1,0,0\n2,0,1\n3,-1,-1\n")
	if csv[1]["role_now"] != "primary" || csv[2]["role_now"] != "standby" || csv[3]["available"] != false || csv[3]["role_now"] != "unknown" {
		t.Errorf("cluster show --csv = %v", csv)
	}
	rows := parseClusterShowTable(clusterShowTable)
	if rows[1]["name"] != "node1" || rows[2]["upstream"] != "node1" || rows[3]["status"] != "unreachable" || rows[1]["connection_string"] != "host=198.51.100.11 user=repmgr dbname=repmgr connect_timeout=2" {
		t.Errorf("cluster show = %v", rows)
	}
	st := parseNodeStatusCSV(nodeStatusCSV)
	if st["Role"] != "standby" || st["Upstream node"] != "node1 (ID: 1)" || st["max_wal_senders"] != 10 ||
		st["WAL archiving"] != `disabled (on standbys "archive_mode" must be set to "always" to be effective)` ||
		!reflect.DeepEqual(st["inactive_replication_slots_names"], []any{"repmgr_slot_3", "barman"}) {
		t.Errorf("node status = %v", st)
	}
	cd := parseControlData("pg_control version number:            1300\nDatabase system identifier:           7301234567890123456\nDatabase cluster state:               shut down in recovery\n")
	if cd["Database cluster state"] != "shut down in recovery" || cd["Database system identifier"] != "7301234567890123456" {
		t.Errorf("controldata = %v", cd)
	}
	if repmgrExitMeaning(6) != "ERR_DB_CONN: could not connect to a database" || repmgrExitMeaning(99) != "unknown exit code" {
		t.Error("exit code meanings")
	}
}

// repmgrHost is a fake standby-to-be: repmgr.conf deployed, PostgreSQL
// stopped with an empty data directory, and an upstream node1 whose
// repmgr.nodes lists node 1 as primary.
func repmgrHost() *fakeHost {
	h := newFakeHost().file("/etc/repmgr.conf", repmgrConf, 0o644, "postgres")
	h.on("/usr/lib/postgresql/15/bin/pg_ctl status", 3, "", "pg_ctl: no server running\n")
	h.on("/usr/lib/postgresql/15/bin/pg_controldata", 1, "", "could not open file \"global/pg_control\"\n")
	upstream := func(sub string) func(c fakeCall) bool {
		return func(c fakeCall) bool {
			return isPsql(c) && strings.Contains(c.cmdline(), "host=node1") && strings.Contains(c.Stdin, sub)
		}
	}
	reply := func(out string) func(fakeCall) transport.Result {
		return func(fakeCall) transport.Result { return transport.Result{Stdout: []byte(out)} }
	}
	h.onFunc(upstream("pg_control_system"), reply("sysid,recovery\n7301234567890123456,f\n"))
	h.onFunc(upstream("to_regclass"), reply("ok\nt\n"))
	h.onFunc(upstream("FROM repmgr.nodes"), reply("node_id,upstream_node_id,active,node_name,type,conninfo\n1,,t,node1,primary,host=198.51.100.11 user=repmgr dbname=repmgr\n"))
	h.on("/usr/lib/postgresql/15/bin/repmgr", 0, "", "INFO: ok\n")
	return h
}

func repmgrCalls(h *fakeHost) []string {
	var out []string
	for _, c := range h.log("query", "change") {
		if strings.HasSuffix(c.Argv[0], "/repmgr") {
			out = append(out, c.Op+" "+strings.Join(c.Argv[3:], " "))
			if c.User != "postgres" {
				out = append(out, "NOT AS POSTGRES")
			}
		}
	}
	return out
}

func TestRepmgrStandbyClone(t *testing.T) {
	h := repmgrHost()
	m := newModule(t, "repmgr", map[string]any{"action": "standby_clone", "upstream_host": "node1"})
	res := runOn(t, m, h)
	want := []string{
		"query -h node1 -U repmgr -d repmgr standby clone --fast-checkpoint --dry-run",
		"change -h node1 -U repmgr -d repmgr standby clone --fast-checkpoint",
	}
	if !res.Changed || res.Failed || !reflect.DeepEqual(repmgrCalls(h), want) {
		t.Fatalf("clone: %+v\ncalls %q", res, repmgrCalls(h))
	}
	if c := h.log("change")[0]; c.Argv[1] != "-f" || c.Argv[2] != "/etc/repmgr.conf" {
		t.Errorf("repmgr argv = %v", c.Argv)
	}

	// Already a clone of the upstream: ok, nothing run.
	h = repmgrHost().file("/var/lib/postgresql/15/main/standby.signal", "", 0o600, "postgres")
	h.on("/usr/lib/postgresql/15/bin/pg_controldata", 0, "Database system identifier:           7301234567890123456\nDatabase cluster state:               in archive recovery\n", "")
	h.on("/usr/lib/postgresql/15/bin/pg_ctl status", 0, "pg_ctl: server is running (PID: 77)\n", "")
	if res := runOn(t, m, h); res.Changed || res.Failed || len(repmgrCalls(h)) != 0 {
		t.Errorf("already cloned: %+v %q", res, repmgrCalls(h))
	}
}

// A failed dry run is softened to "would change, unverified" when the
// Target is a check-mode Target (earlier tasks were only simulated), and
// only then: the Env carries no check flag, and a real Target (a task
// with check_mode: false in a --check run) reports the real failure.
func TestRepmgrSoftenedByCheckTarget(t *testing.T) {
	m := newModule(t, "repmgr", map[string]any{"action": "standby_clone", "upstream_host": "node1"})
	h := repmgrHost()
	h.on("/usr/lib/postgresql/15/bin/repmgr -f /etc/repmgr.conf -h node1", 1, "", "ERROR: unable to connect to upstream\n")
	res, rec := checkRun(t, m, h)
	if res.Failed || !res.Changed || !strings.Contains(res.Msg, "check mode: could not verify") || len(rec) != 0 {
		t.Errorf("check Target: %+v, recorded %+v", res, rec)
	}
	h = repmgrHost()
	h.on("/usr/lib/postgresql/15/bin/repmgr -f /etc/repmgr.conf -h node1", 1, "", "ERROR: unable to connect to upstream\n")
	if res := runEnv(t, m, h, &Env{Host: "node1"}); !res.Failed || strings.Contains(res.Msg, "check mode") || len(h.log("change")) != 0 {
		t.Errorf("real Target: %+v", res)
	}
}

func TestRepmgrStandbyCloneRefusals(t *testing.T) {
	// A running server (here: the primary itself) is never cloned over,
	// even with force.
	h := repmgrHost()
	h.on("/usr/lib/postgresql/15/bin/pg_ctl status", 0, "pg_ctl: server is running (PID: 77)\n", "")
	h.on("/usr/lib/postgresql/15/bin/pg_controldata", 0, "Database system identifier:           7301234567890123456\nDatabase cluster state:               in production\n", "")
	m := newModule(t, "repmgr", map[string]any{"action": "standby_clone", "upstream_host": "node1", "force": true})
	res := runOn(t, m, h)
	if !res.Failed || !strings.Contains(res.Msg, "PostgreSQL is running") || len(repmgrCalls(h)) != 0 || res.Data["refused"] != true {
		t.Errorf("running: %+v %q", res, repmgrCalls(h))
	}
	// Refusals stay failures in check mode.
	if cres, _ := checkRun(t, m, h); !cres.Failed {
		t.Errorf("check mode softened a refusal: %+v", cres)
	}

	// This node's id registered as the active primary upstream.
	h = repmgrHost()
	h.onFunc(func(c fakeCall) bool {
		return strings.Contains(c.cmdline(), "host=node1") && strings.Contains(c.Stdin, "FROM repmgr.nodes")
	},
		func(fakeCall) transport.Result {
			return transport.Result{Stdout: []byte("node_id,upstream_node_id,active,node_name,type,conninfo\n2,,t,node2,primary,host=x\n")}
		})
	if res := runOn(t, m, h); !res.Failed || !strings.Contains(res.Msg, "registered as the active primary") || len(h.log("change")) != 0 {
		t.Errorf("registered primary: %+v", res)
	}

	// Another cluster's data: only with force, and then -F.
	h = repmgrHost()
	h.on("/usr/lib/postgresql/15/bin/pg_controldata", 0, "Database system identifier:           1111\nDatabase cluster state:               shut down\n", "")
	noForce := newModule(t, "repmgr", map[string]any{"action": "standby_clone", "upstream_host": "node1"})
	if res := runOn(t, noForce, h); !res.Failed || !strings.Contains(res.Msg, "force: true") || len(repmgrCalls(h)) != 0 {
		t.Errorf("existing data without force: %+v", res)
	}
	res = runOn(t, m, h)
	if calls := repmgrCalls(h); !res.Changed || len(calls) != 2 || !strings.HasSuffix(calls[1], "--fast-checkpoint -F") {
		t.Errorf("existing data with force: %+v %q", res, calls)
	}

	// The dry-run fails: its exit code is explained, nothing else runs.
	h = repmgrHost()
	h.on("/usr/lib/postgresql/15/bin/repmgr", 6, "", "ERROR: connection to database failed\n")
	res = runOn(t, noForce, h)
	if !res.Failed || res.RC != 6 || !strings.Contains(res.Msg, "ERR_DB_CONN") || !strings.Contains(res.Msg, "--dry-run") || len(h.log("change")) != 0 {
		t.Errorf("dry-run failure: %+v", res)
	}
	// ... which check mode reports as unverified, not failed.
	cres, _ := checkRun(t, noForce, h)
	if cres.Failed || !cres.Changed || !strings.Contains(cres.Msg, "check mode") {
		t.Errorf("check mode dry-run failure: %+v", cres)
	}
}

func TestRepmgrRegisterPromoteRejoin(t *testing.T) {
	local := func(h *fakeHost, recovery, nodes string) {
		h.onFunc(func(c fakeCall) bool { return strings.Contains(c.Stdin, "pg_is_in_recovery() AS recovery") }, func(fakeCall) transport.Result {
			return transport.Result{Stdout: []byte("recovery,paused\n" + recovery + ",f\n")}
		})
		h.onSQL("to_regclass", 0, "ok\nt\n", "")
		h.onFunc(func(c fakeCall) bool {
			return !strings.Contains(c.cmdline(), "host=") && strings.Contains(c.Stdin, "FROM repmgr.nodes")
		}, func(fakeCall) transport.Result {
			return transport.Result{Stdout: []byte("node_id,upstream_node_id,active,node_name,type,conninfo\n" + nodes)}
		})
		// The one-run read of primary_register and standby_register.
		h.onFunc(func(c fakeCall) bool { return isPsql(c) && strings.Contains(c.Stdin, "pgplay_nodes_ok") }, func(c fakeCall) transport.Result {
			marker := strings.Fields(c.Stdin[strings.Index(c.Stdin, `\echo `):])[1]
			return transport.Result{Stdout: []byte("recovery\n" + recovery + "\n" + marker + " 1\n" +
				"node_id,upstream_node_id,active,node_name,type,conninfo\n" + nodes + marker + " 0\n")}
		})
	}
	// Registered standby: ok.
	h := repmgrHost()
	local(h, "t", "1,,t,node1,primary,host=a\n2,1,t,node2,standby,host=b\n")
	if res := runOn(t, newModule(t, "repmgr", map[string]any{"action": "standby_register"}), h); res.Changed || res.Failed || len(repmgrCalls(h)) != 0 {
		t.Errorf("registered standby: %+v", res)
	}
	// ... read in one psql run.
	if n := len(h.log("query")); n != 1 {
		t.Errorf("registered standby: %d commands, want 1 psql run: %+v", n, h.log("query"))
	}
	// A server that is down: the one-run read fails, and the task says
	// why as before.
	h = repmgrHost()
	h.onFunc(isPsql, func(fakeCall) transport.Result {
		return transport.Result{RC: 2, Stderr: []byte("psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: No such file or directory\n")}
	})
	if res := runOn(t, newModule(t, "repmgr", map[string]any{"action": "standby_register"}), h); !res.Failed || !strings.Contains(res.Msg, "cannot query the local PostgreSQL") {
		t.Errorf("standby_register with the server down: %+v", res)
	}
	// Not registered: dry-run, then register.
	h = repmgrHost()
	local(h, "t", "1,,t,node1,primary,host=a\n")
	res := runOn(t, newModule(t, "repmgr", map[string]any{"action": "standby_register", "upstream_node_id": 1}), h)
	if want := []string{"query standby register --upstream-node-id=1 --dry-run", "change standby register --upstream-node-id=1"}; !res.Changed || !reflect.DeepEqual(repmgrCalls(h), want) {
		t.Errorf("register: %+v %q", res, repmgrCalls(h))
	}
	// primary_register on a standby is refused.
	if res := runOn(t, newModule(t, "repmgr", map[string]any{"action": "primary_register"}), h); !res.Failed || !strings.Contains(res.Msg, "running as a standby") {
		t.Errorf("primary_register on a standby: %+v", res)
	}
	// Promote: already primary is ok; a standby is promoted, then CHECKPOINT.
	h = repmgrHost()
	local(h, "f", "")
	if res := runOn(t, newModule(t, "repmgr", map[string]any{"action": "standby_promote"}), h); res.Changed || res.Msg != "already a primary" {
		t.Errorf("promote a primary: %+v", res)
	}
	h = repmgrHost()
	local(h, "t", "")
	h.onSQL("CHECKPOINT", 0, "", "")
	res = runOn(t, newModule(t, "repmgr", map[string]any{"action": "standby_promote"}), h)
	var last string
	if ch := h.log("change"); len(ch) == 2 {
		last = ch[1].Stdin
	}
	if !res.Changed || last != "CHECKPOINT;\n" {
		t.Errorf("promote: %+v, last change %q", res, last)
	}
	// Rejoin: refused while running, refused after an unclean stop, else
	// dry-run then rejoin with the upstream's conninfo.
	h = repmgrHost()
	h.on("/usr/lib/postgresql/15/bin/pg_controldata", 0, "Database system identifier:           7301234567890123456\nDatabase cluster state:               in production\n", "")
	rejoin := newModule(t, "repmgr", map[string]any{"action": "node_rejoin", "upstream_host": "node2", "force_rewind": true})
	if res := runOn(t, rejoin, h); !res.Failed || !strings.Contains(res.Msg, "not shut down cleanly") {
		t.Errorf("unclean rejoin: %+v", res)
	}
	h.on("/usr/lib/postgresql/15/bin/pg_controldata", 0, "Database system identifier:           7301234567890123456\nDatabase cluster state:               shut down\n", "")
	res = runOn(t, rejoin, h)
	want := []string{"query node rejoin -d host=node2 user=repmgr dbname=repmgr --force-rewind --dry-run", "change node rejoin -d host=node2 user=repmgr dbname=repmgr --force-rewind"}
	if !res.Changed || !reflect.DeepEqual(repmgrCalls(h), want) {
		t.Errorf("rejoin: %+v %q", res, repmgrCalls(h))
	}
}

func TestRepmgrClusterShowAndValidation(t *testing.T) {
	h := repmgrHost()
	h.on("/usr/lib/postgresql/15/bin/repmgr -f /etc/repmgr.conf cluster show", 25, clusterShowTable, "WARNING: following issues were detected\n  - unable to connect to node \"node3\" (ID: 3)\n")
	// (later rules win: the --csv one must come after the plain one)
	h.on("/usr/lib/postgresql/15/bin/repmgr -f /etc/repmgr.conf cluster show --csv", 25, "1,0,0\n2,0,1\n3,-1,-1\n", "")
	h.on("/usr/lib/postgresql/15/bin/repmgr -f /etc/repmgr.conf node status --csv", 0, nodeStatusCSV, "")
	res := runOn(t, newModule(t, "repmgr", map[string]any{"action": "cluster_show"}), h)
	nodes, _ := res.Data["nodes"].([]any)
	if res.Failed || res.Changed || len(nodes) != 3 || res.Data["primary"] != "node1" || res.Data["ok"] != false || !strings.Contains(res.Msg, "node3") {
		t.Fatalf("cluster_show: %+v", res)
	}
	n3 := nodes[2].(map[string]any)
	if n3["available"] != false || n3["name"] != "node3" || res.Data["node_status"].(map[string]any)["Role"] != "standby" {
		t.Errorf("node 3 = %v", n3)
	}
	if len(h.log("change")) != 0 {
		t.Error("cluster_show changed something")
	}

	wantArgError(t, "repmgr", map[string]any{"action": "standby_clone"}, "upstream_host")
	wantArgError(t, "repmgr", map[string]any{"action": "standby_follow"}, "upstream_node_id")
	wantArgError(t, "repmgr", map[string]any{"action": "standby_promote", "force_rewind": true}, "force_rewind")
	wantArgError(t, "repmgr", map[string]any{"action": "cluster_show", "force": true}, "force")
	wantArgError(t, "repmgr", map[string]any{"action": "switchover"}, "not one of")
	wantArgError(t, "repmgr", map[string]any{"action": "cluster_show", "config": "repmgr.conf"}, "absolute")

	h = newFakeHost()
	if res := runOn(t, newModule(t, "repmgr", map[string]any{"action": "cluster_show"}), h); !res.Failed || !strings.Contains(res.Msg, "deploy repmgr.conf") {
		t.Errorf("no config: %+v", res)
	}
}

// barmanCheckOut is `barman check pg` with barman 3.4 before the first WAL
// arrived.
const barmanCheckOut = `Server pg:
	PostgreSQL: OK
	superuser or standard user with backup privileges: OK
	PostgreSQL streaming: OK
	wal_level: OK
	replication slot: FAILED (replication slot 'barman' doesn't exist. Please execute 'barman receive-wal --create-slot pg')
	directories: OK
	retention policy settings: OK
	backup maximum age: OK (no last_backup_maximum_age provided)
	backup minimum size: OK (0 B)
	wal maximum age: OK (no last_wal_maximum_age provided)
	wal size: OK (0 B)
	compression settings: OK
	failed backups: OK (there are 0 failed backups)
	minimum redundancy requirements: OK (have 0 backups, expected at least 0)
	pg_basebackup: OK
	pg_basebackup compatible: OK
	pg_basebackup supports tablespaces mapping: OK
	systemid coherence: OK (no system Id stored on disk)
	pg_receivexlog: OK
	pg_receivexlog compatible: OK
	receive-wal running: FAILED (See the Barman log file for more details)
	archiver errors: OK
`

// barmanBackupsJSON is `barman -f json list-backups pg` (newest first).
const barmanBackupsJSON = `{"pg": [{"backup_id": "20240102T030405", "end_time": "Tue Jan  2 03:04:09 2024", "end_time_timestamp": "1704164649", "retention_status": "VALID", "size": "36.2 MiB", "size_bytes": 37958410, "status": "DONE", "tablespaces": [], "wal_size": "0 B", "wal_size_bytes": 0}, {"backup_id": "20240101T000000", "status": "FAILED"}]}`

func TestBarmanParsers(t *testing.T) {
	checks, order := parseBarmanCheck(barmanCheckOut)
	if len(checks) != 22 || order[0] != "PostgreSQL" {
		t.Fatalf("%d checks: %v", len(checks), order)
	}
	if c := checks["replication slot"]; c.OK || !strings.Contains(c.Detail, "doesn't exist") {
		t.Errorf("replication slot = %+v", c)
	}
	if c := checks["backup maximum age"]; !c.OK || c.Detail != "no last_backup_maximum_age provided" {
		t.Errorf("backup maximum age = %+v", c)
	}
	_, allOK, bad := checksData(checks)
	if allOK || !reflect.DeepEqual(bad, []string{"receive-wal running", "replication slot"}) {
		t.Errorf("all_ok %v, failed %v", allOK, bad)
	}
	bs, err := parseBarmanBackups([]byte(barmanBackupsJSON), "pg")
	if err != nil || len(bs) != 2 || bs[0]["end_time_timestamp"] != int64(1704164649) || bs[1]["status"] != "FAILED" {
		t.Errorf("backups = %v, %v", bs, err)
	}
	if msgs := barmanMessages([]byte(`{"_ERROR": ["Unknown server 'x'"]}`), "_ERROR"); !reflect.DeepEqual(msgs, []string{"Unknown server 'x'"}) {
		t.Errorf("messages = %v", msgs)
	}
}

func TestBarman(t *testing.T) {
	h := newFakeHost().on("barman check pg", 1, barmanCheckOut, "")
	res := runOn(t, newModule(t, "barman", map[string]any{"action": "check", "server": "pg"}), h)
	checks := res.Data["checks"].(map[string]any)
	if !res.Failed || res.Data["all_ok"] != false || checks["wal_level"].(map[string]any)["ok"] != true || !strings.Contains(res.Msg, "replication slot (") {
		t.Fatalf("check: %+v", res)
	}
	if c := h.log("query")[0]; c.User != "barman" || len(h.log("change")) != 0 {
		t.Errorf("check ran as %q with changes %v", c.User, h.log("change"))
	}
	// receive_wal creates the missing slot; when it exists nothing runs.
	h.on("barman receive-wal --create-slot pg", 0, "Creating physical replication slot 'barman' on server 'pg'\nReplication slot 'barman' created\n", "")
	res = runOn(t, newModule(t, "barman", map[string]any{"action": "receive_wal", "server": "pg"}), h)
	if !res.Changed || len(h.log("change")) != 1 {
		t.Errorf("receive_wal: %+v", res)
	}
	h = newFakeHost().on("barman check pg", 1, strings.Replace(barmanCheckOut, "FAILED (replication slot 'barman' doesn't exist. Please execute 'barman receive-wal --create-slot pg')", "FAILED (slot 'barman' not initialised: is 'receive-wal' running?)", 1), "")
	if res := runOn(t, newModule(t, "barman", map[string]any{"action": "receive_wal", "server": "pg"}), h); res.Changed || res.Failed || len(h.log("change")) != 0 {
		t.Errorf("existing slot: %+v", res)
	}
	// backup with if_older_than: a young backup makes it ok.
	h = newFakeHost().on("barman -f json list-backups pg", 0, strings.Replace(barmanBackupsJSON, "1704164649", "9999999999", 1), "")
	if res := runOn(t, newModule(t, "barman", map[string]any{"action": "backup", "server": "pg", "if_older_than": "24h"}), h); res.Changed || len(h.log("change")) != 0 {
		t.Errorf("young backup: %+v", res)
	}
	h = newFakeHost().on("barman -f json list-backups pg", 0, barmanBackupsJSON, "").on("barman -f json backup --wait pg", 0, `{"backup_id": "20240103T000000", "status": "DONE"}`, "")
	res = runOn(t, newModule(t, "barman", map[string]any{"action": "backup", "server": "pg", "if_older_than": "24h"}), h)
	if !res.Changed || res.Data["backup_id"] != "20240103T000000" {
		t.Errorf("backup: %+v", res)
	}
	h = newFakeHost().on("barman -f json list-backups pg", 0, barmanBackupsJSON, "")
	res = runOn(t, newModule(t, "barman", map[string]any{"action": "list_backups", "server": "pg"}), h)
	if latest, _ := res.Data["latest"].(map[string]any); res.Changed || latest["backup_id"] != "20240102T030405" || len(res.Data["backups"].([]any)) != 2 {
		t.Errorf("list_backups: %+v", res)
	}
	h = newFakeHost().on("barman switch-wal --force --archive pg", 0, "The WAL file 000000010000000000000003 has been closed on server 'pg'\n", "")
	if res := runOn(t, newModule(t, "barman", map[string]any{"action": "switch_wal", "server": "pg"}), h); !res.Changed {
		t.Errorf("switch_wal: %+v", res)
	}
	h = newFakeHost().on("barman cron", 0, "", "")
	if res := runOn(t, newModule(t, "barman", map[string]any{"action": "cron"}), h); res.Changed {
		t.Errorf("cron with nothing to start: %+v", res)
	}
	// barman 3.4's lines: archiving streamed WAL is routine (ok); starting
	// receive-wal is a change.
	h = newFakeHost().on("barman cron", 0, "Starting WAL archiving for server pg\n", "")
	if res := runOn(t, newModule(t, "barman", map[string]any{"action": "cron"}), h); res.Changed {
		t.Errorf("cron that only archived WAL: %+v", res)
	}
	h = newFakeHost().on("barman cron", 0, "Starting WAL archiving for server pg\nStarting streaming archiver for server pg\n", "")
	if res := runOn(t, newModule(t, "barman", map[string]any{"action": "cron"}), h); !res.Changed {
		t.Errorf("cron that started receive-wal: %+v", res)
	}
	h = newFakeHost().on("barman -f json list-backups nope", 1, `{"_ERROR": ["Unknown server 'nope'"]}`, "")
	if res := runOn(t, newModule(t, "barman", map[string]any{"action": "list_backups", "server": "nope"}), h); !res.Failed || !strings.Contains(res.Msg, "/etc/barman.d/nope.conf") {
		t.Errorf("unknown server: %+v", res)
	}
	wantArgError(t, "barman", map[string]any{"action": "check"}, "server")
	wantArgError(t, "barman", map[string]any{"action": "cron", "server": "pg"}, "every server")
	wantArgError(t, "barman", map[string]any{"action": "check", "server": "pg", "if_older_than": 60}, "backup")
}
