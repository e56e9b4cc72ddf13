package modules

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "pg_user",
		Returns: "name, state: the role\nchanged_attributes: the attributes the task changed\npassword_changed: whether the password was set",
		Purpose: "Create, alter or drop a PostgreSQL role; the scram-sha-256 password is set only when it differs.",
		Examples: []string{
			`- name: repmgr's superuser, allowed to replicate
  pg_user:
    name: repmgr
    password: "{{ .repmgr_password }}"
    superuser: true
    replication: true`,
			`- name: An application login with at most 50 connections
  pg_user:
    name: shop
    password: "{{ .shop_password }}"
    conn_limit: 50`,
			`- name: A group role for read-only access (no login)
  pg_user:
    name: reporting
    login: false`,
			`- name: Drop a role no longer used
  pg_user:
    name: legacy_app
    state: absent`,
		},
		New: func() Module { return &PGUser{} },
	})
}

// PGUser manages a role. The password never travels in argv or output:
// pgplay computes its SCRAM-SHA-256 verifier itself (RFC 5802/7677, as
// psql's \password does) and sends only the verifier, on psql's stdin. An
// existing verifier is checked against the password with its own salt and
// iteration count, so an unchanged password is not reset.
type PGUser struct {
	Name        string  `arg:"name,required" aliases:"user|role" doc:"role name, kept exactly (it is quoted)"`
	Password    *string `arg:"password" doc:"the role's password (ASCII); stored as a scram-sha-256 verifier; \"\" removes it; unset leaves it alone"`
	State       string  `arg:"state" default:"present" choices:"present|absent" doc:"present: the role exists with these attributes; absent: it is dropped"`
	Login       *bool   `arg:"login" doc:"LOGIN; a new role gets LOGIN unless login: false"`
	Superuser   *bool   `arg:"superuser" doc:"SUPERUSER"`
	Replication *bool   `arg:"replication" doc:"REPLICATION"`
	CreateDB    *bool   `arg:"createdb" doc:"CREATEDB"`
	CreateRole  *bool   `arg:"createrole" doc:"CREATEROLE"`
	Inherit     *bool   `arg:"inherit" doc:"INHERIT"`
	BypassRLS   *bool   `arg:"bypassrls" doc:"BYPASSRLS"`
	ConnLimit   *int    `arg:"conn_limit" doc:"CONNECTION LIMIT (-1: no limit)"`
	PGConn
}

// Validate checks the name, the password and the attributes for state.
func (m *PGUser) Validate() error {
	if err := m.PGConn.validate(); err != nil {
		return err
	}
	if m.Name == "" {
		return &ArgError{Arg: "name", Msg: "argument \"name\" is empty"}
	}
	if len(m.Name) > 63 {
		return &ArgError{Arg: "name", Msg: fmt.Sprintf("role name %q is longer than PostgreSQL's 63 bytes", m.Name)}
	}
	if err := checkSQLText("name", m.Name); err != nil {
		return err
	}
	if m.Password != nil {
		for _, r := range *m.Password {
			if r == 0 || r > 0x7f {
				return &ArgError{Arg: "password", Msg: "the password holds a NUL byte or a non-ASCII character",
					Hint: "use an ASCII password: pgplay computes the SCRAM verifier itself and does not implement SASLprep, which PostgreSQL applies to non-ASCII passwords"}
			}
		}
	}
	if m.ConnLimit != nil && *m.ConnLimit < -1 {
		return &ArgError{Arg: "conn_limit", Msg: "conn_limit must be -1 (no limit) or more"}
	}
	if m.State == "absent" && (m.Password != nil || m.attrsGiven()) {
		return &ArgError{Arg: "state", Msg: "state: absent drops the role: give no password or attributes with it"}
	}
	return nil
}

// roleAttr is one boolean role attribute.
type roleAttr struct {
	keyword string // SQL keyword (SUPERUSER); NO+keyword is the negation
	column  string // pg_authid column
	want    *bool
}

func (m *PGUser) attrs() []roleAttr {
	return []roleAttr{
		{"LOGIN", "rolcanlogin", m.Login},
		{"SUPERUSER", "rolsuper", m.Superuser},
		{"REPLICATION", "rolreplication", m.Replication},
		{"CREATEDB", "rolcreatedb", m.CreateDB},
		{"CREATEROLE", "rolcreaterole", m.CreateRole},
		{"INHERIT", "rolinherit", m.Inherit},
		{"BYPASSRLS", "rolbypassrls", m.BypassRLS},
	}
}

func (m *PGUser) attrsGiven() bool {
	for _, a := range m.attrs() {
		if a.want != nil {
			return true
		}
	}
	return m.ConnLimit != nil
}

// roleQuery reads the role's row from pg_authid (superuser only: the
// task runs psql as postgres).
func roleQuery(name string) string {
	return "SELECT rolname, rolcanlogin, rolsuper, rolreplication, rolcreatedb, rolcreaterole, rolinherit, rolbypassrls, rolconnlimit, " +
		"coalesce(rolpassword, '') AS rolpassword FROM pg_authid WHERE rolname = " + sqlLiteral(name) + ";\n"
}

// Run brings the role to the wanted state.
func (m *PGUser) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	rows, err := pgRows(ctx, t, m.PGConn, roleQuery(m.Name))
	if err != nil {
		return pgFailed(err)
	}
	res := &Result{Data: map[string]any{"name": m.Name, "state": m.State}}
	exists := len(rows) > 0
	if m.State == "absent" {
		if !exists {
			return res, nil
		}
		if _, err := pgExec(ctx, t, m.PGConn, "DROP ROLE "+sqlIdent(m.Name)+";\n"); err != nil {
			r, _ := pgFailed(err)
			if strings.Contains(r.Msg, "depend") {
				r.Msg += "\n  hint: reassign or drop what the role owns first (REASSIGN OWNED BY / DROP OWNED BY with pg_query)"
			}
			return r, nil
		}
		res.Changed, res.Msg = true, "role dropped"
		return res, nil
	}

	var cur map[string]string
	if exists {
		cur = rows[0]
	}
	clauses, changed := m.clauses(cur)
	var verifier string
	pwChanged := false
	if m.Password != nil {
		stored := ""
		if exists {
			stored = cur["rolpassword"]
		}
		switch {
		case *m.Password == "":
			if stored != "" || !exists {
				clauses = append(clauses, "PASSWORD NULL")
				pwChanged = exists
			}
		case !scramMatches(stored, *m.Password):
			if verifier, err = newSCRAMVerifier(*m.Password); err != nil {
				return nil, err
			}
			clauses = append(clauses, "PASSWORD "+sqlLiteral(verifier))
			pwChanged = true
		}
	}
	if exists && len(clauses) == 0 {
		return res, nil
	}
	stmt := "ALTER ROLE " + sqlIdent(m.Name)
	if !exists {
		stmt = "CREATE ROLE " + sqlIdent(m.Name)
		changed = nil
	}
	if len(clauses) > 0 {
		stmt += " WITH " + strings.Join(clauses, " ")
	}
	r, err := psqlRun{Conn: m.PGConn, SQL: stmt + ";\n", Change: true, Terse: true, Secrets: []string{verifier}}.run(ctx, t)
	if err != nil {
		return pgFailed(err)
	}
	res.Changed = true
	if !exists {
		res.Msg = "role created"
	} else {
		res.Msg = "role altered"
	}
	if r.Simulated {
		res.Msg = strings.Replace(res.Msg, "role ", "role would be ", 1)
	}
	if changed == nil {
		changed = []string{}
	}
	res.Data["changed_attributes"] = changed
	res.Data["password_changed"] = pwChanged
	return res, nil
}

// clauses returns the attribute clauses to apply to the role cur (nil:
// a new role) and the names of the attributes that differ.
func (m *PGUser) clauses(cur map[string]string) ([]string, []string) {
	var out, names []string
	for _, a := range m.attrs() {
		want := a.want
		if cur == nil && a.keyword == "LOGIN" && want == nil {
			t := true
			want = &t
		}
		if want == nil {
			continue
		}
		if cur != nil && pgBool(cur[a.column]) == *want {
			continue
		}
		kw := a.keyword
		if !*want {
			kw = "NO" + kw
		}
		out = append(out, kw)
		names = append(names, strings.ToLower(a.keyword))
	}
	if m.ConnLimit != nil && (cur == nil || cur["rolconnlimit"] != strconv.Itoa(*m.ConnLimit)) {
		out = append(out, "CONNECTION LIMIT "+strconv.Itoa(*m.ConnLimit))
		names = append(names, "conn_limit")
	}
	return out, names
}

// pgFailed turns a psql failure into a failed result; other errors stay
// errors.
func pgFailed(err error) (*Result, error) {
	var pe *PsqlError
	if errors.As(err, &pe) {
		return &Result{Failed: true, Msg: pe.Error()}, nil
	}
	return nil, err
}

// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL stores it in
// pg_authid.rolpassword:
//
//	SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
//
// (base64). SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, i),
// ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey =
// SHA-256(ClientKey), ServerKey = HMAC(SaltedPassword, "Server Key").
// PostgreSQL first applies SASLprep to the password, which leaves an
// ASCII password as it is: pg_user accepts only ASCII passwords.

// scramIterations is PostgreSQL's default iteration count.
const scramIterations = 4096

// scramSaltLen is the salt length PostgreSQL uses.
const scramSaltLen = 16

// scramSecret is a parsed verifier.
type scramSecret struct {
	iterations int
	salt       []byte
	storedKey  []byte
	serverKey  []byte
}

// parseSCRAM parses a stored verifier.
func parseSCRAM(s string) (scramSecret, error) {
	var sec scramSecret
	rest, ok := strings.CutPrefix(s, "SCRAM-SHA-256$")
	if !ok {
		return sec, errors.New("not a SCRAM-SHA-256 verifier")
	}
	params, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return sec, errors.New("verifier has no keys")
	}
	iter, salt, ok := strings.Cut(params, ":")
	if !ok {
		return sec, errors.New("verifier has no salt")
	}
	stored, server, ok := strings.Cut(keys, ":")
	if !ok {
		return sec, errors.New("verifier has no server key")
	}
	var err error
	if sec.iterations, err = strconv.Atoi(iter); err != nil || sec.iterations < 1 {
		return sec, fmt.Errorf("bad iteration count %q", iter)
	}
	if sec.salt, err = base64.StdEncoding.DecodeString(salt); err != nil {
		return sec, fmt.Errorf("bad salt: %w", err)
	}
	if sec.storedKey, err = base64.StdEncoding.DecodeString(stored); err != nil {
		return sec, fmt.Errorf("bad stored key: %w", err)
	}
	if sec.serverKey, err = base64.StdEncoding.DecodeString(server); err != nil {
		return sec, fmt.Errorf("bad server key: %w", err)
	}
	return sec, nil
}

// scramKeys computes StoredKey and ServerKey for password.
func scramKeys(password string, salt []byte, iterations int) (stored, server []byte, err error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return nil, nil, fmt.Errorf("scram: %w", err)
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	sk := sha256.Sum256(clientKey)
	return sk[:], mac(salted, "Server Key"), nil
}

// scramMatches says whether the stored verifier was made from password.
// Anything that is not a SCRAM-SHA-256 verifier (an md5 hash, no
// password) does not match.
func scramMatches(stored, password string) bool {
	sec, err := parseSCRAM(stored)
	if err != nil {
		return false
	}
	st, sv, err := scramKeys(password, sec.salt, sec.iterations)
	if err != nil {
		return false
	}
	return hmac.Equal(st, sec.storedKey) && hmac.Equal(sv, sec.serverKey)
}

// scramVerifier formats the verifier of password with salt.
func scramVerifier(password string, salt []byte, iterations int) (string, error) {
	st, sv, err := scramKeys(password, salt, iterations)
	if err != nil {
		return "", err
	}
	enc := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, enc(salt), enc(st), enc(sv)), nil
}

// newSCRAMVerifier makes a verifier of password with a random salt.
func newSCRAMVerifier(password string) (string, error) {
	salt := make([]byte, scramSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("scram salt: %w", err)
	}
	return scramVerifier(password, salt, scramIterations)
}
