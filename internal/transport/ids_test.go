package transport

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A user missing at one point of a run and created later (by the user
// module) must be found then: "not found" is not cached.
func TestOwnerCreatedDuringRunIsFound(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (useradd); CI runs as root")
	}
	const name = "pgplay-idtest"
	exec.Command("userdel", name).Run()
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	ctx := context.Background()
	p := NewPool()
	defer p.Close()
	tg, err := p.Target(ctx, Config{Name: "local", Local: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := tg.WriteFile(ctx, path, []byte("x"), Attrs{Owner: name}); err == nil {
		t.Fatalf("chown to a missing user succeeded")
	}
	if out, err := exec.Command("useradd", "--system", "--no-create-home", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v %s", err, out)
	}
	if err := tg.WriteFile(ctx, path, []byte("x"), Attrs{Owner: name}); err != nil {
		t.Fatalf("user created during the run is still unknown: %v", err)
	}
	fi, err := tg.Stat(ctx, path)
	if err != nil || fi.Owner != name {
		t.Errorf("owner %q, %v; want %s", fi.Owner, err, name)
	}
}
