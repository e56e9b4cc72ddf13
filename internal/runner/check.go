package runner

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/tmpl"
	"github.com/pgplay/pgplay/internal/yamlsrc"
	"github.com/pgplay/pgplay/modules"
)

// magicVars are defined by the runner for every task.
var magicVars = []string{
	"inventory_hostname", "inventory_hostname_short", "hostvars", "groups", "group_names",
	"play_hosts", "check_mode", "diff_mode", "role_name", "playbook_dir", "facts", "item",
	"pgplay_run_changes",
}

// knownNames collects every variable name that can exist while pb runs:
// inventory, play, vars files, roles, blocks, tasks, registered results,
// set_fact keys, loop variables, extra vars and the magic variables. It is a
// union over hosts and tasks, so a name it lacks is defined nowhere.
func (r *Runner) knownNames(pb *playbook.Playbook) map[string]bool {
	k := map[string]bool{}
	add := func(m map[string]any) {
		for n := range m {
			k[n] = true
		}
	}
	for _, n := range magicVars {
		k[n] = true
	}
	for _, h := range r.opt.Inventory.Hosts {
		add(h.Vars)
	}
	add(r.opt.ExtraVars)
	var walk func([]*playbook.Task)
	walk = func(ts []*playbook.Task) {
		for _, t := range ts {
			add(t.Vars)
			if t.Register != "" {
				k[t.Register] = true
			}
			if t.LoopVar != "" {
				k[t.LoopVar] = true
			}
			if vs, ok := modules.Ability[modules.VarSetter](t.Module); ok {
				for _, n := range vs.SetVarNames(t.Args) {
					k[n] = true
				}
			}
			walk(t.Block)
			walk(t.Rescue)
			walk(t.Always)
		}
	}
	for _, p := range pb.Plays {
		add(p.Vars)
		add(p.VarsFromFiles)
		walk(p.PreTasks)
		walk(p.Tasks)
		walk(p.PostTasks)
		walk(p.Handlers)
		for _, rr := range p.Roles {
			add(rr.Params)
			if rr.Role != nil {
				add(rr.Role.Defaults)
				add(rr.Role.Vars)
				walk(rr.Role.Tasks)
				walk(rr.Role.Handlers)
			}
		}
	}
	return k
}

// checkTemplates reports, before any host is contacted, template files that
// do not parse and variables that are defined nowhere.
func (r *Runner) checkTemplates(pb *playbook.Playbook) error {
	known := r.knownNames(pb)
	// Variables' own values may refer to other variables.
	var valueRefs func(v any) []string
	valueRefs = func(v any) []string {
		switch x := v.(type) {
		case string:
			return r.eng.Refs(x, false)
		case []any:
			var out []string
			for _, e := range x {
				out = append(out, valueRefs(e)...)
			}
			return out
		case map[string]any:
			var out []string
			for _, e := range x {
				out = append(out, valueRefs(e)...)
			}
			return out
		}
		return nil
	}
	unknown := func(refs []string) []string {
		var out []string
		for _, n := range refs {
			if !known[n] {
				out = append(out, n)
			}
		}
		sort.Strings(out)
		return out
	}
	report := func(pos yamlsrc.Pos, what string, names []string) error {
		var names2 []string
		for n := range known {
			names2 = append(names2, n)
		}
		hint := "define it in the inventory, the play's vars, a role's defaults or with -e"
		if s := yamlsrc.Suggest(names[0], names2); len(s) > 0 {
			hint = fmt.Sprintf("did you mean .%s? ", s[0]) + hint
		}
		if f := tmpl.FactHint(names[0]); f != "" {
			hint = f
		}
		return &yamlsrc.Error{Pos: pos, Msg: fmt.Sprintf("%s uses undefined variable %q (it is defined nowhere: not in the inventory, plays, roles, vars files, registered results or -e)", what, names[0]), Hint: hint}
	}
	var walk func(ts []*playbook.Task, role *playbook.RoleRef) error
	walk = func(ts []*playbook.Task, role *playbook.RoleRef) error {
		for _, t := range ts {
			if t.IsBlock() {
				for _, l := range [][]*playbook.Task{t.Block, t.Rescue, t.Always} {
					if err := walk(l, role); err != nil {
						return err
					}
				}
				continue
			}
			for name, v := range t.Args {
				if u := unknown(valueRefs(v)); len(u) > 0 {
					pos := t.Pos
					if p, ok := t.ArgPos[name]; ok {
						pos = p
					}
					what := fmt.Sprintf("task %q argument %q", taskName(t), name)
					if name == "_raw" {
						what = fmt.Sprintf("task %q", taskName(t))
					}
					return report(pos, what, u)
				}
			}
			for _, conds := range [][]string{t.When, t.ChangedWhen, t.FailedWhen, {t.Until}} {
				for _, c := range conds {
					if c == "" {
						continue
					}
					if u := unknown(r.eng.Refs(c, true)); len(u) > 0 {
						return report(t.Pos, fmt.Sprintf("task %q condition %q", taskName(t), c), u)
					}
				}
			}
			if u := unknown(valueRefs(t.Loop)); len(u) > 0 {
				return report(t.Pos, fmt.Sprintf("task %q loop", taskName(t)), u)
			}
			for _, k := range []struct{ key, expr string }{{"retries", t.RetriesExpr}, {"delay", t.DelayExpr}} {
				if u := unknown(valueRefs(k.expr)); len(u) > 0 {
					pos := t.Pos
					if p, ok := t.KeyPos[k.key]; ok {
						pos = p
					}
					return report(pos, fmt.Sprintf("task %q %s", taskName(t), k.key), u)
				}
			}
			if tu, ok := modules.Ability[modules.TemplateUser](t.Module); ok {
				if err := r.checkTemplateFile(t, tu.TemplateArg(), role, known, unknown, report); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, p := range pb.Plays {
		for _, l := range [][]*playbook.Task{p.PreTasks, p.Tasks, p.PostTasks, p.Handlers} {
			if err := walk(l, nil); err != nil {
				return err
			}
		}
		for _, rr := range p.Roles {
			if rr.Role == nil {
				continue
			}
			for _, l := range [][]*playbook.Task{rr.Role.Tasks, rr.Role.Handlers} {
				if err := walk(l, rr); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkTemplateFile parses the template file a task names in its argument
// arg, when that is static.
func (r *Runner) checkTemplateFile(t *playbook.Task, arg string, role *playbook.RoleRef, known map[string]bool,
	unknown func([]string) []string, report func(yamlsrc.Pos, string, []string) error) error {
	src, ok := t.Args[arg].(string)
	if !ok || strings.Contains(src, "{{") {
		return nil
	}
	pos := t.Pos
	if p, ok := t.ArgPos[arg]; ok {
		pos = p
	}
	find := (&playRun{r: r}).finder(&taskCtx{t: t, kw: inherit{role: role}})
	data, where, err := find("templates", src)
	if err != nil {
		return &yamlsrc.Error{Pos: pos, Msg: fmt.Sprintf("task %q: %v", taskName(t), err),
			Hint: "put the file under templates/ (templates/ROLE/ for a role) next to the playbook or in the working directory"}
	}
	if problem, hint := r.eng.Check(string(data), false); problem != "" {
		return &yamlsrc.Error{Pos: pos, Msg: fmt.Sprintf("template %s: %s", where, problem), Hint: hint}
	}
	if u := unknown(r.eng.Refs(string(data), false)); len(u) > 0 {
		return report(pos, fmt.Sprintf("template %s (task %q)", where, taskName(t)), u)
	}
	return nil
}
