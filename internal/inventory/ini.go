package inventory

import (
	"regexp"
	"strings"

	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// Ansible's INI section header: [group] or [group:hosts|vars|children],
// optionally followed by a comment.
var (
	iniSection   = regexp.MustCompile(`^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$`)
	iniGroupName = regexp.MustCompile(`^([^:\]\s]+)\s*(?:[#;].*)?$`)
)

const iniExample = "an INI inventory looks like:\n" +
	"    [db]\n" +
	"    node[1:3] ansible_host=10.0.0.1[1:3]\n" +
	"    [db:vars]\n" +
	"    ansible_user=admin\n" +
	"    [cluster:children]\n" +
	"    db"

// parseINI reads an INI inventory as Ansible's ini plugin does: hosts
// before the first section are ungrouped; [g] lists hosts (`name
// key=value ...`, values typed as Python literals), [g:vars] holds
// `key=value` lines, [g:children] names child groups, which may be
// declared later in the file.
func (b *builder) parseINI(file string, data []byte) error {
	if err := yamlsrc.CheckText(file, data); err != nil {
		return err
	}
	type pending struct {
		at      yamlsrc.Pos
		state   string
		parents []string
	}
	pend := map[string]*pending{}
	var pendOrder []string
	group, state := "ungrouped", "hosts"
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		at := yamlsrc.Pos{File: file, Line: i + 1, Col: 1}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if m := iniSection.FindStringSubmatch(line); m != nil {
			group, state = m[1], m[2]
			if state == "" {
				state = "hosts"
			}
			if state != "hosts" && state != "vars" && state != "children" {
				return errAtPos(at, "a section is [group], [group:vars] or [group:children]", "section [%s:%s] has unknown type %q", m[1], m[2], m[2])
			}
			if _, known := b.inv.Groups[group]; !known {
				// [g] and [g:children] declare g; [g:vars] needs it
				// declared somewhere in the file.
				if _, p := pend[group]; state == "vars" && !p {
					pend[group] = &pending{at: at, state: "vars"}
					pendOrder = append(pendOrder, group)
				}
			}
			if err := b.addGroup(group, at, ""); err != nil {
				return err
			}
			if p := pend[group]; p != nil && state != "vars" {
				if p.state == "children" {
					for _, parent := range p.parents {
						b.link(parent, group, p.at)
					}
				}
				delete(pend, group)
			}
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			return errAtPos(at, "write a section as [group], [group:vars] or [group:children], without spaces; "+iniExample,
				"invalid section %s", line)
		}
		switch state {
		case "hosts":
			if err := b.iniHost(at, group, line); err != nil {
				return err
			}
		case "vars":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return errAtPos(at, "a [group:vars] section holds `name=value` lines", "expected key=value, got %q", line)
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			l, err := b.normalize(map[string]any{k: iniValue(v)}, map[string]yamlsrc.Pos{k: at}, "group "+group)
			if err != nil {
				return err
			}
			b.setGroupVars(group, l)
		case "children":
			m := iniGroupName.FindStringSubmatch(line)
			if m == nil {
				return errAtPos(at, "a [group:children] section holds one group name a line", "invalid group name %q", line)
			}
			child := m[1]
			if _, known := b.inv.Groups[child]; known {
				if child == "all" {
					return errAtPos(at, "every group is already in all; remove this line", "group all cannot be a child of %q", group)
				}
				b.link(group, child, at)
				continue
			}
			if p := pend[child]; p != nil {
				p.parents = append(p.parents, group)
			} else {
				pend[child] = &pending{at: at, state: "children", parents: []string{group}}
				pendOrder = append(pendOrder, child)
			}
		}
	}
	for _, g := range pendOrder {
		p := pend[g]
		if p == nil {
			continue
		}
		if p.state == "vars" {
			return errAtPos(p.at, "declare the group with a ["+g+"] section (its hosts) or list it under a [parent:children] section", "section [%s:vars] is for a group that is defined nowhere", g)
		}
		return errAtPos(p.at, "declare the group with a ["+g+"] section (its hosts) or ["+g+":children]",
			"section [%s:children] names group %q, which is defined nowhere", p.parents[len(p.parents)-1], g)
	}
	return nil
}

// iniHost reads one host line of a [group] section.
func (b *builder) iniHost(at yamlsrc.Pos, group, line string) error {
	words, err := shlexSplit(line)
	if err != nil {
		return errAtPos(at, "check the quotes of the line", "cannot read host line %q: %v", line, err)
	}
	if len(words) == 0 {
		return nil
	}
	if words[0] == "---" {
		return errAtPos(at, "a file starting with --- is YAML: name it .yaml", "invalid host %q", words[0])
	}
	names, port, err := expandHost(words[0])
	if err != nil {
		return errAtPos(at, "a host is a name, optionally with a range and a port: db[01:03], db1:2222, [a:c]web", "%v", err)
	}
	raw := map[string]any{}
	pos := map[string]yamlsrc.Pos{}
	for _, w := range words[1:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			hint := "write host variables as key=value after the host name"
			if len(words) > 1 && strings.Contains(words[1], ":") {
				hint += "; a host line names one host (the others go on their own lines)"
			}
			return errAtPos(at, hint, "expected key=value host variable, got %q", w)
		}
		raw[k] = iniValue(v)
		pos[k] = at
	}
	for _, name := range names {
		r := make(map[string]any, len(raw)+1)
		for k, v := range raw {
			r[k] = v
		}
		if port != 0 {
			if _, set := r["ansible_port"]; !set {
				r["ansible_port"] = port
				pos["ansible_port"] = at
			}
		}
		l, err := b.normalize(r, pos, "host "+name)
		if err != nil {
			return err
		}
		if err := b.addHost(name, at, group, l); err != nil {
			return err
		}
	}
	return nil
}
