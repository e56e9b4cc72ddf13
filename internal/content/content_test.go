package content

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestDiskBeforeEmbedded(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "roles/r/tasks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "roles/r/tasks/main.yaml"), []byte("disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := &Source{Dirs: []string{dir}, Embedded: fstest.MapFS{
		"roles/r/tasks/main.yaml": {Data: []byte("embedded")},
		"roles/e/tasks/main.yaml": {Data: []byte("only embedded")},
	}}
	b, f, err := src.ReadFile("roles/r/tasks/main.yaml")
	if err != nil || string(b) != "disk" || f.Embedded {
		t.Errorf("disk copy should win: %q %+v %v", b, f, err)
	}
	b, f, err = src.ReadFile("roles/e/tasks/main.yaml")
	if err != nil || string(b) != "only embedded" || !f.Embedded || f.Path != "embedded:roles/e/tasks/main.yaml" {
		t.Errorf("embedded fallback: %q %+v %v", b, f, err)
	}
	_, _, err = src.ReadFile("roles/nope/tasks/main.yaml")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "embedded:") {
		t.Errorf("missing file error should list where it looked: %v", err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "x.yaml"), []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _, err = src.With(other).ReadFile("x.yaml")
	if err != nil || string(b) != "other" {
		t.Errorf("With(dir) should search dir first: %q %v", b, err)
	}
}

func TestSubdirsFromDiskAndEmbedded(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"roles/mine", "roles/postgres"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "roles/README"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	src := &Source{Dirs: []string{dir, filepath.Join(dir, "missing")}, Embedded: fstest.MapFS{
		"roles/postgres/tasks/main.yaml": {Data: []byte("x")},
		"roles/barman/tasks/main.yaml":   {Data: []byte("x")},
	}}
	if got := strings.Join(src.Subdirs("roles"), ","); got != "barman,mine,postgres" {
		t.Errorf("Subdirs(roles) = %s, want barman,mine,postgres (files left out, each once, sorted)", got)
	}
	if got := src.Subdirs("nothing"); len(got) != 0 {
		t.Errorf("Subdirs(nothing) = %v", got)
	}
}
