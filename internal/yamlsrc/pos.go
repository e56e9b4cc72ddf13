// Package yamlsrc reads YAML source files for pgplay's loaders (playbooks,
// roles, vars files, inventories): node trees with file:line:col positions,
// positioned errors with hints, values decoded with pgplay's scalar rules,
// and the one did-you-mean every "unknown name" error uses.
package yamlsrc

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pos is a position in a source file.
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats a position as file:line:col, or as File alone when it
// has no line (input from the command line, e.g. `pgplay exec -a`).
func (p Pos) String() string {
	if p.File == "" {
		return "<input>"
	}
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is a parse or validation error at a position, with a hint saying
// what to do.
type Error struct {
	Pos  Pos
	Msg  string
	Hint string
}

func (e *Error) Error() string {
	s := e.Pos.String() + ": " + e.Msg
	if e.Hint != "" {
		s += "\n  hint: " + e.Hint
	}
	return s
}

// PosOf returns the position of n in file (line and column 1 when n is nil).
func PosOf(file string, n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: file, Line: 1, Col: 1}
	}
	return Pos{File: file, Line: n.Line, Col: n.Column}
}

// ErrAt returns an *Error at n's position in file, its message formatted
// from format and args, with hint (trimmed) saying what to do.
func ErrAt(file string, n *yaml.Node, hint, format string, args ...any) *Error {
	return &Error{Pos: PosOf(file, n), Msg: fmt.Sprintf(format, args...), Hint: strings.TrimSpace(hint)}
}
