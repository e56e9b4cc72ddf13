package tmpl

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// Error is a template or condition that could not be parsed or executed,
// translated from Go's terms into a user's.
type Error struct {
	// Name is the name the caller gave: "file:line task NAME" or a path.
	Name string
	// Key is, for RenderValue, where in the value the string sat
	// (e.g. "dest" or "env.PGDATA"); "" otherwise.
	Key string
	// Line is the line within the template text (1-based), 0 if unknown.
	Line int
	// Msg says what is wrong; Snippet shows the offending text.
	Msg     string
	Snippet string
	// Hint says what to do.
	Hint string
	// Err is Go's original error.
	Err error
	// multiline is true when the template had more than one line, so the
	// line number is worth showing.
	multiline bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Name)
	if e.Key != "" && e.Key != "_raw" { // _raw: the free-form `command: ...` text
		fmt.Fprintf(&b, " (argument %q)", e.Key)
	}
	if e.Line > 0 && e.multiline {
		fmt.Fprintf(&b, ", template line %d", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Snippet != "" {
		b.WriteString("\n  in: ")
		b.WriteString(e.Snippet)
	}
	if e.Hint != "" {
		b.WriteString("\n  hint: ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns Go's original error.
func (e *Error) Unwrap() error { return e.Err }

var (
	execRe   = regexp.MustCompile(`(?s)^template: [^:]*:(\d+):(\d+): executing "[^"]*" at <(.*?)>: (.*)$`)
	parseRe  = regexp.MustCompile(`(?s)^template: [^:]*:(\d+):(?:\d+:)? (.*)$`)
	noKeyRe  = regexp.MustCompile(`^map has no entry for key "(.*)"$`)
	nilRe    = regexp.MustCompile(`^nil pointer evaluating [^.]*\.(\w+)$`)
	fieldRe  = regexp.MustCompile(`^can't evaluate field (\w+) in type (.+)$`)
	callRe   = regexp.MustCompile(`(?s)^error calling (\w+): (.*)$`)
	noFuncRe = regexp.MustCompile(`^function "(\w+)" not defined$`)
	pathRe   = regexp.MustCompile(`^((?:\.\w+)*)\.(\w+)$`)
)

// translate turns a text/template error into an *Error. text is the
// template as the user wrote it (for line lookups); cond is set for a
// `when:` condition (written without braces), src being the condition.
func translate(name, text, src string, cond bool, vars map[string]any, err error) error {
	te := &Error{Name: name, Err: err, multiline: strings.Contains(strings.TrimSpace(text), "\n")}
	msg := err.Error()
	if m := execRe.FindStringSubmatch(msg); m != nil {
		te.Line, _ = strconv.Atoi(m[1])
		node := strings.TrimSpace(m[3])
		te.Snippet = "{{ " + node + " }}"
		if cond {
			te.Snippet = src
		}
		execMessage(te, node, m[4], cond, vars)
		return te
	}
	var ee template.ExecError
	if errors.As(err, &ee) {
		te.Msg = msg
		return te
	}
	if m := parseRe.FindStringSubmatch(msg); m != nil {
		te.Line, _ = strconv.Atoi(m[1])
		te.Snippet = lineOf(text, te.Line)
		if te.Snippet == "" || cond {
			te.Snippet = src
		}
		parseMessage(te, text, m[2], cond)
		return te
	}
	te.Msg = msg
	return te
}

// execMessage fills Msg and Hint for an execution error at node.
func execMessage(te *Error, node, goMsg string, cond bool, vars map[string]any) {
	if m := noKeyRe.FindStringSubmatch(goMsg); m != nil {
		key := m[1]
		parent := "."
		if pm := pathRe.FindStringSubmatch(node); pm != nil && pm[1] != "" {
			parent = pm[1]
		}
		if parent == "." && FactHint(key) != "" {
			te.Msg = fmt.Sprintf("undefined variable %q", key)
			te.Hint = FactHint(key)
			return
		}
		if parent == "." {
			te.Msg = fmt.Sprintf("undefined variable %q", key)
			if near := yamlsrc.Suggest(key, slices.Collect(maps.Keys(vars))); len(near) > 0 {
				te.Hint = fmt.Sprintf("did you mean .%s? Otherwise ", near[0])
			}
			if cond {
				te.Hint += fmt.Sprintf(`define it in the inventory, play vars or -e, or guard with: and (hasKey . %q) .%s`, key, key)
			} else {
				te.Hint += fmt.Sprintf(`define it in the inventory, play vars or -e, or guard with: {{ if hasKey . %q }}…{{ end }}, or give a default: {{ get . %q | default "v" }}`, key, key)
			}
		} else {
			te.Msg = fmt.Sprintf("%s has no key %q", parent, key)
			te.Hint = fmt.Sprintf(`check the spelling, or guard with: {{ if hasKey %s %q }}…{{ end }}, or give a default: {{ get %s %q | default "v" }}`, parent, key, parent, key)
		}
		return
	}
	if m := nilRe.FindStringSubmatch(goMsg); m != nil {
		parent := node
		if pm := pathRe.FindStringSubmatch(node); pm != nil && pm[1] != "" {
			parent = pm[1]
		}
		te.Msg = fmt.Sprintf("%s has no value (null), so it has no key %q", parent, m[1])
		te.Hint = fmt.Sprintf("give %s a value, or guard with: {{ with %s }}{{ .%s }}{{ end }}", parent, parent, m[1])
		return
	}
	if m := fieldRe.FindStringSubmatch(goMsg); m != nil {
		parent := node
		if pm := pathRe.FindStringSubmatch(node); pm != nil && pm[1] != "" {
			parent = pm[1]
		}
		kind := m[2]
		if v, ok := lookupPath(vars, parent); ok {
			kind = describe(v)
		}
		te.Msg = fmt.Sprintf("%s is %s, not a map: it has no key %q", parent, kind, m[1])
		te.Hint = "check the variable's value: only maps have keys"
		return
	}
	if m := callRe.FindStringSubmatch(goMsg); m != nil {
		te.Msg = m[1] + ": " + m[2]
	} else {
		te.Msg = goMsg
	}
	if strings.Contains(goMsg, "incompatible types for comparison") {
		te.Hint = compareHint(node)
	}
}

var compareRe = regexp.MustCompile(`^(eq|ne|lt|le|gt|ge)\s+(\S+)\s+"(-?\d+(?:\.\d+)?)"$`)

// compareHint says how to compare values of two types, for node (the
// failing comparison, e.g. `eq .port "8080"`).
func compareHint(node string) string {
	if m := compareRe.FindStringSubmatch(strings.TrimSpace(node)); m != nil {
		return fmt.Sprintf(`%s is a number and "%s" a string, which Go templates do not compare: write %s %s %s (a number is not quoted), or %s (toString %s) "%s"`,
			m[2], m[3], m[1], m[2], m[3], m[1], m[2], m[3])
	}
	return `compare values of one type: eq (toString .x) "5", or eq (int .x) 5 (a number is not quoted)`
}

// parseMessage fills Msg and Hint for a syntax error.
func parseMessage(te *Error, text, goMsg string, cond bool) {
	te.Msg = "template syntax error: " + goMsg
	const goTmpl = "pgplay templates are Go text/template"
	line := te.Snippet
	switch {
	case strings.Contains(text, "{%"):
		te.Hint = goTmpl + `: Jinja statements {% … %} do not exist; write {{ if .x }}…{{ else }}…{{ end }} or {{ range .list }}…{{ end }}`
		if h := idiomHint(text); h != "" {
			te.Hint += "; " + h
		}
		return
	}
	idioms := idiomHint(line)
	if cond {
		line = "{{ " + line + " }}"
	}
	if s, ok := suggest(line); ok {
		d := defaultGuard(s)
		if cond {
			s = strings.TrimSuffix(strings.TrimPrefix(s, "{{ "), " }}")
			d = strings.TrimSuffix(strings.TrimPrefix(d, "{{ "), " }}")
		}
		te.Hint = goTmpl + ": write " + s
		if d != "" {
			te.Hint += "; if it may be undefined: " + d
		}
		if idioms != "" {
			te.Hint += " (docs/templates.md maps Jinja to pgplay's templates)"
		}
		if f := factIn(s); f != "" {
			te.Hint += "; " + f
		}
		return
	}
	if idioms != "" {
		te.Hint = goTmpl + ": " + idioms
		return
	}
	if m := noFuncRe.FindStringSubmatch(goMsg); m != nil {
		te.Msg = fmt.Sprintf("unknown function %q", m[1])
		te.Hint = fmt.Sprintf("variables start with a dot: write .%s (pgplay templates are Go text/template); functions are Go's and sprig's", m[1])
		return
	}
	switch {
	case strings.Contains(goMsg, `"="`) || strings.Contains(line, "=="):
		te.Hint = goTmpl + ": compare with functions: eq .a .b, ne .a .b, lt .a .b"
	case strings.Contains(goMsg, "U+0027"):
		te.Hint = goTmpl + `: strings are written in double quotes ("text") or backquotes`
	case strings.Contains(goMsg, `"["`):
		te.Hint = goTmpl + `: index a map or list with: index .x "key" (or .x.key)`
	case strings.Contains(goMsg, "unclosed action"):
		te.Hint = "every {{ needs a closing }}"
	case strings.Contains(goMsg, "unexpected EOF"):
		te.Hint = "a {{ if }}, {{ range }} or {{ with }} is missing its {{ end }}"
	case strings.Contains(goMsg, "unexpected {{end}}"):
		te.Hint = "this {{ end }} has no {{ if }}, {{ range }} or {{ with }} to close"
	default:
		te.Hint = goTmpl + ": see https://pkg.go.dev/text/template (variables start with a dot: {{ .x }}; filters are functions: {{ .x | default 1 }})"
	}
}

// lineOf returns line n (1-based) of text, trimmed and shortened.
func lineOf(text string, n int) string {
	ls := strings.Split(text, "\n")
	if n < 1 || n > len(ls) {
		return ""
	}
	s := strings.TrimSpace(ls[n-1])
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

var actionRe = regexp.MustCompile(`\{\{-?\s*(.*?)\s*-?\}\}`)

// checkFuncs is the function map used to test suggestions: sprig's and ours.
var checkFuncs = allFuncs()

// suggest rewrites the first Jinja-looking action of line into Go template
// syntax, and returns it if it parses.
func suggest(line string) (string, bool) {
	for _, m := range actionRe.FindAllStringSubmatch(line, -1) {
		orig := m[1]
		if parses(orig) {
			continue
		}
		r := rewriteJinja(orig)
		// Piping into a field (`.x | .to_yaml`) is never what a
		// Jinja filter meant: no suggestion is better than that one.
		if r != orig && parses(r) && !strings.Contains(r, "| .") && !jinjaWordRe.MatchString(r) {
			return "{{ " + r + " }}", true
		}
		return "", false
	}
	return "", false
}

// jinjaWordRe finds a Jinja keyword that a rewrite took for a variable
// (`x is string` -> `.x .is .string`): such a rewrite is wrong.
var jinjaWordRe = regexp.MustCompile(`\.(is|in|if|else|not)\b`)

func parses(action string) bool {
	_, err := template.New("s").Funcs(checkFuncs).Parse("{{ " + action + " }}")
	return err == nil
}

var (
	filterCallRe = regexp.MustCompile(`\|\s*([A-Za-z_]\w*)\s*\(([^()]*)\)`)
	squoteRe     = regexp.MustCompile(`'([^'"]*)'`)
	binOpRe      = regexp.MustCompile(`^(\S+)\s*(==|!=|>=|<=|>|<|\band\b|\bor\b)\s*(\S+)$`)
	goKeywords   = map[string]bool{"true": true, "false": true, "nil": true, "if": true, "else": true,
		"end": true, "range": true, "with": true, "and": true, "or": true, "not": true, "len": true,
		"index": true, "print": true, "printf": true, "println": true, "eq": true, "ne": true,
		"lt": true, "le": true, "gt": true, "ge": true, "slice": true, "call": true}
)

// rewriteJinja makes a best-effort Go template version of a Jinja action.
func rewriteJinja(s string) string {
	s = rewriteIdioms(s)
	s = squoteRe.ReplaceAllString(s, `"$1"`)
	s = filterCallRe.ReplaceAllStringFunc(s, func(m string) string {
		sm := filterCallRe.FindStringSubmatch(m)
		args := splitArgs(sm[2])
		if len(args) == 0 {
			return "| " + sm[1]
		}
		return "| " + sm[1] + " " + strings.Join(args, " ")
	})
	s = dotIdents(s)
	if m := binOpRe.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
		fn := map[string]string{"==": "eq", "!=": "ne", ">=": "ge", "<=": "le", ">": "gt", "<": "lt", "and": "and", "or": "or"}[m[2]]
		s = fn + " " + m[1] + " " + m[3]
	}
	return s
}

// dotIdents prefixes bare identifiers that are not functions with a dot.
func dotIdents(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '`':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' && c == '"' {
					j++
				}
				j++
			}
			if j < len(s) {
				j++
			}
			j = min(j, len(s)) // an escape at the end of an unclosed string
			b.WriteString(s[i:j])
			i = j
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(s) && (s[j] == '_' || s[j] == '.' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			word := s[i:j]
			first, _, _ := strings.Cut(word, ".")
			prev := byte(' ')
			if i > 0 {
				prev = s[i-1]
			}
			_, isFunc := checkFuncs[first]
			if prev != '.' && prev != '$' && !isFunc && !goKeywords[first] {
				b.WriteByte('.')
			}
			b.WriteString(word)
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

var defaultPathRe = regexp.MustCompile(`^\{\{ ((?:\.\w+)*)\.(\w+) \| default (.+) \}\}$`)

// defaultGuard turns "{{ .a.b | default X }}" into "{{ get .a "b" | default X }}",
// which works when b is undefined (missingkey=error makes .a.b fail first).
func defaultGuard(s string) string {
	m := defaultPathRe.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	parent := m[1]
	if parent == "" {
		parent = "."
	}
	return fmt.Sprintf("{{ get %s %q | default %s }}", parent, m[2], m[3])
}

// splitArgs splits a Jinja argument list on the commas outside quotes.
func splitArgs(s string) []string {
	var out []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote = c
			cur.WriteByte(c)
		case c == ',':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if last := strings.TrimSpace(cur.String()); last != "" || len(out) > 0 {
		out = append(out, last)
	}
	return out
}

// lookupPath finds the value at a path like ".a.b" in vars.
func lookupPath(vars map[string]any, path string) (any, bool) {
	var cur any = vars
	for _, k := range strings.Split(strings.TrimPrefix(path, "."), ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// describe names the kind of a value for a message.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("a string (%q)", x)
	case int, int64, float64:
		return fmt.Sprintf("a number (%v)", x)
	case bool:
		return fmt.Sprintf("a boolean (%v)", x)
	case []any:
		return "a list"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("a %T", v)
	}
}
