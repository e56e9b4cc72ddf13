package modules

import (
	"context"
	"path"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "pg_status",
		Returns: "running: the PID in the data directory's postmaster.pid is a live postgres process\nin_recovery: running, and standby.signal or recovery.signal is in the data directory\nstatus: down, online or online,recovery (pg_lsclusters' status column)\ninitialized: the data directory holds PG_VERSION (initdb ran)\nstandby_signal: standby.signal is in the data directory (running or not: a stopped standby has it)",
		Purpose: "Read whether the PostgreSQL server of a data directory runs, and in recovery, from its files (never changes anything).",
		Examples: []string{
			`- name: read whether PostgreSQL runs
  pg_status:
    data_dir: /var/lib/postgresql/15/main
  register: pg
- name: a standby runs
  assert:
    that: [.pg.running, .pg.in_recovery]`,
			`- name: read the cluster's state
  pg_status:
    data_dir: "{{ .pg_data_dir }}"
  register: pg_status
- name: start PostgreSQL where it does not run
  service:
    name: postgresql@15-main
    state: started
  when: not .pg_status.running`,
		},
		New: func() Module { return &PGStatus{} },
	})
}

// PGStatus reads a cluster's state the way pg_lsclusters does (online:
// the PID in postmaster.pid is a live postgres process, /proc/PID/cmdline;
// recovery: standby.signal or recovery.signal), over the Target's file
// session: a few SFTP round trips, no program on the host (pg_lsclusters
// is Perl, ~0.15 s of host CPU; a shell doing the same, ~0.05 s per host
// and task). Anything it cannot read counts as down, as in that shell.
// It also says whether initdb ran (PG_VERSION) and whether standby.signal
// is there, which tell a stopped standby from a stopped primary.
type PGStatus struct {
	DataDir string `arg:"data_dir,required" aliases:"pgdata" doc:"the cluster's data directory"`
}

// Validate checks the data directory is an absolute path.
func (m *PGStatus) Validate() error {
	if !path.IsAbs(m.DataDir) {
		return &ArgError{Arg: "data_dir", Msg: "argument \"data_dir\": " + m.DataDir + " is not an absolute path"}
	}
	return nil
}

// Run reads the state.
func (m *PGStatus) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	res := &Result{Data: map[string]any{"running": false, "in_recovery": false, "status": "down", "initialized": true, "standby_signal": false}}
	exists := func(name string) (bool, error) {
		st, err := t.Stat(ctx, path.Join(m.DataDir, name))
		if err != nil {
			return false, err
		}
		return st.Exists, nil
	}
	standby, err := exists("standby.signal")
	if err != nil {
		return nil, err
	}
	res.Data["standby_signal"] = standby
	if running, ok := postmasterLive(ctx, t, m.DataDir); !running || !ok {
		// (a running server's data directory is initialized: asked only
		// of a stopped one)
		initialized, err := exists("PG_VERSION")
		if err != nil {
			return nil, err
		}
		res.Data["initialized"] = initialized
		return res, nil
	}
	res.Data["running"], res.Data["status"] = true, "online"
	recovery := standby
	if !recovery {
		if recovery, err = exists("recovery.signal"); err != nil {
			return nil, err
		}
	}
	if recovery {
		res.Data["in_recovery"], res.Data["status"] = true, "online,recovery"
	}
	return res, nil
}
