package modules

import (
	"context"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "fail",
		Purpose: "Fail the host with a message (use with when:).",
		Example: "- fail:\n    msg: \"{{ .inventory_hostname }} runs PostgreSQL {{ .pg_found }}, want 15\"\n  when: ne .pg_found \"15\"",
		New:     func() Module { return &Fail{} },
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
