package playbook

import (
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pgplay/pgplay/internal/content"
	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// This file holds role dependencies: meta/main.yaml and the expansion of a
// play's roles into the order they run in.

// metaKeys are the keys a role's meta/main.yaml may have.
var metaKeys = []string{"allow_duplicates", "dependencies", "galaxy_info"}

// roleCycle is a role that depends on itself, directly or through others.
type roleCycle struct {
	chain []string // role names, the first repeated at the end
}

func (e *roleCycle) Error() string {
	return "role dependency cycle: " + strings.Join(e.chain, " -> ")
}

// roleMeta parses a role's meta/main.yaml (file, data): its dependencies,
// loaded through base and src, and allow_duplicates.
func (p *parser) roleMeta(role *Role, file string, data []byte, base place, src *content.Source) error {
	root, err := yamlsrc.ParseYAML(file, data)
	if err != nil {
		return err
	}
	if root == nil {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return yamlsrc.ErrAt(file, root, "write `dependencies: [other_role]` (and optionally `allow_duplicates: true`)",
			"a role's meta/main.yaml must be a mapping, not a %s", yamlsrc.KindName(root))
	}
	ps, err := yamlsrc.Pairs(file, root)
	if err != nil {
		return err
	}
	for _, q := range ps {
		switch q.Key {
		case "dependencies":
			role.Dependencies, err = p.roleList(roleLookup{file: file, key: "dependencies", base: base, src: src}, q.V)
		case "allow_duplicates":
			role.AllowDuplicates, err = yamlsrc.Bool(file, q.V, "allow_duplicates")
		case "galaxy_info":
			// Ansible Galaxy's description of the role: not used.
		default:
			err = yamlsrc.ErrAt(file, q.K, yamlsrc.DidYouMean(q.Key, metaKeys)+"valid keys in a role's meta/main.yaml: "+strings.Join(metaKeys, ", "),
				"unknown key %q in role meta", q.Key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ExpandRoles returns the roles of a play in the order they run: each role
// after its dependencies (recursively, from meta/main.yaml), as Ansible
// does. A dependency inherits the when and tags of the role that lists it
// (added before its own) and its become and become_user unless it sets
// them. A role runs at most once per play: an entry for a role already in
// the list with the same params, when and tags is dropped, with its
// dependencies, unless the role's meta says allow_duplicates: true.
//
// References with DependencyOf set are expansions and are left out of refs,
// so ExpandRoles(ExpandRoles(refs)) == ExpandRoles(refs). Roles must be free
// of dependency cycles (the loader refuses them).
func ExpandRoles(refs []*RoleRef) []*RoleRef {
	var out []*RoleRef
	var add func(ref *RoleRef, depth int)
	add = func(ref *RoleRef, depth int) {
		if depth > 100 {
			return // a cycle the loader did not see: stop rather than recurse forever
		}
		if ref.Role != nil && !ref.Role.AllowDuplicates {
			for _, o := range out {
				if sameRole(o, ref) {
					return
				}
			}
		}
		if ref.Role != nil {
			for _, d := range ref.Role.Dependencies {
				add(inheritFrom(d, ref), depth+1)
			}
		}
		out = append(out, ref)
	}
	for _, r := range refs {
		if r.DependencyOf == nil {
			add(r, 0)
		}
	}
	return out
}

// inheritFrom returns a copy of dependency d as pulled in by parent.
func inheritFrom(d, parent *RoleRef) *RoleRef {
	c := *d
	c.DependencyOf = parent
	c.When = append(append([]string(nil), parent.When...), d.When...)
	c.Tags = append(append([]string(nil), parent.Tags...), d.Tags...)
	if c.Become == nil {
		c.Become = parent.Become
	}
	// Where each inherited value was written goes with it: the parent's
	// conditions first, as in When.
	c.ValPos = Positions{}
	for i := range parent.When {
		c.ValPos.take(parent.ValPos, "when", i, i)
	}
	for i := range d.When {
		c.ValPos.take(d.ValPos, "when", i, len(parent.When)+i)
	}
	from := d.ValPos
	if c.BecomeUser == "" {
		c.BecomeUser = parent.BecomeUser
		from = parent.ValPos
	}
	if at, ok := from["become_user"]; ok {
		c.ValPos["become_user"] = at
	}
	return &c
}

// recordPos records where the value v of the role entry's keyword key
// was written in file.
func (r *RoleRef) recordPos(file, key string, v *yaml.Node) {
	if r.ValPos == nil {
		r.ValPos = Positions{}
	}
	r.ValPos.record(file, key, v)
}

// take sets p's position of item to of key's value to that of item from
// in src (the value's own when it was not a list).
func (p Positions) take(src Positions, key string, from, to int) {
	if at, ok := src.Find(key + "[" + strconv.Itoa(from) + "]"); ok {
		p[key+"["+strconv.Itoa(to)+"]"] = at
	}
}

// sameRole says whether a and b run the same role the same way: same
// role directory, params, when and tags.
func sameRole(a, b *RoleRef) bool {
	if a.Role == nil || b.Role == nil || a.Role.Dir != b.Role.Dir {
		return false
	}
	return equalParams(a.Params, b.Params) && reflect.DeepEqual(nonNil(a.When), nonNil(b.When)) &&
		reflect.DeepEqual(nonNil(a.Tags), nonNil(b.Tags))
}

func equalParams(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
