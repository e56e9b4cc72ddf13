package modules

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "authorized_key",
		Returns: "user, state: the account and the wanted state\npath: the authorized_keys file edited",
		Purpose: "Add or remove SSH public keys in a user's ~/.ssh/authorized_keys.",
		Examples: []string{
			`- name: Let barman log in as postgres (rsync backups, recovery)
  authorized_key:
    user: postgres
    key: "{{ .hostvars.backup1.barman_pubkey }}"`,
			`- name: Only the DBA team's keys may log in as postgres
  authorized_key:
    user: postgres
    key: '{{ join "\n" .dba_ssh_keys }}'
    exclusive: true`,
			`- name: Revoke a departed colleague's key
  authorized_key:
    user: postgres
    key: "{{ .former_dba_key }}"
    state: absent`,
		},
		New: func() Module { return &AuthorizedKey{} },
	})
}

// AuthorizedKey manages keys in ~USER/.ssh/authorized_keys (the home
// from getent passwd): .ssh is 0700 and the file 0600, both owned by the
// user. Keys are compared by their type and key data, so a key with
// another comment or options is the same key (its line is replaced with
// the given one).
type AuthorizedKey struct {
	User      string `arg:"user,required" doc:"the account whose authorized_keys to edit"`
	Key       string `arg:"key,required" doc:"one or more public keys in authorized_keys format (one per line; options and comments allowed)"`
	State     string `arg:"state" default:"present" choices:"present|absent" doc:"present: the keys are in the file; absent: they are removed"`
	Exclusive bool   `arg:"exclusive" default:"false" doc:"present: remove every other key from the file"`
	Path      string `arg:"path" doc:"the file to edit instead of ~USER/.ssh/authorized_keys (its directory is not managed)"`

	keys []authKeyLine
}

// authKeyLine is one parsed key line.
type authKeyLine struct {
	line string // the line as given (trimmed)
	id   []byte // type and key data (ssh.PublicKey.Marshal)
}

// parseAuthorizedKeys parses the key lines of s; blank lines and comments
// are skipped. It fails on a line that is not a key.
func parseAuthorizedKeys(s string) ([]authKeyLine, error) {
	var out []authKeyLine
	for n, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not a public key: %w", n+1, shorten(line, 40), err)
		}
		out = append(out, authKeyLine{line: line, id: pk.Marshal()})
	}
	return out, nil
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Validate parses the keys.
func (m *AuthorizedKey) Validate() error {
	if err := checkAccountName("user", m.User); err != nil {
		return err
	}
	ks, err := parseAuthorizedKeys(m.Key)
	if err != nil {
		return &ArgError{Arg: "key", Msg: "argument \"key\": " + err.Error(),
			Hint: "give the content of a .pub file: TYPE BASE64 [COMMENT], e.g. ssh-ed25519 AAAA... user@host"}
	}
	if len(ks) == 0 {
		return &ArgError{Arg: "key", Msg: "argument \"key\" holds no key"}
	}
	if m.Path != "" && !path.IsAbs(m.Path) {
		return &ArgError{Arg: "path", Msg: fmt.Sprintf("path %q is not absolute", m.Path)}
	}
	if m.Exclusive && m.State == "absent" {
		return &ArgError{Arg: "exclusive", Msg: "exclusive goes with state: present"}
	}
	m.keys = ks
	return nil
}

// editKeys returns the new file content for the lines of the current
// file, and whether it differs.
func (m *AuthorizedKey) editKeys(cur string) (string, bool) {
	lines := splitKeepEnds(cur)
	idOf := func(l string) []byte {
		s := strings.TrimSpace(l)
		if s == "" || strings.HasPrefix(s, "#") {
			return nil
		}
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
		if err != nil {
			return nil
		}
		return pk.Marshal()
	}
	wanted := func(id []byte) (authKeyLine, bool) {
		for _, k := range m.keys {
			if id != nil && bytes.Equal(k.id, id) {
				return k, true
			}
		}
		return authKeyLine{}, false
	}
	var out []string
	present := make([]bool, len(m.keys))
	for _, l := range lines {
		id := idOf(l)
		k, ok := wanted(id)
		switch {
		case m.State == "absent" && ok:
			continue
		case m.State == "present" && ok:
			i := 0
			for j := range m.keys {
				if bytes.Equal(m.keys[j].id, id) {
					i = j
				}
			}
			if present[i] {
				continue // a duplicate line of the same key
			}
			present[i] = true
			out = append(out, k.line+"\n")
		case m.Exclusive && id != nil:
			continue // another key
		default:
			out = append(out, l)
		}
	}
	if m.State == "present" {
		if n := len(out); n > 0 && !strings.HasSuffix(out[n-1], "\n") {
			out[n-1] += "\n"
		}
		for i, k := range m.keys {
			if !present[i] {
				out = append(out, k.line+"\n")
			}
		}
	}
	s := strings.Join(out, "")
	return s, s != cur
}

// Run edits the file.
func (m *AuthorizedKey) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	u, ok, err := readUser(ctx, t, m.User)
	if err != nil {
		return nil, err
	}
	res := &Result{Data: map[string]any{"user": m.User, "state": m.State}}
	if !ok {
		return failed(res, "user %s does not exist on %s\n  hint: create it first with the user module", m.User, t.Host()), nil
	}
	gid := strconv.Itoa(u.GID)
	file := m.Path
	if file == "" {
		dir := path.Join(u.Home, ".ssh")
		file = path.Join(dir, "authorized_keys")
		ds, err := t.Stat(ctx, dir)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", dir, err)
		}
		dirAttrs := FileAttrs{Mode: 0o700, Owner: m.User, Group: gid}
		switch {
		case !ds.Exists && m.State == "absent":
			res.Data["path"] = file
			return res, nil
		case !ds.Exists:
			if err := t.Mkdir(ctx, dir, dirAttrs.Attrs()); err != nil {
				return nil, fmt.Errorf("create %s: %w", dir, err)
			}
			res.Changed = true
		case !ds.IsDir:
			return failed(res, "%s exists and is not a directory", dir), nil
		default:
			ch, err := applyAttrs(ctx, t, dir, dirAttrs, ds)
			if err != nil {
				return nil, err
			}
			res.Changed = ch
		}
	}
	res.Data["path"] = file
	st, err := t.Stat(ctx, file)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", file, err)
	}
	if st.IsDir {
		return failed(res, "%s is a directory", file), nil
	}
	var old []byte
	if st.Exists {
		if old, err = t.ReadFile(ctx, file); err != nil {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
	} else if m.State == "absent" {
		return res, nil
	}
	content, differs := m.editKeys(string(old))
	attrs := FileAttrs{Mode: 0o600, Owner: m.User, Group: gid}
	if !differs && st.Exists {
		ch, err := applyAttrs(ctx, t, file, attrs, st)
		if err != nil {
			return nil, err
		}
		res.Changed = res.Changed || ch
		return res, nil
	}
	o, err := writeChanged(ctx, t, fileWrite{Path: file, Data: []byte(content), Attrs: attrs}, st, old)
	if err != nil {
		return nil, err
	}
	res.Changed, res.Diffs = true, o.Diffs
	if m.State == "present" {
		res.Msg = "keys added"
	} else {
		res.Msg = "keys removed"
	}
	return res, nil
}
