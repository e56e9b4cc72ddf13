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
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pgplay/pgplay/internal/transport"
)

// Secrets of the site tests: characters that .pgpass must escape (: and
// \), a quote, a dollar and a space, so a quoting mistake shows.
const (
	repmgrPassword    = `rep:pw\1 it's $HOME`
	barmanPassword    = `barman:pw\2 "q" $x`
	streamingPassword = `stream:pw\3 end`
	// keepalived.conf cannot quote: the validate role allows 8 plain
	// characters.
	vrrpPassword = `vR-p.9/z`
)

var (
	pgplayOnce   sync.Once
	pgplayBin    string
	pgplayBinDir string // removed by TestMain after the run
	pgplayErr    error
)

// pgplayBinary builds cmd/pgplay once per test binary run, into a
// temporary directory, and returns its path.
func pgplayBinary(t *testing.T) string {
	t.Helper()
	pgplayOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pgplay-e2e-bin-")
		if err != nil {
			pgplayErr = err
			return
		}
		pgplayBinDir = dir
		pgplayBin = filepath.Join(dir, "pgplay")
		out, err := exec.Command("go", "build", "-o", pgplayBin, "../cmd/pgplay").CombinedOutput()
		if err != nil {
			pgplayErr = fmt.Errorf("go build ../cmd/pgplay: %v\n%s", err, out)
		}
	})
	if pgplayErr != nil {
		t.Fatal(pgplayErr)
	}
	return pgplayBin
}

// runResult is one run of pgplay with --output json.
type runResult struct {
	code   int
	raw    string
	events []map[string]any
}

// pgplayRun runs `pgplay run` with --output json from dir (a directory
// without playbooks/ or roles/, so the content embedded in the binary is
// what runs) and parses its events.
func pgplayRun(t *testing.T, dir string, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pgplayBinary(t), append(append([]string{"run"}, args...), "--output", "json")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	r := runResult{raw: out.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("pgplay %s: %v\n%s", strings.Join(args, " "), err, r.raw)
	}
	for _, line := range strings.Split(r.raw, "\n") {
		var ev map[string]any
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &ev) == nil {
			r.events = append(r.events, ev)
		}
	}
	return r
}

// changed returns, per host, how many changes the recap counts.
func (r runResult) changed(t *testing.T) map[string]int {
	t.Helper()
	for _, ev := range r.events {
		if ev["event"] != "recap" {
			continue
		}
		out := map[string]int{}
		stats, _ := ev["stats"].(map[string]any)
		for h, s := range stats {
			m, _ := s.(map[string]any)
			n, _ := m["changed"].(float64)
			out[h] = int(n)
		}
		return out
	}
	t.Fatalf("no recap in the output:\n%s", r.raw)
	return nil
}

// changes lists the "role : task [host]" results that changed, sorted.
func (r runResult) changes() []string {
	var out []string
	for _, ev := range r.events {
		if ev["event"] == "host_result" && ev["status"] == "changed" {
			out = append(out, fmt.Sprintf("%v : %v [%v]", ev["role"], ev["task"], ev["host"]))
		}
	}
	sort.Strings(out)
	return out
}

// slowest names the n tasks that took longest (from one task's start to
// the next one's), with their durations.
func (r runResult) slowest(n int) string {
	type span struct {
		name string
		d    time.Duration
	}
	var spans []span
	var last time.Time
	var lastName string
	for _, ev := range r.events {
		ts, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(ev["time"]))
		if ev["event"] == "task_start" || ev["event"] == "handler_start" || ev["event"] == "run_end" {
			if lastName != "" {
				spans = append(spans, span{lastName, ts.Sub(last)})
			}
			last, lastName = ts, fmt.Sprintf("%v : %v", ev["role"], ev["task"])
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].d > spans[j].d })
	var out []string
	for i := 0; i < n && i < len(spans); i++ {
		out = append(out, fmt.Sprintf("%s %s", spans[i].name, spans[i].d.Round(100*time.Millisecond)))
	}
	return strings.Join(out, "; ")
}

// result returns the registered result of task on host ("role : name"),
// nil when the run has none.
func (r runResult) result(task, host string) map[string]any {
	for _, ev := range r.events {
		if ev["event"] == "host_result" && fmt.Sprintf("%v : %v", ev["role"], ev["task"]) == task && ev["host"] == host {
			res, _ := ev["result"].(map[string]any)
			return res
		}
	}
	return nil
}

// barmanCheckStarted tells whether site.yaml's "read barman check" used
// the barman check started at the beginning of the run, and fails the
// test when the run left the started check's directory behind.
func barmanCheckStarted(t *testing.T, h *labHosts, r runResult) bool {
	t.Helper()
	res := r.result("barman : read barman check", "backup1")
	if res == nil {
		t.Fatalf("no result of barman : read barman check on backup1")
	}
	if out, _ := h.try("backup1", "sh", "-c", "ls -d /tmp/pgplay-barman-check.* 2>/dev/null"); out != "" {
		t.Errorf("the run left %s on backup1", out)
	}
	return res["background"] == true
}

// hostResults counts the host results of tasks of role.
func (r runResult) hostResults(role string) int {
	n := 0
	for _, ev := range r.events {
		if ev["event"] == "host_result" && ev["role"] == role {
			n++
		}
	}
	return n
}

// failures returns the messages of failed and unreachable results and
// of errors, one per line: "task [host] where: message".
func (r runResult) failures() string {
	var out []string
	for _, ev := range r.events {
		if ev["status"] == "failed" || ev["status"] == "unreachable" || ev["event"] == "error" {
			out = append(out, fmt.Sprintf("%v [%v] %v: %v", ev["task"], ev["host"], ev["where"], ev["msg"]))
		}
	}
	return strings.Join(out, "\n")
}

// requireOK fails the test unless the run exited 0.
func (r runResult) requireOK(t *testing.T, what string) {
	t.Helper()
	if r.code != 0 {
		f := r.failures()
		if f == "" {
			lines := strings.Split(strings.TrimSpace(r.raw), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			f = strings.Join(lines, "\n")
		}
		t.Fatalf("%s: exit %d\n%s", what, r.code, f)
	}
}

// noSecrets fails the test when a password, its first word, or the form
// .pgpass escapes it into appears in pgplay's output, as is or as a JSON
// string holds it.
func noSecrets(t *testing.T, what, out string) {
	t.Helper()
	pgpass := strings.NewReplacer(`\`, `\\`, `:`, `\:`)
	for _, s := range []string{repmgrPassword, barmanPassword, streamingPassword, vrrpPassword} {
		for _, form := range []string{s, pgpass.Replace(s), strings.SplitN(s, " ", 2)[0]} {
			j, _ := json.Marshal(form)
			for _, f := range []string{form, strings.Trim(string(j), `"`)} {
				if strings.Contains(out, f) {
					t.Errorf("%s: a password (%q) is in the output", what, f)
				}
			}
		}
	}
}

// sql runs one statement with psql as postgres on host and returns its
// unaligned output.
func (h *labHosts) sql(host, db, query string) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := h.targets[host].Query(ctx, transport.Cmd{
		Argv: []string{"runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d", db, "-c", query}, Dir: "/"})
	if err != nil || res.RC != 0 {
		h.t.Fatalf("%s: psql %q: %v rc=%d %s", host, query, err, res.RC, res.Stderr)
	}
	return strings.TrimSpace(string(res.Stdout))
}

// vipHolders lists the hosts whose eth0 holds vip.
func (h *labHosts) vipHolders(vip string) []string {
	var on []string
	for _, n := range []string{"node1", "node2", "node3", "backup1"} {
		if strings.Contains(h.run(n, "ip", "-4", "-o", "addr", "show", "eth0"), " "+vip+"/") {
			on = append(on, n)
		}
	}
	return on
}

// editInventory writes a copy of the YAML inventory src to dst after
// edit changed its decoded form.
func editInventory(t *testing.T, src, dst string, edit func(all map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc["all"].(map[string]any))
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pgHosts returns the postgres group's hosts map of a decoded inventory.
func pgHosts(all map[string]any) map[string]any {
	return all["children"].(map[string]any)["postgres"].(map[string]any)["hosts"].(map[string]any)
}

// TestSite deploys the HA cluster with playbooks/site.yaml on a fresh lab
// and checks, in order: --check --diff on the fresh hosts, inventories
// the validation refuses before touching a host, the deployment and the
// cluster it builds, a second run and a check run with no change, and a
// changed setting applied with exactly the reload or restart it needs.
func TestSite(t *testing.T) {
	_, opts, _ := upLab(t, nil)
	labInv := filepath.Join(opts.StateDir, "inventory.yaml")
	work := t.TempDir()
	secrets := filepath.Join(work, "secrets.yaml")
	sec, _ := yaml.Marshal(map[string]string{
		"repmgr_password": repmgrPassword, "barman_password": barmanPassword, "barman_streaming_password": streamingPassword,
		"keepalived_auth_password": vrrpPassword,
	})
	if err := os.WriteFile(secrets, sec, 0o600); err != nil {
		t.Fatal(err)
	}
	site := func(t *testing.T, inv string, extra ...string) runResult {
		t.Helper()
		r := pgplayRun(t, work, append([]string{"playbooks/site.yaml", "-i", inv, "-e", "@" + secrets}, extra...)...)
		noSecrets(t, "site.yaml "+strings.Join(extra, " "), r.raw)
		return r
	}
	h := connect(t, labInv)
	vip := fmt.Sprint(h.inv.Hosts["node1"].Vars["vip"])
	untouched := func(t *testing.T) {
		t.Helper()
		for _, n := range []string{"node1", "node2", "node3"} {
			if cl := h.run(n, "pg_lsclusters", "--no-header"); cl != "" {
				t.Errorf("%s: a cluster was created: %s", n, cl)
			}
			if _, rc := h.try(n, "test", "-e", "/etc/pgplay"); rc == 0 {
				t.Errorf("%s: /etc/pgplay was created", n)
			}
		}
	}

	t.Run("CheckDiffOnFreshHosts", func(t *testing.T) {
		start := time.Now()
		r := site(t, labInv, "--check", "--diff")
		r.requireOK(t, "site.yaml --check --diff on fresh hosts")
		t.Logf("--check --diff on fresh hosts: %s", time.Since(start).Round(time.Millisecond))
		var diffs []string
		for _, ev := range r.events {
			if ds, ok := ev["diffs"].([]any); ok && ev["host"] == "node1" {
				for _, d := range ds {
					diffs = append(diffs, fmt.Sprint(d.(map[string]any)["path"]))
				}
			}
		}
		for _, want := range []string{"/etc/postgresql/15/main/conf.d/pgplay.conf", "/etc/postgresql/15/main/pg_hba.conf",
			"/etc/repmgr.conf", "/etc/keepalived/keepalived.conf", "/etc/pgplay/ha.conf"} {
			if !containsString(diffs, want) {
				t.Errorf("--diff shows no diff of %s on node1 (diffs: %v)", want, diffs)
			}
		}
		if c := r.changed(t); c["node1"] == 0 || c["backup1"] == 0 {
			t.Errorf("check mode on fresh hosts reports no change: %v", c)
		}
		untouched(t)
	})

	t.Run("BadInventoriesFailBeforeAnyHostIsTouched", func(t *testing.T) {
		cases := []struct {
			name  string
			edit  func(all map[string]any)
			want  []string
			extra []string
		}{
			{"two primaries", func(all map[string]any) {
				pgHosts(all)["node2"].(map[string]any)["pg_role"] = "primary"
			}, []string{"2 nodes have pg_role: primary (node1, node2)"}, nil},
			{"no primary", func(all map[string]any) {
				pgHosts(all)["node1"].(map[string]any)["pg_role"] = "standby"
			}, []string{"no node has pg_role: primary"}, nil},
			{"duplicate node ids", func(all map[string]any) {
				pgHosts(all)["node3"].(map[string]any)["repmgr_node_id"] = 2
			}, []string{"duplicate repmgr_node_id 2: node2 and node3"}, nil},
			{"duplicate priorities", func(all map[string]any) {
				pgHosts(all)["node3"].(map[string]any)["keepalived_priority"] = 100
			}, []string{"duplicate keepalived_priority 100: node2 and node3"}, nil},
			{"VIP outside the network", func(all map[string]any) {
				all["vars"].(map[string]any)["vip"] = "203.0.113.100"
			}, []string{"vip 203.0.113.100 is outside lab_network 198.51.100.0/24"}, nil},
			{"name not identifier-safe", func(all map[string]any) {
				hs := pgHosts(all)
				hs["node-3"] = hs["node3"]
				delete(hs, "node3")
				delete(all["children"].(map[string]any)["standbys"].(map[string]any)["hosts"].(map[string]any), "node3")
			}, []string{`node name "node-3" is not identifier-safe`}, nil},
			{"VRRP password keepalived cannot read", func(map[string]any) {}, []string{"keepalived_auth_password: use 1 to 8 characters"},
				[]string{"-e", "keepalived_auth_password=toolongforvrrp"}},
			{"all of them at once", func(all map[string]any) {
				hs := pgHosts(all)
				hs["node2"].(map[string]any)["pg_role"] = "primary"
				hs["node3"].(map[string]any)["repmgr_node_id"] = 2
				hs["node3"].(map[string]any)["keepalived_priority"] = 100
				all["vars"].(map[string]any)["vip"] = "203.0.113.100"
				hs["Node4"] = map[string]any{"ssh_host": "198.51.100.14", "pg_role": "standby", "repmgr_node_id": 4, "keepalived_priority": 80}
			}, []string{"has 5 problem(s)", "2 nodes have pg_role: primary", "duplicate repmgr_node_id 2",
				"duplicate keepalived_priority 100", "is outside lab_network", `node name "Node4" is not identifier-safe`}, nil},
		}
		for i, c := range cases {
			inv := filepath.Join(work, fmt.Sprintf("bad%d.yaml", i))
			editInventory(t, labInv, inv, c.edit)
			r := site(t, inv, c.extra...)
			if r.code != 2 {
				t.Errorf("%s: exit %d, want 2 (a host failed)\n%s", c.name, r.code, r.raw)
				continue
			}
			msg := r.failures()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%s: the failure does not say %q:\n%s", c.name, w, msg)
				}
			}
			for _, role := range []string{"postgres", "repmgr", "keepalived", "barman"} {
				if n := r.hostResults(role); n != 0 {
					t.Errorf("%s: %d task results of role %s: hosts were touched", c.name, n, role)
				}
			}
		}
		untouched(t)
	})

	if !t.Run("Deploy", func(t *testing.T) {
		start := time.Now()
		r := site(t, labInv)
		r.requireOK(t, "site.yaml on fresh hosts")
		t.Logf("site.yaml on fresh hosts: %s; slowest tasks: %s", time.Since(start).Round(time.Millisecond), r.slowest(6))
	}) {
		return
	}

	t.Run("Cluster", func(t *testing.T) {
		show := h.sql("node1", "postgres", "SELECT 1") // the primary answers
		if show != "1" {
			t.Fatalf("node1: SELECT 1 = %q", show)
		}
		out, rc := h.try("node1", "runuser", "-u", "postgres", "--", "repmgr", "-f", "/etc/repmgr.conf", "cluster", "show")
		if rc != 0 {
			t.Fatalf("repmgr cluster show: exit %d\n%s", rc, out)
		}
		rows := map[string][]string{}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Split(line, "|")
			if len(f) > 4 {
				rows[strings.TrimSpace(f[1])] = []string{strings.TrimSpace(f[2]), strings.TrimSpace(f[3]), strings.TrimSpace(f[4])}
			}
		}
		want := map[string][]string{
			"node1": {"primary", "* running", ""},
			"node2": {"standby", "running", "node1"},
			"node3": {"standby", "running", "node1"},
		}
		for n, w := range want {
			if got := rows[n]; len(got) != 3 || got[0] != w[0] || got[1] != w[1] || got[2] != w[2] {
				t.Errorf("repmgr cluster show: %s is %v, want role %q status %q upstream %q\n%s", n, got, w[0], w[1], w[2], out)
			}
		}

		repl := h.sql("node1", "postgres", "SELECT application_name || ' ' || sync_state FROM pg_stat_replication WHERE application_name LIKE 'node%' ORDER BY 1")
		if repl != "node2 sync\nnode3 potential" {
			t.Errorf("pg_stat_replication on node1:\n%s\nwant node2 sync, node3 potential", repl)
		}
		if ssn := h.sql("node1", "postgres", "SHOW synchronous_standby_names"); ssn != "FIRST 1 (node2, node3)" {
			t.Errorf("synchronous_standby_names = %q", ssn)
		}
		for _, n := range []string{"node1", "node2", "node3"} {
			if v := h.sql(n, "postgres", "SHOW data_checksums"); v != "on" {
				t.Errorf("%s: data_checksums = %s", n, v)
			}
			if v := h.sql(n, "postgres", "SHOW wal_log_hints"); v != "on" {
				t.Errorf("%s: wal_log_hints = %s", n, v)
			}
		}

		if on := h.vipHolders(vip); len(on) != 1 || on[0] != "node1" {
			t.Errorf("VIP %s on %v, want node1 only", vip, on)
		}

		// A client on another host writes through the VIP (barman's
		// account from backup1); the row reaches both standbys.
		mark := fmt.Sprintf("site-e2e-%d", time.Now().UnixNano())
		h.run("backup1", "runuser", "-u", "barman", "--", "psql", "-XAtq",
			"host="+vip+" user=barman dbname=postgres connect_timeout=5",
			"-c", "CREATE TABLE IF NOT EXISTS pgplay_e2e (v text)",
			"-c", "INSERT INTO pgplay_e2e VALUES ('"+mark+"')")
		for _, n := range []string{"node2", "node3"} {
			eventually(t, 10*time.Second, "the row written through the VIP on "+n, func() (bool, string) {
				got := h.sql(n, "postgres", "SELECT count(*) FROM pgplay_e2e WHERE v = '"+mark+"'")
				return got == "1", "count = " + got
			})
		}

		chk, rc := h.try("backup1", "runuser", "-u", "barman", "--", "barman", "check", "pgplay")
		if rc != 0 || strings.Contains(chk, "FAILED") {
			t.Errorf("barman check pgplay: exit %d\n%s", rc, chk)
		}
		if lb := h.run("backup1", "runuser", "-u", "barman", "--", "barman", "list-backups", "pgplay"); !strings.Contains(lb, "pgplay ") {
			t.Errorf("barman list-backups pgplay shows no backup:\n%s", lb)
		}

		// Files that hold secrets or run as root, as DOMAIN.md wants them.
		for _, f := range []struct{ host, path, want string }{
			{"node1", "/var/lib/postgresql/.pgpass", "600 postgres postgres"},
			{"node2", "/var/lib/postgresql/.pgpass", "600 postgres postgres"},
			{"backup1", "/var/lib/barman/.pgpass", "600 barman barman"},
			{"node3", "/etc/keepalived/pgplay-auth.conf", "600 root root"},
			{"node1", "/usr/local/lib/pgplay/pgplay-check", "755 root root"},
			{"node1", "/usr/local/lib/pgplay/pgplay-promote", "755 root root"},
			{"node2", "/usr/local/lib/pgplay/pgplay-follow", "755 root root"},
		} {
			if got := h.run(f.host, "stat", "-c", "%a %U %G", f.path); got != f.want {
				t.Errorf("%s:%s is %q, want %q", f.host, f.path, got, f.want)
			}
		}
		for _, n := range []string{"node1", "node2", "node3"} {
			conf := h.run(n, "cat", "/etc/keepalived/keepalived.conf")
			for _, w := range []string{"state BACKUP", "nopreempt", "enable_script_security", "user postgres", "include /etc/keepalived/pgplay-auth.conf"} {
				if !strings.Contains(conf, w) {
					t.Errorf("%s: keepalived.conf lacks %q", n, w)
				}
			}
			// keepalived reads the VRRP password from the included file.
			if auth := h.run(n, "grep", "-c", "auth_pass "+vrrpPassword+"$", "/etc/keepalived/pgplay-auth.conf"); auth != "1" {
				t.Errorf("%s: pgplay-auth.conf does not hold the VRRP password", n)
			}
			// ... and uses it: its configuration dump (SIGUSR1) shows the
			// password authentication of the VRRP instance.
			dump := h.run(n, "sh", "-c", "rm -f /tmp/keepalived.data; kill -USR1 $(cat /run/keepalived.pid) && for i in $(seq 50); do grep -qs 'Virtual Router' /tmp/keepalived.data && break; sleep 0.1; done; sleep 0.3; cat /tmp/keepalived.data")
			if !strings.Contains(dump, "Authentication type = SIMPLE_PASSWORD") || !strings.Contains(dump, "Password = "+vrrpPassword) {
				t.Errorf("%s: keepalived's configuration dump shows no VRRP password authentication", n)
			}
			if d := h.run(n, "grep", "^DAEMON_ARGS=", "/etc/default/keepalived"); d != `DAEMON_ARGS="--vrrp"` {
				t.Errorf("%s: /etc/default/keepalived: %s", n, d)
			}
		}
	})

	t.Run("SecondRunChangesNothing", func(t *testing.T) {
		start := time.Now()
		r := site(t, labInv)
		r.requireOK(t, "second run")
		t.Logf("second run: %s", time.Since(start).Round(time.Millisecond))
		for host, n := range r.changed(t) {
			if n != 0 {
				t.Errorf("second run: %s changed=%d: %v", host, n, r.changes())
			}
		}
		// Nothing changed: barman's answer is the one of the check
		// started before the cluster's plays.
		if !barmanCheckStarted(t, h, r) {
			t.Errorf("a run that changed nothing checked barman again at its end")
		}
	})

	t.Run("StartedBarmanCheckSeesAFailure", func(t *testing.T) {
		// pg_receivewal stopped just before a run, with barman cron
		// kept from starting it again meanwhile (its cron file moved
		// aside; cron rescans /etc/cron.d when the directory changes):
		// the check started at the run's beginning finds it, and the
		// barman role starts it at once. (Without the cron file moved,
		// this failed 2 of 5 times: something started receive-wal
		// between the kill and the check.)
		h.run("backup1", "mv", "/etc/cron.d/barman", "/root/pgplay-test-barman.cron")
		t.Cleanup(func() { h.run("backup1", "mv", "/root/pgplay-test-barman.cron", "/etc/cron.d/barman") })
		h.run("backup1", "sh", "-c", `pid=$(pgrep -u barman -f 'pg_receivewal .*--directory=/var/lib/barman/pgplay/streaming'); [ -n "$pid" ] && kill -KILL $pid`)
		// barman's receive-wal (Python) exits after its pg_receivewal:
		// until then barman check still counts it as running.
		eventually(t, 20*time.Second, "barman's receive-wal stopped", func() (bool, string) {
			out, rc := h.try("backup1", "pgrep", "-u", "barman", "-af", "receive-?wal")
			return rc != 0, out
		})
		r := site(t, labInv)
		r.requireOK(t, "site.yaml with pg_receivewal stopped")
		if got := r.changes(); strings.Join(got, "\n") != "barman : WAL streaming runs (barman cron starts receive-wal) [backup1]" {
			t.Errorf("changes %v, want receive-wal started", got)
		}
		if !barmanCheckStarted(t, h, r) {
			t.Errorf("the run did not use the started check")
		}
	})

	t.Run("CheckOnConvergedClusterChangesNothing", func(t *testing.T) {
		r := site(t, labInv, "--check")
		r.requireOK(t, "--check on the converged cluster")
		for host, n := range r.changed(t) {
			if n != 0 {
				t.Errorf("--check: %s would change %d: %v", host, n, r.changes())
			}
		}
	})

	startTimes := func() map[string]string {
		m := map[string]string{}
		for _, n := range []string{"node1", "node2", "node3"} {
			m[n] = h.sql(n, "postgres", "SELECT pg_postmaster_start_time()")
		}
		return m
	}
	keepalivedPIDs := func() map[string]string {
		m := map[string]string{}
		for _, n := range []string{"node1", "node2", "node3"} {
			m[n] = h.run(n, "systemctl", "show", "--property=MainPID", "--value", "keepalived")
		}
		return m
	}
	settingsRun := func(t *testing.T, settings string, wantChanges []string, restart bool) {
		t.Helper()
		before, kaBefore := startTimes(), keepalivedPIDs()
		r := site(t, labInv, "-e", `{"pg_settings": `+settings+`}`)
		r.requireOK(t, "site.yaml with pg_settings "+settings)
		sort.Strings(wantChanges)
		got := r.changes()
		if restart {
			// pg_receivewal exits when the primary restarts; barman cron
			// starts it again within a minute, site.yaml at once if it
			// finds it stopped.
			got = without(got, "barman : WAL streaming runs (barman cron starts receive-wal) [backup1]")
		}
		if strings.Join(got, "\n") != strings.Join(wantChanges, "\n") {
			t.Errorf("pg_settings %s: changes\n  %s\nwant\n  %s", settings, strings.Join(got, "\n  "), strings.Join(wantChanges, "\n  "))
		}
		// The run changed the cluster: barman was checked again, after.
		if barmanCheckStarted(t, h, r) {
			t.Errorf("pg_settings %s: a run that changed the cluster used the barman check started before the change", settings)
		}
		after := startTimes()
		for n := range before {
			if (before[n] != after[n]) != restart {
				t.Errorf("%s: postmaster start time %s -> %s; restart expected: %v", n, before[n], after[n], restart)
			}
		}
		if ka := keepalivedPIDs(); fmt.Sprint(ka) != fmt.Sprint(kaBefore) {
			t.Errorf("keepalived restarted: %v -> %v", kaBefore, ka)
		}
		if on := h.vipHolders(vip); len(on) != 1 || on[0] != "node1" {
			t.Errorf("VIP on %v after the change, want node1 only", on)
		}
		eventually(t, 30*time.Second, "node2 sync, node3 potential again", func() (bool, string) {
			repl := h.sql("node1", "postgres", "SELECT application_name || ' ' || sync_state FROM pg_stat_replication WHERE application_name LIKE 'node%' ORDER BY 1")
			return repl == "node2 sync\nnode3 potential", repl
		})
	}
	each := func(task string, hosts ...string) []string {
		var out []string
		for _, n := range hosts {
			out = append(out, fmt.Sprintf("postgres : %s [%s]", task, n))
		}
		return out
	}
	conf := "replication settings (conf.d/pgplay.conf)"

	t.Run("ReloadOnlySettingIsReloaded", func(t *testing.T) {
		want := append(each(conf, "node1", "node2", "node3"), each("reload postgresql", "node1", "node2", "node3")...)
		settingsRun(t, `{"work_mem": "8MB"}`, want, false)
		for _, n := range []string{"node1", "node2", "node3"} {
			if v := h.sql(n, "postgres", "SHOW work_mem"); v != "8MB" {
				t.Errorf("%s: work_mem = %s after the reload", n, v)
			}
		}
	})

	// What a restart setting changes: the file and a reload everywhere,
	// then the primary's restart, then the standbys'.
	var restartChanges []string
	restartChanges = append(restartChanges, each(conf, "node1", "node2", "node3")...)
	restartChanges = append(restartChanges, each("reload postgresql", "node1", "node2", "node3")...)
	restartChanges = append(restartChanges, each("tell the health check that a planned restart comes", "node1")...)
	restartChanges = append(restartChanges, each("restart postgresql on the primary", "node1")...)
	restartChanges = append(restartChanges, each("restart postgresql on the standbys", "node2", "node3")...)
	restartChanges = append(restartChanges, each("the planned restart is over", "node1")...)

	t.Run("RestartSettingRestartsPrimaryThenStandbys", func(t *testing.T) {
		settingsRun(t, `{"work_mem": "8MB", "max_connections": 150}`, append([]string(nil), restartChanges...), true)
		for _, n := range []string{"node1", "node2", "node3"} {
			if v := h.sql(n, "postgres", "SHOW max_connections"); v != "150" {
				t.Errorf("%s: max_connections = %s after the restart", n, v)
			}
		}
		if log := h.run("node2", "journalctl", "-t", "pgplay-promote", "--no-pager", "-o", "cat"); strings.Contains(log, "promoting") {
			t.Errorf("the planned restart of the primary started a promotion on node2:\n%s", log)
		}
	})

	t.Run("LoweringARestartSettingKeepsTheStandbysUp", func(t *testing.T) {
		// max_connections back to 100: a standby must not restart with a
		// value below its pg_control's (the primary's old 150) before it
		// replayed the restarted primary's new one, or it cannot start.
		settingsRun(t, `{}`, append([]string(nil), restartChanges...), true)
		for _, n := range []string{"node1", "node2", "node3"} {
			if v := h.sql(n, "postgres", "SHOW max_connections"); v != "100" {
				t.Errorf("%s: max_connections = %s after lowering it", n, v)
			}
		}
	})

	siteFaults(t, h, work, labInv, site, []string{"-e", "@" + secrets})
}

// without returns list without the elements equal to s.
func without(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
