package modules

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "pg_query",
		Returns: "rows: the last statement's rows, each a map of column -> text (null as nil)\nrowcount: how many rows it returned or changed\nstatements: how many statements ran\nnotices: the server's NOTICE lines",
		Purpose: "Run SQL with psql as postgres; rows are registered as a list of maps.",
		Examples: []string{
			`- name: Is node2 a synchronous standby?
  pg_query:
    query: SELECT application_name, sync_state FROM pg_stat_replication WHERE application_name = :'name'
    args: {name: node2}
    readonly: true
  register: repl`,
			`- name: Give the reporting role read access to the app schema
  pg_query:
    db: shop
    query: |
      GRANT USAGE ON SCHEMA app TO reporting;
      GRANT SELECT ON ALL TABLES IN SCHEMA app TO reporting;`,
			`- name: Wait until every standby has replayed to within 16 MB of the primary
  pg_query:
    query: SELECT count(*) AS behind FROM pg_stat_replication WHERE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) > 16 * 1024 * 1024
    readonly: true
  register: lag
  until: eq (index .lag.rows 0).behind "0"
  retries: 30
  delay: 2
  when: eq .pg_role "primary"`,
		},
		New:      func() Module { return &PGQuery{} },
		FreeForm: "query",
	})
}

// PGQuery runs SQL on the host with psql (see pgsql.go). A query is a
// change unless readonly: true, which runs it in check mode too and inside
// a read-only transaction, so a query that writes fails instead of
// writing.
type PGQuery struct {
	Query    string         `arg:"query,required" aliases:"sql" doc:"SQL, one statement or several separated by ';' (psql meta-commands such as \\gset work too)"`
	Args     map[string]any `arg:"args" aliases:"named_args" doc:"values for psql variables: the SQL writes :'name' for a quoted literal, :\"name\" for a quoted identifier, :name for the raw text; they are passed on stdin, never in argv"`
	ReadOnly bool           `arg:"readonly" default:"false" doc:"the SQL only reads: run it in check mode too, in a read-only transaction, and report ok instead of changed"`
	PGConn
}

var psqlVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks the SQL and the variables.
func (m *PGQuery) Validate() error {
	if err := m.PGConn.validate(); err != nil {
		return err
	}
	if strings.TrimSpace(m.Query) == "" {
		return &ArgError{Arg: "query", Msg: "argument \"query\" is empty"}
	}
	if err := checkSQLText("query", m.Query); err != nil {
		return err
	}
	for k, v := range m.Args {
		if !psqlVarName.MatchString(k) {
			return &ArgError{Arg: "args", Msg: fmt.Sprintf("args: %q is not a valid variable name (letters, digits, _)", k)}
		}
		s, err := toString(v)
		if err != nil {
			return &ArgError{Arg: "args", Msg: fmt.Sprintf("args: %s: %v", k, err),
				Hint: "pass lists as a string the SQL can split, e.g. string_to_array(:'names', ',')"}
		}
		if err := checkSQLText("args", s); err != nil {
			return err
		}
	}
	return nil
}

// script is what psql reads: variables, then each statement followed by
// a marker line carrying its row count.
func (m *PGQuery) script(marker string) string {
	var b strings.Builder
	keys := make([]string, 0, len(m.Args))
	for k := range m.Args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, _ := toString(m.Args[k])
		fmt.Fprintf(&b, "\\set %s %s\n", k, psqlVarValue(s))
	}
	if m.ReadOnly {
		b.WriteString("SET default_transaction_read_only = on;\n")
	}
	for _, st := range splitSQL(m.Query) {
		b.WriteString(st.Text)
		b.WriteByte('\n')
		if !st.Meta {
			fmt.Fprintf(&b, "\\echo %s :ROW_COUNT\n", marker)
		}
	}
	return b.String()
}

// Run runs the SQL.
func (m *PGQuery) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	marker := randomMarker()
	r, err := psqlRun{Conn: m.PGConn, SQL: m.script(marker), Change: !m.ReadOnly}.run(ctx, t)
	if err != nil {
		var pe *PsqlError
		if errors.As(err, &pe) {
			res := &Result{Failed: true, Msg: pe.Error(), HasRC: true, RC: pe.RC, Stderr: pe.Stderr}
			if m.ReadOnly && strings.Contains(pe.Stderr, "read-only transaction") {
				res.Msg += "\n  hint: the SQL writes: drop readonly: true"
			}
			return res, nil
		}
		return nil, err
	}
	res := &Result{Changed: !m.ReadOnly, Data: map[string]any{}}
	if r.Simulated {
		res.Msg = "not run in check mode (the SQL may write; set readonly: true for a query that only reads)"
		res.Data["rows"] = []any{}
		res.Data["rowcount"] = 0
		res.Data["statements"] = []any{}
		return res, nil
	}
	sets, err := parseCSVSets(r.Stdout, marker)
	if err != nil {
		return nil, fmt.Errorf("pg_query on %s: %w", t.Host(), err)
	}
	stmts := make([]any, 0, len(sets))
	rows, count := []any{}, 0
	for _, s := range sets {
		rows, count = s.rowsAny(), s.RowCount
		stmts = append(stmts, map[string]any{"rows": rows, "rowcount": count})
	}
	res.Data["rows"] = rows
	res.Data["rowcount"] = count
	res.Data["statements"] = stmts
	if notices := strings.TrimSpace(string(r.Stderr)); notices != "" {
		res.Data["notices"] = linesOf(notices)
	}
	return res, nil
}
