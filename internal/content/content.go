// Package content finds playbooks, roles, templates and files: on disk first
// (the working directory, then extra directories such as the playbook's),
// then in the content embedded in the binary.
package content

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Source looks files up on disk, then in an embedded file system.
type Source struct {
	// Dirs are searched in order for relative names (e.g. ".", the
	// playbook's directory).
	Dirs []string
	// Embedded is the binary's content (nil for none).
	Embedded fs.FS
}

// Found is a file located by a Source.
type Found struct {
	// Path is where it was found: a disk path, or "embedded:NAME".
	Path string
	// Dir is the disk directory holding it ("" for embedded files).
	Dir string
	// Embedded is true when it came from the binary.
	Embedded bool
}

// ErrNotFound is wrapped by lookups that found nothing.
var ErrNotFound = errors.New("not found")

// Stat finds name (a relative slash path, or an absolute disk path).
func (s *Source) Stat(name string) (Found, error) {
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err != nil {
			return Found{}, fmt.Errorf("%s: %w", name, ErrNotFound)
		}
		return Found{Path: name, Dir: filepath.Dir(name)}, nil
	}
	var tried []string
	for _, d := range s.Dirs {
		p := filepath.Join(d, filepath.FromSlash(name))
		tried = append(tried, p)
		if _, err := os.Stat(p); err == nil {
			return Found{Path: p, Dir: filepath.Dir(p)}, nil
		}
	}
	if s.Embedded != nil {
		clean := path.Clean(strings.TrimPrefix(filepath.ToSlash(name), "./"))
		if _, err := fs.Stat(s.Embedded, clean); err == nil {
			return Found{Path: "embedded:" + clean, Embedded: true}, nil
		}
		tried = append(tried, "embedded:"+clean)
	}
	return Found{}, fmt.Errorf("%s (looked in %s): %w", name, strings.Join(tried, ", "), ErrNotFound)
}

// ReadFile finds and reads name.
func (s *Source) ReadFile(name string) ([]byte, Found, error) {
	f, err := s.Stat(name)
	if err != nil {
		return nil, f, err
	}
	if f.Embedded {
		b, err := fs.ReadFile(s.Embedded, strings.TrimPrefix(f.Path, "embedded:"))
		return b, f, err
	}
	b, err := os.ReadFile(f.Path)
	return b, f, err
}

// With returns a copy of s that searches dirs first.
func (s *Source) With(dirs ...string) *Source {
	n := &Source{Embedded: s.Embedded}
	n.Dirs = append(append([]string{}, dirs...), s.Dirs...)
	return n
}

// Subdirs lists the names of the directories in dir (a relative slash
// path) on disk (in every one of s.Dirs) and in the embedded content,
// sorted, each once.
func (s *Source) Subdirs(dir string) []string {
	seen := map[string]bool{}
	for _, d := range s.Dirs {
		ents, _ := os.ReadDir(filepath.Join(d, filepath.FromSlash(dir)))
		for _, e := range ents {
			if e.IsDir() {
				seen[e.Name()] = true
			}
		}
	}
	if s.Embedded != nil {
		ents, _ := fs.ReadDir(s.Embedded, path.Clean(dir))
		for _, e := range ents {
			if e.IsDir() {
				seen[e.Name()] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
