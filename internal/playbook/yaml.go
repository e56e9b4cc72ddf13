package playbook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pgplay/pgplay/internal/tmpl"

	"go.yaml.in/yaml/v3"
)

// This file holds the YAML plumbing shared by playbooks, roles, vars files
// and (through the exported helpers) the inventory: parsing into yaml.Node
// with positioned errors, and decoding values with pgplay's scalar rules.

// errAt returns an *Error at n's position in file.
func errAt(file string, n *yaml.Node, hint, format string, args ...any) *Error {
	return &Error{Pos: PosOf(file, n), Msg: fmt.Sprintf(format, args...), Hint: strings.TrimSpace(hint)}
}

// PosOf returns the position of n in file (line and column 1 when n is nil).
func PosOf(file string, n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: file, Line: 1, Col: 1}
	}
	return Pos{File: file, Line: n.Line, Col: n.Column}
}

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseYAML parses data (one YAML document) into a node tree. It returns the
// document's top node, or nil for an empty document. Syntax errors are
// *Error values at the line the YAML parser reports; a second document in
// the same file is an error.
func ParseYAML(file string, data []byte) (*yaml.Node, error) {
	if err := checkText(file, data); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlSyntaxError(file, data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, errAt(file, &extra,
			"put everything in one document: remove the second `---` line (and join the lists)",
			"more than one YAML document in the file")
	case !errors.Is(err, io.EOF):
		return nil, yamlSyntaxError(file, data, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	top := doc.Content[0]
	if top.Kind == yaml.ScalarNode && top.ShortTag() == "!!null" {
		return nil, nil
	}
	return top, nil
}

// MaxFileSize is the largest YAML file (playbook, task file, vars file,
// inventory) pgplay reads: they are small text files, and a bigger one is
// almost certainly the wrong file.
const MaxFileSize = 8 << 20

// CheckText refuses data that is too big or is not UTF-8 text, as the YAML
// reader does (the inventory's INI reader uses it too).
func CheckText(file string, data []byte) error { return checkText(file, data) }

// checkText refuses data that is too big or is not UTF-8 text (a binary
// file, or another encoding), before the YAML parser sees it.
func checkText(file string, data []byte) error {
	if len(data) > MaxFileSize {
		return &Error{Pos: Pos{File: file, Line: 1, Col: 1},
			Msg:  fmt.Sprintf("file is too large (%.1f MiB; pgplay reads YAML files of at most %d MiB)", float64(len(data))/(1<<20), MaxFileSize>>20),
			Hint: "check the path: playbooks, inventories and vars files are small text files"}
	}
	bad := bytes.IndexByte(data, 0)
	if bad < 0 && !utf8.Valid(data) {
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				bad = i
				break
			}
			i += n
		}
	}
	if bad < 0 {
		return nil
	}
	line := bytes.Count(data[:bad], []byte("\n")) + 1
	col := bad - (bytes.LastIndexByte(data[:bad], '\n') + 1) + 1
	return &Error{Pos: Pos{File: file, Line: line, Col: col},
		Msg:  fmt.Sprintf("not a text file: binary data (byte 0x%02x) where YAML text was expected", data[bad]),
		Hint: "check the path names a YAML file; save YAML files as UTF-8 text"}
}

// yamlSyntaxError turns a yaml.v3 error into an *Error. yaml.v3 gives only
// a line; the column is that of the line's first non-blank character.
func yamlSyntaxError(file string, data []byte, err error) error {
	msg := err.Error()
	line := 1
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	col := 1
	lines := strings.Split(string(data), "\n")
	if strings.Contains(msg, "tab") {
		// yaml.v3 reports the line of the enclosing context; point at the
		// first indentation tab from there on.
		for i := max(line-1, 0); i < len(lines); i++ {
			indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " \t"))]
			if j := strings.IndexByte(indent, '\t'); j >= 0 {
				return &Error{Pos: Pos{File: file, Line: i + 1, Col: j + 1}, Msg: "invalid YAML: " + msg, Hint: "indent YAML with spaces, not tabs"}
			}
		}
	}
	if line >= 1 && line <= len(lines) {
		text := lines[line-1]
		if i := strings.IndexByte(text, '\t'); i >= 0 && strings.TrimLeft(text[:i], " ") == "" {
			col = i + 1
		} else if j := len(text) - len(strings.TrimLeft(text, " \t")); j < len(text) {
			col = j + 1
		}
	}
	hint := "check the indentation and quoting on this line and the one above"
	switch {
	case strings.Contains(msg, "found character that cannot start any token") ||
		(line >= 1 && line <= len(lines) && strings.Contains(lines[line-1], "\t")):
		hint = "indent YAML with spaces, not tabs"
	case strings.Contains(msg, "mapping values are not allowed"):
		hint = "a value contains \": \"; quote the whole value, e.g. name: \"a: b\""
	case strings.Contains(msg, "did not find expected key"), strings.Contains(msg, "did not find expected '-'"):
		hint = "this line is not indented like its siblings; align it with the keys above"
	case strings.Contains(msg, "unknown anchor"):
		hint = "define the anchor (&name) before using the alias (*name)"
	case strings.Contains(msg, "found unexpected end of stream"), strings.Contains(msg, "did not find expected"):
		hint = "a quote or bracket is not closed"
	case strings.Contains(msg, "{{"), strings.Contains(msg, "found unhashable key"), strings.Contains(msg, "did not find expected node content"):
		hint = "a value starting with {{ must be quoted: \"{{ ... }}\""
	}
	return &Error{Pos: Pos{File: file, Line: line, Col: col}, Msg: "invalid YAML: " + msg, Hint: hint}
}

// deref follows alias nodes to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return deref(n.Content[0])
	}
	return n
}

// pair is one key/value of a mapping.
type pair struct {
	Key string
	K   *yaml.Node // the key node (its position is where the key was written)
	V   *yaml.Node // the value, aliases resolved
}

// pairs returns the entries of mapping node n in order, with merge keys
// (<<: *anchor) expanded (explicit keys win) and duplicate keys rejected.
func pairs(file string, n *yaml.Node) ([]pair, error) {
	n = deref(n)
	var out []pair
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		rk := deref(k)
		if rk.Kind == yaml.MappingNode && rk.Style&yaml.FlowStyle != 0 && n.Style&yaml.FlowStyle != 0 && k.Line == n.Line && k.Column == n.Column+1 {
			// {{ .x }} unquoted: a flow mapping whose key is a flow mapping.
			return nil, errAt(file, n, "a value starting with {{ must be quoted: \"{{ ... }}\"",
				"unquoted template: YAML reads {{ ... }} as a mapping")
		}
		if rk.Kind != yaml.ScalarNode {
			return nil, errAt(file, k, "keys must be plain names; quote the key if it must hold brackets or braces",
				"a mapping key must be a string, not a %s", kindName(rk))
		}
		if first, dup := seen[rk.Value]; dup {
			return nil, errAt(file, k, "remove one of the two, or rename it",
				"key %q is given twice (first at line %d)", rk.Value, first.Line)
		}
		seen[rk.Value] = k
		out = append(out, pair{Key: rk.Value, K: k, V: v})
	}
	for _, m := range merges {
		var srcs []*yaml.Node
		switch m.Kind {
		case yaml.MappingNode:
			srcs = []*yaml.Node{m}
		case yaml.SequenceNode:
			for _, s := range m.Content {
				srcs = append(srcs, deref(s))
			}
		default:
			return nil, errAt(file, m, "a merge key takes an alias of a mapping: <<: *defaults", "<< must merge a mapping")
		}
		for _, s := range srcs {
			if s.Kind != yaml.MappingNode {
				return nil, errAt(file, s, "a merge key takes an alias of a mapping: <<: *defaults", "<< must merge a mapping")
			}
			ps, err := pairs(file, s)
			if err != nil {
				return nil, err
			}
			for _, p := range ps {
				if _, ok := seen[p.Key]; ok {
					continue
				}
				seen[p.Key] = p.K
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func kindName(n *yaml.Node) string {
	n = deref(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "boolean"
		case "!!int", "!!float":
			return "number"
		}
		return "string"
	}
	return "value"
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// maxValueNodes bounds how many nodes one DecodeValue may visit, so that
// nested aliases cannot blow up ("billion laughs").
const maxValueNodes = 1 << 20

type valueDecoder struct {
	file  string
	nodes int
}

// DecodeValue decodes a YAML value with pgplay's rules: mappings become
// map[string]any, lists []any, null nil, true/false bool, integers int,
// floats float64, and everything else a string. Integers written with a
// leading zero (mode: 0644, 0o755) stay strings as written, so file modes
// keep their meaning; yes/no/on/off stay strings (YAML 1.2).
func DecodeValue(file string, n *yaml.Node) (any, error) {
	d := &valueDecoder{file: file}
	return d.value(n)
}

// DecodeVars decodes a mapping of variables (null gives an empty map).
func DecodeVars(file string, n *yaml.Node, what string) (map[string]any, error) {
	if isNull(n) {
		return map[string]any{}, nil
	}
	if deref(n).Kind != yaml.MappingNode {
		return nil, errAt(file, n, "write variables as a mapping: `name: value` lines indented under the key",
			"%s must be a mapping of variables, not a %s", what, kindName(n))
	}
	v, err := DecodeValue(file, n)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

func (d *valueDecoder) value(n *yaml.Node) (any, error) {
	orig := n
	n = deref(n)
	d.nodes++
	if d.nodes > maxValueNodes {
		return nil, errAt(d.file, orig, "use fewer nested aliases", "value is too large (aliases expand to more than %d nodes)", maxValueNodes)
	}
	if n == nil {
		return nil, nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return scalarValue(n), nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := d.value(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		ps, err := pairs(d.file, n)
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(ps))
		for _, p := range ps {
			v, err := d.value(p.V)
			if err != nil {
				return nil, err
			}
			out[p.Key] = v
		}
		return out, nil
	}
	return nil, errAt(d.file, orig, "", "unsupported YAML node")
}

// leadingZero says whether an integer literal is written with a leading
// zero followed by more digits (0644) or as a YAML 1.2 octal (0o644).
func leadingZero(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return len(s) > 1 && s[0] == '0' && (s[1] >= '0' && s[1] <= '9' || s[1] == 'o' || s[1] == '_')
}

func scalarValue(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return b
		}
	case "!!int":
		if leadingZero(n.Value) {
			return n.Value
		}
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return int(i)
		}
	case "!!float":
		if leadingZero(n.Value) && !strings.ContainsAny(n.Value, ".eE") {
			return n.Value
		}
		var f float64
		if err := n.Decode(&f); err == nil {
			return f
		}
	}
	return n.Value
}

// --- typed keyword helpers -------------------------------------------------

// scalarString returns a scalar's text; null gives "".
func scalarString(file string, n *yaml.Node, key string) (string, error) {
	n = deref(n)
	if isNull(n) {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", errAt(file, n, "write it as a single value on the same line as the key",
			"%s must be a string, not a %s", key, kindName(n))
	}
	return n.Value, nil
}

// requiredString is scalarString that rejects an empty value.
func requiredString(file string, n *yaml.Node, key, hint string) (string, error) {
	s, err := scalarString(file, n, key)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", errAt(file, n, hint, "%s is empty", key)
	}
	return s, nil
}

// boolValue accepts true/false and Ansible's yes/no/on/off for keywords.
func boolValue(file string, n *yaml.Node, key string) (bool, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true", "yes", "on":
			return true, nil
		case "false", "no", "off":
			return false, nil
		}
	}
	hint := "write true or false"
	if strings.Contains(n.Value, "{{") {
		hint = "a template is not allowed here; write true or false (use `when:` to decide at run time)"
	}
	return false, errAt(file, n, hint, "%s must be true or false, not %s", key, describe(n))
}

func boolPtr(file string, n *yaml.Node, key string) (*bool, error) {
	b, err := boolValue(file, n, key)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

func describe(n *yaml.Node) string {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		return strconv.Quote(n.Value)
	}
	return "a " + kindName(n)
}

// templateScalar returns a string scalar that holds a template.
func templateScalar(n *yaml.Node) (string, bool) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && strings.Contains(n.Value, "{{") {
		return n.Value, true
	}
	return "", false
}

// ParseRetries reads a retries: value: a non-negative whole number.
func ParseRetries(s string) (int, bool) {
	i, err := strconv.Atoi(strings.TrimSpace(s))
	return i, err == nil && i >= 0
}

// ParseDelay reads a delay: value: seconds (5, 1.5) or a Go duration
// ("500ms", "2m"), not negative.
func ParseDelay(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if i, err := strconv.Atoi(s); err == nil && i >= 0 {
		return time.Duration(i) * time.Second, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 {
		return time.Duration(f * float64(time.Second)), true
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, true
	}
	return 0, false
}

// intValue reads a non-negative integer.
func intValue(file string, n *yaml.Node, key string) (int, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode {
		if i, ok := ParseRetries(n.Value); ok {
			return i, nil
		}
	}
	hint := "write a whole number such as 3, or a template giving one: \"{{ .n }}\""
	if key == "throttle" {
		hint = "write a whole number such as 1 (0: as many hosts as --forks)"
	}
	return 0, errAt(file, n, hint, "%s must be a non-negative integer, not %s", key, describe(n))
}

// durationValue reads seconds (int) or a Go duration string ("500ms", "1m").
func durationValue(file string, n *yaml.Node, key string) (time.Duration, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode {
		if d, ok := ParseDelay(n.Value); ok {
			return d, nil
		}
	}
	return 0, errAt(file, n, "write seconds (5) or a duration (\"500ms\", \"2m\"), or a template giving one: \"{{ .d }}\"", "%s must be a duration, not %s", key, describe(n))
}

// stringList reads a string or a list of strings; null gives nil.
func stringList(file string, n *yaml.Node, key string) ([]string, error) {
	n = deref(n)
	if isNull(n) {
		return nil, nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			c = deref(c)
			if c.Kind != yaml.ScalarNode || isNull(c) {
				return nil, errAt(file, c, "each item must be a plain string", "%s must be a list of strings; this item is %s", key, describe(c))
			}
			out = append(out, c.Value)
		}
		return out, nil
	}
	return nil, errAt(file, n, "write a string, or a list of strings (`- a` lines)", "%s must be a string or a list of strings, not a %s", key, kindName(n))
}

// conditions reads when/changed_when/failed_when/until: a string, a bool, or
// a list of those.
func conditions(file string, n *yaml.Node, key string) ([]string, error) {
	n = deref(n)
	one := func(c *yaml.Node) (string, error) {
		c = deref(c)
		if c.Kind != yaml.ScalarNode || isNull(c) {
			return "", errAt(file, c, "a condition is a pipeline such as: eq .pg_role \"primary\"",
				"%s must be a condition (string or true/false), not %s", key, describe(c))
		}
		if c.ShortTag() == "!!bool" {
			b, _ := strconv.ParseBool(c.Value)
			return strconv.FormatBool(b), nil
		}
		if strings.TrimSpace(c.Value) == "" {
			return "", errAt(file, c, "write a condition, or remove the key", "%s is empty", key)
		}
		return c.Value, nil
	}
	if n.Kind == yaml.SequenceNode {
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			s, err := one(c)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := one(n)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// --- suggestions -------------------------------------------------------------

// Suggest returns the candidates closest to name by edit distance (at most
// a third of the name's length, and at least 1 edit), best first.
func Suggest(name string, candidates []string) []string {
	type scored struct {
		s string
		d int
	}
	limit := max(1, len(name)/3)
	var out []scored
	for _, c := range candidates {
		if d := tmpl.Distance(strings.ToLower(name), strings.ToLower(c)); d <= limit {
			out = append(out, scored{c, d})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].d != out[j].d {
			return out[i].d < out[j].d
		}
		return out[i].s < out[j].s
	})
	names := make([]string, 0, len(out))
	for i, s := range out {
		if i == 3 {
			break
		}
		names = append(names, s.s)
	}
	return names
}

// didYouMean formats suggestions as a hint prefix ("" when none).
func didYouMean(name string, candidates []string) string {
	s := Suggest(name, candidates)
	if len(s) == 0 {
		return ""
	}
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return "did you mean " + strings.Join(q, " or ") + "? "
}
