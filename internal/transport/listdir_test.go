package transport_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pgplay/pgplay/internal/sshtest"
	"github.com/pgplay/pgplay/internal/transport"
)

// ListDir gives a directory's names, sorted, over SFTP and locally; an
// absent directory is fs.ErrNotExist; a check-mode Target does not offer
// it (modules fall back).
func TestListDir(t *testing.T) {
	needRoot(t)
	s := sshtest.Start(t)
	p := newPool(t)
	ctx := testCtx(t)
	dir := sharedDir(t)
	for _, n := range []string{"b.conf", "a.conf", ".hidden"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, tg := range map[string]transport.Target{
		"ssh":   target(t, p, s.Config("node1"), ""),
		"local": target(t, p, localConfig(), ""),
	} {
		t.Run(name, func(t *testing.T) {
			dl, ok := tg.(transport.DirLister)
			if !ok {
				t.Fatal("no DirLister")
			}
			got, err := dl.ListDir(ctx, dir)
			if want := []string{".hidden", "a.conf", "b.conf", "sub"}; err != nil || !slices.Equal(got, want) {
				t.Fatalf("ListDir = %q, %v; want %q", got, err, want)
			}
			if _, err := dl.ListDir(ctx, filepath.Join(dir, "absent")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("absent: %v, want fs.ErrNotExist", err)
			}
			if _, ok := transport.NewCheckTarget(tg, nil).(transport.DirLister); ok {
				t.Error("a check-mode Target lists directories without its simulated changes")
			}
		})
	}
}
