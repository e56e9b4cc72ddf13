package modules

import (
	"maps"
	"strings"
	"testing"
)

// debianCluster is a fake host with cluster 15/main as pg_createcluster
// and a running standby leave it (lsclustersOut's first line).
func debianCluster() *fakeHost {
	h := newFakeHost()
	h.file("/etc/postgresql/15/main/postgresql.conf", "# -----------------------------\n"+
		"data_directory = '/var/lib/postgresql/15/main'\t\t# use data in another directory\n"+
		"port = 5432\t\t\t\t# (change requires restart)\n"+
		"#logging_collector = off\n"+
		"log_line_prefix = '%m [%p] %q%u@%d '\n"+
		"include_dir = 'conf.d'\t\t\t# include files ending in '.conf' from\n", 0o644, "postgres")
	h.file("/etc/postgresql/15/main/start.conf", "auto\n", 0o644, "postgres")
	h.file("/etc/postgresql/15/main/conf.d/pgplay.conf", "wal_level = replica\nhot_standby on\n", 0o644, "postgres")
	h.file("/var/lib/postgresql/15/main/PG_VERSION", "15\n", 0o600, "postgres")
	h.files["/var/lib/postgresql/15/main"].owner = "postgres"
	h.file("/var/lib/postgresql/15/main/postmaster.pid", "4242\n/var/lib/postgresql/15/main\n1700000000\n5432\n", 0o600, "postgres")
	h.file("/var/lib/postgresql/15/main/standby.signal", "", 0o600, "postgres")
	h.file("/proc/4242/cmdline", "/usr/lib/postgresql/15/bin/postgres\x00-D\x00/var/lib/postgresql/15/main\x00-c\x00config_file=/etc/postgresql/15/main/postgresql.conf\x00", 0o444, "postgres")
	h.on("pg_lsclusters -h", 0, lsclustersOut, "")
	return h
}

// An existing cluster is read from its files, without pg_lsclusters, and
// registers what pg_lsclusters shows of it.
func TestPGClusterFromFiles(t *testing.T) {
	want, _ := parseLsclusters(lsclustersOut)
	h := debianCluster()
	res := runOn(t, newModule(t, "pg_cluster", map[string]any{"port": 5432, "start_conf": "auto"}), h)
	if res.Failed || res.Changed {
		t.Fatalf("converged cluster: %+v", res)
	}
	if q := h.log("query"); len(q) != 0 {
		t.Errorf("ran %v; want no program on the host", q[0].cmdline())
	}
	for k, v := range want[0].data() {
		if res.Data[k] != v {
			t.Errorf("%s = %v, pg_lsclusters says %v", k, res.Data[k], v)
		}
	}

	// A stopped standby: pg_lsclusters says "down,recovery" (seen on the
	// lab's Debian 12).
	cmdline := h.files["/proc/4242/cmdline"]
	delete(h.files, "/proc/4242/cmdline")
	res = runOn(t, newModule(t, "pg_cluster", map[string]any{}), h)
	if res.Data["status"] != "down,recovery" || res.Data["running"] != false || res.Data["recovery"] != true || len(h.log("query")) != 0 {
		t.Errorf("stopped standby: %v", res.Data)
	}
	h.files["/proc/4242/cmdline"] = cmdline

	// A primary (no signal file); a stale PID file is a stopped cluster.
	delete(h.files, "/var/lib/postgresql/15/main/standby.signal")
	res = runOn(t, newModule(t, "pg_cluster", map[string]any{}), h)
	if res.Data["status"] != "online" || res.Data["recovery"] != false || res.Data["running"] != true {
		t.Errorf("primary: %v", res.Data)
	}
	delete(h.files, "/proc/4242/cmdline")
	res = runOn(t, newModule(t, "pg_cluster", map[string]any{}), h)
	if res.Data["status"] != "down" || res.Data["running"] != false || len(h.log("query")) != 0 {
		t.Errorf("stale postmaster.pid: %v", res.Data)
	}
	// Another program under a reused PID is not the server.
	h.file("/proc/4242/cmdline", "/usr/lib/postgresql-tools/x\x00", 0o444, "root")
	if res = runOn(t, newModule(t, "pg_cluster", map[string]any{}), h); res.Data["running"] != false {
		t.Errorf("PID of another program: %v", res.Data)
	}
}

// A port set in conf.d wins over postgresql.conf's, as in the server; when
// the files disagree with the task, pg_lsclusters's answer is the one that
// fails it.
func TestPGClusterFromFilesIncludes(t *testing.T) {
	h := debianCluster()
	h.file("/etc/postgresql/15/main/conf.d/zz-port.conf", "PORT = '5433'\n", 0o644, "postgres")
	h.file("/etc/postgresql/15/main/conf.d/.hidden.conf", "port = 1\n", 0o644, "postgres")
	h.file("/etc/postgresql/15/main/conf.d/port.conf.off", "port = 2\n", 0o644, "postgres")
	res := runOn(t, newModule(t, "pg_cluster", map[string]any{}), h)
	if res.Data["port"] != 5433 || len(h.log("query")) != 0 {
		t.Fatalf("port from conf.d: %v", res.Data)
	}
	res = runOn(t, newModule(t, "pg_cluster", map[string]any{"port": 5433}), h)
	if res.Failed || len(h.log("query")) != 0 {
		t.Fatalf("port 5433 wanted: %+v", res)
	}
	// pg_lsclusters (lsclustersOut) says 5432 here: its answer decides.
	res = runOn(t, newModule(t, "pg_cluster", map[string]any{"port": 5432}), h)
	if q := h.log("query"); res.Failed || len(q) != 1 || q[0].cmdline() != "pg_lsclusters -h" || res.Data["port"] != 5432 {
		t.Fatalf("files disagree with the task: %+v, queries %v", res, q)
	}
}

// Whatever the files cannot say for sure goes to pg_lsclusters: check
// mode (no directory listing), logging_collector, a log link, a PID file
// without a PID, a malformed file, another owner, no cluster.
func TestPGClusterFallsBackToLsclusters(t *testing.T) {
	m := newModule(t, "pg_cluster", map[string]any{"port": 5432})
	h := debianCluster()
	res, rec := checkRun(t, m, h)
	if res.Failed || res.Changed || len(rec) != 0 || len(h.log("query")) != 1 || res.Data["status"] != "online,recovery" {
		t.Errorf("check mode: %+v %v", res, h.log("query"))
	}
	for name, edit := range map[string]func(h *fakeHost){
		"logging_collector": func(h *fakeHost) {
			h.file("/etc/postgresql/15/main/conf.d/log.conf", "logging_collector = on\n", 0o644, "postgres")
		},
		"log link": func(h *fakeHost) { h.file("/etc/postgresql/15/main/log", "", 0o644, "root") },
		"unreadable postmaster.pid": func(h *fakeHost) {
			h.file("/var/lib/postgresql/15/main/postmaster.pid", "", 0o600, "postgres")
		},
		"malformed": func(h *fakeHost) {
			h.file("/etc/postgresql/15/main/conf.d/bad.conf", "port = '5432\n", 0o644, "postgres")
		},
		"other owner": func(h *fakeHost) { h.files["/var/lib/postgresql/15/main"].owner = "root" },
		"no cluster": func(h *fakeHost) {
			for p := range maps.Clone(h.files) {
				if strings.HasPrefix(p, "/etc/postgresql/") {
					delete(h.files, p)
				}
			}
		},
	} {
		h := debianCluster()
		edit(h)
		res := runOn(t, m, h)
		if q := h.log("query"); len(q) != 1 || q[0].cmdline() != "pg_lsclusters -h" {
			t.Errorf("%s: queries %v, want pg_lsclusters", name, q)
		}
		if name != "no cluster" && res.Data["status"] != "online,recovery" {
			t.Errorf("%s: %v", name, res.Data)
		}
	}
}

func TestParsePGConf(t *testing.T) {
	got, err := parsePGConf("# c\n  Port=5433 # x\nlisten_addresses '*'\nx = 'it''s \\'a\\' \\n'\nrepmgr.y = on\n\n")
	want := []pgConfSetting{{"port", "5433"}, {"listen_addresses", "*"}, {"x", "it's 'a' \n"}, {"repmgr.y", "on"}}
	if err != nil || len(got) != len(want) {
		t.Fatalf("%v %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("setting %d = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"port = '5432\n", "port =\n", "port = 5432 extra\n", "= 3\n"} {
		if _, err := parsePGConf(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// pg_status answers as the shell it replaces (and pg_lsclusters' status
// column) from the files alone, without a program on the host.
func TestPGStatus(t *testing.T) {
	h := debianCluster()
	status := func() map[string]any {
		t.Helper()
		res := runOn(t, newModule(t, "pg_status", map[string]any{"data_dir": "/var/lib/postgresql/15/main"}), h)
		if res.Failed || res.Changed {
			t.Fatalf("pg_status: %+v", res)
		}
		if q := h.log("query"); len(q) != 0 {
			t.Fatalf("ran %v; want no program on the host", q[0].cmdline())
		}
		return res.Data
	}
	want := func(what string, running, recovery bool, s string) {
		t.Helper()
		if d := status(); d["running"] != running || d["in_recovery"] != recovery || d["status"] != s {
			t.Errorf("%s: %v, want running %v, in_recovery %v, status %s", what, d, running, recovery, s)
		}
	}
	want("running standby", true, true, "online,recovery")
	delete(h.files, "/var/lib/postgresql/15/main/standby.signal")
	want("running primary", true, false, "online")
	h.file("/var/lib/postgresql/15/main/recovery.signal", "", 0o600, "postgres")
	want("running, recovery.signal", true, true, "online,recovery")
	h.file("/proc/4242/cmdline", "/bin/bash\x00", 0o444, "root")
	want("the PID is another program's", false, false, "down")
	delete(h.files, "/proc/4242/cmdline")
	want("stale PID file", false, false, "down")
	delete(h.files, "/var/lib/postgresql/15/main/postmaster.pid")
	want("no PID file (a stopped standby is down too)", false, false, "down")
	files := func(what string, initialized, standby bool) {
		t.Helper()
		if d := status(); d["initialized"] != initialized || d["standby_signal"] != standby {
			t.Errorf("%s: %v, want initialized %v, standby_signal %v", what, d, initialized, standby)
		}
	}
	files("a stopped former primary", true, false)
	h.file("/var/lib/postgresql/15/main/standby.signal", "", 0o600, "postgres")
	files("a stopped standby", true, true)
	delete(h.files, "/var/lib/postgresql/15/main/PG_VERSION")
	delete(h.files, "/var/lib/postgresql/15/main/standby.signal")
	files("no cluster (no PG_VERSION)", false, false)
	if _, err := decodeModule("pg_status", map[string]any{"data_dir": "main"}); err == nil || !strings.Contains(err.Error(), "not an absolute path") {
		t.Errorf("a relative data_dir: %v", err)
	}
}
