// Package runner schedules a playbook's plays, tasks and handlers over the
// inventory's hosts: linear strategy, forks, serial batches, loops, register,
// handlers, blocks, check mode.
package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgplay/pgplay/internal/content"
	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/report"
	"github.com/pgplay/pgplay/internal/tmpl"
	"github.com/pgplay/pgplay/internal/transport"
	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// Options configure a run.
type Options struct {
	Inventory *inventory.Inventory
	Source    *content.Source
	Limit     string
	Tags      []string
	SkipTags  []string
	ExtraVars map[string]any
	Check     bool
	Diff      bool
	Forks     int // default 20
	Verbosity int
	// ForceHandlers runs the handlers a host notified even when the host
	// failed afterwards (as a play's force_handlers: true).
	ForceHandlers bool
	// Sink receives events; the runner redacts them through Redactor first.
	Sink     report.Sink
	Redactor *report.Redactor
	// Connection settings applied to every host.
	AcceptNewHostKeys bool
	ConnectTimeout    time.Duration
	// BecomePassword is given to sudo on the hosts where it asks for one
	// (-K); New adds it to the Redactor.
	BecomePassword string
	// Pool, when set, is used (and not closed) instead of a run-owned pool.
	Pool *transport.Pool
	// InterruptGrace is how long tasks under way may go on after the run's
	// context is cancelled (SIGINT) before they are cancelled too (default 10s).
	// No new task starts after the cancel.
	InterruptGrace time.Duration
	// StartAtTask, when set, leaves out every task before the first one
	// it names (ansible-playbook's --start-at-task): a task's name, "ROLE
	// : NAME", or a shell glob. Prepare refuses a name no task has.
	StartAtTask string
	// Step, when set, is asked before each task (not handlers) whether to
	// run it (ansible-playbook's --step); its argument is the task's
	// label as the TASK line shows it.
	Step func(task string) StepAnswer
	// ProgressEvery is how often a long task reports the hosts still
	// working on it (default 10s).
	ProgressEvery time.Duration
}

// Outcome sums up a run.
type Outcome struct {
	Stats       map[string]*report.Stats
	Hosts       []string // recap order
	Failed      bool     // some host failed
	Unreachable bool     // some host was unreachable
	Interrupted bool     // the context was cancelled
}

// Runner runs playbooks.
type Runner struct {
	opt    Options
	eng    *tmpl.Engine
	pool   *transport.Pool
	red    *report.Redactor
	emitMu sync.Mutex

	stop  context.Context       // done: start no new task
	fatal atomic.Bool           // an any_errors_fatal play failed: no later batch or play runs
	hosts map[string]*hostState // per-run host state
	// changes counts the task and handler results of this run, on any
	// host, that changed something, failed (ignored or not) or found the
	// host unreachable: .pgplay_run_changes.
	changes    atomic.Int64
	secretVars map[string]bool
	order      []string
	extraTmpl  []string // keys of ExtraVars whose values hold templates
	forks      *workers // run a task on hosts, at most Forks at once

	// --start-at-task and --step state; tasks run one at a time.
	started bool // the task StartAtTask names was reached
	stepAll bool // Step was answered "continue"

	// A check run's simulated file changes, per host (see overlay.go).
	overlays checkOverlays

	// .hostvars, kept up to date as hosts change (see hostvars.go).
	hvMu    sync.Mutex
	hvHosts map[string]map[string]any // each inventory host's entry; never changed once stored
	hvSnap  map[string]any            // the current .hostvars; nil when an entry changed since
	groups  map[string]any            // .groups (the inventory does not change)
}

// hostState is what the run knows of one host across plays.
type hostState struct {
	host        *inventory.Host
	facts       map[string]any
	vars        map[string]any // registered results and set_fact
	stats       *report.Stats
	failed      bool // failed in an earlier task: out of the run
	unreachable bool
	mu          sync.Mutex

	// Kept with vars and facts (under mu), so that building a task's
	// variables need not search every value for templates.
	tmplKeys  map[string]bool // keys of vars whose values hold templates
	factsTmpl bool            // facts hold a template

	groupNames []any  // .group_names
	shortName  string // .inventory_hostname_short
}

// New returns a runner.
func New(opt Options) *Runner {
	if opt.Forks <= 0 {
		opt.Forks = 20
	}
	if opt.Redactor == nil {
		opt.Redactor = report.NewRedactor()
	}
	if opt.BecomePassword != "" {
		opt.Redactor.Add(opt.BecomePassword)
	}
	if opt.Source == nil {
		opt.Source = &content.Source{Dirs: []string{"."}}
	}
	if opt.Sink == nil {
		opt.Sink = report.Multi{}
	}
	r := &Runner{opt: opt, eng: tmpl.New(), red: opt.Redactor, hosts: map[string]*hostState{}}
	for k, x := range opt.ExtraVars {
		if hasTemplate(x) {
			r.extraTmpl = append(r.extraTmpl, k)
		}
	}
	return r
}

func (r *Runner) emit(e report.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Check = r.opt.Check
	e = r.red.Event(e)
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.opt.Sink.Emit(e)
}

func (r *Runner) state(h *inventory.Host) *hostState {
	hs, ok := r.hosts[h.Name]
	if !ok {
		hs = &hostState{host: h, facts: map[string]any{}, vars: map[string]any{}, stats: &report.Stats{},
			tmplKeys: map[string]bool{}, shortName: strings.SplitN(h.Name, ".", 2)[0]}
		hs.groupNames = make([]any, 0, len(h.Groups))
		for _, g := range h.Groups {
			if g != "all" && g != "ungrouped" {
				hs.groupNames = append(hs.groupNames, g)
			}
		}
		// Shared by every task: no spare capacity, so that a template's
		// `append .group_names x` copies rather than writes into it.
		hs.groupNames = slices.Clip(hs.groupNames)
		r.hosts[h.Name] = hs
		r.order = append(r.order, h.Name)
	}
	return hs
}

// Prepare checks everything that can be checked before any host is touched:
// host patterns of every play and --limit, the secrets to redact. It returns
// the first problem found. It puts each play's role dependencies in its
// Roles (playbook.ExpandRoles).
func (r *Runner) Prepare(pb *playbook.Playbook) error {
	inv := r.opt.Inventory
	if r.opt.Limit != "" {
		if _, err := inv.Select(r.opt.Limit); err != nil {
			return fmt.Errorf("--limit: %w", err)
		}
	}
	for _, p := range pb.Plays {
		// Roles run after their dependencies (a play parsed by
		// playbook.Load has them already; `pgplay role NAME` builds one).
		p.Roles = playbook.ExpandRoles(p.Roles)
		if _, err := inv.Select(p.Hosts); err != nil {
			return &yamlsrc.Error{Pos: p.Pos, Msg: fmt.Sprintf("play %q: hosts: %v", playName(p), err), Hint: "use a host or group defined in the inventory, or `all`"}
		}
		for _, b := range p.Serial {
			if _, err := batchSize(b, 1); err != nil {
				return &yamlsrc.Error{Pos: p.Pos, Msg: fmt.Sprintf("play %q: serial: %v", playName(p), err), Hint: "serial takes a count like 2 or a percentage like \"30%\""}
			}
		}
		if err := r.checkTasks(p); err != nil {
			return err
		}
	}
	if err := r.checkTemplates(pb); err != nil {
		return err
	}
	if err := r.checkStartAt(pb); err != nil {
		return err
	}
	r.collectSecrets(pb)
	return nil
}

// Run runs the playbook's plays in order. Prepare must have succeeded.
func (r *Runner) Run(ctx context.Context, pb *playbook.Playbook) *Outcome {
	start := time.Now()
	if r.opt.Pool != nil {
		r.pool = r.opt.Pool
	} else {
		r.pool = transport.NewPool()
		defer r.pool.Close()
	}
	// ctx cancelled (SIGINT) means: start nothing new, let tasks under way
	// finish for InterruptGrace, then cancel them.
	r.stop = ctx
	grace := r.opt.InterruptGrace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	execCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	finished := make(chan struct{})
	defer close(finished)
	interrupted := ctx.Done() // ctx is reassigned below
	go func() {
		select {
		case <-interrupted:
			select {
			case <-time.After(grace):
				cancel()
			case <-finished:
			}
		case <-finished:
		}
	}()
	ctx = execCtx
	r.forks = newWorkers(r.opt.Forks)
	defer r.forks.close()
	r.emit(report.Event{Kind: report.RunStart, Msg: pb.File, Schema: report.SchemaVersion})
	out := &Outcome{}
	for _, p := range pb.Plays {
		if r.stopped() || r.fatal.Load() {
			break
		}
		r.runPlay(ctx, pb, p)
	}
	out.Interrupted = r.stopped()
	out.Stats = map[string]*report.Stats{}
	for _, n := range r.order {
		hs := r.hosts[n]
		out.Stats[n] = hs.stats
		if hs.stats.Failed > 0 {
			out.Failed = true
		}
		if hs.stats.Unreachable > 0 {
			out.Unreachable = true
		}
	}
	out.Hosts = append([]string(nil), r.order...)
	if out.Interrupted {
		r.emit(report.Event{Kind: report.Warning, Msg: "interrupted: no new tasks were started; tasks under way were let finish or cancelled"})
	}
	r.emit(report.Event{Kind: report.Recap, Stats: out.Stats, Hosts: out.Hosts, Duration: time.Since(start)})
	r.emit(report.Event{Kind: report.RunEnd, Duration: time.Since(start)})
	return out
}

// stopped says whether the run was interrupted: no new task may start.
func (r *Runner) stopped() bool { return r.stop != nil && r.stop.Err() != nil }

// playHosts resolves a play's hosts (and --limit) in inventory order.
func (r *Runner) playHosts(p *playbook.Play) ([]*inventory.Host, error) {
	hosts, err := r.opt.Inventory.Select(p.Hosts)
	if err != nil {
		return nil, err
	}
	if r.opt.Limit != "" {
		lim, err := r.opt.Inventory.Select(r.opt.Limit)
		if err != nil {
			return nil, err
		}
		in := map[string]bool{}
		for _, h := range lim {
			in[h.Name] = true
		}
		var out []*inventory.Host
		for _, h := range hosts {
			if in[h.Name] {
				out = append(out, h)
			}
		}
		hosts = out
	}
	return hosts, nil
}

// batchSize turns a serial entry ("2", "30%") into a count for n hosts.
func batchSize(s string, n int) (int, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "%") {
		pct, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || pct <= 0 || pct > 100 {
			return 0, fmt.Errorf("bad percentage %q", s)
		}
		k := int(float64(n) * pct / 100)
		if k < 1 {
			k = 1
		}
		return k, nil
	}
	k, err := strconv.Atoi(s)
	if err != nil || k < 1 {
		return 0, fmt.Errorf("bad batch size %q", s)
	}
	return k, nil
}

func batches(hosts []*hostState, serial []string) [][]*hostState {
	if len(serial) == 0 {
		return [][]*hostState{hosts}
	}
	var out [][]*hostState
	i, si := 0, 0
	for i < len(hosts) {
		k, _ := batchSize(serial[si], len(hosts))
		if si < len(serial)-1 {
			si++
		}
		end := i + k
		if end > len(hosts) {
			end = len(hosts)
		}
		out = append(out, hosts[i:end])
		i = end
	}
	return out
}

// isUnreachable says whether err means the host cannot be reached.
func isUnreachable(err error) bool { return errors.Is(err, transport.ErrUnreachable) }

func playName(p *playbook.Play) string {
	if p.Name != "" {
		return p.Name
	}
	return p.Hosts
}
