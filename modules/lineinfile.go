package modules

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "lineinfile",
		Returns: "path: the file\nfound: how many lines matched regexp (or line)",
		Purpose: "Make sure a line is in a file (replacing the line a regexp matches), or that no line matches.",
		Examples: []string{
			`- name: Listen on every address
  lineinfile:
    path: /etc/postgresql/15/main/postgresql.conf
    regexp: '^#?listen_addresses\s*='
    line: "listen_addresses = '*'"
  notify: restart postgresql`,
			`- name: Let the monitoring user in, before the catch-all rules
  lineinfile:
    path: /etc/postgresql/15/main/pg_hba.conf
    line: "host all pgmon 198.51.100.0/24 scram-sha-256"
    insertbefore: '^host\s+all\s+all'
    firstmatch: true
  notify: reload postgresql`,
			`- name: No trust authentication left in pg_hba.conf
  lineinfile:
    path: /etc/postgresql/15/main/pg_hba.conf
    regexp: '\strust\s*$'
    state: absent
    backup: true
  notify: reload postgresql`,
		},
		New: func() Module { return &LineInFile{} },
	})
}

// LineInFile edits one line of a text file with Ansible's lineinfile
// semantics. Regular expressions are Go's (RE2): no backreferences inside
// a pattern and no lookaround.
type LineInFile struct {
	Path         string  `arg:"path,required" aliases:"dest|destfile|name" doc:"the file to edit"`
	Regexp       string  `arg:"regexp" aliases:"regex" doc:"present: the last line matching it is replaced by line; absent: every matching line is removed"`
	Line         *string `arg:"line" aliases:"value" doc:"the line to have (state: present); without regexp, state: absent removes lines equal to it"`
	State        string  `arg:"state" default:"present" choices:"present|absent" doc:"whether the line should be there"`
	InsertAfter  string  `arg:"insertafter" doc:"when regexp matches nothing: add the line after the last line matching this regexp, or at EOF (the default) or BOF"`
	InsertBefore string  `arg:"insertbefore" doc:"when regexp matches nothing: add the line before the last line matching this regexp, or at BOF"`
	Create       bool    `arg:"create" default:"false" doc:"create the file (and its directory) when absent; otherwise a missing file fails"`
	Backup       bool    `arg:"backup" default:"false" doc:"keep the old content as PATH.YYYYmmddTHHMMSS~ when it changes"`
	Backrefs     bool    `arg:"backrefs" default:"false" doc:"line may use \\1 or ${1} for regexp's groups; when regexp matches nothing the file is left alone"`
	FirstMatch   bool    `arg:"firstmatch" default:"false" doc:"use the first matching line for regexp/insertafter/insertbefore instead of the last"`
	FileAttrs

	re, ins *regexp.Regexp
}

// Validate checks the argument combinations and compiles the regexps.
func (m *LineInFile) Validate() error {
	if m.InsertAfter != "" && m.InsertBefore != "" {
		return &ArgError{Arg: "insertbefore", Msg: `give "insertafter" or "insertbefore", not both`}
	}
	var err error
	if m.Regexp != "" {
		if m.re, err = compileRE("regexp", m.Regexp); err != nil {
			return err
		}
	}
	switch {
	case m.InsertAfter != "" && m.InsertAfter != "EOF" && m.InsertAfter != "BOF":
		m.ins, err = compileRE("insertafter", m.InsertAfter)
	case m.InsertBefore != "" && m.InsertBefore != "BOF":
		m.ins, err = compileRE("insertbefore", m.InsertBefore)
	}
	if err != nil {
		return err
	}
	if m.State == "present" {
		if m.Line == nil {
			return &ArgError{Arg: "line", Msg: `state: present needs "line"`}
		}
		if m.Backrefs && m.re == nil {
			return &ArgError{Arg: "backrefs", Msg: `backrefs: true needs "regexp"`}
		}
	} else if m.re == nil && m.Line == nil {
		return &ArgError{Arg: "regexp", Msg: `state: absent needs "regexp" or "line"`}
	}
	return nil
}

func compileRE(arg, s string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, &ArgError{Arg: arg, Msg: fmt.Sprintf("argument %q: %v", arg, err),
			Hint: "regular expressions are Go's RE2 syntax: no backreferences (\\1) or lookaround ((?=...)) in a pattern"}
	}
	return re, nil
}

// Run edits the file.
func (m *LineInFile) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	// The stat and the read in one go: two round trips over SFTP.
	st, old, err := transport.StatRead(ctx, t, m.Path, math.MaxInt64)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", m.Path, err)
	}
	res := &Result{Data: map[string]any{"path": m.Path}}
	if st.IsDir {
		return failed(res, "%s is a directory", m.Path), nil
	}
	if st.Exists {
		if old == nil { // a link (or a special file): read what it gives
			if old, err = t.ReadFile(ctx, m.Path); err != nil {
				return nil, fmt.Errorf("read %s: %w", m.Path, err)
			}
		}
	} else {
		if m.State == "absent" {
			res.Msg = "file not present"
			return res, nil
		}
		if !m.Create {
			return failed(res, "file %s does not exist (create: true creates it)", m.Path), nil
		}
	}

	lines := splitKeepEnds(string(old))
	var msg string
	if m.State == "present" {
		lines, msg = m.present(lines)
	} else {
		var n int
		lines, n = m.absent(lines)
		res.Data["found"] = n
		if n > 0 {
			msg = fmt.Sprintf("%d line(s) removed", n)
		}
	}
	return finishEdit(ctx, t, res, fileWrite{Path: m.Path, Data: []byte(strings.Join(lines, "")), Attrs: m.FileAttrs, Backup: m.Backup}, st, old, msg)
}

// splitKeepEnds splits s into lines that keep their "\n".
func splitKeepEnds(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

func trimEOL(l string) string { return strings.TrimRight(l, "\r\n") }

// present applies Ansible's algorithm; msg is "" when nothing changed.
func (m *LineInFile) present(lines []string) ([]string, string) {
	line := *m.Line
	insertAfter, insertBefore := m.InsertAfter, m.InsertBefore
	if insertAfter == "" && insertBefore == "" {
		insertAfter = "EOF"
	}
	idxMatch, idxIns := -1, -1
	var match []int
	var matchText string
	// 1. The last (or first) line the regexp matches.
	if m.re != nil {
		for i, l := range lines {
			cur := strings.TrimSuffix(l, "\n")
			if loc := m.re.FindStringSubmatchIndex(cur); loc != nil {
				idxMatch, match, matchText = i, loc, cur
				if m.FirstMatch {
					break
				}
			}
		}
	}
	// 2. No match: look for the exact line and the insert point.
	if match == nil {
		for i, l := range lines {
			if trimEOL(l) == line {
				idxMatch = i
			} else if m.ins != nil && m.ins.MatchString(strings.TrimSuffix(l, "\n")) {
				if insertAfter != "" {
					idxIns = i + 1
				} else {
					idxIns = i
				}
				if m.FirstMatch {
					break
				}
			}
		}
	}

	switch {
	case idxMatch != -1:
		newLine := line
		if m.Backrefs && match != nil {
			newLine = string(m.re.ExpandString(nil, pythonTemplate(line), matchText, match))
		}
		if !strings.HasSuffix(newLine, "\n") {
			newLine += "\n"
		}
		if lines[idxMatch] != newLine {
			lines[idxMatch] = newLine
			return lines, "line replaced"
		}
		return lines, ""
	case m.Backrefs:
		// Without a match there are no groups to build the line from.
		return lines, ""
	case insertBefore == "BOF" || insertAfter == "BOF":
		return append([]string{line + "\n"}, lines...), "line added"
	case insertAfter == "EOF" || idxIns == -1:
		if n := len(lines); n > 0 && !strings.HasSuffix(lines[n-1], "\n") && !strings.HasSuffix(lines[n-1], "\r") {
			lines = append(lines, "\n")
		}
		return append(lines, line+"\n"), "line added"
	case insertAfter != "":
		if idxIns == len(lines) {
			if trimEOL(lines[idxIns-1]) != line {
				return append(lines, line+"\n"), "line added"
			}
			return lines, ""
		}
		if trimEOL(lines[idxIns]) != line {
			return insertAt(lines, idxIns, line+"\n"), "line added"
		}
		return lines, ""
	default:
		return insertAt(lines, idxIns, line+"\n"), "line added"
	}
}

// absent removes the matching lines and says how many it removed.
func (m *LineInFile) absent(lines []string) ([]string, int) {
	out := lines[:0:0]
	n := 0
	for _, l := range lines {
		var hit bool
		if m.re != nil {
			hit = m.re.MatchString(strings.TrimSuffix(l, "\n"))
		} else {
			hit = trimEOL(l) == *m.Line
		}
		if hit {
			n++
			continue
		}
		out = append(out, l)
	}
	return out, n
}

func insertAt(lines []string, i int, l string) []string {
	lines = append(lines, "")
	copy(lines[i+1:], lines[i:])
	lines[i] = l
	return lines
}

var (
	pyGroupRe = regexp.MustCompile(`\\(\d+)|\\g<(\w+)>`)
	goGroupRe = regexp.MustCompile(`\$\$\{(\w+)\}`)
)

// pythonTemplate turns a Python re.expand template (\1, \g<name>) into
// Go's (${1}, ${name}); a literal $ is kept.
func pythonTemplate(s string) string {
	s = strings.ReplaceAll(s, "$", "$$")
	// Go's own ${1} / ${name} were escaped above; restore them.
	s = goGroupRe.ReplaceAllString(s, "$${$1}")
	return pyGroupRe.ReplaceAllStringFunc(s, func(g string) string {
		sm := pyGroupRe.FindStringSubmatch(g)
		name := sm[1]
		if name == "" {
			name = sm[2]
		}
		return "${" + name + "}"
	})
}
