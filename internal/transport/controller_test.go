package transport_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pgplay/pgplay/internal/transport"
)

// ControllerFor follows the check decision of the Target it is given:
// a real Target's controller Target writes, a check Target's records the
// write (with the host Target's changes) and leaves the disk alone.
func TestControllerForFollowsCheck(t *testing.T) {
	ctx := testCtx(t)
	host := target(t, newPool(t), localConfig(), "")
	var rec []transport.Change
	check := transport.NewCheckTarget(host, func(c transport.Change) { rec = append(rec, c) })
	if transport.IsCheck(host) || !transport.IsCheck(check) {
		t.Fatalf("IsCheck: real %v, check %v", transport.IsCheck(host), transport.IsCheck(check))
	}
	p := filepath.Join(t.TempDir(), "f")

	cc := transport.ControllerFor(check)
	if !transport.IsCheck(cc) {
		t.Fatal("the controller Target of a check Target is not a check Target")
	}
	if err := cc.WriteFile(ctx, p, []byte("x"), transport.Attrs{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err == nil {
		t.Fatal("check mode wrote the controller file")
	}
	if b, err := cc.ReadFile(ctx, p); err != nil || string(b) != "x" {
		t.Errorf("simulated read: %q %v", b, err)
	}
	if len(rec) != 1 || rec[0].Op != "write" || rec[0].Path != p || rec[0].Detail != "on the controller, 1 bytes" {
		t.Errorf("recorded %+v", rec)
	}

	rc := transport.ControllerFor(host)
	if transport.IsCheck(rc) {
		t.Fatal("the controller Target of a real Target is a check Target")
	}
	if err := rc.WriteFile(ctx, p, []byte("y"), transport.Attrs{}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "y" {
		t.Errorf("real write: %q %v", b, err)
	}
}
