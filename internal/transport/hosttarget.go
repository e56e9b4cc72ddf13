package transport

import (
	"context"
	"errors"
	"fmt"
)

// backend is one host's connection: SSH (sshHost) or the controller itself
// (localHost). It is shared by every Target of that host.
type backend interface {
	// loginUser is the user commands run as without become.
	loginUser() string
	// run runs cmd, as become when it is not "".
	run(ctx context.Context, cmd Cmd, become string) (Result, error)
	// files returns the file system of become ("" = the login user),
	// opening its persistent session on first use.
	files(ctx context.Context, become string) (fileSystem, error)
	// ids resolves user and group names on the host.
	ids() *idResolver
	// wrap turns an error of a file operation into ErrUnreachable when the
	// connection is gone, and forgets a broken file session.
	wrap(become string, err error) error
	// dead is non-nil once the connection is lost.
	dead() error
	close() error
}

// hostTarget is the real Target: a backend and an effective user.
type hostTarget struct {
	name   string
	b      backend
	become string // "" = login user
}

func (t *hostTarget) Host() string { return t.name }

func (t *hostTarget) Query(ctx context.Context, cmd Cmd) (Result, error) {
	return t.b.run(ctx, cmd, t.become)
}

func (t *hostTarget) Change(ctx context.Context, cmd Cmd) (Result, error) {
	return t.b.run(ctx, cmd, t.become)
}

// fileErr says where a file operation failed.
func (t *hostTarget) fileErr(op, p string, err error) error {
	err = t.b.wrap(t.become, err)
	who := ""
	if t.become != "" {
		who = " (as " + t.become + ")"
	}
	return fmt.Errorf("host %s%s: %s %s: %w", t.name, who, op, p, err)
}

// fs checks p and ctx and returns the file system to use.
func (t *hostTarget) fs(ctx context.Context, op, p string) (fileSystem, string, error) {
	cp, err := cleanPath(p)
	if err != nil {
		return nil, "", t.fileErr(op, p, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, "", t.fileErr(op, p, err)
	}
	fsys, err := t.b.files(ctx, t.become)
	if err != nil {
		return nil, "", err
	}
	return fsys, cp, nil
}

func (t *hostTarget) Stat(ctx context.Context, p string) (FileInfo, error) {
	fsys, cp, err := t.fs(ctx, "stat", p)
	if err != nil {
		return FileInfo{}, err
	}
	fi, err := statPath(ctx, fsys, t.b.ids(), cp)
	if err != nil {
		return FileInfo{}, t.fileErr("stat", p, err)
	}
	return fi, nil
}

func (t *hostTarget) ReadFile(ctx context.Context, p string) ([]byte, error) {
	fsys, cp, err := t.fs(ctx, "read", p)
	if err != nil {
		return nil, err
	}
	b, err := fsys.readFile(cp)
	if err != nil {
		return nil, t.fileErr("read", p, err)
	}
	return b, nil
}

func (t *hostTarget) WriteFile(ctx context.Context, p string, data []byte, a Attrs) error {
	fsys, cp, err := t.fs(ctx, "write", p)
	if err != nil {
		return err
	}
	writer := t.become
	if writer == "" {
		writer = t.b.loginUser()
	}
	if err := writeFile(ctx, fsys, t.b.ids(), cp, data, a, writer); err != nil {
		werr := t.fileErr("write", p, err)
		var left *tempLeftError
		if errors.As(err, &left) && !errors.Is(werr, ErrUnreachable) {
			// The file session broke, the connection lives: remove the
			// temporary file over a new session.
			if fsys, ferr := t.b.files(ctx, t.become); ferr == nil {
				_ = t.b.wrap(t.become, fsys.removeFile(left.tmp))
			}
		}
		return werr
	}
	return nil
}

func (t *hostTarget) SetAttrs(ctx context.Context, p string, a Attrs) error {
	fsys, cp, err := t.fs(ctx, "set attributes of", p)
	if err != nil {
		return err
	}
	if err := setAttrs(ctx, fsys, t.b.ids(), cp, a); err != nil {
		return t.fileErr("set attributes of", p, err)
	}
	return nil
}

func (t *hostTarget) Mkdir(ctx context.Context, p string, a Attrs) error {
	fsys, cp, err := t.fs(ctx, "mkdir", p)
	if err != nil {
		return err
	}
	if err := mkdirAll(ctx, fsys, t.b.ids(), cp, a); err != nil {
		return t.fileErr("mkdir", p, err)
	}
	return nil
}

func (t *hostTarget) Remove(ctx context.Context, p string) error {
	fsys, cp, err := t.fs(ctx, "remove", p)
	if err != nil {
		return err
	}
	if err := removeAll(ctx, fsys, cp); err != nil {
		return t.fileErr("remove", p, err)
	}
	return nil
}

func (t *hostTarget) Symlink(ctx context.Context, target, p string) error {
	fsys, cp, err := t.fs(ctx, "symlink", p)
	if err != nil {
		return err
	}
	if err := symlinkAt(fsys, target, cp); err != nil {
		return t.fileErr("symlink", p, err)
	}
	return nil
}
