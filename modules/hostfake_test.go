package modules

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/transport"
)

// fakeHost is a recording mock of a host for unit tests: commands are
// answered by rules the test sets, files live in memory, and every call
// is logged so a test can assert what a module sent.
type fakeHost struct {
	mu    sync.Mutex
	files map[string]*fakeFile
	rules []fakeRule
	calls []fakeCall
}

type fakeFile struct {
	data         []byte
	dir          bool
	mode         fs.FileMode
	owner, group string
	mtime        time.Time
}

// fakeCall is one logged call. For a command run through asUserArgv, User
// is the user it switches to and Argv the inner program's argv.
type fakeCall struct {
	Op    string // query, change, write, mkdir, attrs, remove, symlink
	User  string
	Argv  []string
	Stdin string
	Env   map[string]string
	Path  string
	Data  string
	Attrs transport.Attrs
}

// cmdline is the inner argv joined with spaces, for matching.
func (c fakeCall) cmdline() string { return strings.Join(c.Argv, " ") }

type fakeRule struct {
	match func(c fakeCall) bool
	reply func(c fakeCall) transport.Result
}

func newFakeHost() *fakeHost {
	return &fakeHost{files: map[string]*fakeFile{"/": {dir: true, mode: 0o755}}}
}

// on answers commands whose inner command line starts with prefix.
func (h *fakeHost) on(prefix string, rc int, stdout, stderr string) *fakeHost {
	return h.onFunc(func(c fakeCall) bool { return strings.HasPrefix(c.cmdline(), prefix) },
		func(fakeCall) transport.Result {
			return transport.Result{RC: rc, Stdout: []byte(stdout), Stderr: []byte(stderr)}
		})
}

// onSQL answers psql runs whose stdin contains sub.
func (h *fakeHost) onSQL(sub string, rc int, stdout, stderr string) *fakeHost {
	return h.onFunc(func(c fakeCall) bool { return isPsql(c) && strings.Contains(c.Stdin, sub) },
		func(fakeCall) transport.Result {
			return transport.Result{RC: rc, Stdout: []byte(stdout), Stderr: []byte(stderr)}
		})
}

// onFunc adds a rule; rules added later take precedence.
func (h *fakeHost) onFunc(match func(fakeCall) bool, reply func(fakeCall) transport.Result) *fakeHost {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rules = append([]fakeRule{{match, reply}}, h.rules...)
	return h
}

// file puts a file (and its parent directories) on the host.
func (h *fakeHost) file(p, data string, mode fs.FileMode, owner string) *fakeHost {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mkdirs(path.Dir(p))
	h.files[p] = &fakeFile{data: []byte(data), mode: mode, owner: owner, group: owner, mtime: time.Now()}
	return h
}

func (h *fakeHost) dir(p string) *fakeHost {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mkdirs(p)
	return h
}

func (h *fakeHost) mkdirs(p string) {
	for d := p; ; d = path.Dir(d) {
		if _, ok := h.files[d]; !ok {
			h.files[d] = &fakeFile{dir: true, mode: 0o755, owner: "root", group: "root"}
		}
		if d == "/" || d == "." {
			return
		}
	}
}

func (h *fakeHost) content(p string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.files[p]
	if !ok || f.dir {
		return "", false
	}
	return string(f.data), true
}

// log returns the calls so far (of the given ops, all when none).
func (h *fakeHost) log(ops ...string) []fakeCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []fakeCall
	for _, c := range h.calls {
		if len(ops) == 0 || containsStr(ops, c.Op) {
			out = append(out, c)
		}
	}
	return out
}

// changes are the calls that change the host.
func (h *fakeHost) changes() []fakeCall {
	return h.log("change", "write", "mkdir", "attrs", "remove", "symlink")
}

func (h *fakeHost) reset() {
	h.mu.Lock()
	h.calls = nil
	h.mu.Unlock()
}

func (h *fakeHost) Host() string { return "node1" }

func unwrapCmd(op string, cmd transport.Cmd) fakeCall {
	c := fakeCall{Op: op, Argv: cmd.Argv, Stdin: string(cmd.Stdin), Env: cmd.Env}
	if len(cmd.Argv) >= 5 && cmd.Argv[0] == "/bin/sh" && cmd.Argv[3] == "pgplay-as" {
		c.User, c.Argv = cmd.Argv[4], cmd.Argv[5:]
	}
	return c
}

func (h *fakeHost) run(op string, cmd transport.Cmd) (transport.Result, error) {
	c := unwrapCmd(op, cmd)
	h.mu.Lock()
	h.calls = append(h.calls, c)
	rules := h.rules
	h.mu.Unlock()
	for _, r := range rules {
		if r.match(c) {
			return r.reply(c), nil
		}
	}
	return transport.Result{RC: 127, Stderr: []byte(fmt.Sprintf("fakeHost: no rule for %q", c.cmdline()))}, nil
}

func (h *fakeHost) Query(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	return h.run("query", cmd)
}

func (h *fakeHost) Change(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	return h.run("change", cmd)
}

func (h *fakeHost) Stat(ctx context.Context, p string) (transport.FileInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.files[p]
	if !ok {
		return transport.FileInfo{Path: p}, nil
	}
	fi := transport.FileInfo{Path: p, Exists: true, IsDir: f.dir, Mode: f.mode, Size: int64(len(f.data)),
		Owner: f.owner, Group: f.group, ModTime: f.mtime}
	// Numeric owners and groups stand for their ids.
	fi.UID, _ = strconv.Atoi(f.owner)
	fi.GID, _ = strconv.Atoi(f.group)
	return fi, nil
}

func (h *fakeHost) ReadFile(ctx context.Context, p string) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.files[p]
	if !ok || f.dir {
		return nil, fmt.Errorf("read %s: %w", p, fs.ErrNotExist)
	}
	return append([]byte(nil), f.data...), nil
}

// ListDir makes the fake a transport.DirLister: the names of p's entries,
// sorted. It is logged as "list".
func (h *fakeHost) ListDir(ctx context.Context, p string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fakeCall{Op: "list", Path: p})
	if f, ok := h.files[p]; !ok || !f.dir {
		return nil, fmt.Errorf("list %s: %w", p, fs.ErrNotExist)
	}
	var names []string
	for q := range h.files {
		if q != p && path.Dir(q) == p {
			names = append(names, path.Base(q))
		}
	}
	slices.Sort(names)
	return names, nil
}

func (h *fakeHost) WriteFile(ctx context.Context, p string, data []byte, a transport.Attrs) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fakeCall{Op: "write", Path: p, Data: string(data), Attrs: a})
	if _, ok := h.files[path.Dir(p)]; !ok {
		return fmt.Errorf("write %s: directory does not exist", p)
	}
	f := h.files[p]
	if f == nil {
		f = &fakeFile{mode: 0o644, owner: "root", group: "root"}
		h.files[p] = f
	}
	f.data, f.mtime = append([]byte(nil), data...), time.Now()
	f.apply(a)
	return nil
}

// apply sets the attributes a gives (zero values keep the file's).
func (f *fakeFile) apply(a transport.Attrs) {
	if a.Mode != 0 {
		f.mode = a.Mode
	}
	if a.Owner != "" {
		f.owner = a.Owner
	}
	if a.Group != "" {
		f.group = a.Group
	}
}

func (h *fakeHost) SetAttrs(ctx context.Context, p string, a transport.Attrs) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fakeCall{Op: "attrs", Path: p, Attrs: a})
	f, ok := h.files[p]
	if !ok {
		return fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	f.apply(a)
	return nil
}

func (h *fakeHost) Mkdir(ctx context.Context, p string, a transport.Attrs) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fakeCall{Op: "mkdir", Path: p, Attrs: a})
	h.mkdirs(p)
	f := h.files[p]
	f.apply(a)
	return nil
}

func (h *fakeHost) Remove(ctx context.Context, p string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fakeCall{Op: "remove", Path: p})
	for k := range h.files {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(h.files, k)
		}
	}
	return nil
}

func (h *fakeHost) Symlink(ctx context.Context, target, p string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fakeCall{Op: "symlink", Path: p, Data: target})
	return nil
}

// newModule decodes args for the registered module name, failing the
// test on an error.
func newModule(t *testing.T, name string, args map[string]any) Module {
	t.Helper()
	m, err := decodeModule(name, args)
	if err != nil {
		t.Fatalf("decode %s %v: %v", name, args, err)
	}
	return m
}

// decodeModule decodes args for the registered module name.
func decodeModule(name string, args map[string]any) (Module, error) {
	spec, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("module %q is not registered", name)
	}
	m := spec.New()
	if err := Decode(spec, args, m); err != nil {
		return nil, err
	}
	return m, nil
}

// wantArgError checks that decoding args fails with a message holding
// every one of subs.
func wantArgError(t *testing.T, name string, args map[string]any, subs ...string) {
	t.Helper()
	_, err := decodeModule(name, args)
	if err == nil {
		t.Fatalf("%s %v: decoded without error, want one mentioning %q", name, args, subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s %v: error %q does not mention %q", name, args, err, s)
		}
	}
}

// run runs m on target with a plain Env.
func runOn(t *testing.T, m Module, target transport.Target) *Result {
	t.Helper()
	return runEnv(t, m, target, &Env{Host: target.Host()})
}

func runEnv(t *testing.T, m Module, target transport.Target, env *Env) *Result {
	t.Helper()
	res, err := m.Run(context.Background(), target, env)
	if err != nil {
		t.Fatalf("%T.Run: %v", m, err)
	}
	if res == nil {
		t.Fatalf("%T.Run returned no result", m)
	}
	return res
}

// checkRun runs m in check mode (a recording Target over h) and returns
// the result and the recorded changes; it fails the test when h saw a
// change.
func checkRun(t *testing.T, m Module, h *fakeHost) (*Result, []transport.Change) {
	t.Helper()
	var rec []transport.Change
	ct := transport.NewCheckTarget(h, func(c transport.Change) { rec = append(rec, c) })
	before := len(h.changes())
	res := runEnv(t, m, ct, &Env{Host: "node1"})
	if after := h.changes(); len(after) != before {
		t.Fatalf("check mode changed the host: %+v", after[before:])
	}
	return res, rec
}

// isPsql says whether c runs psql: from the PATH or from a bin_dir.
func isPsql(c fakeCall) bool {
	return len(c.Argv) > 0 && path.Base(c.Argv[0]) == "psql"
}
