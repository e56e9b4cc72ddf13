package modules

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "pg_database",
		Returns: "name, state: the database\nowner, encoding: its owner and encoding",
		Purpose: "Create or drop a PostgreSQL database and keep its owner.",
		Examples: []string{
			`- name: repmgr's database, owned by repmgr
  pg_database:
    name: repmgr
    owner: repmgr`,
			`- name: An application database in UTF8, from template0
  pg_database:
    name: shop
    owner: shop
    encoding: UTF8
    template: template0`,
			`- name: Drop the scratch database, ending its sessions
  pg_database:
    name: scratch
    state: absent
    force: true`,
		},
		New: func() Module { return &PGDatabase{} },
	})
}

// PGDatabase manages a database. Encoding and template apply when the
// database is created; an existing database with another encoding is an
// error (PostgreSQL cannot change it), a different owner is changed.
type PGDatabase struct {
	Name     string `arg:"name,required" aliases:"datname" doc:"database name, kept exactly (it is quoted)"`
	Owner    string `arg:"owner" doc:"owning role (must exist); unset: the connecting user (postgres) for a new database, unchanged for an existing one"`
	Encoding string `arg:"encoding" doc:"encoding of a new database, e.g. UTF8; checked on an existing one"`
	Template string `arg:"template" doc:"template of a new database (default template1)"`
	State    string `arg:"state" default:"present" choices:"present|absent" doc:"present: the database exists; absent: it is dropped"`
	Force    bool   `arg:"force" default:"false" doc:"state: absent: drop it even with sessions connected (DROP DATABASE ... WITH (FORCE) ends them)"`
	PGConn
}

// Validate checks the names.
func (m *PGDatabase) Validate() error {
	if err := m.PGConn.validate(); err != nil {
		return err
	}
	for arg, v := range map[string]string{"name": m.Name, "owner": m.Owner, "encoding": m.Encoding, "template": m.Template} {
		if err := checkSQLText(arg, v); err != nil {
			return err
		}
	}
	if m.Name == "" {
		return &ArgError{Arg: "name", Msg: "argument \"name\" is empty"}
	}
	if m.State == "absent" && m.Name == m.database() {
		return &ArgError{Arg: "db", Msg: fmt.Sprintf("cannot drop database %q while connected to it", m.Name),
			Hint: "connect to another database with db: (default postgres)"}
	}
	if m.State == "absent" && (m.Owner != "" || m.Encoding != "" || m.Template != "") {
		return &ArgError{Arg: "state", Msg: "state: absent takes no owner, encoding or template"}
	}
	return nil
}

// normEncoding makes "utf-8" and "UTF8" compare equal.
func normEncoding(s string) string {
	return strings.ReplaceAll(strings.ToUpper(s), "-", "")
}

// Run brings the database to the wanted state.
func (m *PGDatabase) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	// This read runs in the host's kept psql session (psqlkept.go) when
	// there is one, and moves it to m's connection database: it is not
	// left in the database a DROP or a TEMPLATE copy below needs free of
	// sessions.
	rows, err := pgRows(ctx, t, m.PGConn,
		"SELECT datname, pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = "+sqlLiteral(m.Name)+";\n")
	if err != nil {
		return pgFailed(err)
	}
	res := &Result{Data: map[string]any{"name": m.Name, "state": m.State}}
	var sql string
	switch {
	case m.State == "absent" && len(rows) == 0:
		return res, nil
	case m.State == "absent":
		sql = "DROP DATABASE " + sqlIdent(m.Name)
		if m.Force {
			sql += " WITH (FORCE)"
		}
		res.Msg = "database dropped"
	case len(rows) == 0:
		sql = "CREATE DATABASE " + sqlIdent(m.Name)
		if m.Owner != "" {
			sql += " OWNER " + sqlIdent(m.Owner)
		}
		if m.Encoding != "" {
			sql += " ENCODING " + sqlLiteral(m.Encoding)
		}
		if m.Template != "" {
			sql += " TEMPLATE " + sqlIdent(m.Template)
		}
		res.Msg = "database created"
	default:
		cur := rows[0]
		res.Data["owner"], res.Data["encoding"] = cur["owner"], cur["encoding"]
		if m.Encoding != "" && normEncoding(cur["encoding"]) != normEncoding(m.Encoding) {
			return failed(res, "database %q exists with encoding %s, not %s; PostgreSQL cannot change a database's encoding (drop and re-create it, or change the encoding argument)",
				m.Name, cur["encoding"], m.Encoding), nil
		}
		if m.Owner == "" || cur["owner"] == m.Owner {
			return res, nil
		}
		sql = "ALTER DATABASE " + sqlIdent(m.Name) + " OWNER TO " + sqlIdent(m.Owner)
		res.Msg = fmt.Sprintf("owner changed from %s to %s", cur["owner"], m.Owner)
	}
	if _, err := pgExec(ctx, t, m.PGConn, sql+";\n"); err != nil {
		r, err := pgFailed(err)
		if r != nil && strings.Contains(r.Msg, "role") && strings.Contains(r.Msg, "does not exist") {
			r.Msg += "\n  hint: create the owner first with pg_user"
		}
		if r != nil && strings.Contains(r.Msg, "being accessed by other users") {
			r.Msg += "\n  hint: force: true ends the other sessions"
		}
		return r, err
	}
	res.Changed = true
	if m.Owner != "" {
		res.Data["owner"] = m.Owner
	}
	return res, nil
}
