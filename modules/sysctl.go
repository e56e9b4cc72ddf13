package modules

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "sysctl",
		Returns: "name, state: the parameter\nsysctl_file: the file holding it\nlive_value: the running kernel's value after the task",
		Purpose: "Set a kernel parameter in a sysctl.d file and, when the live value differs, with sysctl -w.",
		Examples: []string{
			`- name: Swap only when memory runs out
  sysctl:
    name: vm.swappiness
    value: "10"`,
			`- name: No memory overcommit on database hosts (the OOM killer spares PostgreSQL)
  sysctl:
    name: vm.overcommit_memory
    value: "2"
    sysctl_file: /etc/sysctl.d/30-postgresql.conf`,
			`- name: Let services bind the virtual IP before keepalived moves it here
  sysctl:
    name: net.ipv4.ip_nonlocal_bind
    value: "1"`,
		},
		New: func() Module { return &Sysctl{} },
	})
}

// Sysctl manages one kernel parameter: a "name = value" line in
// sysctl_file (so it survives a reboot) and the live value (sysctl -w,
// only when it differs).
type Sysctl struct {
	Name       string `arg:"name,required" aliases:"key" doc:"parameter name, e.g. net.ipv4.ip_forward"`
	Value      string `arg:"value" aliases:"val" doc:"the wanted value (several numbers separated by spaces or tabs compare equal)"`
	State      string `arg:"state" default:"present" choices:"present|absent" doc:"present: set in the file (and live); absent: its line is removed from the file (the live value is left)"`
	SysctlFile string `arg:"sysctl_file" default:"/etc/sysctl.d/99-pgplay.conf" doc:"the file holding the setting"`
	Reload     bool   `arg:"reload" default:"true" doc:"apply the value now with sysctl -w when the live value differs"`
}

var sysctlName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-/*]*$`)

// Validate checks the name, value and file.
func (m *Sysctl) Validate() error {
	if !sysctlName.MatchString(m.Name) {
		return &ArgError{Arg: "name", Msg: fmt.Sprintf("%q is not a sysctl name", m.Name)}
	}
	if m.State == "present" && strings.TrimSpace(m.Value) == "" {
		return &ArgError{Arg: "value", Msg: "state: present needs \"value\""}
	}
	if strings.ContainsAny(m.Value, "\n\r") {
		return &ArgError{Arg: "value", Msg: "value must be one line"}
	}
	if !path.IsAbs(m.SysctlFile) {
		return &ArgError{Arg: "sysctl_file", Msg: fmt.Sprintf("sysctl_file %q is not an absolute path", m.SysctlFile)}
	}
	return nil
}

// sysctlKey normalizes a name: "/" separators become ".".
func sysctlKey(n string) string { return strings.ReplaceAll(n, "/", ".") }

// sysctlValue normalizes a value: whitespace runs become one space.
func sysctlValue(v string) string { return strings.Join(strings.Fields(v), " ") }

// editSysctl sets (or with value "" and absent, removes) name in a
// sysctl.d file's lines; it returns the new lines and whether they differ.
func editSysctl(lines []string, name, value string, present bool) ([]string, bool) {
	key := sysctlKey(name)
	var out []string
	done, changed := false, false
	want := name + " = " + value + "\n"
	for _, l := range lines {
		s := strings.TrimSpace(l)
		k, v, ok := strings.Cut(strings.TrimPrefix(s, "-"), "=")
		if s == "" || strings.HasPrefix(s, "#") || strings.HasPrefix(s, ";") || !ok || sysctlKey(strings.TrimSpace(k)) != key {
			out = append(out, l)
			continue
		}
		switch {
		case !present:
			changed = true
		case done:
			changed = true // a second line for the same key
		case sysctlValue(v) == sysctlValue(value):
			out = append(out, l)
			done = true
		default:
			out = append(out, want)
			done, changed = true, true
		}
	}
	if present && !done {
		if n := len(out); n > 0 && !strings.HasSuffix(out[n-1], "\n") {
			out[n-1] += "\n"
		}
		out = append(out, want)
		changed = true
	}
	return out, changed
}

// Run brings the parameter to the wanted state.
func (m *Sysctl) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	res := &Result{Data: map[string]any{"name": m.Name, "state": m.State, "sysctl_file": m.SysctlFile}}
	if m.State == "present" {
		r, err := t.Query(ctx, transport.Cmd{Argv: []string{"sysctl", "-n", "-e", m.Name}})
		if err != nil {
			return nil, err
		}
		live := strings.TrimSpace(string(r.Stdout))
		if r.RC != 0 || live == "" {
			return failed(res, "kernel parameter %s is unknown on %s (sysctl -n %s: %s)", m.Name, t.Host(), m.Name,
				strings.TrimSpace(string(r.Stderr))), nil
		}
		res.Data["live_value"] = live
		if m.Reload && sysctlValue(live) != sysctlValue(m.Value) {
			w, err := t.Change(ctx, transport.Cmd{Argv: []string{"sysctl", "-w", m.Name + "=" + sysctlValue(m.Value)}})
			if err != nil {
				return nil, err
			}
			if w.RC != 0 {
				stderr := strings.TrimSpace(string(w.Stderr))
				hint := "\n  hint: sysctl -w needs root (become: true); in a container many parameters are read-only"
				return failed(res, "sysctl -w %s=%s failed (rc %d): %s%s", m.Name, m.Value, w.RC, stderr, hint), nil
			}
			res.Changed = true
			res.Data["live_value"] = sysctlValue(m.Value)
		}
	}

	st, err := t.Stat(ctx, m.SysctlFile)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", m.SysctlFile, err)
	}
	if st.IsDir {
		return failed(res, "%s is a directory", m.SysctlFile), nil
	}
	var old []byte
	if st.Exists {
		if old, err = t.ReadFile(ctx, m.SysctlFile); err != nil {
			return nil, fmt.Errorf("read %s: %w", m.SysctlFile, err)
		}
	} else if m.State == "absent" {
		return res, nil
	}
	lines, differs := editSysctl(splitKeepEnds(string(old)), m.Name, sysctlValue(m.Value), m.State == "present")
	if !differs {
		return res, nil
	}
	if !st.Exists {
		dir := path.Dir(m.SysctlFile)
		ds, err := t.Stat(ctx, dir)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", dir, err)
		}
		if !ds.Exists {
			if err := t.Mkdir(ctx, dir, transport.Attrs{Mode: 0o755}); err != nil {
				return nil, fmt.Errorf("create directory %s: %w", dir, err)
			}
		}
	}
	o, err := writeChanged(ctx, t, fileWrite{Path: m.SysctlFile, Data: []byte(strings.Join(lines, "")), Attrs: FileAttrs{Mode: 0o644}}, st, old)
	if err != nil {
		return nil, err
	}
	res.Changed, res.Diffs = true, o.Diffs
	return res, nil
}
