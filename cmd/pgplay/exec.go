package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/vault"
	"github.com/pgplay/pgplay/internal/yamlsrc"
	"github.com/pgplay/pgplay/modules"
)

// newExecCmd is `pgplay exec`, the ansible command's ad-hoc mode: one
// module with its arguments on the hosts of a pattern, without a playbook.
func newExecCmd() *cobra.Command {
	f := &runFlags{adhoc: true}
	var module, args string
	cmd := &cobra.Command{
		Use:   "exec PATTERN -i INVENTORY [-m MODULE] [-a ARGS]",
		Short: "Run one module on the hosts of a pattern, as `ansible PATTERN -m MODULE -a ARGS`",
		Long: `Run one module on the hosts of a pattern, without a playbook (Ansible's ad-hoc mode).

-m names the module (default command); -a gives its arguments as key=value
pairs (quoted values may hold spaces), as a YAML/JSON mapping, or, for
command and shell, as the command line (leading chdir=, creates=, removes=
pairs are arguments). Templates ({{ .inventory_hostname }}) work as in a
task. Facts are not gathered: use -m setup to see them.

Each host's result is printed as ansible prints it: "node1 | CHANGED | rc=0 >>"
and the output for commands, "node1 | SUCCESS => {...}" for other modules;
--one-line prints one line per host, --output json one JSON object per
event. Exit codes are those of run: 0 ok, 2 a host failed, 3 a host was
unreachable, 4 bad arguments, 5 bad options.`,
		Example: `  pgplay exec all -i inventory.yaml -a uptime
  pgplay exec postgres -i inventory.yaml -m shell -a 'ps aux | grep [p]ostgres' -b
  pgplay exec node1 -i inventory.yaml -m file -a 'path=/tmp/x state=touch' --check --diff
  pgplay exec postgres -i inventory.yaml -m pg_query -a 'readonly=true SELECT pg_is_in_recovery()' -b`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return withCode(exitOptions, fmt.Errorf("exec takes one host pattern, got %d arguments\n  hint: pgplay exec PATTERN -i INVENTORY -m MODULE -a 'ARGS' (quote -a's value for the shell)", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, pos []string) error {
			if err := f.vaultFiles().Check(); err != nil {
				return withCode(exitOptions, fmt.Errorf("%w\n  hint: %s", err, vault.KeyHint))
			}
			task, err := adhocTask(module, args)
			if err != nil {
				return withCode(exitParse, err)
			}
			pb := &playbook.Playbook{File: "pgplay exec", Plays: []*playbook.Play{{
				Pos:  yamlsrc.Pos{File: "host pattern " + quoteArg(pos[0])},
				Name: "pgplay exec " + pos[0], Hosts: pos[0], Tasks: []*playbook.Task{task},
			}}}
			return execute(cmd, f, pb, defaultSource())
		},
	}
	f.registerCommon(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&module, "module-name", "m", "command", "the module to run (`pgplay doc` lists them)")
	fl.StringVarP(&args, "args", "a", "", "the module's arguments: key=value pairs, a YAML/JSON mapping, or a command line for command and shell")
	fl.BoolVarP(&f.become, "become", "b", false, "become (sudo; as root unless --become-user)")
	fl.BoolVarP(&f.oneLine, "one-line", "o", false, "one line per host")
	return cmd
}

// adhocTask turns -m and -a into the task exec runs. Its position, used
// by every message about it, is the command line's -m and -a.
func adhocTask(module, args string) (*playbook.Task, error) {
	where := yamlsrc.Pos{File: "-m " + module + " -a " + quoteArg(args)}
	// Ansible's builtins by their full name, as in a playbook.
	for _, pre := range []string{"ansible.builtin.", "ansible.legacy."} {
		module = strings.TrimPrefix(module, pre)
	}
	spec, ok := modules.Lookup(module)
	if !ok {
		return nil, &yamlsrc.Error{Pos: where, Msg: fmt.Sprintf("unknown module %q", module), Hint: unknownModuleHint(module)}
	}
	t := &playbook.Task{Pos: where, Name: strings.TrimSpace(module + " " + args), Module: module,
		Args: map[string]any{}, ArgPos: map[string]yamlsrc.Pos{}, KeyPos: map[string]yamlsrc.Pos{module: where}}
	a := strings.TrimSpace(args)
	switch {
	case a == "":
	case strings.HasPrefix(a, "{") && !strings.HasPrefix(a, "{{"):
		var m map[string]any
		if err := yaml.Unmarshal([]byte(a), &m); err != nil || m == nil {
			return nil, &yamlsrc.Error{Pos: where, Msg: fmt.Sprintf("-a is not a YAML or JSON mapping: %v", err),
				Hint: `quote the whole value for the shell: -a '{"path": "/tmp/x", "state": "touch"}', or give key=value pairs`}
		}
		for k, v := range m {
			t.Args[k] = v
		}
	case spec.FreeForm != "" && spec.FreeForm != "_raw":
		rest, pairs := leadingPairs(a, argNames(spec))
		for k, v := range pairs {
			t.Args[k] = v
		}
		if rest != "" {
			t.Args["_raw"] = rest
		}
	default:
		t.Args["_raw"] = a
	}
	for k := range t.Args {
		t.ArgPos[k] = where
	}
	if module == "command" && t.Args["_raw"] == nil && t.Args["cmd"] == nil && t.Args["argv"] == nil {
		return nil, &yamlsrc.Error{Pos: where, Msg: "no command given",
			Hint: "give the command line with -a, e.g. pgplay exec all -i inventory.yaml -a 'uptime' (-m picks another module)"}
	}
	return t, nil
}

// pairRE is one leading key=value word of a free-form -a: the value is
// quoted or has no spaces outside {{ }}.
var pairRE = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=('[^']*'|"[^"]*"|(?:\{\{.*?\}\}|\S)*)(\s+|$)`)

// leadingPairs takes the key=value words at the start of s whose key is
// one of names (Ansible's `chdir=/tmp creates=/x ls -l`), and returns the
// rest of s and those pairs.
func leadingPairs(s string, names map[string]bool) (string, map[string]any) {
	out := map[string]any{}
	for {
		m := pairRE.FindStringSubmatch(s)
		if m == nil || !names[m[1]] {
			return s, out
		}
		v := m[2]
		if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') {
			v = v[1 : len(v)-1]
		}
		out[m[1]] = v
		s = s[len(m[0]):]
	}
}

// argNames are the names of spec's arguments (and their aliases).
func argNames(spec modules.Spec) map[string]bool {
	out := map[string]bool{}
	for _, a := range modules.Describe(spec) {
		for _, al := range a.Aliases {
			out[al] = true
		}
		if a.Name != "*" {
			out[a.Name] = true
		}
	}
	return out
}

// quoteArg writes s as a shell would need it, for messages.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"$\\|&;<>()*?!#~`") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
