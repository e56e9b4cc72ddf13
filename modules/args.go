package modules

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// Argument decoding.
//
// A module's arguments are the exported fields of its struct tagged
// `arg:"name"`. Tags:
//
//	arg:"name"            the argument's name; options after commas:
//	                      required  the task must give it
//	                      nosplit   ([]string) a single string is one item, not comma-separated
//	arg:"*"               (map[string]any) receives every key no other field takes
//	default:"..."         value when the argument is not given (or given as null)
//	choices:"a|b|c"       the allowed values (strings)
//	aliases:"dest|name"   other accepted names
//	doc:"..."             one line for `pgplay doc MODULE`
//
// Anonymous embedded structs are searched too, so modules can share a set
// of arguments (FileAttrs). Supported field types and what they accept:
//
//	string            a string, or a number or boolean (formatted)
//	bool              true/false, yes/no, on/off, 1/0 (any case)
//	int, int64        an integer, or a string holding one
//	float64           a number, or a string holding one
//	[]string          a list of scalars, or a comma-separated string
//	[]any             a list (a single value becomes a list of one)
//	map[string]any    a mapping
//	map[string]string a mapping of scalars
//	any               anything
//	time.Duration     seconds as a number, or a Go duration string ("1m30s")
//	Mode              a file mode (see ParseMode)
//	*bool, *int, *string  as bool/int/string; nil when not given

// ArgError is a problem with a task's arguments. The runner adds the
// task's file:line; Arg names the argument ("" when the problem is not one
// argument's) so the runner can point at where it was written.
type ArgError struct {
	Module string
	Arg    string
	Msg    string
	Hint   string
}

func (e *ArgError) Error() string {
	if e.Hint == "" {
		return e.Msg
	}
	return e.Msg + "\n  hint: " + e.Hint
}

// ArgDoc describes one argument, for `pgplay doc MODULE`.
type ArgDoc struct {
	Name     string
	Type     string
	Default  string
	Doc      string
	Required bool
	Choices  []string
	// Aliases are other accepted names.
	Aliases []string
	// FreeForm is true for the argument that a plain string given as the
	// module's value fills (`command: ls -l`).
	FreeForm bool
}

// Validator is implemented by modules with checks across arguments (such
// as two arguments that exclude each other). Decode calls Validate after
// filling the fields.
type Validator interface {
	Validate() error
}

// Mode is a file permission mode (0o7777 bits; setuid is 0o4000 as in
// chmod). Zero means "not given": the mode is left as it is.
type Mode uint32

// FileMode returns the mode as the fs.FileMode that transport.Attrs wants
// (raw permission bits).
func (m Mode) FileMode() fs.FileMode { return fs.FileMode(m) }

// String formats the mode as four octal digits, "0644".
func (m Mode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// ParseMode reads a file mode given as an argument:
//
//   - a string of octal digits: "0644", "644", "0o644", "2775";
//   - a symbolic string of `=` clauses: "u=rw,g=r,o=r", "a=rx,u=rwx",
//     "u=rwx,g=rxs,o=" ('+' and '-' are refused: they depend on the current
//     mode, which a wanted state cannot);
//   - an integer, read as octal digits when all its decimal digits are
//     0-7: 644 means 0644, as people write it (YAML's 0644 reaches modules
//     as the string "0644"); an integer with an 8 or 9 is refused;
//   - "" or 0: not given.
func ParseMode(v any) (Mode, error) {
	bad := func(extra string) (Mode, error) {
		return 0, fmt.Errorf("want file mode like \"0644\" or \"u=rw,g=r,o=r\", got %s%s", describeValue(v), extra)
	}
	switch x := v.(type) {
	case nil:
		return 0, nil
	case Mode:
		return x, nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, nil
		}
		if octal := strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O"); isOctal(octal) {
			n, err := strconv.ParseUint(octal, 8, 32)
			if err != nil || n > 0o7777 {
				return bad(" (more than 0o7777)")
			}
			return Mode(n), nil
		}
		if s == "preserve" {
			return bad(" (preserve is not supported: give the mode)")
		}
		m, err := parseSymbolicMode(s)
		if err != nil {
			return bad(" (" + err.Error() + ")")
		}
		return m, nil
	case int, int64, float64:
		n, ok := asInt(x)
		if !ok || n < 0 {
			return bad("")
		}
		if n == 0 {
			return 0, nil
		}
		digits := strconv.FormatInt(n, 10)
		if !isOctal(digits) {
			return bad(" (an integer mode is read as octal digits; write it as a quoted string: \"0755\")")
		}
		m, _ := strconv.ParseUint(digits, 8, 32)
		if m > 0o7777 {
			return bad(" (more than 0o7777)")
		}
		return Mode(m), nil
	}
	return bad("")
}

func isOctal(s string) bool {
	if s == "" || len(s) > 6 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}

// parseSymbolicMode reads comma-separated clauses WHO=PERMS.
func parseSymbolicMode(s string) (Mode, error) {
	var m uint32
	for _, clause := range strings.Split(s, ",") {
		who, perms, ok := strings.Cut(clause, "=")
		if !ok {
			if strings.ContainsAny(clause, "+-") {
				return 0, fmt.Errorf("%q: only = clauses are supported (a wanted mode cannot depend on the current one)", clause)
			}
			return 0, fmt.Errorf("%q is not a WHO=PERMS clause", clause)
		}
		if who == "" {
			who = "a"
		}
		var shifts []uint
		var sBits uint32
		for _, c := range who {
			switch c {
			case 'u':
				shifts, sBits = append(shifts, 6), sBits|0o4000
			case 'g':
				shifts, sBits = append(shifts, 3), sBits|0o2000
			case 'o':
				shifts, sBits = append(shifts, 0), sBits|0o1000
			case 'a':
				shifts, sBits = append(shifts, 6, 3, 0), sBits|0o7000
			default:
				return 0, fmt.Errorf("%q: who must be made of u, g, o, a", clause)
			}
		}
		var rwx, special uint32
		for _, c := range perms {
			switch c {
			case 'r':
				rwx |= 4
			case 'w':
				rwx |= 2
			case 'x':
				rwx |= 1
			case 's':
				special |= sBits & 0o6000
			case 't':
				special |= sBits & 0o1000
			default:
				return 0, fmt.Errorf("%q: permissions must be made of r, w, x, s, t", clause)
			}
		}
		for _, sh := range shifts {
			m &^= 7 << sh
			m |= rwx << sh
		}
		m &^= sBits
		m |= special
	}
	return Mode(m), nil
}

// argField is one decoded field.
type argField struct {
	name     string
	aliases  []string
	required bool
	nosplit  bool
	rest     bool
	def      string
	hasDef   bool
	choices  []string
	doc      string
	index    []int
	typ      reflect.Type
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	modeType     = reflect.TypeOf(Mode(0))
)

// argFields lists the `arg` fields of struct type t (and of its anonymous
// embedded structs).
func argFields(t reflect.Type, index []int) ([]argField, error) {
	var out []argField
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		idx := append(append([]int(nil), index...), i)
		tag, ok := sf.Tag.Lookup("arg")
		if !ok {
			if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
				sub, err := argFields(sf.Type, idx)
				if err != nil {
					return nil, err
				}
				out = append(out, sub...)
			}
			continue
		}
		if !sf.IsExported() {
			return nil, fmt.Errorf("field %s has an arg tag but is not exported", sf.Name)
		}
		parts := strings.Split(tag, ",")
		f := argField{name: parts[0], index: idx, typ: sf.Type, doc: sf.Tag.Get("doc")}
		for _, o := range parts[1:] {
			switch o {
			case "required":
				f.required = true
			case "nosplit":
				f.nosplit = true
			default:
				return nil, fmt.Errorf("field %s: unknown arg tag option %q", sf.Name, o)
			}
		}
		if f.name == "*" {
			if sf.Type != reflect.TypeOf(map[string]any(nil)) {
				return nil, fmt.Errorf("field %s: arg \"*\" needs type map[string]any", sf.Name)
			}
			f.rest = true
		}
		f.def, f.hasDef = sf.Tag.Lookup("default")
		if c := sf.Tag.Get("choices"); c != "" {
			f.choices = strings.Split(c, "|")
		}
		if a := sf.Tag.Get("aliases"); a != "" {
			f.aliases = strings.Split(a, "|")
		}
		out = append(out, f)
	}
	return out, nil
}

// Decode fills dst's `arg` fields from a task's raw arguments, applying
// defaults, checking required arguments and choices, then calling
// Validate if dst has it. A "_raw" key (the module's value written as a
// plain string) fills the spec's FreeForm argument; a module without one
// accepts `key=value key2="value 2"` there (Ansible's free-form syntax).
func Decode(spec Spec, raw map[string]any, dst Module) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("module %q: Decode needs a pointer to a struct, got %T", spec.Name, dst)
	}
	sv := rv.Elem()
	fields, err := argFields(sv.Type(), nil)
	if err != nil {
		return fmt.Errorf("module %q: %w", spec.Name, err)
	}
	args, err := expandRaw(spec, raw)
	if err != nil {
		return err
	}

	byName, valid, rest := argIndex(fields)
	keys := slices.Sorted(maps.Keys(args))
	given := map[*argField]string{}
	var restMap map[string]any
	for _, k := range keys {
		v := args[k]
		f := byName[k]
		if f == nil {
			if rest != nil {
				if restMap == nil {
					restMap = map[string]any{}
				}
				restMap[k] = v
				continue
			}
			return unknownArg(spec.Name, k, valid)
		}
		if prev, dup := given[f]; dup {
			return &ArgError{Module: spec.Name, Arg: k,
				Msg:  fmt.Sprintf("arguments %q and %q are the same argument", prev, k),
				Hint: fmt.Sprintf("give only one of them (%q is the main name)", f.name)}
		}
		given[f] = k
		if v == nil {
			continue // null: as if not given
		}
		if err := setField(sv.FieldByIndex(f.index), f, v); err != nil {
			return &ArgError{Module: spec.Name, Arg: k, Msg: fmt.Sprintf("argument %q: %v", k, err)}
		}
	}
	if rest != nil && restMap != nil {
		sv.FieldByIndex(rest.index).Set(reflect.ValueOf(restMap))
	}

	for i := range fields {
		f := &fields[i]
		if f.rest {
			continue
		}
		k, ok := given[f]
		if ok && args[k] == nil {
			ok = false
		}
		if !ok {
			if f.hasDef {
				if err := setField(sv.FieldByIndex(f.index), f, f.def); err != nil {
					return fmt.Errorf("module %q: bad default for %q: %w", spec.Name, f.name, err)
				}
			} else if f.required {
				hint := ""
				if len(spec.Examples) > 0 {
					hint = "for example:\n" + indent(spec.Examples[0], "    ")
				}
				return &ArgError{Module: spec.Name, Arg: f.name,
					Msg:  fmt.Sprintf("missing required argument %q for module %q", f.name, spec.Name),
					Hint: hint}
			}
		}
		if len(f.choices) > 0 {
			if err := checkChoices(sv.FieldByIndex(f.index), f); err != nil {
				arg := f.name
				if ok {
					arg = k
				}
				return &ArgError{Module: spec.Name, Arg: arg, Msg: fmt.Sprintf("argument %q: %v", arg, err)}
			}
		}
	}

	if v, ok := dst.(Validator); ok {
		if err := v.Validate(); err != nil {
			var ae *ArgError
			if errors.As(err, &ae) {
				if ae.Module == "" {
					ae.Module = spec.Name
				}
				return ae
			}
			return &ArgError{Module: spec.Name, Msg: err.Error()}
		}
	}
	return nil
}

// argIndex maps each argument's name and aliases to its field, lists the
// names (sorted, for did-you-mean) and returns the field that takes any
// other name (rest), if there is one.
func argIndex(fields []argField) (byName map[string]*argField, valid []string, rest *argField) {
	byName = map[string]*argField{}
	for i := range fields {
		f := &fields[i]
		if f.rest {
			rest = f
			continue
		}
		byName[f.name] = f
		valid = append(valid, f.name)
		for _, a := range f.aliases {
			byName[a] = f
		}
	}
	sort.Strings(valid)
	return byName, valid, rest
}

// CheckNames checks the argument names of raw, not their values (they
// may be templates, rendered only when the task runs): an unknown name is
// the *ArgError Decode gives for it. The free-form "_raw" is not looked
// at: its key=value names are known only once it is rendered.
func CheckNames(spec Spec, raw map[string]any) error {
	rt := reflect.TypeOf(spec.New())
	if rt.Kind() != reflect.Pointer || rt.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("module %q: CheckNames needs a pointer to a struct, got %v", spec.Name, rt)
	}
	fields, err := argFields(rt.Elem(), nil)
	if err != nil {
		return fmt.Errorf("module %q: %w", spec.Name, err)
	}
	known, valid, rest := argIndex(fields)
	if rest != nil {
		return nil // takes any name
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if _, ok := known[k]; k != "_raw" && !ok {
			return unknownArg(spec.Name, k, valid)
		}
	}
	return nil
}

// expandRaw turns a "_raw" key into arguments.
func expandRaw(spec Spec, raw map[string]any) (map[string]any, error) {
	rawv, has := raw["_raw"]
	if !has {
		return raw, nil
	}
	out := make(map[string]any, len(raw)+2)
	for k, v := range raw {
		if k != "_raw" {
			out[k] = v
		}
	}
	if spec.FreeForm != "" {
		if _, dup := out[spec.FreeForm]; dup {
			return nil, &ArgError{Module: spec.Name, Arg: spec.FreeForm,
				Msg: fmt.Sprintf("%q is given both as the module's text and as an argument", spec.FreeForm)}
		}
		out[spec.FreeForm] = rawv
		return out, nil
	}
	s, ok := rawv.(string)
	if !ok {
		return nil, &ArgError{Module: spec.Name,
			Msg:  fmt.Sprintf("module %q wants its arguments as a mapping, got %s", spec.Name, describeValue(rawv)),
			Hint: "indent the arguments under the module name, one `name: value` per line"}
	}
	kv, err := parseKeyValues(s)
	if err != nil {
		return nil, &ArgError{Module: spec.Name,
			Msg:  fmt.Sprintf("module %q takes no free-form text: %v", spec.Name, err),
			Hint: "write its arguments as a mapping (indented `name: value` lines) or as key=value pairs"}
	}
	for k, v := range kv {
		if _, dup := out[k]; dup {
			return nil, &ArgError{Module: spec.Name, Arg: k, Msg: fmt.Sprintf("argument %q is given twice", k)}
		}
		out[k] = v
	}
	return out, nil
}

func unknownArg(module, k string, valid []string) error {
	e := &ArgError{Module: module, Arg: k,
		Msg: fmt.Sprintf("unknown argument %q for module %q (valid: %s)", k, module, strings.Join(valid, ", "))}
	if s := yamlsrc.DidYouMean(k, valid); s != "" {
		e.Hint = strings.TrimSpace(s)
	} else if len(k) > 0 && (k == "when" || k == "register" || k == "notify" || k == "loop" || k == "become" || k == "tags") {
		e.Hint = fmt.Sprintf("%q is a task keyword: indent it at the level of the module name, not under it", k)
	}
	return e
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pre)
}

func checkChoices(fv reflect.Value, f *argField) error {
	var vals []string
	switch fv.Kind() {
	case reflect.String:
		if fv.String() == "" {
			return nil // not given and no default
		}
		vals = []string{fv.String()}
	case reflect.Slice:
		if fv.Type().Elem().Kind() == reflect.String {
			for i := 0; i < fv.Len(); i++ {
				vals = append(vals, fv.Index(i).String())
			}
		}
	}
	for _, v := range vals {
		ok := false
		for _, c := range f.choices {
			if v == c {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("%q is not one of: %s", v, strings.Join(f.choices, ", "))
		}
	}
	return nil
}

// setField converts v to the field's type and stores it.
func setField(fv reflect.Value, f *argField, v any) error {
	t := fv.Type()
	switch t {
	case durationType:
		d, err := toDuration(v)
		if err != nil {
			return err
		}
		fv.SetInt(int64(d))
		return nil
	case modeType:
		m, err := ParseMode(v)
		if err != nil {
			return err
		}
		fv.SetUint(uint64(m))
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		s, err := toString(v)
		if err != nil {
			return err
		}
		fv.SetString(s)
	case reflect.Bool:
		b, err := toBool(v)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := toInt(v)
		if err != nil {
			return err
		}
		fv.SetInt(n)
	case reflect.Float64:
		x, err := toFloat(v)
		if err != nil {
			return err
		}
		fv.SetFloat(x)
	case reflect.Slice:
		switch t.Elem().Kind() {
		case reflect.String:
			l, err := toStringList(v, f.nosplit)
			if err != nil {
				return err
			}
			fv.Set(reflect.ValueOf(l).Convert(t))
		case reflect.Interface:
			fv.Set(reflect.ValueOf(toList(v)))
		default:
			return fmt.Errorf("unsupported argument type %s", t)
		}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("unsupported argument type %s", t)
		}
		switch t.Elem().Kind() {
		case reflect.Interface:
			m, err := toMap(v)
			if err != nil {
				return err
			}
			fv.Set(reflect.ValueOf(m))
		case reflect.String:
			m, err := toMap(v)
			if err != nil {
				return err
			}
			sm := make(map[string]string, len(m))
			for k, el := range m {
				s, err := toString(el)
				if err != nil {
					return fmt.Errorf("key %q: %w", k, err)
				}
				sm[k] = s
			}
			fv.Set(reflect.ValueOf(sm))
		default:
			return fmt.Errorf("unsupported argument type %s", t)
		}
	case reflect.Interface:
		fv.Set(reflect.ValueOf(&v).Elem())
	case reflect.Pointer:
		switch t.Elem().Kind() {
		case reflect.Bool:
			b, err := toBool(v)
			if err != nil {
				return err
			}
			fv.Set(reflect.ValueOf(&b))
		case reflect.Int:
			n, err := toInt(v)
			if err != nil {
				return err
			}
			i := int(n)
			fv.Set(reflect.ValueOf(&i))
		case reflect.String:
			s, err := toString(v)
			if err != nil {
				return err
			}
			fv.Set(reflect.ValueOf(&s))
		default:
			return fmt.Errorf("unsupported argument type %s", t)
		}
	default:
		return fmt.Errorf("unsupported argument type %s", t)
	}
	return nil
}

// describeValue shows a value in an error message.
func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case []any, []string:
		return "a list"
	case map[string]any, map[string]string:
		return "a mapping"
	default:
		return fmt.Sprintf("%v", x)
	}
}

func toString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	switch v.(type) {
	case map[string]any, []any, map[string]string, []string:
		return "", fmt.Errorf("want a string, got %s (to write structured data as text, render it with toYaml or toJson)", describeValue(v))
	}
	return "", fmt.Errorf("want a string, got %s", describeValue(v))
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case int:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "yes", "on", "1", "y":
			return true, nil
		case "false", "no", "off", "0", "n":
			return false, nil
		}
	}
	return false, fmt.Errorf("want true or false (yes/no, on/off), got %s", describeValue(v))
}

// asInt returns v as an integer when it is an integral number.
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	}
	return 0, false
}

func toInt(v any) (int64, error) {
	if n, ok := asInt(v); ok {
		return n, nil
	}
	if s, ok := v.(string); ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("want an integer, got %s", describeValue(v))
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case float64:
		return x, nil
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
			return f, nil
		}
	}
	return 0, fmt.Errorf("want a number, got %s", describeValue(v))
}

func toDuration(v any) (time.Duration, error) {
	bad := fmt.Errorf("want a duration in seconds (30) or like \"1m30s\", got %s", describeValue(v))
	switch x := v.(type) {
	case int, int64, float64:
		f, _ := toFloat(x)
		if f < 0 {
			return 0, bad
		}
		return time.Duration(f * float64(time.Second)), nil
	case string:
		s := strings.TrimSpace(x)
		if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 {
			return time.Duration(f * float64(time.Second)), nil
		}
		if d, err := time.ParseDuration(s); err == nil && d >= 0 {
			return d, nil
		}
	}
	return 0, bad
}

func toStringList(v any, nosplit bool) ([]string, error) {
	switch x := v.(type) {
	case []string:
		return append([]string(nil), x...), nil
	case []any:
		out := make([]string, 0, len(x))
		for i, el := range x {
			s, err := toString(el)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i+1, err)
			}
			out = append(out, s)
		}
		return out, nil
	case string:
		if nosplit {
			return []string{x}, nil
		}
		if strings.TrimSpace(x) == "" {
			return []string{}, nil
		}
		parts := strings.Split(x, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, nil
	case int, int64, float64, bool:
		s, _ := toString(x)
		return []string{s}, nil
	}
	return nil, fmt.Errorf("want a list of strings, got %s", describeValue(v))
}

func toList(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	}
	return []any{v}
}

func toMap(v any) (map[string]any, error) {
	switch x := v.(type) {
	case map[string]any:
		return x, nil
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, s := range x {
			out[k] = s
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, el := range x {
			out[fmt.Sprint(k)] = el
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a mapping, got %s", describeValue(v))
}

// Describe lists a module's arguments from the same tags Decode reads.
func Describe(spec Spec) []ArgDoc {
	if spec.New == nil {
		return nil
	}
	t := reflect.TypeOf(spec.New())
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	fields, err := argFields(t, nil)
	if err != nil {
		return nil
	}
	out := make([]ArgDoc, 0, len(fields))
	for _, f := range fields {
		d := ArgDoc{Name: f.name, Type: typeName(f.typ, f.nosplit), Default: f.def, Doc: f.doc,
			Required: f.required, Choices: f.choices, Aliases: f.aliases,
			FreeForm: spec.FreeForm != "" && spec.FreeForm == f.name}
		if f.rest {
			d.Name, d.Type = "*", "any"
			if d.Doc == "" {
				d.Doc = "any other key"
			}
		}
		out = append(out, d)
	}
	return out
}

func typeName(t reflect.Type, nosplit bool) string {
	switch t {
	case durationType:
		return "duration"
	case modeType:
		return "mode"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int64:
		return "int"
	case reflect.Float64:
		return "number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			if nosplit {
				return "list of strings"
			}
			return "list of strings (or comma-separated)"
		}
		return "list"
	case reflect.Map:
		return "mapping"
	case reflect.Pointer:
		return typeName(t.Elem(), nosplit)
	}
	return "any"
}
