package tmpl

import (
	"strings"
	"text/template"
)

// newTemplate parses text as a template named "t" with the Engine's
// functions and missingkey=error.
//
// Giving a new template sprig's ~200 functions costs about 0.1 ms (each is
// checked by reflection and copied into the template's maps), ten times
// the parse of a typical text. So a text is parsed as a template that
// shares the functions of e.base (text/template's New: one set of maps
// for associated templates). Associated templates also share one name
// space for {{ define }}d templates: a text that may define or call a
// named template (it mentions define, block or template) gets templates
// of its own instead, so that texts never see each other's definitions.
// Each text is executed through its own *Template, whose parse tree is its
// own even though the shared name "t" ends up naming the latest one.
func (e *Engine) newTemplate(text string) (*template.Template, error) {
	if ownSet(text) {
		// Named so that the text's own {{ define "t" }} does not clash.
		return template.New(ownSetName).Option("missingkey=error").Funcs(e.funcs).Parse(text)
	}
	return e.base.New("t").Parse(text)
}

// ownSetName names a text parsed as a set of its own (no colon: error
// messages are "template: NAME:line:col: ...").
const ownSetName = "pgplay-text"

// ownSet says whether text may define or call named templates, and so is
// parsed as a template set of its own rather than sharing e.base's.
func ownSet(text string) bool {
	return strings.Contains(text, "define") || strings.Contains(text, "block") || strings.Contains(text, "template")
}
