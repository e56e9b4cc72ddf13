package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/pgplay/pgplay/internal/runner"
)

// errNotTerminal says that a question cannot be asked: stdin is not a
// terminal (a pipe, a file, CI).
var errNotTerminal = errors.New("standard input is not a terminal")

// terminalIn returns cmd's standard input when it is a terminal.
func terminalIn(cmd *cobra.Command) (*os.File, error) {
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return nil, errNotTerminal
	}
	return in, nil
}

// stepPrompter asks --step's question on the terminal: as
// ansible-playbook, (N)o is the default, (y)es runs the task, (c)ontinue
// runs it and every later task without asking. An unreadable terminal
// (closed) answers no.
func stepPrompter(tty io.Reader, w io.Writer) func(string) runner.StepAnswer {
	rd := bufio.NewReader(tty)
	return func(task string) runner.StepAnswer {
		for {
			fmt.Fprintf(w, "Perform task: TASK: %s (N)o/(y)es/(c)ontinue: ", task)
			line, err := rd.ReadString('\n')
			if err != nil && line == "" {
				fmt.Fprintln(w)
				return runner.StepNo
			}
			switch strings.ToLower(strings.TrimSpace(line)) {
			case "y", "yes":
				return runner.StepYes
			case "c", "continue":
				return runner.StepContinue
			case "", "n", "no":
				return runner.StepNo
			}
			fmt.Fprintln(w, "answer y, n or c")
		}
	}
}

// becomePassword returns the sudo password of the run: asked on the
// terminal (-K), read from --become-password-file, or "" (sudo -n).
func (f *runFlags) becomePassword(cmd *cobra.Command) (string, error) {
	switch {
	case f.askBecomePass && f.becomePassFile != "":
		return "", withCode(exitOptions, errors.New("-K and --become-password-file both give the sudo password\n  hint: keep one: -K asks on the terminal, --become-password-file reads a file"))
	case f.askBecomePass:
		return askBecomePassword(cmd)
	case f.becomePassFile != "":
		return readBecomePasswordFile(cmd, f.becomePassFile)
	}
	return "", nil
}

// readBecomePasswordFile reads --become-password-file as
// ansible-playbook does: the file's text without its trailing newline
// ("-": standard input). Unlike Ansible it never runs the file: an
// executable file is refused rather than sent to sudo as the password.
// Neither the password nor the file's content is ever printed.
func readBecomePasswordFile(cmd *cobra.Command, file string) (string, error) {
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(cmd.InOrStdin())
	} else {
		var fh *os.File
		if fh, err = os.Open(file); err == nil {
			defer fh.Close()
			var st os.FileInfo
			if st, err = fh.Stat(); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return "", withCode(exitOptions, fmt.Errorf("--become-password-file %s: the file is executable; pgplay reads the password from it and does not run it (Ansible does)\n  hint: give its output instead: --become-password-file <(%s)", file, file))
			}
			if err == nil {
				b, err = io.ReadAll(fh)
			}
		}
	}
	if err != nil {
		return "", withCode(exitOptions, fmt.Errorf("--become-password-file: %w\n  hint: the file holds the login user's sudo password on one line", err))
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", withCode(exitOptions, fmt.Errorf("--become-password-file %s: the password is empty\n  hint: put the login user's sudo password in the file, or drop the flag if sudo needs none", file))
	}
	return pw, nil
}

// askBecomePassword asks for -K's sudo password on the terminal, without
// echo. The password is never printed; the runner masks it in every
// output.
func askBecomePassword(cmd *cobra.Command) (string, error) {
	tty, err := terminalIn(cmd)
	if err != nil {
		return "", withCode(exitOptions, fmt.Errorf("-K asks for the sudo password on a terminal, and %w\n  hint: run pgplay in a terminal, or give the login user passwordless sudo (NOPASSWD in sudoers) and drop -K", err))
	}
	w := cmd.ErrOrStderr()
	fmt.Fprint(w, "BECOME password: ")
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(w)
	if err != nil {
		return "", withCode(exitError, fmt.Errorf("-K: reading the password: %w", err))
	}
	if len(b) == 0 {
		return "", withCode(exitOptions, errors.New("-K: the password is empty\n  hint: type the login user's sudo password, or drop -K if sudo needs none"))
	}
	return string(b), nil
}
