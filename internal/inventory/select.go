package inventory

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// order returns all host names: Order first, then any host missing from it
// (an inventory built by hand), sorted.
func (inv *Inventory) order() []string {
	out := append([]string{}, inv.Order...)
	seen := make(map[string]bool, len(out))
	for _, h := range out {
		seen[h] = true
	}
	var rest []string
	for h := range inv.Hosts {
		if !seen[h] {
			rest = append(rest, h)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// members returns the set of hosts in group g, directly or through children.
func (inv *Inventory) members(g string) map[string]bool {
	set := map[string]bool{}
	if g == "all" {
		for h := range inv.Hosts {
			set[h] = true
		}
		return set
	}
	seen := map[string]bool{}
	var add func(string)
	add = func(name string) {
		grp := inv.Groups[name]
		if grp == nil || seen[name] {
			return
		}
		seen[name] = true
		for _, h := range grp.Hosts {
			set[h] = true
		}
		for _, c := range grp.Children {
			add(c)
		}
	}
	add(g)
	return set
}

// GroupMembers returns each group's hosts (directly or through children),
// in inventory order; "all" and "ungrouped" are included.
func (inv *Inventory) GroupMembers() map[string][]string {
	order := inv.order()
	out := make(map[string][]string, len(inv.Groups)+2)
	names := []string{"all", "ungrouped"}
	for g := range inv.Groups {
		names = append(names, g)
	}
	for _, g := range names {
		if _, done := out[g]; done {
			continue
		}
		set := inv.members(g)
		list := []string{}
		for _, h := range order {
			if set[h] {
				list = append(list, h)
			}
		}
		out[g] = list
	}
	return out
}

// Select returns the hosts (in inventory order) matching an Ansible host
// pattern: names of hosts and groups, all or *, globs (node*, node[12]),
// ~regex, joined with : or , (union), :&name (intersection) and :!name
// (exclusion). Unions are applied first, in order, then intersections,
// then exclusions. A name that matches no host or group is an error.
func (inv *Inventory) Select(pattern string) ([]*Host, error) {
	var regular, inter, excl []string
	for _, term := range strings.FieldsFunc(pattern, func(r rune) bool { return r == ',' || r == ':' }) {
		term = strings.TrimSpace(term)
		switch {
		case term == "":
		case strings.HasPrefix(term, "!"):
			excl = append(excl, term[1:])
		case strings.HasPrefix(term, "&"):
			inter = append(inter, term[1:])
		default:
			regular = append(regular, term)
		}
	}
	if len(regular)+len(inter)+len(excl) == 0 {
		return nil, fmt.Errorf("empty host pattern %q: name a host, a group, or all", pattern)
	}
	if len(regular) == 0 {
		regular = []string{"all"}
	}
	set := map[string]bool{}
	for _, t := range regular {
		m, err := inv.match(t, pattern)
		if err != nil {
			return nil, err
		}
		for h := range m {
			set[h] = true
		}
	}
	for _, t := range inter {
		m, err := inv.match(t, pattern)
		if err != nil {
			return nil, err
		}
		for h := range set {
			if !m[h] {
				delete(set, h)
			}
		}
	}
	for _, t := range excl {
		m, err := inv.match(t, pattern)
		if err != nil {
			return nil, err
		}
		for h := range m {
			delete(set, h)
		}
	}
	out := []*Host{}
	for _, h := range inv.order() {
		if set[h] {
			out = append(out, inv.Hosts[h])
		}
	}
	return out, nil
}

// match returns the hosts one pattern term names.
func (inv *Inventory) match(term, pattern string) (map[string]bool, error) {
	if term == "" {
		return nil, fmt.Errorf("empty name after ! or & in host pattern %q", pattern)
	}
	if term == "all" || term == "*" {
		return inv.members("all"), nil
	}
	var test func(string) bool
	switch {
	case strings.HasPrefix(term, "~"):
		re, err := regexp.Compile(term[1:])
		if err != nil {
			return nil, fmt.Errorf("host pattern %q: bad regular expression %q: %w", pattern, term[1:], err)
		}
		test = re.MatchString
	case strings.ContainsAny(term, "*?["):
		if _, err := path.Match(term, ""); err != nil {
			return nil, fmt.Errorf("host pattern %q: bad glob %q: %w", pattern, term, err)
		}
		test = func(name string) bool { ok, _ := path.Match(term, name); return ok }
	default:
		test = func(name string) bool { return name == term }
	}
	set := map[string]bool{}
	found := false
	for g := range inv.Groups {
		if test(g) {
			found = true
			for h := range inv.members(g) {
				set[h] = true
			}
		}
	}
	if test("ungrouped") && inv.Groups["ungrouped"] == nil {
		found = true
	}
	for h := range inv.Hosts {
		if test(h) {
			found = true
			set[h] = true
		}
	}
	if !found {
		return nil, inv.unknown(term, pattern)
	}
	return set, nil
}

func (inv *Inventory) unknown(term, pattern string) error {
	groups := make([]string, 0, len(inv.Groups))
	for g := range inv.Groups {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	msg := fmt.Sprintf("unknown host or group %q in pattern %q (known groups: %s)", term, pattern, strings.Join(groups, ", "))
	if s := yamlsrc.DidYouMean(term, append(groups, inv.order()...)); s != "" {
		msg += "; " + strings.TrimSpace(s)
	}
	return errors.New(msg)
}
