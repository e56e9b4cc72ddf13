package tmpl

import (
	"errors"
	"fmt"
	"strings"
)

// Check parses text without executing it, the way Render (or, with cond,
// Eval) would, and says what is wrong with it: a problem (with the
// offending text) and a hint, both "" when it parses. It catches syntax
// errors, unknown functions and Jinja statements before any host is
// contacted; undefined variables are found only when rendering.
//
// Its signature is that of playbook.Options.CheckTemplate.
func (e *Engine) Check(text string, cond bool) (problem, hint string) {
	var err error
	if cond {
		src := strings.TrimSpace(text)
		if inner, ok := singleAction(src); ok {
			src = inner
		}
		if strings.TrimSpace(src) == "" {
			return "empty condition", `write a pipeline such as: eq .pg_role "primary"`
		}
		if _, perr := e.parse("n\x00"+src, "{{"+nativeFunc+" ("+src+")}}"); perr != nil {
			err = translate("", "{{ "+src+" }}", src, true, nil, perr)
		}
	} else {
		if strings.Contains(text, "{%") {
			err = jinjaStatement("", text)
		}
		if err == nil && strings.Contains(text, "{{") {
			if _, perr := e.parse("p\x00"+text, text); perr != nil {
				err = translate("", text, text, false, nil, perr)
			}
		}
	}
	if err == nil {
		return "", ""
	}
	var te *Error
	if !errors.As(err, &te) {
		return err.Error(), "see https://pkg.go.dev/text/template"
	}
	problem = te.Msg
	if te.Line > 0 && te.multiline {
		problem = fmt.Sprintf("template line %d: %s", te.Line, problem)
	}
	if te.Snippet != "" {
		problem += "\n  in: " + te.Snippet
	}
	hint = te.Hint
	if hint == "" {
		hint = "pgplay templates are Go text/template (https://pkg.go.dev/text/template) with sprig's functions"
	}
	return problem, hint
}
