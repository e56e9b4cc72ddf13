package tmpl

import (
	"errors"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func testVars() map[string]any {
	return map[string]any{
		"pg_role":  "primary",
		"pg_port":  5432,
		"n":        3,
		"ratio":    0.5,
		"enabled":  true,
		"empty":    "",
		"nodes":    []any{"node1", "node2"},
		"settings": map[string]any{"shared_buffers": "1GB", "max_connections": 200},
		"st":       map[string]any{"stat": map[string]any{"exists": false}},
		"nothing":  nil,
		"name":     "world",
	}
}

func TestRenderPlainAndFastPath(t *testing.T) {
	e := New()
	got, err := e.Render("t", "port = {{ .pg_port }} role={{ .pg_role | upper }}", testVars())
	if err != nil {
		t.Fatal(err)
	}
	if got != "port = 5432 role=PRIMARY" {
		t.Errorf("got %q", got)
	}
	// No "{{": returned as is, even if it would not parse.
	for _, s := range []string{"", "printf '{%s}' x", "a }} b", "{ not a template }"} {
		got, err := e.Render("t", s, nil)
		if err != nil || got != s {
			t.Errorf("Render(%q) = %q, %v; want it unchanged", s, got, err)
		}
	}
	// A template is parsed once and reused.
	for i := 0; i < 3; i++ {
		if _, err := e.Render("t", "{{ .name }}", testVars()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.cache); n != 2 {
		t.Errorf("cache holds %d entries, want 2", n)
	}
}

func TestRenderConcurrent(t *testing.T) {
	e := New()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			vars := map[string]any{"i": i, "l": []any{i, i + 1}}
			for j := 0; j < 50; j++ {
				v, err := e.RenderValue("t", "{{ .l }}", vars)
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(v, []any{i, i + 1}) {
					errs <- errors.New("wrong native value under concurrency")
					return
				}
				s, err := e.Render("t", "i={{ .i }}", vars)
				if err != nil || s != "i="+strconv.Itoa(i) {
					errs <- errors.New("wrong text under concurrency: " + s)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRenderValueNative(t *testing.T) {
	e := New()
	in := map[string]any{
		"loop":     "{{ .nodes }}",
		"port":     "  {{ .pg_port }} ",
		"trim":     "{{- .enabled -}}",
		"map":      "{{ .settings }}",
		"text":     "port {{ .pg_port }}",
		"two":      "{{ .n }}{{ .n }}",
		"list":     []any{"{{ .n }}", "x{{ .name }}", 7},
		"computed": "{{ list 1 .n \"x\" }}",
		"split":    "{{ splitList \",\" \"a,b\" }}",
		"sum":      "{{ add .n 1 }}",
		"plain":    "no braces",
		"nested":   map[string]any{"k": "{{ .ratio }}"},
		"nil":      "{{ .nothing }}",
		"notouch":  12,
	}
	orig := map[string]any{}
	for k, v := range in {
		orig[k] = v
	}
	got, err := e.RenderValue("t", in, testVars())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"loop":     []any{"node1", "node2"},
		"port":     5432,
		"trim":     true,
		"map":      map[string]any{"shared_buffers": "1GB", "max_connections": 200},
		"text":     "port 5432",
		"two":      "33",
		"list":     []any{3, "xworld", 7},
		"computed": []any{1, 3, "x"},
		"split":    []any{"a", "b"},
		"sum":      4,
		"plain":    "no braces",
		"nested":   map[string]any{"k": 0.5},
		"nil":      nil,
		"notouch":  12,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RenderValue:\n got %#v\nwant %#v", got, want)
	}
	if !reflect.DeepEqual(in, orig) {
		t.Errorf("RenderValue modified its input: %#v", in)
	}
}

func TestEval(t *testing.T) {
	e := New()
	cases := []struct {
		expr string
		want bool
	}{
		{`eq .pg_role "primary"`, true},
		{`ne .pg_role "primary"`, false},
		{`.st.stat.exists`, false},
		{`not .st.stat.exists`, true},
		{`and (gt .n 1) (ne .pg_role "standby")`, true},
		{`or (lt .n 1) (eq .name "x")`, false},
		{`true`, true},
		{`false`, false},
		{`.empty`, false},
		{`.nodes`, true},
		{`.nothing`, false},
		{`has "node2" .nodes`, true},
		{`{{ .enabled }}`, true},
		{` .enabled `, true},
		{`and (hasKey . "undefined_var") .undefined_var`, false},
	}
	for _, c := range cases {
		got, err := e.Eval("site.yaml:9 task T", c.expr, testVars())
		if err != nil {
			t.Errorf("Eval(%q): %v", c.expr, err)
			continue
		}
		if got != c.want {
			t.Errorf("Eval(%q) = %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestUndefinedVariableError(t *testing.T) {
	e := New()
	_, err := e.Render("roles/pg/tasks/main.yaml:12 task Configure", "listen {{ .pg_prot }}", testVars())
	if err == nil {
		t.Fatal("no error for an undefined variable")
	}
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("error is %T, want *tmpl.Error", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"roles/pg/tasks/main.yaml:12 task Configure",
		`undefined variable "pg_prot"`,
		"did you mean .pg_port?",
		`{{ if hasKey . "pg_prot" }}`,
		`get . "pg_prot" | default`,
		"{{ .pg_prot }}",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "map has no entry") {
		t.Errorf("message leaks Go's wording:\n%s", msg)
	}

	// A nested key, on line 3 of a template file.
	_, err = e.Render("templates/pg/postgresql.conf.tmpl", "# a\n# b\nsb = {{ .settings.shared_bufers }}\n", testVars())
	msg = err.Error()
	for _, want := range []string{"templates/pg/postgresql.conf.tmpl", "template line 3", `.settings has no key "shared_bufers"`, `hasKey .settings "shared_bufers"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}

	// In a condition, and in RenderValue (which names the argument).
	_, err = e.Eval("site.yaml:4 task T", `eq .role "primary"`, testVars())
	if err == nil || !strings.Contains(err.Error(), `undefined variable "role"`) || !strings.Contains(err.Error(), `and (hasKey . "role") .role`) {
		t.Errorf("Eval error: %v", err)
	}
	_, err = e.RenderValue("site.yaml:5 task T", map[string]any{"dest": "/etc/{{ .missing }}"}, testVars())
	if err == nil || !strings.Contains(err.Error(), `(argument "dest")`) || !strings.Contains(err.Error(), `undefined variable "missing"`) {
		t.Errorf("RenderValue error: %v", err)
	}
	_, err = e.RenderValue("t", "{{ .nope }}", testVars())
	if err == nil || !strings.Contains(err.Error(), `undefined variable "nope"`) {
		t.Errorf("native RenderValue error: %v", err)
	}
	// null and non-map values.
	_, err = e.Render("t", "{{ .nothing.x }}", testVars())
	if err == nil || !strings.Contains(err.Error(), ".nothing has no value (null)") {
		t.Errorf("null error: %v", err)
	}
	_, err = e.Render("t", "{{ .name.first }}", testVars())
	if err == nil || !strings.Contains(err.Error(), `.name is a string ("world"), not a map`) {
		t.Errorf("non-map error: %v", err)
	}
}

func TestSyntaxErrorHints(t *testing.T) {
	e := New()
	cases := []struct {
		text string
		want []string
	}{
		{"{{ x | default(1) }}", []string{"Go text/template", "write {{ .x | default 1 }}", `{{ get . "x" | default 1 }}`}},
		{"{{ pg.port | default(5432) }}", []string{"write {{ .pg.port | default 5432 }}", `get .pg "port"`}},
		{"{{ item }}", []string{"write {{ .item }}"}},
		{"{{ .nodes | join(', ') }}", []string{`write {{ .nodes | join ", " }}`}},
		{"{{ pg_role == 'primary' }}", []string{`write {{ eq .pg_role "primary" }}`}},
		{"{{ x is defined }}", []string{`hasKey . "x"`}},
		{"a\n{% if x %}\nb\n{% endif %}", []string{"Jinja statement", "template line 2", "{{ if .x }}"}},
		{"{{ .a }", []string{"syntax error", "{{ .a }"}},
		{"x\n{{ if .a }}\ny", []string{"template line 3", "missing its {{ end }}"}},
	}
	for _, c := range cases {
		_, err := e.Render("f.tmpl", c.text, testVars())
		if err == nil {
			t.Errorf("Render(%q): no error", c.text)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Render(%q) error lacks %q:\n%v", c.text, w, err)
			}
		}
	}
	// In a condition, hints are written without braces.
	_, err := e.Eval("site.yaml:3 task T", "pg_role == 'primary'", testVars())
	if err == nil || !strings.Contains(err.Error(), `write eq .pg_role "primary"`) {
		t.Errorf("Eval hint: %v", err)
	}
	_, err = e.Eval("t", "  ", nil)
	if err == nil || !strings.Contains(err.Error(), "empty condition") {
		t.Errorf("empty condition: %v", err)
	}
}

func TestSQLQuoting(t *testing.T) {
	e := New()
	vars := map[string]any{
		"db":   `my "db"`,
		"pw":   "it's a $ecret\nwith\\backslash",
		"n":    5,
		"none": nil,
	}
	cases := map[string]string{
		"{{ sqlIdent .db }}":       `"my ""db"""`,
		"{{ sqlIdent \"Sales\" }}": `"Sales"`,
		"{{ sqlLiteral .pw }}":     "'it''s a $ecret\nwith\\backslash'",
		"{{ sqlLiteral .n }}":      "'5'",
		"{{ sqlLiteral .none }}":   "NULL",
		"{{ .db | sqlIdent }}":     `"my ""db"""`,
	}
	for in, want := range cases {
		got, err := e.Render("t", in, vars)
		if err != nil || got != want {
			t.Errorf("Render(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := e.Render("t", `{{ sqlIdent "" }}`, nil); err == nil || !strings.Contains(err.Error(), "sqlIdent: empty SQL identifier") {
		t.Errorf("empty identifier: %v", err)
	}
	if _, err := SQLLiteral("a\x00b"); err == nil {
		t.Error("a NUL byte in a literal was accepted")
	}
}

func TestShellQuoteRoundTrip(t *testing.T) {
	values := []string{
		"plain", "", "two words", "it's", `"double"`, "$HOME and `cmd` and $(cmd)",
		"line1\nline2", "back\\slash", "glob * ?", "semi;colon|pipe&amp", "'", "''", "-n",
	}
	for _, v := range values {
		q := ShellQuote(v)
		out, err := exec.Command("/bin/sh", "-c", "printf '%s' "+q).Output()
		if err != nil {
			t.Fatalf("sh -c with %s: %v", q, err)
		}
		if string(out) != v {
			t.Errorf("ShellQuote(%q) = %s; the shell read it back as %q", v, q, out)
		}
	}
	if got := ShellQuote("/etc/postgresql/15/main"); got != "/etc/postgresql/15/main" {
		t.Errorf("a safe word was quoted: %s", got)
	}
}

func TestYamlAndLines(t *testing.T) {
	e := New()
	got, err := e.Render("t", "{{ toYaml .settings }}", testVars())
	if err != nil || got != "max_connections: 200\nshared_buffers: 1GB" {
		t.Errorf("toYaml = %q, %v", got, err)
	}
	v, err := e.RenderValue("t", `{{ fromYaml "a: [1, two]" }}`, nil)
	if err != nil || !reflect.DeepEqual(v, map[string]any{"a": []any{1, "two"}}) {
		t.Errorf("fromYaml = %#v, %v", v, err)
	}
	v, err = e.RenderValue("t", "{{ lines .out }}", map[string]any{"out": "a\r\nb\n\nc\n"})
	if err != nil || !reflect.DeepEqual(v, []any{"a", "b", "", "c"}) {
		t.Errorf("lines = %#v, %v", v, err)
	}
	got, err = e.Render("t", `{{ regexFind "[0-9]+" "pg 15.4" }}|{{ toJson .nodes }}`, testVars())
	if err != nil || got != `15|["node1","node2"]` {
		t.Errorf("sprig funcs: %q, %v", got, err)
	}
}

func TestCIDRContains(t *testing.T) {
	e := New()
	vars := map[string]any{"net": "198.51.100.0/24", "vip": "198.51.100.100"}
	cases := map[string]string{
		"{{ cidrContains .net .vip }}":                               "true",
		`{{ cidrContains .net "198.51.101.100" }}`:                   "false",
		`{{ cidrContains "198.51.100.7/24" "198.51.100.255" }}`:      "true",
		`{{ cidrContains "10.0.0.0/8" "10.255.1.2" }}`:               "true",
		`{{ cidrContains "10.0.0.0/8" "11.0.0.1" }}`:                 "false",
		`{{ cidrContains "2001:db8::/32" "2001:db8::1" }}`:           "true",
		`{{ cidrContains "2001:db8::/32" "198.51.100.1" }}`:          "false",
		`{{ cidrContains "198.51.100.0/24" "::ffff:198.51.100.9" }}`: "true",
	}
	for in, want := range cases {
		got, err := e.Render("t", in, vars)
		if err != nil || got != want {
			t.Errorf("Render(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	ok, err := e.Eval("t", "not (cidrContains .net .vip)", vars)
	if err != nil || ok {
		t.Errorf("as a when: condition: %v, %v; want false", ok, err)
	}
	for in, want := range map[string]string{
		`{{ cidrContains "198.51.100.0" .vip }}`:    `"198.51.100.0" is not a network in CIDR form`,
		`{{ cidrContains .net "198.51.100.x" }}`:    `"198.51.100.x" is not an IP address`,
		`{{ cidrContains "198.51.100.0/33" .vip }}`: `is not a network`,
	} {
		if _, err := e.Render("t", in, vars); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Render(%s) error = %v; want it to say %s", in, err, want)
		}
	}
}
