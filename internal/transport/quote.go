package transport

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Quote quotes argv for a POSIX shell: each word that holds anything but
// letters, digits and _-./,:@%+ is put in single quotes, an embedded single
// quote written as
//
//	'\''
//
// so values with $, quotes, spaces, backslashes or newlines reach the
// program unchanged. It is the one place pgplay quotes for a shell.
func Quote(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && isShellSafe(a) {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}

// isShellSafe reports whether s needs no quoting. '=' is left out on
// purpose: an unquoted NAME=value as the first word would be taken by the
// shell as an assignment.
func isShellSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("_-./,:@%+", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// defaultLocale is set as LC_ALL for every command unless Cmd.Env sets
// LC_ALL: the controller's locale is never forwarded, and hosts without
// generated locales still have C.UTF-8.
const defaultLocale = "C.UTF-8"

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// envAssignments returns the sorted NAME=value words for cmd, LC_ALL
// included.
func envAssignments(env map[string]string) ([]string, error) {
	out := make([]string, 0, len(env)+1)
	if _, ok := env["LC_ALL"]; !ok {
		out = append(out, "LC_ALL="+defaultLocale)
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		if !envName.MatchString(k) {
			return nil, fmt.Errorf("environment variable name %q is not valid (letters, digits and _ only)", k)
		}
		if strings.IndexByte(env[k], 0) >= 0 {
			return nil, fmt.Errorf("environment variable %s holds a NUL byte", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out, nil
}

// checkArgv rejects what no shell or exec can carry.
func checkArgv(argv []string) error {
	if len(argv) == 0 || argv[0] == "" {
		return errors.New("empty command")
	}
	if strings.Contains(argv[0], "=") {
		return fmt.Errorf("program name %q contains '='", argv[0])
	}
	for _, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("argument %q holds a NUL byte", a)
		}
	}
	return nil
}

// sudoArgv is the prefix that runs a command as user become.
func sudoArgv(become string) []string {
	return []string{"sudo", "-n", "-H", "-u", become, "--"}
}

// execArgv is the full argv of cmd (without its directory): the sudo
// prefix (sudoArgv, or becomeAuth's), then env with the assignments, then
// the program.
func execArgv(cmd Cmd, sudo []string) ([]string, error) {
	if err := checkArgv(cmd.Argv); err != nil {
		return nil, err
	}
	env, err := envAssignments(cmd.Env)
	if err != nil {
		return nil, err
	}
	argv := append([]string(nil), sudo...)
	argv = append(argv, "env")
	argv = append(argv, env...)
	return append(argv, cmd.Argv...), nil
}

// commandLine is the shell line that runs cmd over SSH, as become when
// sudo (the sudo prefix) is not empty:
//
//	cd DIR && sudo -n -H -u USER -- env LC_ALL=C.UTF-8 K=V argv...
//	cd DIR && LC_ALL=C.UTF-8 K=V exec argv...          (no become)
//
// Without become the shell sets the variables itself: one program less to
// start than with env. `exec` runs the program found in PATH, never a
// shell builtin or keyword of the same name, as env would.
func commandLine(cmd Cmd, sudo []string) (string, error) {
	var line string
	if len(sudo) > 0 {
		argv, err := execArgv(cmd, sudo)
		if err != nil {
			return "", err
		}
		line = Quote(argv)
	} else {
		if err := checkArgv(cmd.Argv); err != nil {
			return "", err
		}
		env, err := envAssignments(cmd.Env)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			b.WriteString(k + "=" + Quote([]string{v}) + " ")
		}
		line = b.String() + "exec " + Quote(cmd.Argv)
	}
	if cmd.Dir != "" {
		dir := cmd.Dir
		if strings.HasPrefix(dir, "-") {
			dir = "./" + dir
		}
		line = "cd " + Quote([]string{dir}) + " && " + line
	}
	return line, nil
}

// sudoScanMax bounds how much of stderr sudoFailure reads.
const sudoScanMax = 16 << 10

// sudoFailure turns sudo's own refusals (password needed, not allowed,
// unknown user, sudo missing) into an error; it returns nil when the
// command ran (whatever its exit code). sudo says why on stderr and exits
// 1; other lines may come first (a login banner, sudo's own "unable to
// resolve host" warning), so every line of the first sudoScanMax bytes is
// looked at. login is the user sudo runs as, for the hint.
func sudoFailure(host, login, become string, rc int, stderr []byte) error {
	if become == "" || rc == 0 {
		return nil
	}
	if len(stderr) > sudoScanMax {
		stderr = stderr[:sudoScanMax]
	}
	who := "the login user"
	if login != "" {
		who = "the login user " + login
	}
	for _, line := range strings.Split(string(stderr), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case rc == 1 && strings.HasPrefix(line, "sudo:") && (strings.Contains(line, "a password is required") ||
			strings.Contains(line, "a terminal is required")):
			return fmt.Errorf("host %s: become user %s: sudo asks for a password (%q) and pgplay cannot type one; "+
				"give %s passwordless sudo in sudoers (NOPASSWD, e.g. %s) or drop become",
				host, become, line, who, sudoersExample(login))
		case rc == 1 && (strings.Contains(line, "is not in the sudoers file") ||
			strings.HasPrefix(line, "Sorry, user") && strings.Contains(line, "is not allowed")):
			line = strings.TrimSuffix(line, ".")
			return fmt.Errorf("host %s: become user %s: sudo refused: %s; allow %s to run commands as %s in sudoers "+
				"(NOPASSWD, e.g. %s) or drop become", host, become, line, who, become, sudoersExample(login))
		case rc == 1 && strings.Contains(line, "must have a tty to run sudo"):
			return fmt.Errorf("host %s: become user %s: sudo requires a tty (Defaults requiretty); disable requiretty for %s in sudoers", host, become, who)
		case rc == 1 && strings.HasPrefix(line, "sudo: unknown user"):
			return fmt.Errorf("host %s: become user %s: no such user on the host; create the user first or fix become_user", host, become)
		case rc == 127 && strings.Contains(line, "sudo") && strings.Contains(line, "not found"):
			return fmt.Errorf("host %s: become user %s: sudo is not installed on the host; install sudo or drop become", host, become)
		}
	}
	return nil
}

// sudoersExample is a sudoers line giving login passwordless sudo, and
// where to put it (sudo skips files in sudoers.d whose name has a dot).
func sudoersExample(login string) string {
	if login == "" {
		login = "USER"
	}
	return fmt.Sprintf("%q in /etc/sudoers.d/%s", login+" ALL=(ALL:ALL) NOPASSWD: ALL", strings.ReplaceAll(login, ".", "_"))
}
