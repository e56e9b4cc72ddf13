package playbook

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pgplay/pgplay/internal/content"
	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// taskCtx is what parsing a task needs to know about where it is.
type taskCtx struct {
	file    string          // the file the tasks are in (yamlsrc.Pos.File)
	base    place           // where include_tasks names are resolved
	src     *content.Source // lookups after base
	role    *Role           // the role the tasks belong to, if any
	handler bool            // handlers: lists (listen allowed)
}

// taskKeywords are the keys of a task that are not its module.
var taskKeywords = []string{
	"name", "when", "loop", "with_items", "loop_control", "loop_var", "register",
	"notify", "listen", "tags", "become", "become_user", "changed_when",
	"failed_when", "ignore_errors", "until", "retries", "delay", "run_once",
	"throttle", "delegate_to", "no_log", "check_mode", "vars", "block", "rescue", "always",
	"args", "include_tasks", "import_tasks",
}

// TaskKeywords lists the keywords a task may have (besides its module),
// for documentation.
func TaskKeywords() []string { return append([]string(nil), taskKeywords...) }

var taskKeywordSet = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, k := range taskKeywords {
		m[k] = struct{}{}
	}
	return m
}()

// unsupportedTaskKeys are Ansible task keys pgplay does not have.
var unsupportedTaskKeys = map[string]string{
	"include_role":     "list the role under the play's `roles:`",
	"import_role":      "list the role under the play's `roles:`",
	"include":          "use include_tasks: FILE",
	"include_vars":     "use the play's vars_files:",
	"import_playbook":  "import_playbook is a play-level entry: `- import_playbook: FILE` in the playbook's list",
	"local_action":     "use delegate_to: localhost, or a host with connection: local in the inventory",
	"action":           "write the module name as the key: `command: ...`",
	"environment":      "set variables in the command itself: `command: env NAME=value prog`",
	"async":            "async tasks are not supported; run the command in the background on the host (e.g. systemd-run)",
	"poll":             "async tasks are not supported",
	"remote_user":      "set ssh_user in the inventory",
	"connection":       "set connection: local for the host in the inventory",
	"become_method":    "pgplay always becomes with sudo",
	"delegate_facts":   "facts of delegated tasks stay with the task's host",
	"timeout":          "bound the command itself (e.g. `timeout 30 prog`)",
	"diff":             "use --diff on the command line",
	"debugger":         "not supported",
	"any_errors_fatal": "set any_errors_fatal on the play",
	"with_dict":        "use loop: over a list",
	"with_list":        "use loop:",
	"with_fileglob":    "list the files with loop:",
	"with_together":    "use loop: over a list of mappings",
	"with_nested":      "use loop: over a list built with a template",
	"with_sequence":    "use loop: with sprig's `until` function",
	"with_subelements": "use loop: over a list built with a template",
	"with_first_found": "name the file literally",
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseTasks parses a file holding a list of tasks (an include file). file
// names it in positions and is the base for its include_tasks.
func ParseTasks(file string, data []byte, opt Options) ([]*Task, error) {
	p := newParser(opt)
	pl := placeOfName(file)
	if err := p.push(file, nil, file); err != nil {
		return nil, err
	}
	defer p.pop()
	return p.taskFile(&taskCtx{file: file, base: pl, src: p.src}, data)
}

// taskFile parses a task-list file.
func (p *parser) taskFile(tc *taskCtx, data []byte) ([]*Task, error) {
	root, err := yamlsrc.ParseYAML(tc.file, data)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return []*Task{}, nil
	}
	if root.Kind != yaml.SequenceNode {
		hint := "a task file is a list of tasks: start with `- name: ...`"
		return nil, yamlsrc.ErrAt(tc.file, root, hint, "a task file must be a list of tasks, not a %s", yamlsrc.KindName(root))
	}
	ts, err := p.taskList(tc, root, "tasks")
	if err != nil {
		return nil, err
	}
	if ts == nil {
		ts = []*Task{}
	}
	return ts, nil
}

// taskList parses a list of tasks under key (null gives nil).
func (p *parser) taskList(tc *taskCtx, n *yaml.Node, key string) ([]*Task, error) {
	n = yamlsrc.Deref(n)
	if yamlsrc.IsNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, yamlsrc.ErrAt(tc.file, n, "write the tasks as a list: each starts with `- name: ...`",
			"%s must be a list of tasks, not a %s", key, yamlsrc.KindName(n))
	}
	out := make([]*Task, 0, len(n.Content))
	for _, it := range n.Content {
		t, err := p.task(tc, it)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func (p *parser) moduleLike(key string) bool {
	return p.opt.KnownModule != nil && p.opt.KnownModule(key)
}

// moduleName maps Ansible's fully qualified names of builtins to ours.
func moduleName(key string) string {
	for _, pre := range []string{"ansible.builtin.", "ansible.legacy."} {
		if s, ok := strings.CutPrefix(key, pre); ok {
			return s
		}
	}
	return key
}

// notOnBlock are task keywords a block (or an include) cannot have.
var notOnBlock = map[string]string{
	"loop": "put the loop on a task inside the block", "with_items": "put the loop on a task inside the block",
	"loop_control": "put the loop on a task inside the block", "loop_var": "put the loop on a task inside the block",
	"register": "register the result of a task inside the block",
	"until":    "put until on a task inside the block", "retries": "put retries on a task inside the block",
	"delay": "put delay on a task inside the block", "changed_when": "put changed_when on a task inside the block",
	"failed_when": "put failed_when on a task inside the block", "args": "args belong to a module",
	"listen":   "put listen on a handler, not on a block",
	"throttle": "put throttle on the tasks inside the block",
}

func (p *parser) task(tc *taskCtx, n *yaml.Node) (*Task, error) {
	t, err := p.parseTask(tc, n)
	if err != nil || p.opt.CheckTemplate == nil {
		return t, err
	}
	// The task is well formed: check the templates it will render.
	ps, err := yamlsrc.Pairs(tc.file, yamlsrc.Deref(n))
	if err != nil {
		return nil, err
	}
	for _, q := range ps {
		var err error
		switch {
		case q.Key == "when" || q.Key == "changed_when" || q.Key == "failed_when" || q.Key == "until":
			err = p.checkTemplates(tc.file, q.V, true)
		case q.Key == "loop" || q.Key == "with_items" || q.Key == "delegate_to" || q.Key == "args" || q.Key == "retries" || q.Key == "delay":
			err = p.checkTemplates(tc.file, q.V, false)
		case !t.IsBlock() && moduleName(q.Key) == t.Module:
			err = p.checkTemplates(tc.file, q.V, false)
		}
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

// checkTemplates runs Options.CheckTemplate on the strings under n that
// hold a template (every string, for conditions).
func (p *parser) checkTemplates(file string, n *yaml.Node, cond bool) error {
	if p.opt.CheckTemplate == nil {
		return nil
	}
	seen := map[*yaml.Node]bool{}
	var walk func(n *yaml.Node) error
	walk = func(n *yaml.Node) error {
		at := n
		n = yamlsrc.Deref(n)
		if n == nil || seen[n] {
			return nil
		}
		seen[n] = true
		switch n.Kind {
		case yaml.SequenceNode:
			for _, c := range n.Content {
				if err := walk(c); err != nil {
					return err
				}
			}
		case yaml.MappingNode:
			for i := 1; i < len(n.Content); i += 2 {
				if err := walk(n.Content[i]); err != nil {
					return err
				}
			}
		case yaml.ScalarNode:
			if n.ShortTag() != "!!str" && !cond {
				return nil
			}
			if !cond && !strings.Contains(n.Value, "{{") && !strings.Contains(n.Value, "{%") {
				return nil
			}
			if problem, hint := p.opt.CheckTemplate(n.Value, cond); problem != "" {
				return yamlsrc.ErrAt(file, at, hint, "%s", problem)
			}
		}
		return nil
	}
	return walk(n)
}

func (p *parser) parseTask(tc *taskCtx, n *yaml.Node) (*Task, error) {
	file := tc.file
	n = yamlsrc.Deref(n)
	if n.Kind != yaml.MappingNode {
		hint := "a task is a mapping: `- name: ...` then the module on the next line, indented like name"
		if n.Kind == yaml.ScalarNode {
			hint = "a task is a mapping: `- name: " + n.Value + "` then the module (e.g. `command: ...`) indented under it"
		}
		return nil, yamlsrc.ErrAt(file, n, hint, "a task must be a mapping, not %s", yamlsrc.Describe(n))
	}
	ps, err := yamlsrc.Pairs(file, n)
	if err != nil {
		return nil, err
	}
	t := &Task{Pos: yamlsrc.PosOf(file, n), Role: tc.role, KeyPos: map[string]yamlsrc.Pos{}, ValPos: Positions{}}
	var modules []yamlsrc.Pair
	var args, include *yamlsrc.Pair
	var loopKey, loopVarCtl *yamlsrc.Pair
	var blockNode, rescueNode, alwaysNode *yaml.Node
	for i := range ps {
		q := &ps[i]
		t.KeyPos[q.Key] = yamlsrc.PosOf(file, q.K)
		if q.Key != "block" && q.Key != "rescue" && q.Key != "always" {
			t.ValPos.record(file, q.Key, q.V)
		}
		var err error
		switch q.Key {
		case "name":
			t.Name, err = yamlsrc.String(file, q.V, "name")
		case "when":
			t.When, err = conditions(file, q.V, "when")
		case "loop", "with_items":
			if loopKey != nil {
				return nil, yamlsrc.ErrAt(file, q.K, "use only loop:", "task has both %s and %s", loopKey.Key, q.Key)
			}
			loopKey = q
			t.Loop, err = loopValue(file, q)
		case "loop_control":
			loopVarCtl = q
			err = loopControl(file, q.V, t)
		case "loop_var":
			t.LoopVar, err = identValue(file, q.V, "loop_var")
		case "register":
			t.Register, err = identValue(file, q.V, "register")
		case "notify":
			t.Notify, err = yamlsrc.StringList(file, q.V, "notify")
		case "listen":
			if !tc.handler {
				return nil, yamlsrc.ErrAt(file, q.K, "listen names a topic a handler answers to; move this task under `handlers:`, or use notify:",
					"listen is only allowed on handlers")
			}
			t.Listen, err = yamlsrc.StringList(file, q.V, "listen")
		case "tags":
			t.Tags, err = yamlsrc.StringList(file, q.V, "tags")
		case "become":
			t.Become, err = boolPtr(file, q.V, "become")
		case "become_user":
			t.BecomeUser, err = yamlsrc.String(file, q.V, "become_user")
		case "changed_when":
			t.ChangedWhen, err = conditions(file, q.V, "changed_when")
		case "failed_when":
			t.FailedWhen, err = conditions(file, q.V, "failed_when")
		case "ignore_errors":
			t.IgnoreErrors, err = yamlsrc.Bool(file, q.V, "ignore_errors")
		case "until":
			var cs []string
			cs, err = conditions(file, q.V, "until")
			if err == nil && len(cs) != 1 {
				err = yamlsrc.ErrAt(file, q.V, "join the conditions with `and`: until: and (cond1) (cond2)", "until takes one condition")
			}
			if err == nil {
				t.Until = cs[0]
			}
		case "retries":
			if s, ok := templateScalar(q.V); ok {
				t.RetriesExpr = s
			} else {
				t.Retries, err = intValue(file, q.V, "retries")
			}
		case "delay":
			if s, ok := templateScalar(q.V); ok {
				t.DelayExpr = s
			} else {
				t.Delay, err = durationValue(file, q.V, "delay")
			}
		case "run_once":
			t.RunOnce, err = yamlsrc.Bool(file, q.V, "run_once")
		case "throttle":
			t.Throttle, err = intValue(file, q.V, "throttle")
		case "delegate_to":
			t.DelegateTo, err = yamlsrc.RequiredString(file, q.V, "delegate_to", "name the host to run the task on")
		case "no_log":
			t.NoLog, err = yamlsrc.Bool(file, q.V, "no_log")
		case "check_mode":
			t.CheckMode, err = boolPtr(file, q.V, "check_mode")
		case "vars":
			t.Vars, err = yamlsrc.DecodeVars(file, q.V, "task vars")
		case "block":
			blockNode = q.V
		case "rescue":
			rescueNode = q.V
		case "always":
			alwaysNode = q.V
		case "args":
			args = q
		case "include_tasks", "import_tasks":
			if include != nil {
				return nil, yamlsrc.ErrAt(file, q.K, "one include per task", "task has both %s and %s", include.Key, q.Key)
			}
			include = q
		default:
			if h, ok := unsupportedTaskKeys[q.Key]; ok {
				return nil, yamlsrc.ErrAt(file, q.K, h, "%q is not supported by pgplay", q.Key)
			}
			modules = append(modules, *q)
		}
		if err != nil {
			return nil, err
		}
	}

	if _, both := t.KeyPos["loop_var"]; both && loopVarCtl != nil {
		// Both loop_var and loop_control.loop_var: they must agree.
		if lv, err := loopVarOf(file, loopVarCtl.V); err == nil && lv != "" && lv != t.LoopVar {
			return nil, yamlsrc.ErrAt(file, loopVarCtl.K, "give loop_var once", "loop_var %q and loop_control.loop_var %q differ", t.LoopVar, lv)
		}
	}
	if loopVarCtl != nil && t.LoopVar == "" {
		t.LoopVar, _ = loopVarOf(file, loopVarCtl.V)
	}
	if t.Loop == nil && (t.LoopVar != "" || loopVarCtl != nil) {
		at := loopVarCtl
		if at == nil {
			at = findPair(ps, "loop_var")
		}
		return nil, yamlsrc.ErrAt(file, at.K, "add `loop:` with the list to iterate over, or remove this key", "%s without loop", at.Key)
	}
	if t.Loop != nil && t.LoopVar == "" {
		t.LoopVar = "item"
	}
	if t.Until != "" {
		if _, ok := t.KeyPos["retries"]; !ok {
			t.Retries = 3
		}
		if _, ok := t.KeyPos["delay"]; !ok {
			t.Delay = 5 * time.Second
		}
	}

	// Blocks.
	if blockNode == nil && (rescueNode != nil || alwaysNode != nil) {
		k := "rescue"
		if rescueNode == nil {
			k = "always"
		}
		return nil, yamlsrc.ErrAt(file, findPair(ps, k).K, "rescue: and always: belong to a block: add `block:` with the tasks to try", "%s without block", k)
	}
	if tc.handler && (blockNode != nil || include != nil) {
		k := "a block"
		at := n
		if include != nil {
			k, at = "an include ("+include.Key+")", include.K
		}
		return nil, yamlsrc.ErrAt(file, at, "give each step its own handler and notify them in order (handlers run in the order they are listed), or run a script from one handler",
			"a handler cannot be %s (pgplay runs a handler as one module)", k)
	}
	if blockNode != nil {
		if len(modules) > 0 || include != nil {
			m := include
			if m == nil {
				m = &modules[0]
			}
			return nil, yamlsrc.ErrAt(file, m.K, yamlsrc.DidYouMean(m.Key, taskKeywords)+"a block holds tasks; move the module into a task inside `block:`",
				"a block cannot also run a module (%s)", m.Key)
		}
		if err := rejectKeys(file, ps, "a block"); err != nil {
			return nil, err
		}
		bc := *tc
		if t.Block, err = p.taskList(&bc, blockNode, "block"); err != nil {
			return nil, err
		}
		if t.Block == nil {
			t.Block = []*Task{}
		}
		if t.Rescue, err = p.taskList(&bc, rescueNode, "rescue"); err != nil {
			return nil, err
		}
		if t.Always, err = p.taskList(&bc, alwaysNode, "always"); err != nil {
			return nil, err
		}
		return t, nil
	}

	// Includes.
	if include != nil {
		if len(modules) > 0 {
			return nil, yamlsrc.ErrAt(file, modules[0].K, "split it into two tasks",
				"a task cannot have both %s and a module (%s)", include.Key, modules[0].Key)
		}
		return p.includeTasks(tc, t, ps, include)
	}

	if tc.handler && t.Name == "" && len(t.Listen) == 0 {
		return nil, yamlsrc.ErrAt(file, n, "handlers are notified by name: add `name:` (or `listen: TOPIC`)", "handler has no name")
	}

	// Module.
	if len(modules) == 0 {
		hint := "add a module, e.g. `command: ...` (see `pgplay doc`), or `block:` with a list of tasks"
		if args != nil {
			hint = "args: gives arguments to a module; add the module key, e.g. `command: ...`"
		}
		return nil, yamlsrc.ErrAt(file, n, hint, "task %shas no module", taskLabel(t))
	}
	if len(modules) > 1 {
		a, b := modules[0], modules[1]
		hint := "a task runs exactly one module: split it into two tasks"
		if p.opt.KnownModule != nil {
			for _, m := range []yamlsrc.Pair{a, b} {
				if !p.opt.KnownModule(moduleName(m.Key)) {
					hint = strconv.Quote(m.Key) + " is not a module; if it is meant as a keyword, check its spelling: "
					if s := yamlsrc.DidYouMean(m.Key, taskKeywords); s != "" {
						hint += s
					} else {
						hint += "task keywords are " + strings.Join(taskKeywords, ", ")
					}
					break
				}
			}
		} else if s := yamlsrc.DidYouMean(b.Key, taskKeywords); s != "" {
			hint = s + "a task runs exactly one module"
		} else if s := yamlsrc.DidYouMean(a.Key, taskKeywords); s != "" {
			hint = s + "a task runs exactly one module"
		}
		return nil, yamlsrc.ErrAt(file, b.K, hint, "task %shas two module keys: %q and %q", taskLabel(t), a.Key, b.Key)
	}
	m := modules[0]
	t.Module = moduleName(m.Key)
	if t.Module != "meta" && p.opt.KnownModule != nil && !p.opt.KnownModule(t.Module) {
		hint := ""
		if p.opt.ModuleHint != nil {
			hint = p.opt.ModuleHint(t.Module)
		}
		if hint == "" {
			hint = yamlsrc.DidYouMean(t.Module, append(append([]string{}, p.opt.ModuleNames...), taskKeywords...))
			hint += "`pgplay doc` lists the modules"
		}
		return nil, yamlsrc.ErrAt(file, m.K, hint, "unknown module %q", m.Key)
	}
	t.KeyPos[t.Module] = yamlsrc.PosOf(file, m.K)
	if err := p.moduleArgs(file, t, m, args); err != nil {
		return nil, err
	}
	return t, nil
}

func taskLabel(t *Task) string {
	if t.Name != "" {
		return strconv.Quote(t.Name) + " "
	}
	return ""
}

// rejectKeys rejects keywords that a block or include cannot have.
func rejectKeys(file string, ps []yamlsrc.Pair, what string) error {
	for _, q := range ps {
		if h, bad := notOnBlock[q.Key]; bad {
			return yamlsrc.ErrAt(file, q.K, h, "%s is not allowed on %s", q.Key, what)
		}
	}
	return nil
}

func loopValue(file string, q *yamlsrc.Pair) (any, error) {
	n := yamlsrc.Deref(q.V)
	switch {
	case n.Kind == yaml.SequenceNode:
		return yamlsrc.DecodeValue(file, n)
	case n.Kind == yaml.ScalarNode && !yamlsrc.IsNull(n) && n.ShortTag() == "!!str" && strings.TrimSpace(n.Value) != "":
		return n.Value, nil
	}
	return nil, yamlsrc.ErrAt(file, q.V, "give a list (`- a` lines or [a, b]) or a template that renders a list: \"{{ .hosts }}\"",
		"%s must be a list or a template, not %s", q.Key, yamlsrc.Describe(n))
}

func identValue(file string, n *yaml.Node, key string) (string, error) {
	s, err := yamlsrc.RequiredString(file, n, key, "give a variable name")
	if err != nil {
		return "", err
	}
	if !identRE.MatchString(s) {
		return "", yamlsrc.ErrAt(file, n, "use letters, digits and _ (templates read it as .name)", "%s %q is not a valid variable name", key, s)
	}
	return s, nil
}

var loopControlKeys = []string{"loop_var", "label"}

func loopControl(file string, n *yaml.Node, t *Task) error {
	n = yamlsrc.Deref(n)
	if n.Kind != yaml.MappingNode {
		return yamlsrc.ErrAt(file, n, "write loop_control: {loop_var: name}", "loop_control must be a mapping, not a %s", yamlsrc.KindName(n))
	}
	ps, err := yamlsrc.Pairs(file, n)
	if err != nil {
		return err
	}
	for _, q := range ps {
		switch q.Key {
		case "loop_var":
			if _, err := identValue(file, q.V, "loop_var"); err != nil {
				return err
			}
		case "label":
			if t.LoopLabel, err = yamlsrc.String(file, q.V, "label"); err != nil {
				return err
			}
		default:
			return yamlsrc.ErrAt(file, q.K, yamlsrc.DidYouMean(q.Key, loopControlKeys)+"loop_control keys: "+strings.Join(loopControlKeys, ", "),
				"unknown loop_control key %q", q.Key)
		}
	}
	return nil
}

func loopVarOf(file string, n *yaml.Node) (string, error) {
	ps, err := yamlsrc.Pairs(file, n)
	if err != nil {
		return "", err
	}
	if q := findPair(ps, "loop_var"); q != nil {
		return identValue(file, q.V, "loop_var")
	}
	return "", nil
}

// moduleArgs decodes the module's value and args: into t.Args / t.ArgPos.
func (p *parser) moduleArgs(file string, t *Task, m yamlsrc.Pair, args *yamlsrc.Pair) error {
	t.Args = map[string]any{}
	t.ArgPos = map[string]yamlsrc.Pos{}
	v := yamlsrc.Deref(m.V)
	switch {
	case yamlsrc.IsNull(v):
	case v.Kind == yaml.MappingNode:
		ps, err := yamlsrc.Pairs(file, v)
		if err != nil {
			return err
		}
		for _, q := range ps {
			val, err := yamlsrc.DecodeValue(file, q.V)
			if err != nil {
				return err
			}
			t.Args[q.Key] = val
			t.ArgPos[q.Key] = yamlsrc.PosOf(file, q.K)
		}
	case v.Kind == yaml.ScalarNode:
		t.Args["_raw"] = v.Value
		t.ArgPos["_raw"] = yamlsrc.PosOf(file, v)
	default:
		return yamlsrc.ErrAt(file, m.V, "give the arguments as a mapping (`key: value` lines indented under the module) or a string",
			"arguments of %s must be a mapping or a string, not a %s", m.Key, yamlsrc.KindName(v))
	}
	if args == nil {
		return nil
	}
	a := yamlsrc.Deref(args.V)
	if yamlsrc.IsNull(a) {
		return nil
	}
	if a.Kind != yaml.MappingNode {
		return yamlsrc.ErrAt(file, args.V, "write args: as a mapping of argument names to values", "args must be a mapping, not a %s", yamlsrc.KindName(a))
	}
	ps, err := yamlsrc.Pairs(file, a)
	if err != nil {
		return err
	}
	for _, q := range ps {
		if prev, dup := t.ArgPos[q.Key]; dup {
			return yamlsrc.ErrAt(file, q.K, "give the argument once, either with the module or under args:",
				"argument %q is given twice (first at line %d)", q.Key, prev.Line)
		}
		val, err := yamlsrc.DecodeValue(file, q.V)
		if err != nil {
			return err
		}
		t.Args[q.Key] = val
		t.ArgPos[q.Key] = yamlsrc.PosOf(file, q.K)
	}
	return nil
}

// includeKeys are the keywords an include_tasks/import_tasks may carry.
var includeKeys = map[string]bool{
	"name": true, "when": true, "tags": true, "vars": true, "become": true,
	"become_user": true, "ignore_errors": true, "no_log": true, "check_mode": true,
	"include_tasks": true, "import_tasks": true, "args": true,
}

// includeTasks expands include_tasks/import_tasks into a block task.
func (p *parser) includeTasks(tc *taskCtx, t *Task, ps []yamlsrc.Pair, inc *yamlsrc.Pair) (*Task, error) {
	file := tc.file
	for _, q := range ps {
		if q.Key == "loop" || q.Key == "with_items" {
			return nil, yamlsrc.ErrAt(file, q.K, "put the loop on the tasks in the included file, or repeat the include for each value",
				"loop on %s is not supported yet", inc.Key)
		}
		if !includeKeys[q.Key] {
			keys := make([]string, 0, len(includeKeys))
			for k := range includeKeys {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return nil, yamlsrc.ErrAt(file, q.K, "an include takes only: "+strings.Join(keys, ", "),
				"%s is not allowed on %s", q.Key, inc.Key)
		}
	}
	name, at, err := includeFile(file, inc, findPair(ps, "args"))
	if err != nil {
		return nil, err
	}
	if strings.Contains(name, "{{") {
		return nil, yamlsrc.ErrAt(file, at, "name the file literally; to choose at run time, include each file with its own `when:`",
			"dynamic include not supported: %s", name)
	}
	data, pl, err := p.read(name, tc.base, tc.src)
	if err != nil {
		where := "the including file's directory"
		if tc.role != nil {
			where = "the role's tasks/ directory"
		}
		return nil, yamlsrc.ErrAt(file, at, "include paths are relative to "+where, "cannot find %s file %q: %v", inc.Key, name, err)
	}
	if err := p.push(pl.display, at, file); err != nil {
		return nil, err
	}
	defer p.pop()
	sub := *tc
	sub.file = pl.display
	if tc.role == nil {
		sub.base = pl
	}
	ts, err := p.taskFile(&sub, data)
	if err != nil {
		return nil, err
	}
	t.Block = ts
	t.Included = pl.display
	return t, nil
}

// includeFile returns the file an include names: `include_tasks: FILE`,
// `include_tasks: {file: FILE}`, or `include_tasks:` with `args: {file: FILE}`.
func includeFile(file string, inc, args *yamlsrc.Pair) (string, *yaml.Node, error) {
	v := yamlsrc.Deref(inc.V)
	if yamlsrc.IsNull(v) && args != nil && yamlsrc.Deref(args.V).Kind == yaml.MappingNode {
		v = yamlsrc.Deref(args.V)
	} else if args != nil {
		return "", nil, yamlsrc.ErrAt(file, args.K, "write include_tasks: FILE", "args is not allowed with %s: FILE", inc.Key)
	}
	switch v.Kind {
	case yaml.ScalarNode:
		if yamlsrc.IsNull(v) || strings.TrimSpace(v.Value) == "" {
			break
		}
		return v.Value, v, nil
	case yaml.MappingNode:
		ps, err := yamlsrc.Pairs(file, v)
		if err != nil {
			return "", nil, err
		}
		var name string
		var at *yaml.Node
		for _, q := range ps {
			if q.Key != "file" {
				return "", nil, yamlsrc.ErrAt(file, q.K, "write "+inc.Key+": {file: FILE}; put when/tags/vars on the task itself",
					"unknown %s key %q", inc.Key, q.Key)
			}
			if name, err = yamlsrc.RequiredString(file, q.V, "file", "name the task file"); err != nil {
				return "", nil, err
			}
			at = q.V
		}
		if at != nil {
			return name, at, nil
		}
	}
	return "", nil, yamlsrc.ErrAt(file, inc.V, "name the task file: "+inc.Key+": install.yaml", "%s needs a file name", inc.Key)
}
