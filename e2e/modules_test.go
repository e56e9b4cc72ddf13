//go:build e2e

package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/pgplay/pgplay/internal/transport"
	"github.com/pgplay/pgplay/modules"
)

// Passwords of the module tests: quotes, a dollar, a space and a
// backslash, so a quoting mistake shows (no ':' to keep .pgpass simple).
const (
	modRepmgrPassword    = `rep'pw $HOME x\1`
	modBarmanPassword    = `bar"man $x 2`
	modStreamingPassword = `stream 'it''s' 3`
)

// modCase runs one module on one lab host through pgplay's transport, as
// the runner would (login user root, no become).
type modCase struct {
	t    *testing.T
	h    *labHosts
	host string
	env  *modules.Env
}

func (h *labHosts) mod(t *testing.T, host string) *modCase {
	return &modCase{t: t, h: h, host: host, env: &modules.Env{Host: host}}
}

// decode builds the module; a decoding error fails the test.
func (c *modCase) decode(name string, args map[string]any) modules.Module {
	c.t.Helper()
	spec, ok := modules.Lookup(name)
	if !ok {
		c.t.Fatalf("module %s is not registered", name)
	}
	m := spec.New()
	if err := modules.Decode(spec, args, m); err != nil {
		c.t.Fatalf("%s %v: %v", name, args, err)
	}
	return m
}

// run runs the module (in check mode when check) and returns its result.
func (c *modCase) run(name string, args map[string]any, check bool) *modules.Result {
	c.t.Helper()
	m := c.decode(name, args)
	tg := c.h.targets[c.host]
	env := *c.env
	if check {
		tg = transport.NewCheckTarget(tg, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := m.Run(ctx, tg, &env)
	if err != nil {
		c.t.Fatalf("%s on %s: %s %v: %v", name, c.host, name, args, err)
	}
	return res
}

// ok runs the module for real and requires success; it returns the result.
func (c *modCase) ok(name string, args map[string]any) *modules.Result {
	c.t.Helper()
	res := c.run(name, args, false)
	if res.Failed {
		c.t.Fatalf("%s on %s %v failed: %s", name, c.host, args, res.Msg)
	}
	return res
}

// converge checks the module's contract on a real host: check mode
// predicts a change without making it, the first run changes, the second
// is ok, and check mode then predicts nothing. It returns the first run's
// result.
func (c *modCase) converge(name string, args map[string]any) *modules.Result {
	c.t.Helper()
	if res := c.run(name, args, true); res.Failed || !res.Changed {
		c.t.Fatalf("%s on %s %v: check mode before: changed=%v failed=%v: %s", name, c.host, args, res.Changed, res.Failed, res.Msg)
	}
	first := c.run(name, args, false)
	if first.Failed || !first.Changed {
		c.t.Fatalf("%s on %s %v: first run: changed=%v failed=%v (check mode must not have made the change): %s",
			name, c.host, args, first.Changed, first.Failed, first.Msg)
	}
	if res := c.run(name, args, false); res.Failed || res.Changed {
		c.t.Fatalf("%s on %s %v: second run: changed=%v failed=%v: %s", name, c.host, args, res.Changed, res.Failed, res.Msg)
	}
	if res := c.run(name, args, true); res.Failed || res.Changed {
		c.t.Fatalf("%s on %s %v: check mode after: changed=%v failed=%v: %s", name, c.host, args, res.Changed, res.Failed, res.Msg)
	}
	return first
}

// refused runs the module and requires a failure whose message holds
// every one of subs, with nothing changed.
func (c *modCase) refused(name string, args map[string]any, subs ...string) *modules.Result {
	c.t.Helper()
	res := c.run(name, args, false)
	if !res.Failed || res.Changed {
		c.t.Fatalf("%s on %s %v: want a refusal, got changed=%v failed=%v: %s", name, c.host, args, res.Changed, res.Failed, res.Msg)
	}
	for _, s := range subs {
		if !strings.Contains(res.Msg, s) {
			c.t.Errorf("%s on %s: message %q does not mention %q", name, c.host, res.Msg, s)
		}
	}
	return res
}

// badArgs requires decoding to fail with a message holding subs.
func badArgs(t *testing.T, name string, args map[string]any, subs ...string) {
	t.Helper()
	spec, _ := modules.Lookup(name)
	err := modules.Decode(spec, args, spec.New())
	if err == nil {
		t.Fatalf("%s %v: accepted", name, args)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s %v: error %q does not mention %q", name, args, err, s)
		}
	}
}

// write puts a file on host (test setup, not under test).
func (h *labHosts) write(host, path, data string, mode os.FileMode, owner string) {
	h.t.Helper()
	if err := h.targets[host].WriteFile(context.Background(), path, []byte(data), transport.Attrs{Mode: mode, Owner: owner, Group: owner}); err != nil {
		h.t.Fatalf("%s: write %s: %v", host, path, err)
	}
}

// psqlAs runs one query on host through TCP as user with password (so the
// password itself is checked) and returns the unaligned output.
func (h *labHosts) psqlAs(host, addr, user, password, db, query string) (string, int) {
	h.t.Helper()
	res, err := h.targets[host].Query(context.Background(), transport.Cmd{
		Argv: []string{"psql", "-XAtq", "-d", fmt.Sprintf("host=%s user=%s dbname=%s", addr, user, db), "-c", query},
		Env:  map[string]string{"PGPASSWORD": password}, Dir: "/"})
	if err != nil {
		h.t.Fatal(err)
	}
	out := strings.TrimSpace(string(res.Stdout))
	if res.RC != 0 {
		out = strings.TrimSpace(string(res.Stderr))
	}
	return out, res.RC
}

func pgpassField(s string) string { return strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(s) }

// TestModules brings up the lab and drives every module of issue 4 on
// real Debian 12 hosts: system modules on node3, PostgreSQL on node1,
// repmgr with node1 as primary and node2 as standby, barman on backup1.
func TestModules(t *testing.T) {
	_, opts, st := upLab(t, nil)
	if !st.Up {
		t.Fatalf("lab not up: %+v", st)
	}
	h := connect(t, filepath.Join(opts.StateDir, "inventory.yaml"))
	addr := func(n string) string { return fmt.Sprint(h.inv.Hosts[n].Vars["ssh_host"]) }

	t.Run("System", func(t *testing.T) {
		c := h.mod(t, "node3")
		c.converge("group", map[string]any{"name": "pgplaytest", "gid": 2345})
		c.converge("user", map[string]any{"name": "pgplaytest", "group": "pgplaytest", "groups": []any{"tape"},
			"shell": "/bin/bash", "home": "/home/pgplaytest", "comment": "Test $user"})
		if got := h.run("node3", "id", "-nG", "pgplaytest"); got != "pgplaytest tape" {
			t.Errorf("groups = %q", got)
		}
		c.converge("user", map[string]any{"name": "pgplaytest", "shell": "/bin/sh"})

		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		signer, _ := ssh.NewSignerFromKey(priv)
		key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " e2e@pgplay"
		c.converge("authorized_key", map[string]any{"user": "pgplaytest", "key": key})
		for p, mode := range map[string]os.FileMode{"/home/pgplaytest/.ssh": 0o700, "/home/pgplaytest/.ssh/authorized_keys": 0o600} {
			fi, err := h.targets["node3"].Stat(context.Background(), p)
			if err != nil || fi.Mode != mode || fi.Owner != "pgplaytest" {
				t.Errorf("%s: %+v %v", p, fi, err)
			}
		}

		block := "listen 'a b'\nvalue $HOME\n"
		c.converge("blockinfile", map[string]any{"path": "/etc/pgplay-test.conf", "block": block, "create": true})
		if got := h.run("node3", "cat", "/etc/pgplay-test.conf"); got != "# BEGIN MANAGED BY PGPLAY\n"+block+"# END MANAGED BY PGPLAY" {
			t.Errorf("blockinfile wrote %q", got)
		}
		c.converge("blockinfile", map[string]any{"path": "/etc/pgplay-test.conf", "state": "absent"})

		// /proc/sys is read-only in the lab's containers: the live value
		// can only be kept (no sysctl -w when it already matches), and a
		// different one fails with a hint.
		live := h.run("node3", "sysctl", "-n", "net.ipv4.tcp_keepalive_time")
		c.converge("sysctl", map[string]any{"name": "net.ipv4.tcp_keepalive_time", "value": live, "sysctl_file": "/etc/sysctl.d/99-pgplay-test.conf"})
		if got := h.run("node3", "cat", "/etc/sysctl.d/99-pgplay-test.conf"); got != "net.ipv4.tcp_keepalive_time = "+live {
			t.Errorf("sysctl file %q", got)
		}
		c.refused("sysctl", map[string]any{"name": "net.ipv4.tcp_keepalive_time", "value": live + "1"}, "sysctl -w", "read-only")

		c.converge("service", map[string]any{"name": "cron", "state": "started", "enabled": true})
		c.converge("service", map[string]any{"name": "cron", "state": "stopped", "enabled": false})
		c.refused("service", map[string]any{"name": "pgplay-no-such-unit", "state": "started"}, "not found")

		if res := c.ok("apt", map[string]any{"name": []any{"postgresql-15", "sudo"}}); res.Changed {
			t.Errorf("apt present of installed packages changed: %+v", res)
		}
		c.converge("apt", map[string]any{"name": "less", "state": "absent"})
		c.refused("apt", map[string]any{"name": "pgplay-no-such-package"}, "Unable to locate package", "update_cache")

		dir := t.TempDir()
		c.env.Controller = dir
		c.converge("fetch", map[string]any{"src": "/etc/hostname", "dest": "fetched"})
		if b, err := os.ReadFile(filepath.Join(dir, "fetched", "node3", "etc", "hostname")); err != nil || strings.TrimSpace(string(b)) != "node3" {
			t.Errorf("fetched %q %v", b, err)
		}
		c.refused("fetch", map[string]any{"src": "/etc/pgplay-missing", "dest": "x"}, "does not exist")
		badArgs(t, "service", map[string]any{"name": "cron"}, "at least one of state")
	})

	conf := "listen_addresses = '*'\nwal_keep_size = 256MB\n"
	hba := "host repmgr repmgr 198.51.100.0/24 scram-sha-256\nhost replication repmgr 198.51.100.0/24 scram-sha-256\n" +
		"host postgres barman 198.51.100.0/24 scram-sha-256\nhost replication streaming_barman 198.51.100.0/24 scram-sha-256"
	cluster := map[string]any{"version": "15", "name": "main", "port": 5432, "initdb_options": []any{"--data-checksums"}, "start_conf": "auto"}
	prepare := func(t *testing.T, c *modCase) {
		c.converge("pg_cluster", cluster)
		c.converge("blockinfile", map[string]any{"path": "/etc/postgresql/15/main/pg_hba.conf", "block": hba, "insertbefore": "BOF"})
		h.write(c.host, "/etc/postgresql/15/main/conf.d/pgplay.conf", conf, 0o644, "postgres")
		pgpass := fmt.Sprintf("*:*:repmgr:repmgr:%s\n*:*:replication:repmgr:%s\n", pgpassField(modRepmgrPassword), pgpassField(modRepmgrPassword))
		h.write(c.host, "/var/lib/postgresql/.pgpass", pgpass, 0o600, "postgres")
		h.write(c.host, "/etc/repmgr.conf", fmt.Sprintf("node_id=%s\nnode_name='%s'\nconninfo='host=%s user=repmgr dbname=repmgr connect_timeout=2'\n"+
			"data_directory='/var/lib/postgresql/15/main'\npg_bindir='/usr/lib/postgresql/15/bin'\nuse_replication_slots=yes\n",
			strings.TrimPrefix(c.host, "node"), c.host, addr(c.host)), 0o644, "postgres")
	}

	t.Run("PostgreSQL", func(t *testing.T) {
		c := h.mod(t, "node1")
		badArgs(t, "pg_cluster", map[string]any{"state": "absent"}, "force: true")
		prepare(t, c)
		c.converge("service", map[string]any{"name": "postgresql@15-main", "state": "started"})
		c.refused("pg_cluster", map[string]any{"port": 5433}, "exists on port 5432")
		if d := c.ok("pg_status", map[string]any{"data_dir": "/var/lib/postgresql/15/main"}).Data; d["status"] != "online" || d["running"] != true || d["in_recovery"] != false {
			t.Errorf("pg_status on the running primary: %v", d)
		}

		c.converge("pg_user", map[string]any{"name": "repmgr", "password": modRepmgrPassword, "superuser": true, "replication": true})
		c.converge("pg_database", map[string]any{"name": "repmgr", "owner": "repmgr"})
		// Log in over TCP with the password (pg_hba: database repmgr).
		if out, rc := h.psqlAs("node1", addr("node1"), "repmgr", modRepmgrPassword, "repmgr", "SELECT current_user"); rc != 0 || out != "repmgr" {
			t.Fatalf("log in with the password pgplay set: rc %d: %s", rc, out)
		}
		c.converge("pg_user", map[string]any{"name": "repmgr", "password": modRepmgrPassword + "x"})
		if _, rc := h.psqlAs("node1", addr("node1"), "repmgr", modRepmgrPassword, "repmgr", "SELECT 1"); rc == 0 {
			t.Error("the old password still logs in after a change")
		}
		c.converge("pg_user", map[string]any{"name": "repmgr", "password": modRepmgrPassword})
		c.converge("pg_user", map[string]any{"name": `odd "role" $x`, "login": false})
		c.converge("pg_user", map[string]any{"name": `odd "role" $x`, "state": "absent"})

		c.converge("pg_setting", map[string]any{"name": "wal_keep_size", "value": "1GB"})
		res := c.converge("pg_setting", map[string]any{"name": "max_connections", "value": "120"})
		if res.Data["restart_pending"] != true {
			t.Errorf("max_connections: restart_pending = %v", res.Data["restart_pending"])
		}
		c.converge("pg_setting", map[string]any{"name": "max_connections", "state": "absent"})
		c.converge("pg_slot", map[string]any{"name": "pgplay_test", "immediately_reserve": true})
		c.converge("pg_slot", map[string]any{"name": "pgplay_test", "state": "absent"})

		if res := c.ok("pg_query", map[string]any{"query": "CREATE TABLE IF NOT EXISTS pgplay_t(v text); INSERT INTO pgplay_t VALUES (:'v')",
			"args": map[string]any{"v": "it's $x\nline"}}); !res.Changed {
			t.Errorf("a writing query is a change: %+v", res)
		}
		res = c.ok("pg_query", map[string]any{"query": "SELECT v, v = :'v' AS same FROM pgplay_t", "args": map[string]any{"v": "it's $x\nline"}, "readonly": true})
		rows, _ := res.Data["rows"].([]any)
		if res.Changed || len(rows) != 1 || rows[0].(map[string]any)["same"] != "t" {
			t.Errorf("readonly query: %+v", res)
		}
		if res := c.run("pg_query", map[string]any{"query": "SELECT count(*) AS n FROM pgplay_t", "readonly": true}, true); res.Failed || res.Data["rows"] == nil {
			t.Errorf("a readonly query must run in check mode: %+v", res)
		}
		c.refused("pg_query", map[string]any{"query": "DELETE FROM pgplay_t", "readonly": true}, "read-only transaction", "drop readonly")

		// Reads share one psql session per host and connection (the
		// Target keeps it): the same backend answers them, and nothing a
		// read does outlives it.
		read := func(query string, args map[string]any) *modules.Result {
			t.Helper()
			return c.run("pg_query", map[string]any{"query": query, "args": args, "readonly": true}, false)
		}
		row := func(res *modules.Result) map[string]any {
			t.Helper()
			rows, _ := res.Data["rows"].([]any)
			if res.Failed || len(rows) != 1 {
				t.Fatalf("want one row: %+v", res)
			}
			return rows[0].(map[string]any)
		}
		pidQuery := "SELECT pg_backend_pid() AS pid, current_setting('search_path') AS path, current_setting('transaction_read_only') AS ro"
		first := row(read(pidQuery, nil))
		if again := row(read("SET search_path TO pg_catalog; "+pidQuery, nil)); again["pid"] != first["pid"] || again["path"] != "pg_catalog" {
			t.Errorf("a second read: %v, want the backend of the first (%v) with its own search_path", again, first)
		}
		if after := row(read(pidQuery, nil)); after["pid"] != first["pid"] || after["path"] != first["path"] || after["ro"] != "on" {
			t.Errorf("the read after a SET: %v, want backend %v with search_path %v, read only", after, first["pid"], first["path"])
		}
		if res := c.run("pg_query", map[string]any{"query": pidQuery, "readonly": true}, true); row(res)["pid"] != first["pid"] {
			t.Errorf("a read in check mode: %v, want backend %v", res.Data["rows"], first["pid"])
		}
		// A variable of one read is not one of the next.
		if v := row(read("SELECT :'v' AS v", map[string]any{"v": "one"})); v["v"] != "one" {
			t.Errorf("args: %v", v)
		}
		if res := read("SELECT :'v' AS v", nil); !res.Failed || !strings.Contains(res.Msg, "syntax error") {
			t.Errorf("a read without args saw the previous read's variable: %+v", res)
		}
		// A failing read says what a psql run says; the next read works.
		if res := read("SELECT 1 AS a; SELECT nosuch", nil); !res.Failed || !strings.Contains(res.Msg, `column "nosuch" does not exist`) || res.RC != 3 {
			t.Errorf("failing read: %+v", res)
		}
		// One session serves every database: \connect, not a second psql.
		if v := row(c.run("pg_query", map[string]any{"query": "SELECT current_database() AS db", "db": "repmgr", "readonly": true}, false)); v["db"] != "repmgr" {
			t.Errorf("a read in database repmgr ran in %v", v["db"])
		}
		if v := row(read("SELECT current_database() AS db, (SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgplay') AS n", nil)); v["db"] != "postgres" || v["n"] != "1" {
			t.Errorf("a read in postgres after one in repmgr: %v, want database postgres and 1 pgplay session", v)
		}
		// A read in a database that does not exist fails as psql says.
		if res := c.run("pg_query", map[string]any{"query": "SELECT 1", "db": "nosuchdb", "readonly": true}, false); !res.Failed || !strings.Contains(res.Msg, `database "nosuchdb" does not exist`) {
			t.Errorf("a read in a missing database: %+v", res)
		}
		if v := row(read("SELECT current_database() AS db", nil)); v["db"] != "postgres" {
			t.Errorf("the read after a failed \\connect: %v", v)
		}
		// A restarted server: the next read reconnects.
		before := row(read(pidQuery, nil))
		h.run("node1", "systemctl", "restart", "postgresql@15-main")
		if again := row(read(pidQuery, nil)); again["pid"] == before["pid"] {
			t.Errorf("after a restart the read came from the old backend %v", before["pid"])
		}
	})

	t.Run("Repmgr", func(t *testing.T) {
		p, s := h.mod(t, "node1"), h.mod(t, "node2")
		p.converge("repmgr", map[string]any{"action": "primary_register"})
		prepare(t, s)
		clone := map[string]any{"action": "standby_clone", "upstream_host": addr("node1"), "force": true}
		s.refused("repmgr", map[string]any{"action": "standby_clone", "upstream_host": addr("node1")}, "force: true")
		s.converge("repmgr", clone)
		s.converge("service", map[string]any{"name": "postgresql@15-main", "state": "started"})
		if d := s.ok("pg_status", map[string]any{"data_dir": "/var/lib/postgresql/15/main"}).Data; d["status"] != "online,recovery" || d["in_recovery"] != true {
			t.Errorf("pg_status on the running standby: %v", d)
		}
		s.converge("repmgr", map[string]any{"action": "standby_register", "upstream_node_id": 1})
		s.ok("repmgr", clone) // a running clone of the upstream is ok, not refused
		// Once it streams from the upstream, the upstream is not asked.
		eventually(t, 30*time.Second, "standby_clone sees node2 stream from node1", func() (bool, string) {
			res := s.ok("repmgr", clone)
			return !res.Changed && strings.Contains(res.Msg, "streams from it"), res.Msg
		})
		if res := s.ok("repmgr", map[string]any{"action": "standby_follow", "upstream_node_id": 1}); res.Changed {
			t.Errorf("following the current upstream changed: %+v", res)
		}
		if res := p.ok("repmgr", map[string]any{"action": "standby_promote"}); res.Changed {
			t.Errorf("promoting the primary changed: %+v", res)
		}
		// A clone over a running node (the primary) is refused.
		p.refused("repmgr", map[string]any{"action": "standby_clone", "upstream_host": addr("node2"), "force": true}, "PostgreSQL is running")

		var res *modules.Result
		eventually(t, 30*time.Second, "cluster show ok", func() (bool, string) {
			res = p.ok("repmgr", map[string]any{"action": "cluster_show"})
			return res.Data["ok"] == true, res.Msg
		})
		nodes, _ := res.Data["nodes"].([]any)
		if res.Changed || res.Data["primary"] != "node1" || len(nodes) != 2 {
			t.Fatalf("cluster_show: %+v", res.Data)
		}
		if n2 := nodes[1].(map[string]any); n2["name"] != "node2" || n2["role_now"] != "standby" || n2["upstream"] != "node1" {
			t.Errorf("node2 = %v", n2)
		}
	})

	t.Run("Barman", func(t *testing.T) {
		p, b := h.mod(t, "node1"), h.mod(t, "backup1")
		p.converge("pg_user", map[string]any{"name": "barman", "password": modBarmanPassword, "superuser": true})
		p.converge("pg_user", map[string]any{"name": "streaming_barman", "password": modStreamingPassword, "replication": true})
		h.write("backup1", "/var/lib/barman/.pgpass", fmt.Sprintf("*:*:*:barman:%s\n*:*:*:streaming_barman:%s\n",
			pgpassField(modBarmanPassword), pgpassField(modStreamingPassword)), 0o600, "barman")
		h.write("backup1", "/etc/barman.d/pg.conf", fmt.Sprintf(`[pg]
description = "pgplay e2e"
conninfo = host=%[1]s user=barman dbname=postgres
streaming_conninfo = host=%[1]s user=streaming_barman
backup_method = postgres
streaming_archiver = on
archiver = off
slot_name = barman
path_prefix = "/usr/lib/postgresql/15/bin"
`, addr("node1")), 0o644, "root")

		res := b.run("barman", map[string]any{"action": "check", "server": "pg"}, false)
		checks, _ := res.Data["checks"].(map[string]any)
		slot, _ := checks["replication slot"].(map[string]any)
		if !res.Failed || res.Data["all_ok"] != false || slot["ok"] != false || checks["PostgreSQL"].(map[string]any)["ok"] != true {
			t.Fatalf("first check: %+v", res)
		}
		b.converge("barman", map[string]any{"action": "receive_wal", "server": "pg"})
		b.ok("barman", map[string]any{"action": "cron"})
		// barman cron starts receive-wal in the background; as its cron job
		// does every minute, run it again until the receiver runs.
		eventually(t, 60*time.Second, "barman cron starts receive-wal", func() (bool, string) {
			res := b.run("barman", map[string]any{"action": "check", "server": "pg"}, false)
			checks, _ := res.Data["checks"].(map[string]any)
			rw, _ := checks["receive-wal running"].(map[string]any)
			if rw["ok"] != true {
				b.run("barman", map[string]any{"action": "cron"}, false)
				time.Sleep(time.Second)
			}
			return rw["ok"] == true, res.Msg
		})
		b.ok("barman", map[string]any{"action": "switch_wal", "server": "pg", "archive_timeout": 90})
		eventually(t, 90*time.Second, "barman check all ok", func() (bool, string) {
			res := b.run("barman", map[string]any{"action": "check", "server": "pg"}, false)
			if res.Data["all_ok"] != true {
				b.run("barman", map[string]any{"action": "cron"}, false)
			}
			return res.Data["all_ok"] == true, res.Msg
		})
		b.converge("barman", map[string]any{"action": "backup", "server": "pg", "if_older_than": "24h"})
		res = b.ok("barman", map[string]any{"action": "list_backups", "server": "pg"})
		latest, _ := res.Data["latest"].(map[string]any)
		if res.Changed || latest == nil || latest["status"] != "DONE" {
			t.Errorf("list_backups: %+v", res.Data)
		}
		b.refused("barman", map[string]any{"action": "list_backups", "server": "nosuch"}, "/etc/barman.d/nosuch.conf")

		// A check started in the background answers a later check.
		started := func() string {
			t.Helper()
			res := b.ok("barman", map[string]any{"action": "check_start", "server": "pg"})
			dir, _ := res.Data["started"].(string)
			if res.Changed || !strings.HasPrefix(dir, "/tmp/pgplay-barman-check.") {
				t.Fatalf("check_start: %+v", res)
			}
			return dir
		}
		dir := started()
		res = b.ok("barman", map[string]any{"action": "check", "server": "pg", "started": dir})
		if res.Data["background"] != true || res.Data["all_ok"] != true || len(res.Data["checks"].(map[string]any)) < 5 {
			t.Errorf("check with started: %+v", res.Data)
		}
		if out, rc := h.try("backup1", "test", "-e", dir); rc == 0 {
			t.Errorf("%s is left after its answer was read: %s", dir, out)
		}
		// Its answer is read once; then barman check runs.
		if res = b.ok("barman", map[string]any{"action": "check", "server": "pg", "started": dir}); res.Data["background"] == true || res.Data["all_ok"] != true {
			t.Errorf("check with an answer already read: %+v", res.Data)
		}
		// stale: the started check's answer is dropped, barman check runs.
		dir = started()
		if res = b.ok("barman", map[string]any{"action": "check", "server": "pg", "started": dir, "stale": true}); res.Data["background"] == true || res.Data["all_ok"] != true {
			t.Errorf("check with a stale started: %+v", res.Data)
		}
		if out, rc := h.try("backup1", "test", "-e", dir); rc == 0 {
			t.Errorf("%s is left after it was found stale: %s", dir, out)
		}
		badArgs(t, "barman", map[string]any{"action": "list_backups", "server": "pg", "started": dir}, "started is for action: check")
		badArgs(t, "barman", map[string]any{"action": "check", "server": "pg", "started": "/etc"}, "is not what a check_start task registers")
	})
}
