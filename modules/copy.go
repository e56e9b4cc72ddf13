package modules

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "copy",
		Returns: "dest: the file written\nchecksum, size: SHA-1 and size of the content\nsrc: the source file, when src: was given\nbackup_file: the backup made, with backup: true",
		Purpose: "Put a file (from files/ or given inline) on the host, with mode and ownership.",
		Examples: []string{
			`- name: Install pg_ident.conf from the role's files/, keeping the old one
  copy:
    src: pg_ident.conf
    dest: /etc/postgresql/15/main/pg_ident.conf
    owner: postgres
    group: postgres
    mode: "0640"
    backup: true
  notify: reload postgresql`,
			`- name: Write postgres's .pgpass (the password never shows in output)
  copy:
    dest: /var/lib/postgresql/.pgpass
    content: |
      *:*:repmgr:repmgr:{{ .repmgr_password }}
      *:*:replication:repmgr:{{ .repmgr_password }}
    owner: postgres
    group: postgres
    mode: "0600"
  no_log: true`,
			`- name: Give postgres a default .psqlrc, leaving an edited one alone
  copy:
    src: psqlrc
    dest: /var/lib/postgresql/.psqlrc
    owner: postgres
    mode: "0644"
    force: false`,
		},
		New: func() Module { return &Copy{} },
	})
}

// Copy puts a file on the host: the content of src (looked up like other
// content files) or the text of content.
type Copy struct {
	Src     string  `arg:"src" doc:"file to copy: looked up in the role's files/, the playbook's directory, then the embedded content"`
	Content *string `arg:"content" doc:"the file's content, instead of src"`
	Dest    string  `arg:"dest,required" doc:"path on the host; an existing directory (or a path ending in /) receives the file under src's name"`
	Backup  bool    `arg:"backup" default:"false" doc:"keep the old content as DEST.YYYYmmddTHHMMSS~ when it changes"`
	Force   bool    `arg:"force" default:"true" doc:"false: only create the file when absent, never replace it"`
	FileAttrs
}

// Validate checks that exactly one of src and content is given.
func (c *Copy) Validate() error {
	switch {
	case c.Src != "" && c.Content != nil:
		return &ArgError{Arg: "content", Msg: `give either "src" or "content", not both`}
	case c.Src == "" && c.Content == nil:
		return &ArgError{Arg: "src", Msg: `give "src" (a file to copy) or "content" (the text to write)`}
	}
	return nil
}

// Run copies the file.
func (c *Copy) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	var data []byte
	from := ""
	if c.Content != nil {
		data = []byte(*c.Content)
	} else {
		if env.Find == nil {
			return nil, errors.New("copy: no content lookup available")
		}
		var err error
		data, from, err = env.Find("files", c.Src)
		if err != nil {
			return nil, fmt.Errorf("copy: src %q: %w", c.Src, err)
		}
	}
	dest, st, old, err := destPath(ctx, t, c.Dest, c.Src)
	if err != nil {
		return nil, err
	}
	o, err := putFile(ctx, t, fileWrite{Path: dest, Data: data, Attrs: c.FileAttrs, Backup: c.Backup, Force: c.Force, Stat: st, Old: old})
	if err != nil {
		return nil, err
	}
	d := fileData("dest", dest, o)
	d["checksum"] = sha1Hex(data)
	d["size"] = len(data)
	if from != "" {
		d["src"] = from
	}
	return &Result{Changed: o.Changed, Diffs: o.Diffs, Data: d}, nil
}

// destPath resolves a dest that names a directory (ends in "/" or is an
// existing directory) to the file src would be in it. It returns dest's
// FileInfo, and its content when it is a regular file putFile would read,
// when it has them (so putFile need not ask again): one transport.StatRead,
// two round trips over SFTP.
func destPath(ctx context.Context, t transport.Target, dest, src string) (string, *transport.FileInfo, []byte, error) {
	base := path.Base(src)
	if strings.HasSuffix(dest, "/") && src != "" {
		return path.Join(dest, base), nil, nil, nil
	}
	st, old, err := transport.StatRead(ctx, t, dest, maxDiffRead)
	if err != nil {
		return "", nil, nil, fmt.Errorf("stat %s: %w", dest, err)
	}
	if st.Exists && st.IsDir && src != "" {
		return path.Join(dest, base), nil, nil, nil
	}
	return dest, &st, old, nil
}
