package tmpl

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	e := New()
	ok := []struct {
		text string
		cond bool
	}{
		{"plain", false}, {"{{ .x }}", false}, {"a {{ .undefined.is.fine }} b", false},
		{`{{ if hasKey . "x" }}{{ .x }}{{ end }}`, false}, {"{{ cidrContains .a .b }}", false},
		{`eq .pg_role "primary"`, true}, {"true", true}, {"{{ .x }}", true}, {".st.stat.exists", true},
	}
	for _, c := range ok {
		if p, h := e.Check(c.text, c.cond); p != "" || h != "" {
			t.Errorf("Check(%q, %v) = %q, %q; want no problem", c.text, c.cond, p, h)
		}
	}
	bad := []struct {
		text        string
		cond        bool
		problem     string
		hint        string
		inRendering bool // Render/Eval must fail the same way
	}{
		{"echo {{ .x }", false, "template syntax error", "Go text/template", true},
		{"{{ x | default(1) }}", false, "", "write {{ .x | default 1 }}", true},
		{"{{ nosuchfunc .x }}", false, `function "nosuchfunc" not defined`, "", true},
		{"a\n{% if x %}\nb\n{% endif %}", false, "template line 2: Jinja statement", "{{ if .x }}", true},
		{"x\n{{ if .a }}\ny", false, "template line 3", "{{ end }}", true},
		{"pg_role == 'primary'", true, "template syntax error", `write eq .pg_role "primary"`, true},
		{"x is defined", true, "", `hasKey . "x"`, true},
		{"  ", true, "empty condition", "pipeline", true},
	}
	for _, c := range bad {
		p, h := e.Check(c.text, c.cond)
		if p == "" || h == "" || !strings.Contains(p, c.problem) || !strings.Contains(h, c.hint) {
			t.Errorf("Check(%q, %v) = %q, %q; want a problem with %q and a hint with %q", c.text, c.cond, p, h, c.problem, c.hint)
		}
		var err error
		if c.cond {
			_, err = e.Eval("t", c.text, map[string]any{"x": 1, "pg_role": "r"})
		} else {
			_, err = e.Render("t", c.text, map[string]any{"x": 1, "a": true})
		}
		if err == nil {
			t.Errorf("%q: Check finds a problem Render/Eval does not", c.text)
		}
	}
}

func TestRefs(t *testing.T) {
	e := New()
	cases := []struct {
		text string
		cond bool
		want string
	}{
		{"plain", false, ""},
		{"{{ .x }}", false, "x"},
		{"a {{ .x.y }} {{ .b | default 1 }} {{ $.c.d }}", false, "b,c,x"},
		{`{{ if hasKey . "opt" }}{{ .opt }}{{ end }}{{ get . "o2" | default 3 }}`, false, ""},
		{"{{ range .list }}{{ .name }}{{ $.outer }}{{ end }}", false, "list,outer"},
		{"{{ with .m }}{{ .k }}{{ else }}{{ .fallback }}{{ end }}", false, "fallback,m"},
		{"{{ $v := .a }}{{ $v.b }}", false, "a"},
		{`{{ printf "%s" (.inner) }}{{ (.chain).x }}`, false, "chain,inner"},
		{`{{ define "t" }}{{ .local }}{{ end }}{{ template "t" .arg }}`, false, "arg"},
		{`eq .pg_role "primary"`, true, "pg_role"},
		{`and (hasKey . "x") .x`, true, ""},
		{"{{ .st.stat.exists }}", true, "st"},
		{"{{ .a }", false, ""},
		{"true", true, ""},
	}
	for _, c := range cases {
		if got := strings.Join(e.Refs(c.text, c.cond), ","); got != c.want {
			t.Errorf("Refs(%q, %v) = %q, want %q", c.text, c.cond, got, c.want)
		}
	}
}

// A text may define a template named like the one pgplay parses it as.
func TestDefineT(t *testing.T) {
	e := New()
	out, err := e.Render("x", `{{ define "t" }}<{{ . }}>{{ end }}{{ template "t" .arg }}`, map[string]any{"arg": 1})
	if err != nil || out != "<1>" {
		t.Errorf("Render = %q, %v", out, err)
	}
}
