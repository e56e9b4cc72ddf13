package modules

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "slurp",
		Returns: "content: the file's bytes, base64-encoded (decode with b64dec)\nencoding: base64\nsource: the path read",
		Purpose: "Read a file from the host into a registered result, as Ansible's slurp does (never changes anything).",
		Examples: []string{
			`- name: read the fence flag
  slurp:
    src: /var/lib/pgplay/fence
  register: fence
- name: say when the node is fenced
  debug:
    msg: fenced
  when: ne (trim (b64dec .fence.content)) "0"`,
			`- name: read the server's PID file (it may be missing)
  slurp:
    src: /var/lib/postgresql/15/main/postmaster.pid
  register: pidfile
  failed_when: false
- name: show the PID
  debug:
    msg: "{{ first (splitList \"\\n\" (b64dec .pidfile.content)) }}"
  when: not .pidfile.failed`,
		},
		New: func() Module { return &Slurp{} },
	})
}

// Slurp reads one file over the Target's file session (no program runs
// on the host) and returns it base64-encoded, Ansible's shape: a
// template decodes it with sprig's b64dec. A missing file fails the task
// ("file not found"), as in Ansible; failed_when: false makes that an
// answer the next tasks can test (.X.failed).
type Slurp struct {
	Src string `arg:"src,required" aliases:"path" doc:"absolute path of the file on the host"`
}

// Validate checks the path is absolute.
func (m *Slurp) Validate() error {
	if !path.IsAbs(m.Src) {
		return &ArgError{Arg: "src", Msg: fmt.Sprintf("%q is not an absolute path", m.Src)}
	}
	return nil
}

// Run reads the file.
func (m *Slurp) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	b, err := t.ReadFile(ctx, m.Src)
	if errors.Is(err, fs.ErrNotExist) {
		return &Result{Failed: true, Msg: "file not found: " + m.Src}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", m.Src, err)
	}
	return &Result{Data: map[string]any{
		"content":  base64.StdEncoding.EncodeToString(b),
		"encoding": "base64",
		"source":   m.Src,
	}}, nil
}
