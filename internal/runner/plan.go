package runner

import "github.com/pgplay/pgplay/internal/playbook"

// PlannedTask is a task of a play that a run with given --tags and
// --skip-tags reaches, as `pgplay run --list-tasks` shows it.
type PlannedTask struct {
	Task *playbook.Task
	// Role is the name of the role the task runs in ("" for a play's
	// task), as the run's TASK line shows it.
	Role string
	// Tags are the task's effective tags: the play's, its role's (and
	// those of the roles that pulled the role in as a dependency), its
	// enclosing blocks' and includes', its own; in that order.
	Tags []string
}

// PlanTasks returns the tasks of play p that a run with --tags only and
// --skip-tags skip would run, in the order it reaches them (blocks opened:
// block, rescue, always; handlers and the implicit fact gathering left
// out, as ansible-playbook --list-tasks does). It decides with the run's
// own functions: the play's task lists (sections), the inheritance of
// roles, blocks and includes (inherit.withRole, inherit.with) and the tag
// test (inherit.selected), so the list and a run cannot disagree.
// It does not apply --start-at-task or --step, and p's roles need not be
// expanded yet (playbook.ExpandRoles is applied to a copy).
func PlanTasks(p *playbook.Play, only, skip []string) []PlannedTask {
	q := *p
	q.Roles = playbook.ExpandRoles(p.Roles)
	var out []PlannedTask
	var walk func(ts []*playbook.Task, in inherit)
	walk = func(ts []*playbook.Task, in inherit) {
		for _, t := range ts {
			kw := in.with(t)
			if t.IsBlock() {
				walk(t.Block, kw)
				walk(t.Rescue, kw)
				walk(t.Always, kw)
				continue
			}
			if !kw.selected(only, skip) {
				continue
			}
			pt := PlannedTask{Task: t, Tags: append([]string(nil), kw.tags...)}
			if kw.role != nil {
				pt.Role = kw.role.Name
			}
			out = append(out, pt)
		}
	}
	for _, s := range sections(&q, playInherit(&q)) {
		walk(s.tasks, s.in)
	}
	return out
}
