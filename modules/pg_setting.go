package modules

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "pg_setting",
		Returns: "name, state, value: the setting and its value after the task\nrestart_pending: the new value needs a restart of PostgreSQL",
		Purpose: "Set or reset a server setting with ALTER SYSTEM and reload; reports restart_pending.",
		Examples: []string{
			`- name: Wait for one of two synchronous standbys on commit
  pg_setting:
    name: synchronous_standby_names
    value: FIRST 1 (node2, node3)`,
			`- name: More shared memory (PostgreSQL must restart for it)
  pg_setting:
    name: shared_buffers
    value: 2GB
  register: sb
- name: Restart when PostgreSQL says it must
  service:
    name: postgresql@15-main
    state: restarted
  when: .sb.restart_pending`,
			`- name: Back to the configuration file's work_mem
  pg_setting:
    name: work_mem
    state: absent`,
		},
		New: func() Module { return &PGSetting{} },
	})
}

// PGSetting manages one setting in postgresql.auto.conf (ALTER SYSTEM SET
// or RESET, then pg_reload_conf()). A value already in effect is ok: it
// is compared with pg_settings (units converted: "1GB" equals 131072
// blocks of 8kB) and with what postgresql.auto.conf holds
// (pg_file_settings). A setting that needs a restart is written and
// reported with restart_pending: true; the restart is the playbook's
// decision.
type PGSetting struct {
	Name  string  `arg:"name,required" doc:"setting name, e.g. wal_keep_size"`
	Value *string `arg:"value" doc:"the wanted value as postgresql.conf takes it: 1GB, on, 'FIRST 1 (a, b)'; lists (search_path, shared_preload_libraries) comma-separated"`
	State string  `arg:"state" default:"present" choices:"present|absent" doc:"present: the value is set; absent: ALTER SYSTEM RESET (back to the files' or built-in value)"`
	PGConn
}

var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*$`)

// Validate checks the name and that value goes with state.
func (m *PGSetting) Validate() error {
	if err := m.PGConn.validate(); err != nil {
		return err
	}
	if !settingName.MatchString(m.Name) {
		return &ArgError{Arg: "name", Msg: fmt.Sprintf("%q is not a setting name", m.Name)}
	}
	switch {
	case m.State == "present" && m.Value == nil:
		return &ArgError{Arg: "value", Msg: "state: present needs \"value\"", Hint: "state: absent resets the setting"}
	case m.State == "absent" && m.Value != nil:
		return &ArgError{Arg: "value", Msg: "state: absent takes no \"value\""}
	case m.Value != nil:
		return checkSQLText("value", *m.Value)
	}
	return nil
}

// listSettings are PostgreSQL's GUC_LIST_QUOTE settings: their value is
// a list whose elements ALTER SYSTEM takes as separate literals.
var listSettings = map[string]bool{
	"search_path": true, "temp_tablespaces": true, "shared_preload_libraries": true,
	"local_preload_libraries": true, "session_preload_libraries": true, "unix_socket_directories": true,
}

// listItems splits a list setting's value: comma-separated, spaces
// trimmed, double quotes around an item removed.
func listItems(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
			p = strings.ReplaceAll(p[1:len(p)-1], `""`, `"`)
		}
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// settingRow is what the module reads about a setting.
type settingRow struct {
	known          bool
	setting        string // pg_settings.setting (base unit)
	unit, vartype  string
	context        string
	pendingRestart bool
	autoCount      int    // entries in postgresql.auto.conf
	autoValue      string // the last of them
}

func settingQuery(name string) string {
	lit := sqlLiteral(strings.ToLower(name))
	auto := "FROM pg_file_settings f WHERE f.name = n.name AND f.sourcefile LIKE '%/postgresql.auto.conf'"
	return "SELECT n.name, s.name IS NOT NULL AS known, coalesce(s.setting, '') AS setting, coalesce(s.unit, '') AS unit, " +
		"coalesce(s.vartype, '') AS vartype, coalesce(s.context, '') AS context, coalesce(s.pending_restart, false) AS pending_restart, " +
		"(SELECT count(*) " + auto + ") AS auto_count, " +
		"coalesce((SELECT f.setting " + auto + " ORDER BY f.seqno DESC LIMIT 1), '') AS auto_value " +
		"FROM (VALUES (" + lit + "::text)) AS n(name) LEFT JOIN pg_settings s ON s.name = n.name;\n"
}

func readSetting(ctx context.Context, t transport.Target, conn PGConn, name string) (settingRow, error) {
	rows, err := pgRows(ctx, t, conn, settingQuery(name))
	if err != nil {
		return settingRow{}, err
	}
	if len(rows) != 1 {
		return settingRow{}, fmt.Errorf("psql on %s: reading setting %s: %d rows", t.Host(), name, len(rows))
	}
	r := rows[0]
	n, _ := strconv.Atoi(r["auto_count"])
	return settingRow{known: pgBool(r["known"]), setting: r["setting"], unit: r["unit"], vartype: r["vartype"],
		context: r["context"], pendingRestart: pgBool(r["pending_restart"]), autoCount: n, autoValue: r["auto_value"]}, nil
}

// Run brings the setting to the wanted state.
func (m *PGSetting) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	name := strings.ToLower(m.Name)
	cur, err := readSetting(ctx, t, m.PGConn, name)
	if err != nil {
		return pgFailed(err)
	}
	res := &Result{Data: map[string]any{"name": name, "state": m.State, "value": cur.setting,
		"context": cur.context, "restart_pending": cur.pendingRestart}}
	if !cur.known && !strings.Contains(name, ".") {
		return failed(res, "PostgreSQL has no setting %q (see pg_settings)", m.Name), nil
	}
	var sql string
	if m.State == "absent" {
		if cur.autoCount == 0 {
			return res, nil
		}
		sql = "ALTER SYSTEM RESET " + settingIdent(name) + ";\nSELECT pg_reload_conf();\n"
		res.Msg = "setting reset"
	} else {
		want := *m.Value
		fileOK := cur.autoCount > 0 && sameSetting(name, cur.autoValue, want, "", "")
		liveOK := cur.known && sameSetting(name, cur.setting, want, cur.unit, cur.vartype)
		switch {
		case liveOK && (fileOK || cur.autoCount == 0):
			return res, nil
		case fileOK && cur.context == "postmaster":
			// Written before, waiting for a restart.
			res.Data["restart_pending"] = true
			res.Msg = "set, waiting for a restart"
			return res, nil
		case fileOK:
			sql = "SELECT pg_reload_conf();\n"
			res.Msg = "configuration reloaded"
		default:
			sql = "ALTER SYSTEM SET " + settingIdent(name) + " = " + settingValue(name, want) + ";\nSELECT pg_reload_conf();\n"
			res.Msg = "setting changed"
		}
	}
	r, err := pgExec(ctx, t, m.PGConn, sql)
	if err != nil {
		return pgFailed(err)
	}
	res.Changed = true
	res.Diffs = []Diff{settingDiff(name, cur, m)}
	if r.Simulated {
		res.Data["restart_pending"] = m.State == "present" && cur.context == "postmaster"
	} else {
		// pending_restart is updated by the reload; read it again.
		after, err := readSetting(ctx, t, m.PGConn, name)
		if err != nil {
			return pgFailed(err)
		}
		res.Data["value"], res.Data["restart_pending"] = after.setting, after.pendingRestart
	}
	if res.Data["restart_pending"] == true {
		res.Msg += "; PostgreSQL must be restarted for it to take effect"
	}
	return res, nil
}

// settingDiff shows, for --diff, the setting's value before (the one in
// postgresql.auto.conf when it has one, else the running value) and the
// wanted one (reset: the default).
func settingDiff(name string, cur settingRow, m *PGSetting) Diff {
	before := cur.setting
	switch {
	case cur.unit == "":
	case cur.unit[0] >= '0' && cur.unit[0] <= '9':
		before += " * " + cur.unit // shared_buffers: 16384 * 8kB
	default:
		before += cur.unit
	}
	if cur.autoCount > 0 {
		before = cur.autoValue
	}
	after := "(default)"
	if m.State != "absent" && m.Value != nil {
		after = *m.Value
	}
	return Diff{Path: "setting " + name, Before: name + " = " + before + "\n", After: name + " = " + after + "\n"}
}

// settingIdent quotes a setting name, part by part ("a.b" -> "a"."b").
func settingIdent(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = sqlIdent(p)
	}
	return strings.Join(parts, ".")
}

// settingValue is the SQL for a value: one literal, or one per item for
// a list setting.
func settingValue(name, v string) string {
	if !listSettings[name] {
		return sqlLiteral(v)
	}
	items := listItems(v)
	if len(items) == 0 {
		return "''"
	}
	for i, it := range items {
		items[i] = sqlLiteral(it)
	}
	return strings.Join(items, ", ")
}

// sameSetting says whether have (as pg_settings or pg_file_settings show
// it; unit and vartype from pg_settings, "" for a file value) means the
// value want.
func sameSetting(name, have, want, unit, vartype string) bool {
	if have == want {
		return true
	}
	if listSettings[name] {
		return strings.Join(listItems(have), ",") == strings.Join(listItems(want), ",")
	}
	hb, hok := settingBool(have)
	wb, wok := settingBool(want)
	if hok && wok && (vartype == "bool" || vartype == "") {
		return hb == wb
	}
	hn, hok := settingNumber(have, unit)
	wn, wok := settingNumber(want, unit)
	if hok && wok {
		if vartype == "integer" {
			return math.Round(hn) == math.Round(wn)
		}
		return math.Abs(hn-wn) <= 1e-9*math.Max(1, math.Abs(hn))
	}
	if vartype == "enum" || vartype == "bool" {
		return strings.EqualFold(strings.TrimSpace(have), strings.TrimSpace(want))
	}
	return false
}

// settingBool reads a boolean as PostgreSQL accepts it.
func settingBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "on", "true", "yes", "1", "t", "y":
		return true, true
	case "off", "false", "no", "0", "f", "n":
		return false, true
	}
	return false, false
}

var (
	numberUnit = regexp.MustCompile(`^\s*(-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*$`)
	// memoryUnits and timeUnits are PostgreSQL's units in bytes and
	// milliseconds (units are case-sensitive there too).
	memoryUnits = map[string]float64{"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
	timeUnits   = map[string]float64{"us": 0.001, "ms": 1, "s": 1000, "min": 60000, "h": 3600000, "d": 86400000}
)

// settingNumber reads a number with an optional unit and returns it in
// the setting's unit (pg_settings.unit such as "8kB", "MB", "ms", "s";
// "" for a plain number or a file value, which is then returned in
// bytes or milliseconds so that two file values compare).
func settingNumber(s, unit string) (float64, bool) {
	m := numberUnit.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	given := m[2]
	base, factor := unitOf(unit)
	if given == "" {
		if unit == "" {
			return n, true
		}
		return n, true // already in the setting's unit
	}
	if f, ok := memoryUnits[given]; ok && (base == "B" || base == "") {
		return n * f / factor, true
	}
	if f, ok := timeUnits[given]; ok && (base == "ms" || base == "") {
		return n * f / factor, true
	}
	return 0, false
}

// unitOf splits a pg_settings unit ("8kB", "16MB", "ms") into its kind
// ("B" or "ms") and its size in bytes or milliseconds; ("", 1) for none.
func unitOf(unit string) (string, float64) {
	if unit == "" {
		return "", 1
	}
	m := numberUnit.FindStringSubmatch(unit)
	mult := 1.0
	u := unit
	if m != nil && m[1] != "" && m[2] != "" {
		mult, _ = strconv.ParseFloat(m[1], 64)
		u = m[2]
	}
	if f, ok := memoryUnits[u]; ok {
		return "B", mult * f
	}
	if f, ok := timeUnits[u]; ok {
		return "ms", mult * f
	}
	return "", 1
}
