package modules

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "user",
		Returns: "name, state: the account\nuid, home, shell: as the account has them after the task",
		Purpose: "Create, change or remove a local user account (useradd/usermod/userdel).",
		Examples: []string{
			`- name: The barman account, in ssl-cert to read the server key
  user:
    name: barman
    system: true
    home: /var/lib/barman
    shell: /bin/bash
    groups: [ssl-cert]
    append: true`,
			`- name: A DBA login that may read postgres's files
  user:
    name: alice
    comment: Alice (DBA)
    shell: /bin/bash
    groups: [postgres, pgadmins]
    append: true`,
			`- name: Remove a departed DBA's account and home
  user:
    name: bob
    state: absent
    remove: true`,
		},
		New: func() Module { return &User{} },
	})
	Register(Spec{
		Name:    "group",
		Returns: "name, state: the group and its state\ngid: its group id",
		Purpose: "Create or remove a local group (groupadd/groupmod/groupdel).",
		Examples: []string{
			`- name: A group for the DBAs, with a fixed gid on every node
  group:
    name: pgadmins
    gid: 2001`,
			`- name: A system group for the monitoring agent
  group:
    name: pgmon
    system: true`,
			`- name: Remove a group no longer used
  group:
    name: oldops
    state: absent`,
		},
		New: func() Module { return &Group{} },
	})
}

// accountName is what useradd accepts on Debian (NAME_REGEX, relaxed).
var accountName = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}\$?$`)

func checkAccountName(arg, n string) error {
	if !accountName.MatchString(n) {
		return &ArgError{Arg: arg, Msg: fmt.Sprintf("%q is not a valid user or group name (lower-case letters, digits, _ . -; starting with a letter or _; at most 32)", n)}
	}
	return nil
}

// User manages an account. It reads the account with getent (and id for
// its groups) and changes only what differs.
type User struct {
	Name       string   `arg:"name,required" aliases:"user" doc:"user name"`
	State      string   `arg:"state" default:"present" choices:"present|absent" doc:"present: the account exists as described; absent: it is removed"`
	UID        *int     `arg:"uid" doc:"user id"`
	Group      string   `arg:"group" doc:"primary group (name or gid; must exist); unset: useradd's default for a new user"`
	Groups     []string `arg:"groups" doc:"supplementary groups (must exist); with append: false the list is exact ([] removes all)"`
	Append     bool     `arg:"append" default:"false" doc:"add to groups, keeping other memberships"`
	Home       string   `arg:"home" doc:"home directory (an existing user's home is changed, not moved)"`
	CreateHome bool     `arg:"create_home" default:"true" doc:"create the home directory of a new user"`
	Shell      string   `arg:"shell" doc:"login shell"`
	Comment    *string  `arg:"comment" doc:"GECOS field"`
	System     bool     `arg:"system" default:"false" doc:"create a system account (uid below 1000, no aging); no effect on an existing user"`
	Remove     bool     `arg:"remove" default:"false" doc:"state: absent: also remove the home directory and mail spool"`
}

// Validate checks names and paths.
func (m *User) Validate() error {
	if err := checkAccountName("name", m.Name); err != nil {
		return err
	}
	for _, g := range m.Groups {
		if _, err := strconv.Atoi(g); err != nil {
			if err := checkAccountName("groups", g); err != nil {
				return err
			}
		}
	}
	if m.Home != "" && !strings.HasPrefix(m.Home, "/") {
		return &ArgError{Arg: "home", Msg: fmt.Sprintf("home %q is not an absolute path", m.Home)}
	}
	if m.Comment != nil && strings.ContainsAny(*m.Comment, ":\n") {
		return &ArgError{Arg: "comment", Msg: "comment cannot hold ':' or a newline"}
	}
	if m.State == "absent" && (m.UID != nil || m.Group != "" || m.Groups != nil || m.Home != "" || m.Shell != "" || m.Comment != nil) {
		return &ArgError{Arg: "state", Msg: "state: absent takes no account attributes"}
	}
	return nil
}

// passwdEntry is a line of getent passwd.
type passwdEntry struct {
	Name          string
	UID, GID      int
	Comment       string
	Home, Shell   string
	PrimaryGroup  string
	Supplementary []string
}

// userScript prints the passwd line, then the primary group name, then
// all group names; exit 2 when the user does not exist.
const userScript = `getent passwd "$1" || exit 2
id -gn "$1"
id -Gn "$1"`

// parseUserInfo reads userScript's output.
func parseUserInfo(out string) (passwdEntry, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 3 {
		return passwdEntry{}, fmt.Errorf("unexpected output %q", out)
	}
	f := strings.Split(lines[0], ":")
	if len(f) < 7 {
		return passwdEntry{}, fmt.Errorf("unexpected passwd line %q", lines[0])
	}
	uid, err1 := strconv.Atoi(f[2])
	gid, err2 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil {
		return passwdEntry{}, fmt.Errorf("unexpected passwd line %q", lines[0])
	}
	e := passwdEntry{Name: f[0], UID: uid, GID: gid, Comment: f[4], Home: f[5], Shell: f[6], PrimaryGroup: strings.TrimSpace(lines[1])}
	for _, g := range strings.Fields(lines[2]) {
		if g != e.PrimaryGroup {
			e.Supplementary = append(e.Supplementary, g)
		}
	}
	sort.Strings(e.Supplementary)
	return e, nil
}

// readUser returns the account, or ok false when there is none.
func readUser(ctx context.Context, t transport.Target, name string) (passwdEntry, bool, error) {
	r, err := t.Query(ctx, transport.Cmd{Argv: []string{"/bin/sh", "-c", userScript, "pgplay-user", name}})
	if err != nil {
		return passwdEntry{}, false, err
	}
	switch r.RC {
	case 0:
		e, err := parseUserInfo(string(r.Stdout))
		if err != nil {
			return e, false, fmt.Errorf("host %s: reading user %s: %w", t.Host(), name, err)
		}
		return e, true, nil
	case 2:
		return passwdEntry{}, false, nil
	}
	return passwdEntry{}, false, fmt.Errorf("host %s: reading user %s failed (rc %d): %s", t.Host(), name, r.RC, strings.TrimSpace(string(r.Stderr)))
}

// runAccountCmd runs useradd & co.; a failure becomes a failed result with
// a hint.
func runAccountCmd(ctx context.Context, t transport.Target, res *Result, argv []string) (bool, error) {
	r, err := t.Change(ctx, transport.Cmd{Argv: argv})
	if err != nil {
		return false, err
	}
	if r.RC == 0 {
		return true, nil
	}
	stderr := strings.TrimSpace(string(r.Stderr))
	hint := ""
	switch {
	case strings.Contains(stderr, "Permission denied") || strings.Contains(stderr, "cannot lock") || strings.Contains(stderr, "cannot open"):
		hint = "\n  hint: managing accounts needs root: add become: true"
	case strings.Contains(stderr, "does not exist"):
		hint = "\n  hint: create the group first with the group module"
	case strings.Contains(stderr, "currently used by process"):
		hint = "\n  hint: stop the user's processes first"
	}
	failed(res, "%s failed (rc %d): %s%s", argv[0], r.RC, stderr, hint)
	return false, nil
}

// Run brings the account to the wanted state.
func (m *User) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	cur, exists, err := readUser(ctx, t, m.Name)
	if err != nil {
		return nil, err
	}
	res := &Result{Data: map[string]any{"name": m.Name, "state": m.State}}
	if m.State == "absent" {
		if !exists {
			return res, nil
		}
		argv := []string{"userdel"}
		if m.Remove {
			argv = append(argv, "--remove")
		}
		ok, err := runAccountCmd(ctx, t, res, append(argv, m.Name))
		res.Changed = ok
		return res, err
	}
	if !exists {
		argv := []string{"useradd"}
		if m.UID != nil {
			argv = append(argv, "--uid", strconv.Itoa(*m.UID))
		}
		if m.Group != "" {
			argv = append(argv, "--gid", m.Group)
		}
		if len(m.Groups) > 0 {
			argv = append(argv, "--groups", strings.Join(m.Groups, ","))
		}
		if m.Home != "" {
			argv = append(argv, "--home-dir", m.Home)
		}
		if m.CreateHome {
			argv = append(argv, "--create-home")
		} else {
			argv = append(argv, "--no-create-home")
		}
		if m.Shell != "" {
			argv = append(argv, "--shell", m.Shell)
		}
		if m.Comment != nil {
			argv = append(argv, "--comment", *m.Comment)
		}
		if m.System {
			argv = append(argv, "--system")
		}
		ok, err := runAccountCmd(ctx, t, res, append(argv, m.Name))
		res.Changed = ok
		if ok {
			res.Msg = "user created"
		}
		return res, err
	}

	res.Data["uid"], res.Data["home"], res.Data["shell"] = cur.UID, cur.Home, cur.Shell
	var argv, changed []string
	if m.UID != nil && *m.UID != cur.UID {
		argv = append(argv, "--uid", strconv.Itoa(*m.UID))
		changed = append(changed, "uid")
	}
	if m.Group != "" && !sameID(m.Group, cur.PrimaryGroup, cur.GID) {
		argv = append(argv, "--gid", m.Group)
		changed = append(changed, "group")
	}
	if m.Groups != nil {
		want := append([]string(nil), m.Groups...)
		if m.Append {
			var missing []string
			for _, g := range want {
				if !containsStr(cur.Supplementary, g) && g != cur.PrimaryGroup {
					missing = append(missing, g)
				}
			}
			if len(missing) > 0 {
				argv = append(argv, "--append", "--groups", strings.Join(missing, ","))
				changed = append(changed, "groups")
			}
		} else {
			sort.Strings(want)
			var exact []string
			for _, g := range want {
				if g != cur.PrimaryGroup && !containsStr(exact, g) {
					exact = append(exact, g)
				}
			}
			if strings.Join(exact, ",") != strings.Join(cur.Supplementary, ",") {
				argv = append(argv, "--groups", strings.Join(exact, ","))
				changed = append(changed, "groups")
			}
		}
	}
	if m.Home != "" && m.Home != cur.Home {
		argv = append(argv, "--home", m.Home)
		changed = append(changed, "home")
	}
	if m.Shell != "" && m.Shell != cur.Shell {
		argv = append(argv, "--shell", m.Shell)
		changed = append(changed, "shell")
	}
	if m.Comment != nil && *m.Comment != cur.Comment {
		argv = append(argv, "--comment", *m.Comment)
		changed = append(changed, "comment")
	}
	if len(argv) == 0 {
		return res, nil
	}
	ok, err := runAccountCmd(ctx, t, res, append(append([]string{"usermod"}, argv...), m.Name))
	res.Changed = ok
	if ok {
		res.Msg = "changed " + strings.Join(changed, ", ")
	}
	return res, err
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// Group manages a group.
type Group struct {
	Name   string `arg:"name,required" doc:"group name"`
	State  string `arg:"state" default:"present" choices:"present|absent" doc:"present: the group exists; absent: it is removed"`
	GID    *int   `arg:"gid" doc:"group id"`
	System bool   `arg:"system" default:"false" doc:"create a system group (gid below 1000); no effect on an existing group"`
}

// Validate checks the name.
func (m *Group) Validate() error {
	if err := checkAccountName("name", m.Name); err != nil {
		return err
	}
	if m.State == "absent" && m.GID != nil {
		return &ArgError{Arg: "gid", Msg: "state: absent takes no gid"}
	}
	return nil
}

// Run brings the group to the wanted state.
func (m *Group) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	r, err := t.Query(ctx, transport.Cmd{Argv: []string{"getent", "group", m.Name}})
	if err != nil {
		return nil, err
	}
	if r.RC != 0 && r.RC != 2 {
		return nil, fmt.Errorf("host %s: getent group %s failed (rc %d): %s", t.Host(), m.Name, r.RC, strings.TrimSpace(string(r.Stderr)))
	}
	res := &Result{Data: map[string]any{"name": m.Name, "state": m.State}}
	exists := r.RC == 0
	gid := -1
	if exists {
		f := strings.Split(strings.TrimSpace(string(r.Stdout)), ":")
		if len(f) >= 3 {
			gid, _ = strconv.Atoi(f[2])
			res.Data["gid"] = gid
		}
	}
	var argv []string
	switch {
	case m.State == "absent" && !exists:
		return res, nil
	case m.State == "absent":
		argv = []string{"groupdel", m.Name}
	case !exists:
		argv = []string{"groupadd"}
		if m.GID != nil {
			argv = append(argv, "--gid", strconv.Itoa(*m.GID))
		}
		if m.System {
			argv = append(argv, "--system")
		}
		argv = append(argv, m.Name)
	case m.GID != nil && *m.GID != gid:
		argv = []string{"groupmod", "--gid", strconv.Itoa(*m.GID), m.Name}
	default:
		return res, nil
	}
	ok, err := runAccountCmd(ctx, t, res, argv)
	res.Changed = ok
	if ok && m.GID != nil {
		res.Data["gid"] = *m.GID
	}
	return res, err
}
