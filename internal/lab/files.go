package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pgplay/pgplay/internal/atomicfile"
)

// writeFile atomically writes content to path with mode, creating parent
// directories (0755).
func writeFile(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, []byte(content), mode)
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Point  string
	FSType string
	Source string
	Opts   string // super-block options
}

// readMounts returns the mounts of this process's mount namespace.
func readMounts() ([]mountEntry, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	return parseMountinfo(string(data)), nil
}

// parseMountinfo parses the text of /proc/PID/mountinfo.
func parseMountinfo(text string) []mountEntry {
	var out []mountEntry
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(f) {
			continue
		}
		e := mountEntry{Point: unescapeMount(f[4]), FSType: f[sep+1], Source: unescapeMount(f[sep+2])}
		if sep+3 < len(f) {
			e.Opts = f[sep+3]
		}
		out = append(out, e)
	}
	return out
}

// unescapeMount decodes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isUnder reports whether path is dir or inside it.
func isUnder(path, dir string) bool {
	dir = filepath.Clean(dir)
	path = filepath.Clean(path)
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(mounts []mountEntry, dir string) []string {
	var out []string
	for _, m := range mounts {
		if isUnder(m.Point, dir) {
			out = append(out, m.Point)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unmount detaches a mount, lazily if it is busy.
func unmount(path string) error {
	var err error
	for i := 0; i < 5; i++ {
		err = unix.Unmount(path, 0)
		if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if lerr := unix.Unmount(path, unix.MNT_DETACH); lerr == nil {
		return nil
	}
	return fmt.Errorf("umount %s: %w", path, err)
}

// removeTree unmounts whatever is mounted below dir and deletes it. It
// refuses to delete while anything is still mounted there, so a bind mount
// of a host directory is never emptied by accident.
func removeTree(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	mounts, err := readMounts()
	if err != nil {
		return err
	}
	for _, p := range mountsUnder(mounts, dir) {
		if err := unmount(p); err != nil {
			return fmt.Errorf("removing %s: %w", dir, err)
		}
	}
	if mounts, err = readMounts(); err != nil {
		return err
	}
	if left := mountsUnder(mounts, dir); len(left) > 0 {
		return fmt.Errorf("removing %s: still mounted: %s; unmount it by hand (umount -l)", dir, strings.Join(left, ", "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}
