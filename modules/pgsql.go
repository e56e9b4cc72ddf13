package modules

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

// PostgreSQL helpers shared by the pg_* and repmgr modules.
//
// How pgplay talks to PostgreSQL: it runs psql on the host, over the
// Target, as the operating-system user postgres (peer authentication on
// the Unix socket /var/run/postgresql), with the SQL on psql's standard
// input, never in argv:
//
//	[BIN_DIR/]psql -X -q --csv -v ON_ERROR_STOP=1 [-p PORT] [-d DB] -f -
//
// With bin_dir (the roles pass the cluster role's pg_bin_dir) psql is
// run from that directory; without it, as `psql` from the PATH, which on
// Debian is pg_wrapper, a Perl script that costs ~0.2 s of host CPU per
// call before psql starts.
//
// Results are read from psql's CSV output (with its header line, so rows
// become maps keyed by column name). The switch to postgres is made on the
// host by asUserArgv: a Target that already is postgres (become_user:
// postgres) runs psql directly, root (become: true) uses runuser, any other
// user `sudo -n -u postgres`. A task therefore works with either become
// style.
//
// Identifiers and literals are quoted in one place: sqlIdent and
// sqlLiteral below.

// asUserScript runs "$@" as user $1 (see asUserArgv). /sbin and /usr/sbin
// are added to PATH for runuser: a login shell's PATH over SSH may lack
// them. Root, the usual case (become: true), is asked about first: one
// `id` process instead of two.
const asUserScript = `PATH="$PATH:/usr/sbin:/sbin"
u=$1; shift
if [ "$(id -u)" -eq 0 ]; then
  if [ "$u" = root ]; then exec "$@"; fi
  exec runuser -u "$u" -- "$@"
fi
if [ "$(id -un)" = "$u" ]; then exec "$@"; fi
exec sudo -n -u "$u" -- "$@"`

// asUserArgv wraps argv so that it runs as the host user user, whatever
// user the Target is: directly when it already is that user, with runuser
// as root, else with sudo -n. Arguments reach the program unchanged (they
// are positional parameters of the script, never part of it).
func asUserArgv(user string, argv ...string) []string {
	return append([]string{"/bin/sh", "-c", asUserScript, "pgplay-as", user}, argv...)
}

// asUserCmd is the Cmd that runs argv as user from the directory "/" (the
// Target user's home may not be readable by that user).
func asUserCmd(user string, argv []string, stdin []byte, env map[string]string) transport.Cmd {
	return transport.Cmd{Argv: asUserArgv(user, argv...), Stdin: stdin, Env: env, Dir: "/"}
}

// sqlIdent quotes s as an SQL identifier: in double quotes, an embedded
// double quote doubled. The name is kept exactly (case included).
func sqlIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// sqlLiteral quotes s as an SQL string literal: in single quotes, an
// embedded single quote doubled; when s holds a backslash it is written
// as an escape string (E'...') with backslashes doubled, so the value is
// the same whatever standard_conforming_strings says (as libpq's
// PQescapeLiteral does).
func sqlLiteral(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		return "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}

// psqlVarValue quotes s as the single-quoted argument of a psql
// meta-command (\set NAME 'value'): backslash and single quote are
// escaped with a backslash, and newline, carriage return and tab are
// written as \n, \r and \t so the meta-command stays on one line. psql
// then quotes the variable itself where the SQL says :'NAME' or :"NAME".
func psqlVarValue(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return "'" + r.Replace(s) + "'"
}

// checkSQLText refuses a value that cannot travel in SQL text (a NUL
// byte); arg names the argument for the message.
func checkSQLText(arg, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return &ArgError{Arg: arg, Msg: fmt.Sprintf("argument %q holds a NUL byte, which PostgreSQL text cannot hold", arg)}
	}
	return nil
}

// PGConn are the connection arguments the pg_* modules share.
type PGConn struct {
	Port int    `arg:"port" doc:"port of the PostgreSQL server (its Unix socket in /var/run/postgresql); unset: psql's default (Debian: the default cluster's)"`
	DB   string `arg:"db" aliases:"login_db" doc:"database to connect to (default postgres)"`
	// BinDir is where psql is; "" runs psql from the PATH.
	BinDir string `arg:"bin_dir" doc:"directory holding psql, e.g. /usr/lib/postgresql/15/bin (the roles pass pg_bin_dir); unset: psql from the PATH, on Debian pg_wrapper, a Perl script that costs ~0.2 s per call"`
}

// database returns the database to connect to.
func (c PGConn) database() string {
	if c.DB == "" {
		return "postgres"
	}
	return c.DB
}

// where describes the connection for messages.
func (c PGConn) where() string {
	s := "database " + c.database()
	if c.Port != 0 {
		s += fmt.Sprintf(" on port %d", c.Port)
	}
	return s
}

// validate checks the connection arguments.
func (c PGConn) validate() error {
	if c.Port < 0 || c.Port > 65535 {
		return &ArgError{Arg: "port", Msg: fmt.Sprintf("argument \"port\": %d is not a TCP port (1-65535)", c.Port)}
	}
	if c.BinDir != "" && !path.IsAbs(c.BinDir) {
		return &ArgError{Arg: "bin_dir", Msg: fmt.Sprintf("argument \"bin_dir\": %q is not an absolute path", c.BinDir),
			Hint: "give the directory of psql, e.g. bin_dir: \"{{ .pg_bin_dir }}\" (/usr/lib/postgresql/15/bin)"}
	}
	return checkSQLText("db", c.DB)
}

// psqlArgv is the psql command line for conn (SQL comes on stdin). terse
// sets VERBOSITY=terse: error messages without the statement's text.
func psqlArgv(conn PGConn, terse bool) []string {
	psql := "psql"
	if conn.BinDir != "" {
		psql = path.Join(conn.BinDir, "psql")
	}
	argv := []string{psql, "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1"}
	if terse {
		argv = append(argv, "-v", "VERBOSITY=terse")
	}
	if conn.Port != 0 {
		argv = append(argv, "-p", strconv.Itoa(conn.Port))
	}
	return append(argv, "-d", conn.database(), "-f", "-")
}

// psqlEnv bounds connection time (an unreachable upstream must not hang a
// run) and names pgplay in pg_stat_activity.
var psqlEnv = map[string]string{"PGCONNECT_TIMEOUT": "10", "PGAPPNAME": "pgplay"}

// PsqlError is a psql run that failed.
type PsqlError struct {
	Host   string
	Where  string // "database postgres on port 5432"
	RC     int
	Stderr string
}

func (e *PsqlError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = "no message"
	}
	s := fmt.Sprintf("psql on %s (%s) failed (rc %d): %s", e.Host, e.Where, e.RC, lastLines(msg, 15))
	if h := e.hint(); h != "" {
		s += "\n  hint: " + h
	}
	return s
}

func (e *PsqlError) hint() string {
	switch {
	case strings.Contains(e.Stderr, "sudo:") && strings.Contains(e.Stderr, "password is required"):
		return "pgplay switches to the postgres user with runuser (as root) or sudo -n: run the task with become: true or become_user: postgres"
	case e.RC == 127 || strings.Contains(e.Stderr, "psql: not found"):
		return "install the PostgreSQL client (package postgresql-client-15)"
	case e.RC == 2 && (strings.Contains(e.Stderr, "No such file or directory") || strings.Contains(e.Stderr, "Connection refused")):
		return "is PostgreSQL running on that port? (service: name=postgresql@15-main state=started, or check the port)"
	case e.RC == 2 && strings.Contains(e.Stderr, "does not exist"):
		return "create it first (pg_database / pg_user), or connect to another one with db:"
	}
	return ""
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	ls := strings.Split(s, "\n")
	if len(ls) <= n {
		return s
	}
	return "...\n" + strings.Join(ls[len(ls)-n:], "\n")
}

// psqlRun is one run of psql.
type psqlRun struct {
	Conn PGConn
	SQL  string
	// Change runs psql with t.Change (recorded, not run, in check mode)
	// instead of t.Query.
	Change bool
	// Terse sets VERBOSITY=terse: errors without the statement's text.
	Terse bool
	// Secrets are removed from error messages.
	Secrets []string
	// Sets are the psql variables the script's \gset statements set: a
	// read that names them may run in a kept session (psqlkept.go).
	Sets []string
}

// run runs psql: a read in the session the Target keeps when it can
// (psqlkept.go), else one psql run. A non-zero exit is a *PsqlError (with Secrets redacted).
// In check mode a Change run returns a Result with Simulated set.
func (p psqlRun) run(ctx context.Context, t transport.Target) (transport.Result, error) {
	if res, ok := p.runKept(ctx, t); ok {
		return res, nil
	}
	cmd := asUserCmd("postgres", psqlArgv(p.Conn, p.Terse), []byte(p.SQL), psqlEnv)
	var res transport.Result
	var err error
	if p.Change {
		res, err = t.Change(ctx, cmd)
	} else {
		res, err = t.Query(ctx, cmd)
	}
	if err != nil {
		return res, err
	}
	if res.RC != 0 && !res.Simulated {
		stderr := string(res.Stderr)
		for _, s := range p.Secrets {
			if s != "" {
				stderr = strings.ReplaceAll(stderr, s, "********")
			}
		}
		return res, &PsqlError{Host: t.Host(), Where: p.Conn.where(), RC: res.RC, Stderr: stderr}
	}
	return res, nil
}

// pgRows runs one read-only SELECT and returns its rows as maps of
// column name to text (NULL reads as "": psql's CSV does not tell them
// apart, so queries that care use coalesce or IS NULL).
func pgRows(ctx context.Context, t transport.Target, conn PGConn, sql string) ([]map[string]string, error) {
	res, err := psqlRun{Conn: conn, SQL: sql}.run(ctx, t)
	if err != nil {
		return nil, err
	}
	sets, err := parseCSVSets(res.Stdout, "")
	if err != nil {
		return nil, fmt.Errorf("psql on %s: %w", t.Host(), err)
	}
	if len(sets) == 0 {
		return nil, nil
	}
	return sets[0].rowMaps(), nil
}

// pgExec runs SQL that changes the database (t.Change).
func pgExec(ctx context.Context, t transport.Target, conn PGConn, sql string) (transport.Result, error) {
	return psqlRun{Conn: conn, SQL: sql, Change: true}.run(ctx, t)
}

// resultSet is one statement's result as psql printed it.
type resultSet struct {
	Header   []string
	Rows     [][]string
	RowCount int // psql's ROW_COUNT (-1 when unknown)
}

// rowMaps returns the rows as maps keyed by column name.
func (r resultSet) rowMaps() []map[string]string {
	out := make([]map[string]string, 0, len(r.Rows))
	for _, row := range r.Rows {
		m := make(map[string]string, len(r.Header))
		for i, h := range r.Header {
			if i < len(row) {
				m[h] = row[i]
			}
		}
		out = append(out, m)
	}
	return out
}

// rowsAny returns the rows as a registrable list of maps.
func (r resultSet) rowsAny() []any {
	out := make([]any, 0, len(r.Rows))
	for _, m := range r.rowMaps() {
		a := make(map[string]any, len(m))
		for k, v := range m {
			a[k] = v
		}
		out = append(out, a)
	}
	return out
}

// parseCSVSets reads psql --csv output: each result set is a header line
// and its rows. With marker "" the whole output is one result set. With a
// marker, a record "MARKER N" (written by `\echo MARKER :ROW_COUNT` after
// each statement) ends a statement's result: statements that print
// nothing (DDL, INSERT) give a set without header.
func parseCSVSets(out []byte, marker string) ([]resultSet, error) {
	recs, err := readCSV(out)
	if err != nil {
		return nil, err
	}
	var sets []resultSet
	cur := resultSet{RowCount: -1}
	started := false
	for _, rec := range recs {
		if marker != "" && len(rec) == 1 && strings.HasPrefix(rec[0], marker+" ") {
			n, err := strconv.Atoi(strings.TrimPrefix(rec[0], marker+" "))
			if err != nil {
				n = -1
			}
			cur.RowCount = n
			sets = append(sets, cur)
			cur, started = resultSet{RowCount: -1}, false
			continue
		}
		if !started {
			cur.Header, started = rec, true
			continue
		}
		cur.Rows = append(cur.Rows, rec)
	}
	if started {
		cur.RowCount = len(cur.Rows)
		sets = append(sets, cur)
	}
	return sets, nil
}

// readCSV splits CSV text (RFC 4180, as psql --csv writes it) into
// records. Unlike encoding/csv it keeps an empty line as a record of one
// empty field: psql prints a one-column row holding an empty string or NULL that way.
func readCSV(data []byte) ([][]string, error) {
	var recs [][]string
	var rec []string
	var field bytes.Buffer
	line := 1
	i := 0
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"' && field.Len() == 0:
			// Quoted field: up to the closing quote; "" is a quote.
			i++
			start := line
			for {
				if i >= len(data) {
					return nil, fmt.Errorf("CSV output line %d: unterminated quoted field", start)
				}
				if data[i] == '"' {
					if i+1 < len(data) && data[i+1] == '"' {
						field.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				if data[i] == '\n' {
					line++
				}
				field.WriteByte(data[i])
				i++
			}
			continue
		case c == ',':
			rec = append(rec, field.String())
			field.Reset()
		case c == '\n':
			rec = append(rec, strings.TrimSuffix(field.String(), "\r"))
			recs = append(recs, rec)
			rec, line = nil, line+1
			field.Reset()
		default:
			field.WriteByte(c)
		}
		i++
	}
	if field.Len() > 0 || rec != nil {
		recs = append(recs, append(rec, field.String()))
	}
	return recs, nil
}

// sqlStatement is one item of a script split by splitSQL.
type sqlStatement struct {
	Text string
	// Meta is true for a psql meta-command line on its own (\set, \c...).
	Meta bool
	// Inline are the meta-commands within or after the statement's SQL
	// (\gset, \g...), as they are in Text.
	Inline []string
}

var dollarTag = regexp.MustCompile(`^\$([A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$`)

// splitSQL splits a script into statements the way psql does: at
// semicolons outside quotes ('...', E'...', "...", $tag$...$tag$),
// comments (--, nested /* */) and parentheses. A backslash outside those
// starts a psql meta-command that runs to the end of the line; \g, \gx,
// \gset, \gexec and friends end the statement they follow. Each SQL
// statement comes back ending with ";" (one is added to an unterminated
// last statement). Text with no SQL in it (blank, comments) is dropped.
// Not handled: SQL-standard function bodies (BEGIN ATOMIC ... END) with
// semicolons inside, and COPY ... FROM STDIN data.
func splitSQL(s string) []sqlStatement {
	var out []sqlStatement
	var b strings.Builder
	hasCode := false
	depth := 0
	var inline []string
	flush := func(addSemi bool) {
		if hasCode {
			text := strings.TrimSpace(b.String())
			if addSemi {
				text += ";"
			}
			out = append(out, sqlStatement{Text: text, Inline: inline})
		}
		b.Reset()
		hasCode, depth, inline = false, 0, nil
	}
	isIdent := func(c byte) bool {
		return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
	}
	i := 0
	for i < len(s) {
		c := s[i]
		rest := s[i:]
		switch {
		case strings.HasPrefix(rest, "--"):
			j := strings.IndexByte(rest, '\n')
			if j < 0 {
				j = len(rest)
			}
			b.WriteString(rest[:j])
			i += j
			continue
		case strings.HasPrefix(rest, "/*"):
			j, nest := 2, 1
			for j < len(rest) && nest > 0 {
				switch {
				case strings.HasPrefix(rest[j:], "/*"):
					nest++
					j += 2
				case strings.HasPrefix(rest[j:], "*/"):
					nest--
					j += 2
				default:
					j++
				}
			}
			b.WriteString(rest[:j])
			i += j
			continue
		case c == '\'':
			escapes := i > 0 && (s[i-1] == 'E' || s[i-1] == 'e') && (i < 2 || !isIdent(s[i-2]))
			j := 1
			for j < len(rest) {
				if escapes && rest[j] == '\\' {
					j += 2
					continue
				}
				if rest[j] == '\'' {
					if j+1 < len(rest) && rest[j+1] == '\'' {
						j += 2
						continue
					}
					j++
					break
				}
				j++
			}
			j = min(j, len(rest))
			b.WriteString(rest[:j])
			hasCode = true
			i += j
			continue
		case c == '"':
			j := 1
			for j < len(rest) {
				if rest[j] == '"' {
					if j+1 < len(rest) && rest[j+1] == '"' {
						j += 2
						continue
					}
					j++
					break
				}
				j++
			}
			j = min(j, len(rest))
			b.WriteString(rest[:j])
			hasCode = true
			i += j
			continue
		case c == '$' && (i == 0 || !isIdent(s[i-1])):
			if tag := dollarTag.FindString(rest); tag != "" {
				end := strings.Index(rest[len(tag):], tag)
				j := len(rest)
				if end >= 0 {
					j = len(tag) + end + len(tag)
				}
				b.WriteString(rest[:j])
				hasCode = true
				i += j
				continue
			}
		case c == '\\':
			j := strings.IndexByte(rest, '\n')
			if j < 0 {
				j = len(rest)
			}
			meta := strings.TrimSpace(rest[:j])
			if !hasCode {
				b.Reset()
				out = append(out, sqlStatement{Text: meta, Meta: true})
			} else {
				b.WriteString(" " + meta)
				inline = append(inline, meta)
				word := strings.Fields(meta[1:] + " ")
				if len(word) > 0 && (strings.HasPrefix(word[0], "g") || word[0] == "crosstabview" || word[0] == "watch") {
					flush(false)
				}
			}
			i += j
			continue
		case c == '(':
			depth++
		case c == ')':
			if depth > 0 {
				depth--
			}
		case c == ';' && depth == 0:
			b.WriteByte(';')
			flush(false)
			i++
			continue
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			hasCode = true
		}
		b.WriteByte(c)
		i++
	}
	flush(true)
	return out
}

// randomMarker returns a marker no query output will contain by chance.
func randomMarker() string {
	return "pgplay-" + strings.ToLower(rand.Text())
}

// pgVersionArg checks a PostgreSQL major version argument ("15").
func pgVersionArg(arg, v string) error {
	if n, err := strconv.Atoi(v); err != nil || n < 9 || n > 99 {
		return &ArgError{Arg: arg, Msg: fmt.Sprintf("argument %q: %q is not a PostgreSQL major version like \"15\"", arg, v)}
	}
	return nil
}

// pgBool reads a boolean as psql prints it ("t"/"f").
func pgBool(s string) bool { return s == "t" || s == "true" || s == "on" }
