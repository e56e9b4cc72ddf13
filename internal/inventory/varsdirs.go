package inventory

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// varsExts are the endings Ansible tries for group_vars/NAME and
// host_vars/NAME, in its order: the first that exists is read (a directory
// NAME/ holds files read in lexical order).
var varsExts = []string{"", ".yml", ".yaml", ".json"}

// dirsVars merges kind/NAME ("group_vars" or "host_vars") of each of dirs,
// in order. A missing file is no vars.
func (b *builder) dirsVars(dirs []string, kind, name string) (*layer, error) {
	out := newLayer()
	for _, d := range dirs {
		l, err := b.dirVars(d, kind, name)
		if err != nil {
			return nil, err
		}
		out.put(l)
	}
	return out, nil
}

func (b *builder) dirVars(dir, kind, name string) (*layer, error) {
	key := filepath.Join(dir, kind, name)
	if l, ok := b.dirCache[key]; ok {
		return l, nil
	}
	owner := strings.TrimSuffix(kind, "_vars") + " " + name
	l := newLayer()
	files, err := b.varsFiles(filepath.Join(dir, kind), name)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		fl, err := b.varsFile(f, owner)
		if err != nil {
			return nil, err
		}
		l.put(fl)
	}
	b.dirCache[key] = l
	return l, nil
}

// varsFiles lists the files Ansible reads for entity name in vdir.
func (b *builder) varsFiles(vdir, name string) ([]string, error) {
	if st, err := os.Stat(vdir); err != nil || !st.IsDir() || strings.HasPrefix(name, "/") {
		return nil, nil
	}
	for _, ext := range varsExts {
		p := filepath.Join(vdir, name+ext)
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if !st.IsDir() {
			return []string{p}, nil
		}
		return b.dirVarsFiles(p)
	}
	return nil, nil
}

// dirVarsFiles lists the vars files of a group_vars/NAME/ directory as
// Ansible does: sorted, recursive, skipping hidden and backup (~) files
// and files with an extension other than .yml, .yaml, .json (those with a
// warning).
func (b *builder) dirVarsFiles(dir string) ([]string, error) {
	names, err := dirNames(dir, "vars directory")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, ".") || strings.HasSuffix(n, "~") {
			continue
		}
		p := filepath.Join(dir, n)
		ext := filepath.Ext(n)
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.IsDir() {
			if ext == "" {
				sub, err := b.dirVarsFiles(p)
				if err != nil {
					return nil, err
				}
				out = append(out, sub...)
			}
			continue
		}
		if ext == "" || contains(varsExts[1:], ext) {
			out = append(out, p)
		} else {
			b.warnf(yamlsrc.Pos{File: p}, "not read: Ansible reads only .yml, .yaml, .json and files without an extension in a vars directory, and so does pgplay")
		}
	}
	return out, nil
}

// varsFile reads one group_vars/host_vars file (YAML or JSON, a mapping;
// an empty file is no vars).
func (b *builder) varsFile(path, owner string) (*layer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vars file %s: %w", path, unwrapPathError(err))
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("$ANSIBLE_VAULT")) || bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
		return nil, &yamlsrc.Error{Pos: yamlsrc.Pos{File: path, Line: 1, Col: 1}, Msg: "encrypted vars files in group_vars/ and host_vars/ are not supported",
			Hint: "keep secrets in a vault file named by the playbook's vars_files (see `pgplay vault`), or in -e @file"}
	}
	root, err := yamlsrc.ParseYAML(path, data)
	if err != nil {
		return nil, err
	}
	if root == nil || yamlsrc.IsNull(root) {
		return newLayer(), nil
	}
	if yamlsrc.Deref(root).Kind != yaml.MappingNode {
		return nil, yamlsrc.ErrAt(path, root, "a vars file holds one mapping of `name: value` lines",
			"vars file of %s must be a mapping, not a %s", owner, kind(yamlsrc.Deref(root)))
	}
	return b.yamlVars(path, root, "vars of "+owner, owner)
}

// checkVarsDirs warns about the entries of group_vars/ and host_vars/
// that pgplay (as Ansible) does not read: names of no group or host,
// files hidden by another of the same name (all and all.yml: only all is
// read), and a group_vars that is a file.
func (b *builder) checkVarsDirs(dirs []string) {
	for _, d := range dirs {
		for _, kind := range []string{"group_vars", "host_vars"} {
			vdir := filepath.Join(d, kind)
			st, err := os.Stat(vdir)
			if err != nil {
				continue
			}
			if !st.IsDir() {
				b.warnf(yamlsrc.Pos{File: vdir}, "not read: %s must be a directory of files named after the %ss", kind, strings.TrimSuffix(kind, "_vars"))
				continue
			}
			ents, err := os.ReadDir(vdir)
			if err != nil {
				continue
			}
			for _, e := range ents {
				n := e.Name()
				if strings.HasPrefix(n, ".") || strings.HasSuffix(n, "~") {
					continue
				}
				full := filepath.Join(vdir, n)
				ext := filepath.Ext(n)
				base := n
				if contains(varsExts[1:], ext) {
					base = strings.TrimSuffix(n, ext)
				}
				has := func(name string) bool {
					if kind == "group_vars" {
						return b.inv.Groups[name] != nil
					}
					return b.inv.Hosts[name] != nil
				}
				known := has(base)
				if !known && has(n) {
					known, base = true, n
				}
				if !known {
					what := "group"
					if kind == "host_vars" {
						what = "host"
					}
					b.warnf(yamlsrc.Pos{File: full}, "not read: the inventory has no %s %q (Ansible reads %s/NAME, NAME.yml, NAME.yaml, NAME.json or NAME/ for each %s NAME)", what, base, kind, what)
					continue
				}
				files, _ := b.varsFiles(vdir, base)
				first := ""
				if len(files) > 0 {
					first = files[0]
					if rel, err := filepath.Rel(vdir, first); err == nil {
						first = strings.SplitN(rel, string(filepath.Separator), 2)[0]
					}
				}
				if first != "" && first != n {
					b.warnf(yamlsrc.Pos{File: full}, "not read: %s/%s is read instead (Ansible reads the first of %s, %s.yml, %s.yaml, %s.json); merge the two", kind, first, base, base, base, base)
				}
			}
		}
	}
}
