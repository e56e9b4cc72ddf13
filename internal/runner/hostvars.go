package runner

import (
	"maps"
)

// .hostvars is every inventory host's inventory vars, facts and registered
// results, as they were when the task started. Rather than copy them all
// for every task, the run keeps one entry per host that is replaced (never
// changed) when the host's facts or variables change, and one snapshot
// map of the entries that is rebuilt only when an entry was replaced.

// hostvarsSnapshot returns .hostvars and .groups for a task about to start.
// Neither map, nor any entry of .hostvars, is changed afterwards.
func (r *Runner) hostvarsSnapshot() (map[string]any, map[string]any) {
	r.hvMu.Lock()
	started := r.hvHosts != nil
	r.hvMu.Unlock()
	if !started {
		// The first task: an entry per inventory host. (hvMu is not held
		// while a host's mu is: hostChanged takes them the other way.)
		inv := r.opt.Inventory
		hv := make(map[string]map[string]any, len(inv.Hosts))
		for name, h := range inv.Hosts {
			if hs, ok := r.hosts[name]; ok {
				hs.mu.Lock()
				hv[name] = hostvarsEntry(h.Vars, name, hs.facts, hs.vars)
				hs.mu.Unlock()
			} else {
				hv[name] = hostvarsEntry(h.Vars, name, map[string]any{}, nil)
			}
		}
		groups := map[string]any{}
		for g, members := range inv.GroupMembers() {
			l := make([]any, len(members))
			for i, n := range members {
				l[i] = n
			}
			groups[g] = l
		}
		r.hvMu.Lock()
		if r.hvHosts == nil {
			r.hvHosts, r.groups = hv, groups
		}
		r.hvMu.Unlock()
	}
	r.hvMu.Lock()
	defer r.hvMu.Unlock()
	if r.hvSnap == nil {
		r.hvSnap = make(map[string]any, len(r.hvHosts))
		for name, e := range r.hvHosts {
			r.hvSnap[name] = e
		}
	}
	return r.hvSnap, r.groups
}

// hostvarsEntry is one host's .hostvars entry: its inventory vars, its
// name, its facts, and its registered results and set_fact on top.
func hostvarsEntry(invVars map[string]any, name string, facts, vars map[string]any) map[string]any {
	m := make(map[string]any, len(invVars)+len(vars)+2)
	for k, x := range invVars {
		m[k] = x
	}
	m["inventory_hostname"] = name
	m["facts"] = facts
	for k, x := range vars {
		m[k] = x
	}
	return m
}

// hostChanged records that keys of h.vars (and h.facts, when facts) were
// set, in h's .hostvars entry for later tasks. The caller holds h.mu.
func (r *Runner) hostChanged(h *hostState, keys []string, facts bool) {
	name := h.host.Name
	r.hvMu.Lock()
	old, ok := r.hvHosts[name]
	r.hvMu.Unlock()
	if !ok {
		return // no task has started yet: the first snapshot reads h
	}
	m := maps.Clone(old) // entries are never changed: copy, then replace
	if facts {
		if _, hidden := h.vars["facts"]; !hidden {
			m["facts"] = h.facts
		}
	}
	for _, k := range keys {
		m[k] = h.vars[k]
	}
	r.hvMu.Lock()
	r.hvHosts[name] = m
	r.hvSnap = nil
	r.hvMu.Unlock()
}

// setVar sets a registered result or fact of h, keeping h.tmplKeys. The
// caller holds h.mu.
func (h *hostState) setVar(k string, v any) {
	h.vars[k] = v
	if hasTemplate(v) {
		h.tmplKeys[k] = true
	} else {
		delete(h.tmplKeys, k)
	}
}

// setFacts replaces h's facts. The caller holds h.mu.
func (h *hostState) setFacts(f map[string]any) {
	h.facts = f
	h.factsTmpl = hasTemplate(f)
}
