package modules

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "barman",
		Returns: "action, server: what ran\nchecks: check: each barman check -> {ok, detail}\nall_ok: check: whether every check passed\nstarted: check_start: what a later check's started takes\nbackground: check: true when the answer is the started check's\nbackups, latest: backup, list_backups: the server's backups and the newest\nrc, stdout, stderr: barman's exit code and output\nunverified: true in check mode when barman's configuration is only simulated",
		Purpose: "Run barman (as the barman user): check (or start it in the background: check_start), backup, receive_wal, switch_wal, cron, list_backups.",
		Examples: []string{
			`- name: Wait until barman's checks pass (WAL streaming, slot, archiving)
  barman:
    action: check
    server: pg
  register: chk
  until: .chk.all_ok
  retries: 10
  delay: 3`,
			`- name: Take a base backup unless one is younger than a day
  barman:
    action: backup
    server: pg
    if_older_than: 24h`,
			`- name: After a failover, restart WAL streaming from the new primary
  barman:
    action: receive_wal
    server: pg
    reset: true`,
			`- name: List the backups
  barman:
    action: list_backups
    server: pg
  register: bk
- name: Show the newest
  debug:
    var: bk.latest`,
		},
		New: func() Module { return &Barman{} },
	})
}

// Barman runs barman 3.4 on the backup host as the barman user (see
// asUserArgv; the task may use become: true or become_user: barman).
// check registers {checks: {NAME: {ok, detail}}, all_ok} and fails when a
// check fails; list_backups registers backups (newest first) and latest.
type Barman struct {
	Action         string        `arg:"action,required" choices:"check|check_start|backup|receive_wal|switch_wal|cron|list_backups" doc:"what to do (check_start: start barman check in the background, for a later check's started)"`
	Started        string        `arg:"started" doc:"check: the started value a check_start task registered; its answer is used (waiting for it up to a minute) instead of running barman check again, unless stale; empty: check now"`
	Stale          bool          `arg:"stale" default:"false" doc:"check: the started check's answer is out of date (the cluster changed since): remove it and check now"`
	Server         string        `arg:"server" aliases:"name" doc:"barman server name (its /etc/barman.d/NAME.conf); all actions but cron"`
	Wait           bool          `arg:"wait" default:"true" doc:"backup: wait until the WAL the backup needs is archived (barman backup --wait)"`
	IfOlderThan    time.Duration `arg:"if_older_than" doc:"backup: only when the newest finished backup is older than this (e.g. 24h); unset: always"`
	CreateSlot     bool          `arg:"create_slot" default:"true" doc:"receive_wal: create the server's replication slot when barman check says it does not exist"`
	Reset          bool          `arg:"reset" default:"false" doc:"receive_wal: reset receive-wal's status (after a failover; receive-wal --reset)"`
	Force          bool          `arg:"force" default:"true" doc:"switch_wal: switch even when no WAL was written since the last switch (--force)"`
	Archive        bool          `arg:"archive" default:"true" doc:"switch_wal: wait for the closed WAL file to be archived (--archive)"`
	ArchiveTimeout time.Duration `arg:"archive_timeout" doc:"switch_wal: how long --archive waits (barman's default 30s)"`
	User           string        `arg:"user" default:"barman" doc:"the barman system user"`
}

var barmanServerName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Validate checks the server name against the action.
func (m *Barman) Validate() error {
	switch {
	case m.Action == "cron" && m.Server != "":
		return &ArgError{Arg: "server", Msg: "barman cron runs for every server: give no server"}
	case m.Action != "cron" && m.Server == "":
		return &ArgError{Arg: "server", Msg: fmt.Sprintf("action %s needs \"server\" (the barman server name)", m.Action)}
	case m.Server != "" && (!barmanServerName.MatchString(m.Server) || m.Server == "all"):
		return &ArgError{Arg: "server", Msg: fmt.Sprintf("%q is not a barman server name", m.Server)}
	case m.IfOlderThan != 0 && m.Action != "backup":
		return &ArgError{Arg: "if_older_than", Msg: "if_older_than is for action: backup"}
	case m.Reset && m.Action != "receive_wal":
		return &ArgError{Arg: "reset", Msg: "reset is for action: receive_wal"}
	case m.ArchiveTimeout != 0 && m.Action != "switch_wal":
		return &ArgError{Arg: "archive_timeout", Msg: "archive_timeout is for action: switch_wal"}
	case m.Started != "" && m.Action != "check":
		return &ArgError{Arg: "started", Msg: "started is for action: check"}
	case m.Started != "" && !checkStartedDir.MatchString(m.Started):
		return &ArgError{Arg: "started", Msg: fmt.Sprintf("%q is not what a check_start task registers as started", m.Started),
			Hint: "give the started value of a registered check_start task: started: \"{{ .chk_start.started }}\""}
	}
	return checkAccountName("user", m.User)
}

// barman runs barman with args as the barman user.
func (m *Barman) barman(ctx context.Context, t transport.Target, change bool, args ...string) (transport.Result, error) {
	cmd := asUserCmd(m.User, append([]string{"barman"}, args...), nil, nil)
	if change {
		return t.Change(ctx, cmd)
	}
	return t.Query(ctx, cmd)
}

// barmanCheck is one line of barman check.
type barmanCheck struct {
	OK     bool
	Detail string
}

var checkLine = regexp.MustCompile(`^\s+(.+?): (OK|FAILED)(?: \((.*)\))?\s*$`)

// parseBarmanCheck reads `barman check SERVER`: a "Server NAME:" line and
// "\tNAME: OK|FAILED (detail)" lines.
func parseBarmanCheck(out string) (map[string]barmanCheck, []string) {
	checks := map[string]barmanCheck{}
	var order []string
	for _, line := range strings.Split(out, "\n") {
		mm := checkLine.FindStringSubmatch(line)
		if mm == nil {
			continue
		}
		if _, dup := checks[mm[1]]; !dup {
			order = append(order, mm[1])
		}
		checks[mm[1]] = barmanCheck{OK: mm[2] == "OK", Detail: mm[3]}
	}
	return checks, order
}

func checksData(checks map[string]barmanCheck) (map[string]any, bool, []string) {
	d := map[string]any{}
	allOK := len(checks) > 0
	var bad []string
	for name, c := range checks {
		d[name] = map[string]any{"ok": c.OK, "detail": c.Detail}
		if !c.OK {
			allOK = false
			bad = append(bad, name)
		}
	}
	sort.Strings(bad)
	return d, allOK, bad
}

// barmanBackups parses `barman -f json list-backups SERVER`.
func parseBarmanBackups(out []byte, server string) ([]map[string]any, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("barman list-backups: unexpected output: %w", err)
	}
	raw, ok := doc[server]
	if !ok {
		return []map[string]any{}, nil
	}
	var list []map[string]any
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("barman list-backups: unexpected output for %s: %w", server, err)
	}
	for _, b := range list {
		if ts, ok := b["end_time_timestamp"].(string); ok {
			if n, err := strconv.ParseInt(ts, 10, 64); err == nil {
				b["end_time_timestamp"] = n
			}
		}
	}
	return list, nil
}

// barmanMessages returns the messages of a JSON output's _ERROR (and
// _WARNING) lists.
func barmanMessages(out []byte, keys ...string) []string {
	var doc map[string]json.RawMessage
	if json.Unmarshal(out, &doc) != nil {
		return nil
	}
	var msgs []string
	for _, k := range keys {
		var l []string
		if json.Unmarshal(doc[k], &l) == nil {
			msgs = append(msgs, l...)
		}
	}
	return msgs
}

// barmanFailed reports a failed barman command.
func (m *Barman) barmanFailed(res *Result, what string, r transport.Result) *Result {
	res.HasRC, res.RC, res.Stdout, res.Stderr = true, r.RC, string(r.Stdout), string(r.Stderr)
	msg := strings.TrimSpace(string(r.Stderr))
	if errs := barmanMessages(r.Stdout, "_ERROR", "_EXCEPTION"); len(errs) > 0 {
		msg = strings.Join(errs, "\n")
	} else if msg == "" {
		msg = strings.TrimSpace(string(r.Stdout))
	}
	hint := ""
	switch {
	case strings.Contains(msg, "Unknown server"):
		hint = fmt.Sprintf("\n  hint: deploy /etc/barman.d/%s.conf first", m.Server)
	case strings.Contains(msg, "sudo:") || strings.Contains(msg, "Unable to run as"):
		hint = "\n  hint: barman runs as the barman user: use become: true (root) or become_user: " + m.User
	case r.RC == 127:
		hint = "\n  hint: install barman (apt: name=barman)"
	}
	return failed(res, "barman %s failed on server %s (rc %d): %s%s", what, m.Server, r.RC, lastLines(msg, 10), hint)
}

// barmanConfigs are the files barman reads a server's configuration
// from (Debian's layout).
func (m *Barman) barmanConfigs() []string {
	return []string{"/etc/barman.conf", "/etc/barman.d/" + m.Server + ".conf"}
}

// unverified is the result of an action that asks barman about the
// server when its configuration file is only written by an earlier task
// of this check run (transport.Simulated): barman would read the host's
// file, so it is not asked. It returns nil when the files are real.
func (m *Barman) unverified(t transport.Target, res *Result) *Result {
	queries := m.Action == "check" || m.Action == "list_backups" ||
		m.Action == "backup" && m.IfOlderThan > 0 || m.Action == "receive_wal" && m.CreateSlot
	if !queries {
		return nil // the action only runs changes: simulated anyway
	}
	for _, f := range m.barmanConfigs() {
		if !transport.Simulated(t, f) {
			continue
		}
		res.Data["unverified"] = true
		why := fmt.Sprintf("%s is only written by an earlier task of this check run (barman would read the host's file)", f)
		switch m.Action {
		case "check":
			res.Data["checks"], res.Data["all_ok"] = map[string]any{}, false
			res.Msg = "check mode: cannot run barman check: " + why
		case "list_backups":
			res.Data["backups"], res.Data["latest"] = []any{}, nil
			res.Msg = "check mode: cannot list the backups: " + why
		case "backup":
			res.Changed = true
			res.Msg = "check mode: cannot verify, a backup would be taken: " + why
		default:
			res.Changed = true
			res.Msg = "check mode: cannot verify the replication slot and receive-wal: " + why
		}
		return res
	}
	return nil
}

// Run performs the action.
func (m *Barman) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	res := &Result{Data: map[string]any{"action": m.Action}}
	if m.Server != "" {
		res.Data["server"] = m.Server
	}
	if u := m.unverified(t, res); u != nil {
		return u, nil
	}
	switch m.Action {
	case "check":
		return m.check(ctx, t, res)
	case "check_start":
		return m.checkStart(ctx, t, res)
	case "list_backups":
		backups, r, err := m.listBackups(ctx, t)
		if err != nil || r.RC != 0 {
			if err != nil {
				return nil, err
			}
			return m.barmanFailed(res, "list-backups", r), nil
		}
		m.backupsData(res, backups)
		return res, nil
	case "backup":
		return m.backup(ctx, t, res)
	case "receive_wal":
		return m.receiveWAL(ctx, t, res)
	case "switch_wal":
		args := []string{"switch-wal"}
		if m.Force {
			args = append(args, "--force")
		}
		if m.Archive {
			args = append(args, "--archive")
		}
		if m.ArchiveTimeout > 0 {
			args = append(args, "--archive-timeout", strconv.Itoa(int(m.ArchiveTimeout.Seconds())))
		}
		r, err := m.barman(ctx, t, true, append(args, m.Server)...)
		if err != nil {
			return nil, err
		}
		if r.RC != 0 {
			return m.barmanFailed(res, "switch-wal", r), nil
		}
		out := strings.TrimSpace(string(r.Stdout))
		res.Changed = r.Simulated || !strings.Contains(out, "No switch required")
		res.Msg = out
		return res, nil
	case "cron":
		r, err := m.barman(ctx, t, true, "cron")
		if err != nil {
			return nil, err
		}
		if r.RC != 0 {
			return m.barmanFailed(res, "cron", r), nil
		}
		out := strings.TrimSpace(string(r.Stdout))
		// Changed when it started a WAL receiver (receive-wal); archiving
		// streamed WAL ("Starting WAL archiving") is its routine work,
		// every minute.
		res.Changed = r.Simulated || strings.Contains(out, "Starting streaming archiver")
		res.Msg = out
		res.Data["stdout_lines"] = linesOf(out)
		return res, nil
	}
	return nil, fmt.Errorf("barman: unknown action %q", m.Action)
}

// runCheck runs `barman check SERVER` and parses its lines. When the
// output holds no check (barman failed before checking), the returned
// Result reports that and ends the action.
func (m *Barman) runCheck(ctx context.Context, t transport.Target, res *Result) (map[string]barmanCheck, transport.Result, *Result, error) {
	r, ok, err := m.startedAnswer(ctx, t)
	if err != nil {
		return nil, r, nil, err
	}
	if ok {
		res.Data["background"] = true
	} else if r, err = m.barman(ctx, t, false, "check", m.Server); err != nil {
		return nil, r, nil, err
	}
	checks, _ := parseBarmanCheck(string(r.Stdout))
	if len(checks) == 0 {
		return nil, r, m.barmanFailed(res, "check", r), nil
	}
	return checks, r, nil, nil
}

func (m *Barman) check(ctx context.Context, t transport.Target, res *Result) (*Result, error) {
	checks, r, stop, err := m.runCheck(ctx, t, res)
	if stop != nil || err != nil {
		return stop, err
	}
	d, allOK, bad := checksData(checks)
	res.Data["checks"], res.Data["all_ok"] = d, allOK
	res.HasRC, res.RC, res.Stdout, res.Stderr = true, r.RC, string(r.Stdout), string(r.Stderr)
	if !allOK {
		var parts []string
		for _, b := range bad {
			p := b
			if checks[b].Detail != "" {
				p += " (" + checks[b].Detail + ")"
			}
			parts = append(parts, p)
		}
		failed(res, "barman check %s: FAILED: %s", m.Server, strings.Join(parts, "; "))
	}
	return res, nil
}

func (m *Barman) listBackups(ctx context.Context, t transport.Target) ([]map[string]any, transport.Result, error) {
	r, err := m.barman(ctx, t, false, "-f", "json", "list-backups", m.Server)
	if err != nil || r.RC != 0 {
		return nil, r, err
	}
	b, err := parseBarmanBackups(r.Stdout, m.Server)
	return b, r, err
}

func (m *Barman) backupsData(res *Result, backups []map[string]any) {
	list := make([]any, 0, len(backups))
	var latest any
	for _, b := range backups {
		list = append(list, b)
		if latest == nil && b["status"] == "DONE" {
			latest = b
		}
	}
	res.Data["backups"], res.Data["latest"] = list, latest
}

func (m *Barman) backup(ctx context.Context, t transport.Target, res *Result) (*Result, error) {
	if m.IfOlderThan > 0 {
		backups, r, err := m.listBackups(ctx, t)
		if err != nil {
			return nil, err
		}
		if r.RC != 0 {
			return m.barmanFailed(res, "list-backups", r), nil
		}
		m.backupsData(res, backups)
		if l, ok := res.Data["latest"].(map[string]any); ok {
			if ts, ok := l["end_time_timestamp"].(int64); ok {
				age := time.Since(time.Unix(ts, 0))
				if age < m.IfOlderThan {
					res.Msg = fmt.Sprintf("latest backup %v is %s old (younger than %s)", l["backup_id"], age.Round(time.Second), m.IfOlderThan)
					return res, nil
				}
			}
		}
	}
	args := []string{"-f", "json", "backup"}
	if m.Wait {
		args = append(args, "--wait")
	}
	r, err := m.barman(ctx, t, true, append(args, m.Server)...)
	if err != nil {
		return nil, err
	}
	if r.RC != 0 {
		return m.barmanFailed(res, "backup", r), nil
	}
	res.Changed = true
	if r.Simulated {
		res.Msg = "a backup would be taken"
		return res, nil
	}
	var info map[string]any
	if json.Unmarshal(r.Stdout, &info) == nil {
		res.Data["backup_id"], res.Data["status"] = info["backup_id"], info["status"]
		res.Msg = fmt.Sprintf("backup %v: %v", info["backup_id"], info["status"])
	}
	return res, nil
}

func (m *Barman) receiveWAL(ctx context.Context, t transport.Target, res *Result) (*Result, error) {
	if m.CreateSlot {
		checks, _, stop, err := m.runCheck(ctx, t, res)
		if stop != nil || err != nil {
			return stop, err
		}
		slot, ok := checks["replication slot"]
		switch {
		case !ok:
			return failed(res, "barman check %s shows no replication slot check: the server has no slot_name (or streaming_archiver is off)\n  hint: set slot_name and streaming_archiver = on in /etc/barman.d/%s.conf", m.Server, m.Server), nil
		case strings.Contains(slot.Detail, "doesn't exist"):
			r, err := m.barman(ctx, t, true, "receive-wal", "--create-slot", m.Server)
			if err != nil {
				return nil, err
			}
			out := string(r.Stdout) + string(r.Stderr)
			switch {
			case r.Simulated || strings.Contains(out, "created"):
				res.Changed = true
				res.Msg = "replication slot created"
			case strings.Contains(out, "already exists"):
			default:
				return m.barmanFailed(res, "receive-wal --create-slot", r), nil
			}
		}
		res.Data["slot"] = map[string]any{"ok": slot.OK, "detail": slot.Detail}
	}
	if m.Reset {
		r, err := m.barman(ctx, t, true, "receive-wal", "--reset", m.Server)
		if err != nil {
			return nil, err
		}
		if r.RC != 0 {
			return m.barmanFailed(res, "receive-wal --reset", r), nil
		}
		res.Changed = true
		res.Msg = strings.TrimSpace(res.Msg + "; receive-wal reset")
	}
	return res, nil
}

// checkStartedDir is what check_start registers as started: the
// directory its background barman check writes to.
var checkStartedDir = regexp.MustCompile(`^/tmp/pgplay-barman-check\.[A-Za-z0-9]+$`)

// checkStartScript starts "$@" (barman check, as the barman user) in the
// background, detached from the SSH session, writing its standard output,
// standard error and exit code into a new directory, and prints that
// directory. Directories of starts older than 10 minutes (a run that
// stopped before it read its answer) are removed first.
const checkStartScript = `find /tmp -maxdepth 1 -name 'pgplay-barman-check.*' -mmin +10 -exec rm -rf {} + 2>/dev/null
d=$(mktemp -d /tmp/pgplay-barman-check.XXXXXXXX) || exit 1
setsid /bin/sh -c 'd=$1; shift; cd /; "$@" >"$d/out" 2>"$d/err"; echo $? >"$d/rc.tmp"; mv "$d/rc.tmp" "$d/rc"' pgplay-barman-check "$d" "$@" </dev/null >/dev/null 2>&1 &
echo "$d"`

// checkWaitScript waits up to a minute for the background check in $1 to
// end, prints its exit code and its standard output (and its standard
// error on standard error), and removes its directory; it exits 3 when
// the check has not ended, 4 when the directory is gone. With $2 = stale
// it only removes the directory.
const checkWaitScript = `d=$1
if [ "$2" = stale ]; then rm -rf "$d"; exit 0; fi
[ -d "$d" ] || exit 4
i=0
while [ ! -e "$d/rc" ]; do
  i=$((i + 1)); [ $i -le 1200 ] || { rm -rf "$d"; exit 3; }
  sleep 0.05
done
cat "$d/rc" "$d/out"; cat "$d/err" >&2
rm -rf "$d"`

// checkStart starts barman check in the background (see
// checkStartScript) and registers its directory as started.
func (m *Barman) checkStart(ctx context.Context, t transport.Target, res *Result) (*Result, error) {
	argv := append([]string{"/bin/sh", "-c", checkStartScript, "pgplay-barman-check"}, asUserArgv(m.User, "barman", "check", m.Server)...)
	r, err := t.Query(ctx, transport.Cmd{Argv: argv, Dir: "/"})
	if err != nil {
		return nil, err
	}
	dir := strings.TrimSpace(string(r.Stdout))
	if r.RC != 0 || !checkStartedDir.MatchString(dir) {
		return failed(res, "could not start barman check in the background on %s (rc %d): %s", t.Host(), r.RC, strings.TrimSpace(string(r.Stderr))), nil
	}
	res.Data["started"] = dir
	res.Msg = "barman check runs in the background (" + dir + ")"
	return res, nil
}

// startedAnswer returns the answer of the check that check_start started
// (m.Started) as if barman check had run now; ok is false when there is
// none to use (no started, stale, or it did not end within a minute):
// then the caller runs barman check.
func (m *Barman) startedAnswer(ctx context.Context, t transport.Target) (transport.Result, bool, error) {
	if m.Started == "" {
		return transport.Result{}, false, nil
	}
	arg := ""
	if m.Stale {
		arg = "stale"
	}
	r, err := t.Query(ctx, transport.Cmd{Argv: []string{"/bin/sh", "-c", checkWaitScript, "pgplay-barman-check", m.Started, arg}, Dir: "/"})
	if err != nil || m.Stale || r.RC != 0 {
		return transport.Result{}, false, err
	}
	code, out, _ := strings.Cut(string(r.Stdout), "\n")
	rc, err := strconv.Atoi(strings.TrimSpace(code))
	if err != nil {
		return transport.Result{}, false, nil
	}
	return transport.Result{RC: rc, Stdout: []byte(out), Stderr: r.Stderr}, true, nil
}
