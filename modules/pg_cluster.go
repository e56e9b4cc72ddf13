package modules

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "pg_cluster",
		Returns: "version, name, state: the cluster\nport, status, owner, data_directory, log_file: as pg_lsclusters shows them\nrunning, recovery: whether it is online, and in recovery (a standby)\nstart_conf: its start.conf setting",
		Purpose: "Create (pg_createcluster) or drop a Debian PostgreSQL cluster; set its start.conf.",
		Examples: []string{
			`- name: Create the cluster with data checksums, started at boot
  pg_cluster:
    version: "15"
    name: main
    port: 5432
    initdb_options: [--data-checksums]
    start_conf: auto`,
			`- name: A standby's cluster is started by hand (repmgr clones it first)
  pg_cluster:
    version: "15"
    name: main
    start_conf: manual
  when: eq .pg_role "standby"`,
			`- name: Drop the old 14 cluster after the upgrade (deletes its data)
  pg_cluster:
    version: "14"
    name: main
    state: absent
    force: true`,
		},
		New: func() Module { return &PGCluster{} },
	})
}

// PGCluster manages a cluster of Debian's postgresql-common: it reads an
// existing cluster's files over SFTP (clusterFromFiles), else
// pg_lsclusters, creates a missing cluster with pg_createcluster, sets
// start.conf, and drops a cluster (with its data) only with force: true.
// Starting and stopping is the service module's job
// (postgresql@VERSION-NAME).
type PGCluster struct {
	Version       string   `arg:"version" default:"15" doc:"PostgreSQL major version"`
	Name          string   `arg:"name" default:"main" aliases:"cluster" doc:"cluster name"`
	Port          int      `arg:"port" doc:"port of a new cluster (checked on an existing one); unset: the next free port from 5432"`
	DataDirectory string   `arg:"data_directory" aliases:"datadir" doc:"data directory of a new cluster (checked on an existing one); default /var/lib/postgresql/VERSION/NAME"`
	Locale        string   `arg:"locale" default:"C.UTF-8" doc:"locale of a new cluster"`
	Encoding      string   `arg:"encoding" doc:"encoding of a new cluster (default: the locale's)"`
	InitdbOptions []string `arg:"initdb_options,nosplit" doc:"options passed to initdb for a new cluster, e.g. [--data-checksums]"`
	StartConf     string   `arg:"start_conf" choices:"auto|manual|disabled" doc:"start.conf: auto (started at boot), manual (pg_ctlcluster only), disabled; unset: auto for a new cluster, unchanged otherwise"`
	Start         bool     `arg:"start" default:"false" doc:"start a new cluster once created"`
	State         string   `arg:"state" default:"present" choices:"present|absent" doc:"present: the cluster exists; absent: it is stopped and dropped WITH ITS DATA (needs force: true)"`
	Force         bool     `arg:"force" default:"false" doc:"confirm state: absent (deletes the data directory)"`
}

// Validate checks the version, name and paths.
func (m *PGCluster) Validate() error {
	if err := pgVersionArg("version", m.Version); err != nil {
		return err
	}
	if m.Name == "" || strings.ContainsAny(m.Name, "/ \t\n") || strings.HasPrefix(m.Name, "-") {
		return &ArgError{Arg: "name", Msg: fmt.Sprintf("%q is not a cluster name (no slashes, spaces, or leading '-')", m.Name)}
	}
	if m.Port < 0 || m.Port > 65535 {
		return &ArgError{Arg: "port", Msg: fmt.Sprintf("%d is not a TCP port", m.Port)}
	}
	if m.DataDirectory != "" && !path.IsAbs(m.DataDirectory) {
		return &ArgError{Arg: "data_directory", Msg: fmt.Sprintf("data_directory %q is not an absolute path", m.DataDirectory)}
	}
	for _, o := range m.InitdbOptions {
		if !strings.HasPrefix(o, "-") {
			return &ArgError{Arg: "initdb_options", Msg: fmt.Sprintf("initdb option %q does not start with '-'", o),
				Hint: "give one option per list item: [--data-checksums, --wal-segsize=32]"}
		}
	}
	if m.State == "absent" && !m.Force {
		return &ArgError{Arg: "force", Msg: fmt.Sprintf("state: absent drops cluster %s/%s and deletes its data directory", m.Version, m.Name),
			Hint: "add force: true to confirm"}
	}
	return nil
}

// pgCluster is one line of pg_lsclusters.
type pgCluster struct {
	Version, Name string
	Port          int
	Status        string // online, down, online,recovery ...
	Owner         string
	DataDir       string
	LogFile       string
}

// data is the registered form.
func (c pgCluster) data() map[string]any {
	return map[string]any{"version": c.Version, "name": c.Name, "port": c.Port, "status": c.Status,
		"owner": c.Owner, "data_directory": c.DataDir, "log_file": c.LogFile,
		"running": strings.HasPrefix(c.Status, "online"), "recovery": strings.Contains(c.Status, "recovery")}
}

// parseLsclusters reads `pg_lsclusters -h` (no header line): version,
// cluster, port, status, owner, data directory, log file.
func parseLsclusters(out string) ([]pgCluster, error) {
	var cs []pgCluster
	for n, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] == "Ver" {
			continue // a header line
		}
		if len(f) < 6 {
			return nil, fmt.Errorf("pg_lsclusters line %d: %q: want at least 6 fields", n+1, line)
		}
		port, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("pg_lsclusters line %d: port %q is not a number", n+1, f[2])
		}
		c := pgCluster{Version: f[0], Name: f[1], Port: port, Status: f[3], Owner: f[4], DataDir: f[5]}
		if len(f) > 6 {
			c.LogFile = strings.Join(f[6:], " ")
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// startConfValue returns the setting of a start.conf (its first word that
// is not a comment).
func startConfValue(content string) string {
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return strings.Fields(line)[0]
	}
	return ""
}

// Run brings the cluster to the wanted state.
func (m *PGCluster) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	res := &Result{Data: map[string]any{"version": m.Version, "name": m.Name, "state": m.State}}
	// An existing cluster is read from its files (a few SFTP round trips);
	// pg_lsclusters (Perl, ~0.2 s of host CPU) runs when the files cannot
	// say what it would, when the cluster must be created, and when the
	// files disagree with the arguments (its answer is the one that fails).
	cur := m.clusterFromFiles(ctx, t)
	if cur == nil || m.mismatch(cur) {
		r, err := t.Query(ctx, transport.Cmd{Argv: []string{"pg_lsclusters", "-h"}})
		if err != nil {
			return nil, err
		}
		if r.RC != 0 {
			return failed(res, "pg_lsclusters failed (rc %d): %s\n  hint: install postgresql-common and postgresql-%s (apt module)",
				r.RC, strings.TrimSpace(string(r.Stderr)), m.Version), nil
		}
		cs, err := parseLsclusters(string(r.Stdout))
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", t.Host(), err)
		}
		cur = nil
		for i := range cs {
			if cs[i].Version == m.Version && cs[i].Name == m.Name {
				cur = &cs[i]
			}
		}
	}
	id := m.Version + "/" + m.Name

	if m.State == "absent" {
		if cur == nil {
			return res, nil
		}
		r, err := t.Change(ctx, transport.Cmd{Argv: []string{"pg_dropcluster", "--stop", m.Version, m.Name}})
		if err != nil {
			return nil, err
		}
		if r.RC != 0 {
			return failed(res, "pg_dropcluster %s failed (rc %d): %s", id, r.RC, strings.TrimSpace(string(r.Stderr))), nil
		}
		res.Changed, res.Msg = true, "cluster "+id+" dropped with its data directory "+cur.DataDir
		return res, nil
	}

	if cur == nil {
		argv := []string{"pg_createcluster", "--locale", m.Locale}
		if m.Encoding != "" {
			argv = append(argv, "--encoding", m.Encoding)
		}
		if m.Port != 0 {
			argv = append(argv, "--port", strconv.Itoa(m.Port))
		}
		if m.DataDirectory != "" {
			argv = append(argv, "--datadir", m.DataDirectory)
		}
		sc := m.StartConf
		if sc == "" {
			sc = "auto"
		}
		argv = append(argv, "--start-conf", sc)
		if m.Start {
			argv = append(argv, "--start")
		}
		argv = append(argv, m.Version, m.Name)
		if len(m.InitdbOptions) > 0 {
			argv = append(append(argv, "--"), m.InitdbOptions...)
		}
		r, err := t.Change(ctx, transport.Cmd{Argv: argv, Env: map[string]string{"LC_ALL": "C.UTF-8"}})
		if err != nil {
			return nil, err
		}
		if r.RC != 0 {
			res.HasRC, res.RC, res.Stdout, res.Stderr = true, r.RC, string(r.Stdout), string(r.Stderr)
			hint := ""
			if strings.Contains(string(r.Stderr), "ermission denied") || strings.Contains(string(r.Stderr), "must be run as") {
				hint = "\n  hint: pg_createcluster needs root (become: true) or the postgres user"
			}
			return failed(res, "pg_createcluster %s failed (rc %d): %s%s", id, r.RC, lastLines(strings.TrimSpace(string(r.Stderr)), 10), hint), nil
		}
		res.Changed, res.Msg = true, "cluster "+id+" created"
		if !r.Simulated {
			// Report what pg_createcluster chose (port, paths).
			if q, err := t.Query(ctx, transport.Cmd{Argv: []string{"pg_lsclusters", "-h", m.Version, m.Name}}); err == nil && q.RC == 0 {
				if cs, err := parseLsclusters(string(q.Stdout)); err == nil && len(cs) == 1 {
					for k, v := range cs[0].data() {
						res.Data[k] = v
					}
				}
			}
		}
		return res, nil
	}

	for k, v := range cur.data() {
		res.Data[k] = v
	}
	if m.Port != 0 && cur.Port != m.Port {
		return failed(res, "cluster %s exists on port %d, not %d; pg_cluster does not move an existing cluster\n  hint: set port in its postgresql.conf and restart it, or drop it (state: absent, force: true) and create it again",
			id, cur.Port, m.Port), nil
	}
	if m.DataDirectory != "" && path.Clean(cur.DataDir) != path.Clean(m.DataDirectory) {
		return failed(res, "cluster %s exists with data directory %s, not %s; pg_cluster does not move a data directory",
			id, cur.DataDir, m.DataDirectory), nil
	}
	if m.StartConf != "" {
		p := path.Join("/etc/postgresql", m.Version, m.Name, "start.conf")
		old, err := t.ReadFile(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		res.Data["start_conf"] = startConfValue(string(old))
		if startConfValue(string(old)) != m.StartConf {
			data := setStartConf(string(old), m.StartConf)
			o, err := writeChanged(ctx, t, fileWrite{Path: p, Data: []byte(data)},
				transport.FileInfo{Path: p, Exists: true, Size: int64(len(old))}, old)
			if err != nil {
				return nil, err
			}
			res.Changed, res.Diffs = true, o.Diffs
			res.Msg = "start.conf set to " + m.StartConf
			res.Data["start_conf"] = m.StartConf
		}
	}
	return res, nil
}

// setStartConf replaces the setting line of a start.conf, keeping its
// comments; it adds the line when there is none.
func setStartConf(content, v string) string {
	lines := strings.Split(content, "\n")
	for i, line := range lines {
		s := strings.TrimSpace(line)
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		lines[i] = v
		return strings.Join(lines, "\n")
	}
	if content != "" && !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	return content + v + "\n"
}
