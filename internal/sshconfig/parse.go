package sshconfig

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// line is one directive of an ssh_config file: its keyword (lower case),
// its arguments (quotes removed) and where it is.
type line struct {
	file string
	num  int
	key  string // lower case
	name string // as written
	args []string
}

func (l line) pos() string { return fmt.Sprintf("%s:%d", l.file, l.num) }

// errorf returns an error naming the line's file:line.
func (l line) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s", l.pos(), fmt.Sprintf(format, args...))
}

// parseFile reads path into its directives. Blank lines and comments are
// dropped; a line that cannot be split (an unterminated quote) is an error
// naming file:line, as OpenSSH refuses it.
func parseFile(path string) ([]line, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseBytes(path, data)
}

func parseBytes(path string, data []byte) ([]line, error) {
	var out []line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimRight(sc.Text(), " \t\r\n")
		text = strings.TrimLeft(text, " \t")
		if text == "" || text[0] == '#' {
			continue
		}
		// The keyword ends at a blank or '='; one '=' may separate it
		// from the arguments ("Port=22", "Port = 22").
		i := strings.IndexAny(text, " \t=")
		if i < 0 {
			out = append(out, line{file: path, num: n, key: strings.ToLower(text), name: text})
			continue
		}
		key, rest := text[:i], strings.TrimLeft(text[i:], " \t")
		if strings.HasPrefix(rest, "=") {
			rest = strings.TrimLeft(rest[1:], " \t")
		}
		l := line{file: path, num: n, key: strings.ToLower(key), name: key}
		args, err := splitArgs(rest)
		if err != nil {
			return nil, l.errorf("%s: %v", key, err)
		}
		l.args = args
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// splitArgs splits the arguments of a directive as OpenSSH's argv_split
// does: blanks separate words, double or single quotes group them, a
// backslash escapes a quote, a backslash or a blank, and an unquoted '#'
// at the start of a word begins a comment.
func splitArgs(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			switch {
			case c == '\\' && i+1 < len(s) && (s[i+1] == quote || s[i+1] == '\\'):
				i++
				cur.WriteByte(s[i])
			case c == quote:
				quote = 0
			default:
				cur.WriteByte(c)
			}
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return out, nil
		case c == '"' || c == '\'':
			quote = c
			inWord = true
		case c == '\\' && i+1 < len(s) && strings.IndexByte("\\\"' ", s[i+1]) >= 0:
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote: close it at the end of the value", quote)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
