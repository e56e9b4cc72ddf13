package tmpl

import (
	"sort"
	"strings"
	"text/template/parse"
)

// Refs returns the top-level variables a template (or, with cond, a `when:`
// condition) reads unguarded: x for {{ .x }}, {{ .x.y }}, {{ $.x }} or
// `eq .x 1`, sorted and without duplicates. A runner can compare them with
// the variables that can exist when the task runs, and report a misspelt
// name before any host is contacted.
//
// Names read where the dot is rebound (inside {{ range }} and {{ with }})
// are not the top level and are left out, as are names the template
// guards itself: a name given as a string to hasKey, get, or hasKey's and
// get's friends (`{{ if hasKey . "x" }}{{ .x }}{{ end }}`). A text that does
// not parse has no references (Check reports it).
func (e *Engine) Refs(text string, cond bool) []string {
	// Parsed as Render (or, with cond, Eval and Check) parse it, through
	// the Engine's cache: Prepare's parse is the one the run uses.
	key, src := "p\x00"+text, text
	if cond {
		expr := strings.TrimSpace(text)
		if inner, ok := singleAction(expr); ok {
			expr = inner
		}
		if strings.TrimSpace(expr) == "" {
			return nil
		}
		key, src = "n\x00"+expr, "{{"+nativeFunc+" ("+expr+")}}"
	} else if !strings.Contains(text, "{{") {
		return nil
	}
	t, err := e.parse(key, src)
	if err != nil {
		return nil
	}
	w := &refWalker{refs: map[string]bool{}, guarded: map[string]bool{}}
	if ownSet(src) {
		for _, tt := range t.Templates() {
			if tt.Tree == nil || tt.Tree.Root == nil {
				continue
			}
			// Templates made with {{ define }} are run with any dot: only
			// the main one reads the top level through the dot.
			w.node(tt.Tree.Root, tt.Name() == t.Name())
		}
	} else if t.Tree != nil {
		// Shares the Engine's base template set (see newTemplate), which
		// holds other texts: only its own tree is this text's.
		w.node(t.Tree.Root, true)
	}
	var out []string
	for n := range w.refs {
		if !w.guarded[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// guardFuncs take the map first and the key as a string: names given to
// them are tested by the template itself.
var guardFuncs = map[string]bool{"hasKey": true, "get": true, "pluck": true, "pick": true, "omit": true, "dig": true}

type refWalker struct {
	refs    map[string]bool
	guarded map[string]bool
}

// node walks n; top says whether the dot is the top-level variables.
func (w *refWalker) node(n parse.Node, top bool) {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return
		}
		for _, c := range x.Nodes {
			w.node(c, top)
		}
	case *parse.ActionNode:
		w.pipe(x.Pipe, top)
	case *parse.IfNode:
		w.pipe(x.Pipe, top)
		w.node(x.List, top)
		w.node(x.ElseList, top)
	case *parse.WithNode:
		w.pipe(x.Pipe, top)
		w.node(x.List, false) // dot is the with's value
		w.node(x.ElseList, top)
	case *parse.RangeNode:
		w.pipe(x.Pipe, top)
		w.node(x.List, false) // dot is the element
		w.node(x.ElseList, top)
	case *parse.TemplateNode:
		w.pipe(x.Pipe, top)
	}
}

func (w *refWalker) pipe(p *parse.PipeNode, top bool) {
	if p == nil {
		return
	}
	for _, c := range p.Cmds {
		if len(c.Args) >= 3 {
			if id, ok := c.Args[0].(*parse.IdentifierNode); ok && guardFuncs[id.Ident] {
				for _, a := range c.Args[2:] {
					if s, ok := a.(*parse.StringNode); ok {
						w.guarded[s.Text] = true
					}
				}
			}
		}
		for _, a := range c.Args {
			w.arg(a, top)
		}
	}
}

func (w *refWalker) arg(a parse.Node, top bool) {
	switch x := a.(type) {
	case *parse.FieldNode:
		if top && len(x.Ident) > 0 {
			w.refs[x.Ident[0]] = true
		}
	case *parse.VariableNode:
		// $ is the top level wherever the dot is.
		if len(x.Ident) > 1 && x.Ident[0] == "$" {
			w.refs[x.Ident[1]] = true
		}
	case *parse.ChainNode:
		w.arg(x.Node, top)
	case *parse.PipeNode:
		w.pipe(x, top)
	}
}
