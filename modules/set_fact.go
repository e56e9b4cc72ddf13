package modules

import (
	"context"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "set_fact",
		Purpose: "Set variables on the host for the tasks that follow (never changes anything).",
		Examples: []string{
			`- name: Remember who is primary and the standbys
  set_fact:
    pg_primary: "{{ .inventory_hostname }}"
    standbys: "{{ .groups.standby }}"`,
			`- name: Ask whether this node is in recovery
  pg_query:
    query: SELECT pg_is_in_recovery() AS standby
    readonly: true
  register: rec
- name: Remember the node's live role
  set_fact:
    pg_live_role: '{{ if eq (index .rec.rows 0).standby "t" }}standby{{ else }}primary{{ end }}'`,
		},
		New: func() Module { return &SetFact{} },
	})
}

// SetFact sets every argument as a host variable.
type SetFact struct {
	Cacheable bool           `arg:"cacheable" default:"false" doc:"accepted for Ansible compatibility; ignored"`
	Facts     map[string]any `arg:"*" doc:"each other key is a variable to set, with its (rendered) value"`
}

// Validate checks that something is set.
func (s *SetFact) Validate() error {
	if len(s.Facts) == 0 {
		return &ArgError{Msg: "set_fact needs at least one variable to set", Hint: "for example: set_fact: {pg_primary: node1}"}
	}
	return nil
}

// SetVarNames returns the names of the variables set: every argument but
// cacheable.
func (s *SetFact) SetVarNames(args map[string]any) []string {
	names := make([]string, 0, len(args))
	for k := range args {
		if k != "cacheable" {
			names = append(names, k)
		}
	}
	return names
}

// Run returns the facts.
func (s *SetFact) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	facts := make(map[string]any, len(s.Facts))
	for k, v := range s.Facts {
		facts[k] = v
	}
	return &Result{Facts: facts}, nil
}
