//go:build e2e

package e2e

import (
	"os"
	"testing"
)

// TestMain removes the directory pgplayBinary built pgplay into (15 MB
// per run in /tmp otherwise).
func TestMain(m *testing.M) {
	code := m.Run()
	if pgplayBinDir != "" {
		os.RemoveAll(pgplayBinDir)
	}
	os.Exit(code)
}
