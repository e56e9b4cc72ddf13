package modules

import (
	"fmt"
	"strings"
)

// words is the result of splitting a command line.
type words struct {
	list []string
	// ops are shell operators found outside quotes (|, ;, &, <, >), which
	// a command run without a shell would pass on as plain arguments.
	ops []string
}

// splitWords splits s into words as a POSIX shell would, without running
// any expansion: blanks separate words; 'single quotes' keep everything
// literally; "double quotes" keep everything but a backslash before
// " \ $ ` or a newline; outside quotes a backslash keeps the next
// character (and a backslash-newline is removed). $VAR, globs and ~ are not
// expanded: they stay as written.
func splitWords(s string) (words, error) {
	var (
		w      words
		cur    strings.Builder
		inWord bool
	)
	flush := func() {
		if inWord {
			w.list = append(w.list, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			flush()
		case '\\':
			if i+1 >= len(s) {
				cur.WriteByte('\\')
				inWord = true
				continue
			}
			i++
			if s[i] != '\n' {
				cur.WriteByte(s[i])
				inWord = true
			}
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return words{}, fmt.Errorf("unterminated single quote in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+end])
			inWord = true
			i += end + 1
		case '"':
			inWord = true
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) && strings.IndexByte("\"\\$`\n", s[j+1]) >= 0 {
					j++
					if s[j] != '\n' {
						cur.WriteByte(s[j])
					}
					continue
				}
				cur.WriteByte(s[j])
			}
			if j >= len(s) {
				return words{}, fmt.Errorf("unterminated double quote in %q", s)
			}
			i = j
		case '|', ';', '&', '<', '>':
			j := i + 1
			for j < len(s) && strings.IndexByte("|;&<>", s[j]) >= 0 {
				j++
			}
			w.ops = append(w.ops, s[i:j])
			cur.WriteString(s[i:j])
			inWord = true
			i = j - 1
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return w, nil
}

// parseKeyValues parses Ansible's free-form argument syntax:
// `src=a dest="/etc/x y" mode=0644`. Values are strings.
func parseKeyValues(s string) (map[string]any, error) {
	w, err := splitWords(s)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(w.list))
	for _, word := range w.list {
		k, v, ok := strings.Cut(word, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%q is not a key=value pair", word)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("argument %q is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}
