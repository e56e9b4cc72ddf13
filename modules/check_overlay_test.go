package modules

import (
	"context"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/transport"
)

// earlierWrite returns a check-mode Target over h on which an earlier
// task of the check run (simulated) wrote files: path -> content.
func earlierWrite(t *testing.T, h *fakeHost, files map[string]string) transport.Target {
	t.Helper()
	ct := transport.NewCheckTarget(h, nil)
	for p, body := range files {
		if err := ct.WriteFile(context.Background(), p, []byte(body), transport.Attrs{Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.changes()) != 0 {
		t.Fatalf("the simulated write reached the host: %+v", h.changes())
	}
	return ct
}

// repmgr with a repmgr.conf that only an earlier task of the check run
// wrote: it reads the simulated file, runs its psql reads, but no repmgr
// command (which would read the host's file); the action is a change
// that could not be verified.
func TestRepmgrSimulatedConfig(t *testing.T) {
	h := newFakeHost() // no /etc/repmgr.conf on the host
	h.on("/usr/lib/postgresql/15/bin/repmgr", 1, "", "ERROR: configuration file \"/etc/repmgr.conf\" not found\n")
	h.onFunc(func(c fakeCall) bool { return strings.Contains(c.Stdin, "pg_is_in_recovery() AS recovery") }, func(fakeCall) transport.Result {
		return transport.Result{Stdout: []byte("recovery,paused\nf,f\n")}
	})
	h.onSQL("to_regclass", 0, "ok\nf\n", "")
	ct := earlierWrite(t, h, map[string]string{"/etc/repmgr.conf": repmgrConf})

	res := runEnv(t, newModule(t, "repmgr", map[string]any{"action": "primary_register"}), ct, &Env{Host: "node1"})
	if res.Failed || !res.Changed || res.Data["unverified"] != true || res.Data["node_id"] != 2 ||
		!strings.Contains(res.Msg, "cannot verify") || !strings.Contains(res.Msg, "/etc/repmgr.conf is only written by an earlier task of this check run") {
		t.Fatalf("primary_register: %+v", res)
	}
	if calls := repmgrCalls(h); len(calls) != 0 {
		t.Errorf("repmgr ran on the host: %q", calls)
	}
	if len(h.log("query")) == 0 {
		t.Error("the psql reads did not run")
	}
	if len(h.changes()) != 0 {
		t.Errorf("check mode changed the host: %+v", h.changes())
	}

	// cluster_show asks repmgr only: ok, nothing run.
	h.reset()
	res = runEnv(t, newModule(t, "repmgr", map[string]any{"action": "cluster_show"}), ct, &Env{Host: "node1"})
	if res.Failed || res.Changed || res.Data["unverified"] != true || !strings.Contains(res.Msg, "earlier task of this check run") || len(h.log()) != 0 {
		t.Fatalf("cluster_show: %+v, calls %+v", res, h.log())
	}

	// The host's own file (not simulated): repmgr's dry run runs as usual.
	h = repmgrHost()
	h.onFunc(func(c fakeCall) bool { return strings.Contains(c.Stdin, "pg_is_in_recovery() AS recovery") }, func(fakeCall) transport.Result {
		return transport.Result{Stdout: []byte("recovery,paused\nf,f\n")}
	})
	h.onSQL("to_regclass", 0, "ok\nf\n", "")
	res, _ = checkRun(t, newModule(t, "repmgr", map[string]any{"action": "primary_register"}), h)
	if res.Failed || !res.Changed || res.Data["unverified"] != nil || len(repmgrCalls(h)) != 1 {
		t.Errorf("primary_register with the host's file: %+v %q", res, repmgrCalls(h))
	}
}

// barman with a server configuration that only an earlier task of the
// check run wrote is not asked about the server.
func TestBarmanSimulatedConfig(t *testing.T) {
	h := newFakeHost().on("barman", 1, `{"_ERROR": ["Unknown server 'pg'"]}`, "Unknown server 'pg'")
	ct := earlierWrite(t, h, map[string]string{"/etc/barman.d/pg.conf": "[pg]\n"})
	for _, tc := range []struct {
		args    map[string]any
		changed bool
	}{
		{map[string]any{"action": "check", "server": "pg"}, false},
		{map[string]any{"action": "list_backups", "server": "pg"}, false},
		{map[string]any{"action": "receive_wal", "server": "pg"}, true},
		{map[string]any{"action": "backup", "server": "pg", "if_older_than": "24h"}, true},
	} {
		h.reset()
		res := runEnv(t, newModule(t, "barman", tc.args), ct, &Env{Host: "node1"})
		if res.Failed || res.Changed != tc.changed || res.Data["unverified"] != true || !strings.Contains(res.Msg, "/etc/barman.d/pg.conf is only written by an earlier task") {
			t.Errorf("%v: %+v", tc.args, res)
		}
		if len(h.log("query")) != 0 {
			t.Errorf("%v: barman ran on the host: %+v", tc.args, h.log("query"))
		}
	}
	// Another server's configuration is the host's: barman is asked.
	h.reset()
	if res := runEnv(t, newModule(t, "barman", map[string]any{"action": "check", "server": "other"}), ct, &Env{Host: "node1"}); !res.Failed || len(h.log("query")) != 1 {
		t.Errorf("check of another server: %+v", res)
	}
}

// service: a unit whose file only an earlier task of the check run wrote
// is not "not found": it would be started and enabled.
func TestServiceSimulatedUnitFile(t *testing.T) {
	h := newFakeHost().dir("/run/systemd/system")
	h.on("systemctl show", 0, "LoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n", "")
	ct := earlierWrite(t, h, map[string]string{"/etc/systemd/system/watch.service": "[Service]\n"})
	enabled := true
	m := &Service{Name: "watch", State: "started", Enabled: &enabled, DaemonReload: true}
	res := runEnv(t, m, ct, &Env{Host: "node1"})
	if res.Failed || !res.Changed || !strings.Contains(res.Msg, "unit file /etc/systemd/system/watch.service is only written by an earlier task") ||
		!strings.Contains(res.Msg, "would be: enabled, started") {
		t.Fatalf("simulated unit: %+v", res)
	}
	// Without the simulated file the unit is not found.
	if res := runEnv(t, &Service{Name: "other", State: "started"}, ct, &Env{Host: "node1"}); !res.Failed || !strings.Contains(res.Msg, "not found") {
		t.Errorf("unknown unit: %+v", res)
	}
}

// stat hashes a large simulated file itself: sha1sum on the host would
// not find it.
func TestStatLargeSimulatedFile(t *testing.T) {
	h := newFakeHost()
	big := strings.Repeat("x", maxLocalHash+1)
	ct := earlierWrite(t, h, map[string]string{"/srv/big": big})
	res := runEnv(t, newModule(t, "stat", map[string]any{"path": "/srv/big"}), ct, &Env{Host: "node1"})
	st := res.Data["stat"].(map[string]any)
	if st["exists"] != true || st["size"] != maxLocalHash+1 || st["checksum"] != sha1Hex([]byte(big)) || len(h.log("query")) != 0 {
		t.Fatalf("stat: %+v, queries %+v", st, h.log("query"))
	}
}
