package modules

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "fetch",
		Purpose: "Copy a file from the host to the controller.",
		Example: "- fetch:\n    src: /var/lib/barman/.ssh/id_ed25519.pub\n    dest: fetched/\n  # -> fetched/backup1/var/lib/barman/.ssh/id_ed25519.pub",
		New:     func() Module { return &Fetch{} },
	})
}

// Fetch copies a host file to the controller. Without flat the file lands
// in DEST/HOST/SRC (so hosts do not overwrite each other); with flat in
// DEST itself, or DEST/BASENAME when DEST ends with "/". The controller
// file is written atomically (temporary file in the same directory,
// fsync, rename) and only when its content differs. In check mode
// nothing is written on the controller (this module writes outside the
// Target, so it consults Env.Check).
type Fetch struct {
	Src           string `arg:"src,required" doc:"absolute path of the file on the host"`
	Dest          string `arg:"dest,required" doc:"controller directory (or file, with flat); relative to the working directory"`
	Flat          bool   `arg:"flat" default:"false" doc:"write to dest itself (or dest/BASENAME when dest ends with /) instead of dest/HOST/SRC"`
	FailOnMissing bool   `arg:"fail_on_missing" default:"true" doc:"fail when src does not exist (false: ok, nothing fetched)"`
}

// Validate checks the paths.
func (m *Fetch) Validate() error {
	if !strings.HasPrefix(m.Src, "/") {
		return &ArgError{Arg: "src", Msg: fmt.Sprintf("src %q is not an absolute path on the host", m.Src)}
	}
	if strings.HasSuffix(m.Src, "/") {
		return &ArgError{Arg: "src", Msg: "src must be a file, not a directory"}
	}
	return nil
}

// destFile is where the file goes on the controller.
func (m *Fetch) destFile(base, host string) string {
	dest := m.Dest
	if !filepath.IsAbs(dest) && base != "" {
		dest = filepath.Join(base, dest)
	}
	switch {
	case !m.Flat:
		return filepath.Join(dest, host, filepath.FromSlash(m.Src))
	case strings.HasSuffix(m.Dest, "/"):
		return filepath.Join(dest, filepath.Base(m.Src))
	default:
		return dest
	}
}

// Run fetches the file.
func (m *Fetch) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	host, base := t.Host(), ""
	check := false
	if env != nil {
		if env.Host != "" {
			host = env.Host
		}
		base, check = env.Controller, env.Check
	}
	dest := m.destFile(base, host)
	res := &Result{Data: map[string]any{"src": m.Src, "dest": dest}}
	st, err := t.Stat(ctx, m.Src)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", m.Src, err)
	}
	switch {
	case !st.Exists && !m.FailOnMissing:
		res.Msg = "the file was not found on the host; nothing fetched"
		return res, nil
	case !st.Exists:
		return failed(res, "%s does not exist on %s (fail_on_missing: false accepts that)", m.Src, host), nil
	case st.IsDir:
		return failed(res, "%s is a directory on %s; fetch copies one file", m.Src, host), nil
	}
	data, err := t.ReadFile(ctx, m.Src)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", m.Src, err)
	}
	res.Data["checksum"] = sha1Hex(data)
	res.Data["size"] = len(data)
	old, err := os.ReadFile(dest)
	switch {
	case err == nil && bytes.Equal(old, data):
		return res, nil
	case err != nil && !os.IsNotExist(err):
		return nil, fmt.Errorf("fetch: read controller file %s: %w", dest, err)
	}
	res.Changed = true
	if isText(data) && (err != nil || isText(old)) {
		res.Diffs = []Diff{{Path: dest, Before: string(old), After: string(data)}}
	}
	if check {
		res.Msg = "would write " + dest
		return res, nil
	}
	if err := writeControllerFile(dest, data); err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	return res, nil
}

// writeControllerFile writes data to p atomically: a temporary file in
// the same directory, fsync, rename (parent directories created).
func writeControllerFile(p string, data []byte) (err error) {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+".pgplay-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	if err = os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("rename %s to %s: %w", f.Name(), p, err)
	}
	return nil
}
