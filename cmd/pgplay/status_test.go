package main

import (
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/status"
)

// `pgplay status` exits with the cluster's level, as a monitoring plugin.
func TestStatusExit(t *testing.T) {
	for level, want := range map[int]int{status.LevelHealthy: 0, status.LevelDegraded: 1, status.LevelDown: 2, 7: 2} {
		if got := statusExit(level); got != want {
			t.Errorf("statusExit(%d) = %d, want %d", level, got, want)
		}
	}
}

// The help tells the three exit codes; a missing inventory is a usage error.
func TestStatusHelpAndOptions(t *testing.T) {
	code, out, _ := cli(t, "status", "--help")
	if code != 0 {
		t.Fatalf("status --help: exit %d", code)
	}
	for _, want := range []string{"0  healthy", "1  degraded", "2  down or split", `"degraded: "`, `"level"`} {
		if !strings.Contains(out, want) {
			t.Errorf("status --help lacks %q:\n%s", want, out)
		}
	}
	if code, _, errs := cli(t, "status"); code != 5 || !strings.Contains(errs, "no inventory given") {
		t.Errorf("status without -i: exit %d, %s", code, errs)
	}
}
