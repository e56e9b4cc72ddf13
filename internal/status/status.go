// Package status asks every node of a PostgreSQL HA cluster what it is
// (never trusting the inventory's pg_role): role, timeline, upstream, lag,
// sync state, who holds the VIP, keepalived's state and barman's backups.
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/tmpl"
	"github.com/pgplay/pgplay/internal/transport"
)

// Node is what one PostgreSQL node answered.
type Node struct {
	Name       string   `json:"name"`
	Addr       string   `json:"addr"`
	Reachable  bool     `json:"reachable"`
	Error      string   `json:"error,omitempty"`
	Role       string   `json:"role"` // primary, standby, stopped, unknown
	Timeline   int      `json:"timeline,omitempty"`
	Upstream   string   `json:"upstream,omitempty"`
	Streaming  bool     `json:"streaming"`
	LagBytes   *int64   `json:"lag_bytes,omitempty"`
	LagSeconds *float64 `json:"lag_seconds,omitempty"`
	SyncState  string   `json:"sync_state,omitempty"`
	SyncNames  string   `json:"synchronous_standby_names,omitempty"`
	HasVIP     bool     `json:"has_vip"`
	Keepalived string   `json:"keepalived"`           // systemd state: active, inactive...
	VRRPState  string   `json:"vrrp_state,omitempty"` // from the notify script's state file
	// Check is pgplay-check's last verdict (primary, standby, stale,
	// isolated, down, fenced, hold...), CheckDetail its explanation.
	Check       string `json:"check,omitempty"`
	CheckDetail string `json:"check_detail,omitempty"`
	// Fenced is true when the node's fence track file is set: keepalived
	// keeps it in FAULT until playbooks/rejoin.yaml clears it.
	Fenced      bool   `json:"fenced"`
	FenceReason string `json:"fence_reason,omitempty"`
	// StartConf is the cluster's start.conf: auto, manual or disabled.
	StartConf string `json:"start_conf,omitempty"`
	// SyncWaitSeconds is, on the primary, how long its oldest commit
	// waiting for a synchronous standby (wait_event SyncRep) has waited;
	// nil when none waits.
	SyncWaitSeconds *float64 `json:"sync_wait_seconds,omitempty"`
	// PromoteRefused is the reason the node's promote script recorded in
	// /run/pgplay/promote.refused when it refused to promote (it could not
	// prove it holds every acknowledged commit); empty when it did not.
	PromoteRefused string `json:"promote_refused,omitempty"`
	// Maintenance is the reason given with maintenance mode
	// (playbooks/maintenance.yaml -e maintenance=on), MaintenanceSince
	// when it began; empty when the mode is off on the node.
	Maintenance      string     `json:"maintenance,omitempty"`
	MaintenanceSince *time.Time `json:"maintenance_since,omitempty"`
	// SyncMembers is what pgplay-watch last wrote to /run/pgplay/sync on
	// the primary: the comma-separated standbys that may confirm commits.
	SyncMembers string    `json:"sync_members,omitempty"`
	Replicas    []Replica `json:"replicas,omitempty"`
}

// Replica is one row of a primary's pg_stat_replication.
type Replica struct {
	Name       string   `json:"name"`
	Addr       string   `json:"addr"`
	State      string   `json:"state"`
	SyncState  string   `json:"sync_state"`
	LagBytes   *int64   `json:"lag_bytes"`
	LagSeconds *float64 `json:"replay_lag_seconds"`
}

// Barman is what the backup host answered.
type Barman struct {
	Host       string `json:"host"`
	Reachable  bool   `json:"reachable"`
	Error      string `json:"error,omitempty"`
	LastBackup string `json:"last_backup,omitempty"`
	Backups    int    `json:"backups"`
	Check      string `json:"check,omitempty"` // barman check --nagios line
	CheckOK    bool   `json:"check_ok"`
}

// The levels of a Report, as a monitoring plugin's exit codes.
const (
	// LevelHealthy: every node in, each standby streaming from the
	// primary, the synchronous standby met, backups OK.
	LevelHealthy = 0
	// LevelDegraded: the cluster serves, but with less redundancy.
	LevelDegraded = 1
	// LevelDown: no writable primary behind the VIP, or a split: two
	// primaries, the VIP on none or two nodes or on a non-primary, or
	// writes hanging on a missing synchronous standby.
	LevelDown = 2
)

// Report is the cluster's state.
type Report struct {
	VIP     string    `json:"vip,omitempty"`
	Primary string    `json:"primary,omitempty"`
	Nodes   []*Node   `json:"nodes"`
	Barman  []*Barman `json:"barman,omitempty"`
	// Level is LevelHealthy, LevelDegraded or LevelDown; State names it:
	// "healthy", "degraded" or "down".
	Level int    `json:"level"`
	State string `json:"state"`
	// Problems are the reasons the cluster is down (level 2), Warnings
	// the reasons it is degraded (level 1); each is one line saying what
	// is wrong and what to do.
	Problems []string `json:"problems"`
	Warnings []string `json:"warnings"`
}

// Degraded says whether the cluster is less than healthy (Level > 0).
func (r *Report) Degraded() bool { return r.Level > LevelHealthy }

// Options say which hosts to ask and how to reach them.
type Options struct {
	Group       string // PostgreSQL nodes (default "postgres")
	BarmanGroup string // backup hosts (default "barman")
	Limit       string // optional host pattern
	Configure   func(*transport.Config)
	// Defaults are the cluster role's defaults (roles/cluster/defaults:
	// pg_version, pg_cluster, pg_bin_dir, pg_conf_dir, pg_socket_dir,
	// pg_port, pgplay_state_dir, pgplay_run_dir, barman_user), under each
	// host's inventory variables, as a playbook run sees them. Templates
	// among them are rendered per host.
	Defaults map[string]any
}

// nodeScript prints the facts of one node; argv: $1 pg_bin_dir, $2 VIP,
// $3 the SQL, $4 pg_conf_dir, $5 pg_socket_dir, $6 pg_port,
// $7 pgplay_state_dir, $8 pgplay_run_dir (nodeCmd). The files under the
// last two are written by the keepalived role's scripts.
const nodeScript = `bin="$1"; vip="$2"; state="$7"; run="$8"
echo "@vip"; if [ -n "$vip" ] && ip -4 -o addr show 2>/dev/null | grep -q " $vip/"; then echo yes; else echo no; fi
echo "@keepalived"; systemctl is-active keepalived 2>/dev/null || true
echo "@vrrp"; cat "$run"/vrrp_state 2>/dev/null || true
echo "@check"; cat "$run"/check/verdict 2>/dev/null || true
echo "@fence"; cat "$state"/fence 2>/dev/null || true
echo "@fencereason"; cat "$state"/fence.reason 2>/dev/null || true
echo "@promoterefused"; cat "$run"/promote.refused 2>/dev/null || true
echo "@maintenance"; cat "$state"/maintenance.on 2>/dev/null || true
echo "@sync"; cat "$run"/sync 2>/dev/null || true
echo "@startconf"; grep -v '^[[:space:]]*#' "$4"/start.conf 2>/dev/null || true
echo "@pg"
runuser -u postgres -- env PGCONNECT_TIMEOUT=3 PGOPTIONS='-c statement_timeout=5000' \
  "$bin"/psql -XAtq -h "$5" -p "$6" -d postgres -c "$3" 2>&1 || echo "@pgfail"
`

// nodeVarNames are the variables nodeCmd reads, in nodeScript's argv order
// (the VIP and the SQL in between).
var nodeVarNames = []string{"pg_bin_dir", "pg_conf_dir", "pg_socket_dir", "pg_port", "pgplay_state_dir", "pgplay_run_dir"}

// nodeCmd is the command status runs on host h: nodeScript with the
// cluster role's paths and port as the host's variables give them.
func nodeCmd(h *inventory.Host, defaults map[string]any, vip string) (transport.Cmd, error) {
	vals, err := hostValues(h, defaults, nodeVarNames...)
	if err != nil {
		return transport.Cmd{}, err
	}
	argv := []string{"/bin/sh", "-c", nodeScript, "sh", vals[0], vip, nodeSQL}
	argv = append(argv, vals[1:]...)
	return transport.Cmd{Argv: argv, Dir: "/"}, nil
}

// hostValues returns the values of names for host h: its inventory
// variables over defaults, templates rendered (with the variables they
// refer to) as a task on the host would see them.
func hostValues(h *inventory.Host, defaults map[string]any, names ...string) ([]string, error) {
	vars := make(map[string]any, len(defaults)+len(h.Vars)+2)
	maps.Copy(vars, defaults)
	maps.Copy(vars, h.Vars)
	vars["inventory_hostname"] = h.Name
	r := &resolver{eng: tmpl.New(), vars: vars, host: h.Name, busy: map[string]bool{}}
	out := make([]string, len(names))
	for i, n := range names {
		v, err := r.value(n)
		if err != nil {
			return nil, err
		}
		out[i] = fmt.Sprint(v)
	}
	return out, nil
}

// resolver renders template variables on demand, those they read first.
type resolver struct {
	eng  *tmpl.Engine
	vars map[string]any
	host string
	busy map[string]bool // being rendered: a loop is an error
}

func (r *resolver) value(name string) (any, error) {
	v, ok := r.vars[name]
	if !ok {
		return nil, fmt.Errorf("host %s: variable %s is not set (the cluster role's defaults set it; give it in the inventory)", r.host, name)
	}
	s, isStr := v.(string)
	if !isStr || !strings.Contains(s, "{{") {
		return v, nil
	}
	if r.busy[name] {
		return nil, fmt.Errorf("host %s: variable %s refers to itself", r.host, name)
	}
	r.busy[name] = true
	defer delete(r.busy, name)
	for _, ref := range r.eng.Refs(s, false) {
		if _, ok := r.vars[ref]; ok {
			if _, err := r.value(ref); err != nil {
				return nil, err
			}
		}
	}
	out, err := r.eng.RenderValue("host "+r.host+" variable "+name, s, r.vars)
	if err != nil {
		return nil, err
	}
	r.vars[name] = out
	return out, nil
}

// nodeSQL returns one JSON row describing the node, whichever its role.
const nodeSQL = `select json_build_object(
 'in_recovery', pg_is_in_recovery(),
 'timeline', case when pg_is_in_recovery() then (select received_tli from pg_stat_wal_receiver)
             else ('x'||substr(pg_walfile_name(pg_current_wal_lsn()),1,8))::bit(32)::int end,
 'upstream', (select sender_host from pg_stat_wal_receiver),
 'receiver', (select status from pg_stat_wal_receiver),
 'lag_bytes', case when pg_is_in_recovery() then pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) end,
 'lag_seconds', case when pg_is_in_recovery() then
     case when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
     else extract(epoch from now() - pg_last_xact_replay_timestamp()) end end,
 'sync_names', current_setting('synchronous_standby_names'),
 'sync_wait_seconds', (select extract(epoch from max(clock_timestamp() - state_change))
     from pg_stat_activity where wait_event = 'SyncRep'),
 'replicas', case when not pg_is_in_recovery() then (select coalesce(json_agg(json_build_object(
     'name', application_name, 'addr', host(client_addr), 'state', state, 'sync_state', sync_state,
     'lag_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn),
     'replay_lag', extract(epoch from replay_lag))), '[]'::json) from pg_stat_replication) end)`

type pgRow struct {
	InRecovery bool     `json:"in_recovery"`
	Timeline   *int     `json:"timeline"`
	Upstream   *string  `json:"upstream"`
	Receiver   *string  `json:"receiver"`
	LagBytes   *float64 `json:"lag_bytes"`
	LagSeconds *float64 `json:"lag_seconds"`
	SyncNames  string   `json:"sync_names"`
	SyncWait   *float64 `json:"sync_wait_seconds"`
	Replicas   []struct {
		Name      string   `json:"name"`
		Addr      *string  `json:"addr"`
		State     string   `json:"state"`
		SyncState string   `json:"sync_state"`
		LagBytes  *float64 `json:"lag_bytes"`
		ReplayLag *float64 `json:"replay_lag"`
	} `json:"replicas"`
}

// Collect asks every node (in parallel) and puts the answers together.
func Collect(ctx context.Context, inv *inventory.Inventory, pool *transport.Pool, opt Options) (*Report, error) {
	if opt.Group == "" {
		opt.Group = "postgres"
	}
	if opt.BarmanGroup == "" {
		opt.BarmanGroup = "barman"
	}
	hosts, err := inv.Select(opt.Group)
	if err != nil {
		return nil, fmt.Errorf("status: the inventory needs a %q group of PostgreSQL nodes: %w", opt.Group, err)
	}
	if opt.Limit != "" {
		lim, err := inv.Select(opt.Limit)
		if err != nil {
			return nil, fmt.Errorf("--limit: %w", err)
		}
		hosts = intersect(hosts, lim)
	}
	rep := &Report{Problems: []string{}, Warnings: []string{}}
	for _, h := range hosts {
		if v, ok := h.Vars["vip"]; ok && rep.VIP == "" {
			rep.VIP = fmt.Sprint(v)
		}
	}
	var wg sync.WaitGroup
	rep.Nodes = make([]*Node, len(hosts))
	for i, h := range hosts {
		wg.Add(1)
		go func(i int, h *inventory.Host) {
			defer wg.Done()
			rep.Nodes[i] = askNode(ctx, pool, h, rep.VIP, opt)
		}(i, h)
	}
	if bh, err := inv.Select(opt.BarmanGroup); err == nil {
		rep.Barman = make([]*Barman, len(bh))
		for i, h := range bh {
			wg.Add(1)
			go func(i int, h *inventory.Host) {
				defer wg.Done()
				rep.Barman[i] = askBarman(ctx, pool, h, opt)
			}(i, h)
		}
	}
	wg.Wait()
	rep.judge()
	return rep, nil
}

func intersect(a, b []*inventory.Host) []*inventory.Host {
	in := map[string]bool{}
	for _, h := range b {
		in[h.Name] = true
	}
	var out []*inventory.Host
	for _, h := range a {
		if in[h.Name] {
			out = append(out, h)
		}
	}
	return out
}

func target(ctx context.Context, pool *transport.Pool, h *inventory.Host, opt Options) (transport.Target, string, error) {
	cfg, err := transport.ConfigFromVars(h.Name, h.Vars)
	if err != nil {
		return nil, "", err
	}
	if opt.Configure != nil {
		opt.Configure(&cfg)
	}
	addr := cfg.Addr
	if addr == "" {
		addr = h.Name
	}
	become := ""
	if u := fmt.Sprint(h.Vars["ssh_user"]); u != "root" && !cfg.Local {
		become = "root"
	}
	t, err := pool.Target(ctx, cfg, become)
	return t, addr, err
}

func askNode(ctx context.Context, pool *transport.Pool, h *inventory.Host, vip string, opt Options) *Node {
	n := &Node{Name: h.Name, Role: "unknown"}
	t, addr, err := target(ctx, pool, h, opt)
	n.Addr = addr
	if err != nil {
		n.Error = err.Error()
		return n
	}
	cmd, err := nodeCmd(h, opt.Defaults, vip)
	if err != nil {
		n.Error = err.Error()
		return n
	}
	res, err := t.Query(ctx, cmd)
	if err != nil {
		n.Error = err.Error()
		return n
	}
	n.Reachable = true
	parseNode(n, string(res.Stdout))
	return n
}

// parseNode reads nodeScript's sections into n.
func parseNode(n *Node, out string) {
	sections := map[string]string{}
	cur := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "@") && !strings.Contains(line, " ") {
			cur = line[1:]
			sections[cur] += ""
			continue
		}
		if cur != "" && line != "" {
			sections[cur] += line + "\n"
		}
	}
	n.HasVIP = strings.TrimSpace(sections["vip"]) == "yes"
	n.Keepalived = strings.TrimSpace(sections["keepalived"])
	if n.Keepalived == "" {
		n.Keepalived = "unknown"
	}
	// pgplay-notify writes "STATE SINCE_EPOCH".
	if f := strings.Fields(sections["vrrp"]); len(f) > 0 {
		n.VRRPState = f[0]
	}
	// pgplay-check writes "VERDICT EPOCH DETAIL".
	if f := strings.SplitN(strings.TrimSpace(sections["check"]), " ", 3); f[0] != "" {
		n.Check = f[0]
		if len(f) == 3 {
			n.CheckDetail = f[2]
		}
	}
	if f := strings.Fields(sections["fence"]); len(f) > 0 && f[0] != "0" {
		n.Fenced = true
		// fence.reason is "EPOCH REASON"
		if r := strings.SplitN(strings.TrimSpace(sections["fencereason"]), " ", 2); len(r) == 2 {
			n.FenceReason = r[1]
		}
	}
	n.StartConf = strings.TrimSpace(sections["startconf"])
	// pgplay-promote writes "EPOCH REASON" when it refuses to promote.
	if line := strings.TrimSpace(sections["promoterefused"]); line != "" {
		n.PromoteRefused = dropEpoch(line)
		if n.PromoteRefused == "" {
			n.PromoteRefused = "no reason recorded"
		}
	}
	// roles/maintenance writes "EPOCH REASON".
	if line := strings.TrimSpace(sections["maintenance"]); line != "" {
		n.Maintenance = dropEpoch(line)
		if n.Maintenance == "" {
			n.Maintenance = "no reason given"
		}
		if first, _, _ := strings.Cut(line, " "); first != "" {
			if sec, err := strconv.ParseInt(first, 10, 64); err == nil {
				at := time.Unix(sec, 0).UTC()
				n.MaintenanceSince = &at
			}
		}
	}
	// pgplay-watch writes "EPOCH MEMBERS" on the primary.
	if line := strings.TrimSpace(sections["sync"]); line != "" {
		n.SyncMembers = dropEpoch(line)
	}
	pg := strings.TrimSpace(sections["pg"])
	if _, failed := sections["pgfail"]; failed || pg == "" {
		n.Role = "stopped"
		if pg != "" {
			n.Error = psqlError(pg)
		}
		return
	}
	var row pgRow
	if err := json.Unmarshal([]byte(lastLine(pg)), &row); err != nil {
		n.Error = "unexpected answer from psql: " + lastLine(pg)
		return
	}
	n.SyncNames = row.SyncNames
	n.SyncWaitSeconds = row.SyncWait
	if row.Timeline != nil {
		n.Timeline = *row.Timeline
	}
	if row.InRecovery {
		n.Role = "standby"
		if row.Upstream != nil {
			n.Upstream = *row.Upstream
		}
		n.Streaming = row.Receiver != nil && *row.Receiver == "streaming"
		if row.LagBytes != nil {
			b := int64(*row.LagBytes)
			n.LagBytes = &b
		}
		n.LagSeconds = row.LagSeconds
	} else {
		n.Role = "primary"
		for _, r := range row.Replicas {
			rp := Replica{Name: r.Name, State: r.State, SyncState: r.SyncState, LagSeconds: r.ReplayLag}
			if r.Addr != nil {
				rp.Addr = *r.Addr
			}
			if r.LagBytes != nil {
				b := int64(*r.LagBytes)
				rp.LagBytes = &b
			}
			n.Replicas = append(n.Replicas, rp)
		}
	}
}

// dropEpoch returns line without its leading Unix time ("EPOCH TEXT"),
// the shape of pgplay's state files; a line without one is kept whole.
func dropEpoch(line string) string {
	first, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	if _, err := strconv.ParseInt(first, 10, 64); err != nil {
		return strings.TrimSpace(line)
	}
	return strings.TrimSpace(rest)
}

// psqlError picks the line of psql's error output that says what went
// wrong ("psql: error: ..."), else its first line.
func psqlError(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		if strings.Contains(l, "error:") || strings.HasPrefix(l, "FATAL:") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(lines[0])
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func askBarman(ctx context.Context, pool *transport.Pool, h *inventory.Host, opt Options) *Barman {
	b := &Barman{Host: h.Name}
	t, _, err := target(ctx, pool, h, opt)
	if err != nil {
		b.Error = err.Error()
		return b
	}
	user, err := hostValues(h, opt.Defaults, "barman_user")
	if err != nil {
		b.Error = err.Error()
		return b
	}
	const script = `echo "@list"; runuser -u "$1" -- barman list-backups all 2>&1
echo "@check"; runuser -u "$1" -- barman check all --nagios 2>&1; true`
	res, err := t.Query(ctx, transport.Cmd{Argv: []string{"/bin/sh", "-c", script, "sh", user[0]}})
	if err != nil {
		b.Error = err.Error()
		return b
	}
	b.Reachable = true
	parseBarman(b, string(res.Stdout))
	return b
}

// parseBarman reads `barman list-backups all` (newest first per server:
// "SERVER ID - DATE - Size: ...") and `barman check all --nagios`.
func parseBarman(b *Barman, out string) {
	section := ""
	for _, line := range strings.Split(out, "\n") {
		switch line {
		case "@list", "@check":
			section = line[1:]
			continue
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		switch section {
		case "list":
			f := strings.Fields(line)
			if len(f) >= 2 && strings.Contains(line, " - ") {
				b.Backups++
				if b.LastBackup == "" {
					b.LastBackup = f[0] + " " + f[1]
					if parts := strings.Split(line, " - "); len(parts) > 1 {
						b.LastBackup += " (" + strings.TrimSpace(parts[1]) + ")"
					}
				}
			}
		case "check":
			if b.Check == "" {
				b.Check = line
				b.CheckOK = strings.HasPrefix(line, "BARMAN OK")
			}
		}
	}
}

func fmtLag(b *int64, s *float64) (string, string) {
	bs, ss := "-", "-"
	if b != nil {
		bs = strconv.FormatInt(*b, 10)
	}
	if s != nil {
		ss = strconv.FormatFloat(*s, 'f', 1, 64)
	}
	return bs, ss
}
