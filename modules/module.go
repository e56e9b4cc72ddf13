// Package modules holds pgplay's modules: native Go code that drives a host
// through a transport.Target. Each module lives in its own file and
// registers itself by name in init().
package modules

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/pgplay/pgplay/internal/transport"
)

// Module is one task's work. A fresh value is made per task and host by the
// registered factory; its exported fields (tagged `arg:"name"`) are filled
// from the task's arguments by Decode before Run is called.
type Module interface {
	Run(ctx context.Context, t transport.Target, env *Env) (*Result, error)
}

// Env is what a module may know besides its arguments.
type Env struct {
	// Host is the inventory name of the host the task runs for.
	Host string
	// Vars are all variables visible to the task, with precedence applied.
	Vars map[string]any
	// Render renders a template text with Vars (text/template + sprig, missingkey=error).
	Render func(name, text string) (string, error)
	// Eval evaluates a condition (a `when:`-style pipeline) with Vars.
	Eval func(expr string) (bool, error)
	// Find looks up a content file: kind is "files" or "templates"; it
	// searches the role's dirs, the playbook's dir, then the embedded content.
	// It returns the data and the path it was found at (for messages).
	Find func(kind, name string) ([]byte, string, error)
	// Diff says whether the run shows diffs. Whether changes are made is
	// not here: the runner hands a check-mode task a check-mode Target
	// (transport.NewCheckTarget), which records changes instead of making
	// them; a module that must know asks transport.IsCheck(t).
	Diff bool
	// Controller is where controller-side files go (fetch); "" = cwd.
	Controller string
}

// Diff is a before/after pair for one path, shown with --diff.
type Diff struct {
	Path   string `json:"path"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// Result is what a module reports.
type Result struct {
	Changed bool
	Failed  bool
	Skipped bool
	Msg     string
	// RC, Stdout and Stderr are set by command-like modules (HasRC true).
	HasRC  bool
	RC     int
	Stdout string
	Stderr string
	// Diffs are shown with --diff.
	Diffs []Diff
	// Data are extra fields of the registered result (e.g. "stat", "rows").
	Data map[string]any
	// Facts are variables set on the host (set_fact).
	Facts map[string]any
	// Changes are what a check-mode Target recorded instead of making
	// them (set by the runner, not by modules); they go on the host's
	// result event, not into the registered result.
	Changes []transport.Change
}

// Spec describes a registered module.
type Spec struct {
	Name    string
	Purpose string // one line
	// Examples are uses of the module as an operator writes them, each
	// a YAML list of one or more tasks whose first task's name says what
	// it does. `pgplay doc MODULE` and docs/modules.md show them, a
	// missing required argument quotes the first, and a test parses
	// every one as a task file and checks its arguments against the
	// module, as `pgplay run` would.
	Examples []string
	// Returns documents the module's fields of the registered result,
	// one "name: meaning" a line, beyond those every module has (changed,
	// failed, skipped, msg); `pgplay doc MODULE` shows them.
	Returns string
	// New returns a fresh module value (a pointer to a struct whose
	// `arg`-tagged fields are its arguments).
	New func() Module
	// FreeForm names the argument that receives a plain string given as
	// the task's module value (e.g. `command: ls -l` -> "cmd"); "" if none.
	FreeForm string
}

var (
	regMu    sync.RWMutex
	registry = map[string]Spec{}
)

// Register adds a module; it panics on a duplicate name (a programming error).
func Register(s Spec) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[s.Name]; dup {
		panic(fmt.Sprintf("modules: %q registered twice", s.Name))
	}
	registry[s.Name] = s
}

// Lookup returns the module registered under name.
func Lookup(name string) (Spec, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	s, ok := registry[name]
	return s, ok
}

// Names lists registered modules, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Optional abilities: what the runner must know of a module beyond Run.
// A module has one by implementing the interface; the runner asks with
// Ability, never by the module's name.

// PlayAction is a module the runner carries out itself, acting on the
// play rather than on a host (meta: flush_handlers, end_play): its Run is
// never called.
type PlayAction interface {
	PlayAction()
}

// VarSetter is a module that sets host variables named by its arguments
// (set_fact): Prepare counts those names as defined for the tasks that
// follow.
type VarSetter interface {
	// SetVarNames returns the names of the variables a task with these
	// (unrendered) arguments sets.
	SetVarNames(args map[string]any) []string
}

// FactGatherer is a module whose result carries the host's facts
// (setup): the runner makes them the host's .facts.
type FactGatherer interface {
	// HostFacts returns the facts in res; nil if it has none.
	HostFacts(res *Result) map[string]any
}

// MsgShower is a module whose message is its output (debug): human
// output shows it at every verbosity, as other modules' only with -v.
type MsgShower interface {
	ShowsMsg()
}

// TemplateUser is a module that renders a template file named by one of
// its arguments (template): Prepare finds and parses that file, and
// checks the variables it reads, when the argument holds no template.
type TemplateUser interface {
	// TemplateArg names the argument holding the template file's name.
	TemplateArg() string
}

// Ability returns the module registered as name as the optional ability
// A (one of the interfaces above), and whether it has it.
func Ability[A any](name string) (A, bool) {
	var zero A
	s, ok := Lookup(name)
	if !ok {
		return zero, false
	}
	a, ok := s.New().(A)
	return a, ok
}
