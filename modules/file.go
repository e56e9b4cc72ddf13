package modules

import (
	"context"
	"fmt"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "file",
		Returns: "path, state: the path and its state after the task",
		Purpose: "Make a path a directory, an empty file, a symlink, or absent; set its mode and ownership.",
		Examples: []string{
			`- name: A WAL archive directory only postgres can read
  file:
    path: /var/lib/postgresql/15/archive
    state: directory
    owner: postgres
    group: postgres
    mode: "0700"`,
			`- name: Pause automatic failover (maintenance)
  file:
    path: /var/lib/pgplay/maintenance.on
    state: touch
- name: Resume it
  file:
    path: /var/lib/pgplay/maintenance.on
    state: absent`,
			`- name: Put version 15's pg_controldata on the PATH
  file:
    path: /usr/local/bin/pg_controldata
    src: /usr/lib/postgresql/15/bin/pg_controldata
    state: link`,
		},
		New: func() Module { return &File{} },
	})
}

// File manages a path's kind and attributes.
type File struct {
	Path  string `arg:"path,required" aliases:"dest|name" doc:"the path on the host"`
	State string `arg:"state" choices:"file|directory|absent|link|touch" doc:"file: must exist (attributes set); directory: created with parents; absent: removed (recursively); link: a symlink to src; touch: an empty file created if absent (an existing file's times are kept, so a re-run is ok, not changed). Not given: the path's kind as it is (an existing directory gets its attributes set), else file"`
	Src   string `arg:"src" doc:"for state: link, where the link points"`
	Force bool   `arg:"force" default:"false" doc:"for state: link, replace a file already at path"`
	FileAttrs
}

// Validate checks that src goes with state: link.
func (f *File) Validate() error {
	if f.State == "link" && f.Src == "" {
		return &ArgError{Arg: "src", Msg: `state: link needs "src" (where the link points)`}
	}
	if f.State != "link" && f.Src != "" {
		state := f.State
		if state == "" {
			state = "not given"
		}
		return &ArgError{Arg: "src", Msg: fmt.Sprintf(`"src" is only for state: link (state is %s)`, state)}
	}
	return nil
}

// Run brings the path to the wanted state.
func (f *File) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	st, err := t.Stat(ctx, f.Path)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", f.Path, err)
	}
	state := f.State
	if state == "" {
		// As Ansible: without a state, the path keeps its kind.
		state = "file"
		if st.IsDir {
			state = "directory"
		}
	}
	res := &Result{Data: map[string]any{"path": f.Path, "state": state}}
	switch state {
	case "absent":
		if st.Exists {
			if err := t.Remove(ctx, f.Path); err != nil {
				return nil, fmt.Errorf("remove %s: %w", f.Path, err)
			}
			res.Changed = true
		}
	case "directory":
		switch {
		case !st.Exists:
			if err := t.Mkdir(ctx, f.Path, f.Attrs()); err != nil {
				return nil, fmt.Errorf("create directory %s: %w", f.Path, err)
			}
			res.Changed = true
		case !st.IsDir:
			return failed(res, "%s exists and is not a directory", f.Path), nil
		default:
			res.Diffs = attrsDiff(f.Path, f.FileAttrs, st)
			if res.Changed, err = applyAttrs(ctx, t, f.Path, f.FileAttrs, st); err != nil {
				return nil, err
			}
		}
	case "file":
		switch {
		case !st.Exists:
			res.Failed = true
			res.Msg = fmt.Sprintf("file %s does not exist (state: file only sets attributes; use state: touch to create an empty file, or copy/template to write one)", f.Path)
			return res, nil
		case st.IsDir:
			return failed(res, "%s is a directory, not a file", f.Path), nil
		default:
			res.Diffs = attrsDiff(f.Path, f.FileAttrs, st)
			if res.Changed, err = applyAttrs(ctx, t, f.Path, f.FileAttrs, st); err != nil {
				return nil, err
			}
		}
	case "touch":
		switch {
		case !st.Exists:
			if err := t.WriteFile(ctx, f.Path, nil, f.Attrs()); err != nil {
				return nil, fmt.Errorf("create %s: %w", f.Path, err)
			}
			res.Changed = true
		default:
			res.Diffs = attrsDiff(f.Path, f.FileAttrs, st)
			if res.Changed, err = applyAttrs(ctx, t, f.Path, f.FileAttrs, st); err != nil {
				return nil, err
			}
		}
	case "link":
		switch {
		case st.IsLink && st.LinkTarget == f.Src:
			// Already right; a link's own mode means nothing on Linux.
		case st.IsDir:
			return failed(res, "%s is a directory; refusing to replace it with a link", f.Path), nil
		case st.Exists && !st.IsLink && !f.Force:
			return failed(res, "%s exists and is not a link (force: true replaces it)", f.Path), nil
		default:
			if err := t.Symlink(ctx, f.Src, f.Path); err != nil {
				return nil, fmt.Errorf("link %s -> %s: %w", f.Path, f.Src, err)
			}
			res.Changed = true
		}
		if f.Owner != "" || f.Group != "" {
			res.Msg = "owner and group are not set on links"
		}
	}
	return res, nil
}

func failed(r *Result, format string, a ...any) *Result {
	r.Failed = true
	r.Msg = fmt.Sprintf(format, a...)
	return r
}
