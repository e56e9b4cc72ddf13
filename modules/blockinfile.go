package modules

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "blockinfile",
		Returns: "path: the file",
		Purpose: "Keep a block of lines between marker lines in a file (insert, replace or remove it).",
		Examples: []string{
			`- name: Let repmgr and replication connect from the cluster's network
  blockinfile:
    path: /etc/postgresql/15/main/pg_hba.conf
    insertbefore: BOF
    block: |
      host repmgr repmgr 198.51.100.0/24 scram-sha-256
      host replication repmgr 198.51.100.0/24 scram-sha-256
  notify: reload postgresql`,
			`- name: Keep the tuning settings in one marked block of their own file
  blockinfile:
    path: /etc/postgresql/15/main/conf.d/tuning.conf
    create: true
    owner: postgres
    group: postgres
    mode: "0644"
    marker: "# {mark} TUNING (pgplay)"
    block: |
      shared_buffers = {{ .pg_shared_buffers }}
      effective_cache_size = {{ .pg_effective_cache_size }}
  notify: restart postgresql`,
			`- name: Remove the temporary migration access rules
  blockinfile:
    path: /etc/postgresql/15/main/pg_hba.conf
    marker: "# {mark} MIGRATION ACCESS"
    state: absent
  notify: reload postgresql`,
		},
		New: func() Module { return &BlockInFile{} },
	})
}

// BlockInFile manages the lines between "# BEGIN MANAGED BY PGPLAY" and
// "# END MANAGED BY PGPLAY" (the marker is configurable, so several
// blocks can live in one file).
type BlockInFile struct {
	Path         string `arg:"path,required" aliases:"dest|destfile|name" doc:"the file to edit"`
	Block        string `arg:"block" aliases:"content" doc:"the lines to have between the markers; empty removes the block"`
	Marker       string `arg:"marker" default:"# {mark} MANAGED BY PGPLAY" doc:"marker line; {mark} becomes marker_begin or marker_end"`
	MarkerBegin  string `arg:"marker_begin" default:"BEGIN" doc:"replaces {mark} in the first marker"`
	MarkerEnd    string `arg:"marker_end" default:"END" doc:"replaces {mark} in the last marker"`
	InsertAfter  string `arg:"insertafter" doc:"where a new block goes: after the last line matching this regexp, or EOF (the default)"`
	InsertBefore string `arg:"insertbefore" doc:"where a new block goes: before the last line matching this regexp, or BOF"`
	State        string `arg:"state" default:"present" choices:"present|absent" doc:"present: the block is in the file; absent: the block and its markers are removed"`
	Create       bool   `arg:"create" default:"false" doc:"create the file when absent (otherwise a missing file fails)"`
	Backup       bool   `arg:"backup" default:"false" doc:"keep the old content as PATH.YYYYmmddTHHMMSS~ when it changes"`
	FileAttrs

	ins *regexp.Regexp
}

// Validate checks the marker and the insert position.
func (m *BlockInFile) Validate() error {
	if m.InsertAfter != "" && m.InsertBefore != "" {
		return &ArgError{Arg: "insertbefore", Msg: `give "insertafter" or "insertbefore", not both`}
	}
	if !strings.Contains(m.Marker, "{mark}") {
		return &ArgError{Arg: "marker", Msg: "marker must contain {mark} (so the begin and end lines differ)"}
	}
	if strings.Contains(m.Marker, "\n") {
		return &ArgError{Arg: "marker", Msg: "marker must be one line"}
	}
	if m.MarkerBegin == m.MarkerEnd {
		return &ArgError{Arg: "marker_end", Msg: "marker_begin and marker_end must differ"}
	}
	var err error
	switch {
	case m.InsertAfter != "" && m.InsertAfter != "EOF":
		m.ins, err = compileRE("insertafter", m.InsertAfter)
	case m.InsertBefore != "" && m.InsertBefore != "BOF":
		m.ins, err = compileRE("insertbefore", m.InsertBefore)
	}
	return err
}

// edit returns the new lines (each ending in "\n") and what changed ("" when
// nothing did).
func (m *BlockInFile) edit(lines []string) ([]string, string) {
	begin := strings.ReplaceAll(m.Marker, "{mark}", m.MarkerBegin)
	end := strings.ReplaceAll(m.Marker, "{mark}", m.MarkerEnd)
	b, e := -1, -1
	for i, l := range lines {
		switch strings.TrimRight(l, "\r\n") {
		case begin:
			b = i
		case end:
			e = i
		}
	}
	if b >= 0 && e >= 0 && e < b {
		b, e = -1, -1 // markers out of order: treat as no block
	}
	found := b >= 0 && e >= 0

	remove := m.State == "absent" || m.Block == ""
	if remove {
		if !found {
			return lines, ""
		}
		return append(append([]string(nil), lines[:b]...), lines[e+1:]...), "block removed"
	}
	block := []string{begin + "\n"}
	for _, l := range strings.Split(strings.TrimRight(m.Block, "\n"), "\n") {
		block = append(block, l+"\n")
	}
	block = append(block, end+"\n")

	if found {
		old := lines[b : e+1]
		if strings.Join(old, "") == strings.Join(block, "") {
			return lines, ""
		}
		out := append(append(append([]string(nil), lines[:b]...), block...), lines[e+1:]...)
		return out, "block updated"
	}
	// New block: find where.
	at := len(lines)
	switch {
	case m.InsertBefore == "BOF":
		at = 0
	case m.ins != nil:
		for i, l := range lines {
			if m.ins.MatchString(strings.TrimRight(l, "\r\n")) {
				at = i
				if m.InsertAfter != "" {
					at = i + 1
				}
			}
		}
	}
	if at == len(lines) && at > 0 && !strings.HasSuffix(lines[at-1], "\n") {
		lines = append(lines[:at-1:at-1], lines[at-1]+"\n")
	}
	out := append(append(append([]string(nil), lines[:at]...), block...), lines[at:]...)
	return out, "block inserted"
}

// Run edits the file.
func (m *BlockInFile) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	st, err := t.Stat(ctx, m.Path)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", m.Path, err)
	}
	res := &Result{Data: map[string]any{"path": m.Path}}
	if st.IsDir {
		return failed(res, "%s is a directory", m.Path), nil
	}
	var old []byte
	if st.Exists {
		if old, err = t.ReadFile(ctx, m.Path); err != nil {
			return nil, fmt.Errorf("read %s: %w", m.Path, err)
		}
	} else {
		if m.State == "absent" || m.Block == "" {
			res.Msg = "file not present"
			return res, nil
		}
		if !m.Create {
			return failed(res, "file %s does not exist (create: true creates it)", m.Path), nil
		}
	}
	lines, msg := m.edit(splitKeepEnds(string(old)))
	return finishEdit(ctx, t, res, fileWrite{Path: m.Path, Data: []byte(strings.Join(lines, "")), Attrs: m.FileAttrs, Backup: m.Backup}, st, old, msg)
}
