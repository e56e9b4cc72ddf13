package runner

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/report"
	"github.com/pgplay/pgplay/internal/transport"
	"github.com/pgplay/pgplay/internal/yamlsrc"
	"github.com/pgplay/pgplay/modules"
)

// hostOutcome is how a task ended on one host.
type hostOutcome struct {
	failed      bool // failed and not ignored
	unreachable bool
	facts       []string // the facts the task set (set_fact)
}

// taskCtx is what all hosts of one task share.
type taskCtx struct {
	t        *playbook.Task
	kw       inherit // t's keywords, inheritance applied (inherit.with)
	hostvars map[string]any
	groups   map[string]any
	label    string // the task's name, templates rendered (for the first host)
	role     string // the task's role, "" for none
	pos      string // t.Pos as text
	where    string // taskWhere(t): file:line:col and name, for messages
	files    fileCache

	// first is the first host's hostTask when the name, a template, was
	// rendered with its variables; resolve hands it over.
	first *hostTask
}

// hostTask is a task resolved for one host: its keywords with
// inheritance applied (taskCtx.kw) and the host's variables for it,
// built once. Everything that runs the task on the host (when, loop,
// execute, finish) and reports it reads this value. Keywords that may
// name the loop item (delegate_to, become_user, retries, delay) are rendered from it
// once per module run, by runKeywords.
type hostTask struct {
	*taskCtx
	h    *hostState
	vars map[string]any // never changed: loop items and results go on copies
}

// resolve returns task tc resolved for host h: the host's variables for
// it are built here, once per task and host.
func (pr *playRun) resolve(tc *taskCtx, h *hostState) *hostTask {
	if tc.first != nil && tc.first.h == h {
		return tc.first
	}
	return &hostTask{taskCtx: tc, h: h, vars: pr.vars(h, tc)}
}

// event is the host's result event for the task, before its outcome.
func (ht *hostTask) event(pr *playRun) report.Event {
	return report.Event{Kind: report.HostResult, Play: pr.play.Name, Task: ht.label, Role: ht.role, Host: ht.h.host.Name, Where: ht.pos}
}

const noLogMsg = "the output has been hidden due to no_log: true"

// selected says whether --tags / --skip-tags keep a task whose keywords,
// inheritance applied, are kw; a handler always runs when notified.
// PlanTasks asks the same.
func (kw inherit) selected(only, skip []string) bool {
	return kw.handler || tagsSelected(kw.tags, only, skip)
}

// tagsSelected says whether a task whose effective tags (play, role,
// block and its own) are tags runs under --tags only and --skip-tags
// skip, with Ansible's special tags always, never, tagged, untagged and
// all. A run asks it for every task (inherit.selected); PlanTasks lists
// what it keeps.
func tagsSelected(tags, only, skip []string) bool {
	has := func(list []string, s string) bool { return contains(list, s) }
	for _, s := range skip {
		if has(tags, s) || (s == "all") || (s == "tagged" && len(tags) > 0) || (s == "untagged" && len(tags) == 0) {
			return false
		}
	}
	if len(only) == 0 {
		return !has(tags, "never")
	}
	if has(tags, "always") {
		return true
	}
	for _, s := range only {
		switch {
		case s == "all" && !has(tags, "never"):
			return true
		case s == "tagged" && len(tags) > 0:
			return true
		case s == "untagged" && len(tags) == 0:
			return true
		case has(tags, s):
			return true
		}
	}
	return false
}

// runTask runs task t (not a block) on hosts; in is what its play, role
// and blocks give it. It returns the hosts on which it failed (not
// ignored) or that became unreachable.
func (pr *playRun) runTask(ctx context.Context, t *playbook.Task, hosts []*hostState, in inherit) map[*hostState]bool {
	r := pr.r
	kw := in.with(t)
	if !kw.selected(r.opt.Tags, r.opt.SkipTags) {
		return nil
	}
	if !kw.handler && !r.reachedStart(t, kw) {
		return nil
	}
	if _, ok := modules.Ability[modules.PlayAction](t.Module); ok {
		return pr.meta(ctx, t, hosts, kw)
	}
	tc := pr.newTaskCtx(t, kw)
	name := taskName(t)
	if strings.Contains(name, "{{") && len(hosts) > 0 {
		tc.first = pr.resolve(tc, hosts[0])
		if s, err := r.eng.Render(tc.pos, name, tc.first.vars); err == nil {
			name = s
		}
	}
	tc.label = name
	kind := report.TaskStart
	if kw.handler {
		kind = report.HandlerRun
	}
	if !kw.handler {
		label := name
		if tc.role != "" {
			label = tc.role + " : " + name
		}
		if !r.stepAllows(label) {
			return nil
		}
	}
	r.emit(report.Event{Kind: kind, Play: pr.play.Name, Task: name, Role: tc.role, Where: tc.pos})

	runHosts := hosts
	if kw.runOnce {
		runHosts = hosts[:1]
	}
	outs := make([]hostOutcome, len(runHosts))
	var wg sync.WaitGroup
	prog := newProgress()
	done := make(chan struct{})
	go pr.showProgress(tc, prog, done)
	var throttle chan struct{}
	if t.Throttle > 0 && t.Throttle < len(runHosts) {
		throttle = make(chan struct{}, t.Throttle)
	}
	for i, h := range runHosts {
		wg.Add(1)
		if throttle != nil {
			// taken here, in host order, and given back by the job
			throttle <- struct{}{}
		}
		r.forks.do(func() {
			defer wg.Done()
			if throttle != nil {
				defer func() { <-throttle }()
			}
			prog.start(h.host.Name)
			defer prog.end(h.host.Name)
			outs[i] = pr.runOnHost(ctx, tc, h)
		})
	}
	wg.Wait()
	close(done)
	failed := map[*hostState]bool{}
	for i, h := range runHosts {
		if outs[i].failed || outs[i].unreachable {
			failed[h] = true
		}
	}
	if len(runHosts) < len(hosts) {
		// run_once: the first host's result and facts apply to every host.
		first := runHosts[0]
		for _, h := range hosts[1:] {
			first.mu.Lock()
			keys := outs[0].facts
			if t.Register != "" {
				keys = append([]string{t.Register}, keys...)
			}
			var set []string
			h.mu.Lock()
			for _, k := range keys {
				if v, ok := first.vars[k]; ok {
					h.setVar(k, v)
					set = append(set, k)
				}
			}
			if len(set) > 0 {
				r.hostChanged(h, set, false)
			}
			h.mu.Unlock()
			first.mu.Unlock()
			if failed[first] {
				failed[h] = true
			}
		}
	}
	return failed
}

// newTaskCtx starts task t, whose keywords with inheritance applied are kw.
func (pr *playRun) newTaskCtx(t *playbook.Task, kw inherit) *taskCtx {
	tc := &taskCtx{t: t, kw: kw, label: taskName(t), pos: t.Pos.String(), where: taskWhere(t)}
	if kw.role != nil {
		tc.role = kw.role.Name
	}
	tc.hostvars, tc.groups = pr.r.hostvarsSnapshot()
	return tc
}

// meta handles `meta:` tasks (modules.MetaActions), which act on the
// play rather than on hosts; kw is the task's keywords.
func (pr *playRun) meta(ctx context.Context, t *playbook.Task, hosts []*hostState, kw inherit) map[*hostState]bool {
	what, _ := t.Args["_raw"].(string)
	switch what {
	case "flush_handlers":
		pr.flushHandlers(ctx)
	case "noop":
	case "end_play":
		return pr.endPlay(t, hosts, kw)
	default:
		// Prepare refuses any other action (checkArgs).
		pr.r.emit(report.Event{Kind: report.Warning, Msg: fmt.Sprintf("%s: meta %q is not supported (%s are)", t.Pos, what, strings.Join(modules.MetaActions, ", "))})
	}
	return nil
}

// endPlay ends the play for all its hosts (as Ansible's) when its `when`
// (with the enclosing blocks' and role's) holds on any of hosts: no more
// tasks, handlers or batches of this play run; the hosts have not failed
// and run the later plays. A host whose condition cannot be evaluated
// fails.
func (pr *playRun) endPlay(t *playbook.Task, hosts []*hostState, kw inherit) map[*hostState]bool {
	end := len(kw.when) == 0
	var failed map[*hostState]bool
	if !end {
		tc := pr.newTaskCtx(t, kw)
		tc.label, tc.role = "meta: end_play", ""
		for _, h := range hosts {
			ht := pr.resolve(tc, h)
			ok, err := pr.when(ht, ht.vars)
			if err != nil {
				if failed == nil {
					failed = map[*hostState]bool{}
				}
				pr.finish(ht, ht.event(pr), failResult(err), nil)
				failed[h] = true
				continue
			}
			end = end || ok
		}
	}
	if end {
		pr.ended = true
		pr.r.emit(report.Event{Kind: report.Progress, Play: pr.play.Name, Msg: "meta: end_play at " + t.Pos.String() + ": the play ends for all its hosts"})
	}
	return failed
}

// runOnHost runs one task (all its loop items) on one host.
func (pr *playRun) runOnHost(ctx context.Context, tc *taskCtx, h *hostState) hostOutcome {
	t := tc.t
	ht := pr.resolve(tc, h)
	vars := ht.vars
	ev := ht.event(pr)

	if t.Loop == nil {
		ok, err := pr.when(ht, vars)
		if err != nil {
			return pr.finish(ht, ev, failResult(err), nil)
		}
		if !ok {
			res := &modules.Result{Skipped: true, Msg: "conditional result was false"}
			return pr.finish(ht, ev, res, nil)
		}
		res, unreachable := pr.execute(ctx, ht, vars)
		if unreachable {
			return pr.unreachable(h, ev, res.Msg)
		}
		return pr.finish(ht, ev, res, nil)
	}

	items, err := pr.loopItems(ht, vars)
	if err != nil {
		return pr.finish(ht, ev, failResult(err), nil)
	}
	loopVar := t.LoopVar
	if loopVar == "" {
		loopVar = "item"
	}
	var results []any
	agg := &modules.Result{Skipped: len(items) > 0}
	for _, item := range items {
		if pr.r.stopped() {
			break
		}
		iv := maps.Clone(vars)
		iv[loopVar] = item
		ok, err := pr.when(ht, iv)
		var res *modules.Result
		switch {
		case err != nil:
			res = failResult(err)
		case !ok:
			res = &modules.Result{Skipped: true, Msg: "conditional result was false"}
		default:
			var unreachable bool
			res, unreachable = pr.execute(ctx, ht, iv)
			if unreachable {
				return pr.unreachable(h, ev, res.Msg)
			}
		}
		m := resultMap(res)
		m[loopVar] = item
		m["item"] = item
		results = append(results, m)
		iev := ev
		iev.Item, iev.HasItem = item, true
		pr.emitResult(ht, iev, res)
		agg.Changed = agg.Changed || res.Changed
		agg.Failed = agg.Failed || res.Failed
		agg.Skipped = agg.Skipped && res.Skipped
		if res.Failed && agg.Msg == "" {
			agg.Msg = "one or more items failed"
		}
	}
	if len(items) == 0 {
		agg.Skipped = true
		agg.Msg = "no items in the loop"
	}
	return pr.finish(ht, ev, agg, results)
}

func failResult(err error) *modules.Result {
	return &modules.Result{Failed: true, Msg: err.Error()}
}

// when evaluates the task's conditions (its own and those it inherits)
// with vars: the host's, or a loop item's.
func (pr *playRun) when(ht *hostTask, vars map[string]any) (bool, error) {
	for _, c := range ht.kw.when {
		ok, err := pr.r.eng.Eval(ht.where+" when", c.expr, vars)
		if err != nil {
			return false, atKeyword(ht.t, "when", c.at, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func (pr *playRun) loopItems(ht *hostTask, vars map[string]any) ([]any, error) {
	t := ht.t
	key := loopKey(t)
	v, err := pr.r.eng.RenderValue(ht.where+" loop", t.Loop, vars)
	if err != nil {
		return nil, atOwnKeyword(t, key, err)
	}
	switch x := v.(type) {
	case []any:
		return x, nil
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, nil
	case nil:
		return nil, nil
	case string:
		if strings.TrimSpace(x) == "" {
			return nil, nil
		}
	}
	return nil, &yamlsrc.Error{Pos: keywordPos(t, key), Msg: fmt.Sprintf("task %q (%s): want a list, got %T (%v)", taskName(t), key, v, v),
		Hint: `loop takes a YAML list or a template yielding one, e.g. loop: "{{ .mylist }}"`}
}

// loopKey is the keyword task t's loop was written with: loop or
// with_items.
func loopKey(t *playbook.Task) string {
	if _, ok := t.KeyPos["with_items"]; ok {
		return "with_items"
	}
	return "loop"
}

// execute runs the module once (with until/retries) with vars (the
// host's, or a loop item's), applying changed_when/failed_when. It
// reports unreachable separately.
func (pr *playRun) execute(ctx context.Context, ht *hostTask, vars map[string]any) (*modules.Result, bool) {
	r := pr.r
	t, h := ht.t, ht.h
	spec, ok := modules.Lookup(t.Module)
	if !ok {
		return failResult(fmt.Errorf("%s: unknown module %q; hint: `pgplay doc` lists the modules", t.Pos, t.Module)), false
	}
	where := ht.where
	rk, err := pr.runKeywords(ht, vars)
	if err != nil {
		return failResult(err), false
	}
	changes := &changeLog{}
	target, err := pr.target(ctx, ht, vars, rk, changes.record)
	if err != nil {
		if isUnreachable(err) {
			return failResult(err), true
		}
		return failResult(fmt.Errorf("%s: %w", where, err)), false
	}
	env := &modules.Env{
		Host: h.host.Name,
		Vars: vars,
		Diff: r.opt.Diff,
		Render: func(name, text string) (string, error) {
			return r.eng.Render(name, text, vars)
		},
		Eval: func(expr string) (bool, error) {
			return r.eng.Eval(where, expr, vars)
		},
		Find: pr.finder(ht.taskCtx),
	}
	retries, delay := rk.retries, rk.delay
	var res *modules.Result
	for attempt := 0; ; attempt++ {
		args, err := r.eng.RenderValue(where, map[string]any(t.Args), vars)
		if err != nil {
			return failResult(atArgument(t, err)), false
		}
		am, _ := args.(map[string]any)
		m := spec.New()
		if err := modules.Decode(spec, am, m); err != nil {
			return failResult(argError(t, err)), false
		}
		changes.take() // those of an earlier attempt
		res, err = m.Run(ctx, target, env)
		if err != nil {
			if isUnreachable(err) {
				return failResult(fmt.Errorf("%s: %w", h.host.Name, err)), true
			}
			res = failResult(err)
		}
		if res == nil {
			res = &modules.Result{}
		}
		res.Changes = changes.take()
		if t.Until == "" {
			break
		}
		uv := withResult(vars, t.Register, res)
		done, err := r.eng.Eval(where+" until", t.Until, uv)
		if err != nil {
			return failResult(atOwnKeyword(t, "until", err)), false
		}
		if done {
			res.Failed = false
			break
		}
		if attempt >= retries {
			res.Failed = true
			if res.Msg == "" || !strings.HasPrefix(res.Msg, "retries") {
				res.Msg = fmt.Sprintf("retries exhausted (%d) waiting for until: %s; last: %s", retries, t.Until, res.Msg)
			}
			break
		}
		select {
		case <-ctx.Done():
			return failResult(ctx.Err()), false
		case <-r.stop.Done():
			return failResult(fmt.Errorf("%s: interrupted while waiting for until: %s", where, t.Until)), false
		case <-time.After(delay):
		}
	}
	if t.ChangedWhen != nil || t.FailedWhen != nil {
		// As Ansible: failed_when decides failure, changed_when decides
		// change, each from the module's own result.
		cv := withResult(vars, t.Register, res)
		if t.FailedWhen != nil {
			ok := true
			for i, c := range t.FailedWhen {
				v, err := r.eng.Eval(where+" failed_when", c, cv)
				if err != nil {
					return failResult(atKeyword(t, "failed_when", keywordPos(t, "failed_when["+strconv.Itoa(i)+"]"), err)), false
				}
				ok = ok && v
			}
			res.Failed = ok
			if ok && res.Msg == "" {
				res.Msg = "failed_when condition held"
			}
		}
		if t.ChangedWhen != nil {
			ok := true
			for i, c := range t.ChangedWhen {
				v, err := r.eng.Eval(where+" changed_when", c, cv)
				if err != nil {
					return failResult(atKeyword(t, "changed_when", keywordPos(t, "changed_when["+strconv.Itoa(i)+"]"), err)), false
				}
				ok = ok && v
			}
			res.Changed = ok
		}
	}
	return res, false
}

// runKeywords are the keywords of a task on one host that are rendered
// for each module run: they may name the loop item.
type runKeywords struct {
	delegateTo string // rendered; "" = not delegated
	becomeUser string // rendered
	retries    int    // under until
	delay      time.Duration
}

// runKeywords renders the keywords of ht that may hold templates naming
// the loop item (delegate_to, become_user, retries, delay) with vars (the host's, or
// a loop item's). It is called once per module run, after when held and
// before anything is done on the host; a keyword that fails is reported
// where its value was written (atKeyword), as is a delegate_to host that
// is not in the inventory.
func (pr *playRun) runKeywords(ht *hostTask, vars map[string]any) (runKeywords, error) {
	var rk runKeywords
	t := ht.t
	if d := ht.kw.delegateTo; d != "" {
		s, err := pr.r.eng.Render(ht.pos+" delegate_to", d, vars)
		if err != nil {
			return rk, atKeyword(t, "delegate_to", ht.kw.delegateToAt, err)
		}
		if err := pr.r.delegateKnown(t, s, d, ht.kw.delegateToAt); err != nil {
			return rk, err
		}
		rk.delegateTo = s
	}
	rk.becomeUser = ht.kw.becomeUser
	if strings.Contains(rk.becomeUser, "{{") {
		s, err := pr.r.eng.Render(ht.pos+" become_user", rk.becomeUser, vars)
		if err != nil {
			return rk, atKeyword(t, "become_user", ht.kw.becomeUserAt, err)
		}
		rk.becomeUser = s
	}
	if t.Until != "" {
		var err error
		if rk.retries, rk.delay, err = pr.r.retryParams(t, ht.h.host.Name, vars); err != nil {
			return rk, err
		}
	}
	return rk, nil
}

// delegateKnown checks that host, task t's delegate_to (rendered from
// expr, written at at), is one the task can run on: an inventory host or
// the controller (localhost, 127.0.0.1).
func (r *Runner) delegateKnown(t *playbook.Task, host, expr string, at yamlsrc.Pos) error {
	if _, ok := r.opt.Inventory.Hosts[host]; ok || host == "localhost" || host == "127.0.0.1" {
		return nil
	}
	if at == (yamlsrc.Pos{}) {
		at = t.Pos
	}
	what := fmt.Sprintf("host %q", host)
	if expr != host {
		what += fmt.Sprintf(" (rendered from %q)", expr)
	}
	return &yamlsrc.Error{Pos: at, Msg: fmt.Sprintf("task %q (delegate_to): %s is not in the inventory", taskName(t), what),
		Hint: yamlsrc.DidYouMean(host, slices.Collect(maps.Keys(r.opt.Inventory.Hosts))) + "add it to the inventory, or delegate to localhost"}
}

// retryParams returns a task's retries and delay on host: as written, or
// rendered from their templates with vars.
func (r *Runner) retryParams(t *playbook.Task, host string, vars map[string]any) (int, time.Duration, error) {
	retries, delay := t.Retries, t.Delay
	bad := func(key, expr string, v any, want, hint string) error {
		at := keywordPos(t, key)
		return fmt.Errorf("%s: task %q: host %s: %s must be %s, not %q (rendered from %q); hint: %s",
			at, taskName(t), host, key, want, fmt.Sprint(v), expr, hint)
	}
	if t.RetriesExpr != "" {
		v, err := r.eng.RenderValue(taskWhere(t)+" retries", t.RetriesExpr, vars)
		if err != nil {
			return 0, 0, atOwnKeyword(t, "retries", err)
		}
		n, ok := retriesOf(v)
		if !ok {
			return 0, 0, bad("retries", t.RetriesExpr, v, "a non-negative whole number",
				"the template must give a count such as 3 (an int, or a string of digits)")
		}
		retries = n
	}
	if t.DelayExpr != "" {
		v, err := r.eng.RenderValue(taskWhere(t)+" delay", t.DelayExpr, vars)
		if err != nil {
			return 0, 0, atOwnKeyword(t, "delay", err)
		}
		d, ok := delayOf(v)
		if !ok {
			return 0, 0, bad("delay", t.DelayExpr, v, "a duration",
				`the template must give seconds (5, 1.5) or a duration ("500ms", "2m")`)
		}
		delay = d
	}
	return retries, delay, nil
}

// retriesOf reads a rendered retries value.
func retriesOf(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, x >= 0
	case float64:
		return int(x), x >= 0 && x == float64(int(x))
	case string:
		return playbook.ParseRetries(x)
	}
	return 0, false
}

// delayOf reads a rendered delay value: seconds or a duration string.
func delayOf(v any) (time.Duration, bool) {
	switch x := v.(type) {
	case int:
		return time.Duration(x) * time.Second, x >= 0
	case float64:
		return time.Duration(x * float64(time.Second)), x >= 0
	case string:
		return playbook.ParseDelay(x)
	}
	return 0, false
}

func withResult(vars map[string]any, register string, res *modules.Result) map[string]any {
	out := maps.Clone(vars)
	if register != "" {
		out[register] = resultMap(res)
	}
	return out
}

// resultMap is the registered form of a result.
func resultMap(res *modules.Result) map[string]any {
	m := map[string]any{
		"changed": res.Changed,
		"failed":  res.Failed,
		"skipped": res.Skipped,
		"msg":     res.Msg,
	}
	if res.HasRC {
		m["rc"] = res.RC
		m["stdout"] = res.Stdout
		m["stderr"] = res.Stderr
		m["stdout_lines"] = lines(res.Stdout)
		m["stderr_lines"] = lines(res.Stderr)
	}
	for k, v := range res.Data {
		m[k] = v
	}
	return m
}

func lines(s string) []any {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return []any{}
	}
	parts := strings.Split(s, "\n")
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out
}

// finish registers, notifies, counts and reports a host's task result.
func (pr *playRun) finish(ht *hostTask, ev report.Event, res *modules.Result, loopResults []any) hostOutcome {
	t, h := ht.t, ht.h
	ignored := res.Failed && ht.kw.ignoreErrors
	reg := resultMap(res)
	if loopResults != nil {
		reg["results"] = loopResults
	}
	h.mu.Lock()
	var changed []string
	if t.Register != "" {
		h.setVar(t.Register, reg)
		changed = append(changed, t.Register)
	}
	newFacts := false
	if fg, ok := modules.Ability[modules.FactGatherer](t.Module); ok && !res.Failed {
		if f := fg.HostFacts(res); f != nil {
			h.setFacts(f)
			newFacts = true
		}
	}
	var factKeys []string
	if !res.Failed {
		for k, v := range res.Facts {
			h.setVar(k, v)
			changed = append(changed, k)
			factKeys = append(factKeys, k)
			if pr.r.isSecretName(k) {
				pr.r.addSecretValue(v)
			}
		}
	}
	if len(changed) > 0 || newFacts {
		pr.r.hostChanged(h, changed, newFacts)
	}
	if res.Failed || res.Changed {
		pr.r.changes.Add(1)
	}
	switch {
	case res.Failed && !ignored:
		h.stats.Failed++
	case ignored:
		h.stats.Ignored++
		if res.Changed {
			h.stats.IgnoredChanged++
		}
	case res.Skipped:
		h.stats.Skipped++
	case res.Changed:
		h.stats.Changed++
	default:
		h.stats.OK++
	}
	h.mu.Unlock()
	if res.Changed && !res.Failed && len(t.Notify) > 0 {
		var nv map[string]any
		renderErr := func(s string) (string, error) {
			if !strings.Contains(s, "{{") {
				return s, nil
			}
			if nv == nil {
				nv = pr.notifyVars(ht, reg, res)
			}
			return pr.r.eng.Render(ht.pos, s, nv)
		}
		render := func(s string) string { // a handler's name: as written if it fails
			if out, err := renderErr(s); err == nil {
				return out
			}
			return s
		}
		var names []string
		for i, n := range t.Notify {
			out, err := renderErr(n)
			if err != nil {
				// The task has run: the host goes on, this handler not
				// notified.
				err = atKeyword(t, "notify", keywordPos(t, "notify["+strconv.Itoa(i)+"]"), err)
				pr.r.emit(report.Event{Kind: report.Warning, Host: h.host.Name, Msg: err.Error()})
				continue
			}
			names = append(names, out)
		}
		if unknown := pr.notifyHandlers(h, names, render); len(unknown) > 0 {
			pr.r.emit(report.Event{Kind: report.Warning, Host: h.host.Name, Msg: fmt.Sprintf("%s: notify: no handler named %q in this play", keywordPos(t, "notify"), unknown)})
		}
	}
	if loopResults == nil {
		pr.emitResult(ht, ev, res)
	} else if res.Failed && ignored {
		ev.Status = report.Failed
		ev.Ignored = true
		ev.Msg = res.Msg
		pr.r.emit(ev)
	}
	return hostOutcome{failed: res.Failed && !ignored, facts: factKeys}
}

// notifyVars are the variables notify's templates see on ht's host: the
// host's for the task with what the task registered (reg) and set (its
// facts) on top, as the next task will see them (extra vars still win).
func (pr *playRun) notifyVars(ht *hostTask, reg map[string]any, res *modules.Result) map[string]any {
	set := map[string]any{}
	if ht.t.Register != "" {
		set[ht.t.Register] = reg
	}
	if !res.Failed {
		maps.Copy(set, res.Facts)
	}
	if len(set) == 0 {
		return ht.vars
	}
	v := maps.Clone(ht.vars)
	for k, x := range set {
		if _, extra := pr.r.opt.ExtraVars[k]; !extra {
			v[k] = x
		}
	}
	return v
}

// emitResult reports a host's (or a loop item's) result of the task.
func (pr *playRun) emitResult(ht *hostTask, ev report.Event, res *modules.Result) {
	t, noLog := ht.t, ht.kw.noLog
	switch {
	case res.Failed:
		ev.Status = report.Failed
		ev.Ignored = ht.kw.ignoreErrors
	case res.Skipped:
		ev.Status = report.Skipped
	case res.Changed:
		ev.Status = report.Changed
	default:
		ev.Status = report.OK
	}
	ev.Msg = res.Msg
	_, ev.ShowMsg = modules.Ability[modules.MsgShower](t.Module)
	if ev.Status == report.Skipped {
		ev.Msg = ""
	}
	ev.Result = resultMap(res)
	// What a check-mode Target did not do; reported, not registered.
	ev.CheckChanges = checkChanges(res, noLog)
	if pr.r.opt.Diff && !noLog {
		for _, d := range res.Diffs {
			ev.Diffs = append(ev.Diffs, report.Diff(d))
		}
	}
	if noLog {
		ev.Result = map[string]any{"censored": noLogMsg, "changed": res.Changed, "failed": res.Failed}
		ev.Msg = ""
		if res.Failed {
			ev.Msg = noLogMsg
		}
		ev.ShowMsg = false
		if ev.HasItem {
			ev.Item = "(censored due to no_log)"
		}
	}
	pr.r.emit(ev)
}

func (pr *playRun) unreachable(h *hostState, ev report.Event, msg string) hostOutcome {
	h.mu.Lock()
	h.stats.Unreachable++
	pr.r.changes.Add(1)
	h.unreachable = true
	h.mu.Unlock()
	ev.Status = report.Unreachable
	ev.Msg = msg
	pr.r.emit(ev)
	return hostOutcome{unreachable: true}
}

// target returns the Target task ht runs through (delegation, as rk
// says, become and check mode applied; vars are the host's or a loop
// item's, for the connection and become variables). This is the one
// place where a task's check mode is decided: a check-mode task gets a
// check-mode Target, which passes the changes it does not make to record.
func (pr *playRun) target(ctx context.Context, ht *hostTask, vars map[string]any, rk runKeywords, record func(transport.Change)) (transport.Target, error) {
	r := pr.r
	connVars := vars
	becomeVars := vars // as Ansible: a delegated task reads the delegate's become variables
	name := ht.h.host.Name
	if d := rk.delegateTo; d != "" {
		name = d
		if dh, ok := r.opt.Inventory.Hosts[d]; ok {
			connVars, becomeVars = dh.Vars, dh.Vars
		} else {
			// localhost or 127.0.0.1: runKeywords refused any other
			// name (delegateKnown).
			connVars = map[string]any{"connection": "local"}
			becomeVars = nil
		}
	}
	cfg, err := r.connConfig(name, connVars)
	if err != nil {
		return nil, err
	}
	become := ""
	b, user := ht.kw.become, rk.becomeUser
	// As in Ansible, the become variables (usually from the inventory)
	// win over the become keywords of the play, role, block and task.
	if v, ok := becomeVars["ansible_become"]; ok {
		on, valid := inventory.AnsibleBool(v)
		if !valid {
			return nil, fmt.Errorf("ansible_become %q is not a boolean (hint: true or false)", fmt.Sprint(v))
		}
		b = &on
	}
	if v, ok := becomeVars["ansible_become_user"]; ok && fmt.Sprint(v) != "" {
		user = fmt.Sprint(v)
	}
	if v, ok := becomeVars["ansible_become_method"]; ok && fmt.Sprint(v) != "sudo" {
		return nil, fmt.Errorf("ansible_become_method %q is not supported (hint: pgplay becomes with sudo only)", fmt.Sprint(v))
	}
	if b != nil && *b {
		become = user
		if become == "" {
			become = "root"
		}
	}
	tg, err := r.pool.Target(ctx, cfg, become)
	if err != nil {
		return nil, err
	}
	check := r.opt.Check
	if cm := ht.kw.checkMode; cm != nil {
		check = *cm
	}
	if check {
		// In a check run the host's simulated file changes last the run,
		// so later tasks see them; a check_mode: true task of a real run
		// sees only its own.
		var ov *transport.Overlay
		if r.opt.Check {
			ov = r.overlays.host(name)
		}
		tg = transport.NewCheckTargetWith(tg, record, ov)
	}
	return tg, nil
}

// changeLog collects the changes a check-mode Target recorded during one
// module run.
type changeLog struct {
	mu sync.Mutex
	l  []transport.Change
}

func (c *changeLog) record(ch transport.Change) {
	c.mu.Lock()
	c.l = append(c.l, ch)
	c.mu.Unlock()
}

// take returns the changes recorded so far and forgets them.
func (c *changeLog) take() []transport.Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.l
	c.l = nil
	return l
}

// checkChanges is the reported form of the changes a check-mode Target
// recorded: a write says how many lines it would add and remove when the
// module's diff of that file tells. For a no_log task it says only that
// something would change: paths, commands and sizes may give secrets
// away.
func checkChanges(res *modules.Result, noLog bool) []report.Change {
	if len(res.Changes) == 0 {
		return nil
	}
	if noLog {
		return []report.Change{{Op: report.Censored}}
	}
	out := make([]report.Change, 0, len(res.Changes))
	for _, c := range res.Changes {
		rc := report.Change{Op: c.Op, Path: c.Path, Argv: c.Argv, Detail: c.Detail}
		if c.Op == "write" {
			if lines := linesChanged(res.Diffs, c.Path); lines != "" {
				rc.Detail = strings.TrimSuffix(lines+", "+rc.Detail, ", ")
			}
		}
		out = append(out, rc)
	}
	return out
}

// linesChanged says how many lines the diff of path adds and removes
// ("+3 -1 lines"), "" when no diff of path is among ds.
func linesChanged(ds []modules.Diff, path string) string {
	for _, d := range ds {
		if d.Path != path {
			continue
		}
		add, del := report.DiffStat(d.Before, d.After)
		if add == 0 && del == 0 {
			return ""
		}
		return fmt.Sprintf("+%d -%d lines", add, del)
	}
	return ""
}

// fileCache holds the files a task looked up, so that its hosts read each
// file once. It lasts one task, not the run: an earlier task may have
// written the file on the controller.
type fileCache struct {
	mu sync.Mutex
	m  map[string]*foundFile
}

type foundFile struct {
	once sync.Once
	data []byte
	path string
	err  error
}

// get returns the file named key, calling load the first time.
func (c *fileCache) get(key string, load func() ([]byte, string, error)) ([]byte, string, error) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*foundFile{}
	}
	f := c.m[key]
	if f == nil {
		f = &foundFile{}
		c.m[key] = f
	}
	c.mu.Unlock()
	f.once.Do(func() { f.data, f.path, f.err = load() })
	return f.data, f.path, f.err
}

// finder looks content up for a task: the role's templates/NAME or files/NAME
// dirs, then the role's own dir, then the top-level dir. The task's hosts
// share what it finds (the data must not be changed).
func (pr *playRun) finder(tc *taskCtx) func(kind, name string) ([]byte, string, error) {
	find := pr.findFile(tc)
	return func(kind, name string) ([]byte, string, error) {
		return tc.files.get(kind+"\x00"+name, func() ([]byte, string, error) { return find(kind, name) })
	}
}

// findFile is finder without the cache.
func (pr *playRun) findFile(tc *taskCtx) func(kind, name string) ([]byte, string, error) {
	src := pr.r.opt.Source
	return func(kind, name string) ([]byte, string, error) {
		var cands []string
		if strings.HasPrefix(name, "/") {
			cands = []string{name}
		} else {
			if tc.kw.role != nil {
				rn := tc.kw.role.Name
				cands = append(cands, kind+"/"+rn+"/"+name, "roles/"+rn+"/"+kind+"/"+name)
			}
			cands = append(cands, kind+"/"+name, name)
		}
		var firstErr error
		for _, c := range cands {
			b, f, err := src.ReadFile(c)
			if err == nil {
				return b, f.Path, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		return nil, "", fmt.Errorf("%s %q not found (looked for %s on disk and in the binary)", strings.TrimSuffix(kind, "s"), name, strings.Join(cands, ", "))
	}
}

// taskWhere names a task for messages: file:line:col and its name (or module).
func taskWhere(t *playbook.Task) string {
	name := t.Name
	if name == "" {
		name = t.Module
	}
	return fmt.Sprintf("%s: task %q", t.Pos, name)
}

// progress tracks which hosts are still working on a task.
type progress struct {
	mu      sync.Mutex
	running map[string]bool
	since   time.Time
}

func newProgress() *progress { return &progress{running: map[string]bool{}, since: time.Now()} }

func (p *progress) start(h string) { p.mu.Lock(); p.running[h] = true; p.mu.Unlock() }
func (p *progress) end(h string)   { p.mu.Lock(); delete(p.running, h); p.mu.Unlock() }

func (p *progress) hosts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.running))
	for h := range p.running {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// showProgress reports, every ProgressEvery, the hosts still running a
// long task, until done is closed.
func (pr *playRun) showProgress(tc *taskCtx, p *progress, done <-chan struct{}) {
	every := pr.r.opt.ProgressEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			hosts := p.hosts()
			if len(hosts) == 0 {
				continue
			}
			pr.r.emit(report.Event{Kind: report.Progress, Play: pr.play.Name, Task: tc.label, Hosts: hosts,
				Msg: fmt.Sprintf("  ... still running %q on %s (%ds)", tc.label, strings.Join(hosts, ", "), int(time.Since(p.since).Seconds()))})
		}
	}
}
