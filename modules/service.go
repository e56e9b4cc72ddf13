package modules

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "service",
		Returns: "name: the unit\nstate: its state after the task (started, stopped, ...)\nstatus.LoadState, status.ActiveState, status.SubState, status.UnitFileState: systemd's view\nunverified: true in check mode when the unit file is only simulated",
		Purpose: "Start, stop, restart or reload a systemd unit; enable, disable, mask it.",
		Examples: []string{
			`- name: PostgreSQL runs and starts at boot
  service:
    name: postgresql@15-main
    state: started
    enabled: true`,
			`- name: Reload PostgreSQL (after a pg_hba.conf change)
  service:
    name: postgresql@15-main
    state: reloaded`,
			`- name: Restart keepalived after its unit file changed
  service:
    name: keepalived
    state: restarted
    daemon_reload: true`,
			`- name: repmgrd stays off (failover is keepalived's)
  service:
    name: repmgrd
    state: stopped
    masked: true`,
		},
		New: func() Module { return &Service{} },
	})
}

// Service drives systemd with systemctl. It reads the unit's state first
// (systemctl show) and acts only where it differs, except restarted and
// reloaded, which always act. Hosts without systemd are refused with a
// clear message rather than guessed at.
type Service struct {
	Name         string `arg:"name,required" aliases:"unit|service" doc:"unit name (\".service\" may be left out)"`
	State        string `arg:"state" choices:"started|stopped|restarted|reloaded" doc:"started/stopped: only when it is not so already; restarted/reloaded: always (reloaded starts a stopped unit)"`
	Enabled      *bool  `arg:"enabled" doc:"start at boot (systemctl enable/disable)"`
	Masked       *bool  `arg:"masked" doc:"mask the unit so nothing can start it (or unmask)"`
	DaemonReload bool   `arg:"daemon_reload" default:"false" doc:"run systemctl daemon-reload first (after a unit file changed); not counted as a change"`
}

// Validate checks that there is something to do.
func (m *Service) Validate() error {
	if m.State == "" && m.Enabled == nil && m.Masked == nil && !m.DaemonReload {
		return &ArgError{Arg: "state", Msg: "give at least one of state, enabled, masked, daemon_reload"}
	}
	if strings.HasPrefix(m.Name, "-") || strings.ContainsAny(m.Name, " \t\n/") {
		return &ArgError{Arg: "name", Msg: fmt.Sprintf("%q is not a unit name", m.Name)}
	}
	if m.Masked != nil && *m.Masked && (m.State == "started" || m.State == "restarted" || m.State == "reloaded") {
		return &ArgError{Arg: "masked", Msg: "a masked unit cannot be " + m.State}
	}
	return nil
}

// unitState is what systemctl show says.
type unitState struct {
	LoadState, ActiveState, SubState, UnitFileState string
}

// parseSystemctlShow reads KEY=VALUE lines.
func parseSystemctlShow(out string) unitState {
	var u unitState
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "LoadState":
			u.LoadState = v
		case "ActiveState":
			u.ActiveState = v
		case "SubState":
			u.SubState = v
		case "UnitFileState":
			u.UnitFileState = v
		}
	}
	return u
}

func (u unitState) active() bool {
	return u.ActiveState == "active" || u.ActiveState == "activating" || u.ActiveState == "reloading"
}

func (u unitState) masked() bool {
	return u.LoadState == "masked" || strings.HasPrefix(u.UnitFileState, "masked")
}

// unitSuffixes are systemd's unit types.
var unitSuffixes = []string{".service", ".socket", ".timer", ".target", ".mount", ".automount", ".path", ".slice", ".scope", ".swap", ".device"}

// simulatedUnitFile returns the unit file of the unit that an earlier
// task of this check run only simulated writing (transport.Simulated), or
// "": /etc/systemd/system/UNIT or, for an instance a@b.service, the
// template a@.service (also under /lib and /usr/lib).
func (m *Service) simulatedUnitFile(t transport.Target) string {
	unit := m.Name
	known := false
	for _, sfx := range unitSuffixes {
		if strings.HasSuffix(unit, sfx) {
			known = true
		}
	}
	if !known {
		unit += ".service"
	}
	names := []string{unit}
	if at := strings.Index(unit, "@"); at > 0 {
		names = append(names, unit[:at+1]+unit[strings.LastIndex(unit, "."):])
	}
	for _, dir := range []string{"/etc/systemd/system/", "/lib/systemd/system/", "/usr/lib/systemd/system/"} {
		for _, n := range names {
			if transport.Simulated(t, dir+n) {
				return dir + n
			}
		}
	}
	return ""
}

// Run brings the unit to the wanted state.
func (m *Service) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	res := &Result{Data: map[string]any{"name": m.Name}}
	st, err := t.Stat(ctx, "/run/systemd/system")
	if err != nil {
		return nil, fmt.Errorf("stat /run/systemd/system: %w", err)
	}
	if !st.Exists {
		return failed(res, "systemd is not running on %s (no /run/systemd/system): the service module drives systemd only\n  hint: run the service's own control command with the command module (e.g. pg_ctlcluster 15 main start)", t.Host()), nil
	}
	systemctl := func(args ...string) (bool, error) {
		r, err := t.Change(ctx, transport.Cmd{Argv: append([]string{"systemctl"}, args...)})
		if err != nil {
			return false, err
		}
		if r.RC != 0 {
			msg := strings.TrimSpace(string(r.Stderr))
			hint := ""
			if args[0] == "start" || args[0] == "restart" || args[0] == "reload" {
				hint = fmt.Sprintf("\n  hint: see `systemctl status %s` and `journalctl -u %s` on %s", m.Name, m.Name, t.Host())
			}
			if strings.Contains(msg, "Access denied") || strings.Contains(msg, "Interactive authentication required") {
				hint = "\n  hint: systemctl needs root: add become: true"
			}
			failed(res, "systemctl %s %s failed (rc %d): %s%s", args[0], m.Name, r.RC, msg, hint)
			return false, nil
		}
		return true, nil
	}
	show := func() (unitState, error) {
		r, err := t.Query(ctx, transport.Cmd{Argv: []string{"systemctl", "show", m.Name, "--property=LoadState,ActiveState,SubState,UnitFileState"}})
		if err != nil {
			return unitState{}, err
		}
		if r.RC != 0 {
			return unitState{}, fmt.Errorf("host %s: systemctl show %s failed (rc %d): %s", t.Host(), m.Name, r.RC, strings.TrimSpace(string(r.Stderr)))
		}
		return parseSystemctlShow(string(r.Stdout)), nil
	}

	if m.DaemonReload {
		if ok, err := systemctl("daemon-reload"); !ok {
			return res, err
		}
	}
	u, err := show()
	if err != nil {
		return nil, err
	}
	note := ""
	if f := m.simulatedUnitFile(t); u.LoadState == "not-found" && f != "" {
		// systemd reads the host's unit files: one an earlier task of
		// this check run only simulated writing is not there. Assume a
		// new unit: stopped and disabled.
		u = unitState{LoadState: "loaded", ActiveState: "inactive", SubState: "dead", UnitFileState: "disabled"}
		note = fmt.Sprintf("check mode: cannot verify: unit file %s is only written by an earlier task of this check run (systemd does not know it yet); assumed a new, stopped, disabled unit", f)
		res.Data["unverified"] = true
	}
	if u.LoadState == "not-found" && !(m.Masked != nil && *m.Masked) && !(m.State == "stopped" && m.Enabled == nil) {
		return failed(res, "unit %s not found on %s\n  hint: install its package first, or check the name (systemctl list-units --all)", m.Name, t.Host()), nil
	}
	var did []string
	act := func(what string, args ...string) (bool, error) {
		ok, err := systemctl(args...)
		if ok {
			did = append(did, what)
		}
		return ok, err
	}
	if m.Masked != nil && !*m.Masked && u.masked() {
		if ok, err := act("unmasked", "unmask", m.Name); !ok {
			return res, err
		}
		u.UnitFileState, u.LoadState = "", "loaded"
	}
	if m.Enabled != nil {
		switch fs := u.UnitFileState; {
		case *m.Enabled && (fs == "enabled" || fs == "enabled-runtime" || fs == "alias" || fs == "static" || fs == "indirect" || fs == "generated" || fs == "transient"):
		case !*m.Enabled && (fs == "disabled" || fs == "static" || fs == "indirect" || u.masked() || fs == ""):
		case fs == "generated" || fs == "transient":
			return failed(res, "unit %s is %s: systemctl disable cannot change it\n  hint: for postgresql@VERSION-NAME set start.conf (pg_cluster start_conf: manual)", m.Name, fs), nil
		case *m.Enabled:
			if ok, err := act("enabled", "enable", m.Name); !ok {
				return res, err
			}
		default:
			if ok, err := act("disabled", "disable", m.Name); !ok {
				return res, err
			}
		}
	}
	if m.Masked != nil && *m.Masked && !u.masked() {
		if ok, err := act("masked", "mask", m.Name); !ok {
			return res, err
		}
	}
	switch m.State {
	case "started":
		if !u.active() {
			if ok, err := act("started", "start", m.Name); !ok {
				return res, err
			}
		}
	case "stopped":
		if u.active() {
			if ok, err := act("stopped", "stop", m.Name); !ok {
				return res, err
			}
		}
	case "restarted":
		if ok, err := act("restarted", "restart", m.Name); !ok {
			return res, err
		}
	case "reloaded":
		verb, what := "reload", "reloaded"
		if !u.active() {
			verb, what = "start", "started"
		}
		if ok, err := act(what, verb, m.Name); !ok {
			return res, err
		}
	}
	res.Changed = len(did) > 0
	res.Msg = strings.Join(did, ", ")
	if note != "" {
		res.Msg = strings.TrimSuffix(note+"; would be: "+res.Msg, "; would be: ")
	}
	state := "stopped"
	if u.active() {
		state = "started"
	}
	for _, d := range did {
		switch d {
		case "started", "restarted", "reloaded":
			state = "started"
		case "stopped":
			state = "stopped"
		}
	}
	res.Data["state"] = state
	res.Data["status"] = map[string]any{"LoadState": u.LoadState, "ActiveState": u.ActiveState, "SubState": u.SubState, "UnitFileState": u.UnitFileState}
	return res, nil
}
