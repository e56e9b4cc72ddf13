package tmpl

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"
)

// Funcs returns pgplay's own template functions (sprig's are added by New):
//
//	sqlIdent    PostgreSQL identifier:  sqlIdent "my ""db"""  ->  "my ""db"""
//	sqlLiteral  PostgreSQL string literal ('it''s'); nil gives NULL
//	shellQuote  one POSIX shell word ('it'\''s'); safe words stay bare
//	toYaml      YAML text of a value (no trailing newline)
//	fromYaml    the value a YAML text holds
//	lines       a text split into lines (no trailing empty line)
//	cidrContains  whether a network holds an address: cidrContains "10.0.0.0/24" .vip
func Funcs() template.FuncMap {
	return template.FuncMap{
		"sqlIdent":     SQLIdent,
		"sqlLiteral":   SQLLiteral,
		"shellQuote":   ShellQuote,
		"toYaml":       toYAML,
		"fromYaml":     fromYAML,
		"lines":        lines,
		"cidrContains": CIDRContains,
	}
}

// text turns a scalar template argument into a string.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// SQLIdent quotes s as a PostgreSQL identifier: it is wrapped in double
// quotes and embedded double quotes are doubled. Quoting keeps the name's
// case, so "Sales" and sales are different identifiers. It refuses an empty
// name and a NUL byte, which PostgreSQL cannot hold.
func SQLIdent(v any) (string, error) {
	s := text(v)
	if s == "" {
		return "", errors.New("empty SQL identifier")
	}
	if strings.ContainsRune(s, 0) {
		return "", errors.New("SQL identifier contains a NUL byte")
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`, nil
}

// SQLLiteral quotes s as a PostgreSQL string literal: wrapped in single
// quotes with embedded single quotes doubled. Backslashes are kept as they
// are (standard_conforming_strings, on by default since PostgreSQL 9.1). A
// nil value gives NULL. It refuses a NUL byte.
func SQLLiteral(v any) (string, error) {
	if v == nil {
		return "NULL", nil
	}
	s := text(v)
	if strings.ContainsRune(s, 0) {
		return "", errors.New("SQL literal contains a NUL byte")
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// ShellQuote quotes s as one word for a POSIX shell: a word made only of
// safe characters is returned as is, anything else is wrapped in single
// quotes, each embedded single quote becoming a closing quote, an
// escaped quote and an opening quote:
//
//	it's  ->  'it'\''s'
func ShellQuote(v any) string {
	s := text(v)
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func toYAML(v any) (string, error) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("toYaml: %w", err)
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

func fromYAML(s string) (any, error) {
	var v any
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("fromYaml: %w", err)
	}
	return v, nil
}

// lines splits a text into its lines, without line ends; a final line end
// does not make an empty last line, and "" gives no lines.
func lines(v any) []string {
	s := text(v)
	if s == "" {
		return []string{}
	}
	s = strings.TrimSuffix(s, "\n")
	out := strings.Split(s, "\n")
	for i, l := range out {
		out[i] = strings.TrimSuffix(l, "\r")
	}
	return out
}

// CIDRContains reports whether the network cidr ("198.51.100.0/24", host
// bits allowed: "198.51.100.7/24" means the same network) holds the address
// addr. IPv4 and IPv6 both work; an IPv4 address is never inside an IPv6
// network and the reverse. A malformed network or address is an error, so a
// typo in the inventory is reported rather than read as "outside".
func CIDRContains(cidr, addr any) (bool, error) {
	c, a := strings.TrimSpace(text(cidr)), strings.TrimSpace(text(addr))
	p, err := netip.ParsePrefix(c)
	if err != nil {
		return false, fmt.Errorf("cidrContains: %q is not a network in CIDR form like 198.51.100.0/24", c)
	}
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return false, fmt.Errorf("cidrContains: %q is not an IP address", a)
	}
	return p.Masked().Contains(ip.Unmap()), nil
}
