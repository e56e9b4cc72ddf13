package runner

import (
	"fmt"
	"path"
	"strings"

	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// StepAnswer is the answer to --step's question before a task.
type StepAnswer int

// The answers of --step, as ansible-playbook's (N)o/(y)es/(c)ontinue.
const (
	// StepYes runs the task.
	StepYes StepAnswer = iota
	// StepNo skips the task on every host.
	StepNo
	// StepContinue runs this task and every later one without asking.
	StepContinue
)

// startMatches says whether the task named name (of role, "" for play
// tasks) is the one --start-at-task pattern names: its name, "ROLE : NAME"
// as the TASK line shows it, or a shell glob of either.
func startMatches(pattern, name, role string) bool {
	full := name
	if role != "" {
		full = role + " : " + name
	}
	for _, n := range []string{name, full} {
		if n == pattern {
			return true
		}
		if ok, err := path.Match(pattern, n); err == nil && ok {
			return true
		}
	}
	return false
}

// checkStartAt makes sure --start-at-task names a task of pb; otherwise
// the run would skip every task.
func (r *Runner) checkStartAt(pb *playbook.Playbook) error {
	pattern := r.opt.StartAtTask
	if pattern == "" {
		return nil
	}
	var names []string
	found := false
	visit := func(ts []*playbook.Task, role string) {
		walkTasks(ts, func(t *playbook.Task) {
			n := taskName(t)
			if startMatches(pattern, n, role) {
				found = true
			}
			if role != "" {
				n = role + " : " + n
			}
			names = append(names, n)
		})
	}
	for _, p := range pb.Plays {
		visit(p.PreTasks, "")
		for _, rr := range p.Roles {
			if rr.Role != nil {
				visit(rr.Role.Tasks, rr.Role.Name)
			}
		}
		visit(p.Tasks, "")
		visit(p.PostTasks, "")
	}
	if found {
		return nil
	}
	hint := "give a task's name as --list-tasks shows it (ROLE : NAME for a role's task; * and ? match any text)"
	hint = yamlsrc.DidYouMean(pattern, names) + hint
	return fmt.Errorf("--start-at-task %q: no task of %s is named so\n  hint: %s", pattern, pb.File, hint)
}

// walkTasks calls f for every task of ts that is not a block, blocks'
// rescue and always included.
func walkTasks(ts []*playbook.Task, f func(*playbook.Task)) {
	for _, t := range ts {
		if t.IsBlock() {
			walkTasks(t.Block, f)
			walkTasks(t.Rescue, f)
			walkTasks(t.Always, f)
			continue
		}
		f(t)
	}
}

// reachedStart says whether a task may run under --start-at-task: every
// task before the first one it names is left out, as ansible-playbook
// does. Tasks run one at a time, so started needs no lock.
func (r *Runner) reachedStart(t *playbook.Task, in inherit) bool {
	if r.opt.StartAtTask == "" || r.started {
		return true
	}
	role := ""
	if in.role != nil {
		role = in.role.Name
	}
	r.started = startMatches(r.opt.StartAtTask, taskName(t), role)
	return r.started
}

// stepAllows asks --step's question for the task labelled label (role
// included) and says whether to run it.
func (r *Runner) stepAllows(label string) bool {
	if r.opt.Step == nil || r.stepAll {
		return true
	}
	switch r.opt.Step(strings.TrimSpace(label)) {
	case StepNo:
		return false
	case StepContinue:
		r.stepAll = true
	}
	return true
}
