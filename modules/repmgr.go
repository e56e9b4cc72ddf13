package modules

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "repmgr",
		Returns: "action: what ran\nnode_id: this node's id (from its repmgr.conf)\nnodes, primary, ok: cluster_show: every node (id, name, role_now, available, ...), the available primary, whether repmgr saw no problem\nnode_status: cluster_show: this node's repmgr node status\nnode, data_directory, wal_receiver, cluster_state: what the action read or registered\nrc, stdout, stderr, rc_meaning: repmgr's exit code (and what it means), output\nrefused: the action was refused before repmgr ran (e.g. a rejoin that would lose data)\nunverified: true in check mode when repmgr.conf is only simulated",
		Purpose: "Register, clone, promote, follow and rejoin repmgr nodes; read the cluster's state.",
		Examples: []string{
			`- name: Clone this standby from the primary
  repmgr:
    action: standby_clone
    upstream_host: "{{ .pg_primary }}"
- name: Start it
  service:
    name: postgresql@15-main
    state: started
- name: Register it
  repmgr:
    action: standby_register`,
			`- name: Read repmgr's view of the cluster
  repmgr:
    action: cluster_show
  register: cluster
  check_mode: false`,
			`- name: Bring the failed former primary back as a standby (pg_rewind if needed)
  repmgr:
    action: node_rejoin
    upstream_host: "{{ .pg_primary }}"
    force_rewind: true`,
			`- name: Follow the new primary, node 2
  repmgr:
    action: standby_follow
    upstream_node_id: 2`,
		},
		New: func() Module { return &Repmgr{} },
	})
}

// Repmgr runs /usr/lib/postgresql/VERSION/bin/repmgr -f CONFIG as the
// postgres user (see asUserArgv). Each action first reads the state
// (repmgr.nodes, pg_is_in_recovery(), pg_ctl status, pg_controldata) and
// is ok, not changed, when it is already done; it refuses dangerous
// preconditions (cloning over a running server or over the registered
// primary, rejoining a running or uncleanly stopped server); and it runs
// repmgr's --dry-run before the real command. repmgr's exit code is
// reported with its meaning.
//
// In check mode the reads and the dry-run run; when the dry-run (or a
// read) fails only because an earlier task was not really performed
// (PostgreSQL not started yet...), the task is reported as a change that
// could not be verified rather than as a failure. Refusals always fail.
// When the config file itself is only written by an earlier task of the
// check run (transport.Simulated), repmgr, which reads it on the host, is
// not run at all: the reads that do not need it (psql) still run, and the
// action is reported as a change that could not be verified.
type Repmgr struct {
	Action         string `arg:"action,required" choices:"primary_register|standby_clone|standby_register|standby_promote|standby_follow|node_rejoin|cluster_show" doc:"what to do"`
	Version        string `arg:"version" default:"15" doc:"PostgreSQL major version (repmgr, psql, pg_ctl and pg_controldata from /usr/lib/postgresql/VERSION/bin)"`
	Config         string `arg:"config" aliases:"config_file|conf" default:"/etc/repmgr.conf" doc:"repmgr.conf of this node (node_id, conninfo, data_directory are read from it)"`
	UpstreamHost   string `arg:"upstream_host" doc:"standby_clone, node_rejoin: host of the node to clone from / rejoin to (the current primary)"`
	UpstreamUser   string `arg:"upstream_user" default:"repmgr" doc:"standby_clone, node_rejoin: user to connect as (password from ~postgres/.pgpass)"`
	UpstreamDB     string `arg:"upstream_db" default:"repmgr" doc:"standby_clone, node_rejoin: database to connect to"`
	UpstreamPort   int    `arg:"upstream_port" doc:"standby_clone, node_rejoin: port (default 5432)"`
	UpstreamNodeID int    `arg:"upstream_node_id" doc:"standby_follow: node id to follow (required); standby_register: upstream node id (optional)"`
	FastCheckpoint bool   `arg:"fast_checkpoint" default:"true" doc:"standby_clone: ask the upstream for an immediate checkpoint (without it a clone can wait minutes)"`
	ForceRewind    bool   `arg:"force_rewind" default:"false" doc:"node_rejoin: run pg_rewind when the timelines have diverged (discards the node's unreplicated transactions)"`
	Force          bool   `arg:"force" default:"false" doc:"standby_clone: delete an existing data directory (-F); primary_register, standby_register: overwrite an existing node record"`
}

// Validate checks the arguments each action needs.
func (m *Repmgr) Validate() error {
	if err := pgVersionArg("version", m.Version); err != nil {
		return err
	}
	if !path.IsAbs(m.Config) {
		return &ArgError{Arg: "config", Msg: fmt.Sprintf("config %q is not an absolute path", m.Config),
			Hint: "repmgr must be given an absolute config path, e.g. /etc/repmgr.conf"}
	}
	needsUpstream := m.Action == "standby_clone" || m.Action == "node_rejoin"
	switch {
	case needsUpstream && m.UpstreamHost == "":
		return &ArgError{Arg: "upstream_host", Msg: fmt.Sprintf("action %s needs \"upstream_host\" (the current primary)", m.Action)}
	case !needsUpstream && m.UpstreamHost != "":
		return &ArgError{Arg: "upstream_host", Msg: fmt.Sprintf("upstream_host is for standby_clone and node_rejoin, not %s", m.Action)}
	case m.Action == "standby_follow" && m.UpstreamNodeID <= 0:
		return &ArgError{Arg: "upstream_node_id", Msg: "action standby_follow needs \"upstream_node_id\" (the node id of the new primary)",
			Hint: "repmgr can guess the upstream, but pgplay always names it: find it with action: cluster_show"}
	case m.UpstreamNodeID != 0 && m.Action != "standby_follow" && m.Action != "standby_register":
		return &ArgError{Arg: "upstream_node_id", Msg: fmt.Sprintf("upstream_node_id is for standby_follow and standby_register, not %s", m.Action)}
	case m.ForceRewind && m.Action != "node_rejoin":
		return &ArgError{Arg: "force_rewind", Msg: "force_rewind is for node_rejoin"}
	case m.Force && m.Action != "standby_clone" && m.Action != "primary_register" && m.Action != "standby_register":
		return &ArgError{Arg: "force", Msg: fmt.Sprintf("force is for standby_clone, primary_register and standby_register, not %s", m.Action)}
	case m.UpstreamPort < 0 || m.UpstreamPort > 65535:
		return &ArgError{Arg: "upstream_port", Msg: fmt.Sprintf("%d is not a TCP port", m.UpstreamPort)}
	}
	for arg, v := range map[string]string{"upstream_host": m.UpstreamHost, "upstream_user": m.UpstreamUser, "upstream_db": m.UpstreamDB} {
		if strings.ContainsAny(v, "\x00\n") {
			return &ArgError{Arg: arg, Msg: fmt.Sprintf("%s holds a NUL or newline", arg)}
		}
	}
	return nil
}

// repmgrExitCodes are repmgr 5.3's exit codes (errcode.h).
var repmgrExitCodes = map[int]string{
	0:  "SUCCESS",
	1:  "ERR_BAD_CONFIG: bad configuration or refused precondition",
	2:  "ERR_BAD_RSYNC: rsync failed",
	3:  "ERR_BAD_PIDFILE: bad PID file",
	4:  "ERR_NO_RESTART: PostgreSQL could not be restarted",
	5:  "ERR_LOCAL_COMMAND: a local command failed",
	6:  "ERR_DB_CONN: could not connect to a database",
	7:  "ERR_DB_QUERY: a database query failed",
	8:  "ERR_PROMOTION_FAIL: promotion failed (or another node answers as primary)",
	9:  "ERR_MONITORING_TIMEOUT: monitoring timeout",
	10: "ERR_STR_OVERFLOW: string overflow",
	11: "ERR_FAILOVER_FAIL: failover failed",
	12: "ERR_BAD_SSH: SSH connection failed",
	13: "ERR_SYS_FAILURE: system failure",
	14: "ERR_BAD_BASEBACKUP: pg_basebackup failed",
	15: "ERR_INTERNAL: internal error",
	16: "ERR_MONITORING_FAIL: monitoring failed",
	17: "ERR_BAD_BACKUP_LABEL: bad backup label",
	18: "ERR_SWITCHOVER_FAIL: switchover failed",
	19: "ERR_BARMAN: barman error",
	20: "ERR_REGISTRATION_SYNC: the registration did not reach the standby in time",
	21: "ERR_OUT_OF_MEMORY: out of memory",
	22: "ERR_SWITCHOVER_INCOMPLETE: switchover incomplete",
	23: "ERR_FOLLOW_FAIL: follow failed (timelines may have forked: use node_rejoin)",
	24: "ERR_REJOIN_FAIL: rejoin failed",
	25: "ERR_NODE_STATUS: the node or cluster has issues",
	26: "ERR_REPMGRD_PAUSE: repmgrd pause failed",
	27: "ERR_REPMGRD_SERVICE: repmgrd service error",
}

// repmgrExitMeaning names an exit code.
func repmgrExitMeaning(rc int) string {
	if s, ok := repmgrExitCodes[rc]; ok {
		return s
	}
	return "unknown exit code"
}

// parseRepmgrConf reads repmgr.conf: key=value lines, values optionally
// single-quoted (a quote inside is doubled or backslash-escaped).
func parseRepmgrConf(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if strings.HasPrefix(v, "'") {
			var b strings.Builder
			for i := 1; i < len(v); i++ {
				c := v[i]
				if c == '\\' && i+1 < len(v) {
					i++
					b.WriteByte(v[i])
					continue
				}
				if c == '\'' {
					if i+1 < len(v) && v[i+1] == '\'' {
						b.WriteByte('\'')
						i++
						continue
					}
					break
				}
				b.WriteByte(c)
			}
			v = b.String()
		} else if i := strings.Index(v, "#"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		out[k] = v
	}
	return out
}

// parseConninfo reads a libpq key=value connection string.
func parseConninfo(s string) map[string]string {
	out := map[string]string{}
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		j := strings.IndexByte(s[i:], '=')
		if j < 0 {
			break
		}
		k := strings.TrimSpace(s[i : i+j])
		i += j + 1
		for i < len(s) && s[i] == ' ' {
			i++
		}
		var b strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			for i < len(s) && s[i] != '\'' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
				i++
			}
			i++
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
				i++
			}
		}
		out[k] = b.String()
	}
	return out
}

// conninfoQuote quotes a value for a libpq connection string.
func conninfoQuote(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t'\\") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// repmgrNode is a row of repmgr.nodes.
type repmgrNode struct {
	ID, UpstreamID int
	Active         bool
	Name, Type     string
	Conninfo       string
}

func (n repmgrNode) data() map[string]any {
	return map[string]any{"node_id": n.ID, "upstream_node_id": n.UpstreamID, "active": n.Active,
		"node_name": n.Name, "type": n.Type, "conninfo": n.Conninfo}
}

// repmgrCtx is what an action knows about the local node.
type repmgrCtx struct {
	t       transport.Target
	conf    map[string]string
	nodeID  int
	dataDir string
	local   PGConn // the local server, repmgr's database
	res     *Result
	// confSimulated: the config file is only written by an earlier task
	// of this check run, so repmgr (which reads it on the host) must not
	// run; unverified: a step was skipped for that reason.
	confSimulated, unverified bool
}

// bin is the path of a PostgreSQL program.
func (m *Repmgr) bin(name string) string {
	return path.Join("/usr/lib/postgresql", m.Version, "bin", name)
}

// refuse fails the task for a refused precondition.
func refuse(res *Result, format string, a ...any) *Result {
	res.Data["refused"] = true
	return failed(res, format, a...)
}

// Run performs the action.
func (m *Repmgr) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	res := &Result{Data: map[string]any{"action": m.Action}}
	raw, err := t.ReadFile(ctx, m.Config)
	if err != nil {
		return failed(res, "cannot read %s on %s: %v\n  hint: deploy repmgr.conf first (template module), readable by postgres", m.Config, t.Host(), err), nil
	}
	rc := &repmgrCtx{t: t, conf: parseRepmgrConf(string(raw)), res: res, confSimulated: transport.Simulated(t, m.Config)}
	for _, k := range []string{"node_id", "conninfo", "data_directory"} {
		if rc.conf[k] == "" {
			return failed(res, "%s on %s has no %s\n  hint: repmgr.conf needs node_id, node_name, conninfo and data_directory", m.Config, t.Host(), k), nil
		}
	}
	if rc.nodeID, err = strconv.Atoi(rc.conf["node_id"]); err != nil {
		return failed(res, "%s: node_id %q is not a number", m.Config, rc.conf["node_id"]), nil
	}
	rc.dataDir = rc.conf["data_directory"]
	ci := parseConninfo(rc.conf["conninfo"])
	rc.local = PGConn{DB: ci["dbname"], BinDir: m.bin("")}
	if rc.local.DB == "" {
		rc.local.DB = "repmgr"
	}
	if p, err := strconv.Atoi(ci["port"]); err == nil {
		rc.local.Port = p
	}
	res.Data["node_id"] = rc.nodeID

	var out *Result
	switch m.Action {
	case "primary_register":
		out, err = m.primaryRegister(ctx, rc)
	case "standby_clone":
		out, err = m.standbyClone(ctx, rc)
	case "standby_register":
		out, err = m.standbyRegister(ctx, rc)
	case "standby_promote":
		out, err = m.standbyPromote(ctx, rc)
	case "standby_follow":
		out, err = m.standbyFollow(ctx, rc)
	case "node_rejoin":
		out, err = m.nodeRejoin(ctx, rc)
	case "cluster_show":
		out, err = m.clusterShow(ctx, rc)
	default:
		return nil, fmt.Errorf("repmgr: unknown action %q", m.Action)
	}
	if rc.unverified && err == nil && out != nil && !out.Failed {
		out.Changed = true
		out.Data["unverified"] = true
		out.Msg = fmt.Sprintf("check mode: cannot verify with repmgr: %s is only written by an earlier task of this check run (repmgr would read the host's file); would be: %s", m.Config, out.Msg)
	}
	if transport.IsCheck(t) && m.Action != "cluster_show" {
		out, err = softenInCheckMode(out, err)
	}
	return out, err
}

// softenInCheckMode turns a failure that is not a refusal into "would
// change, unverified": in check mode earlier tasks were not performed, so
// a dry-run or a read may fail for that reason alone. Run applies it when
// its Target is a check-mode Target (the task's own check decision), not
// for a check_mode: false task of a --check run, whose failures are real.
func softenInCheckMode(res *Result, err error) (*Result, error) {
	if err != nil {
		var pe *PsqlError
		if !errors.As(err, &pe) {
			return res, err
		}
		return &Result{Changed: true, Msg: "check mode: could not verify: " + pe.Error()}, nil
	}
	if res != nil && res.Failed && res.Data["refused"] != true {
		res.Failed, res.Changed = false, true
		res.Msg = "check mode: could not verify (earlier changes were not made): " + res.Msg
	}
	return res, nil
}

// runRepmgr runs repmgr as postgres; change selects t.Change.
func (m *Repmgr) runRepmgr(ctx context.Context, rc *repmgrCtx, change bool, args ...string) (transport.Result, error) {
	argv := append([]string{m.bin("repmgr"), "-f", m.Config}, args...)
	cmd := asUserCmd("postgres", argv, nil, nil)
	if change {
		return rc.t.Change(ctx, cmd)
	}
	return rc.t.Query(ctx, cmd)
}

// step runs repmgr args with --dry-run first (when dryRun), then for
// real. It returns false with rc.res failed when a run fails. When the
// config file is simulated (check mode), the dry run is left out: it
// would read the host's file.
func (m *Repmgr) step(ctx context.Context, rc *repmgrCtx, dryRun bool, args ...string) (bool, transport.Result, error) {
	if dryRun && rc.confSimulated {
		rc.unverified = true
		dryRun = false
	}
	if dryRun {
		r, err := m.runRepmgr(ctx, rc, false, append(args, "--dry-run")...)
		if err != nil {
			return false, r, err
		}
		if r.RC != 0 {
			m.repmgrFailed(rc, append(args, "--dry-run"), r)
			return false, r, nil
		}
	}
	r, err := m.runRepmgr(ctx, rc, true, args...)
	if err != nil {
		return false, r, err
	}
	if r.RC != 0 && !r.Simulated {
		m.repmgrFailed(rc, args, r)
		return false, r, nil
	}
	rc.res.Changed = true
	rc.res.HasRC, rc.res.RC = true, r.RC
	rc.res.Stdout, rc.res.Stderr = string(r.Stdout), string(r.Stderr)
	return true, r, nil
}

// repmgrFailed fills rc.res with a failed repmgr run.
func (m *Repmgr) repmgrFailed(rc *repmgrCtx, args []string, r transport.Result) {
	res := rc.res
	res.HasRC, res.RC, res.Stdout, res.Stderr = true, r.RC, string(r.Stdout), string(r.Stderr)
	res.Data["rc_meaning"] = repmgrExitMeaning(r.RC)
	out := strings.TrimSpace(string(r.Stderr) + "\n" + string(r.Stdout))
	failed(res, "repmgr %s failed on %s: exit code %d (%s)\n%s", strings.Join(args, " "), rc.t.Host(), r.RC, repmgrExitMeaning(r.RC), lastLines(out, 12))
}

// nodes reads repmgr.nodes from conn; nil (no error) when the repmgr
// database or its schema does not exist yet.
func (m *Repmgr) nodes(ctx context.Context, t transport.Target, conn PGConn) ([]repmgrNode, error) {
	rows, err := pgRows(ctx, t, conn, "SELECT to_regclass('repmgr.nodes') IS NOT NULL AS ok;\n")
	if err != nil {
		var pe *PsqlError
		if errors.As(err, &pe) && strings.Contains(pe.Stderr, "does not exist") {
			return nil, nil
		}
		return nil, err
	}
	if len(rows) == 0 || !pgBool(rows[0]["ok"]) {
		return nil, nil
	}
	rows, err = pgRows(ctx, t, conn, nodesQuery)
	if err != nil {
		return nil, err
	}
	return parseNodes(rows), nil
}

// nodesQuery reads repmgr.nodes.
const nodesQuery = "SELECT node_id, coalesce(upstream_node_id::text, '') AS upstream_node_id, active, node_name, type, conninfo FROM repmgr.nodes ORDER BY node_id;\n"

// parseNodes reads nodesQuery's rows.
func parseNodes(rows []map[string]string) []repmgrNode {
	var out []repmgrNode
	for _, r := range rows {
		id, _ := strconv.Atoi(r["node_id"])
		up, _ := strconv.Atoi(r["upstream_node_id"])
		out = append(out, repmgrNode{ID: id, UpstreamID: up, Active: pgBool(r["active"]), Name: r["node_name"], Type: r["type"], Conninfo: r["conninfo"]})
	}
	return out
}

// localState reads, in one psql run on the local repmgr database,
// whether the server is in recovery and repmgr.nodes (nil when its
// schema does not exist yet): what recoveryState and nodes read in three
// runs. ok is false when that run failed (the server is down, the
// repmgr database does not exist yet...): the caller then asks as
// recoveryState and nodes do, for their answers and messages.
func (m *Repmgr) localState(ctx context.Context, rc *repmgrCtx) (inRecovery bool, ns []repmgrNode, ok bool, err error) {
	marker := randomMarker()
	script := "SELECT pg_is_in_recovery() AS recovery;\n" +
		"\\echo " + marker + " :ROW_COUNT\n" +
		"SELECT to_regclass('repmgr.nodes') IS NOT NULL AS pgplay_nodes_ok \\gset\n" +
		"\\if :pgplay_nodes_ok\n" +
		nodesQuery +
		"\\echo " + marker + " :ROW_COUNT\n" +
		"\\endif\n"
	res, err := psqlRun{Conn: rc.local, SQL: script, Sets: []string{"pgplay_nodes_ok"}}.run(ctx, rc.t)
	if err != nil {
		var pe *PsqlError
		if errors.As(err, &pe) {
			return false, nil, false, nil
		}
		return false, nil, false, err
	}
	sets, err := parseCSVSets(res.Stdout, marker)
	if err != nil || len(sets) == 0 || len(sets[0].Rows) != 1 {
		return false, nil, false, nil
	}
	rec := sets[0].rowMaps()[0]["recovery"]
	if len(sets) > 1 {
		ns = parseNodes(sets[1].rowMaps())
	}
	return pgBool(rec), ns, true, nil
}

func findNode(ns []repmgrNode, id int) (repmgrNode, bool) {
	for _, n := range ns {
		if n.ID == id {
			return n, true
		}
	}
	return repmgrNode{}, false
}

// pgState is what pg_ctl status and pg_controldata say about a data
// directory (or the server running from it).
type pgState struct {
	Running     bool
	HasData     bool   // pg_controldata could read it
	State       string // "shut down", "in production", "in archive recovery"...
	SystemID    string
	StandbyFile bool
	// Streams is the host and port a running standby's WAL receiver
	// streams from ("" when it does not stream, or is not running).
	Streams string
}

// parseControlData reads pg_controldata's "Key: value" lines.
func parseControlData(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

func (m *Repmgr) dataState(ctx context.Context, rc *repmgrCtx) (pgState, error) {
	var s pgState
	// A server that answers from this data directory runs, and its
	// pg_control_system() is what pg_controldata would read: one query
	// (in the kept psql session) instead of two programs.
	rows, err := pgRows(ctx, rc.t, rc.local,
		"SELECT system_identifier::text AS sysid, pg_is_in_recovery() AS recovery, current_setting('data_directory') AS data, "+
			"coalesce((SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'), '') AS streams FROM pg_control_system();\n")
	if err == nil && len(rows) == 1 && rows[0]["data"] == rc.dataDir {
		s.Running, s.HasData, s.SystemID, s.Streams = true, true, rows[0]["sysid"], rows[0]["streams"]
		s.State = "in production"
		if pgBool(rows[0]["recovery"]) {
			s.State = "in archive recovery"
		}
		st, err := rc.t.Stat(ctx, path.Join(rc.dataDir, "standby.signal"))
		if err != nil {
			return s, err
		}
		s.StandbyFile = st.Exists
		return s, nil
	}
	r, err := rc.t.Query(ctx, asUserCmd("postgres", []string{m.bin("pg_ctl"), "status", "-D", rc.dataDir}, nil, nil))
	if err != nil {
		return s, err
	}
	s.Running = r.RC == 0
	r, err = rc.t.Query(ctx, asUserCmd("postgres", []string{m.bin("pg_controldata"), "-D", rc.dataDir}, nil, map[string]string{"LC_ALL": "C"}))
	if err != nil {
		return s, err
	}
	if r.RC == 0 {
		cd := parseControlData(string(r.Stdout))
		s.HasData = true
		s.State = cd["Database cluster state"]
		s.SystemID = cd["Database system identifier"]
	} else {
		st, err := rc.t.Stat(ctx, path.Join(rc.dataDir, "PG_VERSION"))
		if err != nil {
			return s, err
		}
		s.HasData = st.Exists
	}
	st, err := rc.t.Stat(ctx, path.Join(rc.dataDir, "standby.signal"))
	if err != nil {
		return s, err
	}
	s.StandbyFile = st.Exists
	return s, nil
}

// recovery asks the local server whether it is a standby (and whether
// replay is paused).
func recoveryState(ctx context.Context, t transport.Target, conn PGConn) (inRecovery, paused bool, err error) {
	conn.DB = "postgres"
	rows, err := pgRows(ctx, t, conn, "SELECT pg_is_in_recovery() AS recovery, CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused;\n")
	if err != nil {
		return false, false, err
	}
	if len(rows) != 1 {
		return false, false, fmt.Errorf("psql on %s: pg_is_in_recovery() returned %d rows", t.Host(), len(rows))
	}
	return pgBool(rows[0]["recovery"]), pgBool(rows[0]["paused"]), nil
}

// walReceiver returns the local standby's WAL receiver status and sender
// host ("" when it has none).
func walReceiver(ctx context.Context, t transport.Target, conn PGConn) (status, host string, err error) {
	conn.DB = "postgres"
	rows, err := pgRows(ctx, t, conn, "SELECT status, coalesce(sender_host, '') AS sender_host FROM pg_stat_wal_receiver;\n")
	if err != nil || len(rows) == 0 {
		return "", "", err
	}
	return rows[0]["status"], rows[0]["sender_host"], nil
}

// notRunning is the failed result for a local server that must run.
func notRunning(rc *repmgrCtx, err error) (*Result, error) {
	var pe *PsqlError
	if errors.As(err, &pe) {
		return failed(rc.res, "cannot query the local PostgreSQL on %s: %v\n  hint: start it first (service: postgresql@VERSION-main state: started)", rc.t.Host(), err), nil
	}
	return nil, err
}

// nodesAs checks that the local server runs, as a standby or as a
// primary (else the action is refused with refusal), and reads
// repmgr.nodes: in one psql run (localState), else as recoveryState and
// nodes do. A non-nil Result or error ends the action.
func (m *Repmgr) nodesAs(ctx context.Context, rc *repmgrCtx, standby bool, refusal string) ([]repmgrNode, *Result, error) {
	rec, ns, ok, err := m.localState(ctx, rc)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		if rec != standby {
			return nil, refuse(rc.res, "%s", refusal), nil
		}
		return ns, nil, nil
	}
	rec, _, err = recoveryState(ctx, rc.t, rc.local)
	if err != nil {
		res, err := notRunning(rc, err)
		return nil, res, err
	}
	if rec != standby {
		return nil, refuse(rc.res, "%s", refusal), nil
	}
	ns, err = m.nodes(ctx, rc.t, rc.local)
	if err != nil {
		res, err := pgFailed(err)
		return nil, res, err
	}
	return ns, nil, nil
}

func (m *Repmgr) primaryRegister(ctx context.Context, rc *repmgrCtx) (*Result, error) {
	ns, stop, err := m.nodesAs(ctx, rc, false, fmt.Sprintf("node %d (%s) is running as a standby; only a primary can be registered with primary_register", rc.nodeID, rc.t.Host()))
	if stop != nil || err != nil {
		return stop, err
	}
	if n, ok := findNode(ns, rc.nodeID); ok {
		rc.res.Data["node"] = n.data()
		switch {
		case n.Type == "primary" && n.Active:
			rc.res.Msg = "already registered as primary"
			return rc.res, nil
		case !m.Force:
			return refuse(rc.res, "node %d is registered as an %s %s; force: true re-registers it as the primary", rc.nodeID, activeWord(n.Active), n.Type), nil
		}
	}
	args := []string{"primary", "register"}
	if m.Force {
		args = append(args, "-F")
	}
	if _, _, err := m.step(ctx, rc, true, args...); err != nil {
		return nil, err
	}
	if !rc.res.Failed {
		rc.res.Msg = "registered as primary"
	}
	return rc.res, nil
}

func activeWord(a bool) string {
	if a {
		return "active"
	}
	return "inactive"
}

// upstream returns the connection string of the upstream and its
// connection for psql.
func (m *Repmgr) upstream() (string, PGConn) {
	parts := []string{"host=" + conninfoQuote(m.UpstreamHost), "user=" + conninfoQuote(m.UpstreamUser), "dbname=" + conninfoQuote(m.UpstreamDB)}
	if m.UpstreamPort != 0 {
		parts = append(parts, "port="+strconv.Itoa(m.UpstreamPort))
	}
	ci := strings.Join(parts, " ")
	return ci, PGConn{DB: ci + " connect_timeout=10", BinDir: m.bin("")}
}

func (m *Repmgr) standbyClone(ctx context.Context, rc *repmgrCtx) (*Result, error) {
	st, err := m.dataState(ctx, rc)
	if err != nil {
		return nil, err
	}
	rc.res.Data["data_directory"] = rc.dataDir
	// A standby that streams from the upstream holds a standby of it: the
	// replication connection compared the system identifiers
	// (IDENTIFY_SYSTEM). The upstream need not be asked then.
	port := m.UpstreamPort
	if port == 0 {
		port = 5432
	}
	if st.StandbyFile && st.Streams == fmt.Sprintf("%s:%d", m.UpstreamHost, port) {
		rc.res.Data["upstream_system_identifier"] = st.SystemID
		rc.res.Msg = fmt.Sprintf("%s already holds a standby of %s (it streams from it, system identifier %s)", rc.dataDir, m.UpstreamHost, st.SystemID)
		return rc.res, nil
	}
	_, up := m.upstream()
	rows, err := pgRows(ctx, rc.t, up, "SELECT system_identifier::text AS sysid, pg_is_in_recovery() AS recovery FROM pg_control_system();\n")
	if err != nil {
		var pe *PsqlError
		if errors.As(err, &pe) {
			return failed(rc.res, "cannot connect to the upstream %s as %s (database %s) from %s: %v\n  hint: check that it runs, pg_hba.conf allows this host, and ~postgres/.pgpass holds the password",
				m.UpstreamHost, m.UpstreamUser, m.UpstreamDB, rc.t.Host(), err), nil
		}
		return nil, err
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("psql on %s: reading the upstream's system identifier: %d rows", rc.t.Host(), len(rows))
	}
	upID := rows[0]["sysid"]
	rc.res.Data["upstream_system_identifier"] = upID
	if st.HasData && st.SystemID == upID && st.StandbyFile {
		rc.res.Msg = fmt.Sprintf("%s already holds a standby of %s (system identifier %s)", rc.dataDir, m.UpstreamHost, upID)
		return rc.res, nil
	}
	if st.Running {
		return refuse(rc.res, "PostgreSQL is running in %s on %s; standby_clone never clones over a running server\n  hint: if this node really must be re-cloned, stop it first (service: postgresql@%s-main state: stopped) and give force: true",
			rc.dataDir, rc.t.Host(), m.Version), nil
	}
	ns, err := m.nodes(ctx, rc.t, up)
	if err != nil {
		return pgFailed(err)
	}
	if n, ok := findNode(ns, rc.nodeID); ok && n.Type == "primary" && n.Active {
		return refuse(rc.res, "node %d (%s) is registered as the active primary in repmgr.nodes on %s; cloning would destroy the primary's data\n  hint: check node_id in %s; a failed former primary comes back with node_rejoin, or is re-cloned after the new primary is promoted",
			rc.nodeID, n.Name, m.UpstreamHost, m.Config), nil
	}
	args := []string{"-h", m.UpstreamHost, "-U", m.UpstreamUser, "-d", m.UpstreamDB}
	if m.UpstreamPort != 0 {
		args = append(args, "-p", strconv.Itoa(m.UpstreamPort))
	}
	args = append(args, "standby", "clone")
	if m.FastCheckpoint {
		args = append(args, "--fast-checkpoint")
	}
	if st.HasData {
		if !m.Force {
			what := "a PostgreSQL data directory"
			if st.SystemID != "" {
				what = fmt.Sprintf("a PostgreSQL cluster with system identifier %s (the upstream's is %s)", st.SystemID, upID)
			}
			return refuse(rc.res, "%s on %s already holds %s; standby_clone deletes it only with force: true", rc.dataDir, rc.t.Host(), what), nil
		}
		args = append(args, "-F")
	}
	if _, _, err := m.step(ctx, rc, true, args...); err != nil {
		return nil, err
	}
	if !rc.res.Failed {
		rc.res.Msg = "cloned from " + m.UpstreamHost
	}
	return rc.res, nil
}

func (m *Repmgr) standbyRegister(ctx context.Context, rc *repmgrCtx) (*Result, error) {
	ns, stop, err := m.nodesAs(ctx, rc, true, fmt.Sprintf("node %d (%s) is not running as a standby; standby_register registers a running standby\n  hint: clone it first (action: standby_clone) and start it", rc.nodeID, rc.t.Host()))
	if stop != nil || err != nil {
		return stop, err
	}
	if n, ok := findNode(ns, rc.nodeID); ok {
		rc.res.Data["node"] = n.data()
		switch {
		case n.Type == "standby" && n.Active && (m.UpstreamNodeID == 0 || n.UpstreamID == m.UpstreamNodeID):
			rc.res.Msg = "already registered as standby"
			return rc.res, nil
		case !m.Force:
			return refuse(rc.res, "node %d is registered as an %s %s (upstream %d); force: true overwrites the record", rc.nodeID, activeWord(n.Active), n.Type, n.UpstreamID), nil
		}
	}
	args := []string{"standby", "register"}
	if m.UpstreamNodeID != 0 {
		args = append(args, "--upstream-node-id="+strconv.Itoa(m.UpstreamNodeID))
	}
	if m.Force {
		args = append(args, "-F")
	}
	if _, _, err := m.step(ctx, rc, true, args...); err != nil {
		return nil, err
	}
	if !rc.res.Failed {
		rc.res.Msg = "registered as standby"
	}
	return rc.res, nil
}

func (m *Repmgr) standbyPromote(ctx context.Context, rc *repmgrCtx) (*Result, error) {
	rec, paused, err := recoveryState(ctx, rc.t, rc.local)
	if err != nil {
		return notRunning(rc, err)
	}
	if !rec {
		rc.res.Msg = "already a primary"
		return rc.res, nil
	}
	if paused {
		return refuse(rc.res, "WAL replay is paused on %s; a paused standby may be behind: resume it (SELECT pg_wal_replay_resume()) and check its lag before promoting", rc.t.Host()), nil
	}
	ok, r, err := m.step(ctx, rc, true, "standby", "promote")
	if err != nil || !ok {
		return rc.res, err
	}
	if !r.Simulated {
		// PG15: without a checkpoint on the new primary a later
		// node rejoin --force-rewind of the old one can produce a
		// standby that will not start (LAB.md).
		conn := rc.local
		conn.DB = "postgres"
		if _, err := pgExec(ctx, rc.t, conn, "CHECKPOINT;\n"); err != nil {
			var pe *PsqlError
			if !errors.As(err, &pe) {
				return nil, err
			}
			return failed(rc.res, "promoted, but the CHECKPOINT after promotion failed (run it before any node rejoin --force-rewind): %v", pe), nil
		}
	}
	rc.res.Msg = "promoted to primary"
	return rc.res, nil
}

func (m *Repmgr) standbyFollow(ctx context.Context, rc *repmgrCtx) (*Result, error) {
	ns, stop, err := m.nodesAs(ctx, rc, true, fmt.Sprintf("node %d (%s) is not a standby; a former primary comes back with node_rejoin", rc.nodeID, rc.t.Host()))
	if stop != nil || err != nil {
		return stop, err
	}
	target, ok := findNode(ns, m.UpstreamNodeID)
	if !ok && ns != nil {
		return refuse(rc.res, "node %d is not in repmgr.nodes; see action: cluster_show for the node ids", m.UpstreamNodeID), nil
	}
	if ok {
		status, sender, err := walReceiver(ctx, rc.t, rc.local)
		if err != nil {
			return pgFailed(err)
		}
		rc.res.Data["wal_receiver"] = map[string]any{"status": status, "sender_host": sender}
		if status == "streaming" && sender != "" && sender == parseConninfo(target.Conninfo)["host"] {
			rc.res.Msg = fmt.Sprintf("already following node %d (%s)", target.ID, target.Name)
			return rc.res, nil
		}
	}
	if _, _, err := m.step(ctx, rc, true, "standby", "follow", "--upstream-node-id="+strconv.Itoa(m.UpstreamNodeID)); err != nil {
		return nil, err
	}
	if !rc.res.Failed {
		rc.res.Msg = fmt.Sprintf("following node %d", m.UpstreamNodeID)
	} else if rc.res.RC == 23 {
		rc.res.Msg += "\n  hint: the timelines forked: stop the node cleanly and use action: node_rejoin with force_rewind: true, or re-clone it"
	}
	return rc.res, nil
}

func (m *Repmgr) nodeRejoin(ctx context.Context, rc *repmgrCtx) (*Result, error) {
	st, err := m.dataState(ctx, rc)
	if err != nil {
		return nil, err
	}
	rc.res.Data["data_directory"] = rc.dataDir
	if st.Running {
		rec, _, err := recoveryState(ctx, rc.t, rc.local)
		if err != nil {
			return notRunning(rc, err)
		}
		if rec {
			status, sender, err := walReceiver(ctx, rc.t, rc.local)
			if err != nil {
				return pgFailed(err)
			}
			hosts := []string{m.UpstreamHost}
			if ns, err := m.nodes(ctx, rc.t, rc.local); err == nil {
				for _, n := range ns {
					if n.Type == "primary" && n.Active {
						hosts = append(hosts, parseConninfo(n.Conninfo)["host"])
					}
				}
			}
			if status == "streaming" && containsStr(hosts, sender) {
				rc.res.Msg = "already a standby streaming from " + sender
				return rc.res, nil
			}
		}
		return refuse(rc.res, "PostgreSQL is running on %s; node rejoin needs it stopped cleanly\n  hint: stop it first (service: postgresql@%s-main state: stopped)", rc.t.Host(), m.Version), nil
	}
	if !st.HasData {
		return refuse(rc.res, "%s on %s holds no PostgreSQL cluster; clone it instead (action: standby_clone)", rc.dataDir, rc.t.Host()), nil
	}
	rc.res.Data["cluster_state"] = st.State
	if st.State != "shut down" && st.State != "shut down in recovery" {
		return refuse(rc.res, "the cluster in %s on %s was not shut down cleanly (pg_controldata: %q); pg_rewind cannot work from it on Debian\n  hint: start it and stop it cleanly (service state: started, then stopped; keep its clients and keepalived away meanwhile), then rejoin",
			rc.dataDir, rc.t.Host(), st.State), nil
	}
	ci, _ := m.upstream()
	args := []string{"node", "rejoin", "-d", ci}
	if m.ForceRewind {
		args = append(args, "--force-rewind")
	}
	if _, _, err := m.step(ctx, rc, true, args...); err != nil {
		return nil, err
	}
	if !rc.res.Failed {
		rc.res.Msg = "rejoined " + m.UpstreamHost + " as a standby"
	}
	return rc.res, nil
}

func (m *Repmgr) clusterShow(ctx context.Context, rc *repmgrCtx) (*Result, error) {
	res := rc.res
	if rc.confSimulated {
		res.Data["nodes"], res.Data["primary"], res.Data["ok"], res.Data["unverified"] = []any{}, "", false, true
		res.Msg = fmt.Sprintf("check mode: cannot show the cluster: %s is only written by an earlier task of this check run (repmgr would read the host's file)", m.Config)
		return res, nil
	}
	csv, err := m.runRepmgr(ctx, rc, false, "cluster", "show", "--csv")
	if err != nil {
		return nil, err
	}
	if csv.RC != 0 && csv.RC != 25 {
		m.repmgrFailed(rc, []string{"cluster", "show", "--csv"}, csv)
		return res, nil
	}
	table, err := m.runRepmgr(ctx, rc, false, "cluster", "show")
	if err != nil {
		return nil, err
	}
	// This node's own view (role, upstream, lag, slots).
	st, err := m.runRepmgr(ctx, rc, false, "node", "status", "--csv")
	if err != nil {
		return nil, err
	}
	if st.RC == 0 || st.RC == 25 {
		res.Data["node_status"] = parseNodeStatusCSV(string(st.Stdout))
	}
	nodes := parseClusterShowCSV(string(csv.Stdout))
	rows := parseClusterShowTable(string(table.Stdout))
	ids := make([]int, 0, len(nodes))
	for id := range nodes {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	list := make([]any, 0, len(ids))
	primary := ""
	for _, id := range ids {
		n := nodes[id]
		if r, ok := rows[id]; ok {
			for k, v := range r {
				n[k] = v
			}
		}
		if n["available"] == true && n["role_now"] == "primary" {
			if name, ok := n["name"].(string); ok {
				primary = name
			}
		}
		list = append(list, n)
	}
	res.Data["nodes"] = list
	res.Data["primary"] = primary
	res.Data["ok"] = csv.RC == 0
	res.HasRC, res.RC, res.Stdout, res.Stderr = true, csv.RC, string(table.Stdout), string(table.Stderr)
	if csv.RC != 0 {
		res.Data["rc_meaning"] = repmgrExitMeaning(csv.RC)
		res.Msg = "repmgr reports issues: " + strings.TrimSpace(lastLines(string(table.Stderr), 8))
	}
	return res, nil
}

// parseClusterShowCSV reads `cluster show --csv`: "id,available,recovery"
// lines where available is 0 (up) or -1, and recovery 0 (primary),
// 1 (standby) or -1 (unknown).
func parseClusterShowCSV(out string) map[int]map[string]any {
	nodes := map[int]map[string]any{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) != 3 {
			continue
		}
		id, err1 := strconv.Atoi(f[0])
		av, err2 := strconv.Atoi(f[1])
		rec, err3 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		role := "unknown"
		switch rec {
		case 0:
			role = "primary"
		case 1:
			role = "standby"
		}
		nodes[id] = map[string]any{"id": id, "available": av == 0, "role_now": role}
	}
	return nodes
}

// parseClusterShowTable reads the text table of `cluster show`: a header
// row, a ruler, and rows of "|"-separated cells; keys are the header
// names in lower case with "_" for spaces ("connection_string").
func parseClusterShowTable(out string) map[int]map[string]any {
	rows := map[int]map[string]any{}
	var header []string
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "|") {
			continue
		}
		cells := strings.Split(line, "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if header == nil {
			for _, c := range cells {
				header = append(header, strings.ReplaceAll(strings.ToLower(c), " ", "_"))
			}
			continue
		}
		if strings.Trim(line, "-+ ") == "" {
			continue
		}
		id, err := strconv.Atoi(cells[0])
		if err != nil {
			continue
		}
		r := map[string]any{}
		for i, c := range cells {
			if i == 0 || i >= len(header) {
				continue
			}
			r[header[i]] = c
		}
		rows[id] = r
	}
	return rows
}

// parseNodeStatusCSV reads `node status --csv`: "key","value" lines
// (repmgr does not escape quotes inside values, so a value is whatever
// lies between the first "," and the final quote), and raw lines such as
// "inactive_replication_slots",2,"slot_a","slot_b" (a number, then
// names, kept as KEY_names).
func parseNodeStatusCSV(out string) map[string]any {
	m := map[string]any{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, `"`) {
			continue
		}
		key, rest, ok := strings.Cut(line[1:], `",`)
		if !ok {
			continue
		}
		if strings.HasPrefix(rest, `"`) {
			m[key] = strings.TrimSuffix(rest[1:], `"`)
			continue
		}
		parts := strings.Split(rest, ",")
		n, err := strconv.Atoi(parts[0])
		if err != nil {
			m[key] = rest
			continue
		}
		m[key] = n
		if len(parts) > 1 {
			names := make([]any, 0, len(parts)-1)
			for _, p := range parts[1:] {
				names = append(names, strings.Trim(p, `"`))
			}
			m[key+"_names"] = names
		}
	}
	return m
}
