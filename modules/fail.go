package modules

import (
	"context"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "fail",
		Purpose: "Fail the host with a message (use with when:).",
		Examples: []string{
			`- name: Stop on a node that runs another major version
  fail:
    msg: "{{ .inventory_hostname }} runs PostgreSQL {{ .pg_found }}, want 15"
  when: ne .pg_found "15"`,
			`- name: Ask whether the node is in recovery
  pg_query:
    query: SELECT pg_is_in_recovery() AS standby
    readonly: true
  register: rec
- name: Stop when a standby of the inventory runs as a primary
  fail:
    msg: "{{ .inventory_hostname }} is not in recovery: two primaries? see pgplay status"
  when: and (eq .pg_role "standby") (eq (index .rec.rows 0).standby "f")`,
		},
		New: func() Module { return &Fail{} },
	})
}

// Fail always fails.
type Fail struct {
	Msg string `arg:"msg" default:"Failed as requested from task" doc:"the message"`
}

// Run fails with the message.
func (f *Fail) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	return &Result{Failed: true, Msg: f.Msg}, nil
}
