// Package playbook turns YAML playbooks, roles and task files into plays,
// tasks and handlers that remember where in which file they were written.
package playbook

import (
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// Playbook is a parsed playbook file.
type Playbook struct {
	File  string
	Plays []*Play
}

// Play is one play of a playbook.
type Play struct {
	Pos            yamlsrc.Pos
	Name           string
	Hosts          string // host pattern
	Become         *bool
	BecomeUser     string
	Vars           map[string]any
	VarsFiles      []string       // as written (may hold templates)
	VarsFromFiles  map[string]any // vars_files loaded at parse time, merged in order
	Roles          []*RoleRef
	PreTasks       []*Task
	Tasks          []*Task
	PostTasks      []*Task
	Handlers       []*Task  // play handlers (role handlers are in Roles[i].Role.Handlers)
	Serial         []string // batch sizes as written: "2", "30%"; empty = all at once
	GatherFacts    bool     // default false
	AnyErrorsFatal bool
	ForceHandlers  bool // run notified handlers on hosts that failed too
	Tags           []string
	SecretVars     []string // names of extra variables to redact (secret_vars:)
	// ValPos records where the play's become_user value was written
	// (ValPos["become_user"]): its tasks render it on each host.
	ValPos Positions
}

// RoleRef is a role as used by a play (or by `pgplay role NAME`).
type RoleRef struct {
	Pos    yamlsrc.Pos
	Name   string
	Params map[string]any // role params (vars given with the role)
	When   []string
	Tags   []string
	Become *bool
	// BecomeUser is the role entry's become_user ("" = not set).
	BecomeUser string
	// ValPos records where the entry's when and become_user values were
	// written (ValPos["when[0]"], ValPos["become_user"]); a dependency
	// has those it inherits too (ExpandRoles).
	ValPos Positions
	Role   *Role
	// DependencyOf is, for a role that runs because another role lists it
	// under `dependencies:` in its meta/main.yaml, the reference of that
	// role (nil for a role the play lists). Such a reference inherits the
	// when, tags, become and become_user of the role that pulled it in.
	DependencyOf *RoleRef
}

// Role is a loaded role: roles/NAME/{tasks,handlers,defaults,vars,meta}/main.yaml.
type Role struct {
	Name     string
	Dir      string // disk dir of the role, or "embedded:roles/NAME"
	Defaults map[string]any
	// Vars are vars/main.yaml's: above the inventory, play vars and
	// vars_files, below role params, block and task vars (Ansible's role
	// vars).
	Vars     map[string]any
	Tasks    []*Task
	Handlers []*Task
	// Dependencies are the roles meta/main.yaml lists under
	// `dependencies:`, as written there (each loaded). ExpandRoles puts
	// them before the role in a play.
	Dependencies []*RoleRef
	// AllowDuplicates is meta/main.yaml's allow_duplicates: the role may
	// run more than once in a play with the same params.
	AllowDuplicates bool
}

// Task is one task, handler, or block.
type Task struct {
	Pos  yamlsrc.Pos
	Name string // as written (may hold templates); "" if none

	// Module and Args: the module name and its raw arguments. A free-form
	// string (`command: ls -l`) is given as Args{"_raw": "ls -l"}.
	Module string
	Args   map[string]any
	ArgPos map[string]yamlsrc.Pos // where each argument was written

	When         []string // all must hold
	Loop         any      // list, or a string template rendering to a list
	LoopVar      string   // default "item"
	Register     string
	Notify       []string
	Listen       []string // handler topics
	Tags         []string
	Become       *bool
	BecomeUser   string
	ChangedWhen  []string // nil = not set
	FailedWhen   []string // nil = not set
	IgnoreErrors bool
	Until        string
	Retries      int           // default 3 when Until is set
	Delay        time.Duration // default 5s when Until is set
	RunOnce      bool
	Throttle     int // at most this many hosts at once (0: the run's forks)
	DelegateTo   string
	NoLog        bool
	CheckMode    *bool // check_mode: false runs a command in check mode too
	Vars         map[string]any

	// RetriesExpr and DelayExpr are retries: and delay: when written as a
	// template ("{{ .n }}"), "" otherwise. The runner renders them on each
	// host (and loop item) when the task runs; Retries and Delay are then
	// not used. The rendered value follows the literal rules (ParseRetries,
	// ParseDelay).
	RetriesExpr string
	DelayExpr   string

	// Block: Block is non-nil for a block task.
	Block  []*Task
	Rescue []*Task
	Always []*Task

	// Role is the role the task came from (nil for play tasks).
	Role *Role

	// KeyPos records where each keyword and the module key were written
	// (e.g. KeyPos["when"], KeyPos["notify"], KeyPos["command"]).
	KeyPos map[string]yamlsrc.Pos
	// ValPos records where each keyword's value was written (not the
	// key: ValPos["delegate_to"] is the template's line and column), and
	// each item of a list value (ValPos["when[1]"]). The runner reports
	// a keyword that fails when rendered on a host there.
	ValPos Positions
	// LoopLabel is loop_control.label as written ("" = show the item).
	LoopLabel string
	// Included is, for a block made from include_tasks/import_tasks, the
	// file that was included (as found: a disk path or "embedded:NAME").
	Included string
}

// Positions maps a keyword to where its value was written in YAML: the
// value's node, and for a list value each item's under KEY[i] ("when[1]",
// "loop[0]").
type Positions map[string]yamlsrc.Pos

// Find returns where the part of a keyword's value that path names was
// written: path itself ("when[1]") or the nearest enclosing part that was
// recorded ("loop[2].name" -> "loop[2]" -> "loop"). ok is false when
// nothing of it was (a keyword set in code).
func (p Positions) Find(path string) (yamlsrc.Pos, bool) {
	for {
		if at, ok := p[path]; ok {
			return at, true
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return yamlsrc.Pos{}, false
		}
		path = path[:i]
	}
}

// record sets where value v of keyword key was written in file, and each
// item's when v is a list.
func (p Positions) record(file, key string, v *yaml.Node) {
	p[key] = yamlsrc.PosOf(file, v)
	if d := yamlsrc.Deref(v); d != nil && d.Kind == yaml.SequenceNode {
		for i, c := range d.Content {
			p[key+"["+strconv.Itoa(i)+"]"] = yamlsrc.PosOf(file, c)
		}
	}
}

// IsBlock says whether the task is a block.
func (t *Task) IsBlock() bool { return t.Block != nil }
