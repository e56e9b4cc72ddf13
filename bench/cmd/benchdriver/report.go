package main

import (
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

func lookPath(name string) (string, error) { return exec.LookPath(name) }

// printReport writes the results as Markdown: one row per host count,
// phase and tool (medians), with the ratio to pgplay measured in the same
// run, then the problems found.
func printReport(w io.Writer, cases []*Case, loadBefore, loadAfter string, elapsed time.Duration) {
	byKey := map[string]*Case{}
	for _, c := range cases {
		byKey[fmt.Sprintf("%d/%s/%s", c.N, c.Phase, c.Tool)] = c
	}
	fmt.Fprintf(w, "\n## Workload A results (%s, %d CPUs, load %s before, %s after, %s in all)\n\n",
		time.Now().Format("2006-01-02 15:04"), runtime.NumCPU(), loadBefore, loadAfter, elapsed.Round(time.Second))
	fmt.Fprintln(w, "| hosts | run | tool | wall (median) | controller CPU (median) | peak memory | runs | tool / pgplay (wall) | tool / pgplay (CPU) |")
	fmt.Fprintln(w, "|---:|---|---|---:|---:|---:|---:|---:|---:|")
	for _, c := range cases {
		pg := byKey[fmt.Sprintf("%d/%s/pgplay", c.N, c.Phase)]
		ratio, cpuRatio := "", ""
		if pg != nil && len(pg.Runs) > 0 && c.Tool != "pgplay" && len(c.Runs) > 0 {
			ratio = fmt.Sprintf("%.1fx", c.wall()/pg.wall())
			if pg.cpu() > 0 {
				cpuRatio = fmt.Sprintf("%.1fx", c.cpu()/pg.cpu())
			}
		}
		flag := ""
		if len(c.Problems) > 0 {
			flag = " (!)"
		}
		fmt.Fprintf(w, "| %d | %s | %s%s | %.2f s | %.2f s | %.0f MB | %d | %s | %s |\n",
			c.N, c.Phase, c.Tool, flag, c.wall(), c.cpu(), c.peakMB(), len(c.Runs), ratio, cpuRatio)
	}
	// The two targets of the issue, per host count.
	fmt.Fprintln(w)
	for _, c := range cases {
		if c.Tool != "pgplay" || c.Phase != "second" || len(c.Runs) == 0 {
			continue
		}
		var parts []string
		for _, other := range []string{"ansible-tuned", "ansible-defaults"} {
			if o := byKey[fmt.Sprintf("%d/second/%s", c.N, other)]; o != nil && len(o.Runs) > 0 {
				parts = append(parts, fmt.Sprintf("%s/pgplay = %.0fx", other, o.wall()/c.wall()))
			}
		}
		if g := byKey[fmt.Sprintf("%d/second/gomin", c.N)]; g != nil && len(g.Runs) > 0 {
			parts = append(parts, fmt.Sprintf("pgplay/minimal Go client = %.2fx", c.wall()/g.wall()))
		}
		parts = append(parts, fmt.Sprintf("pgplay peak memory %.0f MB", c.peakMB()))
		fmt.Fprintf(w, "- second run, %d hosts: %s\n", c.N, strings.Join(parts, ", "))
	}
	var problems []string
	for _, c := range cases {
		problems = append(problems, c.Problems...)
	}
	if len(problems) > 0 {
		fmt.Fprintln(w, "\nProblems:")
		for _, p := range problems {
			fmt.Fprintln(w, "- "+p)
		}
	} else if len(cases) > 0 {
		fmt.Fprintln(w, "\nChecks: every first run changed 14 tasks per host and every second run (each after another tool's first run) changed none; all runs left byte-identical files, modes and owners.")
	}
}
