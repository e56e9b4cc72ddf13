package inventory

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// iniValue gives an INI inventory value the type Ansible gives it: Python's
// ast.literal_eval of the text (numbers, True/False/None, quoted strings,
// lists, tuples, dicts), or the text itself when that fails. So port=22 is
// a number, x='a b' a string, become=true the string "true" (Ansible reads
// it as a boolean where one is wanted, as pgplay does).
func iniValue(s string) any {
	p := &pyParser{s: s}
	v, err := p.top()
	if err != nil {
		return s
	}
	return v
}

var errNotLiteral = errors.New("not a Python literal")

type pyParser struct {
	s   string
	pos int
}

func (p *pyParser) top() (any, error) {
	if strings.HasPrefix(p.s, " ") || strings.HasPrefix(p.s, "\t") {
		return nil, errNotLiteral // Python: unexpected indent
	}
	v, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.peek() == ',' { // 1, 2 is a tuple
		items := []any{v}
		for p.peek() == ',' {
			p.pos++
			p.space()
			if p.eof() {
				break
			}
			x, err := p.expr()
			if err != nil {
				return nil, err
			}
			items = append(items, x)
			p.space()
		}
		v = items
	}
	p.space()
	if !p.eof() {
		return nil, errNotLiteral
	}
	return v, nil
}

func (p *pyParser) eof() bool { return p.pos >= len(p.s) }

func (p *pyParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.pos]
}

// space skips blanks and a # comment.
func (p *pyParser) space() {
	for !p.eof() {
		switch p.s[p.pos] {
		case ' ', '\t', '\f':
			p.pos++
		case '#':
			p.pos = len(p.s)
		default:
			return
		}
	}
}

func (p *pyParser) expr() (any, error) {
	p.space()
	switch c := p.peek(); {
	case c == '[':
		p.pos++
		return p.seq(']')
	case c == '(':
		p.pos++
		p.space()
		if p.peek() == ')' {
			p.pos++
			return []any{}, nil
		}
		first, err := p.expr()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.peek() == ')' { // (x) is x
			p.pos++
			return first, nil
		}
		if p.peek() != ',' {
			return nil, errNotLiteral
		}
		p.pos++
		rest, err := p.seq(')')
		if err != nil {
			return nil, err
		}
		return append([]any{first}, rest.([]any)...), nil
	case c == '{':
		p.pos++
		return p.dict()
	case c == '\'' || c == '"':
		return p.strLits()
	case c == '-' || c == '+':
		p.pos++
		p.space()
		v, err := p.number()
		if err != nil {
			return nil, err
		}
		if c == '-' {
			switch n := v.(type) {
			case int:
				return -n, nil
			case float64:
				return -n, nil
			}
		}
		return v, nil
	case c >= '0' && c <= '9' || c == '.':
		return p.number()
	case c == 'r' || c == 'R' || c == 'u' || c == 'U' || c == 'b' || c == 'B':
		if p.pos+1 < len(p.s) && (p.s[p.pos+1] == '\'' || p.s[p.pos+1] == '"') {
			return p.strLits()
		}
	}
	for _, kw := range []struct {
		word string
		v    any
	}{{"True", true}, {"False", false}, {"None", nil}} {
		if strings.HasPrefix(p.s[p.pos:], kw.word) {
			end := p.pos + len(kw.word)
			if end == len(p.s) || !isIdent(p.s[end]) {
				p.pos = end
				return kw.v, nil
			}
		}
	}
	return nil, errNotLiteral
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// seq reads items up to close (the opening bracket is read).
func (p *pyParser) seq(close byte) (any, error) {
	items := []any{}
	for {
		p.space()
		if p.peek() == close {
			p.pos++
			return items, nil
		}
		v, err := p.expr()
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		p.space()
		switch p.peek() {
		case ',':
			p.pos++
		case close:
		default:
			return nil, errNotLiteral
		}
	}
}

// dict reads a dict or a set (the { is read). A set becomes a list.
func (p *pyParser) dict() (any, error) {
	m := map[string]any{}
	var set []any
	for {
		p.space()
		if p.peek() == '}' {
			p.pos++
			if set != nil {
				return set, nil
			}
			return m, nil
		}
		k, err := p.expr()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.peek() == ':' && set == nil {
			p.pos++
			v, err := p.expr()
			if err != nil {
				return nil, err
			}
			switch k.(type) {
			case map[string]any, []any:
				return nil, errNotLiteral // unhashable (or a tuple key: rare)
			}
			m[fmt.Sprint(pyKey(k))] = v
		} else if len(m) == 0 {
			set = append(set, k)
		} else {
			return nil, errNotLiteral
		}
		p.space()
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
		default:
			return nil, errNotLiteral
		}
	}
}

// pyKey is how json.dumps writes a dict key.
func pyKey(k any) any {
	switch x := k.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	}
	return k
}

func (p *pyParser) number() (any, error) {
	start := p.pos
	for !p.eof() && (isIdent(p.s[p.pos]) || p.s[p.pos] == '.' ||
		(p.s[p.pos] == '+' || p.s[p.pos] == '-') && p.pos > start && (p.s[p.pos-1] == 'e' || p.s[p.pos-1] == 'E') && !strings.HasPrefix(strings.ToLower(p.s[start:]), "0x")) {
		p.pos++
	}
	t := p.s[start:p.pos]
	if t == "" || strings.HasSuffix(t, "_") || strings.Contains(t, "__") {
		return nil, errNotLiteral
	}
	lower := strings.ToLower(t)
	if strings.HasPrefix(lower, "0x") || strings.HasPrefix(lower, "0o") || strings.HasPrefix(lower, "0b") {
		n, err := strconv.ParseInt(strings.ReplaceAll(t, "_", ""), 0, 64)
		if err != nil {
			return nil, errNotLiteral
		}
		return int(n), nil
	}
	clean := strings.ReplaceAll(t, "_", "")
	if strings.ContainsAny(lower, ".e") || strings.HasSuffix(lower, "j") {
		if strings.HasSuffix(lower, "j") || strings.ContainsAny(lower, "abcdfghiklmnpqrstuvwxyz") {
			return nil, errNotLiteral // complex numbers and names
		}
		f, err := strconv.ParseFloat(clean, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, errNotLiteral
		}
		return f, nil
	}
	for _, c := range clean {
		if c < '0' || c > '9' {
			return nil, errNotLiteral
		}
	}
	if len(clean) > 1 && clean[0] == '0' && strings.Trim(clean, "0") != "" {
		return nil, errNotLiteral // Python 3: leading zeros are not allowed (0644)
	}
	n, err := strconv.ParseInt(clean, 10, 64)
	if err != nil {
		return nil, errNotLiteral
	}
	return int(n), nil
}

// strings reads one or more adjacent string literals ('a' "b" is "ab").
func (p *pyParser) strLits() (any, error) {
	var b strings.Builder
	n := 0
	for {
		p.space()
		raw := false
		q := p.pos
		for q < len(p.s) && strings.IndexByte("rRuUbB", p.s[q]) >= 0 && q-p.pos < 2 {
			if p.s[q] == 'r' || p.s[q] == 'R' {
				raw = true
			}
			q++
		}
		if q >= len(p.s) || (p.s[q] != '\'' && p.s[q] != '"') {
			if n == 0 {
				return nil, errNotLiteral
			}
			return b.String(), nil
		}
		p.pos = q
		s, err := p.str(raw)
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
		n++
	}
}

func (p *pyParser) str(raw bool) (string, error) {
	quote := p.s[p.pos : p.pos+1]
	if strings.HasPrefix(p.s[p.pos:], strings.Repeat(quote, 3)) {
		quote = strings.Repeat(quote, 3)
	}
	p.pos += len(quote)
	var b strings.Builder
	for {
		if p.eof() {
			return "", errNotLiteral
		}
		if strings.HasPrefix(p.s[p.pos:], quote) {
			p.pos += len(quote)
			return b.String(), nil
		}
		c := p.s[p.pos]
		if c == '\n' && len(quote) == 1 {
			return "", errNotLiteral
		}
		if c != '\\' {
			r, size := utf8.DecodeRuneInString(p.s[p.pos:])
			b.WriteRune(r)
			p.pos += size
			continue
		}
		if p.pos+1 >= len(p.s) {
			return "", errNotLiteral
		}
		e := p.s[p.pos+1]
		if raw {
			b.WriteByte('\\')
			b.WriteByte(e)
			p.pos += 2
			continue
		}
		p.pos += 2
		switch e {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case 'x', 'u', 'U':
			size := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if p.pos+size > len(p.s) {
				return "", errNotLiteral
			}
			n, err := strconv.ParseUint(p.s[p.pos:p.pos+size], 16, 32)
			if err != nil {
				return "", errNotLiteral
			}
			b.WriteRune(rune(n))
			p.pos += size
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
}

// shlexSplit splits a line as Python's shlex.split(line, comments=True)
// does (POSIX mode): blanks separate words, quotes group, a backslash
// escapes, # outside quotes starts a comment.
func shlexSplit(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#':
			if inWord {
				out = append(out, cur.String())
			}
			return out, nil
		case c == '\\':
			if i+1 >= len(line) {
				return nil, errors.New("no escaped character after \\")
			}
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("no closing quotation")
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte("\\\"$`\n", line[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, errors.New("no closing quotation")
			}
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
