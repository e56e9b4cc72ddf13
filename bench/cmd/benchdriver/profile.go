package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/pgplay/pgplay/internal/content"
	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/report"
	"github.com/pgplay/pgplay/internal/runner"
	"github.com/pgplay/pgplay/internal/transport"
	"github.com/pgplay/pgplay/modules"
)

// profileMain runs pgplay's runner in this process on n targets: once to
// converge them, then -runs second runs under the CPU profiler, counting
// what each task cost on the wire with the connection pool's counters.
// It writes cpu.pprof and heap.pprof and prints, per task, the time it
// took and its commands, SFTP requests and round trips per host.
func profileMain(args []string) error {
	var c common
	fl := flag.NewFlagSet("profile", flag.ContinueOnError)
	c.register(fl)
	n := fl.Int("n", 10, "number of targets")
	runs := fl.Int("runs", 5, "second runs to profile")
	outDir := fl.String("out", "", "directory for cpu.pprof and heap.pprof (default STATE/profile/nN-PHASE)")
	phase := fl.String("phase", "second", "run to profile: second (converged hosts) or first (hosts wiped before each run)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if err := c.resolve(); err != nil {
		return err
	}
	if *outDir == "" {
		*outDir = filepath.Join(c.state, "profile", fmt.Sprintf("n%d-%s", *n, *phase))
	}
	if *phase != "first" && *phase != "second" {
		return fmt.Errorf("-phase %q: want first or second", *phase)
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	t, err := c.startTargets(*n)
	if err != nil {
		return err
	}
	defer t.Stop()
	inv, err := writeInventories(t, *n)
	if err != nil {
		return err
	}
	if err := t.Wipe(); err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()

	first, err := inProcessRun(ctx, c.workload, inv.PGPlay, *n)
	if err != nil {
		return err
	}
	fmt.Printf("first run (converge): %.3fs, %s\n", first.wall.Seconds(), statsLine(first.stats))

	f, err := os.Create(filepath.Join(*outDir, "cpu.pprof"))
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	var results []*profRun
	for i := 0; i < *runs; i++ {
		if *phase == "first" {
			if err := t.Wipe(); err != nil {
				pprof.StopCPUProfile()
				return err
			}
		}
		r, err := inProcessRun(ctx, c.workload, inv.PGPlay, *n)
		if err != nil {
			pprof.StopCPUProfile()
			return err
		}
		results = append(results, r)
		fmt.Printf("%s run %d: %.3fs, changed=%d, %s\n", *phase, i+1, r.wall.Seconds(), r.changed, statsLine(r.stats))
	}
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		return err
	}
	runtime.GC()
	hf, err := os.Create(filepath.Join(*outDir, "heap.pprof"))
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(hf, 0); err != nil {
		return err
	}
	if err := hf.Close(); err != nil {
		return err
	}
	sort.Slice(results, func(a, b int) bool { return results[a].wall < results[b].wall })
	med := results[len(results)/2]
	fmt.Printf("\nmedian %s run at n=%d: %.3fs; per task (that run), per host:\n\n", *phase, *n, med.wall.Seconds())
	printTaskTable(os.Stdout, med, *n)
	fmt.Printf("\nprofiles: %s/cpu.pprof, %s/heap.pprof (go tool pprof -top %s/cpu.pprof)\n", *outDir, *outDir, *outDir)
	return nil
}

// taskCost is what one task cost, summed over the hosts.
type taskCost struct {
	name, module string
	wall         time.Duration
	delta        transport.Stats
}

// profRun is one in-process run.
type profRun struct {
	wall    time.Duration
	changed int
	stats   transport.Stats
	tasks   []taskCost
}

// costSink records the pool's counters at every task start; the linear
// strategy finishes a task on every host before the next one starts, so
// the difference between two task starts is that task's cost.
type costSink struct {
	pool    *transport.Pool
	modules map[string]string
	next    report.Sink
	run     *profRun
	last    transport.Stats
	lastAt  time.Time
	current string
}

func (s *costSink) close(at time.Time) {
	if s.current == "" {
		return
	}
	st := s.pool.Stats()
	s.run.tasks = append(s.run.tasks, taskCost{name: s.current, module: s.modules[s.current], wall: at.Sub(s.lastAt), delta: sub(st, s.last)})
	s.last, s.current = st, ""
}

func (s *costSink) Emit(e report.Event) {
	switch e.Kind {
	case report.TaskStart:
		now := time.Now()
		s.close(now)
		s.current, s.lastAt, s.last = e.Task, now, s.pool.Stats()
	case report.Recap:
		s.close(time.Now())
		for _, st := range e.Stats {
			s.run.changed += st.Changed
		}
	}
	s.next.Emit(e)
}

func sub(a, b transport.Stats) transport.Stats {
	return transport.Stats{
		Dials:        a.Dials - b.Dials,
		Commands:     a.Commands - b.Commands,
		SFTPSessions: a.SFTPSessions - b.SFTPSessions,
		SFTPRequests: a.SFTPRequests - b.SFTPRequests,
		RoundTrips:   a.RoundTrips - b.RoundTrips,
	}
}

// inProcessRun runs the workload once with pgplay's runner, as `pgplay run
// site.yaml -i inv -f n` would (human output, discarded).
func inProcessRun(ctx context.Context, workload, invPath string, n int) (*profRun, error) {
	start := time.Now()
	src := &content.Source{Dirs: []string{workload}}
	opt := playbook.Options{Source: src, KnownModule: func(m string) bool { _, ok := modules.Lookup(m); return ok || m == "meta" }, ModuleNames: modules.Names()}
	pb, err := playbook.Load("site.yaml", opt)
	if err != nil {
		return nil, err
	}
	inv, err := inventory.Load(invPath)
	if err != nil {
		return nil, err
	}
	mods := map[string]string{}
	for _, p := range pb.Plays {
		for _, t := range p.Tasks {
			mods[t.Name] = t.Module
		}
	}
	pool := transport.NewPool()
	defer pool.Close()
	run := &profRun{}
	sink := &costSink{pool: pool, modules: mods, next: report.NewHuman(io.Discard, false, 0), run: run}
	r := runner.New(runner.Options{Inventory: inv, Source: src, Forks: n, Sink: sink, Pool: pool})
	if err := r.Prepare(pb); err != nil {
		return nil, err
	}
	o := r.Run(ctx, pb)
	run.wall = time.Since(start)
	run.stats = pool.Stats()
	if o.Failed || o.Unreachable || o.Interrupted {
		return run, fmt.Errorf("the run failed (failed=%t unreachable=%t interrupted=%t)", o.Failed, o.Unreachable, o.Interrupted)
	}
	return run, nil
}

func printTaskTable(w io.Writer, r *profRun, n int) {
	fmt.Fprintln(w, "| task | module | wall (all hosts) | commands | SFTP requests | round trips |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|")
	per := func(v int64) string {
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", float64(v)/float64(n)), "0"), ".")
	}
	var sum transport.Stats
	var wall time.Duration
	for _, t := range r.tasks {
		fmt.Fprintf(w, "| %s | %s | %.1f ms | %s | %s | %s |\n", t.name, t.module, float64(t.wall.Microseconds())/1000,
			per(t.delta.Commands), per(t.delta.SFTPRequests), per(t.delta.RoundTrips))
		sum.Commands += t.delta.Commands
		sum.SFTPRequests += t.delta.SFTPRequests
		sum.RoundTrips += t.delta.RoundTrips
		wall += t.wall
	}
	fmt.Fprintf(w, "| all %d tasks | | %.1f ms | %s | %s | %s |\n", len(r.tasks), float64(wall.Microseconds())/1000,
		per(sum.Commands), per(sum.SFTPRequests), per(sum.RoundTrips))
	fmt.Fprintf(w, "\n(whole run %.1f ms; connections %d, SFTP sessions %d)\n", float64(r.wall.Microseconds())/1000, r.stats.Dials, r.stats.SFTPSessions)
}

func statsLine(s transport.Stats) string {
	return fmt.Sprintf("%d connections, %d commands, %d SFTP sessions, %d SFTP requests, %d round trips", s.Dials, s.Commands, s.SFTPSessions, s.SFTPRequests, s.RoundTrips)
}
