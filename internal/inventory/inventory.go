package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pgplay/pgplay/internal/playbook"
)

// Error is a positioned inventory error (file:line:col, message, hint);
// it is the playbook package's error type, so callers handle both alike.
type Error = playbook.Error

const example = "an inventory looks like:\n" +
	"    all:\n" +
	"      vars: {ssh_user: admin}\n" +
	"      children:\n" +
	"        db:\n" +
	"          hosts:\n" +
	"            node1: {ssh_host: 10.0.0.11}"

// badNameChars are characters that have a meaning in host patterns.
const badNameChars = ":!&,*?[]~"

// connAliases maps Ansible's connection variables to pgplay's.
var connAliases = map[string]string{
	"ansible_host":                 "ssh_host",
	"ansible_ssh_host":             "ssh_host",
	"ansible_port":                 "ssh_port",
	"ansible_ssh_port":             "ssh_port",
	"ansible_user":                 "ssh_user",
	"ansible_ssh_user":             "ssh_user",
	"ansible_ssh_private_key_file": "ssh_key",
	"ansible_private_key_file":     "ssh_key",
	"ansible_connection":           "connection",
}

// Load reads and parses an inventory file.
func Load(path string) (*Inventory, error) {
	const hint = "\n  hint: give the path of a YAML inventory with -i (inventory.example.yaml shows the format)"
	st, err := os.Stat(path)
	if err != nil {
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err // the path is in the message already
		}
		return nil, fmt.Errorf("inventory %s: %w%s", path, err, hint)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("inventory %s is a directory, not a file%s", path, hint)
	}
	if st.Size() > playbook.MaxFileSize {
		// Parse refuses it too; do not read it all first.
		return nil, &Error{Pos: playbook.Pos{File: path, Line: 1, Col: 1},
			Msg:  fmt.Sprintf("file is too large (%d MiB; pgplay reads YAML files of at most %d MiB)", st.Size()>>20, playbook.MaxFileSize>>20),
			Hint: "check the -i path: an inventory is a small YAML file"}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read inventory %s: %w%s", path, err, hint)
	}
	return Parse(path, data)
}

type builder struct {
	file     string
	inv      *Inventory
	hostVars map[string]map[string]any // host -> its own vars, merged in order
	hostAt   map[string]*yaml.Node     // first place a host was written
	groupAt  map[string]*yaml.Node     // first place a group was written
	edgeAt   map[[2]string]*yaml.Node  // parent,child -> where the child was written
	direct   map[string][]string       // host -> groups it is written under
}

// Parse parses inventory YAML; file names it in errors.
func Parse(file string, data []byte) (*Inventory, error) {
	root, err := playbook.ParseYAML(file, data)
	if err != nil {
		if looksINI(data) {
			if pe, ok := err.(*Error); ok {
				pe.Hint = "INI inventories are not supported; write it as YAML: " + example
			}
		}
		return nil, err
	}
	if root == nil {
		return nil, &Error{Pos: playbook.Pos{File: file, Line: 1, Col: 1}, Msg: "inventory is empty", Hint: example}
	}
	if root.Kind != yaml.MappingNode {
		hint := "the top level is a mapping of groups (usually just `all:`); " + example
		if looksINI(data) {
			hint = "INI inventories are not supported; write it as YAML: " + example
		}
		return nil, errAt(file, root, hint, "an inventory must be a mapping of groups, not a %s", kind(root))
	}
	b := &builder{
		file: file,
		inv: &Inventory{
			File:   file,
			Hosts:  map[string]*Host{},
			Groups: map[string]*Group{},
		},
		hostVars: map[string]map[string]any{},
		hostAt:   map[string]*yaml.Node{},
		groupAt:  map[string]*yaml.Node{},
		edgeAt:   map[[2]string]*yaml.Node{},
		direct:   map[string][]string{},
	}
	b.ensureGroup("all")
	ps, err := mapping(file, root)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		parent := "all"
		if p.key == "all" {
			parent = ""
		}
		if err := b.group(p.key, p.k, p.v, parent); err != nil {
			return nil, err
		}
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	return b.inv, nil
}

func looksINI(data []byte) bool {
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";") {
			continue
		}
		return strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") && !strings.Contains(l, ",")
	}
	return false
}

func errAt(file string, n *yaml.Node, hint, format string, args ...any) *Error {
	return &Error{Pos: playbook.PosOf(file, n), Msg: fmt.Sprintf(format, args...), Hint: hint}
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	if n.ShortTag() == "!!null" {
		return "null"
	}
	return "scalar (" + strconv.Quote(n.Value) + ")"
}

type kv struct {
	key  string
	k, v *yaml.Node
}

// mapping returns the entries of a mapping node with aliases resolved and
// duplicate keys rejected. A null node gives no entries.
func mapping(file string, n *yaml.Node) ([]kv, error) {
	n = resolve(n)
	if n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null") {
		return nil, nil
	}
	seen := map[string]*yaml.Node{}
	var out []kv
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return nil, errAt(file, k, "write names as plain keys", "a key must be a name, not a %s", kind(k))
		}
		if first, dup := seen[k.Value]; dup {
			return nil, errAt(file, k, "write each name once in a mapping (a host may be listed in several groups)",
				"%q is given twice here (first at line %d)", k.Value, first.Line)
		}
		seen[k.Value] = k
		out = append(out, kv{k.Value, k, v})
	}
	return out, nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func checkName(file string, n *yaml.Node, what, name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errAt(file, n, "give the "+what+" a name", "empty %s name", what)
	case strings.ContainsAny(name, " \t\n"):
		return errAt(file, n, "use a name without spaces (e.g. "+strings.Join(strings.Fields(name), "_")+")",
			"invalid %s name %q: it contains a space", what, name)
	case strings.ContainsAny(name, badNameChars):
		hint := "these characters have a meaning in host patterns: " + badNameChars
		if what == "host" {
			hint += "; name the host (node1) and set its address with ssh_host"
		}
		return errAt(file, n, hint, "invalid %s name %q", what, name)
	}
	return nil
}

func (b *builder) ensureGroup(name string) *Group {
	g := b.inv.Groups[name]
	if g == nil {
		g = &Group{Name: name, Vars: map[string]any{}}
		b.inv.Groups[name] = g
	}
	return g
}

var groupKeys = []string{"vars", "hosts", "children"}

// group adds (or extends) group name defined at k with body v under parent.
func (b *builder) group(name string, k, v *yaml.Node, parent string) error {
	file := b.file
	if err := checkName(file, k, "group", name); err != nil {
		return err
	}
	if name == "all" && parent != "" {
		return errAt(file, k, "every group is already in all; remove this entry", "group all cannot be a child of %q", parent)
	}
	if at, isHost := b.hostAt[name]; isHost {
		return errAt(file, k, "rename the group or the host: a name is either a host or a group",
			"%q is a host (line %d) and a group", name, at.Line)
	}
	g := b.ensureGroup(name)
	if _, ok := b.groupAt[name]; !ok {
		b.groupAt[name] = k
	}
	if parent != "" {
		pg := b.inv.Groups[parent]
		if !contains(pg.Children, name) {
			pg.Children = append(pg.Children, name)
			b.edgeAt[[2]string{parent, name}] = k
		}
		if !contains(g.Parents, parent) {
			g.Parents = append(g.Parents, parent)
		}
	}
	if isNull(v) {
		return nil
	}
	if resolve(v).Kind != yaml.MappingNode {
		hint := "a group is a mapping with vars:, hosts: and children:"
		if resolve(v).Kind == yaml.SequenceNode {
			hint = "list hosts under `hosts:` as a mapping: `hosts: {node1: , node2: }` or one `node1:` per line"
		}
		return errAt(file, v, hint, "group %q must be a mapping, not a %s", name, kind(resolve(v)))
	}
	ps, err := mapping(file, v)
	if err != nil {
		return err
	}
	for _, p := range ps {
		switch p.key {
		case "vars":
			vars, err := b.vars(p.v, "group "+name+" vars")
			if err != nil {
				return err
			}
			for k, x := range vars {
				g.Vars[k] = x
			}
		case "hosts":
			if err := b.hosts(g, p.v); err != nil {
				return err
			}
		case "children":
			if !isNull(p.v) && resolve(p.v).Kind != yaml.MappingNode {
				return errAt(file, p.v, "children is a mapping of groups: `children: {db: , web: }` or one `db:` per line",
					"children of %q must be a mapping, not a %s", name, kind(resolve(p.v)))
			}
			cs, err := mapping(file, p.v)
			if err != nil {
				return err
			}
			for _, c := range cs {
				if err := b.group(c.key, c.k, c.v, name); err != nil {
					return err
				}
			}
		default:
			hint := "a group has only " + strings.Join(groupKeys, ", ")
			if s := playbook.Suggest(p.key, groupKeys); len(s) > 0 {
				hint = fmt.Sprintf("did you mean %q? ", s[0]) + hint
			}
			hint += "; group variables go under vars:, a host's under hosts: NAME:"
			return errAt(file, p.k, hint, "unknown key %q in group %q", p.key, name)
		}
	}
	return nil
}

func (b *builder) hosts(g *Group, v *yaml.Node) error {
	file := b.file
	if !isNull(v) && resolve(v).Kind != yaml.MappingNode {
		hint := "hosts is a mapping of host names: `node1:` on its own line (its value may be empty or hold its vars)"
		if resolve(v).Kind == yaml.SequenceNode {
			hint = "hosts is a mapping, not a list: write `node1:` instead of `- node1`"
		}
		return errAt(file, v, hint, "hosts of group %q must be a mapping, not a %s", g.Name, kind(resolve(v)))
	}
	hs, err := mapping(file, v)
	if err != nil {
		return err
	}
	for _, h := range hs {
		if err := checkName(file, h.k, "host", h.key); err != nil {
			return err
		}
		if _, isGroup := b.groupAt[h.key]; isGroup || h.key == "all" {
			at := b.groupAt[h.key]
			line := 0
			if at != nil {
				line = at.Line
			}
			return errAt(file, h.k, "rename the group or the host: a name is either a host or a group",
				"%q is a group (line %d) and a host", h.key, line)
		}
		if !isNull(h.v) && resolve(h.v).Kind != yaml.MappingNode {
			hint := "a host's value is a mapping of its vars (or empty)"
			if resolve(h.v).Kind == yaml.ScalarNode {
				hint += "; for an address write `" + h.key + ": {ssh_host: " + resolve(h.v).Value + "}`"
			}
			return errAt(file, h.v, hint, "vars of host %q must be a mapping, not a %s", h.key, kind(resolve(h.v)))
		}
		vars, err := b.vars(h.v, "host "+h.key+" vars")
		if err != nil {
			return err
		}
		if _, ok := b.inv.Hosts[h.key]; !ok {
			b.inv.Hosts[h.key] = &Host{Name: h.key}
			b.inv.Order = append(b.inv.Order, h.key)
			b.hostAt[h.key] = h.k
			b.hostVars[h.key] = map[string]any{}
		}
		for k, x := range vars {
			b.hostVars[h.key][k] = x
		}
		if !contains(g.Hosts, h.key) {
			g.Hosts = append(g.Hosts, h.key)
		}
		if !contains(b.direct[h.key], g.Name) {
			b.direct[h.key] = append(b.direct[h.key], g.Name)
		}
	}
	return nil
}

// vars decodes a vars mapping and normalizes connection variables.
func (b *builder) vars(v *yaml.Node, what string) (map[string]any, error) {
	file := b.file
	vars, err := playbook.DecodeVars(file, v, what)
	if err != nil {
		return nil, err
	}
	ps, err := mapping(file, v)
	if err != nil {
		return nil, err
	}
	at := map[string]*yaml.Node{}
	for _, p := range ps {
		at[p.key] = p.k
	}
	aliases := make([]string, 0, len(connAliases))
	for a := range connAliases {
		aliases = append(aliases, a)
	}
	sort.Strings(aliases)
	for _, alias := range aliases {
		val, ok := vars[alias]
		if !ok {
			continue
		}
		name := connAliases[alias]
		if prev, both := vars[name]; both && fmt.Sprint(prev) != fmt.Sprint(val) {
			return nil, errAt(file, at[alias], "give the value once, as "+name,
				"%s (%v) conflicts with %s (%v)", alias, val, name, prev)
		}
		vars[name] = val
		if at[name] == nil {
			at[name] = at[alias]
		}
		delete(vars, alias)
	}
	if p, ok := vars["ssh_port"]; ok {
		port, valid := p.(int)
		if s, isStr := p.(string); isStr {
			n, err := strconv.Atoi(s)
			port, valid = n, err == nil
		}
		if !valid || port < 1 || port > 65535 {
			return nil, errAt(file, at["ssh_port"], "a port is a number from 1 to 65535", "invalid ssh_port %q", fmt.Sprint(p))
		}
		vars["ssh_port"] = port
	}
	if c, ok := vars["connection"]; ok && c != "ssh" && c != "local" {
		return nil, errAt(file, at["connection"], "connection is ssh (the default) or local", "invalid connection %q", fmt.Sprint(c))
	}
	return vars, nil
}

// finish checks the group graph and computes hosts' groups and vars.
func (b *builder) finish() error {
	inv := b.inv
	if len(inv.Hosts) == 0 {
		return &Error{Pos: playbook.Pos{File: b.file, Line: 1, Col: 1}, Msg: "inventory has no hosts", Hint: example}
	}
	if err := b.checkCycles(); err != nil {
		return err
	}
	// ungrouped: hosts in no group but all.
	ug := inv.Groups["ungrouped"]
	if ug == nil {
		ug = b.ensureGroup("ungrouped")
		ug.Parents = []string{"all"}
		inv.Groups["all"].Children = append(inv.Groups["all"].Children, "ungrouped")
	}
	for _, h := range inv.Order {
		only := true
		for _, g := range b.direct[h] {
			if g != "all" && g != "ungrouped" {
				only = false
			}
		}
		if only && !contains(ug.Hosts, h) {
			ug.Hosts = append(ug.Hosts, h)
		}
	}
	depth := map[string]int{}
	var depthOf func(string) int
	depthOf = func(g string) int {
		if d, ok := depth[g]; ok {
			return d
		}
		d := 0
		for _, p := range inv.Groups[g].Parents {
			d = max(d, depthOf(p)+1)
		}
		depth[g] = d
		return d
	}
	for _, name := range inv.Order {
		h := inv.Hosts[name]
		set := map[string]bool{"all": true}
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
		for _, g := range b.direct[name] {
			up(g)
		}
		if contains(ug.Hosts, name) {
			set["ungrouped"] = true
		}
		for g := range set {
			h.Groups = append(h.Groups, g)
		}
		sort.Strings(h.Groups)
		order := append([]string{}, h.Groups...)
		sort.SliceStable(order, func(i, j int) bool {
			di, dj := depthOf(order[i]), depthOf(order[j])
			if di != dj {
				return di < dj
			}
			return order[i] < order[j]
		})
		// Each host gets its own copy of nested maps and lists, so that
		// changing one host's vars never changes another's.
		h.Vars = map[string]any{}
		for _, g := range order {
			for k, v := range inv.Groups[g].Vars {
				h.Vars[k] = deepCopy(v)
			}
		}
		for k, v := range b.hostVars[name] {
			h.Vars[k] = deepCopy(v)
		}
	}
	return nil
}

func (b *builder) checkCycles() error {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(string) error
	visit = func(g string) error {
		state[g] = active
		stack = append(stack, g)
		for _, c := range b.inv.Groups[g].Children {
			switch state[c] {
			case active:
				i := indexOf(stack, c)
				cyc := append(append([]string{}, stack[i:]...), c)
				return errAt(b.file, b.edgeAt[[2]string{g, c}], "a group cannot contain itself, directly or through its children; remove one of these children: entries",
					"group cycle: %s", strings.Join(cyc, " -> "))
			case unseen:
				if err := visit(c); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[g] = done
		return nil
	}
	names := make([]string, 0, len(b.inv.Groups))
	for n := range b.inv.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	if err := visit("all"); err != nil {
		return err
	}
	for _, n := range names {
		if state[n] == unseen {
			if err := visit(n); err != nil {
				return err
			}
		}
	}
	return nil
}

func contains(s []string, x string) bool { return indexOf(s, x) >= 0 }

func indexOf(s []string, x string) int {
	for i, y := range s {
		if y == x {
			return i
		}
	}
	return -1
}

// deepCopy copies the maps and lists of a decoded YAML value.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}
