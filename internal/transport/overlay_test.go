package transport_test

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"testing"

	"github.com/pgplay/pgplay/internal/disktree"
	"github.com/pgplay/pgplay/internal/sshtest"
	"github.com/pgplay/pgplay/internal/transport"
)

// treeOf describes the tree under dir (see disktree.Describe).
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	s, err := disktree.Describe(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Check-mode Targets sharing an Overlay see each other's simulated file
// changes in Stat, ReadFile and StatRead; nothing reaches the disk.
func TestCheckOverlay(t *testing.T) {
	s := sshtest.Start(t)
	for _, tc := range []struct {
		name string
		cfg  transport.Config
	}{{"local", localConfig()}, {"ssh", s.Config("node1")}} {
		t.Run(tc.name, func(t *testing.T) {
			testCheckOverlay(t, target(t, newPool(t), tc.cfg, ""))
		})
	}
}

func testCheckOverlay(t *testing.T, real transport.Target) {
	ctx := testCtx(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	j := func(p ...string) string { return filepath.Join(append([]string{dir}, p...)...) }
	for p, body := range map[string]string{"f": "old", "g": "same", "sub/c": "child"} {
		if err := os.MkdirAll(filepath.Dir(j(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(j(p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := treeOf(t, dir)

	ov := transport.NewOverlay()
	var changes []transport.Change
	rec := func(c transport.Change) { changes = append(changes, c) }
	t1 := transport.NewCheckTargetWith(real, rec, ov)
	t2 := transport.NewCheckTargetWith(real, rec, ov) // a later task
	stat := func(p string) transport.FileInfo {
		t.Helper()
		fi, err := t2.Stat(ctx, p)
		if err != nil {
			t.Fatalf("Stat %s: %v", p, err)
		}
		return fi
	}
	read := func(p string) string {
		t.Helper()
		b, err := t2.ReadFile(ctx, p)
		if err != nil {
			t.Fatalf("ReadFile %s: %v", p, err)
		}
		fi, sb, err := transport.StatRead(ctx, t2, p, 1<<20)
		if err != nil || string(sb) != string(b) || !fi.Exists {
			t.Fatalf("StatRead %s: %+v %q %v; ReadFile gave %q", p, fi, sb, err, b)
		}
		return string(b)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// A host file nothing touched: the host's answer.
	if fi := stat(j("g")); !fi.Exists || fi.Simulated || fi.Size != 4 {
		t.Fatalf("untouched file: %+v", fi)
	}

	// mkdir -p, then a file in the new directory.
	must(t1.Mkdir(ctx, j("new/a"), transport.Attrs{}))
	for _, p := range []string{j("new"), j("new/a")} {
		if fi := stat(p); !fi.Exists || !fi.IsDir || !fi.Simulated || fi.Mode != 0o755 || fi.Owner != me.Username {
			t.Fatalf("simulated directory %s: %+v", p, fi)
		}
	}
	must(t1.WriteFile(ctx, j("new/a/x"), []byte("one"), transport.Attrs{Mode: 0o600}))
	if fi := stat(j("new/a/x")); !fi.Exists || fi.IsDir || !fi.Simulated || fi.Size != 3 || fi.Mode != 0o600 || fi.Owner != me.Username {
		t.Fatalf("simulated file: %+v", fi)
	}
	if got := read(j("new/a/x")); got != "one" {
		t.Fatalf("simulated file reads %q", got)
	}

	// Writing over a host file keeps its mode and owner; a second write
	// replaces the first.
	must(t1.WriteFile(ctx, j("f"), []byte("new"), transport.Attrs{}))
	must(t1.WriteFile(ctx, j("f"), []byte("newer"), transport.Attrs{}))
	if fi := stat(j("f")); !fi.Simulated || fi.Size != 5 || fi.Mode != 0o644 || fi.Owner != me.Username {
		t.Fatalf("rewritten file: %+v", fi)
	}
	if got := read(j("f")); got != "newer" {
		t.Fatalf("rewritten file reads %q", got)
	}
	must(t1.SetAttrs(ctx, j("f"), transport.Attrs{Mode: 0o640}))
	if fi := stat(j("f")); fi.Mode != 0o640 || fi.Size != 5 {
		t.Fatalf("chmod of a simulated file: %+v", fi)
	}

	// Only attributes of a host file: the host's content, other mode.
	must(t1.SetAttrs(ctx, j("g"), transport.Attrs{Mode: 0o600}))
	if fi := stat(j("g")); !fi.Simulated || fi.Mode != 0o600 || fi.Size != 4 {
		t.Fatalf("chmod of a host file: %+v", fi)
	}
	if got := read(j("g")); got != "same" {
		t.Fatalf("chmodded host file reads %q", got)
	}

	// Removing a directory removes what is below it; making it again
	// does not bring the host's content back.
	must(t1.Remove(ctx, j("sub")))
	for _, p := range []string{j("sub"), j("sub/c")} {
		if fi := stat(p); fi.Exists || !fi.Simulated {
			t.Fatalf("removed %s: %+v", p, fi)
		}
	}
	if _, err := t2.ReadFile(ctx, j("sub/c")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reading a removed file: %v, want not exist", err)
	}
	if fi, b, err := transport.StatRead(ctx, t2, j("sub/c"), 1<<20); err != nil || fi.Exists || b != nil {
		t.Fatalf("StatRead of a removed file: %+v %q %v", fi, b, err)
	}
	must(t1.Mkdir(ctx, j("sub"), transport.Attrs{Mode: 0o700}))
	if fi := stat(j("sub")); !fi.IsDir || fi.Mode != 0o700 {
		t.Fatalf("directory made again: %+v", fi)
	}
	if fi := stat(j("sub/c")); fi.Exists {
		t.Fatalf("the host's file shows in a directory removed and made again: %+v", fi)
	}

	// A link, and a path through it.
	must(t1.Symlink(ctx, "new/a", j("ln")))
	if fi := stat(j("ln")); !fi.IsLink || fi.LinkTarget != "new/a" || !fi.Simulated {
		t.Fatalf("simulated link: %+v", fi)
	}
	if got := read(j("ln/x")); got != "one" {
		t.Fatalf("through the simulated link: %q", got)
	}

	// Which paths commands would not see as Stat does.
	for p, want := range map[string]bool{j("f"): true, j("new/a/x"): true, j("sub/c"): true, j("ln/x"): true, j("g"): false, j("h"): false} {
		if got := transport.Simulated(t2, p); got != want {
			t.Errorf("Simulated(%s) = %v, want %v", p, got, want)
		}
	}
	if transport.Simulated(real, j("f")) {
		t.Error("Simulated on a host Target")
	}
	// A check Target with its own overlay sees the host only.
	if fi, err := transport.NewCheckTarget(real, nil).Stat(ctx, j("new")); err != nil || fi.Exists {
		t.Fatalf("another overlay: %+v %v", fi, err)
	}

	if after := treeOf(t, dir); after != before {
		t.Fatalf("check mode changed the disk:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if len(changes) != 9 {
		t.Errorf("recorded %d changes, want 9: %+v", len(changes), changes)
	}
}
