package runner

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/report"
	"github.com/pgplay/pgplay/internal/transport"
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
	in       inherit
	hostvars map[string]any
	groups   map[string]any
	label    string // "role : name"
	files    fileCache
}

const noLogMsg = "the output has been hidden due to no_log: true"

// selected applies --tags / --skip-tags to a task's effective tags.
func (r *Runner) selected(tags []string) bool { return Selected(tags, r.opt.Tags, r.opt.SkipTags) }

// Selected says whether a task whose effective tags (play, role, block and
// its own) are tags runs under --tags only and --skip-tags skip, with
// Ansible's special tags always, never, tagged, untagged and all.
// `pgplay run --list-tasks` lists what a run would run with it.
func Selected(tags, only, skip []string) bool {
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

func (pr *playRun) runTask(ctx context.Context, t *playbook.Task, hosts []*hostState, in inherit) map[*hostState]bool {
	r := pr.r
	tags := append(append([]string(nil), in.tags...), t.Tags...)
	if !in.handler && !r.selected(tags) {
		return nil
	}
	if !in.handler && !r.reachedStart(t, in) {
		return nil
	}
	if _, ok := modules.Ability[modules.PlayAction](t.Module); ok {
		return pr.meta(ctx, t, hosts, in)
	}
	tc := &taskCtx{t: t, in: in}
	tc.hostvars, tc.groups = r.hostvarsSnapshot()
	name := t.Name
	if name == "" {
		name = t.Module
	}
	if strings.Contains(name, "{{") && len(hosts) > 0 {
		if s, err := r.eng.Render(t.Pos.String(), name, pr.vars(hosts[0], tc)); err == nil {
			name = s
		}
	}
	tc.label = name
	roleName := ""
	if in.role != nil {
		roleName = in.role.Name
	}
	kind := report.TaskStart
	if in.handler {
		kind = report.HandlerRun
	}
	if !in.handler {
		label := name
		if roleName != "" {
			label = roleName + " : " + name
		}
		if !r.stepAllows(label) {
			return nil
		}
	}
	r.emit(report.Event{Kind: kind, Play: pr.play.Name, Task: name, Role: roleName, Where: t.Pos.String()})

	runHosts := hosts
	if t.RunOnce || in.runOnce {
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

// meta handles `meta:` tasks (modules.MetaActions), which act on the
// play rather than on hosts.
func (pr *playRun) meta(ctx context.Context, t *playbook.Task, hosts []*hostState, in inherit) map[*hostState]bool {
	what, _ := t.Args["_raw"].(string)
	switch what {
	case "flush_handlers":
		pr.flushHandlers(ctx)
	case "noop":
	case "end_play":
		return pr.endPlay(t, hosts, in)
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
func (pr *playRun) endPlay(t *playbook.Task, hosts []*hostState, in inherit) map[*hostState]bool {
	conds := append(append([]string(nil), in.when...), t.When...)
	end := len(conds) == 0
	var failed map[*hostState]bool
	if !end {
		tc := &taskCtx{t: t, in: in, label: "meta: end_play"}
		tc.hostvars, tc.groups = pr.r.hostvarsSnapshot()
		for _, h := range hosts {
			ok, err := pr.when(conds, t, pr.vars(h, tc))
			if err != nil {
				if failed == nil {
					failed = map[*hostState]bool{}
				}
				ev := report.Event{Kind: report.HostResult, Play: pr.play.Name, Task: tc.label, Host: h.host.Name, Where: t.Pos.String()}
				pr.finish(h, ev, tc, failResult(err), t.NoLog || in.noLog, nil)
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
	vars := pr.vars(h, tc)
	noLog := t.NoLog || tc.in.noLog
	conds := append(append([]string(nil), tc.in.when...), t.When...)

	ev := report.Event{Kind: report.HostResult, Play: pr.play.Name, Task: tc.label, Host: h.host.Name, Where: t.Pos.String()}
	if tc.in.role != nil {
		ev.Role = tc.in.role.Name
	}

	if t.Loop == nil {
		ok, err := pr.when(conds, t, vars)
		if err != nil {
			return pr.finish(h, ev, tc, failResult(err), noLog, nil)
		}
		if !ok {
			res := &modules.Result{Skipped: true, Msg: "conditional result was false"}
			return pr.finish(h, ev, tc, res, noLog, nil)
		}
		res, unreachable := pr.execute(ctx, tc, h, vars)
		if unreachable {
			return pr.unreachable(h, ev, res.Msg)
		}
		return pr.finish(h, ev, tc, res, noLog, nil)
	}

	items, err := pr.loopItems(t, vars)
	if err != nil {
		return pr.finish(h, ev, tc, failResult(err), noLog, nil)
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
		ok, err := pr.when(conds, t, iv)
		var res *modules.Result
		switch {
		case err != nil:
			res = failResult(err)
		case !ok:
			res = &modules.Result{Skipped: true, Msg: "conditional result was false"}
		default:
			var unreachable bool
			res, unreachable = pr.execute(ctx, tc, h, iv)
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
		pr.emitResult(iev, res, noLog, t, tc)
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
	return pr.finish(h, ev, tc, agg, noLog, results)
}

func failResult(err error) *modules.Result {
	return &modules.Result{Failed: true, Msg: err.Error()}
}

func (pr *playRun) when(conds []string, t *playbook.Task, vars map[string]any) (bool, error) {
	for _, c := range conds {
		ok, err := pr.r.eng.Eval(taskWhere(t)+" when", c, vars)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func (pr *playRun) loopItems(t *playbook.Task, vars map[string]any) ([]any, error) {
	v, err := pr.r.eng.RenderValue(taskWhere(t)+" loop", t.Loop, vars)
	if err != nil {
		return nil, err
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
	return nil, fmt.Errorf("%s: loop: want a list, got %T (%v); hint: loop takes a YAML list or a template yielding one, e.g. loop: \"{{ .mylist }}\"", t.Pos, v, v)
}

// execute runs the module once (with until/retries), applying
// changed_when/failed_when. It reports unreachable separately.
func (pr *playRun) execute(ctx context.Context, tc *taskCtx, h *hostState, vars map[string]any) (*modules.Result, bool) {
	r := pr.r
	t := tc.t
	spec, ok := modules.Lookup(t.Module)
	if !ok {
		return failResult(fmt.Errorf("%s: unknown module %q; hint: `pgplay doc` lists the modules", t.Pos, t.Module)), false
	}
	where := taskWhere(t)
	changes := &changeLog{}
	target, err := pr.target(ctx, tc, h, vars, changes.record)
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
		Find: pr.finder(tc),
	}
	retries, delay := 0, time.Duration(0)
	if t.Until != "" {
		var err error
		if retries, delay, err = r.retryParams(t, h.host.Name, vars); err != nil {
			return failResult(err), false
		}
	}
	var res *modules.Result
	for attempt := 0; ; attempt++ {
		args, err := r.eng.RenderValue(where, map[string]any(t.Args), vars)
		if err != nil {
			return failResult(err), false
		}
		am, _ := args.(map[string]any)
		m := spec.New()
		if err := modules.Decode(spec, am, m); err != nil {
			return failResult(fmt.Errorf("%s: %w", where, err)), false
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
			return failResult(err), false
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
			for _, c := range t.FailedWhen {
				v, err := r.eng.Eval(where+" failed_when", c, cv)
				if err != nil {
					return failResult(err), false
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
			for _, c := range t.ChangedWhen {
				v, err := r.eng.Eval(where+" changed_when", c, cv)
				if err != nil {
					return failResult(err), false
				}
				ok = ok && v
			}
			res.Changed = ok
		}
	}
	return res, false
}

// retryParams returns a task's retries and delay on host: as written, or
// rendered from their templates with vars.
func (r *Runner) retryParams(t *playbook.Task, host string, vars map[string]any) (int, time.Duration, error) {
	retries, delay := t.Retries, t.Delay
	bad := func(key, expr string, v any, want, hint string) error {
		at := t.Pos
		if p, ok := t.KeyPos[key]; ok {
			at = p
		}
		return fmt.Errorf("%s: task %q: host %s: %s must be %s, not %q (rendered from %q); hint: %s",
			at, taskName(t), host, key, want, fmt.Sprint(v), expr, hint)
	}
	if t.RetriesExpr != "" {
		v, err := r.eng.RenderValue(taskWhere(t)+" retries", t.RetriesExpr, vars)
		if err != nil {
			return 0, 0, err
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
			return 0, 0, err
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
func (pr *playRun) finish(h *hostState, ev report.Event, tc *taskCtx, res *modules.Result, noLog bool, loopResults []any) hostOutcome {
	t := tc.t
	ignored := res.Failed && (t.IgnoreErrors || tc.in.ignoreErrors)
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
		render := func(s string) string {
			if !strings.Contains(s, "{{") {
				return s
			}
			out, err := pr.r.eng.Render(t.Pos.String(), s, pr.vars(h, tc))
			if err != nil {
				return s
			}
			return out
		}
		var names []string
		for _, n := range t.Notify {
			names = append(names, render(n))
		}
		if unknown := pr.notifyHandlers(h, names, render); len(unknown) > 0 {
			pr.r.emit(report.Event{Kind: report.Warning, Host: h.host.Name, Msg: fmt.Sprintf("%s: notify: no handler named %q in this play", t.Pos, unknown)})
		}
	}
	if loopResults == nil {
		pr.emitResult(ev, res, noLog, t, tc)
	} else if res.Failed && ignored {
		ev.Status = report.Failed
		ev.Ignored = true
		ev.Msg = res.Msg
		pr.r.emit(ev)
	}
	return hostOutcome{failed: res.Failed && !ignored, facts: factKeys}
}

func (pr *playRun) emitResult(ev report.Event, res *modules.Result, noLog bool, t *playbook.Task, tc *taskCtx) {
	switch {
	case res.Failed:
		ev.Status = report.Failed
		ev.Ignored = t.IgnoreErrors || tc.in.ignoreErrors
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
	h.unreachable = true
	h.mu.Unlock()
	ev.Status = report.Unreachable
	ev.Msg = msg
	pr.r.emit(ev)
	return hostOutcome{unreachable: true}
}

// target returns the Target a task runs through on host h (delegation,
// become and check mode applied). This is the one place where a task's
// check mode is decided: a check-mode task gets a check-mode Target,
// which passes the changes it does not make to record.
func (pr *playRun) target(ctx context.Context, tc *taskCtx, h *hostState, vars map[string]any, record func(transport.Change)) (transport.Target, error) {
	r := pr.r
	t := tc.t
	connVars := vars
	becomeVars := vars // as Ansible: a delegated task reads the delegate's become variables
	name := h.host.Name
	delegate := t.DelegateTo
	if delegate == "" {
		delegate = tc.in.delegateTo
	}
	if delegate != "" {
		d, err := r.eng.Render(t.Pos.String()+" delegate_to", delegate, vars)
		if err != nil {
			return nil, fmt.Errorf("delegate_to: %w", err)
		}
		name = d
		if dh, ok := r.opt.Inventory.Hosts[d]; ok {
			connVars, becomeVars = dh.Vars, dh.Vars
		} else if d == "localhost" || d == "127.0.0.1" {
			connVars = map[string]any{"connection": "local"}
			becomeVars = nil
		} else {
			return nil, fmt.Errorf("delegate_to: host %q is not in the inventory (hint: add it, or delegate to localhost)", d)
		}
	}
	cfg, err := r.connConfig(name, connVars)
	if err != nil {
		return nil, err
	}
	become := ""
	b := t.Become
	if b == nil {
		b = tc.in.become
	}
	user := t.BecomeUser
	if user == "" {
		user = tc.in.becomeUser
	}
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
	cm := t.CheckMode
	if cm == nil {
		cm = tc.in.checkMode
	}
	if cm != nil {
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
			if tc.in.role != nil {
				rn := tc.in.role.Name
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
