// Command pgplay runs Ansible-style YAML playbooks over SSH with native Go
// modules, and ships the content to deploy a PostgreSQL HA cluster.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgplay/pgplay/internal/report"
)

// Exit codes, as ansible-playbook's.
const (
	exitOK          = 0
	exitError       = 1
	exitHostFailed  = 2
	exitUnreachable = 3
	exitParse       = 4
	exitOptions     = 5
	exitInterrupted = 99
)

// exitError carries an exit code through cobra.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codeError{code, err}
}

var version = "dev"

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal the run starts no new task and lets the
		// tasks under way finish; restoring the default handler makes a
		// second Ctrl-C abort at once.
		<-sigs
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		fmt.Fprintln(os.Stderr, "\ninterrupted: finishing the tasks under way (Ctrl-C again to abort now)")
		cancel()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}

// run executes the CLI with args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWithInput(ctx, args, os.Stdin, stdout, stderr)
}

// runWithInput is run with stdin, where -K, --step and the vault ask on a
// terminal.
func runWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code, msg := exitOptions, err.Error()
	var ce *codeError
	if errors.As(err, &ce) {
		code, msg = ce.code, ce.err.Error()
		if ce.err == errSilent {
			return code // the run's events said it
		}
	} else {
		// cobra's own errors: bad flags, unknown commands.
		msg += "\n  hint: see `pgplay --help` or `pgplay COMMAND --help`"
	}
	if jsonOutput(cmd, args) {
		writeJSONError(stdout, code, msg)
		return code
	}
	fmt.Fprintln(stderr, "ERROR! "+msg)
	return code
}

// jsonOutput says whether the command was asked for --output json: its
// parsed flag, or, when parsing stopped before it, the arguments.
func jsonOutput(cmd *cobra.Command, args []string) bool {
	if cmd != nil {
		if f := cmd.Flags().Lookup("output"); f != nil && f.Changed {
			return f.Value.String() == "json"
		}
	}
	for i, a := range args {
		if a == "--output=json" || a == "--output" && i+1 < len(args) && args[i+1] == "json" {
			return true
		}
	}
	return false
}

// writeJSONError writes an error that ends the run as one JSON event on
// w (docs/json-events.md): what in "msg", what to do in "hint", the exit
// code in "exit_code".
func writeJSONError(w io.Writer, code int, msg string) {
	what, hint, _ := strings.Cut(msg, "\n  hint: ")
	ev := report.Event{Kind: report.ErrorReport, Time: time.Now(), Msg: what, Hint: hint, ExitCode: code, Schema: report.SchemaVersion}
	report.NewJSON(w).Emit(ev)
}

// errSilent is returned when the error was already reported.
var errSilent = errors.New("(reported)")

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "pgplay",
		Short:         "Run YAML playbooks over SSH; deploy and operate a PostgreSQL HA cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRunCmd(), newRoleCmd(), newExecCmd(), newVersionCmd(), newDocCmd(), newInitCmd(), newLabCmd(), newStatusCmd(), newVaultCmd(), newInventoryCmd())
	// --version on pgplay and on run (ansible-playbook --version), as the
	// version command prints it.
	for _, c := range []*cobra.Command{root, findCmd(root, "run"), findCmd(root, "role"), findCmd(root, "exec")} {
		c.Version = versionLine()
		c.SetVersionTemplate(versionText() + "\n")
		c.Flags().Bool("version", false, "print pgplay's version and the commit it was built from, and exit")
	}
	root.SetFlagErrorFunc(flagError)
	registerCompletions(root)
	return root
}

// findCmd returns root's subcommand name.
func findCmd(root *cobra.Command, name string) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == name {
			return c
		}
	}
	panic("pgplay: no command " + name)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print pgplay's version and the commit it was built from",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), versionText())
		},
	}
}
