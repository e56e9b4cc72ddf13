package tmpl

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// jinjaVars are the variables the idioms' examples use.
func jinjaVars() map[string]any {
	return map[string]any{
		"cfg": map[string]any{"a": 1}, "extra": map[string]any{"b": 2},
		"names": []any{"b", "a", "b"}, "x": "hello", "s": "a,b", "n": "42", "j": `{"a": 1}`,
		"b": "aGk=", "path": "/etc/x.conf", "flag": true, "port": 8080,
		"r":        map[string]any{"failed": false, "changed": true, "skipped": false},
		"hostvars": map[string]any{"node1": map[string]any{"port": 5432}},
		"groups":   map[string]any{"web": []any{"a", "b"}},
	}
}

var writeRe = regexp.MustCompile(`: write (.*?)(?: \(docs/templates.md|; |$)`)

// Each row of the Jinja table is right: its Go spelling works, and the
// Jinja spelling fails with a hint that is either the row's Go spelling or
// a rewrite of the user's text that gives the same result.
func TestJinjaIdioms(t *testing.T) {
	t.Setenv("HOME", "/home/test")
	e := New()
	vars := jinjaVars()
	eval := func(i Idiom, text string) (string, error) {
		if i.Cond() {
			ok, err := e.Eval("t", text, vars)
			if ok {
				return "true", err
			}
			return "false", err
		}
		return e.Render("t", text, vars)
	}
	// Issue 15 asked for the 40 filters and tests Ansible users type most.
	if len(idioms) < 40 {
		t.Errorf("the Jinja table has %d rows, want at least 40", len(idioms))
	}
	for _, i := range idioms {
		want, err := eval(i, i.Go)
		if err != nil {
			t.Errorf("%s: the Go spelling %s fails: %v", i.Jinja, i.Go, err)
			continue
		}
		if want == "" || strings.Contains(want, "no value") {
			t.Errorf("%s: the Go spelling %s gives %q", i.Jinja, i.Go, want)
		}
		_, jerr := eval(i, i.Jinja)
		if jerr == nil {
			t.Errorf("%s: the Jinja spelling does not fail", i.Jinja)
			continue
		}
		te, ok := jerr.(*Error)
		if !ok {
			t.Errorf("%s: error %T %v", i.Jinja, jerr, jerr)
			continue
		}
		if strings.Contains(te.Hint, i.Go) {
			continue
		}
		m := writeRe.FindStringSubmatch(te.Hint)
		if m == nil {
			t.Errorf("%s: hint has neither %s nor a rewrite:\n%s", i.Jinja, i.Go, te.Hint)
			continue
		}
		got, err := eval(i, m[1])
		if err != nil || got != want {
			t.Errorf("%s: the hint's rewrite %s gives %q, %v; want %q (as %s)", i.Jinja, m[1], got, err, want, i.Go)
		}
	}
}

// The hints the issue reported wrong: exact rewrites of the user's text.
func TestJinjaHints(t *testing.T) {
	e := New()
	vars := jinjaVars()
	for _, c := range []struct {
		text string
		cond bool
		want string
	}{
		{"{{ .cfg | to_yaml }}", false, "write {{ .cfg | toYaml }}"},
		{"{{ names | length }}", false, "write {{ .names | len }}"},
		{"{{ .cfg | to_json }}", false, "write {{ .cfg | toJson }}"},
		{"{{ x | regex_replace('l', 'L') }}", false, `write {{ regexReplaceAll "l" .x "L" }}`},
		{"{{ .names[0] }}", false, "write {{ (index .names 0) }}"},
		{"{{ x | mandatory }}", false, "Jinja's {{ x | mandatory }} is {{ .x }}"},
		{"x is defined", true, `write hasKey . "x"`},
		{"cfg.a is not defined", true, `write not (hasKey .cfg "a")`},
		{`eq .port "8080"`, true, `write eq .port 8080 (a number is not quoted), or eq (toString .port) "8080"`},
		{"{{ .ansible_os_family }}", false, "use .facts.os.id"},
		{"ansible_distribution == 'Debian'", true, "use .facts.os.id"},
	} {
		var err error
		if c.cond {
			_, err = e.Eval("t", c.text, vars)
		} else {
			_, err = e.Render("t", c.text, vars)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want a hint with %q, got:\n%v", c.text, c.want, err)
		}
	}
}

var update = flag.Bool("update", false, "rewrite the generated parts of docs/templates.md")

const (
	idiomsStart = "<!-- idioms: generated -->\n"
	idiomsEnd   = "<!-- /idioms -->\n"
	factsStart  = "<!-- facts: generated -->\n"
	factsEnd    = "<!-- /facts -->\n"
)

// replaceBetween puts body between the markers start and end of doc.
func replaceBetween(t *testing.T, doc, start, end, body string) string {
	i, j := strings.Index(doc, start), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("docs/templates.md lacks the markers %q ... %q", start, end)
	}
	return doc[:i+len(start)] + body + doc[j:]
}

// idiomsMarkdown is the generated list of the table's rows.
func idiomsMarkdown() string {
	var b strings.Builder
	kinds := []struct{ kind, title string }{{"filter", "Filters"}, {"test", "Tests (in `when:`, without braces)"}, {"expression", "Expressions and statements"}}
	for _, k := range kinds {
		fmt.Fprintf(&b, "\n### %s\n\n", k.title)
		for _, i := range idioms {
			if i.Kind != k.kind {
				continue
			}
			fmt.Fprintf(&b, "- `%s` -> `%s`", i.Jinja, i.Go)
			if i.Note != "" {
				fmt.Fprintf(&b, " (%s)", i.Note)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")
	return b.String()
}

// factsMarkdown is the generated list of Ansible facts and pgplay's.
func factsMarkdown() string {
	names := make([]string, 0, len(ansibleFacts))
	for n := range ansibleFacts {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("\n")
	for _, n := range names {
		path, rest, _ := strings.Cut(ansibleFacts[n], " ")
		fmt.Fprintf(&b, "- `%s` -> `%s`", n, path)
		if rest != "" {
			b.WriteString(" " + rest)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	return b.String()
}

// docs/templates.md shows every row of the table.
func TestTemplatesDocListsIdioms(t *testing.T) {
	const path = "../../docs/templates.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if *update {
		doc = replaceBetween(t, doc, idiomsStart, idiomsEnd, idiomsMarkdown())
		doc = replaceBetween(t, doc, factsStart, factsEnd, factsMarkdown())
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range idioms {
		if !strings.Contains(doc, "`"+i.Jinja+"`") || !strings.Contains(doc, "`"+i.Go+"`") {
			t.Errorf("docs/templates.md lacks the row %s -> %s (regenerate the table: go test ./internal/tmpl -run TestTemplatesDoc -update)", i.Jinja, i.Go)
		}
	}
	for n := range ansibleFacts {
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("docs/templates.md lacks the fact %s", n)
		}
	}
}
