package yamlsrc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseYAML parses data (one YAML document) into a node tree. It returns the
// document's top node, or nil for an empty document. Syntax errors are
// *Error values at the line the YAML parser reports; a second document in
// the same file is an error.
func ParseYAML(file string, data []byte) (*yaml.Node, error) {
	if err := CheckText(file, data); err != nil {
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
		return nil, ErrAt(file, &extra,
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

// CheckText refuses data that is too big or is not UTF-8 text (a binary
// file, or another encoding), before a parser sees it: ParseYAML calls it,
// and so does the inventory's INI reader.
func CheckText(file string, data []byte) error {
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

// Deref follows alias nodes to the node they name (and a document node
// to its only child).
func Deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return Deref(n.Content[0])
	}
	return n
}

// Pair is one key/value of a mapping.
type Pair struct {
	Key string
	K   *yaml.Node // the key node (its position is where the key was written)
	V   *yaml.Node // the value, aliases resolved
}

// Pairs returns the entries of mapping node n in order, with merge keys
// (<<: *anchor) expanded (explicit keys win) and duplicate keys rejected.
func Pairs(file string, n *yaml.Node) ([]Pair, error) {
	return pairs(file, n, map[*yaml.Node]bool{})
}

// pairs is Pairs; expanding holds the mappings whose merge keys are being
// expanded, so that a mapping merged into itself (&m {<<: *m}) is an
// error, not an endless recursion.
func pairs(file string, n *yaml.Node, expanding map[*yaml.Node]bool) ([]Pair, error) {
	n = Deref(n)
	expanding[n] = true
	defer delete(expanding, n)
	var out []Pair
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], Deref(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		rk := Deref(k)
		if rk.Kind == yaml.MappingNode && rk.Style&yaml.FlowStyle != 0 && n.Style&yaml.FlowStyle != 0 && k.Line == n.Line && k.Column == n.Column+1 {
			// {{ .x }} unquoted: a flow mapping whose key is a flow mapping.
			return nil, ErrAt(file, n, "a value starting with {{ must be quoted: \"{{ ... }}\"",
				"unquoted template: YAML reads {{ ... }} as a mapping")
		}
		if rk.Kind != yaml.ScalarNode {
			return nil, ErrAt(file, k, "keys must be plain names; quote the key if it must hold brackets or braces",
				"a mapping key must be a string, not a %s", KindName(rk))
		}
		if first, dup := seen[rk.Value]; dup {
			return nil, ErrAt(file, k, "remove one of the two, or rename it",
				"key %q is given twice (first at line %d)", rk.Value, first.Line)
		}
		seen[rk.Value] = k
		out = append(out, Pair{Key: rk.Value, K: k, V: v})
	}
	for _, m := range merges {
		var srcs []*yaml.Node
		switch m.Kind {
		case yaml.MappingNode:
			srcs = []*yaml.Node{m}
		case yaml.SequenceNode:
			for _, s := range m.Content {
				srcs = append(srcs, Deref(s))
			}
		default:
			return nil, ErrAt(file, m, "a merge key takes an alias of a mapping: <<: *defaults", "<< must merge a mapping")
		}
		for _, s := range srcs {
			if s.Kind != yaml.MappingNode {
				return nil, ErrAt(file, s, "a merge key takes an alias of a mapping: <<: *defaults", "<< must merge a mapping")
			}
			if expanding[s] {
				return nil, ErrAt(file, m, "merge another mapping, not the one the merge key is in",
					"<< merges a mapping into itself (its anchor is used inside it)")
			}
			ps, err := pairs(file, s, expanding)
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

// KindName names the kind of n's value for an error message: mapping,
// list, null, boolean, number, string.
func KindName(n *yaml.Node) string {
	n = Deref(n)
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

// IsNull says whether n is absent or a YAML null.
func IsNull(n *yaml.Node) bool {
	n = Deref(n)
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
	if IsNull(n) {
		return map[string]any{}, nil
	}
	if Deref(n).Kind != yaml.MappingNode {
		return nil, ErrAt(file, n, "write variables as a mapping: `name: value` lines indented under the key",
			"%s must be a mapping of variables, not a %s", what, KindName(n))
	}
	v, err := DecodeValue(file, n)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

func (d *valueDecoder) value(n *yaml.Node) (any, error) {
	orig := n
	n = Deref(n)
	d.nodes++
	if d.nodes > maxValueNodes {
		return nil, ErrAt(d.file, orig, "use fewer nested aliases", "value is too large (aliases expand to more than %d nodes)", maxValueNodes)
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
		ps, err := Pairs(d.file, n)
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
	return nil, ErrAt(d.file, orig, "", "unsupported YAML node")
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

// String reads the value of key (node n) as a scalar's text; null gives "".
func String(file string, n *yaml.Node, key string) (string, error) {
	n = Deref(n)
	if IsNull(n) {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", ErrAt(file, n, "write it as a single value on the same line as the key",
			"%s must be a string, not a %s", key, KindName(n))
	}
	return n.Value, nil
}

// RequiredString is String that rejects an empty value (hint says what to
// write).
func RequiredString(file string, n *yaml.Node, key, hint string) (string, error) {
	s, err := String(file, n, key)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", ErrAt(file, n, hint, "%s is empty", key)
	}
	return s, nil
}

// Bool reads a keyword's true/false, accepting Ansible's yes/no/on/off.
func Bool(file string, n *yaml.Node, key string) (bool, error) {
	n = Deref(n)
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
	return false, ErrAt(file, n, hint, "%s must be true or false, not %s", key, Describe(n))
}

// Describe shows n's value for an error message: a scalar quoted, else
// its kind ("a mapping").
func Describe(n *yaml.Node) string {
	n = Deref(n)
	if n.Kind == yaml.ScalarNode && !IsNull(n) {
		return strconv.Quote(n.Value)
	}
	return "a " + KindName(n)
}

// StringList reads a string or a list of strings; null gives nil.
func StringList(file string, n *yaml.Node, key string) ([]string, error) {
	n = Deref(n)
	if IsNull(n) {
		return nil, nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			c = Deref(c)
			if c.Kind != yaml.ScalarNode || IsNull(c) {
				return nil, ErrAt(file, c, "each item must be a plain string", "%s must be a list of strings; this item is %s", key, Describe(c))
			}
			out = append(out, c.Value)
		}
		return out, nil
	}
	return nil, ErrAt(file, n, "write a string, or a list of strings (`- a` lines)", "%s must be a string or a list of strings, not a %s", key, KindName(n))
}
