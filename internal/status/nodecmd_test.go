package status

import (
	"slices"
	"strings"
	"testing"

	"github.com/pgplay/pgplay"
	"github.com/pgplay/pgplay/internal/content"
	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/playbook"
)

// clusterDefaults are the built-in cluster role's defaults, as `pgplay
// status` loads them.
func clusterDefaults(t *testing.T) map[string]any {
	t.Helper()
	r, err := playbook.LoadRole("cluster", playbook.Options{Source: &content.Source{Embedded: pgplay.Content}})
	if err != nil {
		t.Fatal(err)
	}
	return r.Defaults
}

// The command status runs on a node takes psql, start.conf, the socket,
// the port and pgplay's state files where the inventory (over the cluster
// role's defaults) says, as the playbooks do; nothing is hard-coded.
func TestNodeCmdFollowsInventoryVars(t *testing.T) {
	defaults := clusterDefaults(t)
	args := func(vars map[string]any) []string {
		t.Helper()
		cmd, err := nodeCmd(&inventory.Host{Name: "n1", Vars: vars}, defaults, "10.0.0.5")
		if err != nil {
			t.Fatal(err)
		}
		if cmd.Argv[2] != nodeScript || cmd.Argv[5] != "10.0.0.5" || cmd.Argv[6] != nodeSQL {
			t.Fatalf("argv = %q", cmd.Argv)
		}
		return append([]string{cmd.Argv[4]}, cmd.Argv[7:]...) // bin, conf, socket, port, state, run
	}
	for _, c := range []struct {
		name string
		vars map[string]any
		want []string
	}{
		{"the role's defaults", map[string]any{},
			[]string{"/usr/lib/postgresql/15/bin", "/etc/postgresql/15/main", "/var/run/postgresql", "5432", "/var/lib/pgplay", "/run/pgplay"}},
		{"pg_version and pg_cluster", map[string]any{"pg_version": 16, "pg_cluster": "prod"},
			[]string{"/usr/lib/postgresql/16/bin", "/etc/postgresql/16/prod", "/var/run/postgresql", "5432", "/var/lib/pgplay", "/run/pgplay"}},
		{"pg_bin_dir, a template, and the rest", map[string]any{
			"pg_version": "17", "pg_bin_dir": "/opt/pg{{ .pg_version }}/bin", "pg_conf_dir": "/srv/pgconf",
			"pg_socket_dir": "/tmp/pgsock", "pg_port": 5433, "pgplay_state_dir": "/srv/pgplay", "pgplay_run_dir": "/run/pp"},
			[]string{"/opt/pg17/bin", "/srv/pgconf", "/tmp/pgsock", "5433", "/srv/pgplay", "/run/pp"}},
	} {
		if got := args(c.vars); !slices.Equal(got, c.want) {
			t.Errorf("%s: bin, conf, socket, port, state, run = %q, want %q", c.name, got, c.want)
		}
	}
	// The script uses them, not fixed paths.
	for _, fixed := range []string{"/usr/lib/postgresql", "/etc/postgresql", "/var/run/postgresql", "/var/lib/pgplay", "/run/pgplay"} {
		if strings.Contains(nodeScript, fixed) {
			t.Errorf("nodeScript hard-codes %s", fixed)
		}
	}
	// A variable that is missing everywhere, or that refers to itself, is
	// the node's error, naming it.
	if _, err := nodeCmd(&inventory.Host{Name: "n1", Vars: map[string]any{}}, nil, ""); err == nil || !strings.Contains(err.Error(), "pg_bin_dir is not set") {
		t.Errorf("no defaults: %v", err)
	}
	if _, err := nodeCmd(&inventory.Host{Name: "n1", Vars: map[string]any{"pg_version": "{{ .pg_bin_dir }}"}}, defaults, ""); err == nil || !strings.Contains(err.Error(), "refers to itself") {
		t.Errorf("a loop: %v", err)
	}
}
