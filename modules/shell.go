package modules

import (
	"context"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:     "shell",
		Returns:  "cmd: the argv that ran\nrc: the exit code (non-zero fails the task)\nstdout, stderr: the output (trailing newlines removed unless strip_empty_ends: false)\nstdout_lines, stderr_lines: the output as lists of lines",
		Purpose:  "Run a command line through /bin/sh -c (pipes, redirections, $VARS work).",
		Example:  "- shell: pg_lsclusters | grep -q online\n  register: up\n  changed_when: false\n  check_mode: false",
		New:      func() Module { return &Shell{} },
		FreeForm: "cmd",
	})
}

// Shell runs cmd with a shell.
type Shell struct {
	Cmd        string `arg:"cmd,required" doc:"the shell command line"`
	Executable string `arg:"executable" default:"/bin/sh" doc:"the shell to run it with (as EXECUTABLE -c CMD)"`
	CmdOptions
}

// Run runs the command line.
func (s *Shell) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	return runCommand(ctx, t, []string{s.Executable, "-c", s.Cmd}, s.CmdOptions)
}
