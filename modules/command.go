package modules

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "command",
		Returns: "cmd: the argv that ran\nrc: the exit code (non-zero fails the task)\nstdout, stderr: the output (trailing newlines removed unless strip_empty_ends: false)\nstdout_lines, stderr_lines: the output as lists of lines",
		Purpose: "Run a program with arguments, without a shell (no pipes, redirections or $VARS).",
		Examples: []string{
			`- name: Promote this standby by hand
  command: pg_ctlcluster 15 main promote`,
			`- name: List the clusters (reads only; runs in --check too)
  command: pg_lsclusters --no-header
  register: clusters
  changed_when: false
  check_mode: false`,
			`- name: Check the data checksums of the stopped cluster
  command:
    argv: [/usr/lib/postgresql/15/bin/pg_checksums, --check, -D, /var/lib/postgresql/15/main]
  become: true
  become_user: postgres
  changed_when: false`,
			`- name: Run SQL with a quote in it, no shell involved
  command:
    argv: [psql, -X, -c, "SELECT 'it''s'"]
  become: true
  become_user: postgres
  check_mode: false`,
		},
		New:      func() Module { return &Command{} },
		FreeForm: "cmd",
	})
}

// CmdOptions are the arguments command and shell share.
type CmdOptions struct {
	Chdir           string            `arg:"chdir" doc:"directory to run in"`
	Stdin           *string           `arg:"stdin" doc:"text to feed to the command's standard input"`
	StdinAddNewline bool              `arg:"stdin_add_newline" default:"true" doc:"end stdin with a newline if it lacks one"`
	Creates         string            `arg:"creates" doc:"skip the command when this path exists"`
	Removes         string            `arg:"removes" doc:"skip the command when this path does not exist"`
	Env             map[string]string `arg:"env" doc:"environment variables to set"`
	StripEmptyEnds  bool              `arg:"strip_empty_ends" default:"true" doc:"remove trailing newlines from stdout and stderr"`
}

// Command runs argv directly: `cmd` is split into words like a shell
// would (quotes and backslashes honoured) but nothing is expanded.
type Command struct {
	Cmd  string   `arg:"cmd" doc:"the command line, split into words with shell quoting rules (no expansion)"`
	Argv []string `arg:"argv" doc:"the program and its arguments as a list, instead of cmd"`
	CmdOptions

	argv []string
}

// Validate checks that exactly one of cmd and argv is given and splits cmd.
func (c *Command) Validate() error {
	switch {
	case c.Cmd != "" && len(c.Argv) > 0:
		return &ArgError{Arg: "argv", Msg: `give "cmd" (the module's text) or "argv", not both`}
	case c.Cmd == "" && len(c.Argv) == 0:
		return &ArgError{Arg: "cmd", Msg: "no command given", Hint: "write `command: prog arg...` or give argv: [prog, arg]"}
	case len(c.Argv) > 0:
		c.argv = c.Argv
		return nil
	}
	w, err := splitWords(c.Cmd)
	if err != nil {
		return &ArgError{Arg: "cmd", Msg: err.Error(), Hint: "close the quote, or use argv: [prog, arg] to give words without quoting"}
	}
	if len(w.ops) > 0 {
		return &ArgError{Arg: "cmd",
			Msg:  fmt.Sprintf("the command module runs no shell, so %q would reach %s as a plain argument", w.ops[0], w.list[0]),
			Hint: "use the shell module for pipes, redirections, && and ;, or quote the character"}
	}
	if len(w.list) == 0 {
		return &ArgError{Arg: "cmd", Msg: "the command is empty"}
	}
	c.argv = w.list
	return nil
}

// Run runs the command.
func (c *Command) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	return runCommand(ctx, t, c.argv, c.CmdOptions)
}

// runCommand runs argv as a change (recorded in check mode) and reports
// its rc and output; a non-zero rc fails the task.
func runCommand(ctx context.Context, t transport.Target, argv []string, o CmdOptions) (*Result, error) {
	cmdData := make([]any, len(argv))
	for i, a := range argv {
		cmdData[i] = a
	}
	if o.Creates != "" || o.Removes != "" {
		p, want := o.Creates, true
		if p == "" {
			p, want = o.Removes, false
		}
		st, err := t.Stat(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", p, err)
		}
		if st.Exists == want {
			why := "exists"
			if !want {
				why = "does not exist"
			}
			return &Result{HasRC: true, Stdout: fmt.Sprintf("skipped, since %s %s", p, why),
				Msg:  fmt.Sprintf("did not run the command since %s %s", p, why),
				Data: map[string]any{"cmd": cmdData, "stdout_lines": []any{}, "stderr_lines": []any{}}}, nil
		}
	}
	cmd := transport.Cmd{Argv: argv, Env: o.Env, Dir: o.Chdir}
	if o.Stdin != nil {
		in := *o.Stdin
		if o.StdinAddNewline && !strings.HasSuffix(in, "\n") {
			in += "\n"
		}
		cmd.Stdin = []byte(in)
	}
	r, err := t.Change(ctx, cmd)
	if err != nil {
		return nil, err
	}
	res := &Result{Changed: true, HasRC: true, RC: r.RC, Stdout: string(r.Stdout), Stderr: string(r.Stderr)}
	if o.StripEmptyEnds {
		res.Stdout = strings.TrimRight(res.Stdout, "\r\n")
		res.Stderr = strings.TrimRight(res.Stderr, "\r\n")
	}
	res.Data = map[string]any{"cmd": cmdData, "stdout_lines": linesOf(res.Stdout), "stderr_lines": linesOf(res.Stderr)}
	switch {
	case r.Simulated:
		res.Msg = "not run in check mode"
	case r.RC != 0:
		res.Failed = true
		res.Msg = "non-zero return code"
	}
	return res, nil
}

// linesOf splits output into lines for stdout_lines.
func linesOf(s string) []any {
	if s == "" {
		return []any{}
	}
	ls := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	out := make([]any, len(ls))
	for i, l := range ls {
		out[i] = strings.TrimSuffix(l, "\r")
	}
	return out
}
