package modules

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

// A read in a kept psql session.
//
// Starting psql costs a process (runuser, psql) and a PostgreSQL backend:
// ~0.06-0.13 s of host time per read, most of what a converged run of a
// pg_* task costs. A read-only script therefore runs in a psql session
// the Target keeps for the run (transport.Keeper), one per host, user
// and server (its psql command line but the database), when the Target
// can keep one. The session is
// psql as for a one-shot run, without ON_ERROR_STOP and without -f, so it
// reads its standard input as it comes. Each script runs as
//
//	[\connect DB]
//	\unset pgplay_kept_failed
//	BEGIN READ ONLY;
//	SELECT CASE WHEN <read only, in DB> THEN 0 ELSE 1 END AS pgplay_kept_failed \gset
//	STATEMENT 1
//	\if :ERROR \set pgplay_kept_failed 1 \endif   (one per line)
//	...
//	ROLLBACK;
//	\echo MARKER :pgplay_kept_failed
//	\unset ... (the script's own \set and \gset variables, pgplay_kept_failed)
//	\warn MARKER
//
// so that nothing a script does outlives it: SET and set_config are undone
// by the ROLLBACK, its variables are unset. What it printed up to the
// markers is its output, exactly what a one-shot psql would have printed.
//
// One session serves every database of the server: it starts connected to
// postgres, and a script for another database is preceded by \connect
// (a new backend, not a new psql). A connection string (a server
// elsewhere) gets a session of its own.
//
// Only what is safe to run so is run so (keptScript): SQL whose first
// word is not transaction control or session state (BEGIN, COMMIT,
// PREPARE, COPY, DO...), no advisory locks, and no psql meta-command but
// \set, \echo, balanced \if blocks and \gset with its variables named
// by the caller (psqlRun.Sets). Whenever anything is not as expected (the session
// cannot start or is gone, psql is older than 13 (\warn), the script
// failed), the session is ended and the script runs in a one-shot psql,
// as before: its answer and its error are then that run's. Reads may run
// twice that way; changes (psqlRun.Change) never run in a session.

// keptUnsafe are first words of statements that would escape the
// session's read-only transaction or leave state behind it.
var keptUnsafe = map[string]bool{
	"BEGIN": true, "START": true, "COMMIT": true, "END": true, "ROLLBACK": true, "ABORT": true,
	"SAVEPOINT": true, "RELEASE": true, "PREPARE": true, "DEALLOCATE": true, "DISCARD": true,
	"COPY": true, "LOAD": true, "CALL": true, "DO": true, "LISTEN": true, "UNLISTEN": true,
	"CHECKPOINT": true, "VACUUM": true,
}

// keptScript returns sql as it runs in a kept session (see the top of
// this file), the psql variables it sets (to unset after it), and whether
// it may run there at all. sets are the variables its \gset statements
// set: a \gset is refused without them (they could not be unset).
func keptScript(sql string, sets []string) (string, []string, bool) {
	if strings.Contains(strings.ToLower(sql), "advisory") {
		return "", nil, false
	}
	vars := append([]string(nil), sets...)
	var b strings.Builder
	depth := 0
	for _, st := range splitSQL(sql) {
		if st.Meta {
			f := strings.Fields(st.Text)
			switch f[0] {
			case `\echo`:
			case `\set`:
				// psql's own variables (ON_ERROR_STOP, AUTOCOMMIT...) are in
				// capitals: a script setting one changes the session.
				if len(f) < 2 || strings.ToUpper(f[1]) == f[1] {
					return "", nil, false
				}
				vars = append(vars, f[1])
			case `\if`:
				depth++
			case `\elif`, `\else`:
				if depth == 0 {
					return "", nil, false
				}
			case `\endif`:
				if depth--; depth < 0 {
					return "", nil, false
				}
			default:
				return "", nil, false
			}
			b.WriteString(st.Text + "\n")
			continue
		}
		// Only \gset within a statement, with its variables given.
		if len(st.Inline) > 1 || len(st.Inline) == 1 && (st.Inline[0] != `\gset` || len(sets) == 0) {
			return "", nil, false
		}
		if keptUnsafe[strings.ToUpper(firstWord(st.Text))] {
			return "", nil, false
		}
		b.WriteString(st.Text + "\n\\if :ERROR\n\\set pgplay_kept_failed 1\n\\endif\n")
	}
	if depth != 0 {
		return "", nil, false
	}
	return b.String(), vars, true
}

// firstWord returns the first word of an SQL statement, after blanks,
// comments and opening parentheses.
func firstWord(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n(")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return ""
			}
			s = s[i+2:]
		default:
			end := strings.IndexFunc(s, func(r rune) bool {
				return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
			})
			if end < 0 {
				return s
			}
			return s[:end]
		}
	}
}

// psqlSessionArgv is psqlArgv for a kept session: no ON_ERROR_STOP (an
// error ends a script, not the session) and no -f (psql reads its
// standard input as it comes).
func psqlSessionArgv(conn PGConn, terse bool) []string {
	argv := psqlArgv(conn, terse)
	argv = argv[:len(argv)-2]
	for i, a := range argv {
		if a == "ON_ERROR_STOP=1" {
			argv[i] = "ON_ERROR_STOP=0"
		}
	}
	return argv
}

// runKept runs p's script in a kept session; ok is false when it did not
// (then nothing of it took effect, and the caller runs it one-shot).
func (p psqlRun) runKept(ctx context.Context, t transport.Target) (res transport.Result, ok bool) {
	kp, isKeeper := t.(transport.Keeper)
	if p.Change || !isKeeper {
		return res, false
	}
	script, vars, safe := keptScript(p.SQL, p.Sets)
	if !safe {
		return res, false
	}
	// One session per host serves every database of a server: it starts
	// on postgres and \connect switches (a backend start, not a psql
	// start). A conninfo (another server) has its own session.
	conn, db := p.Conn, p.Conn.database()
	conninfo := strings.Contains(db, "=")
	if !conninfo {
		conn.DB = "postgres"
	}
	k, fresh, err := kp.Take(ctx, asUserCmd("postgres", psqlSessionArgv(conn, p.Terse), nil, psqlEnv))
	if err != nil {
		return res, false
	}
	stop := k.Watch(ctx)
	if fresh && !psqlSessionReady(k) {
		stop()
		kp.Discard(k)
		return res, false
	}
	if fresh {
		k.Note = conn.database()
	}
	connect := ""
	if k.Note != db {
		// A failed \connect leaves psql without a connection: the
		// script's statements fail, and the session is discarded.
		connect = `\connect ` + psqlVarValue(db) + "\n"
		k.Note = db
	}
	checkDB := db
	if conninfo {
		checkDB = ""
	}
	out, errOut, err := psqlSessionScript(k, connect, checkDB, script, vars)
	stop() // before Put: the watch must not end the session for its next user
	if err != nil {
		kp.Discard(k)
		return res, false
	}
	kp.Put(k)
	return transport.Result{Stdout: out, Stderr: errOut}, true
}

// psqlSessionReady waits for a new session's psql to answer, and checks
// it knows \warn (psql 13 and later).
func psqlSessionReady(k *transport.Kept) bool {
	marker := randomMarker()
	if k.Send([]byte(`\echo `+marker+" :VERSION_NUM\n")) != nil {
		return false
	}
	for {
		l, err := k.Out.ReadString('\n')
		if v, found := strings.CutPrefix(strings.TrimSuffix(l, "\n"), marker+" "); found {
			n, err := strconv.Atoi(v)
			return err == nil && n >= 130000
		}
		if err != nil {
			return false
		}
	}
}

// errKeptFailed is a script that failed in a kept session.
var errKeptFailed = errors.New("the script failed in the kept psql session")

// psqlSessionScript runs script (from keptScript) in the session k (see
// the top of this file), after connect (a \connect line, or ""), in the
// database db ("": not checked, a connection string's), and returns what it printed on standard output
// and standard error.
func psqlSessionScript(k *transport.Kept, connect, db, script string, vars []string) ([]byte, []byte, error) {
	marker := randomMarker()
	var b strings.Builder
	b.WriteString(connect)
	// pgplay_kept_failed is 0 only when the server answered that this
	// transaction is read-only, in db: not when psql has no connection
	// (a failed \connect), which does not set ERROR.
	cond := "current_setting('transaction_read_only') = 'on'"
	if db != "" {
		cond += " AND current_database() = " + sqlLiteral(db)
	}
	b.WriteString("\\unset pgplay_kept_failed\nBEGIN READ ONLY;\n")
	fmt.Fprintf(&b, "SELECT CASE WHEN %s THEN 0 ELSE 1 END AS pgplay_kept_failed \\gset\n", cond)
	b.WriteString(script)
	b.WriteString("ROLLBACK;\n")
	fmt.Fprintf(&b, "\\echo %s :pgplay_kept_failed\n", marker)
	for _, v := range append(vars, "pgplay_kept_failed") {
		fmt.Fprintf(&b, "\\unset %s\n", v)
	}
	fmt.Fprintf(&b, "\\warn %s\n", marker)
	if err := k.Send([]byte(b.String())); err != nil {
		return nil, nil, err
	}
	type stream struct {
		text string
		err  error
	}
	errc := make(chan stream, 1)
	go func() {
		s, _, err := readToMarker(k.Err.ReadString, marker)
		errc <- stream{s, err}
	}()
	out, last, err := readToMarker(k.Out.ReadString, marker)
	e := <-errc
	switch {
	case err != nil:
		return nil, nil, err
	case e.err != nil:
		return nil, nil, e.err
	case last != "0":
		return nil, nil, errKeptFailed
	}
	return []byte(out), []byte(e.text), nil
}

// readToMarker reads lines up to the line "MARKER" or "MARKER VALUE" and
// returns the text before it and VALUE.
func readToMarker(readLine func(byte) (string, error), marker string) (string, string, error) {
	var b strings.Builder
	for {
		l, err := readLine('\n')
		line := strings.TrimSuffix(l, "\n")
		if line == marker {
			return b.String(), "", nil
		}
		if v, found := strings.CutPrefix(line, marker+" "); found {
			return b.String(), v, nil
		}
		if err != nil {
			return "", "", err
		}
		b.WriteString(l)
	}
}
