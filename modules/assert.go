package modules

import (
	"context"
	"errors"
	"fmt"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "assert",
		Returns: "assertion: the condition that failed (on failure)\nevaluated_to: false (on failure)",
		Purpose: "Fail unless every condition holds (conditions are `when:`-style pipelines).",
		Examples: []string{
			`- name: The inventory names one primary and at least one standby
  assert:
    that:
      - eq (len .groups.primary) 1
      - gt (len .groups.standby) 0
    fail_msg: "the cluster needs one primary and a standby"
  run_once: true`,
			`- name: Read the server version
  pg_query:
    query: SELECT current_setting('server_version_num') AS v
    readonly: true
  register: ver
- name: Every node runs PostgreSQL 15
  assert:
    that:
      - hasPrefix "15" (index .ver.rows 0).v
    fail_msg: "{{ .inventory_hostname }} runs {{ (index .ver.rows 0).v }}"
    quiet: true`,
		},
		New: func() Module { return &Assert{} },
	})
}

// Assert checks conditions.
type Assert struct {
	That       []string `arg:"that,required,nosplit" doc:"conditions, written like when: (eq .x \"y\"); all must hold"`
	FailMsg    string   `arg:"fail_msg" aliases:"msg" doc:"message when a condition fails"`
	SuccessMsg string   `arg:"success_msg" doc:"message when all hold"`
	Quiet      bool     `arg:"quiet" default:"false" doc:"no message on success"`
}

// Run evaluates the conditions in order and fails at the first false one.
func (a *Assert) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	if env.Eval == nil {
		return nil, errors.New("assert: no condition evaluator available")
	}
	for _, cond := range a.That {
		ok, err := env.Eval(cond)
		if err != nil {
			return nil, fmt.Errorf("assert: condition %q: %w", cond, err)
		}
		if !ok {
			msg := a.FailMsg
			if msg == "" {
				msg = fmt.Sprintf("assertion failed: %s", cond)
			}
			return &Result{Failed: true, Msg: msg, Data: map[string]any{"assertion": cond, "evaluated_to": false}}, nil
		}
	}
	msg := a.SuccessMsg
	if msg == "" {
		msg = "All assertions passed"
	}
	if a.Quiet {
		msg = ""
	}
	return &Result{Msg: msg}, nil
}
