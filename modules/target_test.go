package modules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/pgplay/pgplay/internal/tmpl"
	"github.com/pgplay/pgplay/internal/transport"
)

// localTarget is a test stand-in for a host: the real local file system
// (os calls) and real processes (os/exec). It counts calls, each of which
// would be one round trip to a remote host.
type localTarget struct {
	mu    sync.Mutex
	calls map[string]int
}

func newLocal() *localTarget { return &localTarget{calls: map[string]int{}} }

func (l *localTarget) count(op string) {
	l.mu.Lock()
	l.calls[op]++
	l.mu.Unlock()
}

// roundTrips returns the number of calls so far and resets the count.
func (l *localTarget) roundTrips() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.calls {
		n += c
	}
	l.calls = map[string]int{}
	return n
}

func (l *localTarget) Host() string { return "testhost" }

func (l *localTarget) run(ctx context.Context, c transport.Cmd) (transport.Result, error) {
	if len(c.Argv) == 0 {
		return transport.Result{}, errors.New("empty argv")
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir = c.Dir
	cmd.Env = os.Environ()
	for k, v := range c.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := transport.Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.RC = ee.ExitCode()
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist):
		r.RC = 127
		r.Stderr = []byte(err.Error())
	case err != nil:
		return r, err
	}
	return r, nil
}

func (l *localTarget) Query(ctx context.Context, c transport.Cmd) (transport.Result, error) {
	l.count("query")
	return l.run(ctx, c)
}

func (l *localTarget) Change(ctx context.Context, c transport.Cmd) (transport.Result, error) {
	l.count("change")
	return l.run(ctx, c)
}

func unixBits(m fs.FileMode) fs.FileMode {
	p := m.Perm()
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

func goMode(m fs.FileMode) fs.FileMode {
	p := m & 0o777
	if m&0o4000 != 0 {
		p |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		p |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		p |= fs.ModeSticky
	}
	return p
}

func (l *localTarget) Stat(ctx context.Context, p string) (transport.FileInfo, error) {
	l.count("stat")
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return transport.FileInfo{Path: p}, nil
	}
	if err != nil {
		return transport.FileInfo{}, err
	}
	sys := fi.Sys().(*syscall.Stat_t)
	info := transport.FileInfo{
		Path: p, Exists: true, IsDir: fi.IsDir(), IsLink: fi.Mode()&fs.ModeSymlink != 0,
		Mode: unixBits(fi.Mode()), Size: fi.Size(), UID: int(sys.Uid), GID: int(sys.Gid), ModTime: fi.ModTime(),
	}
	if u, err := user.LookupId(strconv.Itoa(info.UID)); err == nil {
		info.Owner = u.Username
	}
	if g, err := user.LookupGroupId(strconv.Itoa(info.GID)); err == nil {
		info.Group = g.Name
	}
	if info.IsLink {
		info.LinkTarget, _ = os.Readlink(p)
	}
	return info, nil
}

func (l *localTarget) ReadFile(ctx context.Context, p string) ([]byte, error) {
	l.count("read")
	return os.ReadFile(p)
}

// ids resolves a's owner and group to numbers (-1: not asked).
func ids(a transport.Attrs) (uid, gid int, err error) {
	uid, gid = -1, -1
	if a.Owner != "" {
		if uid, err = strconv.Atoi(a.Owner); err != nil {
			u, err := user.Lookup(a.Owner)
			if err != nil {
				return 0, 0, err
			}
			uid, _ = strconv.Atoi(u.Uid)
		}
	}
	if a.Group != "" {
		if gid, err = strconv.Atoi(a.Group); err != nil {
			g, err := user.LookupGroup(a.Group)
			if err != nil {
				return 0, 0, err
			}
			gid, _ = strconv.Atoi(g.Gid)
		}
	}
	return uid, gid, nil
}

func (l *localTarget) WriteFile(ctx context.Context, p string, data []byte, a transport.Attrs) error {
	l.count("write")
	mode := a.Mode
	uid, gid, err := ids(a)
	if err != nil {
		return err
	}
	if old, err := os.Lstat(p); err == nil && old.Mode().IsRegular() {
		sys := old.Sys().(*syscall.Stat_t)
		if mode == 0 {
			mode = unixBits(old.Mode())
		}
		if uid < 0 {
			uid = int(sys.Uid)
		}
		if gid < 0 {
			gid = int(sys.Gid)
		}
	}
	if mode == 0 {
		mode = 0o644
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".pgplay-test-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if uid >= 0 || gid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Chmod(goMode(mode)); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

func (l *localTarget) SetAttrs(ctx context.Context, p string, a transport.Attrs) error {
	l.count("setattrs")
	uid, gid, err := ids(a)
	if err != nil {
		return err
	}
	if uid >= 0 || gid >= 0 {
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
	}
	if a.Mode != 0 {
		return os.Chmod(p, goMode(a.Mode))
	}
	return nil
}

func (l *localTarget) Mkdir(ctx context.Context, p string, a transport.Attrs) error {
	l.count("mkdir")
	var missing []string
	for d := p; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == "/" || d == "." {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil {
			return err
		}
		if err := l.SetAttrs(ctx, missing[i], a); err != nil {
			return err
		}
	}
	return nil
}

func (l *localTarget) Remove(ctx context.Context, p string) error {
	l.count("remove")
	return os.RemoveAll(p)
}

func (l *localTarget) Symlink(ctx context.Context, target, p string) error {
	l.count("symlink")
	tmp := p + ".pgplay-link"
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// harness runs modules the way the runner does: decode, then Run.
type harness struct {
	t       *testing.T
	local   *localTarget
	env     *Env
	content string // directory with files/ and templates/
}

func newHarness(t *testing.T, vars map[string]any) *harness {
	t.Helper()
	h := &harness{t: t, local: newLocal(), content: t.TempDir()}
	eng := tmpl.New()
	if vars == nil {
		vars = map[string]any{}
	}
	h.env = &Env{
		Host: "testhost",
		Vars: vars,
		Render: func(name, text string) (string, error) {
			return eng.Render(name, text, vars)
		},
		Eval: func(expr string) (bool, error) {
			return eng.Eval("test task", expr, vars)
		},
		Find: func(kind, name string) ([]byte, string, error) {
			p := filepath.Join(h.content, kind, name)
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, "", fmt.Errorf("%s/%s: not found", kind, name)
			}
			return b, p, nil
		},
	}
	return h
}

// addContent writes a content file (kind "files" or "templates").
func (h *harness) addContent(kind, name, data string) {
	h.t.Helper()
	p := filepath.Join(h.content, kind, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// decode builds the named module from raw arguments.
func decode(name string, args map[string]any) (Module, error) {
	spec, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("no module %q", name)
	}
	m := spec.New()
	if err := Decode(spec, args, m); err != nil {
		return nil, err
	}
	return m, nil
}

// run runs a module against the real local target.
func (h *harness) run(name string, args map[string]any) *Result {
	h.t.Helper()
	return h.runOn(h.local, name, args)
}

// check runs a module in check mode and returns the result and the
// recorded changes.
func (h *harness) check(name string, args map[string]any) (*Result, []transport.Change) {
	h.t.Helper()
	var changes []transport.Change
	ct := transport.NewCheckTarget(h.local, func(c transport.Change) { changes = append(changes, c) })
	r := h.runOn(ct, name, args)
	return r, changes
}

func (h *harness) runOn(t transport.Target, name string, args map[string]any) *Result {
	h.t.Helper()
	r, err := h.tryOn(t, name, args)
	if err != nil {
		h.t.Fatalf("%s %v: %v", name, args, err)
	}
	return r
}

func (h *harness) try(name string, args map[string]any) (*Result, error) {
	return h.tryOn(h.local, name, args)
}

func (h *harness) tryOn(t transport.Target, name string, args map[string]any) (*Result, error) {
	m, err := decode(name, args)
	if err != nil {
		return nil, err
	}
	env := *h.env
	return m.Run(context.Background(), t, &env)
}
