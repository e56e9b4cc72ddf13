// Package tmpl renders pgplay's templates and evaluates `when:` conditions.
//
// Templates are Go text/template with sprig's functions and a few of
// pgplay's own (sqlIdent, sqlLiteral, shellQuote, toYaml, fromYaml, lines,
// cidrContains), executed with missingkey=error so that a misspelt variable
// is an error, not an empty string. Errors name the template, the line, the offending
// text, and carry a hint written for someone who knows Ansible's Jinja.
package tmpl

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// maxCache bounds the parse cache; past it the cache starts afresh.
const maxCache = 20000

// nativeFunc is the internal function that captures an expression's value
// when a string is exactly one action.
const nativeFunc = "pgplayNative__"

// Engine renders templates. It caches parsed templates by their text and is
// safe for concurrent use. The zero value is not usable: call New.
type Engine struct {
	funcs template.FuncMap
	// base holds the functions once; most texts are parsed as templates
	// sharing them (see newTemplate).
	base *template.Template

	mu    sync.RWMutex
	cache map[string]*template.Template

	// native holds values captured by nativeFunc during one execution,
	// keyed by a per-call token printed as the template's output.
	native sync.Map
	seq    atomic.Uint64
}

// New returns an Engine with sprig's functions and pgplay's own.
func New() *Engine {
	e := &Engine{cache: map[string]*template.Template{}}
	f := allFuncs()
	f[nativeFunc] = e.capture
	e.funcs = f
	e.base = template.New("t").Option("missingkey=error").Funcs(f)
	return e
}

// allFuncs returns sprig's functions and pgplay's own in a new map.
func allFuncs() template.FuncMap {
	f := sprig.TxtFuncMap()
	for k, v := range Funcs() {
		f[k] = v
	}
	return f
}

// capture stores v and returns the token that names it.
func (e *Engine) capture(v any) string {
	n := e.seq.Add(1)
	e.native.Store(n, v)
	return "\x00native:" + strconv.FormatUint(n, 10) + "\x00"
}

// takeNative returns the value a capture stored under the token out.
func (e *Engine) takeNative(out string) (any, bool) {
	s, ok := strings.CutPrefix(out, "\x00native:")
	if !ok {
		return nil, false
	}
	s, ok = strings.CutSuffix(s, "\x00")
	if !ok {
		return nil, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return nil, false
	}
	return e.native.LoadAndDelete(n)
}

// parse returns the cached template for text, parsing it on first use.
func (e *Engine) parse(key, text string) (*template.Template, error) {
	e.mu.RLock()
	t, ok := e.cache[key]
	e.mu.RUnlock()
	if ok {
		return t, nil
	}
	t, err := e.newTemplate(text)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if len(e.cache) >= maxCache {
		e.cache = map[string]*template.Template{}
	}
	e.cache[key] = t
	e.mu.Unlock()
	return t, nil
}

// Render renders text with vars. name says where the text comes from (the
// caller passes "file:line task NAME" or a template's path) and appears in
// errors. A text without "{{" is returned as is, without parsing.
func (e *Engine) Render(name, text string, vars map[string]any) (string, error) {
	if strings.Contains(text, "{%") {
		if err := jinjaStatement(name, text); err != nil {
			return "", err
		}
	}
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := e.parse("p\x00"+text, text)
	if err != nil {
		return "", translate(name, text, text, false, vars, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, vars); err != nil {
		return "", translate(name, text, text, false, vars, err)
	}
	return b.String(), nil
}

// RenderValue renders every string inside v (walking maps and lists, which
// it copies; v is not modified). A string that is exactly one action,
// "{{ expr }}" with optional surrounding spaces, yields the expression's
// own value rather than its text, so `loop: "{{ .mylist }}"` gives a list
// and `port: "{{ .pg_port }}"` an int. Native values are normalised to the
// shapes YAML produces: []any, map[string]any, int, float64, bool, string.
func (e *Engine) RenderValue(name string, v any, vars map[string]any) (any, error) {
	return e.renderValue(name, "", v, vars)
}

func (e *Engine) renderValue(name, key string, v any, vars map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		out, err := e.renderString(name, x, vars)
		if err != nil {
			if te, ok := err.(*Error); ok && key != "" {
				te.Key = key
			}
			return nil, err
		}
		return out, nil
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, el := range x {
			r, err := e.renderValue(name, joinKey(key, k), el, vars)
			if err != nil {
				return nil, err
			}
			m[k] = r
		}
		return m, nil
	case []any:
		l := make([]any, len(x))
		for i, el := range x {
			r, err := e.renderValue(name, key+"["+strconv.Itoa(i)+"]", el, vars)
			if err != nil {
				return nil, err
			}
			l[i] = r
		}
		return l, nil
	case []string:
		l := make([]any, len(x))
		for i, el := range x {
			r, err := e.renderValue(name, key+"["+strconv.Itoa(i)+"]", el, vars)
			if err != nil {
				return nil, err
			}
			l[i] = r
		}
		return l, nil
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, el := range x {
			r, err := e.renderValue(name, joinKey(key, k), el, vars)
			if err != nil {
				return nil, err
			}
			m[k] = r
		}
		return m, nil
	default:
		return v, nil
	}
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// renderString renders one string, yielding a native value when the string
// is a single action.
func (e *Engine) renderString(name, s string, vars map[string]any) (any, error) {
	if !strings.Contains(s, "{{") && !strings.Contains(s, "{%") {
		return s, nil
	}
	inner, ok := singleAction(s)
	if !ok {
		return e.Render(name, s, vars)
	}
	v, err := e.evalNative(inner, vars)
	if err != nil {
		// Report against the text as the user wrote it: the plain render's
		// error positions match the user's text. Should the plain render
		// succeed (an action the native wrapper cannot hold, such as a
		// variable declaration), its text is the value.
		out, perr := e.Render(name, s, vars)
		if perr != nil {
			return nil, perr
		}
		return out, nil
	}
	return v, nil
}

// evalNative evaluates the pipeline expr and returns its value.
func (e *Engine) evalNative(expr string, vars map[string]any) (any, error) {
	text := "{{" + nativeFunc + " (" + expr + ")}}"
	t, err := e.parse("n\x00"+expr, text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, vars); err != nil {
		return nil, err
	}
	v, ok := e.takeNative(b.String())
	if !ok {
		return nil, fmt.Errorf("internal error: expression %q produced no value", expr)
	}
	return Normalize(v), nil
}

// Eval evaluates a `when:`-style condition: a pipeline written without
// braces, such as `eq .pg_role "primary"`, `.st.stat.exists`,
// `and (gt .n 1) (ne .x "y")` or a literal true/false. The result is true
// or false as text/template's `if` would decide (empty values are false; a
// non-empty string, even "false", is true). A condition wrapped in "{{ }}"
// is accepted too.
func (e *Engine) Eval(name, expr string, vars map[string]any) (bool, error) {
	src := strings.TrimSpace(expr)
	if inner, ok := singleAction(src); ok {
		src = inner
	}
	if strings.TrimSpace(src) == "" {
		return false, &Error{Name: name, Msg: "empty condition",
			Hint: `write a pipeline such as: eq .pg_role "primary"`}
	}
	v, err := e.evalNative(src, vars)
	if err != nil {
		return false, translate(name, "{{ "+src+" }}", src, true, vars, err)
	}
	truth, ok := template.IsTrue(v)
	if !ok {
		return false, &Error{Name: name, Msg: fmt.Sprintf("condition %q has no truth value (got %T)", src, v)}
	}
	return truth, nil
}

// singleAction reports whether s (trimmed) is exactly one "{{ expr }}"
// action holding an expression (not a control keyword or comment), and
// returns the expression.
func singleAction(s string) (string, bool) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "{{") || !strings.HasSuffix(t, "}}") || len(t) < 4 {
		return "", false
	}
	inner := t[2 : len(t)-2]
	if strings.Contains(inner, "{{") || strings.Contains(inner, "}}") {
		return "", false
	}
	// Trim markers: "{{- " and " -}}".
	if len(inner) >= 2 && inner[0] == '-' && isSpace(inner[1]) {
		inner = inner[1:]
	}
	if n := len(inner); n >= 2 && inner[n-1] == '-' && isSpace(inner[n-2]) {
		inner = inner[:n-1]
	}
	inner = strings.TrimSpace(inner)
	if inner == "" || strings.HasPrefix(inner, "/*") {
		return "", false
	}
	first := inner
	if i := strings.IndexAny(inner, " \t\r\n("); i >= 0 {
		first = inner[:i]
	}
	switch first {
	case "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue":
		return "", false
	}
	return inner, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// Normalize converts a value to the shapes YAML decoding produces, so that
// values computed by templates look like values read from files: slices
// become []any, maps with string keys map[string]any, integers int,
// float32 float64. Other values are returned as they are.
func Normalize(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int, float64:
		return v
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = Normalize(el)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, el := range x {
			out[k] = Normalize(el)
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int(rv.Uint())
	case reflect.Float32:
		return rv.Float()
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return v // []byte stays bytes
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = Normalize(rv.Index(i).Interface())
		}
		return out
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return v
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			out[it.Key().String()] = Normalize(it.Value().Interface())
		}
		return out
	}
	return v
}

var jinjaStmtRe = regexp.MustCompile(`\{%-?\s*(if|elif|else|endif|for|endfor|set|raw|endraw|macro|include|block|endblock)\b`)

// jinjaStatement refuses a text holding a Jinja statement ({% if %}), which
// Go templates would otherwise pass through as plain text.
// statementHint says how to write text's Jinja statements as Go
// template actions.
func statementHint(text string) string {
	h := "pgplay templates are Go text/template: statements are actions, as {{ if .x }}…{{ else }}…{{ end }}, {{ range .list }}…{{ end }}, {{ $v := .x }}"
	if ih := idiomHint(text); ih != "" {
		h += "; " + ih
	}
	return h
}

func jinjaStatement(name, text string) error {
	loc := jinjaStmtRe.FindStringIndex(text)
	if loc == nil {
		return nil
	}
	line := strings.Count(text[:loc[0]], "\n") + 1
	return &Error{Name: name, Line: line, multiline: strings.Contains(strings.TrimSpace(text), "\n"),
		Msg:     "Jinja statement in a template",
		Snippet: lineOf(text, line),
		Hint:    statementHint(text)}
}
