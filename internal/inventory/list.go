package inventory

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// List returns the inventory in the shape `ansible-inventory --list`
// prints: each group (all, ungrouped and every group that has hosts or
// children) with its direct "hosts" and "children", and
// _meta.hostvars with each host's variables as written, precedence
// applied (hosts without variables are left out, as Ansible does).
func (inv *Inventory) List() map[string]any {
	out := map[string]any{}
	seen := map[string]bool{}
	var format func(name string)
	format = func(name string) {
		g := inv.Groups[name]
		entry := map[string]any{}
		if name != "all" && len(g.Hosts) > 0 {
			entry["hosts"] = append([]string{}, g.Hosts...)
		}
		if len(g.Children) > 0 {
			entry["children"] = append([]string{}, g.Children...)
		}
		for _, c := range g.Children {
			if !seen[c] {
				seen[c] = true
				format(c)
			}
		}
		if len(entry) > 0 {
			out[name] = entry
		}
	}
	format("all")
	hostvars := map[string]any{}
	for _, name := range inv.order() {
		if h := inv.Hosts[name]; len(h.RawVars) > 0 {
			hostvars[name] = jsonSafe(deepCopy(h.RawVars))
		}
	}
	out["_meta"] = map[string]any{"hostvars": hostvars}
	return out
}

// jsonSafe replaces the floats JSON cannot hold (YAML's .inf, .nan) by
// the words Python's json module writes for them, as strings.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonSafe(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonSafe(e)
		}
	case float64:
		switch {
		case math.IsInf(x, 1):
			return "Infinity"
		case math.IsInf(x, -1):
			return "-Infinity"
		case math.IsNaN(x):
			return "NaN"
		}
	}
	return v
}

// Graph writes the tree `ansible-inventory --graph [GROUP]` prints:
//
//	@all:
//	  |--@ungrouped:
//	  |  |--lone
//	  |--@db:
//	  |  |--node1
func (inv *Inventory) Graph(w io.Writer, group string) error {
	if group == "" {
		group = "all"
	}
	if inv.Groups[group] == nil {
		return fmt.Errorf("no group %q in the inventory\n  hint: --graph takes a group name (default all)", group)
	}
	var walk func(name string, depth int)
	line := func(s string, depth int) {
		if depth > 0 {
			s = strings.Repeat("  |", depth) + "--" + s
		}
		fmt.Fprintln(w, s)
	}
	walk = func(name string, depth int) {
		g := inv.Groups[name]
		line("@"+name+":", depth)
		for _, c := range g.Children {
			walk(c, depth+1)
		}
		if name != "all" {
			for _, h := range g.Hosts {
				line(h, depth+1)
			}
		}
	}
	walk(group, 0)
	return nil
}
