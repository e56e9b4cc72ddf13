package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/runner"
)

// inspecting says whether the run only prints what it would do:
// --syntax-check or a --list-* flag.
func (f *runFlags) inspecting() bool {
	return f.syntaxCheck || f.listHosts || f.listTasks || f.listTags
}

// inspect prints what --syntax-check and --list-hosts/--list-tasks/
// --list-tags ask for, in ansible-playbook's shape, so that scripts and
// eyes used to it read it unchanged. It never connects. inv is nil when no
// inventory was given (--list-hosts needs one; the caller checks); limit is
// --limit with its @files read.
func inspect(w io.Writer, f *runFlags, pb *playbook.Playbook, inv *inventory.Inventory, limit string) error {
	fmt.Fprintf(w, "\nplaybook: %s\n", pb.File)
	if f.syntaxCheck && !(f.listHosts || f.listTasks || f.listTags) {
		return nil
	}
	var limited map[string]bool
	if inv != nil && limit != "" {
		hs, err := inv.Select(limit)
		if err != nil {
			return withCode(exitOptions, fmt.Errorf("--limit: %w", err))
		}
		limited = map[string]bool{}
		for _, h := range hs {
			limited[h.Name] = true
		}
	}
	for i, p := range pb.Plays {
		fmt.Fprintf(w, "\n  play #%d (%s): %s\tTAGS: [%s]\n", i+1, p.Hosts, p.Name, strings.Join(sortedSet(p.Tags), ","))
		if f.listHosts {
			hosts, err := inv.Select(p.Hosts)
			if err != nil {
				return withCode(exitParse, fmt.Errorf("%s: play %q: hosts: %w", p.Pos, p.Name, err))
			}
			var names []string
			for _, h := range hosts {
				if limited == nil || limited[h.Name] {
					names = append(names, h.Name)
				}
			}
			fmt.Fprintf(w, "    pattern: ['%s']\n    hosts (%d):\n", p.Hosts, len(names))
			for _, n := range names {
				fmt.Fprintf(w, "      %s\n", n)
			}
		}
		if !f.listTasks && !f.listTags {
			continue
		}
		var b strings.Builder
		if f.listTasks {
			b.WriteString("    tasks:\n")
		}
		all := map[string]bool{}
		for _, t := range runner.PlanTasks(p, f.tags, f.skipTags) {
			for _, tag := range t.Tags {
				all[tag] = true
			}
			if f.listTasks {
				fmt.Fprintf(&b, "      %s\tTAGS: [%s]\n", listLabel(t), strings.Join(sortedSet(t.Tags), ", "))
			}
		}
		if f.listTags {
			var tags []string
			for tag := range all {
				tags = append(tags, tag)
			}
			fmt.Fprintf(&b, "      TASK TAGS: [%s]\n", strings.Join(sortedSet(tags), ", "))
		}
		fmt.Fprintln(w, b.String())
	}
	return nil
}

// listLabel is how --list-tasks names task t: "ROLE : NAME", or NAME for
// a play's task; a task without a name by its module alone, as
// ansible-playbook does.
func listLabel(t runner.PlannedTask) string {
	switch {
	case t.Task.Name == "":
		return t.Task.Module
	case t.Role != "":
		return t.Role + " : " + t.Task.Name
	}
	return t.Task.Name
}

// sortedSet returns the distinct strings of list, sorted.
func sortedSet(list []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
