package inventory

import (
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pgplay/pgplay/internal/yamlsrc"
)

const example = "an inventory looks like:\n" +
	"    all:\n" +
	"      vars: {ssh_user: admin}\n" +
	"      children:\n" +
	"        db:\n" +
	"          hosts:\n" +
	"            node1: {ssh_host: 10.0.0.11}"

// badNameChars are characters that have a meaning in host patterns.
const badNameChars = ":!&,*?[]~"

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
	n = yamlsrc.Deref(n)
	if n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null") {
		return nil, nil
	}
	seen := map[string]*yaml.Node{}
	var out []kv
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlsrc.Deref(n.Content[i]), yamlsrc.Deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return nil, yamlsrc.ErrAt(file, k, "write names as plain keys", "a key must be a name, not a %s", kind(k))
		}
		if first, dup := seen[k.Value]; dup {
			return nil, yamlsrc.ErrAt(file, k, "write each name once in a mapping (a host may be listed in several groups)",
				"%q is given twice here (first at line %d)", k.Value, first.Line)
		}
		seen[k.Value] = k
		out = append(out, kv{k.Value, k, v})
	}
	return out, nil
}

// parseYAML reads a YAML inventory (root is its parsed top node).
func (b *builder) parseYAML(file string, data []byte, root *yaml.Node) error {
	if root == nil {
		return &yamlsrc.Error{Pos: yamlsrc.Pos{File: file, Line: 1, Col: 1}, Msg: "inventory is empty", Hint: example}
	}
	if yamlsrc.Deref(root).Kind != yaml.MappingNode {
		hint := "the top level is a mapping of groups (usually just `all:`); " + example
		return yamlsrc.ErrAt(file, root, hint, "an inventory must be a mapping of groups, not a %s", kind(yamlsrc.Deref(root)))
	}
	ps, err := mapping(file, root)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if pv := yamlsrc.Deref(p.v); p.key == "plugin" && pv.Kind == yaml.ScalarNode && !yamlsrc.IsNull(pv) {
			return yamlsrc.ErrAt(file, p.k, "pgplay reads static inventories (YAML or INI): write the hosts out, e.g. from `ansible-inventory -i "+file+" --list --yaml`, or move this file out of the inventory directory",
				"inventory plugin %q is not supported", pv.Value)
		}
		if err := b.group(p.key, p.k, p.v, ""); err != nil {
			return err
		}
	}
	return nil
}

var groupKeys = []string{"vars", "hosts", "children"}

// group adds (or extends) group name defined at k with body v under parent.
func (b *builder) group(name string, k, v *yaml.Node, parent string) error {
	file := b.file
	if err := b.addGroup(name, yamlsrc.PosOf(file, k), parent); err != nil {
		return err
	}
	if yamlsrc.IsNull(v) {
		return nil
	}
	if yamlsrc.Deref(v).Kind != yaml.MappingNode {
		hint := "a group is a mapping with vars:, hosts: and children:"
		if yamlsrc.Deref(v).Kind == yaml.SequenceNode {
			hint = "list hosts under `hosts:` as a mapping: `hosts: {node1: , node2: }` or one `node1:` per line"
		}
		return yamlsrc.ErrAt(file, v, hint, "group %q must be a mapping, not a %s", name, kind(yamlsrc.Deref(v)))
	}
	ps, err := mapping(file, v)
	if err != nil {
		return err
	}
	for _, p := range ps {
		switch p.key {
		case "vars":
			l, err := b.yamlVars(file, p.v, "group "+name+" vars", "group "+name)
			if err != nil {
				return err
			}
			b.setGroupVars(name, l)
		case "hosts":
			if err := b.hosts(name, p.v); err != nil {
				return err
			}
		case "children":
			cv := yamlsrc.Deref(p.v)
			if !yamlsrc.IsNull(cv) && cv.Kind == yaml.ScalarNode {
				// Ansible reads `children: db` as `children: {db: }`.
				if err := b.addGroup(cv.Value, yamlsrc.PosOf(file, cv), name); err != nil {
					return err
				}
				continue
			}
			if !yamlsrc.IsNull(cv) && cv.Kind != yaml.MappingNode {
				return yamlsrc.ErrAt(file, p.v, "children is a mapping of groups: `children: {db: , web: }` or one `db:` per line",
					"children of %q must be a mapping, not a %s", name, kind(cv))
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
			hint := yamlsrc.DidYouMean(p.key, groupKeys) + "a group has only " + strings.Join(groupKeys, ", ")
			hint += "; group variables go under vars:, a host's under hosts: NAME:"
			return yamlsrc.ErrAt(file, p.k, hint, "unknown key %q in group %q", p.key, name)
		}
	}
	return nil
}

func (b *builder) hosts(group string, v *yaml.Node) error {
	file := b.file
	if hv := yamlsrc.Deref(v); !yamlsrc.IsNull(hv) && hv.Kind == yaml.ScalarNode {
		// Ansible reads `hosts: node1` as `hosts: {node1: }`.
		return b.yamlHost(group, hv.Value, hv, nil)
	}
	if !yamlsrc.IsNull(v) && yamlsrc.Deref(v).Kind != yaml.MappingNode {
		hint := "hosts is a mapping of host names: `node1:` on its own line (its value may be empty or hold its vars)"
		if yamlsrc.Deref(v).Kind == yaml.SequenceNode {
			hint = "hosts is a mapping, not a list: write `node1:` instead of `- node1`"
		}
		return yamlsrc.ErrAt(file, v, hint, "hosts of group %q must be a mapping, not a %s", group, kind(yamlsrc.Deref(v)))
	}
	hs, err := mapping(file, v)
	if err != nil {
		return err
	}
	for _, h := range hs {
		if err := b.yamlHost(group, h.key, h.k, h.v); err != nil {
			return err
		}
	}
	return nil
}

// yamlHost adds the host(s) of one `hosts:` entry: a name or a range,
// either with :port, and its vars (v, may be nil).
func (b *builder) yamlHost(group, pattern string, k, v *yaml.Node) error {
	file := b.file
	at := yamlsrc.PosOf(file, k)
	names, port, err := expandHost(pattern)
	if err != nil {
		return errAtPos(at, "a host is a name, optionally with a range and a port: db[01:03], db1:2222, [a:c]web", "%v", err)
	}
	if !yamlsrc.IsNull(v) && yamlsrc.Deref(v).Kind != yaml.MappingNode {
		hint := "a host's value is a mapping of its vars (or empty)"
		if yamlsrc.Deref(v).Kind == yaml.ScalarNode {
			hint += "; for an address write `" + pattern + ": {ssh_host: " + yamlsrc.Deref(v).Value + "}`"
		}
		return yamlsrc.ErrAt(file, v, hint, "vars of host %q must be a mapping, not a %s", pattern, kind(yamlsrc.Deref(v)))
	}
	for _, name := range names {
		vars := newLayer()
		if port != 0 {
			vars.raw["ansible_port"] = port
			vars.norm["ssh_port"] = port
		}
		if v != nil {
			l, err := b.yamlVars(file, v, "host "+name+" vars", "host "+name)
			if err != nil {
				return err
			}
			vars.put(l)
		}
		if err := b.addHost(name, at, group, vars); err != nil {
			return err
		}
	}
	return nil
}

// yamlVars decodes a vars mapping; what names it in errors, owner is the
// group or host it belongs to.
func (b *builder) yamlVars(file string, v *yaml.Node, what, owner string) (*layer, error) {
	raw, err := yamlsrc.DecodeVars(file, v, what)
	if err != nil {
		return nil, err
	}
	ps, err := mapping(file, v)
	if err != nil {
		return nil, err
	}
	at := map[string]yamlsrc.Pos{}
	for _, p := range ps {
		at[p.key] = yamlsrc.PosOf(file, p.k)
	}
	return b.normalize(raw, at, owner)
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
				return errAtPos(b.edgeAt[[2]string{g, c}], "a group cannot contain itself, directly or through its children; remove one of these children: entries",
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
