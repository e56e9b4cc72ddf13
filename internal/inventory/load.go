package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// Options tune LoadSources.
type Options struct {
	// PlaybookDir is the playbook's directory: its group_vars/ and
	// host_vars/ apply too, above the inventory's, as in Ansible ("": none).
	PlaybookDir string
}

const loadHint = "give the path of an inventory with -i: a YAML or INI file, or a directory of them (inventory.example.yaml shows the format)"

// Load reads one inventory source (a file or a directory), with the
// group_vars/ and host_vars/ beside it.
func Load(path string) (*Inventory, error) {
	return LoadSources([]string{path}, Options{})
}

// LoadSources reads inventory sources as ansible-playbook reads several
// -i: in order, a later source adding hosts, groups and vars to the earlier
// ones (a later value of the same variable wins). A source is a YAML or
// INI file, or a directory whose inventory files are read in lexical order
// (skipping the names Ansible skips). The group_vars/ and host_vars/
// directories beside each source (inside a directory source), then
// beside opt.PlaybookDir, give vars with Ansible's precedence.
func LoadSources(paths []string, opt Options) (*Inventory, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no inventory given\n  hint: %s", loadHint)
	}
	b := newBuilder()
	b.inv.Sources = append([]string(nil), paths...)
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			hint := loadHint
			if strings.Contains(p, ",") {
				hint = "pgplay does not read Ansible's host lists (-i host1,host2,): write the hosts in an inventory file"
			}
			return nil, fmt.Errorf("inventory %s: %w\n  hint: %s", p, unwrapPathError(err), hint)
		}
		if !st.IsDir() {
			b.varsDirs = appendNew(b.varsDirs, filepath.Dir(p))
			if err := b.loadFile(p); err != nil {
				return nil, err
			}
			continue
		}
		b.varsDirs = appendNew(b.varsDirs, p)
		files, err := b.inventoryFiles(p)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("inventory directory %s holds no inventory file\n  hint: put YAML or INI inventories in it (Ansible skips %s and hidden files)", p, strings.Join(ignoredExts, ", "))
		}
		for _, f := range files {
			if err := b.loadFile(f); err != nil {
				return nil, err
			}
		}
	}
	if opt.PlaybookDir != "" {
		b.playDir = opt.PlaybookDir
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	return b.inv, nil
}

func unwrapPathError(err error) error {
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return pe.Err // the path is in the message already
	}
	return err
}

func appendNew(list []string, s string) []string {
	if contains(list, s) {
		return list
	}
	return append(list, s)
}

// ignoredExts are the file name endings Ansible (2.14) skips in an
// inventory directory: REJECT_EXTS plus .orig, .ini, .cfg and .retry.
var ignoredExts = []string{".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".ini", ".cfg", ".retry"}

// ignoredAlways are names Ansible never reads as inventories in a
// directory: hidden files and the vars directories.
var ignoredAlways = regexp.MustCompile(`^\.|^host_vars$|^group_vars$|^vars_plugins$`)

// inventoryFiles lists the inventory files of directory dir (and of its
// subdirectories) in lexical order, as Ansible does. Files Ansible skips
// that could hold an inventory (.ini, .cfg, .txt, .md, .orig) are named in
// a warning, so that a skipped hosts.ini is not a mystery.
func (b *builder) inventoryFiles(dir string) ([]string, error) {
	names, err := dirNames(dir, "inventory directory")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		full := filepath.Join(dir, n)
		if ignoredAlways.MatchString(n) {
			continue
		}
		if ext := ignoredExt(n); ext != "" {
			switch ext {
			case ".ini", ".cfg", ".txt", ".md", ".orig":
				b.warnf(yamlsrc.Pos{File: full}, "not read as an inventory: Ansible skips %s files in an inventory directory, and so does pgplay", ext)
			}
			continue
		}
		st, err := os.Stat(full)
		if err != nil {
			return nil, fmt.Errorf("inventory %s: %w", full, unwrapPathError(err))
		}
		if st.IsDir() {
			sub, err := b.inventoryFiles(full)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		if st.Mode()&0o111 != 0 {
			return nil, fmt.Errorf("inventory %s is executable: pgplay does not run inventory scripts\n  hint: write its output as a YAML inventory, or remove the executable bit (chmod -x) if it is a plain inventory file", full)
		}
		out = append(out, full)
	}
	return out, nil
}

func ignoredExt(name string) string {
	for _, e := range ignoredExts {
		if strings.HasSuffix(name, e) {
			return e
		}
	}
	return ""
}

// loadFile reads one inventory file into b.
func (b *builder) loadFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("inventory %s: %w\n  hint: %s", path, unwrapPathError(err), loadHint)
	}
	if st.Size() > yamlsrc.MaxFileSize {
		return &yamlsrc.Error{Pos: yamlsrc.Pos{File: path, Line: 1, Col: 1},
			Msg:  fmt.Sprintf("file is too large (%d MiB; pgplay reads inventory files of at most %d MiB)", st.Size()>>20, yamlsrc.MaxFileSize>>20),
			Hint: "check the -i path: an inventory is a small YAML or INI file"}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read inventory %s: %w\n  hint: %s", path, err, loadHint)
	}
	return b.parse(path, data)
}

// Parse parses one inventory (YAML or INI) held in data; file names it in
// errors. group_vars/ and host_vars/ are not read.
func Parse(file string, data []byte) (*Inventory, error) {
	b := newBuilder()
	b.inv.Sources = []string{file}
	if err := b.parse(file, data); err != nil {
		return nil, err
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	return b.inv, nil
}

// parse reads one file's inventory, choosing the format as Ansible's
// plugins do: .yaml, .yml and .json files are YAML (an INI text in one is
// still read as INI), .ini files INI, and any other file YAML when it is a
// YAML mapping, else INI.
func (b *builder) parse(file string, data []byte) error {
	b.file = file
	ext := strings.ToLower(filepath.Ext(file))
	if ext == ".ini" {
		return b.parseINI(file, data)
	}
	root, err := yamlsrc.ParseYAML(file, data)
	isMap := err == nil && root != nil && yamlsrc.Deref(root).Kind == yaml.MappingNode
	if ext == ".yaml" || ext == ".yml" || ext == ".json" {
		if !isMap && looksINI(data) {
			return b.parseINI(file, data)
		}
		if err != nil {
			return err
		}
		return b.parseYAML(file, data, root)
	}
	if isMap {
		return b.parseYAML(file, data, root)
	}
	return b.parseINI(file, data)
}

// dirNames lists the entry names of dir in lexical order (os.ReadDir
// sorts them); what names the directory in an error.
func dirNames(dir, what string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, dir, unwrapPathError(err))
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}
