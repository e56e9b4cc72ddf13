package modules

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/transport"
)

// allTypes has one argument of every supported type.
type allTypes struct {
	S       string            `arg:"s" default:"dflt" doc:"a string"`
	Req     string            `arg:"req,required"`
	B       bool              `arg:"b"`
	I       int               `arg:"i" default:"7"`
	I64     int64             `arg:"i64"`
	F       float64           `arg:"f"`
	SL      []string          `arg:"sl"`
	One     []string          `arg:"one,nosplit"`
	L       []any             `arg:"l"`
	M       map[string]any    `arg:"m"`
	SM      map[string]string `arg:"sm"`
	A       any               `arg:"a"`
	D       time.Duration     `arg:"d" default:"300"`
	Mode    Mode              `arg:"mode"`
	PB      *bool             `arg:"pb"`
	PI      *int              `arg:"pi"`
	PS      *string           `arg:"ps"`
	State   string            `arg:"state" choices:"on|off" aliases:"st"`
	Common                    // embedded arguments
	Ignored string            // no arg tag: not an argument
}

type Common struct {
	Owner string `arg:"owner" doc:"who"`
}

func (a *allTypes) Run(context.Context, transport.Target, *Env) (*Result, error) {
	return &Result{}, nil
}

var allSpec = Spec{Name: "alltypes", New: func() Module { return &allTypes{} }}

func decodeAll(t *testing.T, raw map[string]any) (*allTypes, error) {
	t.Helper()
	m := &allTypes{}
	err := Decode(allSpec, raw, m)
	return m, err
}

func TestDecodeEveryType(t *testing.T) {
	m, err := decodeAll(t, map[string]any{
		"req": 5, "b": "Yes", "i": "42", "i64": 9000000000, "f": 1, "sl": "a, b,c", "one": "eq .x \"a,b\"",
		"l": "single", "m": map[string]any{"k": 1}, "sm": map[string]any{"n": 2, "b": true},
		"a": []any{1}, "d": "1m30s", "mode": "0640", "pb": "off", "pi": 0, "ps": "", "st": "on", "owner": "postgres",
	})
	if err != nil {
		t.Fatal(err)
	}
	f, tr := false, 0
	empty := ""
	want := &allTypes{
		S: "dflt", Req: "5", B: true, I: 42, I64: 9000000000, F: 1, SL: []string{"a", "b", "c"},
		One: []string{`eq .x "a,b"`}, L: []any{"single"}, M: map[string]any{"k": 1},
		SM: map[string]string{"n": "2", "b": "true"}, A: []any{1}, D: 90 * time.Second, Mode: 0o640,
		PB: &f, PI: &tr, PS: &empty, State: "on", Common: Common{Owner: "postgres"},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("decoded\n %+v\nwant\n %+v", m, want)
	}

	// Defaults, and nil pointers for arguments not given; null is "not given".
	m, err = decodeAll(t, map[string]any{"req": "x", "s": nil, "sl": []any{"a", 2, true}})
	if err != nil {
		t.Fatal(err)
	}
	if m.S != "dflt" || m.I != 7 || m.D != 300*time.Second || m.PB != nil || m.PI != nil || m.PS != nil || m.Mode != 0 {
		t.Errorf("defaults not applied: %+v", m)
	}
	if !reflect.DeepEqual(m.SL, []string{"a", "2", "true"}) {
		t.Errorf("list of scalars: %#v", m.SL)
	}
}

func TestDecodeBools(t *testing.T) {
	for in, want := range map[any]bool{true: true, false: false, "true": true, "FALSE": false, "yes": true, "No": false, "on": true, "OFF": false, 1: true, 0: false, "1": true} {
		m, err := decodeAll(t, map[string]any{"req": "x", "b": in})
		if err != nil || m.B != want {
			t.Errorf("b=%v: got %v, %v; want %v", in, m.B, err, want)
		}
	}
	_, err := decodeAll(t, map[string]any{"req": "x", "b": "maybe"})
	if err == nil || !strings.Contains(err.Error(), `argument "b": want true or false`) || !strings.Contains(err.Error(), `"maybe"`) {
		t.Errorf("bad bool: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		raw  map[string]any
		want []string
		arg  string
	}{
		{map[string]any{"req": "x", "dest": "y"}, []string{`unknown argument "dest" for module "alltypes" (valid: a, b, d, f, i, i64, l, m, mode, one, owner, pb, pi, ps, req, s, sl, sm, state)`}, "dest"},
		{map[string]any{"req": "x", "sate": "on"}, []string{`unknown argument "sate"`, `did you mean "state"?`}, "sate"},
		{map[string]any{"req": "x", "when": "true"}, []string{`"when" is a task keyword`}, "when"},
		{map[string]any{"s": "x"}, []string{`missing required argument "req" for module "alltypes"`}, "req"},
		{map[string]any{"req": "x", "state": "maybe"}, []string{`argument "state": "maybe" is not one of: on, off`}, "state"},
		{map[string]any{"req": "x", "st": "maybe"}, []string{`argument "st": "maybe" is not one of`}, "st"},
		{map[string]any{"req": "x", "state": "on", "st": "off"}, []string{`arguments "st" and "state" are the same argument`}, "state"},
		{map[string]any{"req": "x", "mode": true}, []string{`argument "mode": want file mode like "0644"`, "got true"}, "mode"},
		{map[string]any{"req": "x", "i": "many"}, []string{`argument "i": want an integer, got "many"`}, "i"},
		{map[string]any{"req": "x", "i": 1.5}, []string{`argument "i": want an integer, got 1.5`}, "i"},
		{map[string]any{"req": "x", "m": "text"}, []string{`argument "m": want a mapping, got "text"`}, "m"},
		{map[string]any{"req": map[string]any{}}, []string{`argument "req": want a string, got a mapping`}, "req"},
		{map[string]any{"req": "x", "d": "soon"}, []string{`argument "d": want a duration`}, "d"},
		{map[string]any{"req": "x", "sl": []any{[]any{}}}, []string{`argument "sl": item 1: want a string, got a list`}, "sl"},
	}
	for _, c := range cases {
		_, err := decodeAll(t, c.raw)
		if err == nil {
			t.Errorf("%v: no error", c.raw)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error lacks %q:\n%v", c.raw, w, err)
			}
		}
		var ae *ArgError
		if !errors.As(err, &ae) || ae.Arg != c.arg || ae.Module != "alltypes" {
			t.Errorf("%v: error %#v, want an ArgError for argument %q", c.raw, err, c.arg)
		}
	}
}

func TestDecodeRaw(t *testing.T) {
	// A module without FreeForm takes Ansible's key=value syntax.
	m, err := decodeAll(t, map[string]any{"_raw": `req=x s="two words" sl=a,b mode=0755 ps='it''s'`})
	if err != nil {
		t.Fatal(err)
	}
	if m.Req != "x" || m.S != "two words" || !reflect.DeepEqual(m.SL, []string{"a", "b"}) || m.Mode != 0o755 || *m.PS != "its" {
		t.Errorf("k=v decoded to %+v", m)
	}
	for raw, want := range map[string]string{
		"just words":     `module "alltypes" takes no free-form text: "just" is not a key=value pair`,
		`req=x s="open`:  "unterminated double quote",
		"req=x req=y":    `argument "req" is given twice`,
		"req=x nosuch=1": `unknown argument "nosuch"`,
	} {
		_, err := decodeAll(t, map[string]any{"_raw": raw})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("_raw %q: error %v, want %q", raw, err, want)
		}
	}
	_, err = decodeAll(t, map[string]any{"_raw": "req=x", "req": "y"})
	if err == nil || !strings.Contains(err.Error(), `"req" is given twice`) {
		t.Errorf("_raw and a map both giving req: %v", err)
	}

	// A module with FreeForm gets the text in that argument.
	spec, _ := Lookup("command")
	c := spec.New()
	if err := Decode(spec, map[string]any{"_raw": "ls -l", "chdir": "/tmp"}, c); err != nil {
		t.Fatal(err)
	}
	if cm := c.(*Command); cm.Cmd != "ls -l" || cm.Chdir != "/tmp" || !reflect.DeepEqual(cm.argv, []string{"ls", "-l"}) {
		t.Errorf("free form: %+v", cm)
	}
	if err := Decode(spec, map[string]any{"_raw": "ls", "cmd": "ls"}, spec.New()); err == nil {
		t.Error("free form text and cmd both given: no error")
	}
}

func TestParseMode(t *testing.T) {
	good := map[any]Mode{
		"0644": 0o644, "644": 0o644, "0o755": 0o755, "2775": 0o2775, "0": 0, "": 0, nil: 0,
		644: 0o644, 755: 0o755, 600: 0o600, 4755: 0o4755, 0: 0, float64(640): 0o640,
		"u=rw,g=r,o=r": 0o644, "u=rwx,go=rx": 0o755, "a=r,u=rw": 0o644, "u=rwx,g=rxs,o=": 0o2750,
		"a=rwxt": 0o1777, "u=rws": 0o4600, "u=rwxs": 0o4700, "=r": 0o444,
	}
	for in, want := range good {
		got, err := ParseMode(in)
		if err != nil || got != want {
			t.Errorf("ParseMode(%#v) = %04o, %v; want %04o", in, got, err, want)
		}
	}
	for _, in := range []any{"0999", "u+x", "rw-r--r--", 800, 493, -1, "77777", 1.5, true, "preserve", []any{}} {
		if m, err := ParseMode(in); err == nil {
			t.Errorf("ParseMode(%#v) = %04o, want an error", in, m)
		} else if !strings.Contains(err.Error(), `want file mode like "0644"`) {
			t.Errorf("ParseMode(%#v): %v", in, err)
		}
	}
	if s := Mode(0o640).String(); s != "0640" {
		t.Errorf("String() = %q", s)
	}
}

type exclusive struct {
	A string `arg:"a"`
	B string `arg:"b"`
}

func (e *exclusive) Run(context.Context, transport.Target, *Env) (*Result, error) { return nil, nil }
func (e *exclusive) Validate() error {
	if e.A != "" && e.B != "" {
		return errors.New(`give "a" or "b", not both`)
	}
	return nil
}

func TestDecodeValidate(t *testing.T) {
	spec := Spec{Name: "excl"}
	err := Decode(spec, map[string]any{"a": "1", "b": "2"}, &exclusive{})
	var ae *ArgError
	if !errors.As(err, &ae) || ae.Module != "excl" || !strings.Contains(err.Error(), `give "a" or "b", not both`) {
		t.Errorf("Validate error: %#v", err)
	}
	if err := Decode(spec, map[string]any{"a": "1"}, &exclusive{}); err != nil {
		t.Errorf("valid args: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	docs := Describe(allSpec)
	byName := map[string]ArgDoc{}
	for _, d := range docs {
		byName[d.Name] = d
	}
	if len(docs) != 19 {
		t.Errorf("Describe gave %d arguments, want 19", len(docs))
	}
	if d := byName["req"]; !d.Required || d.Type != "string" {
		t.Errorf("req: %+v", d)
	}
	if d := byName["state"]; !reflect.DeepEqual(d.Choices, []string{"on", "off"}) || !reflect.DeepEqual(d.Aliases, []string{"st"}) {
		t.Errorf("state: %+v", d)
	}
	if d := byName["d"]; d.Type != "duration" || d.Default != "300" {
		t.Errorf("d: %+v", d)
	}
	if d := byName["owner"]; d.Doc != "who" {
		t.Errorf("embedded owner: %+v", d)
	}
	if d := byName["mode"]; d.Type != "mode" {
		t.Errorf("mode: %+v", d)
	}

	// Every registered module describes itself and has examples (a
	// test in internal/runner parses them).
	for _, name := range Names() {
		spec, _ := Lookup(name)
		if spec.Purpose == "" || len(spec.Examples) < 2 {
			t.Errorf("module %s lacks a Purpose or has fewer than 2 Examples", name)
		}
		// pgplay doc MODULE lists what register: gets; only these
		// register nothing beyond changed, failed, skipped and msg.
		if onlyCommon := map[string]bool{"fail": true, "meta": true, "set_fact": true}; spec.Returns == "" && !onlyCommon[name] {
			t.Errorf("module %s documents no return values (Spec.Returns)", name)
		}
		for _, d := range Describe(spec) {
			if d.Doc == "" {
				t.Errorf("module %s: argument %s has no doc", name, d.Name)
			}
		}
		if spec.FreeForm != "" {
			found := false
			for _, d := range Describe(spec) {
				found = found || d.FreeForm
			}
			if !found {
				t.Errorf("module %s: FreeForm %q is not one of its arguments", name, spec.FreeForm)
			}
		}
	}
}

func TestSplitWords(t *testing.T) {
	cases := map[string][]string{
		`ls -l`:                              {"ls", "-l"},
		`  a   b  `:                          {"a", "b"},
		`echo "a b" 'c d' e\ f`:              {"echo", "a b", "c d", "e f"},
		`psql -c "SELECT 'it''s'"`:           {"psql", "-c", "SELECT 'it''s'"},
		`echo '$HOME' "$HOME" \$x`:           {"echo", "$HOME", "$HOME", "$x"},
		`echo "q\"uote" 'back\slash' "b\\s"`: {"echo", `q"uote`, `back\slash`, `b\s`},
		`a""b ''`:                            {"ab", ""},
		"echo 'line1\nline2'":                {"echo", "line1\nline2"},
		`find . -name x \;`:                  {"find", ".", "-name", "x", ";"},
		"a \\\nb":                            {"a", "b"},
	}
	for in, want := range cases {
		w, err := splitWords(in)
		if err != nil || !reflect.DeepEqual(w.list, want) || len(w.ops) != 0 {
			t.Errorf("splitWords(%q) = %q ops %q, %v; want %q", in, w.list, w.ops, err, want)
		}
	}
	w, err := splitWords(`ls | wc -l > out && x; y &`)
	if err != nil || !reflect.DeepEqual(w.ops, []string{"|", ">", "&&", ";", "&"}) {
		t.Errorf("ops: %q, %v", w.ops, err)
	}
	for _, bad := range []string{`echo 'open`, `echo "open`} {
		if _, err := splitWords(bad); err == nil {
			t.Errorf("splitWords(%q): no error", bad)
		}
	}
}
