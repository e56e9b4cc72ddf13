package transport

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// NewCheckTarget wraps t for check mode: Query, Stat and ReadFile run on
// t; every change (Change, WriteFile, SetAttrs, Mkdir, Remove, Symlink) is
// passed to record and not performed, and Change returns a Result with
// Simulated set. record may be nil. The file changes are simulated in an
// Overlay of this Target's own (NewCheckTargetWith shares one), so that its
// Stat and ReadFile see them.
func NewCheckTarget(t Target, record func(Change)) Target {
	return NewCheckTargetWith(t, record, nil)
}

// NewCheckTargetWith is NewCheckTarget with the Overlay ov (nil: a new
// one): the file changes are simulated in ov, and Stat, ReadFile and
// StatRead answer from ov first, then from t. The runner passes the
// host's Overlay of the run, so that a task sees what earlier tasks of
// the check run would have written, created or removed.
func NewCheckTargetWith(t Target, record func(Change), ov *Overlay) Target {
	if record == nil {
		record = func(Change) {}
	}
	if ov == nil {
		ov = NewOverlay()
	}
	return &checkTarget{t: t, record: record, ov: ov}
}

type checkTarget struct {
	t      Target
	record func(Change)
	ov     *Overlay
}

func (c *checkTarget) Host() string { return c.t.Host() }

// Query runs on the host: it does not see the simulated file changes.
func (c *checkTarget) Query(ctx context.Context, cmd Cmd) (Result, error) {
	return c.t.Query(ctx, cmd)
}

// Stat answers from the simulated changes (FileInfo.Simulated set), else
// from the host.
func (c *checkTarget) Stat(ctx context.Context, p string) (FileInfo, error) {
	cp, ok := cleanAbs(p)
	if !ok {
		return c.t.Stat(ctx, p)
	}
	q, e, hidden := c.ov.find(cp)
	switch {
	case hidden || (e != nil && e.kind == simAbsent):
		return FileInfo{Path: cp, Simulated: true}, ctx.Err()
	case e == nil || e.kind == simAttrs:
		fi, err := c.t.Stat(ctx, q)
		if err != nil || q == cp && e == nil {
			return fi, err
		}
		fi.Path, fi.Simulated = cp, true
		if e != nil && fi.Exists {
			e.apply(&fi)
		}
		return fi, nil
	}
	return e.info(cp), ctx.Err()
}

// ReadFile answers from the simulated changes, else from the host.
func (c *checkTarget) ReadFile(ctx context.Context, p string) ([]byte, error) {
	return c.readFile(ctx, p, 0)
}

func (c *checkTarget) readFile(ctx context.Context, p string, hops int) ([]byte, error) {
	cp, ok := cleanAbs(p)
	if !ok {
		return c.t.ReadFile(ctx, p)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q, e, hidden := c.ov.find(cp)
	switch {
	case hidden || (e != nil && e.kind == simAbsent):
		return nil, c.notExist(p)
	case e == nil || e.kind == simAttrs:
		return c.t.ReadFile(ctx, q)
	case e.kind == simDir:
		return nil, fmt.Errorf("host %s: read %s: is a directory (created by an earlier task of this check run)", c.Host(), p)
	case e.kind == simLink:
		if hops >= maxLinkHops {
			return nil, fmt.Errorf("host %s: read %s: too many levels of symbolic links", c.Host(), p)
		}
		return c.readFile(ctx, linkDest(q, e.target), hops+1)
	}
	return append([]byte{}, e.data...), nil
}

// statRead is StatRead over the simulated changes: the host's pipelined
// StatRead when they do not touch p.
func (c *checkTarget) statRead(ctx context.Context, p string, max int64) (FileInfo, []byte, error) {
	if cp, ok := cleanAbs(p); ok {
		q, e, hidden := c.ov.find(cp)
		if !hidden && q == cp && (e == nil || e.kind == simAttrs) {
			fi, data, err := StatRead(ctx, c.t, cp, max)
			if err == nil && e != nil && fi.Exists {
				e.apply(&fi)
			}
			return fi, data, err
		}
	}
	fi, err := c.Stat(ctx, p)
	if err != nil || !fi.Exists || fi.IsDir || fi.IsLink || fi.Size > max {
		return fi, nil, err
	}
	b, err := c.ReadFile(ctx, p)
	if err != nil {
		return fi, nil, err
	}
	return fi, b, nil
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

// WriteFile records the write and simulates it.
func (c *checkTarget) WriteFile(ctx context.Context, p string, data []byte, a Attrs) error {
	d := fmt.Sprintf("%d bytes", len(data))
	if ad := attrsDetail(a); ad != "" {
		d += ", " + ad
	}
	c.record(Change{Op: "write", Path: p, Detail: d})
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.simWrite(ctx, p, data, a)
}

// SetAttrs records the change and simulates it.
func (c *checkTarget) SetAttrs(ctx context.Context, p string, a Attrs) error {
	if a.Owner != "" || a.Group != "" {
		c.record(Change{Op: "chown", Path: p, Detail: attrsDetail(Attrs{Owner: a.Owner, Group: a.Group})})
	}
	if a.Mode != 0 {
		c.record(Change{Op: "chmod", Path: p, Detail: attrsDetail(Attrs{Mode: a.Mode})})
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.simSetAttrs(ctx, p, a)
	return nil
}

// Mkdir records the change and simulates it.
func (c *checkTarget) Mkdir(ctx context.Context, p string, a Attrs) error {
	c.record(Change{Op: "mkdir", Path: p, Detail: attrsDetail(a)})
	if err := ctx.Err(); err != nil {
		return err
	}
	c.simMkdir(ctx, p, a)
	return nil
}

// Remove records the change and simulates it.
func (c *checkTarget) Remove(ctx context.Context, p string) error {
	c.record(Change{Op: "remove", Path: p})
	if err := ctx.Err(); err != nil {
		return err
	}
	c.simRemove(p)
	return nil
}

// Symlink records the change and simulates it.
func (c *checkTarget) Symlink(ctx context.Context, target, p string) error {
	c.record(Change{Op: "symlink", Path: p, Detail: "-> " + target})
	if err := ctx.Err(); err != nil {
		return err
	}
	c.simSymlink(ctx, target, p)
	return nil
}

// Take, Put and Discard pass kept commands through to the real Target:
// they only read (a module keeps a command for queries, never for
// changes).
func (c *checkTarget) Take(ctx context.Context, cmd Cmd) (*Kept, bool, error) {
	k, ok := c.t.(Keeper)
	if !ok {
		return nil, false, errors.New("kept commands need an SSH connection")
	}
	return k.Take(ctx, cmd)
}

// Put gives k back (see Take).
func (c *checkTarget) Put(k *Kept) { k.h.put(k) }

// Discard ends k (see Take).
func (c *checkTarget) Discard(k *Kept) { k.h.discard(k) }
