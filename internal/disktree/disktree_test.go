package disktree

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDescribeSeesContentModeAndNewPaths(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "a.conf")
	if err := os.WriteFile(f, []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := Describe(dir)
	if err != nil || !strings.Contains(before, f+" -rw-r--r-- x = 1") {
		t.Fatalf("Describe: %q %v", before, err)
	}
	for name, change := range map[string]func() error{
		"content": func() error { return os.WriteFile(f, []byte("x = 2\n"), 0o644) },
		"mode":    func() error { return os.Chmod(f, 0o600) },
		"new":     func() error { return os.Mkdir(filepath.Join(dir, "sub"), 0o755) },
	} {
		if err := change(); err != nil {
			t.Fatal(err)
		}
		after, _ := Describe(dir)
		if after == before {
			t.Errorf("%s: the description did not change", name)
		}
		before = after
	}
	if _, err := Describe(filepath.Join(dir, "missing")); err == nil {
		t.Error("Describe of a missing directory: no error")
	}
}
