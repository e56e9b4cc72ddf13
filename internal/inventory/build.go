package inventory

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// layer is one block of variables, as written (raw: what
// ansible-inventory --list prints) and with connection names mapped to
// pgplay's (norm: what the runner reads).
type layer struct {
	raw, norm map[string]any
}

func newLayer() *layer { return &layer{raw: map[string]any{}, norm: map[string]any{}} }

// put writes o's values over l's.
func (l *layer) put(o *layer) {
	if o == nil {
		return
	}
	for k, v := range o.raw {
		l.raw[k] = v
	}
	for k, v := range o.norm {
		l.norm[k] = v
	}
}

// builder collects the sources of one inventory, then computes hosts'
// groups and vars (finish).
type builder struct {
	file       string // the file being read
	inv        *Inventory
	groupVars  map[string]*layer // vars written in inventory files
	hostVars   map[string]*layer
	hostAt     map[string]yamlsrc.Pos // first place a host was written
	groupAt    map[string]yamlsrc.Pos // first place a group was written
	edgeAt     map[[2]string]yamlsrc.Pos
	direct     map[string][]string // host -> groups it is written under
	member     map[[2]string]bool  // group, host -> host is in group's Hosts
	groupOrder []string            // groups in the order they were first written
	varsDirs   []string            // dirs whose group_vars/ host_vars/ apply (inventory sources)
	playDir    string              // the playbook's dir ("" none)
	dirCache   map[string]*layer
	warned     map[string]bool
}

func newBuilder() *builder {
	b := &builder{
		inv: &Inventory{
			Hosts:  map[string]*Host{},
			Groups: map[string]*Group{},
		},
		groupVars: map[string]*layer{},
		hostVars:  map[string]*layer{},
		hostAt:    map[string]yamlsrc.Pos{},
		groupAt:   map[string]yamlsrc.Pos{},
		edgeAt:    map[[2]string]yamlsrc.Pos{},
		direct:    map[string][]string{},
		member:    map[[2]string]bool{},
		dirCache:  map[string]*layer{},
		warned:    map[string]bool{},
	}
	// As Ansible's InventoryData: all, and ungrouped its first child.
	b.ensureGroup("all")
	b.ensureGroup("ungrouped")
	b.link("all", "ungrouped", yamlsrc.Pos{})
	return b
}

// warnf records a warning (once per place and text).
func (b *builder) warnf(at yamlsrc.Pos, format string, args ...any) {
	where := at.File
	if at.Line > 0 {
		where = at.String()
	}
	msg := fmt.Sprintf(format, args...)
	if where != "" {
		msg = where + ": " + msg
	}
	if !b.warned[msg] {
		b.warned[msg] = true
		b.inv.Warnings = append(b.inv.Warnings, msg)
	}
}

func errAtPos(at yamlsrc.Pos, hint, format string, args ...any) *yamlsrc.Error {
	if at.Line == 0 {
		at.Line, at.Col = 1, 1
	}
	return &yamlsrc.Error{Pos: at, Msg: fmt.Sprintf(format, args...), Hint: hint}
}

func checkName(at yamlsrc.Pos, what, name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errAtPos(at, "give the "+what+" a name", "empty %s name", what)
	case strings.ContainsAny(name, " \t\n"):
		return errAtPos(at, "use a name without spaces (e.g. "+strings.Join(strings.Fields(name), "_")+")",
			"invalid %s name %q: it contains a space", what, name)
	case strings.ContainsAny(name, badNameChars):
		hint := "these characters have a meaning in host patterns: " + badNameChars
		if what == "host" {
			hint += "; name the host (node1) and set its address with ssh_host; ranges such as db[01:03] expand to names"
		}
		return errAtPos(at, hint, "invalid %s name %q", what, name)
	}
	return nil
}

func (b *builder) ensureGroup(name string) *Group {
	g := b.inv.Groups[name]
	if g == nil {
		g = &Group{Name: name, Vars: map[string]any{}}
		b.inv.Groups[name] = g
		b.groupOrder = append(b.groupOrder, name)
	}
	return g
}

// link makes child a child group of parent.
func (b *builder) link(parent, child string, at yamlsrc.Pos) {
	pg, cg := b.inv.Groups[parent], b.inv.Groups[child]
	if !contains(pg.Children, child) {
		pg.Children = append(pg.Children, child)
		b.edgeAt[[2]string{parent, child}] = at
	}
	if !contains(cg.Parents, parent) {
		cg.Parents = append(cg.Parents, parent)
	}
}

// addGroup declares group name written at `at`, as a child of parent
// ("" for none).
func (b *builder) addGroup(name string, at yamlsrc.Pos, parent string) error {
	if err := checkName(at, "group", name); err != nil {
		return err
	}
	if name == "all" && parent != "" {
		return errAtPos(at, "every group is already in all; remove this entry", "group all cannot be a child of %q", parent)
	}
	if hat, isHost := b.hostAt[name]; isHost {
		return errAtPos(at, "rename the group or the host: a name is either a host or a group",
			"%q is a host (%s) and a group", name, shortPos(hat, at))
	}
	b.ensureGroup(name)
	if _, ok := b.groupAt[name]; !ok {
		b.groupAt[name] = at
	}
	if parent != "" {
		b.link(parent, name, at)
	}
	return nil
}

// shortPos names p as "line N" when it is in the same file as from.
func shortPos(p, from yamlsrc.Pos) string {
	if p.File == from.File || p.File == "" {
		return fmt.Sprintf("line %d", p.Line)
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// addHost adds host name (written at `at`) to group with its vars.
func (b *builder) addHost(name string, at yamlsrc.Pos, group string, vars *layer) error {
	if err := checkName(at, "host", name); err != nil {
		return err
	}
	if gat, isGroup := b.groupAt[name]; isGroup || name == "all" || name == "ungrouped" {
		return errAtPos(at, "rename the group or the host: a name is either a host or a group",
			"%q is a group (%s) and a host", name, shortPos(gat, at))
	}
	if _, ok := b.inv.Hosts[name]; !ok {
		b.inv.Hosts[name] = &Host{Name: name}
		b.inv.Order = append(b.inv.Order, name)
		b.hostAt[name] = at
		b.hostVars[name] = newLayer()
	}
	b.hostVars[name].put(vars)
	g := b.inv.Groups[group]
	if group != "ungrouped" && !b.member[[2]string{group, name}] {
		b.member[[2]string{group, name}] = true
		g.Hosts = append(g.Hosts, name)
	}
	if !contains(b.direct[name], group) {
		b.direct[name] = append(b.direct[name], group)
	}
	return nil
}

// setGroupVars adds vars written in an inventory file to group.
func (b *builder) setGroupVars(group string, vars *layer) {
	if b.groupVars[group] == nil {
		b.groupVars[group] = newLayer()
	}
	b.groupVars[group].put(vars)
}

// finish checks the group graph and computes hosts' groups and vars.
func (b *builder) finish() error {
	inv := b.inv
	if len(inv.Hosts) == 0 {
		return &yamlsrc.Error{Pos: yamlsrc.Pos{File: b.file, Line: 1, Col: 1}, Msg: "inventory has no hosts", Hint: example}
	}
	// As Ansible's reconcile_inventory: a group with no parent is a child
	// of all, in the order groups were first written.
	for _, g := range b.groupOrder {
		if g != "all" && len(inv.Groups[g].Parents) == 0 {
			b.link("all", g, b.groupAt[g])
		}
	}
	if err := b.checkCycles(); err != nil {
		return err
	}
	ug := inv.Groups["ungrouped"]
	for _, h := range inv.Order {
		only := true
		for _, g := range b.direct[h] {
			if g != "all" && g != "ungrouped" {
				only = false
			}
		}
		if only && !b.member[[2]string{"ungrouped", h}] {
			b.member[[2]string{"ungrouped", h}] = true
			ug.Hosts = append(ug.Hosts, h)
			b.direct[h] = appendNew(b.direct[h], "ungrouped")
		}
	}
	depth := map[string]int{}
	var depthOf func(string) int
	depthOf = func(g string) int {
		if d, ok := depth[g]; ok {
			return d
		}
		depth[g] = 0 // cycles are refused above; this only guards recursion
		d := 0
		for _, p := range inv.Groups[g].Parents {
			d = max(d, depthOf(p)+1)
		}
		depth[g] = d
		return d
	}
	priority := map[string]int{}
	for name := range inv.Groups {
		priority[name] = 1
		if l := b.groupVars[name]; l != nil {
			if p, ok := l.norm["ansible_group_priority"].(int); ok {
				priority[name] = p
			}
		}
	}
	sortGroups := func(gs []string) {
		sort.SliceStable(gs, func(i, j int) bool {
			di, dj := depthOf(gs[i]), depthOf(gs[j])
			if di != dj {
				return di < dj
			}
			if priority[gs[i]] != priority[gs[j]] {
				return priority[gs[i]] < priority[gs[j]]
			}
			return gs[i] < gs[j]
		})
	}
	// Group vars of the group_vars/ directories, read once per group.
	dirs := append([]string(nil), b.varsDirs...)
	var playDirs []string
	if b.playDir != "" {
		playDirs = []string{b.playDir}
	}
	type groupDirVars struct{ inv, play *layer }
	gdv := map[string]groupDirVars{}
	for _, name := range b.groupOrder {
		iv, err := b.dirsVars(dirs, "group_vars", name)
		if err != nil {
			return err
		}
		pv, err := b.dirsVars(playDirs, "group_vars", name)
		if err != nil {
			return err
		}
		gdv[name] = groupDirVars{iv, pv}
		all := newLayer()
		all.put(b.groupVars[name])
		all.put(iv)
		all.put(pv)
		inv.Groups[name].Vars = all.norm
	}
	for _, name := range inv.Order {
		h := inv.Hosts[name]
		set := map[string]bool{}
		var up func(string)
		up = func(g string) {
			if set[g] {
				return
			}
			set[g] = true
			for _, p := range inv.Groups[g].Parents {
				up(p)
			}
		}
		up("all")
		for _, g := range b.direct[name] {
			up(g)
		}
		h.Groups = h.Groups[:0]
		for g := range set {
			h.Groups = append(h.Groups, g)
		}
		sort.Strings(h.Groups)
		var order []string
		for _, g := range h.Groups {
			if g != "all" {
				order = append(order, g)
			}
		}
		sortGroups(order)
		// Ansible's order (VARIABLE_PRECEDENCE, then host vars): all's
		// inventory vars, the groups' inventory vars, group_vars/all
		// beside the inventory, then beside the playbook, the other
		// group_vars/ beside the inventory, then beside the playbook;
		// the host's inventory vars, host_vars/ beside the inventory,
		// then beside the playbook.
		v := newLayer()
		v.put(b.groupVars["all"])
		for _, g := range order {
			v.put(b.groupVars[g])
		}
		v.put(gdv["all"].inv)
		v.put(gdv["all"].play)
		for _, d := range dirs {
			for _, g := range order {
				l, err := b.dirsVars([]string{d}, "group_vars", g)
				if err != nil {
					return err
				}
				v.put(l)
			}
		}
		for _, g := range order {
			v.put(gdv[g].play)
		}
		v.put(b.hostVars[name])
		hv, err := b.dirsVars(dirs, "host_vars", name)
		if err != nil {
			return err
		}
		v.put(hv)
		pv, err := b.dirsVars(playDirs, "host_vars", name)
		if err != nil {
			return err
		}
		v.put(pv)
		// Each host gets its own copy of nested maps and lists, so that
		// changing one host's vars never changes another's.
		h.Vars = deepCopy(v.norm).(map[string]any)
		delete(h.Vars, "ansible_group_priority") // a group's, not a variable
		h.RawVars = deepCopy(v.raw).(map[string]any)
	}
	b.checkVarsDirs(append(dirs, playDirs...))
	return nil
}

// intValue reads an int from a decoded value (an int, or a string of one).
func intValue(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		return n, err == nil
	}
	return 0, false
}
