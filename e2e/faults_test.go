//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/lab"
)

// freeze stops (or resumes) every process of a lab host at once, through
// its cgroup v2 freezer: the host's kernel still completes TCP handshakes,
// but nothing on it answers, as on a hung VM.
func freeze(t *testing.T, host string, frozen bool) {
	t.Helper()
	v := "0"
	if frozen {
		v = "1"
	}
	f := filepath.Join("/sys/fs/cgroup/unified", lab.Prefix+host, "cgroup.freeze")
	if err := os.WriteFile(f, []byte(v), 0o644); err != nil {
		t.Fatalf("freezing %s (%s = %s): %v", host, f, v, err)
	}
}

// interruptedRun runs `pgplay run ARGS --output json` from dir and sends
// it SIGINT when the first event matching at arrives. It returns the run
// and how long pgplay took to exit after the signal.
func interruptedRun(t *testing.T, dir string, at func(ev map[string]any) bool, args ...string) (runResult, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pgplayBinary(t), append(append([]string{"run"}, args...), "--output", "json")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var raw bytes.Buffer
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var sent time.Time
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			raw.Write(sc.Bytes())
			raw.WriteByte('\n')
			var ev map[string]any
			if sent.IsZero() && json.Unmarshal(sc.Bytes(), &ev) == nil && at(ev) {
				sent = time.Now()
				_ = cmd.Process.Signal(syscall.SIGINT)
			}
		}
	}()
	err := cmd.Wait()
	pw.Close()
	<-scanned
	took := time.Since(sent)
	r := runResult{raw: raw.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("pgplay run %s: %v\n%s", strings.Join(args, " "), err, r.raw)
	}
	if sent.IsZero() {
		t.Fatalf("pgplay run %s ended (exit %d) before the event to interrupt it at\n%s", strings.Join(args, " "), r.code, r.raw)
	}
	for _, line := range strings.Split(r.raw, "\n") {
		var ev map[string]any
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &ev) == nil {
			r.events = append(r.events, ev)
		}
	}
	return r, took
}

// recapOf returns the recap's counters of host.
func (r runResult) recapOf(t *testing.T, host string) map[string]int {
	t.Helper()
	for _, ev := range r.events {
		if ev["event"] != "recap" {
			continue
		}
		stats, _ := ev["stats"].(map[string]any)
		m, _ := stats[host].(map[string]any)
		out := map[string]int{}
		for k, v := range m {
			if n, ok := v.(float64); ok {
				out[k] = int(n)
			}
		}
		return out
	}
	t.Fatalf("no recap in the output:\n%s", r.raw)
	return nil
}

// siteFaults attacks a deployed, converged cluster (the end of TestSite):
// a host that hangs during a run, and a run interrupted while it changes
// files. site runs site.yaml with the test's secrets.
func siteFaults(t *testing.T, h *labHosts, work, labInv string, site func(t *testing.T, inv string, extra ...string) runResult, siteArgs []string) {
	t.Run("HungHostIsUnreachableTheOthersFinish", func(t *testing.T) {
		// backup1 hangs (every process frozen): its SSH handshake never
		// completes. The PostgreSQL nodes converge; backup1 is reported
		// unreachable after the connect timeout; exit 3.
		freeze(t, "backup1", true)
		thawed := false
		defer func() {
			if !thawed {
				freeze(t, "backup1", false)
			}
		}()
		start := time.Now()
		r := site(t, labInv, "--connect-timeout", "4s")
		took := time.Since(start)
		freeze(t, "backup1", false)
		thawed = true
		t.Logf("site.yaml with backup1 hung: exit %d in %s", r.code, took.Round(time.Millisecond))
		if r.code != 3 {
			t.Errorf("exit %d, want 3 (a host was unreachable)\n%s", r.code, r.failures())
		}
		if got := r.recapOf(t, "backup1"); got["unreachable"] != 1 {
			t.Errorf("backup1's recap %v, want unreachable=1\n%s", got, r.raw)
		}
		msg := ""
		for _, ev := range r.events {
			if ev["host"] == "backup1" && ev["status"] == "unreachable" {
				msg = fmt.Sprint(ev["msg"])
			}
		}
		if !strings.Contains(msg, "backup1") || !strings.Contains(strings.ToLower(msg), "timeout") && !strings.Contains(strings.ToLower(msg), "timed out") {
			t.Errorf("the unreachable message does not name backup1 and the timeout: %q", msg)
		}
		for _, n := range []string{"node1", "node2", "node3"} {
			if got := r.recapOf(t, n); got["failed"] != 0 || got["unreachable"] != 0 || got["changed"] != 0 || got["ok"] == 0 {
				t.Errorf("%s's recap %v, want ok>0 and nothing changed, failed or unreachable; changes: %v\n%s", n, got, r.changes(), r.failures())
			}
		}
		// Bounded by the connect timeout, not by the hang.
		if took > 3*time.Minute {
			t.Errorf("site.yaml took %s with a hung host", took)
		}
	})

	t.Run("BarmanReceiveWALRepaired", func(t *testing.T) {
		// What pg_receivewal logs when its position points at WAL the
		// primary no longer has (seen after several failovers in a row),
		// with receive-wal stopped: pgplay-barman-repair resets
		// receive-wal and barman cron starts it again. The script runs as
		// cron runs it (as barman); that cron has it is checked apart.
		h.run("backup1", "sh", "-c", `printf '%s [1] barman.command_wrappers INFO: pgplay: pg_receivewal: error: unexpected termination of replication stream: ERROR:  requested WAL segment 000000010000000000000001 has already been removed\n' "$(date '+%Y-%m-%d %H:%M:%S,000')" >> /var/log/barman/barman.log
pid=$(pgrep -u barman -f 'pg_receivewal .*--directory=/var/lib/barman/pgplay/streaming'); [ -z "$pid" ] || kill -KILL $pid`)
		eventually(t, 30*time.Second, "pg_receivewal stopped", func() (bool, string) {
			out, rc := h.try("backup1", "pgrep", "-u", "barman", "-f", "pg_receivewal .*--directory=/var/lib/barman/pgplay/streaming")
			return rc != 0, out
		})
		if out, rc := h.try("backup1", "runuser", "-u", "barman", "--", "/usr/local/lib/pgplay/pgplay-barman-repair", "pgplay"); rc != 0 {
			t.Fatalf("pgplay-barman-repair: exit %d\n%s", rc, out)
		}
		if j, _ := h.try("backup1", "journalctl", "-t", "pgplay-barman", "--no-pager", "-o", "cat"); !strings.Contains(j, "receive-wal reset") || !strings.Contains(j, "take a new backup") {
			t.Errorf("pgplay-barman-repair did not reset receive-wal:\n%s", j)
		}
		// Once only: the same error is not acted on twice.
		h.run("backup1", "runuser", "-u", "barman", "--", "/usr/local/lib/pgplay/pgplay-barman-repair", "pgplay")
		if j, _ := h.try("backup1", "journalctl", "-t", "pgplay-barman", "--no-pager", "-o", "cat"); strings.Count(j, "receive-wal reset") != 1 {
			t.Errorf("pgplay-barman-repair acted twice on one error:\n%s", j)
		}
		eventually(t, 150*time.Second, "barman check OK again (barman cron restarts receive-wal)", func() (bool, string) {
			out, rc := h.try("backup1", "runuser", "-u", "barman", "--", "barman", "check", "pgplay")
			return rc == 0, out
		})
		eventually(t, 90*time.Second, "cron runs pgplay-barman-repair every minute", func() (bool, string) {
			j, _ := h.try("backup1", "journalctl", "-t", "CRON", "--no-pager", "-o", "cat")
			return strings.Contains(j, "(barman) CMD (sleep 30 && BARMAN_HOME=/var/lib/barman /usr/local/lib/pgplay/pgplay-barman-repair pgplay)"), j
		})
	})

	t.Run("InterruptedRunLeavesNoHalfWrittenFile", func(t *testing.T) {
		// SIGINT as soon as the first host changed a file: pgplay starts
		// no new task, lets the writes under way finish, prints the recap
		// and exits 99. No file is half-written, no temporary file is
		// left, and the next run finishes the job.
		settings := []string{"-e", `{"pg_settings": {"work_mem": "12MB"}}`}
		args := append(append([]string{"playbooks/site.yaml", "-i", labInv}, siteArgs...), settings...)
		r, took := interruptedRun(t, work, func(ev map[string]any) bool {
			return ev["event"] == "host_result" && ev["status"] == "changed"
		}, args...)
		noSecrets(t, "interrupted site.yaml", r.raw)
		t.Logf("interrupted: exit %d, %s after SIGINT", r.code, took.Round(time.Millisecond))
		if r.code != 99 {
			t.Errorf("exit %d after SIGINT, want 99\n%s", r.code, r.raw)
		}
		if took > 30*time.Second {
			t.Errorf("pgplay took %s to stop after SIGINT", took)
		}
		_ = r.recapOf(t, "node1") // the recap is printed
		interrupted := false
		for _, ev := range r.events {
			if ev["event"] == "warning" && strings.Contains(fmt.Sprint(ev["msg"]), "interrupted") {
				interrupted = true
			}
		}
		if !interrupted {
			t.Errorf("no warning says the run was interrupted\n%s", r.raw)
		}
		for _, n := range []string{"node1", "node2", "node3"} {
			conf := h.run(n, "cat", "/etc/postgresql/15/main/conf.d/pgplay.conf")
			if !strings.Contains(conf, "# Managed by pgplay") || !strings.Contains(conf, "max_wal_senders") {
				t.Errorf("%s: conf.d/pgplay.conf is not a whole file after the interrupt:\n%s", n, conf)
			}
			if left := h.run(n, "sh", "-c", "find /etc/postgresql /etc/keepalived /etc/pgplay /etc/repmgr.conf -name '.*.pgplay-*'"); left != "" {
				t.Errorf("%s: temporary files left after the interrupt:\n%s", n, left)
			}
		}
		// The next run finds the files right but not in effect (the
		// interrupted run's handlers never ran), and reloads.
		r2 := site(t, labInv, settings...)
		r2.requireOK(t, "site.yaml after the interrupted run")
		for _, n := range []string{"node1", "node2", "node3"} {
			if v := h.sql(n, "postgres", "SHOW work_mem"); v != "12MB" {
				t.Errorf("%s: work_mem = %s after the run that followed the interrupted one, want 12MB", n, v)
			}
		}
	})
}
