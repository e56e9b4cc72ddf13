package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/report"
	"github.com/pgplay/pgplay/internal/tmpl"
	"github.com/pgplay/pgplay/internal/transport"
	"github.com/pgplay/pgplay/internal/yamlsrc"
	"github.com/pgplay/pgplay/modules"
)

// staticKey names the variables of a play that do not change from task to
// task on one host: they depend on the host and on the task's role (its
// defaults are on top of the other roles').
type staticKey struct {
	h    *hostState
	role *playbook.Role // nil for tasks outside roles
}

// staticVars are levels 1-6 and 8-10 of docs/variables.md merged for a
// play, a host and a role: role defaults (the role's own on top),
// inventory, play vars, vars files and role vars (the role's own on top).
// Never changed once built.
type staticVars struct {
	vars      map[string]any
	templated []string // keys whose values hold templates
	factsSet  bool     // play vars or vars files define "facts", hiding the host's
}

// staticFor returns (building it on first use) the static variables of
// host h for tasks of role (nil: not in a role).
func (pr *playRun) staticFor(h *hostState, role *playbook.Role) *staticVars {
	key := staticKey{h: h, role: role}
	pr.staticMu.Lock()
	defer pr.staticMu.Unlock()
	if sv, ok := pr.static[key]; ok {
		return sv
	}
	var own, ownVars map[string]any
	if role != nil {
		own, ownVars = role.Defaults, role.Vars
	}
	p := pr.play
	v := make(map[string]any, len(pr.rolesDefaults)+len(own)+len(h.host.Vars)+len(p.Vars)+len(p.VarsFromFiles)+len(pr.rolesVars)+16)
	for _, m := range []map[string]any{pr.rolesDefaults, own, h.host.Vars, p.Vars, p.VarsFromFiles, pr.rolesVars, ownVars} {
		for k, x := range m {
			v[k] = x
		}
	}
	sv := &staticVars{vars: v}
	_, inPlay := p.Vars["facts"]
	_, inFiles := p.VarsFromFiles["facts"]
	_, inRoles := pr.rolesVars["facts"]
	_, inOwn := ownVars["facts"]
	sv.factsSet = inPlay || inFiles || inRoles || inOwn
	for k, x := range v {
		if hasTemplate(x) {
			sv.templated = append(sv.templated, k)
		}
	}
	pr.static[key] = sv
	return sv
}

// vars builds the variables a task sees on host h, lowest precedence first:
// role defaults, inventory (all < groups < host), facts, play vars,
// vars_files, role vars, role params, block vars, task vars, registered results and
// set_fact, extra vars. Magic variables come last. resolve calls it once
// per task and host; the block and task vars are tc.kw.vars.
//
// The levels that are the same for every task of the play on h (role
// defaults to vars files, less facts) are merged once (staticFor); each
// task starts from a copy and puts the others on top.
func (pr *playRun) vars(h *hostState, tc *taskCtx) map[string]any {
	r := pr.r
	var role *playbook.Role
	if tc.kw.role != nil {
		role = tc.kw.role.Role
	}
	sv := pr.staticFor(h, role)
	v := maps.Clone(sv.vars)
	// Keys that may hold templates, for renderVars: a superset is fine.
	cand := make([]string, 0, len(sv.templated)+8)
	cand = append(cand, sv.templated...)
	put := func(m map[string]any) {
		for k, x := range m {
			v[k] = x
			if hasTemplate(x) {
				cand = append(cand, k)
			}
		}
	}
	h.mu.Lock()
	if !sv.factsSet {
		// Facts sit between the inventory and play vars.
		v["facts"] = h.facts
		if h.factsTmpl {
			cand = append(cand, "facts")
		}
	}
	h.mu.Unlock()
	if tc.kw.role != nil {
		put(tc.kw.role.Params)
	}
	for _, bv := range tc.kw.vars { // blocks' vars, then the task's
		put(bv)
	}
	h.mu.Lock()
	for k, x := range h.vars {
		v[k] = x
	}
	for k := range h.tmplKeys {
		cand = append(cand, k)
	}
	h.mu.Unlock()
	for k, x := range r.opt.ExtraVars {
		v[k] = x
	}
	cand = append(cand, r.extraTmpl...)

	v["inventory_hostname"] = h.host.Name
	v["inventory_hostname_short"] = h.shortName
	v["hostvars"] = tc.hostvars
	v["groups"] = tc.groups
	v["group_names"] = h.groupNames
	v["play_hosts"] = pr.playHosts
	v["check_mode"] = r.opt.Check
	v["pgplay_run_changes"] = int(r.changes.Load())
	v["diff_mode"] = r.opt.Diff
	if tc.kw.role != nil {
		v["role_name"] = tc.kw.role.Name
	}
	if pr.playbookDir != "" {
		v["playbook_dir"] = pr.playbookDir
	}
	r.renderVars(v, cand)
	return v
}

// renderVars renders variables whose values hold templates, in a few passes so
// that variables may refer to other variables. A value that cannot be
// rendered yet (it refers to something undefined) is left as written. keys
// are the variables that may hold templates (others are not looked at).
//
// A value that reads a variable still holding a template waits for it:
// rendered first, it would read that template's text (a role default
// `b: '{{ without .list (toString .a) }}'` with a play var
// `a: "{{ .c }}"` came out either way, by map order). When nothing can
// go on that way (a cycle, or a variable that cannot be rendered), the
// waiting values are rendered as they are, as before.
func (r *Runner) renderVars(v map[string]any, keys []string) {
	strict := true
	for pass := 0; pass < 16; pass++ {
		progress, left, waited := false, 0, 0
		pending := map[string]bool{}
		for _, k := range keys {
			if k != "hostvars" && k != "groups" && hasTemplate(v[k]) {
				pending[k] = true
			}
		}
		for _, k := range keys {
			x := v[k]
			if k == "hostvars" || k == "groups" || !hasTemplate(x) {
				continue
			}
			if strict && r.readsPending(x, k, pending) {
				left++
				waited++
				continue
			}
			out, err := r.eng.RenderValue("variable "+k, x, v)
			if err != nil {
				left++
				continue
			}
			if hasTemplate(out) {
				// It rendered to another template (a chain a -> b -> c):
				// go round again.
				left++
			} else {
				delete(pending, k)
			}
			if r.isSecretName(k) {
				r.addSecretValue(out)
			}
			if !equalValue(out, x) {
				v[k] = out
				progress = true
			}
		}
		if left == 0 {
			return
		}
		if !progress {
			if !strict || waited == 0 {
				return
			}
			strict = false
		}
	}
}

// readsPending reports whether a template in x (a string, or inside a
// list or map) reads a variable of pending other than self.
func (r *Runner) readsPending(x any, self string, pending map[string]bool) bool {
	switch y := x.(type) {
	case string:
		for _, n := range r.eng.Refs(y, false) {
			if n != self && pending[n] {
				return true
			}
		}
	case []any:
		for _, e := range y {
			if r.readsPending(e, self, pending) {
				return true
			}
		}
	case map[string]any:
		for _, e := range y {
			if r.readsPending(e, self, pending) {
				return true
			}
		}
	}
	return false
}

// equalValue compares two rendered values (strings, lists, maps).
func equalValue(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, e := range x {
			if !equalValue(e, y[k]) {
				return false
			}
		}
		return true
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func hasTemplate(x any) bool {
	switch y := x.(type) {
	case string:
		return strings.Contains(y, "{{")
	case []any:
		for _, e := range y {
			if hasTemplate(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range y {
			if hasTemplate(e) {
				return true
			}
		}
	}
	return false
}

// connConfig builds the transport config of host name from its variables.
func (r *Runner) connConfig(name string, vars map[string]any) (transport.Config, error) {
	cfg, err := transport.ConfigFromVars(name, vars)
	cfg.AcceptNewHostKeys = r.opt.AcceptNewHostKeys
	cfg.BecomePassword = r.opt.BecomePassword
	cfg.ConnectTimeout = r.opt.ConnectTimeout
	if r.opt.Verbosity >= 3 {
		// -vvv: how the connection is made, as ssh -vvv tells it (the
		// transport formats the lines, "<name> ...").
		cfg.Debug = func(msg string) {
			r.emit(report.Event{Kind: report.Progress, Host: name, Msg: msg})
		}
	}
	return cfg, err
}

// isSecretName says whether variable k holds a secret: its name contains
// password, passwd, secret or token (in any case), or a play lists it in
// secret_vars.
func (r *Runner) isSecretName(k string) bool {
	if r.secretVars[k] {
		return true
	}
	for i := 0; i < len(k); i++ {
		if k[i] >= utf8.RuneSelf {
			// Unicode case folding (ſ is s, K is k): the regexp.
			return secretName.MatchString(k)
		}
	}
	l := strings.ToLower(k)
	for _, w := range []string{"password", "passwd", "secret", "token"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

var secretName = regexp.MustCompile(`(?i)(password|passwd|secret|token)`)

func (r *Runner) addSecretValue(v any) {
	switch x := v.(type) {
	case string:
		r.red.Add(x)
	case []any:
		for _, e := range x {
			r.addSecretValue(e)
		}
	case map[string]any:
		for _, e := range x {
			r.addSecretValue(e)
		}
	case nil:
	default:
		r.red.Add(fmt.Sprint(x))
	}
}

// collectSecrets registers the values of secret variables (named
// *password*, *secret*, *token*, or listed in a play's secret_vars) found in
// the inventory, plays, vars files, roles and extra vars.
func (r *Runner) collectSecrets(pb *playbook.Playbook) {
	if r.secretVars == nil {
		r.secretVars = map[string]bool{}
	}
	for _, p := range pb.Plays {
		for _, n := range p.SecretVars {
			r.secretVars[n] = true
		}
	}
	scan := func(m map[string]any) {
		for k, x := range m {
			if r.isSecretName(k) {
				r.addSecretValue(x)
			}
		}
	}
	for _, h := range r.opt.Inventory.Hosts {
		scan(h.Vars)
	}
	for _, g := range r.opt.Inventory.Groups {
		scan(g.Vars)
	}
	scan(r.opt.ExtraVars)
	for _, p := range pb.Plays {
		scan(p.Vars)
		scan(p.VarsFromFiles)
		for _, rr := range p.Roles {
			scan(rr.Params)
			if rr.Role != nil {
				scan(rr.Role.Defaults)
				scan(rr.Role.Vars)
			}
		}
	}
}

// checkTasks validates every task of a play before anything runs: known
// module, known and required argument names.
func (r *Runner) checkTasks(p *playbook.Play) error {
	var walk func([]*playbook.Task) error
	walk = func(ts []*playbook.Task) error {
		for _, t := range ts {
			if t.IsBlock() {
				for _, l := range [][]*playbook.Task{t.Block, t.Rescue, t.Always} {
					if err := walk(l); err != nil {
						return err
					}
				}
				continue
			}
			if err := checkArgs(t); err != nil {
				return err
			}
		}
		return nil
	}
	lists := [][]*playbook.Task{p.PreTasks, p.Tasks, p.PostTasks, p.Handlers}
	for _, rr := range p.Roles {
		if rr.Role != nil {
			lists = append(lists, rr.Role.Tasks, rr.Role.Handlers)
		}
	}
	for _, l := range lists {
		if err := walk(l); err != nil {
			return err
		}
	}
	return nil
}

// checkArgs checks task t's module and arguments before the run: all of
// them (names, types, choices, required) when none holds a template, else
// their names (the values are decoded when rendered, at run time). Both
// report through argError.
func checkArgs(t *playbook.Task) error {
	spec, ok := modules.Lookup(t.Module)
	if !ok {
		return &yamlsrc.Error{Pos: t.Pos, Msg: fmt.Sprintf("unknown module %q", t.Module), Hint: "`pgplay doc` lists the modules"}
	}
	_, playAction := modules.Ability[modules.PlayAction](t.Module)
	if hasTemplate(map[string]any(t.Args)) && !playAction {
		// (A play action's arguments are never rendered: they are
		// checked as written.)
		return argError(t, modules.CheckNames(spec, t.Args))
	}
	return argError(t, modules.Decode(spec, t.Args, spec.New()))
}

// argError is err, from checking or decoding task t's arguments, as the
// user reads it: at the argument's file:line:col when err is about one
// argument (a *modules.ArgError), else at the task's; naming the task and
// the module, with a hint. nil stays nil. Prepare's checks and the run
// time's decoding of the rendered arguments (execute) both report
// through it.
func argError(t *playbook.Task, err error) error {
	if err == nil {
		return nil
	}
	p := t.Pos
	hint := "see `pgplay doc " + t.Module + "`"
	msg := err.Error()
	var ae *modules.ArgError
	if errors.As(err, &ae) {
		if ap, ok := t.ArgPos[ae.Arg]; ok && ae.Arg != "" {
			p = ap
		}
		msg = ae.Msg
		if ae.Hint != "" {
			hint = ae.Hint + "; " + hint
		}
	}
	return &yamlsrc.Error{Pos: p, Msg: fmt.Sprintf("task %q: module %q: %s", taskName(t), t.Module, msg), Hint: hint}
}

// atArgument is err, from rendering task t's arguments, at the file:line:col
// of the argument whose template failed (a *tmpl.Error's Key is the
// argument, or a path inside it: "env.PGDATA", "argv[1]"), instead of the
// task's, when the loader recorded where the argument was written.
// The message keeps naming the task and the argument, and its hint (one
// is given when the template engine had none).
func atArgument(t *playbook.Task, err error) error {
	var te *tmpl.Error
	if !errors.As(err, &te) || te.Key == "" {
		return err
	}
	found := ""
	for arg := range t.ArgPos {
		if len(arg) > len(found) && (te.Key == arg || strings.HasPrefix(te.Key, arg+".") || strings.HasPrefix(te.Key, arg+"[")) {
			found = arg
		}
	}
	if found == "" {
		return err
	}
	te.Name = fmt.Sprintf("%s: task %q", t.ArgPos[found], taskName(t))
	if te.Hint == "" {
		te.Hint = fmt.Sprintf("fix the template of argument %q, or the values it reads on this host", found)
	}
	return err
}

// atKeyword is err, from rendering or evaluating keyword key of task t on
// a host (when, loop, until, delegate_to, ...), at at: where the keyword's
// value, or the item of it that failed, was written; the task's own, or
// that of the block, role or play the task inherits the keyword from (the
// task's position when at is zero: a keyword set in code). As atArgument
// does for an argument, the message names the task and the keyword (with
// the item: "loop[1]"), and has a hint when the template engine gave none.
func atKeyword(t *playbook.Task, key string, at yamlsrc.Pos, err error) error {
	if at == (yamlsrc.Pos{}) {
		at = t.Pos
	}
	var te *tmpl.Error
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: task %q (%s): %w", at, taskName(t), key, err)
	}
	te.Name = fmt.Sprintf("%s: task %q (%s%s)", at, taskName(t), key, te.Key)
	te.Key = "" // in the name: not an argument
	if te.Hint == "" {
		te.Hint = fmt.Sprintf("fix the template of %s, or the values it reads on this host", key)
		if isCondition(key) {
			te.Hint = fmt.Sprintf("fix the %s condition, or the values it reads on this host", key)
		}
	}
	return err
}

// isCondition says whether task keyword key takes conditions.
func isCondition(key string) bool {
	return key == "when" || key == "until" || key == "changed_when" || key == "failed_when"
}

// atOwnKeyword is atKeyword for a keyword that is task t's own, not
// inherited (loop, until, changed_when, failed_when, retries, delay): at
// where its value, or the item the error names, was written.
func atOwnKeyword(t *playbook.Task, key string, err error) error {
	path := key
	var te *tmpl.Error
	if errors.As(err, &te) {
		path += te.Key
	}
	return atKeyword(t, key, keywordPos(t, path), err)
}

// keywordPos is where the part path of task t's keyword value was written
// (playbook.Positions.Find), else where the keyword was, else the task.
func keywordPos(t *playbook.Task, path string) yamlsrc.Pos {
	if at, ok := t.ValPos.Find(path); ok {
		return at
	}
	key := path
	if i := strings.IndexAny(path, ".["); i > 0 {
		key = path[:i]
	}
	if at, ok := t.KeyPos[key]; ok {
		return at
	}
	return t.Pos
}

// gatherFacts runs the setup module on hosts and stores .facts.
func (pr *playRun) gatherFacts(ctx context.Context, hosts []*hostState) {
	t := &playbook.Task{Pos: pr.play.Pos, Name: "Gathering Facts", Module: "setup", Args: map[string]any{}, CheckMode: boolp(false)}
	if len(pr.play.Tags) == 0 {
		// As Ansible's: the play's tags select it, and an untagged
		// play's facts are gathered whatever --tags says.
		t.Tags = []string{"always"}
	}
	failed := pr.runTask(ctx, t, hosts, playInherit(pr.play))
	for h := range failed {
		h.failed = true
	}
}

func boolp(b bool) *bool { return &b }

func taskName(t *playbook.Task) string {
	if t.Name != "" {
		return t.Name
	}
	return t.Module
}
