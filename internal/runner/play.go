package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/report"
	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// playRun is the state of one play (one serial batch at a time).
type playRun struct {
	r             *Runner
	pb            *playbook.Playbook
	play          *playbook.Play
	hosts         []*hostState // the play's hosts (all batches)
	batch         []*hostState // current batch
	notify        map[*playbook.Task]map[*hostState]bool
	unrun         map[*playbook.Task]map[*hostState]bool // notified on hosts that failed since
	handler       []*playbook.Task                       // all handlers, in order
	hRole         map[*playbook.Task]*playbook.RoleRef
	rolesDefaults map[string]any // all roles' defaults, merged in role order
	rolesVars     map[string]any // all roles' vars/main.yaml, merged in role order

	playHosts   []any  // .play_hosts
	playbookDir string // .playbook_dir ("" = none)

	staticMu sync.Mutex
	static   map[staticKey]*staticVars // see staticVars

	// ended is set by meta: end_play: no more tasks, handlers or batches
	// of the play run. Only the play's goroutine reads and writes it.
	ended bool
}

// inherit is a task's keywords as its play, its role and its enclosing
// blocks give them: each level's own on top of the one around it (play
// -> role -> block -> task). For a task that is not a block, in.with(t)
// is the task's effective keywords: taskCtx.kw, which everything that runs
// or reports the task reads (resolve).
//
// The keywords rendered on each host (when, become_user, delegate_to)
// keep where they were written, at whichever level: a template that
// fails there is reported at that file:line:col (atKeyword).
type inherit struct {
	role         *playbook.RoleRef
	become       *bool
	becomeUser   string
	becomeUserAt yamlsrc.Pos // where becomeUser was written (zero: not in YAML)
	when         []cond      // all must hold, outer first
	tags         []string
	vars         []map[string]any // role params are read from role; blocks' and the task's vars, outer first
	ignoreErrors bool
	noLog        bool
	checkMode    *bool
	delegateTo   string
	delegateToAt yamlsrc.Pos // where delegateTo was written
	runOnce      bool
	handler      bool
}

// cond is a `when:` condition and where it was written (zero: not in
// YAML).
type cond struct {
	expr string
	at   yamlsrc.Pos
}

// playInherit is what play p passes to its tasks.
func playInherit(p *playbook.Play) inherit {
	return inherit{become: p.Become, becomeUser: p.BecomeUser, becomeUserAt: p.ValPos["become_user"], tags: p.Tags}
}

// withRole returns the inheritance for the tasks of role rr: its when and
// tags are added, its become and become_user win when set.
func (in inherit) withRole(rr *playbook.RoleRef) inherit {
	out := in
	out.role = rr
	out.when = withConds(in.when, rr.When, rr.ValPos)
	out.tags = concat(in.tags, rr.Tags)
	if rr.Become != nil {
		out.become = rr.Become
	}
	if rr.BecomeUser != "" {
		out.becomeUser, out.becomeUserAt = rr.BecomeUser, rr.ValPos["become_user"]
	}
	return out
}

// withConds returns the conditions in followed by exprs, a level's
// `when:`, each with where vp says it was written.
func withConds(in []cond, exprs []string, vp playbook.Positions) []cond {
	if len(exprs) == 0 {
		return in
	}
	out := make([]cond, len(in), len(in)+len(exprs))
	copy(out, in)
	for i, e := range exprs {
		at, _ := vp.Find("when[" + strconv.Itoa(i) + "]")
		out = append(out, cond{expr: e, at: at})
	}
	return out
}

// handlerInherit is what a play passes to a handler of role rr (nil: a
// play handler): the play's and the role's become and become_user, the
// role's params and name, as the role's tasks have them. Not the role's
// when, nor any tags: a handler runs because a task notified it.
func (pr *playRun) handlerInherit(rr *playbook.RoleRef) inherit {
	in := playInherit(pr.play)
	if rr != nil {
		in = in.withRole(rr)
	}
	in.when, in.tags = nil, nil
	in.handler = true
	return in
}

func (r *Runner) runPlay(ctx context.Context, pb *playbook.Playbook, p *playbook.Play) {
	if p.Name == "" {
		p.Name = p.Hosts
	}
	r.emit(report.Event{Kind: report.PlayStart, Play: p.Name, Where: p.Pos.String()})
	invHosts, err := r.playHosts(p)
	if err != nil {
		r.emit(report.Event{Kind: report.ErrorReport, Msg: err.Error()})
		return
	}
	pr := &playRun{r: r, pb: pb, play: p, notify: map[*playbook.Task]map[*hostState]bool{},
		unrun: map[*playbook.Task]map[*hostState]bool{}, hRole: map[*playbook.Task]*playbook.RoleRef{}}
	for _, h := range invHosts {
		hs := r.state(h)
		if hs.failed || hs.unreachable {
			continue
		}
		pr.hosts = append(pr.hosts, hs)
	}
	if len(pr.hosts) == 0 {
		r.emit(report.Event{Kind: report.Warning, Msg: "play " + p.Name + ": no hosts matched (or all failed earlier); skipping"})
		return
	}
	pr.playHosts = make([]any, len(pr.hosts))
	for i, h := range pr.hosts {
		pr.playHosts[i] = h.host.Name
	}
	if pb != nil && pb.File != "" {
		pr.playbookDir = filepath.Dir(pb.File)
	}
	pr.static = map[staticKey]*staticVars{}
	pr.rolesDefaults = map[string]any{}
	pr.rolesVars = map[string]any{}
	for _, rr := range p.Roles {
		if rr.Role == nil {
			continue
		}
		for k, v := range rr.Role.Defaults {
			pr.rolesDefaults[k] = v
		}
		// As Ansible's (private_role_vars off): every role's vars are
		// seen by the whole play, the task's own role's on top.
		for k, v := range rr.Role.Vars {
			pr.rolesVars[k] = v
		}
	}
	for _, rr := range p.Roles {
		if rr.Role == nil {
			continue
		}
		for _, h := range rr.Role.Handlers {
			if _, dup := pr.hRole[h]; dup {
				continue // a role that runs twice (allow_duplicates) has its handlers once
			}
			pr.handler = append(pr.handler, h)
			pr.hRole[h] = rr
		}
	}
	pr.handler = append(pr.handler, p.Handlers...)

	for _, b := range batches(pr.hosts, p.Serial) {
		if pr.r.stopped() || pr.ended || pr.r.fatal.Load() {
			return
		}
		pr.batch = b
		pr.runBatch(ctx)
	}
}

func (pr *playRun) alive(hs []*hostState) []*hostState {
	var out []*hostState
	for _, h := range hs {
		if !h.failed && !h.unreachable {
			out = append(out, h)
		}
	}
	return out
}

func (pr *playRun) runBatch(ctx context.Context) {
	defer pr.warnUnrunHandlers()
	p := pr.play
	base := playInherit(p)
	if p.GatherFacts {
		pr.gatherFacts(ctx, pr.alive(pr.batch))
	}
	for _, s := range sections(p, base) {
		if pr.r.stopped() || pr.ended {
			return
		}
		pr.section(ctx, s.tasks, s.in)
		if s.flush {
			pr.flushHandlers(ctx)
		}
	}
}

// taskList is one task list of a play with what its tasks inherit; flush
// says whether the handlers notified so far run after it.
type taskList struct {
	tasks []*playbook.Task
	in    inherit
	flush bool
}

// sections returns the task lists of play p in the order a run reaches
// them, each with what its tasks inherit from base (the play's): pre_tasks,
// the tasks of each role of p.Roles (dependencies first: ExpandRoles),
// tasks, post_tasks; handlers run after pre_tasks, after tasks and after
// post_tasks. runBatch runs them and PlanTasks lists them.
func sections(p *playbook.Play, base inherit) []taskList {
	out := []taskList{{tasks: p.PreTasks, in: base, flush: true}}
	for _, rr := range p.Roles {
		if rr.Role != nil {
			out = append(out, taskList{tasks: rr.Role.Tasks, in: base.withRole(rr)})
		}
	}
	return append(out, taskList{tasks: p.Tasks, in: base, flush: true}, taskList{tasks: p.PostTasks, in: base, flush: true})
}

// section runs a task list on the batch's live hosts; failed hosts leave the play.
func (pr *playRun) section(ctx context.Context, tasks []*playbook.Task, in inherit) {
	hosts := pr.alive(pr.batch)
	if len(hosts) == 0 || pr.ended {
		return
	}
	failed := pr.runTasks(ctx, tasks, hosts, in)
	for h := range failed {
		h.failed = true
	}
}

// runTasks runs tasks in order on hosts. It returns the hosts that failed
// (not ignored) or became unreachable during them; those hosts do not run
// the remaining tasks of the list.
func (pr *playRun) runTasks(ctx context.Context, tasks []*playbook.Task, hosts []*hostState, in inherit) map[*hostState]bool {
	failed := map[*hostState]bool{}
	live := append([]*hostState(nil), hosts...)
	for _, t := range tasks {
		if pr.r.stopped() || pr.ended || len(live) == 0 {
			break
		}
		var f map[*hostState]bool
		if t.IsBlock() {
			f = pr.runBlock(ctx, t, live, in)
		} else {
			f = pr.runTask(ctx, t, live, in)
		}
		if len(f) == 0 {
			continue
		}
		for h := range f {
			failed[h] = true
		}
		if pr.play.AnyErrorsFatal {
			// As in Ansible, the run ends: no later batch or play runs, on
			// the play's hosts or any other.
			for _, h := range live {
				failed[h] = true
			}
			pr.r.fatal.Store(true)
			pr.r.emit(report.Event{Kind: report.Warning, Play: pr.play.Name, Msg: "any_errors_fatal: a host failed; the run stops here (no later task or play runs on any host)"})
			return failed
		}
		var next []*hostState
		for _, h := range live {
			if !f[h] {
				next = append(next, h)
			}
		}
		live = next
	}
	return failed
}

func (pr *playRun) runBlock(ctx context.Context, t *playbook.Task, hosts []*hostState, in inherit) map[*hostState]bool {
	in = in.with(t)
	// A block's `when` is evaluated per task (Ansible semantics: it is
	// inherited by each task of the block).
	f1 := pr.runTasks(ctx, t.Block, hosts, in)
	failed := map[*hostState]bool{}
	if pr.ended {
		// meta: end_play: neither rescue nor always runs.
		for h := range f1 {
			failed[h] = true
		}
		return failed
	}
	if len(f1) > 0 && len(t.Rescue) > 0 {
		var toRescue []*hostState
		for _, h := range hosts {
			if f1[h] && !h.unreachable {
				toRescue = append(toRescue, h)
			} else if f1[h] {
				failed[h] = true
			}
		}
		f2 := pr.runTasks(ctx, t.Rescue, toRescue, in)
		for _, h := range toRescue {
			if f2[h] {
				failed[h] = true
			} else {
				h.mu.Lock()
				h.stats.Rescued++
				// The failure was handled: it does not count as a failure.
				if h.stats.Failed > 0 {
					h.stats.Failed--
				}
				h.mu.Unlock()
			}
		}
	} else {
		for h := range f1 {
			failed[h] = true
		}
	}
	if len(t.Always) > 0 {
		var all []*hostState
		for _, h := range hosts {
			if !h.unreachable {
				all = append(all, h)
			}
		}
		for h := range pr.runTasks(ctx, t.Always, all, in) {
			failed[h] = true
		}
	}
	return failed
}

// with returns the inheritance for the children of block t, or, for a
// task that is not a block, the task's effective keywords. Lists (when,
// tags, vars) add t's to the enclosing ones; any other keyword t sets wins
// over the enclosing one, an explicit false included (`ignore_errors:
// false` inside a block with `ignore_errors: true`), as in Ansible.
func (in inherit) with(t *playbook.Task) inherit {
	out := in
	out.when = withConds(in.when, t.When, t.ValPos)
	out.tags = concat(in.tags, t.Tags)
	if t.Become != nil {
		out.become = t.Become
	}
	if t.BecomeUser != "" {
		out.becomeUser, out.becomeUserAt = t.BecomeUser, t.ValPos["become_user"]
	}
	if len(t.Vars) > 0 {
		out.vars = append(append(make([]map[string]any, 0, len(in.vars)+1), in.vars...), t.Vars)
	}
	overrideBool(&out.ignoreErrors, t, "ignore_errors", t.IgnoreErrors)
	overrideBool(&out.noLog, t, "no_log", t.NoLog)
	overrideBool(&out.runOnce, t, "run_once", t.RunOnce)
	if t.CheckMode != nil {
		out.checkMode = t.CheckMode
	}
	if t.DelegateTo != "" {
		out.delegateTo, out.delegateToAt = t.DelegateTo, t.ValPos["delegate_to"]
	}
	return out
}

// overrideBool sets *dst to v when task t sets the boolean keyword key:
// written in its YAML (true or false), or true (a task built in code has
// no KeyPos).
func overrideBool(dst *bool, t *playbook.Task, key string, v bool) {
	if _, written := t.KeyPos[key]; written || v {
		*dst = v
	}
}

// concat returns a followed by b: a or b itself when the other is empty,
// else a new slice. The keyword lists it joins are only ever read.
func concat(a, b []string) []string {
	switch {
	case len(b) == 0:
		return a
	case len(a) == 0:
		return b
	}
	return append(append(make([]string, 0, len(a)+len(b)), a...), b...)
}

// notifyHandlers records that host h notified the named handlers.
func (pr *playRun) notifyHandlers(h *hostState, names []string, render func(string) string) []string {
	var unknown []string
	for _, n := range names {
		found := false
		for _, ht := range pr.handler {
			if render(ht.Name) == n || contains(ht.Listen, n) {
				found = true
				pr.r.emitMu.Lock()
				if pr.notify[ht] == nil {
					pr.notify[ht] = map[*hostState]bool{}
				}
				pr.notify[ht][h] = true
				pr.r.emitMu.Unlock()
			}
		}
		if !found {
			unknown = append(unknown, n)
		}
	}
	return unknown
}

// flushHandlers runs the notified handlers, in the order they are defined,
// on the live hosts that notified them.
func (pr *playRun) flushHandlers(ctx context.Context) {
	for round := 0; round < 10 && len(pr.notify) > 0 && !pr.ended; round++ {
		for _, ht := range pr.handler {
			if pr.r.stopped() || pr.ended {
				return
			}
			set := pr.notify[ht]
			if len(set) == 0 {
				continue
			}
			delete(pr.notify, ht)
			force := pr.r.opt.ForceHandlers || pr.play.ForceHandlers
			var hosts []*hostState
			for _, h := range pr.batch {
				switch {
				case !set[h]:
				case h.unreachable || h.failed && !force:
					pr.markUnrun(ht, h)
				default:
					hosts = append(hosts, h)
				}
			}
			if len(hosts) == 0 {
				continue
			}
			in := pr.handlerInherit(pr.hRole[ht])
			for h := range pr.runTask(ctx, ht, hosts, in) {
				h.failed = true
			}
		}
	}
}

func (pr *playRun) markUnrun(ht *playbook.Task, h *hostState) {
	if pr.unrun[ht] == nil {
		pr.unrun[ht] = map[*hostState]bool{}
	}
	pr.unrun[ht][h] = true
}

// warnUnrunHandlers warns about the handlers the batch's hosts notified
// that did not run (the run was interrupted, or the host failed): what
// notified them changed, and a new run, finding nothing to change, would
// not notify them again.
func (pr *playRun) warnUnrunHandlers() {
	for ht, set := range pr.notify {
		for _, h := range pr.batch {
			if set[h] {
				pr.markUnrun(ht, h)
				delete(set, h)
			}
		}
		if len(set) == 0 {
			delete(pr.notify, ht)
		}
	}
	var lines []string
	for _, ht := range pr.handler {
		var names []string
		for _, h := range pr.batch {
			if pr.unrun[ht][h] {
				names = append(names, h.host.Name)
			}
		}
		if len(names) == 0 {
			continue
		}
		name := ht.Name
		if rr := pr.hRole[ht]; rr != nil && rr.Role != nil {
			name = rr.Role.Name + " : " + name
		}
		lines = append(lines, fmt.Sprintf("  %s [%s]", name, strings.Join(names, ", ")))
		delete(pr.unrun, ht)
	}
	if len(lines) > 0 {
		pr.r.emit(report.Event{Kind: report.Warning, Play: pr.play.Name, Msg: "handlers notified but not run (the run was interrupted, the host failed or meta: end_play ended the play):\n" +
			strings.Join(lines, "\n") + "\n  what notified them changed, so a new run may find nothing to change and not notify them again: do what they do by hand if needed" +
			" (--force-handlers runs them on hosts that failed)"})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
