package modules

import (
	"context"
	"math/rand/v2"
	"os/exec"
	"os/user"
	"reflect"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/transport"
)

// decodeSQLLiteral reads back a literal as PostgreSQL's lexer does (with
// standard_conforming_strings on): '...' with a doubled quote for a quote; E'...' also
// with backslash escapes.
func decodeSQLLiteral(t *testing.T, lit string) string {
	t.Helper()
	esc := strings.HasPrefix(lit, "E'")
	if esc {
		lit = lit[1:]
	}
	if len(lit) < 2 || lit[0] != '\'' || lit[len(lit)-1] != '\'' {
		t.Fatalf("literal %q is not quoted", lit)
	}
	body := lit[1 : len(lit)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case esc && c == '\\':
			i++
			b.WriteByte(body[i])
		case c == '\'':
			if i+1 >= len(body) || body[i+1] != '\'' {
				t.Fatalf("literal %q has a lone quote inside", lit)
			}
			i++
			b.WriteByte('\'')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func decodeSQLIdent(t *testing.T, id string) string {
	t.Helper()
	if len(id) < 2 || id[0] != '"' || id[len(id)-1] != '"' {
		t.Fatalf("identifier %q is not quoted", id)
	}
	body := id[1 : len(id)-1]
	if strings.Contains(strings.ReplaceAll(body, `""`, ""), `"`) {
		t.Fatalf("identifier %q has a lone quote inside", id)
	}
	return strings.ReplaceAll(body, `""`, `"`)
}

// decodePsqlVar reads a psql meta-command's single-quoted argument.
func decodePsqlVar(t *testing.T, arg string) string {
	t.Helper()
	if strings.ContainsAny(arg, "\n\r") {
		t.Fatalf("psql argument %q spans lines", arg)
	}
	body := arg[1 : len(arg)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			if c == '\'' {
				t.Fatalf("psql argument %q has an unescaped quote", arg)
			}
			b.WriteByte(c)
			continue
		}
		i++
		switch body[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		default:
			b.WriteByte(body[i])
		}
	}
	return b.String()
}

// nastyStrings are values that break naive quoting, plus random ones.
func nastyStrings() []string {
	out := []string{"", "plain", "it's", `say "hi"`, `back\slash`, `\'`, `''`, `$1`, "$$body$$", "$tag$x$tag$",
		"a b", "line1\nline2", "tab\there", "cr\r\n", "-- comment", "/* c */", "; DROP ROLE x;", "ümlaut €", `E'\x'`}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("ab'\"\\$ \n\t;:-*/()Eé")
	for i := 0; i < 300; i++ {
		n := r.IntN(12)
		var b strings.Builder
		for j := 0; j < n; j++ {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		out = append(out, b.String())
	}
	return out
}

func TestSQLQuotingRoundTrips(t *testing.T) {
	for _, s := range nastyStrings() {
		if got := decodeSQLLiteral(t, sqlLiteral(s)); got != s {
			t.Errorf("sqlLiteral(%q) = %s reads back as %q", s, sqlLiteral(s), got)
		}
		if got := decodeSQLIdent(t, sqlIdent(s)); got != s {
			t.Errorf("sqlIdent(%q) = %s reads back as %q", s, sqlIdent(s), got)
		}
		if got := decodePsqlVar(t, psqlVarValue(s)); got != s {
			t.Errorf("psqlVarValue(%q) = %s reads back as %q", s, psqlVarValue(s), got)
		}
	}
	// The forms PostgreSQL users expect.
	for in, want := range map[string]string{"it's": "'it''s'", `a\b`: `E'a\\b'`, "$x": "'$x'"} {
		if got := sqlLiteral(in); got != want {
			t.Errorf("sqlLiteral(%q) = %s, want %s", in, got, want)
		}
	}
	if got := sqlIdent(`My"Role`); got != `"My""Role"` {
		t.Errorf("sqlIdent = %s", got)
	}
}

func TestAsUserArgvPassesArgumentsIntact(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// As the current user the script execs the program directly: what
	// the program receives must be exactly the words given.
	words := []string{"a b", `it's "x"`, "$HOME", "semi;colon", "new\nline", "*", ""}
	argv := asUserArgv(u.Username, append([]string{"printf", `[%s]`}, words...)...)
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	var want strings.Builder
	for _, w := range words {
		want.WriteString("[" + w + "]")
	}
	if string(out) != want.String() {
		t.Errorf("got %q, want %q", out, want.String())
	}
}

func TestSplitSQL(t *testing.T) {
	cases := []struct {
		in   string
		want []sqlStatement
	}{
		{"SELECT 1", []sqlStatement{{Text: "SELECT 1;"}}},
		{"SELECT 1; SELECT 2;", []sqlStatement{{Text: "SELECT 1;"}, {Text: "SELECT 2;"}}},
		{"SELECT 'a;b'; SELECT \"x;y\" FROM t", []sqlStatement{{Text: "SELECT 'a;b';"}, {Text: "SELECT \"x;y\" FROM t;"}}},
		{"SELECT 'it''s;'; SELECT E'\\';x'", []sqlStatement{{Text: "SELECT 'it''s;';"}, {Text: "SELECT E'\\';x';"}}},
		{"CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql; SELECT f()",
			[]sqlStatement{{Text: "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;"}, {Text: "SELECT f();"}}},
		{"DO $$ BEGIN PERFORM 1; END $$;", []sqlStatement{{Text: "DO $$ BEGIN PERFORM 1; END $$;"}}},
		{"SELECT $1, a$b FROM t; SELECT 2", []sqlStatement{{Text: "SELECT $1, a$b FROM t;"}, {Text: "SELECT 2;"}}},
		{"-- only a comment; really\n", nil},
		{"SELECT 1 -- trailing; comment\n; SELECT /* a; /* nested; */ b; */ 2",
			[]sqlStatement{{Text: "SELECT 1 -- trailing; comment\n;"}, {Text: "SELECT /* a; /* nested; */ b; */ 2;"}}},
		{"CREATE RULE r AS ON INSERT TO t DO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)); SELECT 3",
			[]sqlStatement{{Text: "CREATE RULE r AS ON INSERT TO t DO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));"}, {Text: "SELECT 3;"}}},
		{"\\set x 1\nSELECT :x;\n\\echo done\n", []sqlStatement{{Text: `\set x 1`, Meta: true}, {Text: "SELECT :x;"}, {Text: `\echo done`, Meta: true}}},
		{"SELECT 1 AS n \\gset\nSELECT :n", []sqlStatement{{Text: "SELECT 1 AS n  \\gset", Inline: []string{`\gset`}}, {Text: "SELECT :n;"}}},
	}
	for _, c := range cases {
		got := splitSQL(c.in)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("splitSQL(%q)\n got %#v\nwant %#v", c.in, got, c.want)
		}
	}
}

// psqlCSVSample is what psql 15 printed (psql -X -q --csv -f -) for
//
//	SELECT 1 AS a, NULL AS b, '' AS c, 'x,"y' AS d, E'l1\nl2' AS e;
//	\echo M :ROW_COUNT
//	CREATE TABLE t(x int);
//	\echo M :ROW_COUNT
//	INSERT INTO t SELECT generate_series(1,3);
//	\echo M :ROW_COUNT
//	SELECT '' AS only WHERE true;
//	\echo M :ROW_COUNT
//	SELECT * FROM t WHERE false;
//	\echo M :ROW_COUNT
const psqlCSVSample = "a,b,c,d,e\n1,,,\"x,\"\"y\",\"l1\nl2\"\nM 1\nM 0\nM 3\nonly\n\nM 1\nx\nM 0\n"

func TestParseCSVSets(t *testing.T) {
	sets, err := parseCSVSets([]byte(psqlCSVSample), "M")
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 5 {
		t.Fatalf("got %d result sets, want 5: %#v", len(sets), sets)
	}
	first := sets[0].rowMaps()
	want := []map[string]string{{"a": "1", "b": "", "c": "", "d": `x,"y`, "e": "l1\nl2"}}
	if !reflect.DeepEqual(first, want) || sets[0].RowCount != 1 {
		t.Errorf("first set = %#v (rowcount %d), want %#v", first, sets[0].RowCount, want)
	}
	if sets[1].Header != nil || sets[1].RowCount != 0 || sets[2].RowCount != 3 {
		t.Errorf("DDL/INSERT sets = %#v %#v", sets[1], sets[2])
	}
	if got := sets[3].rowMaps(); !reflect.DeepEqual(got, []map[string]string{{"only": ""}}) {
		t.Errorf("a one-column row holding '' was lost: %#v", got)
	}
	if got := sets[4]; !reflect.DeepEqual(got.Header, []string{"x"}) || len(got.Rows) != 0 {
		t.Errorf("empty SELECT = %#v", got)
	}
	// Without a marker the whole output is one set.
	one, err := parseCSVSets([]byte("rolname,rolsuper\npostgres,t\nrepmgr,f\n"), "")
	if err != nil || len(one) != 1 || len(one[0].Rows) != 2 || one[0].rowMaps()[1]["rolsuper"] != "f" {
		t.Errorf("single set = %#v, %v", one, err)
	}
	if _, err := readCSV([]byte("a\n\"open")); err == nil {
		t.Error("an unterminated quote was accepted")
	}
}

func TestPsqlArgvAndErrors(t *testing.T) {
	argv := psqlArgv(PGConn{Port: 5433, DB: "repmgr"}, false)
	want := "psql -X -q --csv -v ON_ERROR_STOP=1 -p 5433 -d repmgr -f -"
	if got := strings.Join(argv, " "); got != want {
		t.Errorf("psqlArgv = %s, want %s", got, want)
	}
	h := newFakeHost().onSQL("SELECT", 2, "", "psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: No such file or directory")
	_, err := pgRows(context.Background(), h, PGConn{}, "SELECT 1;")
	if err == nil || !strings.Contains(err.Error(), "is PostgreSQL running") || !strings.Contains(err.Error(), "rc 2") {
		t.Errorf("connection error = %v", err)
	}
	calls := h.log("query")
	if len(calls) != 1 || calls[0].User != "postgres" || calls[0].Stdin != "SELECT 1;" {
		t.Errorf("psql call = %+v", calls)
	}
}

// With bin_dir the pg_* modules run psql from that directory, not
// Debian's pg_wrapper from the PATH; repmgr's reads use its version's
// bin directory. A relative bin_dir is refused.
func TestPsqlBinDir(t *testing.T) {
	h := newFakeHost().onSQL("pg_authid", 0, "rolname,rolcanlogin,rolsuper,rolreplication,rolcreatedb,rolcreaterole,rolinherit,rolbypassrls,rolconnlimit,rolpassword\nrepmgr,t,f,f,f,f,t,f,-1,\n", "")
	m := newModule(t, "pg_user", map[string]any{"name": "repmgr", "bin_dir": "/usr/lib/postgresql/15/bin"})
	if res := runOn(t, m, h); res.Failed || res.Changed {
		t.Fatalf("pg_user on an existing role: %+v", res)
	}
	if calls := h.log("query"); len(calls) != 1 || calls[0].Argv[0] != "/usr/lib/postgresql/15/bin/psql" {
		t.Errorf("psql calls = %+v, want one of /usr/lib/postgresql/15/bin/psql", calls)
	}
	wantArgError(t, "pg_query", map[string]any{"query": "SELECT 1", "bin_dir": "usr/lib/postgresql/15/bin"}, "bin_dir", "absolute")

	h = repmgrHost()
	runOn(t, newModule(t, "repmgr", map[string]any{"action": "standby_clone", "upstream_host": "node1", "version": "16"}), h)
	n := 0
	for _, c := range h.log("query") {
		if isPsql(c) {
			n++
			if c.Argv[0] != "/usr/lib/postgresql/16/bin/psql" {
				t.Errorf("repmgr ran %s, want /usr/lib/postgresql/16/bin/psql", c.Argv[0])
			}
		}
	}
	if n == 0 {
		t.Error("repmgr standby_clone ran no psql")
	}
}

func TestPGQueryRowsAndReadOnly(t *testing.T) {
	h := newFakeHost()
	// Answer with the statement's rows followed by the marker psql would
	// echo (the marker is random: read it from the script).
	h.onFunc(func(c fakeCall) bool { return isPsql(c) }, func(c fakeCall) transport.Result {
		marker := ""
		for _, l := range strings.Split(c.Stdin, "\n") {
			if strings.HasPrefix(l, `\echo `) {
				marker = strings.Fields(l)[1]
			}
		}
		return transport.Result{Stdout: []byte("name,sync_state\nnode2,sync\nnode3,potential\n" + marker + " 2\n")}
	})
	m := newModule(t, "pg_query", map[string]any{
		"query":    "SELECT application_name AS name, sync_state FROM pg_stat_replication WHERE application_name <> :'me'",
		"args":     map[string]any{"me": "it's $me\nx"},
		"readonly": true, "port": 5432,
	})
	res := runOn(t, m, h)
	if res.Changed || res.Failed {
		t.Fatalf("readonly query: %+v", res)
	}
	rows := res.Data["rows"].([]any)
	if len(rows) != 2 || rows[1].(map[string]any)["sync_state"] != "potential" || res.Data["rowcount"] != 2 {
		t.Errorf("rows = %#v", res.Data)
	}
	q := h.log("query")
	if len(q) != 1 || len(h.log("change")) != 0 {
		t.Fatalf("readonly must use Query only: %+v", h.log())
	}
	stdin := q[0].Stdin
	if !strings.Contains(stdin, "SET default_transaction_read_only = on;") {
		t.Errorf("readonly script lacks the read-only transaction:\n%s", stdin)
	}
	setLine := strings.Split(stdin, "\n")[0]
	if !strings.HasPrefix(setLine, `\set me `) || decodePsqlVar(t, strings.TrimPrefix(setLine, `\set me `)) != "it's $me\nx" {
		t.Errorf("variable line %q does not carry the value intact", setLine)
	}
	for _, a := range q[0].Argv {
		if strings.Contains(a, "$me") {
			t.Errorf("an argument value reached argv: %q", q[0].Argv)
		}
	}

	// Not readonly: a change, simulated in check mode.
	h.reset()
	w := newModule(t, "pg_query", map[string]any{"query": "INSERT INTO t VALUES (1)"})
	cres, rec := checkRun(t, w, h)
	if !cres.Changed || len(rec) != 1 || rec[0].Op != "run" {
		t.Errorf("check mode: %+v, recorded %+v", cres, rec)
	}
	res = runOn(t, w, h)
	if !res.Changed || len(h.log("change")) != 1 {
		t.Errorf("write query: %+v calls %+v", res, h.log())
	}

	wantArgError(t, "pg_query", map[string]any{"query": "SELECT 1", "args": map[string]any{"bad-name": 1}}, "bad-name")
	wantArgError(t, "pg_query", map[string]any{"query": "  "}, "empty")
	wantArgError(t, "pg_query", map[string]any{"query": "SELECT 1", "args": map[string]any{"l": []any{1}}}, "args")
}

func TestPGQueryFailureShowsPsqlError(t *testing.T) {
	h := newFakeHost().onSQL("nosuch", 3, "", "psql:<stdin>:1: ERROR:  relation \"nosuch\" does not exist\nLINE 1: select * from nosuch;\n")
	res := runOn(t, newModule(t, "pg_query", map[string]any{"query": "select * from nosuch", "readonly": true}), h)
	if !res.Failed || !strings.Contains(res.Msg, `relation "nosuch" does not exist`) || res.RC != 3 {
		t.Errorf("failure = %+v", res)
	}
	h = newFakeHost().onSQL("INSERT", 3, "", "psql:<stdin>:2: ERROR:  cannot execute INSERT in a read-only transaction\n")
	res = runOn(t, newModule(t, "pg_query", map[string]any{"query": "INSERT INTO t VALUES (1)", "readonly": true}), h)
	if !res.Failed || !strings.Contains(res.Msg, "drop readonly: true") {
		t.Errorf("write in readonly = %+v", res)
	}
}
