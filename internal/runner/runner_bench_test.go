package runner

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/content"
	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/report"
	"github.com/pgplay/pgplay/internal/transport"
	"github.com/pgplay/pgplay/modules"
)

// The runner's share of a run: hosts with `connection: local`, so that no
// network or sshd is in the way.
//
//	go test -run '^$' -bench . -benchmem ./internal/runner/
//
// ns/task-host is the time per task and host; at N hosts the tasks run
// in parallel (forks = N), so it falls as N grows until the CPUs are busy.

// benchInventory makes n local hosts named h001.. with vars from extra(i).
func benchInventory(b *testing.B, n int, extra func(i int) string) *inventory.Inventory {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("all:\n  children:\n    pg:\n      hosts:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "        h%03d: {connection: local, ssh_host: 127.0.0.%d%s}\n", i+1, i+2, extra(i))
	}
	inv, err := inventory.Parse("bench-inventory.yaml", []byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	return inv
}

func benchOptions() playbook.Options {
	return playbook.Options{
		KnownModule: func(m string) bool { _, ok := modules.Lookup(m); return ok || m == "meta" },
		ModuleNames: modules.Names(),
	}
}

// runOnce runs pb and fails the benchmark on any failed host; it returns
// the number of changed tasks.
func runOnce(b *testing.B, opt Options, pb *playbook.Playbook) int {
	b.Helper()
	r := New(opt)
	if err := r.Prepare(pb); err != nil {
		b.Fatal(err)
	}
	o := r.Run(context.Background(), pb)
	if o.Failed || o.Unreachable {
		b.Fatalf("run failed: %+v", o.Stats)
	}
	changed := 0
	for _, s := range o.Stats {
		changed += s.Changed
	}
	return changed
}

// dispatchYAML is 20 tasks that never touch a host: the cost of the
// runner itself (variables, templates in arguments, conditions, module
// decoding, results, events) per task and host.
func dispatchYAML() string { return dispatchTasks("") }

// dispatchTasks is dispatchYAML with each task's name followed by
// suffix (a template makes the runner render the name).
func dispatchTasks(suffix string) string {
	var sb strings.Builder
	sb.WriteString(`- hosts: pg
  gather_facts: false
  vars:
    base: "/srv/{{ .inventory_hostname }}"
    ports: [5432, 5433, 6432]
  tasks:
`)
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&sb, `    - name: fact %[1]d%[2]s
      set_fact:
        path_%[1]d: "{{ .base }}/%[1]d"
        port_%[1]d: "{{ index .ports 1 }}"
    - name: say %[1]d%[2]s
      debug:
        msg: "{{ .inventory_hostname }} {{ .path_%[1]d }} {{ .port_%[1]d }}"
      when: ne .inventory_hostname "none"
`, i, suffix)
	}
	return sb.String()
}

// BenchmarkDispatch measures the runner's own cost per task and host.
func BenchmarkDispatch(b *testing.B) { benchDispatch(b, dispatchYAML(), []int{1, 10, 50}) }

// BenchmarkDispatchTemplatedNames is BenchmarkDispatch with a template
// in every task's name (rendered with the first host's variables, which
// that host's run of the task then uses).
func BenchmarkDispatchTemplatedNames(b *testing.B) {
	benchDispatch(b, dispatchTasks(" on {{ .inventory_hostname }}"), []int{1, 10})
}

// benchDispatch runs the playbook yaml on hosts (the counts of hosts).
func benchDispatch(b *testing.B, yaml string, hosts []int) {
	pb, err := playbook.Parse("dispatch.yaml", []byte(yaml), benchOptions())
	if err != nil {
		b.Fatal(err)
	}
	const nTasks = 20
	for _, n := range hosts {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			inv := benchInventory(b, n, func(int) string { return "" })
			pool := transport.NewPool()
			defer pool.Close()
			opt := Options{Inventory: inv, Forks: n, Sink: report.NewHuman(io.Discard, false, 0), Pool: pool}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				runOnce(b, opt, pb)
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*n*nTasks), "ns/task-host")
		})
	}
}

// BenchmarkWorkloadALocal runs bench/workload-a (21 tasks: files,
// templates, lineinfile, commands, stat) on local hosts that are already
// converged: the second run of the benchmark without SSH. Commands run as
// processes on this machine.
func BenchmarkWorkloadALocal(b *testing.B) {
	dir, err := filepath.Abs("../../bench/workload-a")
	if err != nil {
		b.Fatal(err)
	}
	opt := benchOptions()
	opt.Source = &content.Source{Dirs: []string{dir}}
	pb, err := playbook.Load("site.yaml", opt)
	if err != nil {
		b.Fatal(err)
	}
	const nTasks = 21
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			roots := b.TempDir()
			inv := benchInventory(b, n, func(i int) string {
				return fmt.Sprintf(", pg_root: %s", filepath.Join(roots, fmt.Sprintf("h%03d", i+1)))
			})
			pool := transport.NewPool()
			defer pool.Close()
			ropt := Options{Inventory: inv, Source: opt.Source, Forks: n, Sink: report.NewHuman(io.Discard, false, 0), Pool: pool}
			if changed := runOnce(b, ropt, pb); changed != 14*n {
				b.Fatalf("first run: %d changed, want %d", changed, 14*n)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if changed := runOnce(b, ropt, pb); changed != 0 {
					b.Fatalf("second run: %d changed, want 0", changed)
				}
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*n*nTasks), "ns/task-host")
		})
	}
}
