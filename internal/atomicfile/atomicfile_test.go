package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secrets.yaml")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new content"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "new content" {
		t.Fatalf("content = %q, %v", b, err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, %v; want 0600", st.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary file left: %v", entries)
	}
}

// A write that cannot finish leaves the old file and no temporary file.
func TestWriteFileFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x")
	if err := os.Mkdir(p, 0o755); err != nil { // rename over a directory fails
		t.Fatal(err)
	}
	err := WriteFile(p, []byte("data"), 0o644)
	if err == nil || !strings.Contains(err.Error(), "write "+p) {
		t.Fatalf("err = %v, want a write error naming %s", err, p)
	}
	if st, err := os.Stat(p); err != nil || !st.IsDir() {
		t.Errorf("the old directory is gone: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary file left: %v", entries)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "y"), nil, 0o644); err == nil {
		t.Error("no error for a missing directory")
	}
}

// A directory that can be written but not read (mode 0300) still gets
// the file: the directory fsync is skipped, the rename is done.
func TestWriteFileUnreadableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every directory")
	}
	dir := filepath.Join(t.TempDir(), "wx")
	if err := os.Mkdir(dir, 0o300); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	p := filepath.Join(dir, "f")
	if err := WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o700)
	if b, err := os.ReadFile(p); err != nil || string(b) != "x" {
		t.Errorf("content = %q, %v", b, err)
	}
}
