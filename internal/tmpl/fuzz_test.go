package tmpl

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// costly matches texts whose rendering may take unbounded time or memory
// by design (templates are code written by the playbook's author, like a
// shell task): big numbers fed to repeat/until/range, many loops, key
// generation. The fuzz target skips them; it looks for crashes and bad
// errors, not for slow templates.
var costly = regexp.MustCompile(`[0-9]{3,}|gen[A-Z]|bcrypt|htpasswd|derivePassword|(?s:(range|repeat|until|seq|wrap|indent|nindent|trunc|substr|pad).*(range|repeat|until|seq|wrap|indent|nindent|trunc|substr|pad))`)

// FuzzRenderValue renders task arguments holding an arbitrary string (as
// the whole value, inside text, in a list and in a map), evaluates it as a
// `when:` condition, and runs the static checks (Check, Refs) on it. It must not panic; an error must be an *Error that
// names where the text came from and says what is wrong; a text without
// template markers comes back unchanged.
func FuzzRenderValue(f *testing.F) {
	for _, s := range []string{
		"{{ .nodes }}", "  {{ .pg_port }} ", "{{- .enabled -}}", "{{ .settings }}", "port {{ .pg_port }}",
		"{{ .n }}{{ .n }}", "x{{ .name }}", `{{ list 1 .n "x" }}`, `{{ splitList "," "a,b" }}`, "{{ add .n 1 }}",
		"no braces", "{{ .ratio }}", "{{ .nothing }}", "listen {{ .pg_prot }}", "{{ .settings.shared_bufers }}",
		"{{ .nothing.x }}", "{{ .name.first }}", "{{ x | default(1) }}", "{{ pg.port | default(5432) }}", "{{ item }}",
		"{{ .nodes | join(', ') }}", "{{ pg_role == 'primary' }}", "{{ x is defined }}", "a\n{% if x %}\nb\n{% endif %}",
		"{{ .a }", "x\n{{ if .a }}\ny", `{{ if hasKey . "x" }}{{ .x }}{{ end }}`, `{{ get . "x" | default "fallback" }}`,
		`eq .pg_role "primary"`, ".st.stat.exists", `and (gt .n 1) (ne .name "y")`, "{{ sqlIdent .name }}",
		"{{ sqlLiteral \"it's\" }}", "{{ shellQuote .name }}", "{{ toYaml .settings }}", "{{ fromYaml \"a: 1\" }}",
		"{{ lines \"a\\nb\" }}", "{{ range .nodes }}{{ . }},{{ end }}", `{{ $x := .n }}{{ $x }}`, "{{/* c */}}",
		`{{ define "t" }}x{{ end }}{{ template "t" }}`, "{{ index .nodes 5 }}", "{{ .nodes.x }}", "{{ fail \"no\" }}",
		"{{ div 1 0 }}", "{{ hostvar }}", "{{ . }}", "{{ nil }}", "{{ 1.5e300 }}", "{{ 'a' }}", "{{ \"\\x00\" }}",
	} {
		f.Add(s)
	}
	e := New()
	const name = "site.yaml:3:7 task T"
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 512 || costly.MatchString(text) {
			return
		}
		vars := testVars()
		args := map[string]any{
			"whole": text,
			"inner": "a " + text + " b",
			"list":  []any{text, 1},
			"map":   map[string]any{"k": text},
		}
		out, err := e.RenderValue(name, args, vars)
		if err != nil {
			checkErr(t, text, err, name)
		} else {
			m, ok := out.(map[string]any)
			if !ok || len(m) != len(args) {
				t.Fatalf("RenderValue(%q) = %#v", text, out)
			}
			if !strings.Contains(text, "{{") && !strings.Contains(text, "{%") && m["whole"] != text {
				t.Fatalf("plain text %q rendered as %#v", text, m["whole"])
			}
		}
		if _, err := e.Eval(name+" when", text, vars); err != nil {
			checkErr(t, text, err, name+" when")
		}
		// The static checks must not panic, and what Check accepts must
		// parse when rendered.
		for _, cond := range []bool{false, true} {
			e.Refs(text, cond)
			if p, h := e.Check(text, cond); (p == "") != (h == "") {
				t.Fatalf("Check(%q, %v) = %q, %q: a problem needs a hint", text, cond, p, h)
			}
		}
		if p, _ := e.Check(text, false); p == "" {
			if _, err := e.Render(name, text, vars); err != nil && strings.Contains(err.Error(), "syntax error") {
				t.Fatalf("Check passed %q, Render says: %v", text, err)
			}
		}
	})
}

func checkErr(t *testing.T, text string, err error, name string) {
	t.Helper()
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("%q: error is a %T, not a *tmpl.Error: %v", text, err, err)
	}
	if te.Name != name || strings.TrimSpace(te.Msg) == "" || !strings.HasPrefix(err.Error(), name) {
		t.Fatalf("%q: error does not say where or what: %q", text, err)
	}
}

// Found by FuzzRenderValue: a condition ending inside a string after a
// backslash made the Jinja-hint code slice past the end of the text.
func TestUnclosedStringEscape(t *testing.T) {
	for _, s := range []string{`"\`, `x "\`, "{{ \"\\ }}", "`"} {
		_, err := New().Eval("site.yaml:3:7 task T when", s, nil)
		if err == nil {
			t.Errorf("Eval(%q): no error", s)
			continue
		}
		checkErr(t, s, err, "site.yaml:3:7 task T when")
	}
}
