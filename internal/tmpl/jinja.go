package tmpl

import (
	"fmt"
	"regexp"
	"strings"
)

// Idiom is one Jinja filter, test or expression an Ansible user types, and
// how it is written in pgplay's Go templates (text/template + sprig + ours).
// The table (idioms) is the one source of the hints given for Jinja in a
// template and of docs/templates.md.
type Idiom struct {
	// Kind is "filter", "test" (in when:) or "expression".
	Kind string
	// Jinja is the Ansible spelling, as a template ({{ … }}) or, for
	// tests, as a when: condition.
	Jinja string
	// Go is pgplay's spelling of the same, in the same form.
	Go string
	// Note says what differs, if anything.
	Note string
	// Func, for a filter, is the Go function that takes the filter's
	// place in a pipeline (`x | to_yaml` -> `.x | toYaml`): the value
	// piped in is its last argument, as with the filter. "" when the
	// arguments come in another order.
	Func string
	// match finds the idiom in a template that failed to parse.
	match *regexp.Regexp
}

// Cond says whether the idiom is written as a when: condition.
func (i Idiom) Cond() bool { return i.Kind == "test" }

func filter(name, jinja, goForm, fn, note string) Idiom {
	return Idiom{Kind: "filter", Jinja: jinja, Go: goForm, Func: fn, Note: note,
		match: regexp.MustCompile(`\|\s*` + name + `\b`)}
}

func test(name, jinja, goForm, note string) Idiom {
	return Idiom{Kind: "test", Jinja: jinja, Go: goForm, Note: note,
		match: regexp.MustCompile(`\bis\s+(not\s+)?` + name + `\b`)}
}

func expr(re, jinja, goForm, note string) Idiom {
	return Idiom{Kind: "expression", Jinja: jinja, Go: goForm, Note: note, match: regexp.MustCompile(re)}
}

// idioms are the Jinja filters, tests and expressions Ansible users type
// most, with pgplay's spelling. Read only: Idioms gives a copy.
var idioms = []Idiom{
	filter("to_yaml", `{{ cfg | to_yaml }}`, `{{ toYaml .cfg }}`, "toYaml", ""),
	filter("to_nice_yaml", `{{ cfg | to_nice_yaml }}`, `{{ toYaml .cfg }}`, "toYaml", ""),
	filter("to_json", `{{ cfg | to_json }}`, `{{ toJson .cfg }}`, "toJson", ""),
	filter("to_nice_json", `{{ cfg | to_nice_json }}`, `{{ toPrettyJson .cfg }}`, "toPrettyJson", ""),
	filter("from_json", `{{ (j | from_json).a }}`, `{{ (fromJson .j).a }}`, "fromJson", ""),
	filter("from_yaml", `{{ (j | from_yaml).a }}`, `{{ (fromYaml .j).a }}`, "fromYaml", ""),
	filter("length", `{{ names | length }}`, `{{ len .names }}`, "len", ""),
	filter("count", `{{ names | count }}`, `{{ len .names }}`, "len", ""),
	filter("default", `{{ port | default(5432) }}`, `{{ get . "port" | default 5432 }}`, "default",
		`.port | default 5432 works when port is defined (maybe empty); get . "port" also when it is not`),
	filter("lower", `{{ x | lower }}`, `{{ lower .x }}`, "lower", ""),
	filter("upper", `{{ x | upper }}`, `{{ upper .x }}`, "upper", ""),
	filter("trim", `{{ x | trim }}`, `{{ trim .x }}`, "trim", ""),
	filter("int", `{{ n | int }}`, `{{ atoi .n }}`, "atoi", "int converts numbers; atoi parses a string"),
	filter("string", `{{ port | string }}`, `{{ toString .port }}`, "toString", ""),
	filter("join", `{{ names | join(',') }}`, `{{ join "," .names }}`, "join", ""),
	filter("split", `{{ s | split(',') }}`, `{{ splitList "," .s }}`, "splitList", ""),
	filter("replace", `{{ x | replace('l', 'L') }}`, `{{ replace "l" "L" .x }}`, "replace", ""),
	filter("regex_replace", `{{ x | regex_replace('l+', 'L') }}`, `{{ regexReplaceAll "l+" .x "L" }}`, "",
		"the string comes between the pattern and the replacement"),
	filter("regex_search", `{{ x | regex_search('l+') }}`, `{{ regexFind "l+" .x }}`, "regexFind", ""),
	filter("first", `{{ names | first }}`, `{{ first .names }}`, "first", ""),
	filter("last", `{{ names | last }}`, `{{ last .names }}`, "last", ""),
	filter("unique", `{{ names | unique }}`, `{{ uniq .names }}`, "uniq", ""),
	filter("sort", `{{ names | sort }}`, `{{ sortAlpha .names }}`, "sortAlpha", ""),
	filter("b64encode", `{{ x | b64encode }}`, `{{ b64enc .x }}`, "b64enc", ""),
	filter("b64decode", `{{ b | b64decode }}`, `{{ b64dec .b }}`, "b64dec", ""),
	filter("hash", `{{ x | hash('sha256') }}`, `{{ sha256sum .x }}`, "", "sha1sum, sha256sum, sha512sum, adler32sum"),
	filter("basename", `{{ path | basename }}`, `{{ base .path }}`, "base", ""),
	filter("dirname", `{{ path | dirname }}`, `{{ dir .path }}`, "dir", ""),
	filter("quote", `{{ x | quote }}`, `{{ shellQuote .x }}`, "shellQuote", "for SQL: sqlLiteral, sqlIdent"),
	filter("ternary", `{{ flag | ternary('on', 'off') }}`, `{{ ternary "on" "off" .flag }}`, "ternary", ""),
	filter("mandatory", `{{ x | mandatory }}`, `{{ .x }}`, "", `an undefined variable is an error already; for an empty one: {{ if not .x }}{{ fail "x is empty" }}{{ end }}`),
	filter("indent", `{{ x | indent(4) }}`, `{{ indent 4 .x }}`, "indent", "indent also indents the first line"),
	filter("urlencode", `{{ x | urlencode }}`, `{{ urlquery .x }}`, "urlquery", ""),
	filter("combine", `{{ cfg | combine(extra) }}`, `{{ toJson (mergeOverwrite (dict) .cfg .extra) }}`, "",
		"mergeOverwrite changes its first argument: start from (dict)"),
	filter("dict2items", `{% for k, v in cfg | dict2items %}{{ k }}={{ v }}{% endfor %}`, `{{ range $k, $v := .cfg }}{{ $k }}={{ $v }}{{ end }}`, "", ""),
	test("defined", `x is defined`, `hasKey . "x"`, `nested: hasKey .cfg "a"`),
	test("undefined", `x is undefined`, `not (hasKey . "x")`, ""),
	test("failed", `r is failed`, `.r.failed`, "a registered result's fields"),
	test("changed", `r is changed`, `.r.changed`, ""),
	test("succeeded", `r is succeeded`, `not .r.failed`, ""),
	test("skipped", `r is skipped`, `.r.skipped`, ""),
	test("match", `x is match('^he')`, `regexMatch "^he" .x`, "regexMatch searches: anchor with ^ for Jinja's match"),
	test("search", `x is search('ll')`, `regexMatch "ll" .x`, ""),
	test("string", `x is string`, `kindIs "string" .x`, ""),
	test("number", `port is number`, `kindIs "int" .port`, `YAML numbers are int or float64`),
	expr(`\w\[\d+\]`, `{{ names[0] }}`, `{{ index .names 0 }}`, ""),
	expr(`\w\[["']\w+["']\]`, `{{ cfg['a'] }}`, `{{ index .cfg "a" }}`, `or .cfg.a`),
	expr(`\S\s+in\s+\S`, `{{ 'a' in names }}`, `{{ has "a" .names }}`, `in a string: contains "ll" .x`),
	expr(`\s~\s`, `{{ x ~ '!' }}`, `{{ print .x "!" }}`, ""),
	expr(`\sif\s.*\selse\s`, `{{ 'on' if flag else 'off' }}`, `{{ ternary "on" "off" .flag }}`, ""),
	expr(`\brange\s*\(`, `{% for i in range(3) %}{{ i }}{% endfor %}`, `{{ range $i := until 3 }}{{ $i }}{{ end }}`, ""),
	expr(`\blookup\s*\(\s*['"]env`, `{{ lookup('env', 'HOME') }}`, `{{ env "HOME" }}`, "the controller's environment"),
	expr(`{%-?\s*if\b`, `{% if flag %}on{% else %}off{% endif %}`, `{{ if .flag }}on{{ else }}off{{ end }}`, ""),
	expr(`{%-?\s*for\b`, `{% for n in names %}{{ n }} {% endfor %}`, `{{ range .names }}{{ . }} {{ end }}`, `or {{ range $n := .names }}{{ $n }} {{ end }}`),
	expr(`\bhostvars\[`, `{{ hostvars['node1']['port'] }}`, `{{ index .hostvars "node1" "port" }}`, "or .hostvars.node1.port"),
	expr(`\bgroups\[`, `{{ groups['web'] | join(',') }}`, `{{ join "," (index .groups "web") }}`, ""),
}

// Idioms returns the table of Jinja idioms and their pgplay spelling
// (docs/templates.md is generated from it).
func Idioms() []Idiom { return append([]Idiom(nil), idioms...) }

// jinjaRenames maps the filters that have a pipeline-compatible Go
// function to it.
var jinjaRenames = func() map[string]string {
	m := map[string]string{}
	for _, i := range idioms {
		if i.Kind != "filter" || i.Func == "" {
			continue
		}
		name := strings.TrimPrefix(i.match.String(), `\|\s*`)
		m[strings.TrimSuffix(name, `\b`)] = i.Func
	}
	return m
}()

// idiomHint names the Jinja idioms of line and their pgplay spelling, or
// says "".
func idiomHint(line string) string {
	var parts []string
	for _, i := range idioms {
		if i.match.MatchString(line) {
			parts = append(parts, fmt.Sprintf("Jinja's %s is %s", i.Jinja, i.Go))
		}
		if len(parts) == 3 {
			break
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, "; ") + " (docs/templates.md maps Jinja to pgplay's templates)"
}

var (
	bareFilterRe = regexp.MustCompile(`\|\s*([A-Za-z_]\w*)`)
	definedRe    = regexp.MustCompile(`^\s*\.?([A-Za-z_][\w.]*)\s+is\s+(not\s+defined|undefined|defined)\s*$`)
	resultTestRe = regexp.MustCompile(`^\s*\.?([A-Za-z_]\w*)\s+is\s+(not\s+)?(failed|changed|skipped|succeeded|success)\s*$`)
	indexNumRe   = regexp.MustCompile(`(\.?[A-Za-z_][\w.]*)\[(\d+)\]`)
	indexStrRe   = regexp.MustCompile(`(\.?[A-Za-z_][\w.]*)\[['"](\w+)['"]\]`)
	regexReplRe  = regexp.MustCompile(`^\s*(\.?[A-Za-z_][\w.]*)\s*\|\s*regex_replace\s*\(\s*(['"][^'"]*['"])\s*,\s*(['"][^'"]*['"])\s*\)\s*$`)
)

// rewriteIdioms rewrites the Jinja idioms of one action (or condition)
// that have an exact Go spelling; rewriteJinja does the rest.
func rewriteIdioms(s string) string {
	if m := definedRe.FindStringSubmatch(s); m != nil {
		parent, key := ".", m[1]
		if i := strings.LastIndexByte(m[1], '.'); i >= 0 {
			parent, key = "."+m[1][:i], m[1][i+1:]
		}
		g := fmt.Sprintf("hasKey %s %q", parent, key)
		if m[2] != "defined" {
			g = "not (" + g + ")"
		}
		return g
	}
	if m := resultTestRe.FindStringSubmatch(s); m != nil {
		field, neg := m[3], m[2] != ""
		if field == "succeeded" || field == "success" {
			field, neg = "failed", !neg
		}
		g := "." + m[1] + "." + field
		if neg {
			g = "not " + g
		}
		return g
	}
	if m := regexReplRe.FindStringSubmatch(s); m != nil {
		v := m[1]
		if !strings.HasPrefix(v, ".") {
			v = "." + v
		}
		return fmt.Sprintf("regexReplaceAll %s %s %s", m[2], v, m[3])
	}
	s = indexNumRe.ReplaceAllString(s, "(index $1 $2)")
	s = indexStrRe.ReplaceAllString(s, `(index $1 "$2")`)
	s = bareFilterRe.ReplaceAllStringFunc(s, func(f string) string {
		name := bareFilterRe.FindStringSubmatch(f)[1]
		if g, ok := jinjaRenames[name]; ok {
			return "| " + g
		}
		return f
	})
	return s
}

// ansibleFacts maps Ansible's fact variables to pgplay's (under .facts,
// set by gather_facts: true or a setup task).
var ansibleFacts = map[string]string{
	"ansible_facts":                      ".facts",
	"ansible_os_family":                  ".facts.os.id (\"debian\"; pgplay's hosts are Debian/Ubuntu)",
	"ansible_distribution":               ".facts.os.id (lower case: \"debian\")",
	"ansible_distribution_version":       ".facts.os.version",
	"ansible_distribution_major_version": ".facts.os.version",
	"ansible_distribution_release":       ".facts.os.codename",
	"ansible_lsb":                        ".facts.os",
	"ansible_hostname":                   ".facts.hostname",
	"ansible_nodename":                   ".facts.hostname",
	"ansible_fqdn":                       ".facts.fqdn",
	"ansible_kernel":                     ".facts.kernel",
	"ansible_architecture":               ".facts.arch",
	"ansible_machine":                    ".facts.arch",
	"ansible_user_id":                    ".facts.user",
	"ansible_service_mgr":                ".facts.systemd (true when systemd runs)",
	"ansible_processor_vcpus":            ".facts.cpus",
	"ansible_processor_cores":            ".facts.cpus",
	"ansible_processor_count":            ".facts.cpus",
	"ansible_memtotal_mb":                ".facts.memtotal_mb",
	"ansible_default_ipv4":               ".facts.default_ipv4 (.address, .interface, .gateway)",
	"ansible_all_ipv4_addresses":         ".facts.addresses",
	"ansible_interfaces":                 ".facts.interfaces (interface -> its IPv4 addresses/prefix)",
}

// FactHint says, for an Ansible fact variable (ansible_os_family), which
// pgplay fact to read instead; "" for other names.
func FactHint(name string) string {
	f, ok := ansibleFacts[name]
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s is Ansible's fact; pgplay's facts are under .facts: use %s, with gather_facts: true on the play (or a setup task before); `pgplay doc setup` lists them", name, f)
}

var factNameRe = regexp.MustCompile(`\bansible_\w+`)

// factIn is FactHint for the first Ansible fact variable in s, or "".
func factIn(s string) string {
	for _, n := range factNameRe.FindAllString(s, -1) {
		if h := FactHint(n); h != "" {
			return h
		}
	}
	return ""
}
