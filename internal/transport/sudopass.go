package transport

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
)

// becomeAuth gives sudo the become password of a run (pgplay's -K, as
// ansible-playbook's) on one host. The password goes to sudo on its
// standard input (sudo -S), never in a command line; sudo is told to ask
// afresh (-k) so that it reads exactly the one line pgplay sends before
// the command's own input. Whether sudo asks at all is found out once per
// become user (`sudo -n true`): where it does not (NOPASSWD), commands
// run with sudo -n as without -K, so that the password never reaches a
// command's input.
type becomeAuth struct {
	password string

	mu   sync.Mutex
	need map[string]bool // become user -> sudo asks for a password (probed)
}

func newBecomeAuth(password string) *becomeAuth {
	if password == "" {
		return nil
	}
	return &becomeAuth{password: password, need: map[string]bool{}}
}

// sudoPasswordArgv is the prefix that runs a command as become with the
// password read from the first line of standard input, without a prompt.
func sudoPasswordArgv(become string) []string {
	return []string{"sudo", "-k", "-S", "-p", "", "-H", "-u", become, "--"}
}

// runFunc runs argv as the login user with stdin.
type runFunc func(ctx context.Context, argv []string, stdin []byte) (Result, error)

// prefix returns the sudo argv prefix that runs a command as become, and
// what must come first on the command's standard input (the password
// line, or nil). a may be nil: no password was given.
func (a *becomeAuth) prefix(ctx context.Context, host, login, become string, run runFunc) ([]string, []byte, error) {
	if become == "" {
		return nil, nil, nil
	}
	if a == nil {
		return sudoArgv(become), nil, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	need, probed := a.need[become]
	if !probed {
		var err error
		need, err = a.probe(ctx, host, login, become, run)
		if err != nil {
			return nil, nil, err
		}
		a.need[become] = need
	}
	if !need {
		return sudoArgv(become), nil, nil
	}
	return sudoPasswordArgv(become), []byte(a.password + "\n"), nil
}

// probe finds out whether sudo asks login for a password to run commands
// as become, and if so, whether it takes the one given.
func (a *becomeAuth) probe(ctx context.Context, host, login, become string, run runFunc) (bool, error) {
	res, err := run(ctx, append(sudoArgv(become), "true"), nil)
	if err != nil {
		return false, err
	}
	if res.RC == 0 {
		return false, nil
	}
	if !bytes.Contains(res.Stderr, []byte("password is required")) {
		return false, sudoFailure(host, login, become, res.RC, res.Stderr)
	}
	res, err = run(ctx, append(sudoPasswordArgv(become), "true"), []byte(a.password+"\n"))
	if err != nil {
		return false, err
	}
	if res.RC != 0 {
		msg := strings.TrimSpace(strings.ReplaceAll(string(res.Stderr), a.password, "********"))
		if msg == "" {
			msg = fmt.Sprintf("exit %d", res.RC)
		}
		return false, fmt.Errorf("host %s: become user %s: sudo refused the become password (-K or --become-password-file) (%s); "+
			"give %s's sudo password (it is the login user's own, not %s's)", host, become, msg, login, become)
	}
	return true, nil
}
