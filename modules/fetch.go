package modules

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "fetch",
		Returns: "src, dest: the remote file and where it was written on the controller\nchecksum, size: SHA-1 and size of the file",
		Purpose: "Copy a file from the host to the controller.",
		Examples: []string{
			`- name: Bring barman's public key to the controller
  fetch:
    src: /var/lib/barman/.ssh/id_ed25519.pub
    dest: fetched/
  # -> fetched/backup1/var/lib/barman/.ssh/id_ed25519.pub`,
			`- name: Collect every node's postgresql.conf for review, one file per node
  fetch:
    src: /etc/postgresql/15/main/postgresql.conf
    dest: "review/{{ .inventory_hostname }}.conf"
    flat: true`,
			`- name: Collect the repmgr log where there is one
  fetch:
    src: /var/log/postgresql/repmgr.log
    dest: logs/
    fail_on_missing: false`,
		},
		New: func() Module { return &Fetch{} },
	})
}

// Fetch copies a host file to the controller. Without flat the file lands
// in DEST/HOST/SRC (so hosts do not overwrite each other); with flat in
// DEST itself, or DEST/BASENAME when DEST ends with "/". The controller
// file is written atomically (temporary file in the same directory,
// fsync, rename) and only when its content differs. It is written through
// transport.ControllerFor(t): under the check decision of the host's
// Target, so a check-mode task (a --check run, or check_mode: true)
// records the write instead of making it.
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
	if env != nil {
		if env.Host != "" {
			host = env.Host
		}
		base = env.Controller
	}
	dest := m.destFile(base, host)
	res := &Result{Data: map[string]any{"src": m.Src, "dest": dest}}
	abs, err := filepath.Abs(dest)
	if err != nil {
		return nil, fmt.Errorf("fetch: controller path %s: %w", dest, err)
	}
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
	ctl := transport.ControllerFor(t)
	cur, err := ctl.Stat(ctx, abs)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	var old []byte
	if cur.Exists {
		if cur.IsDir {
			return failed(res, "%s is a directory on the controller; fetch writes a file there (flat: true with a dest ending in / puts it inside)", dest), nil
		}
		if old, err = ctl.ReadFile(ctx, abs); err != nil {
			return nil, fmt.Errorf("fetch: read controller file: %w", err)
		}
		if bytes.Equal(old, data) {
			return res, nil
		}
	}
	res.Changed = true
	if isText(data) && (!cur.Exists || isText(old)) {
		res.Diffs = []Diff{{Path: dest, Before: string(old), After: string(data)}}
	}
	dir, err := ctl.Stat(ctx, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	if !dir.Exists {
		if err := ctl.Mkdir(ctx, filepath.Dir(abs), transport.Attrs{}); err != nil {
			return nil, fmt.Errorf("fetch: %w", err)
		}
	}
	if err := ctl.WriteFile(ctx, abs, data, transport.Attrs{}); err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	if transport.IsCheck(ctl) {
		res.Msg = "would write " + dest
	}
	return res, nil
}
