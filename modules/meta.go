package modules

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "meta",
		Purpose: "Act on the run itself: run notified handlers now, end the play, or do nothing.",
		Examples: []string{
			`- name: Restart PostgreSQL now if its configuration changed, before the standbys clone
  meta: flush_handlers`,
			`- name: Nothing more to do when the cluster already runs
  meta: end_play
  when: .cluster_running`,
		},
		New:      func() Module { return &Meta{} },
		FreeForm: "_raw",
	})
}

// MetaActions are the actions of `meta:`: Meta's choices, the one list
// that the runner checks tasks against before any host is contacted,
// that `pgplay doc meta` shows, and that the runner implements.
var MetaActions = func() []string {
	f, _ := reflect.TypeOf(Meta{}).FieldByName("Action")
	return strings.Split(f.Tag.Get("choices"), "|")
}()

// Meta is handled by the runner before any module runs; this type exists
// for its documentation and argument checks.
type Meta struct {
	Action string `arg:"_raw,required" choices:"flush_handlers|end_play|noop" doc:"flush_handlers: run notified handlers now; end_play: end the play for all its hosts, not as a failure (later plays run; with when:, if it holds on any host); noop: nothing"`
}

// PlayAction says the runner carries meta out itself.
func (m *Meta) PlayAction() {}

// Run is never called by the runner; it returns an error saying so.
func (m *Meta) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	return nil, fmt.Errorf("meta: %q is handled by the runner, not run as a module (a runner bug)", m.Action)
}
