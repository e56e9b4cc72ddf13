// Package transport holds the ways pgplay reaches a host: SSH (with SFTP)
// and local execution, behind the small Target interface that modules use.
package transport

import (
	"context"
	"errors"
	"io/fs"
	"time"
)

// Cmd is one command to run on a host. Argv is never glued into a shell
// string by callers; quoting happens in one place inside this package.
type Cmd struct {
	// Argv is the program and its arguments.
	Argv []string
	// Stdin, when not nil, is written to the command's standard input.
	Stdin []byte
	// Env adds environment variables (passed via `env K=V` in the quoted
	// command line, since sshd rejects most setenv requests).
	Env map[string]string
	// Dir, when set, is the working directory.
	Dir string
}

// Result is what a finished command returned. A non-zero RC is not an error.
type Result struct {
	Stdout []byte
	Stderr []byte
	RC     int
	// Simulated is true when the command was not run (check mode).
	Simulated bool
}

// FileInfo describes a path on a host. Exists is false when it is absent
// (Stat returns no error in that case).
type FileInfo struct {
	Path       string
	Exists     bool
	IsDir      bool
	IsLink     bool
	Mode       fs.FileMode // permission bits only (0o7777)
	Size       int64
	UID, GID   int
	Owner      string // user name, when resolvable
	Group      string // group name, when resolvable
	LinkTarget string
	ModTime    time.Time
	// Simulated is true when the answer comes from a change that an
	// earlier operation of the check run only simulated (check mode):
	// commands run on the host do not see it.
	Simulated bool
}

// Attrs are the wanted attributes of a file or directory. Zero values mean
// "leave as is" (Mode 0 keeps the mode; empty Owner/Group keep ownership).
type Attrs struct {
	Mode  fs.FileMode
	Owner string
	Group string
}

// Change is one change recorded by a check-mode Target instead of being made.
type Change struct {
	Op     string // "run", "write", "mkdir", "chmod", "chown", "remove", "symlink"
	Path   string
	Argv   []string
	Detail string
}

// ErrUnreachable wraps errors that mean the host cannot be reached
// (connect failure, refused host key, dropped connection).
var ErrUnreachable = errors.New("host unreachable")

// Target is what a module drives a host through. Reads (Query, Stat,
// ReadFile) always run; changes (Change and the file operations that modify)
// are performed by a real Target and only recorded by a check-mode Target,
// so modules never branch on check mode.
//
// A Target is bound to one host and one effective user (become): the runner
// hands each task a Target for the user the task asked for.
type Target interface {
	// Host is the inventory name of the host.
	Host() string
	// Query runs a command that only reads; it runs in check mode too.
	Query(ctx context.Context, cmd Cmd) (Result, error)
	// Change runs a command that changes the host; in check mode it is
	// recorded and a Result with Simulated=true is returned.
	Change(ctx context.Context, cmd Cmd) (Result, error)
	// Stat describes path (not following a final symlink).
	Stat(ctx context.Context, path string) (FileInfo, error)
	// ReadFile returns the content of path.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// WriteFile atomically replaces path: temp file in the same directory,
	// fsync, owner and mode set, rename.
	WriteFile(ctx context.Context, path string, data []byte, a Attrs) error
	// SetAttrs changes mode and/or ownership of an existing path.
	SetAttrs(ctx context.Context, path string, a Attrs) error
	// Mkdir creates path and missing parents (like mkdir -p); a applies to
	// the directories it creates.
	Mkdir(ctx context.Context, path string, a Attrs) error
	// Remove deletes path, recursively for a directory; absent is not an error.
	Remove(ctx context.Context, path string) error
	// Symlink makes path a symbolic link to target.
	Symlink(ctx context.Context, target, path string) error
}
