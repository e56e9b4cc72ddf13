package transport

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// NewCheckTarget wraps t for check mode: Query, Stat and ReadFile run on
// t; every change (Change, WriteFile, SetAttrs, Mkdir, Remove, Symlink) is
// passed to record and not performed, and Change returns a Result with
// Simulated set. record may be nil.
func NewCheckTarget(t Target, record func(Change)) Target {
	if record == nil {
		record = func(Change) {}
	}
	return &checkTarget{t: t, record: record}
}

type checkTarget struct {
	t      Target
	record func(Change)
}

func (c *checkTarget) Host() string { return c.t.Host() }

func (c *checkTarget) Query(ctx context.Context, cmd Cmd) (Result, error) {
	return c.t.Query(ctx, cmd)
}

func (c *checkTarget) Stat(ctx context.Context, p string) (FileInfo, error) {
	return c.t.Stat(ctx, p)
}

func (c *checkTarget) ReadFile(ctx context.Context, p string) ([]byte, error) {
	return c.t.ReadFile(ctx, p)
}

// Change records the command. Its Detail names the directory, the
// environment variables (names only: values may be secrets) and the size
// of stdin.
func (c *checkTarget) Change(ctx context.Context, cmd Cmd) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	var d []string
	if cmd.Dir != "" {
		d = append(d, "dir "+cmd.Dir)
	}
	if len(cmd.Env) > 0 {
		keys := make([]string, 0, len(cmd.Env))
		for k := range cmd.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d = append(d, "env "+strings.Join(keys, ","))
	}
	if cmd.Stdin != nil {
		d = append(d, fmt.Sprintf("stdin %d bytes", len(cmd.Stdin)))
	}
	c.record(Change{Op: "run", Argv: append([]string(nil), cmd.Argv...), Detail: strings.Join(d, "; ")})
	return Result{Simulated: true}, nil
}

func attrsDetail(a Attrs) string {
	var d []string
	if a.Mode != 0 {
		d = append(d, fmt.Sprintf("mode %04o", unixPerm(a.Mode)))
	}
	if a.Owner != "" {
		d = append(d, "owner "+a.Owner)
	}
	if a.Group != "" {
		d = append(d, "group "+a.Group)
	}
	return strings.Join(d, ", ")
}

func (c *checkTarget) WriteFile(ctx context.Context, p string, data []byte, a Attrs) error {
	d := fmt.Sprintf("%d bytes", len(data))
	if ad := attrsDetail(a); ad != "" {
		d += ", " + ad
	}
	c.record(Change{Op: "write", Path: p, Detail: d})
	return ctx.Err()
}

func (c *checkTarget) SetAttrs(ctx context.Context, p string, a Attrs) error {
	if a.Owner != "" || a.Group != "" {
		c.record(Change{Op: "chown", Path: p, Detail: attrsDetail(Attrs{Owner: a.Owner, Group: a.Group})})
	}
	if a.Mode != 0 {
		c.record(Change{Op: "chmod", Path: p, Detail: attrsDetail(Attrs{Mode: a.Mode})})
	}
	return ctx.Err()
}

func (c *checkTarget) Mkdir(ctx context.Context, p string, a Attrs) error {
	c.record(Change{Op: "mkdir", Path: p, Detail: attrsDetail(a)})
	return ctx.Err()
}

func (c *checkTarget) Remove(ctx context.Context, p string) error {
	c.record(Change{Op: "remove", Path: p})
	return ctx.Err()
}

func (c *checkTarget) Symlink(ctx context.Context, target, p string) error {
	c.record(Change{Op: "symlink", Path: p, Detail: "-> " + target})
	return ctx.Err()
}
