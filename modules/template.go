package modules

import (
	"context"
	"errors"
	"fmt"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "template",
		Returns: "dest: the file written\nsrc: the template file used\nchecksum, size: SHA-1 and size of the rendered text\nbackup_file: the backup made, with backup: true",
		Purpose: "Render a Go text/template from templates/ with the host's variables and put it on the host.",
		Examples: []string{
			`- name: postgresql.conf from the inventory's settings
  template:
    src: postgresql/postgresql.conf.tmpl
    dest: /etc/postgresql/15/main/postgresql.conf
    owner: postgres
    group: postgres
    mode: "0644"
  notify: restart postgresql`,
			`- name: pg_hba.conf from the inventory's client networks, keeping the old one
  template:
    src: pg_hba.conf.tmpl
    dest: /etc/postgresql/15/main/pg_hba.conf
    owner: postgres
    group: postgres
    mode: "0640"
    backup: true
  notify: reload postgresql`,
		},
		New: func() Module { return &Template{} },
	})
}

// Template renders src (text/template + sprig, missingkey=error) with the
// task's variables and writes the result like copy.
type Template struct {
	Src    string `arg:"src,required" doc:"template to render: looked up in the role's templates/, the playbook's directory, then the embedded templates"`
	Dest   string `arg:"dest,required" doc:"path on the host; an existing directory (or a path ending in /) receives the file under src's name"`
	Backup bool   `arg:"backup" default:"false" doc:"keep the old content as DEST.YYYYmmddTHHMMSS~ when it changes"`
	Force  bool   `arg:"force" default:"true" doc:"false: only create the file when absent, never replace it"`
	FileAttrs
}

// TemplateArg names the argument holding the template file's name.
func (m *Template) TemplateArg() string { return "src" }

// Run renders and writes the template.
func (m *Template) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	if env.Find == nil || env.Render == nil {
		return nil, errors.New("template: no content lookup or renderer available")
	}
	text, from, err := env.Find("templates", m.Src)
	if err != nil {
		return nil, fmt.Errorf("template: src %q: %w", m.Src, err)
	}
	out, err := env.Render(from, string(text))
	if err != nil {
		return nil, err
	}
	dest, st, old, err := destPath(ctx, t, m.Dest, m.Src)
	if err != nil {
		return nil, err
	}
	data := []byte(out)
	o, err := putFile(ctx, t, fileWrite{Path: dest, Data: data, Attrs: m.FileAttrs, Backup: m.Backup, Force: m.Force, Stat: st, Old: old})
	if err != nil {
		return nil, err
	}
	d := fileData("dest", dest, o)
	d["src"] = from
	d["checksum"] = sha1Hex(data)
	d["size"] = len(data)
	return &Result{Changed: o.Changed, Diffs: o.Diffs, Data: d}, nil
}
