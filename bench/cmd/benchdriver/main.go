// Command benchdriver runs workload A (bench/workload-a) with pgplay,
// ansible-playbook (defaults and tuned configurations) and a minimal Go
// client on N loopback SSH targets, and reports wall time, controller CPU
// and peak memory, the ratios between the tools, and whether they all leave
// byte-identical results and find each other's results converged.
//
// Usage (as root, from the repository; `make bench` does this):
//
//	benchdriver run [-n 1,10,50] [-runs 3] [-tools pgplay,ansible-tuned,gomin,ansible-defaults]
//	benchdriver profile [-n 10] [-runs 5]   # pprof and round trips of pgplay's second run
//	benchdriver up [-n 10] / down           # targets only, for manual runs
//
// Everything it starts (sshd daemons, tools, ssh ControlPersist masters the
// tools leave behind) it stops by PID before it exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(5)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runMain(os.Args[2:])
	case "profile":
		err = profileMain(os.Args[2:])
	case "up":
		err = upMain(os.Args[2:])
	case "gomin":
		err = goMinMain(os.Args[2:])
	case "-h", "-help", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "benchdriver: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(5)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchdriver:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  benchdriver run [flags]       benchmark pgplay, Ansible and a minimal Go client (see -h)
  benchdriver profile [flags]   profile pgplay's second run in-process; count round trips
  benchdriver up [flags]        start the targets and wait (Ctrl-C stops them)
`)
}

// common are the flags every subcommand shares.
type common struct {
	state    string
	user     string
	port     int
	workload string
	pgplay   string
}

func (c *common) register(fl *flag.FlagSet) {
	fl.StringVar(&c.state, "state", "/var/tmp/pgplay-bench", "state directory: keys, sshd configs, the bench user's home and the hosts' directories, logs")
	fl.StringVar(&c.user, "user", "pgbench-ssh", "unprivileged login user created for the targets")
	fl.IntVar(&c.port, "port", 2222, "sshd port on 127.0.0.2..")
	fl.StringVar(&c.workload, "workload", "bench/workload-a", "workload directory")
	fl.StringVar(&c.pgplay, "pgplay", "bin/pgplay", "pgplay binary")
}

// startTargets sets up and starts n loopback targets; the caller stops
// them (t.Stop).
func (c *common) startTargets(n int) (*Targets, error) {
	t, err := setupTargets(c.state, c.user, n, c.port)
	if err != nil {
		return nil, err
	}
	if err := t.Start(); err != nil {
		return nil, err
	}
	return t, nil
}

func (c *common) resolve() error {
	var err error
	if c.workload, err = filepath.Abs(c.workload); err != nil {
		return err
	}
	if c.pgplay, err = filepath.Abs(c.pgplay); err != nil {
		return err
	}
	if c.state, err = filepath.Abs(c.state); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(c.workload, "site.yaml")); err != nil {
		return fmt.Errorf("workload: %w (hint: run from the repository root or pass -workload)", err)
	}
	return nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want a comma-separated list of positive numbers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Case is one (host count, phase, tool) cell of the results.
type Case struct {
	N        int
	Phase    string // "first" or "second"
	Tool     string
	Runs     []Measure
	Problems []string
}

func (c *Case) median(f func(Measure) float64) float64 {
	if len(c.Runs) == 0 {
		return 0
	}
	v := make([]float64, len(c.Runs))
	for i, m := range c.Runs {
		v[i] = f(m)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (c *Case) wall() float64 { return c.median(func(m Measure) float64 { return m.Wall.Seconds() }) }
func (c *Case) cpu() float64  { return c.median(func(m Measure) float64 { return m.CPU.Seconds() }) }
func (c *Case) peakMB() float64 {
	peak := 0.0
	for _, m := range c.Runs {
		peak = max(peak, float64(m.PeakKB)/1024)
	}
	return peak
}

func runMain(args []string) error {
	var c common
	fl := flag.NewFlagSet("run", flag.ContinueOnError)
	c.register(fl)
	nsFlag := fl.String("n", "1,10,50", "host counts")
	runs := fl.Int("runs", 3, "runs per tool, phase and host count (the median is reported)")
	toolsFlag := fl.String("tools", "pgplay,ansible-tuned,gomin,ansible-defaults",
		"tools, in pairs: the second run of each tool follows the first run of its pair's other tool (pgplay<->ansible-tuned, gomin<->ansible-defaults)")
	timeout := fl.Duration("timeout", 20*time.Minute, "limit for one run of one tool")
	out := fl.String("out", "", "also write the results table (Markdown) to this file (it always goes to STATE/results.md)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if err := c.resolve(); err != nil {
		return err
	}
	ns, err := parseInts(*nsFlag)
	if err != nil {
		return fmt.Errorf("-n %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	known := tools(c.pgplay, self, c.workload, c.state)
	var list []Tool
	for _, name := range strings.Split(*toolsFlag, ",") {
		tl, ok := known[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("-tools: unknown tool %q (known: pgplay, gomin, ansible-tuned, ansible-defaults)", name)
		}
		list = append(list, tl)
	}
	if _, err := os.Stat(c.pgplay); err != nil {
		return fmt.Errorf("pgplay binary: %w (hint: make build)", err)
	}
	for _, tl := range list {
		if strings.HasPrefix(tl.Name, "ansible") {
			if _, err := lookPath("ansible-playbook"); err != nil {
				return fmt.Errorf("ansible-playbook not found (hint: apt-get install ansible): %w", err)
			}
		}
	}
	if err := becomeSubreaper(); err != nil {
		return fmt.Errorf("become child subreaper: %w", err)
	}
	ctx, stop := signalContext()
	defer stop()

	t, err := c.startTargets(slicesMax(ns))
	if err != nil {
		return err
	}
	defer t.Stop()
	defer reapOrphans(t.PIDs())
	for _, d := range []string{"ansible-tmp", "ansible-cp/ansible-tuned", "ansible-cp/ansible-defaults"} {
		if err := os.MkdirAll(filepath.Join(c.state, d), 0o700); err != nil {
			return err
		}
	}
	loadBefore := loadAvg()
	started := time.Now()
	fmt.Printf("targets: %d on 127.0.0.2..%s port %d (%d sshd), user %s, state %s\n",
		t.N, Addr(t.N-1), t.Port, len(t.daemons), t.User, t.State)

	var cases []*Case
	for _, n := range ns {
		cs, err := benchN(ctx, t, c, list, n, *runs, *timeout)
		cases = append(cases, cs...)
		if err != nil {
			printReport(os.Stdout, cases, loadBefore, loadAvg(), time.Since(started))
			return err
		}
	}
	printReport(os.Stdout, cases, loadBefore, loadAvg(), time.Since(started))
	for _, path := range []string{filepath.Join(c.state, "results.md"), *out} {
		if path == "" {
			continue
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		printReport(f, cases, loadBefore, loadAvg(), time.Since(started))
		if err := f.Close(); err != nil {
			return err
		}
	}
	for _, cs := range cases {
		if len(cs.Problems) > 0 {
			return errors.New("some checks failed (see the problems above)")
		}
	}
	return nil
}

func slicesMax(ns []int) int {
	m := 0
	for _, n := range ns {
		m = max(m, n)
	}
	return m
}

// partner is the tool whose second run follows tool i's first run: tools
// are paired in the order given (0<->1, 2<->3, ...); an odd one out
// follows itself.
func partner(i, n int) int {
	j := i ^ 1
	if j >= n {
		return i
	}
	return j
}

// benchN runs every tool on n hosts, runs times, alternating: wipe, first
// run of tool A, second run of A's partner B (the cross-check: B finds A's
// result converged); then the same from B. Every first run's result must
// be identical (content, mode, owner) to the reference: the first tool's
// first result.
func benchN(ctx context.Context, t *Targets, c common, list []Tool, n, runs int, timeout time.Duration) ([]*Case, error) {
	inv, err := writeInventories(t, n)
	if err != nil {
		return nil, err
	}
	cases := map[string]*Case{}
	var order []*Case
	get := func(phase, tool string) *Case {
		k := phase + "/" + tool
		if cases[k] == nil {
			cases[k] = &Case{N: n, Phase: phase, Tool: tool}
			order = append(order, cases[k])
		}
		return cases[k]
	}
	for _, phase := range []string{"first", "second"} {
		for _, tl := range list {
			get(phase, tl.Name)
		}
	}
	var ref Snapshot
	var refFiles map[string][]byte
	refTool := ""
	keep := t.PIDs()
	one := func(it int, phase string, tl Tool, want int, after string) error {
		logPath := filepath.Join(t.State, "logs", fmt.Sprintf("n%d-%d-%s-%s.log", n, it, phase, tl.Name))
		m, err := runMeasured(ctx, tl.Argv(inv, n), toolEnv(tl), c.workload, logPath, timeout, keep)
		if err != nil {
			return err
		}
		cs := get(phase, tl.Name)
		cs.Runs = append(cs.Runs, m)
		what := fmt.Sprintf("n=%d run %d %s %s", n, it+1, phase, tl.Name)
		if after != "" {
			what += " (after " + after + ")"
		}
		fmt.Printf("  %-58s %7.2fs wall %7.2fs cpu %7.1f MB", what, m.Wall.Seconds(), m.CPU.Seconds(), float64(m.PeakKB)/1024)
		problem := ""
		switch {
		case m.TimedOut:
			problem = fmt.Sprintf("timed out after %s", timeout)
		default:
			rc, err := parseRecap(logPath)
			if err != nil {
				problem = err.Error()
			} else if err := checkRecap(rc, n, want); err != nil {
				problem = err.Error()
			} else if m.ExitCode != 0 {
				problem = fmt.Sprintf("exit code %d", m.ExitCode)
			}
		}
		if problem == "" {
			snap, err := snapshot(t, n)
			if err != nil {
				return err
			}
			switch {
			case ref == nil:
				ref, refTool = snap, tl.Name
				if refFiles, err = readTree(t, 0); err != nil {
					return err
				}
			default:
				if d := ref.diff(snap, 8); len(d) > 0 {
					problem = fmt.Sprintf("result differs from %s's: %s\n%s", refTool, strings.Join(d, "; "), firstFileDiff(t, refFiles))
				}
			}
		}
		if problem != "" {
			problem = fmt.Sprintf("%s: %s (log %s)", what, problem, logPath)
			cs.Problems = append(cs.Problems, problem)
			fmt.Printf("  PROBLEM\n    %s\n", problem)
		} else if after != "" && want == 0 {
			fmt.Printf("  ok: changed=0, same files\n")
		} else {
			fmt.Printf("  ok: changed=%d/host\n", want)
		}
		return nil
	}
	fmt.Printf("n=%d: %d tools x %d runs, first and second\n", n, len(list), runs)
	for it := 0; it < runs; it++ {
		idx := make([]int, len(list))
		for i := range idx {
			idx[i] = i
		}
		if it%2 == 1 { // alternate the order between iterations
			for i, j := 0, len(idx)-1; i < j; i, j = i+1, j-1 {
				idx[i], idx[j] = idx[j], idx[i]
			}
		}
		for _, i := range idx {
			if err := ctx.Err(); err != nil {
				return order, err
			}
			a, b := list[i], list[partner(i, len(list))]
			if err := t.Wipe(); err != nil {
				return order, err
			}
			if err := one(it, "first", a, changedFirst, ""); err != nil {
				return order, err
			}
			if err := one(it, "second", b, 0, a.Name); err != nil {
				return order, err
			}
		}
	}
	if ref != nil {
		fmt.Printf("n=%d: every run left %s per the reference (%s), byte for byte\n", n, ref.summary(), refTool)
	}
	return order, nil
}

// changedFirst is how many tasks change on an empty host.
const changedFirst = 14

func upMain(args []string) error {
	var c common
	fl := flag.NewFlagSet("up", flag.ContinueOnError)
	c.register(fl)
	n := fl.Int("n", 10, "number of targets")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if err := c.resolve(); err != nil {
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
	fmt.Printf("%d targets up; inventories:\n  pgplay:  %s\n  ansible: %s\n  gomin:   %s\nCtrl-C stops them.\n", *n, inv.PGPlay, inv.Ansible, inv.GoMin)
	ctx, stop := signalContext()
	defer stop()
	<-ctx.Done()
	return nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
