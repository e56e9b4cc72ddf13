package modules

import (
	"context"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "shell",
		Returns: "cmd: the argv that ran\nrc: the exit code (non-zero fails the task)\nstdout, stderr: the output (trailing newlines removed unless strip_empty_ends: false)\nstdout_lines, stderr_lines: the output as lists of lines",
		Purpose: "Run a command line through /bin/sh -c (pipes, redirections, $VARS work).",
		Examples: []string{
			`- name: Is a cluster online? (reads only)
  shell: pg_lsclusters --no-header | grep -q online
  register: up
  changed_when: false
  failed_when: false
  check_mode: false`,
			`- name: Size of the WAL directory in MB
  shell: du -sm /var/lib/postgresql/15/main/pg_wal | cut -f1
  register: walsize
  changed_when: false
  check_mode: false`,
			`- name: Load the schema once
  shell: psql -X -v ON_ERROR_STOP=1 -d shop -f schema.sql && touch .schema-loaded
  args:
    chdir: /var/lib/postgresql/shop
    creates: /var/lib/postgresql/shop/.schema-loaded
  become: true
  become_user: postgres`,
		},
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
