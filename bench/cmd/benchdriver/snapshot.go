package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Snapshot is what a run left under the hosts' directories: for every
// path (relative to the host's pg_root, prefixed by the host name) its
// kind, mode, owner and a digest of its content. Temporary files left
// behind would show up as extra paths.
type Snapshot map[string]string

// snapshot reads the directories of the first n hosts.
func snapshot(t *Targets, n int) (Snapshot, error) {
	s := Snapshot{}
	for i := 0; i < n; i++ {
		root := t.Root(i)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			owner := ""
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				owner = fmt.Sprintf("%d:%d", st.Uid, st.Gid)
			}
			desc := fmt.Sprintf("%s %04o %s", kind(fi.Mode()), fi.Mode().Perm()|fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), owner)
			if fi.Mode().IsRegular() {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				desc += fmt.Sprintf(" %d %x", len(b), sha256.Sum256(b))
			}
			s[HostName(i)+"/"+rel] = desc
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", root, err)
		}
	}
	return s, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "dir"
	case m&fs.ModeSymlink != 0:
		return "link"
	case m.IsRegular():
		return "file"
	}
	return "other"
}

// diff lists the differences between two snapshots (at most max lines).
func (s Snapshot) diff(o Snapshot, max int) []string {
	keys := map[string]bool{}
	for k := range s {
		keys[k] = true
	}
	for k := range o {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []string
	for _, k := range sorted {
		a, aok := s[k]
		b, bok := o[k]
		switch {
		case !aok:
			out = append(out, fmt.Sprintf("%s: only in the second (%s)", k, b))
		case !bok:
			out = append(out, fmt.Sprintf("%s: only in the first (%s)", k, a))
		case a != b:
			out = append(out, fmt.Sprintf("%s: %s vs %s", k, a, b))
		}
		if len(out) >= max {
			out = append(out, "...")
			break
		}
	}
	return out
}

// firstFileDiff shows, for the first regular file of host 0 whose content
// differs from ref (host 0's files after the reference run), both contents.
func firstFileDiff(t *Targets, ref map[string][]byte) string {
	names := make([]string, 0, len(ref))
	for name := range ref {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want := ref[name]
		got, err := os.ReadFile(filepath.Join(t.Root(0), name))
		if err != nil || !bytes.Equal(got, want) {
			return fmt.Sprintf("%s/%s:\n--- reference\n%s\n--- this run\n%s", HostName(0), name, want, got)
		}
	}
	return ""
}

// readTree reads every regular file under host i's root, by relative path.
func readTree(t *Targets, i int) (map[string][]byte, error) {
	out := map[string][]byte{}
	root := t.Root(i)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			out[rel] = b
		}
		return nil
	})
	return out, err
}

// summary is a one-line description of a snapshot.
func (s Snapshot) summary() string {
	files, dirs := 0, 0
	for _, v := range s {
		if strings.HasPrefix(v, "file ") {
			files++
		} else if strings.HasPrefix(v, "dir ") {
			dirs++
		}
	}
	return fmt.Sprintf("%d files, %d directories", files, dirs)
}
