package modules

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "stat",
		Returns: "stat.exists: whether the path exists\nstat.path, stat.isdir, stat.isreg, stat.islnk: what it is\nstat.mode, stat.uid, stat.gid, stat.pw_name, stat.gr_name: permissions and owner\nstat.size, stat.mtime: size in bytes, modification time (Unix seconds)\nstat.checksum: SHA-1 of a regular file\nstat.lnk_target: where a symlink points",
		Purpose: "Read a path's kind, mode, owner, size and checksum into a registered result (never changes anything).",
		Examples: []string{
			`- name: Is the data directory initialised?
  stat:
    path: /var/lib/postgresql/15/main/PG_VERSION
  register: pgv
- name: Say so
  debug:
    msg: "initialised"
  when: .pgv.stat.exists`,
			`- name: Read the server key's permissions
  stat:
    path: /etc/ssl/private/ssl-cert-snakeoil.key
    get_checksum: false
  register: key
- name: Stop when others may read it
  fail:
    msg: "the key has mode {{ .key.stat.mode }}"
  when: and .key.stat.exists (ne .key.stat.mode "0640") (ne .key.stat.mode "0600")`,
		},
		New: func() Module { return &Stat{} },
	})
}

// Stat reports on a path as Data["stat"]: exists, and when it does isdir,
// isreg, islnk, mode ("0644"), uid, gid, pw_name, gr_name, size, mtime
// (Unix seconds), lnk_target (links), checksum (SHA-1 of a regular file).
type Stat struct {
	Path        string `arg:"path,required" aliases:"dest|name" doc:"the path on the host"`
	Follow      bool   `arg:"follow" default:"false" doc:"describe what a symlink points to rather than the link"`
	GetChecksum bool   `arg:"get_checksum" default:"true" doc:"compute the SHA-1 checksum of a regular file"`
}

// maxLocalHash is the size up to which a file is read and hashed here; a
// larger one is hashed on the host with sha1sum.
const maxLocalHash = 1 << 20

// Run stats the path.
func (s *Stat) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	p := s.Path
	st, err := t.Stat(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", p, err)
	}
	for hops := 0; s.Follow && st.Exists && st.IsLink; hops++ {
		if hops == 40 {
			return nil, fmt.Errorf("stat %s: too many levels of symbolic links", s.Path)
		}
		next := st.LinkTarget
		if !path.IsAbs(next) {
			next = path.Join(path.Dir(p), next)
		}
		p = next
		if st, err = t.Stat(ctx, p); err != nil {
			return nil, fmt.Errorf("stat %s: %w", p, err)
		}
	}
	info := map[string]any{"exists": st.Exists}
	if st.Exists {
		isreg := !st.IsDir && !st.IsLink
		info["path"] = s.Path
		info["isdir"] = st.IsDir
		info["isreg"] = isreg
		info["islnk"] = st.IsLink
		info["mode"] = Mode(st.Mode & 0o7777).String()
		info["uid"] = st.UID
		info["gid"] = st.GID
		info["pw_name"] = st.Owner
		info["gr_name"] = st.Group
		info["size"] = int(st.Size)
		info["mtime"] = float64(st.ModTime.UnixNano()) / 1e9
		if st.IsLink {
			info["lnk_target"] = st.LinkTarget
			info["lnk_source"] = s.Path
		}
		if isreg && s.GetChecksum {
			sum, err := checksum(ctx, t, p, st.Size, st.Simulated)
			if err != nil {
				return nil, err
			}
			info["checksum"] = sum
		}
	}
	return &Result{Data: map[string]any{"stat": info}}, nil
}

// checksum returns the hex SHA-1 of a regular file: read and hashed here
// when small or simulated (check mode: sha1sum on the host would not see
// it), with sha1sum on the host when large.
func checksum(ctx context.Context, t transport.Target, p string, size int64, simulated bool) (string, error) {
	if size <= maxLocalHash || simulated {
		b, err := t.ReadFile(ctx, p)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", p, err)
		}
		h := sha1.Sum(b)
		return hex.EncodeToString(h[:]), nil
	}
	r, err := t.Query(ctx, transport.Cmd{Argv: []string{"sha1sum", "--", p}})
	if err != nil {
		return "", fmt.Errorf("sha1sum %s: %w", p, err)
	}
	if r.RC != 0 {
		return "", fmt.Errorf("sha1sum %s: rc=%d: %s", p, r.RC, strings.TrimSpace(string(r.Stderr)))
	}
	f := strings.Fields(string(r.Stdout))
	if len(f) == 0 {
		return "", fmt.Errorf("sha1sum %s: no output", p)
	}
	return f[0], nil
}
