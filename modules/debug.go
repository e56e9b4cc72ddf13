package modules

import (
	"context"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "debug",
		Returns: "NAME: with var: NAME, the variable's value (\"VARIABLE IS NOT DEFINED!\" when it is not)",
		Purpose: "Print a message or a variable's value (never changes anything).",
		Examples: []string{
			`- name: Say which node the run takes as the primary
  debug:
    msg: "primary is {{ .pg_primary }}"`,
			`- name: Read the replication state
  pg_query:
    query: SELECT application_name, state, sync_state FROM pg_stat_replication
    readonly: true
  register: repl
- name: Show its rows
  debug:
    var: repl.rows`,
			`- name: Show a variable of another host
  debug:
    var: hostvars.node1.pg_role`,
		},
		New: func() Module { return &Debug{} },
	})
}

// Debug prints msg, or the value of the variable var.
type Debug struct {
	Msg       any    `arg:"msg" doc:"the message (a string, or any value, shown as YAML); default \"Hello world!\""`
	Var       string `arg:"var" doc:"a variable to show, as a dotted path: st.stat.exists, hostvars.node1.pg_role"`
	Verbosity int    `arg:"verbosity" default:"0" doc:"accepted for Ansible compatibility"`
}

// Validate checks that msg and var are not both given.
func (d *Debug) Validate() error {
	if d.Msg != nil && d.Var != "" {
		return &ArgError{Arg: "var", Msg: `give "msg" or "var", not both`}
	}
	return nil
}

// ShowsMsg says debug's message is its output.
func (d *Debug) ShowsMsg() {}

// Run reports the message.
func (d *Debug) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	if d.Var != "" {
		name := strings.TrimPrefix(strings.TrimSpace(d.Var), ".")
		v, ok := lookupVar(env.Vars, name)
		if !ok {
			return &Result{Msg: name + ": VARIABLE IS NOT DEFINED!", Data: map[string]any{name: "VARIABLE IS NOT DEFINED!"}}, nil
		}
		text := show(v)
		if strings.HasPrefix(text, "\n") {
			// A map or list: nested under the name, as YAML writes it.
			text = strings.ReplaceAll(text, "\n", "\n  ")
		} else {
			text = " " + text
		}
		return &Result{Msg: name + ":" + text, Data: map[string]any{name: v}}, nil
	}
	if d.Msg == nil {
		return &Result{Msg: "Hello world!"}, nil
	}
	return &Result{Msg: strings.TrimPrefix(show(d.Msg), "\n")}, nil
}

// lookupVar follows a dotted path through maps (and list indexes).
func lookupVar(vars map[string]any, name string) (any, bool) {
	var cur any = vars
	for _, k := range strings.Split(name, ".") {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[k]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// show formats a value for a message: strings as they are, the rest as YAML.
func show(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSuffix(b.String(), "\n")
	if strings.Contains(s, "\n") {
		return "\n" + s
	}
	return s
}
