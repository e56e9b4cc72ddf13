package lab

import (
	"os"
	"path/filepath"
	"testing"
)

// A new state directory is private (0700): it holds the lab's private key
// and an inventory with every password.
func TestStateDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	sf := stateFiles(dir)
	if err := writeStateFiles(sf, []stateFile{{path: sf.Inventory, content: "all: {}\n", mode: 0o600}}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v, want 0700", st.Mode().Perm())
	}
}
