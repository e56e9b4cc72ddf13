package modules

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/transport"
)

// scramVectors are verifiers PostgreSQL 15.18 stored in pg_authid for
// these passwords (CREATE ROLE ... PASSWORD '...', password_encryption
// scram-sha-256).
var scramVectors = []struct{ password, verifier string }{
	{"p'$ x", "SCRAM-SHA-256$4096:bg2+94OT5iko/j4lsB1zIQ==$DIL5+5crLTDRkWUfQ88t983re8kb859BZJmf51m0OXI=:o3LoxbQM85L3bKj2FoN1K7JAPnedd5zjtzqVOQDCThE="},
	{"a\nb\\c\"d", "SCRAM-SHA-256$4096:3jrgumqoOlT07Og8kNokGQ==$zj1qfvgsqTkV84maYwv3E2uMLkgJsLEnqQPkMKPGWes=:qSQ+RPdXGS/8NgWyqEEhDJ9PRYd+Ol9ACguL4067SwM="},
}

func TestSCRAMAgainstPostgreSQL(t *testing.T) {
	for _, v := range scramVectors {
		if !scramMatches(v.verifier, v.password) {
			t.Errorf("the verifier PostgreSQL made for %q does not match it", v.password)
		}
		for _, other := range []string{v.password + " ", strings.ToUpper(v.password), "", "p'$x"} {
			if scramMatches(v.verifier, other) {
				t.Errorf("the verifier of %q matches %q", v.password, other)
			}
		}
		// Same salt and iterations: we compute exactly PostgreSQL's verifier.
		sec, err := parseSCRAM(v.verifier)
		if err != nil {
			t.Fatal(err)
		}
		got, err := scramVerifier(v.password, sec.salt, sec.iterations)
		if err != nil || got != v.verifier {
			t.Errorf("scramVerifier(%q) = %s, %v\nwant %s", v.password, got, err, v.verifier)
		}
	}
	fresh, err := newSCRAMVerifier("secret")
	if err != nil || !scramMatches(fresh, "secret") || scramMatches(fresh, "Secret") {
		t.Errorf("fresh verifier %s: %v", fresh, err)
	}
	if fresh2, _ := newSCRAMVerifier("secret"); fresh2 == fresh {
		t.Error("two verifiers of one password share a salt")
	}
	for _, bad := range []string{"", "md5abc", "SCRAM-SHA-256$x:salt$a:b", "SCRAM-SHA-256$4096:!!$a:b", "SCRAM-SHA-256$4096:c2FsdA=="} {
		if scramMatches(bad, "") {
			t.Errorf("%q matched", bad)
		}
	}
}

// roleCSV is psql's answer to roleQuery for an existing role.
func roleCSV(name, super, verifier string) string {
	return "rolname,rolcanlogin,rolsuper,rolreplication,rolcreatedb,rolcreaterole,rolinherit,rolbypassrls,rolconnlimit,rolpassword\n" +
		fmt.Sprintf("%q,t,%s,f,f,f,t,f,-1,%s\n", name, super, verifier)
}

var passwordLiteral = regexp.MustCompile(`PASSWORD ('(?:[^']|'')*')`)

func TestPGUserPasswordNeverLeaks(t *testing.T) {
	name := "we\"ird $role\nx"
	password := "s3cr'et $x\nline"
	h := newFakeHost().onSQL("FROM pg_authid", 0, "rolname,rolcanlogin\n", "")
	h.onSQL("CREATE ROLE", 0, "", "")
	m := newModule(t, "pg_user", map[string]any{"name": name, "password": password, "replication": true})

	// Check mode first: nothing runs, the change is recorded, and no
	// record holds the password.
	cres, rec := checkRun(t, m, h)
	if !cres.Changed || len(rec) != 1 {
		t.Fatalf("check mode: %+v %+v", cres, rec)
	}
	if s := fmt.Sprintf("%+v %+v", cres, rec); strings.Contains(s, "s3cr") {
		t.Errorf("check mode output holds the password: %s", s)
	}

	res := runOn(t, m, h)
	if !res.Changed || res.Failed || res.Data["password_changed"] != false && res.Msg != "role created" {
		t.Fatalf("create: %+v", res)
	}
	ch := h.log("change")
	if len(ch) != 1 {
		t.Fatalf("changes: %+v", ch)
	}
	sql := ch[0].Stdin
	wantPrefix := "CREATE ROLE " + sqlIdent(name) + " WITH LOGIN REPLICATION PASSWORD "
	if !strings.HasPrefix(sql, wantPrefix) {
		t.Fatalf("SQL = %q, want prefix %q", sql, wantPrefix)
	}
	lit := passwordLiteral.FindStringSubmatch(sql)
	if lit == nil || !scramMatches(decodeSQLLiteral(t, lit[1]), password) {
		t.Errorf("the PASSWORD clause is not a verifier of the password: %q", sql)
	}
	for _, c := range h.log() {
		all := strings.Join(c.Argv, " ") + c.Stdin + fmt.Sprint(c.Env)
		if strings.Contains(all, "s3cr") {
			t.Errorf("the password reached the host in clear: %+v", c)
		}
	}
	if s := fmt.Sprintf("%+v", res); strings.Contains(s, "s3cr") || strings.Contains(s, "SCRAM") {
		t.Errorf("the result holds secret material: %s", s)
	}
}

func TestPGUserIdempotentPassword(t *testing.T) {
	v := scramVectors[0]
	h := newFakeHost().onSQL("FROM pg_authid", 0, roleCSV("repmgr", "t", v.verifier), "")
	h.onSQL("ALTER ROLE", 0, "", "")
	same := newModule(t, "pg_user", map[string]any{"name": "repmgr", "password": v.password, "superuser": true})
	if res := runOn(t, same, h); res.Changed || res.Failed || len(h.log("change")) != 0 {
		t.Fatalf("same password and attributes: %+v, calls %+v", res, h.log())
	}
	other := newModule(t, "pg_user", map[string]any{"name": "repmgr", "password": "new one", "superuser": false})
	res := runOn(t, other, h)
	ch := h.log("change")
	if !res.Changed || len(ch) != 1 || res.Data["password_changed"] != true {
		t.Fatalf("new password: %+v %+v", res, ch)
	}
	if !strings.HasPrefix(ch[0].Stdin, `ALTER ROLE "repmgr" WITH NOSUPERUSER PASSWORD 'SCRAM-SHA-256$4096:`) {
		t.Errorf("SQL = %q", ch[0].Stdin)
	}
	if got := res.Data["changed_attributes"]; fmt.Sprint(got) != "[superuser]" {
		t.Errorf("changed_attributes = %v", got)
	}
	// An error from the server never shows the verifier.
	h.onFunc(func(c fakeCall) bool { return strings.HasPrefix(c.Stdin, "ALTER ROLE") }, func(c fakeCall) transport.Result {
		return transport.Result{RC: 3, Stderr: []byte("ERROR:  permission denied\nSTATEMENT: " + c.Stdin)}
	})
	res = runOn(t, other, h)
	if !res.Failed || strings.Contains(res.Msg, "SCRAM-SHA-256$4096") {
		t.Errorf("failure message: %q", res.Msg)
	}
}

func TestPGUserValidation(t *testing.T) {
	wantArgError(t, "pg_user", map[string]any{"name": "x", "password": "pässword"}, "ASCII")
	wantArgError(t, "pg_user", map[string]any{"name": "x", "state": "absent", "superuser": true}, "absent")
	wantArgError(t, "pg_user", map[string]any{"name": strings.Repeat("r", 64)}, "63")
	wantArgError(t, "pg_user", map[string]any{"name": "x", "superuser": "maybe"}, "superuser")
	wantArgError(t, "pg_user", map[string]any{"name": "x", "port": 70000}, "port")
	wantArgError(t, "pg_user", map[string]any{"name": "x", "passwd": "y"}, "unknown argument", "password")
}

func TestPGUserDrop(t *testing.T) {
	h := newFakeHost().onSQL("FROM pg_authid", 0, roleCSV("old", "f", ""), "")
	h.onSQL("DROP ROLE", 3, "", "ERROR:  role \"old\" cannot be dropped because some objects depend on it")
	res := runOn(t, newModule(t, "pg_user", map[string]any{"name": "old", "state": "absent"}), h)
	if !res.Failed || !strings.Contains(res.Msg, "REASSIGN OWNED") {
		t.Errorf("drop with dependencies: %+v", res)
	}
	h = newFakeHost().onSQL("FROM pg_authid", 0, "rolname\n", "")
	if res := runOn(t, newModule(t, "pg_user", map[string]any{"name": "old", "state": "absent"}), h); res.Changed || len(h.log("change")) != 0 {
		t.Errorf("absent role: %+v", res)
	}
}

func settingCSV(setting, unit, vartype, context, pending, autoCount, autoValue string) string {
	return "name,known,setting,unit,vartype,context,pending_restart,auto_count,auto_value\n" +
		fmt.Sprintf("x,t,%s,%s,%s,%s,%s,%s,%s\n", setting, unit, vartype, context, pending, autoCount, autoValue)
}

func TestSameSetting(t *testing.T) {
	cases := []struct {
		have, want, unit, vartype string
		same                      bool
	}{
		{"131072", "1GB", "8kB", "integer", true},
		{"1024", "1GB", "MB", "integer", true},
		{"1024", "1024MB", "MB", "integer", true},
		{"1024", "1000MB", "MB", "integer", false},
		{"300", "5min", "s", "integer", true},
		{"300", "300", "s", "integer", true},
		{"300000", "5min", "ms", "integer", true},
		{"on", "true", "", "bool", true},
		{"off", "on", "", "bool", false},
		{"replica", "REPLICA", "", "enum", true},
		{"FIRST 1 (node2, node3)", "FIRST 1 (node2, node3)", "", "string", true},
		{"FIRST 1 (node2, node3)", "FIRST 1 (node3, node2)", "", "string", false},
		{"1GB", "1024MB", "", "", true}, // two file values
		{"0.9", "0.90", "", "real", true},
	}
	for _, c := range cases {
		if got := sameSetting("x", c.have, c.want, c.unit, c.vartype); got != c.same {
			t.Errorf("sameSetting(%q, %q, unit %q, %s) = %v", c.have, c.want, c.unit, c.vartype, got)
		}
	}
	if !sameSetting("search_path", `"$user", public`, `$user,public`, "", "string") {
		t.Error("list settings compare by items")
	}
	if got := settingValue("shared_preload_libraries", "pg_stat_statements, repmgr"); got != "'pg_stat_statements', 'repmgr'" {
		t.Errorf("list value SQL = %s", got)
	}
	if got := settingIdent("repmgr.foo"); got != `"repmgr"."foo"` {
		t.Errorf("settingIdent = %s", got)
	}
}

func TestPGSetting(t *testing.T) {
	// Already in effect from a conf.d file: ok.
	h := newFakeHost().onSQL("pg_settings", 0, settingCSV("1024", "MB", "integer", "sighup", "f", "0", ""), "")
	m := newModule(t, "pg_setting", map[string]any{"name": "wal_keep_size", "value": "1GB"})
	if res := runOn(t, m, h); res.Changed || res.Failed || len(h.log("change")) != 0 {
		t.Fatalf("value in effect: %+v", res)
	}
	// Different: ALTER SYSTEM SET + reload, then pending_restart re-read.
	h = newFakeHost().onSQL("pg_settings", 0, settingCSV("128", "MB", "integer", "sighup", "f", "0", ""), "")
	h.onSQL("ALTER SYSTEM", 0, "", "")
	res := runOn(t, m, h)
	ch := h.log("change")
	if !res.Changed || len(ch) != 1 || ch[0].Stdin != "ALTER SYSTEM SET \"wal_keep_size\" = '1GB';\nSELECT pg_reload_conf();\n" {
		t.Fatalf("set: %+v %+v", res, ch)
	}
	if len(res.Diffs) != 1 || res.Diffs[0] != (Diff{Path: "setting wal_keep_size", Before: "wal_keep_size = 128MB\n", After: "wal_keep_size = 1GB\n"}) {
		t.Errorf("set: --diff shows %+v, want the old and new value", res.Diffs)
	}
	// A restart-only setting already written: ok, restart_pending.
	h = newFakeHost().onSQL("pg_settings", 0, settingCSV("16384", "8kB", "integer", "postmaster", "t", "1", "256MB"), "")
	res = runOn(t, newModule(t, "pg_setting", map[string]any{"name": "shared_buffers", "value": "256MB"}), h)
	if res.Changed || res.Data["restart_pending"] != true {
		t.Errorf("pending restart: %+v", res)
	}
	// Check mode of a postmaster setting predicts restart_pending.
	h = newFakeHost().onSQL("pg_settings", 0, settingCSV("16384", "8kB", "integer", "postmaster", "f", "0", ""), "")
	cres, rec := checkRun(t, newModule(t, "pg_setting", map[string]any{"name": "shared_buffers", "value": "1GB"}), h)
	if !cres.Changed || len(rec) != 1 || cres.Data["restart_pending"] != true || !strings.Contains(cres.Msg, "restarted") {
		t.Errorf("check mode: %+v %+v", cres, rec)
	}
	// Reset only when postgresql.auto.conf has it.
	h = newFakeHost().onSQL("pg_settings", 0, settingCSV("", "", "string", "sighup", "f", "0", ""), "")
	if res := runOn(t, newModule(t, "pg_setting", map[string]any{"name": "synchronous_standby_names", "state": "absent"}), h); res.Changed {
		t.Errorf("reset of an unset value changed: %+v", res)
	}
	h = newFakeHost().onSQL("pg_settings", 0, "name,known\nnosuch,f\n", "")
	if res := runOn(t, newModule(t, "pg_setting", map[string]any{"name": "nosuch", "value": "1"}), h); !res.Failed || !strings.Contains(res.Msg, "no setting") {
		t.Errorf("unknown setting: %+v", res)
	}
	wantArgError(t, "pg_setting", map[string]any{"name": "work_mem"}, "value")
	wantArgError(t, "pg_setting", map[string]any{"name": "work_mem", "value": "1", "state": "absent"}, "absent")
	wantArgError(t, "pg_setting", map[string]any{"name": "work mem", "value": "1"}, "not a setting name")
}

func TestPGSlotAndDatabase(t *testing.T) {
	h := newFakeHost().onSQL("pg_replication_slots", 0, "slot_name,slot_type,active,active_pid,restart_lsn\n", "")
	h.onSQL("pg_create_physical_replication_slot", 0, "", "")
	res := runOn(t, newModule(t, "pg_slot", map[string]any{"name": "barman", "immediately_reserve": true}), h)
	if !res.Changed || h.log("change")[0].Stdin != "SELECT pg_create_physical_replication_slot('barman', true);\n" {
		t.Errorf("create slot: %+v %+v", res, h.log("change"))
	}
	h = newFakeHost().onSQL("pg_replication_slots", 0, "slot_name,slot_type,active,active_pid,restart_lsn\nbarman,physical,t,4242,0/3000000\n", "")
	if res := runOn(t, newModule(t, "pg_slot", map[string]any{"name": "barman"}), h); res.Changed || res.Data["active"] != true {
		t.Errorf("existing slot: %+v", res)
	}
	if res := runOn(t, newModule(t, "pg_slot", map[string]any{"name": "barman", "state": "absent"}), h); !res.Failed || !strings.Contains(res.Msg, "4242") {
		t.Errorf("dropping an active slot: %+v", res)
	}
	wantArgError(t, "pg_slot", map[string]any{"name": "Barman-1"}, "not a valid replication slot name")

	h = newFakeHost().onSQL("pg_database", 0, "datname,owner,encoding\n", "")
	h.onSQL("CREATE DATABASE", 0, "", "")
	res = runOn(t, newModule(t, "pg_database", map[string]any{"name": "app db", "owner": "o'wner", "encoding": "UTF8", "template": "template0"}), h)
	if !res.Changed || h.log("change")[0].Stdin != `CREATE DATABASE "app db" OWNER "o'wner" ENCODING 'UTF8' TEMPLATE "template0";`+"\n" {
		t.Errorf("create db: %+v %+v", res, h.log("change"))
	}
	h = newFakeHost().onSQL("pg_database", 0, "datname,owner,encoding\nrepmgr,repmgr,UTF8\n", "")
	if res := runOn(t, newModule(t, "pg_database", map[string]any{"name": "repmgr", "owner": "repmgr", "encoding": "utf-8"}), h); res.Changed || res.Failed {
		t.Errorf("existing db: %+v", res)
	}
	if res := runOn(t, newModule(t, "pg_database", map[string]any{"name": "repmgr", "encoding": "LATIN1"}), h); !res.Failed || !strings.Contains(res.Msg, "cannot change") {
		t.Errorf("encoding mismatch: %+v", res)
	}
	wantArgError(t, "pg_database", map[string]any{"name": "postgres", "state": "absent"}, "connected to it")
}

// lsclustersOut is `pg_lsclusters -h` on Debian 12.
const lsclustersOut = "15  main    5432 online,recovery postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log\n" +
	"15  other   5433 down   postgres /srv/pg/other <unknown>\n"

func TestParseLsclusters(t *testing.T) {
	cs, err := parseLsclusters(lsclustersOut)
	if err != nil || len(cs) != 2 {
		t.Fatalf("%v %v", cs, err)
	}
	d := cs[0].data()
	if d["port"] != 5432 || d["running"] != true || d["recovery"] != true || d["data_directory"] != "/var/lib/postgresql/15/main" {
		t.Errorf("first = %v", d)
	}
	if cs[1].data()["running"] != false || cs[1].LogFile != "<unknown>" {
		t.Errorf("second = %+v", cs[1])
	}
	if _, err := parseLsclusters("15 main x online postgres /d\n"); err == nil {
		t.Error("a bad port was accepted")
	}
}

func TestPGCluster(t *testing.T) {
	h := newFakeHost().on("pg_lsclusters -h", 0, "", "")
	h.on("pg_createcluster", 0, "", "")
	m := newModule(t, "pg_cluster", map[string]any{"version": 15, "port": 5432, "initdb_options": []any{"--data-checksums"}, "start_conf": "manual"})
	cres, rec := checkRun(t, m, h)
	if !cres.Changed || len(rec) != 1 {
		t.Fatalf("check mode: %+v %+v", cres, rec)
	}
	res := runOn(t, m, h)
	ch := h.log("change")
	want := "pg_createcluster --locale C.UTF-8 --port 5432 --start-conf manual 15 main -- --data-checksums"
	if !res.Changed || len(ch) != 1 || ch[0].cmdline() != want {
		t.Fatalf("create: %+v %v", res, ch)
	}
	// Exists: ok; start.conf differing is rewritten, comments kept.
	h = newFakeHost().on("pg_lsclusters -h", 0, lsclustersOut, "")
	h.file("/etc/postgresql/15/main/start.conf", "# Automatic startup\nauto\n", 0o644, "postgres")
	res = runOn(t, newModule(t, "pg_cluster", map[string]any{"port": 5432}), h)
	if res.Changed || res.Failed || len(h.changes()) != 0 {
		t.Fatalf("existing cluster: %+v", res)
	}
	res = runOn(t, m, h)
	if got, _ := h.content("/etc/postgresql/15/main/start.conf"); !res.Changed || got != "# Automatic startup\nmanual\n" {
		t.Errorf("start.conf: %+v %q", res, got)
	}
	res = runOn(t, newModule(t, "pg_cluster", map[string]any{"port": 5440}), h)
	if !res.Failed || !strings.Contains(res.Msg, "exists on port 5432") {
		t.Errorf("port mismatch: %+v", res)
	}
	wantArgError(t, "pg_cluster", map[string]any{"state": "absent"}, "force: true")
	wantArgError(t, "pg_cluster", map[string]any{"version": "fifteen"}, "major version")
	wantArgError(t, "pg_cluster", map[string]any{"initdb_options": "data-checksums"}, "start with '-'")
	h.on("pg_dropcluster", 0, "", "")
	res = runOn(t, newModule(t, "pg_cluster", map[string]any{"state": "absent", "force": true}), h)
	if !res.Changed || h.log("change")[len(h.log("change"))-1].cmdline() != "pg_dropcluster --stop 15 main" {
		t.Errorf("drop: %+v", res)
	}
}

// The verifier's alphabet never needs an escape-string literal.
func TestVerifierIsPlainLiteral(t *testing.T) {
	v, _ := scramVerifier("x", []byte("0123456789abcdef"), 4096)
	if strings.ContainsAny(v, `'\`) || !strings.HasPrefix(sqlLiteral(v), "'SCRAM") {
		t.Errorf("verifier %s", v)
	}
	if _, err := base64.StdEncoding.DecodeString(strings.Split(strings.Split(v, "$")[1], ":")[1]); err != nil {
		t.Error(err)
	}
}
