package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// keywordDocs says what each play and task keyword does, one line each.
// TestDocKeywords checks that every keyword the loader accepts is here.
var keywordDocs = map[string]string{
	"name":             "a name shown in the output (templates allowed for tasks)",
	"hosts":            "play: the host pattern the play runs on (node1, db, 'db:!node3', all)",
	"become":           "run with sudo (true/false); a task's wins over its block's, role's and play's",
	"become_user":      "the user sudo runs as (default root)",
	"vars":             "variables of the play, block or task (see docs/variables.md for precedence)",
	"vars_files":       "play: YAML files of variables (vault files too), read at parse time",
	"roles":            "play: roles to run, before tasks: (a name, or {role: NAME, vars...})",
	"pre_tasks":        "play: tasks before the roles",
	"tasks":            "play: the tasks",
	"post_tasks":       "play: tasks after the tasks",
	"handlers":         "play: tasks run once at the end of a section when notified",
	"serial":           "play: run the hosts in batches (a count, a percentage, or a list of them)",
	"gather_facts":     "play: gather .facts first (default false)",
	"any_errors_fatal": "play: a failed host stops the play on every host",
	"force_handlers":   "play: run notified handlers on hosts that failed afterwards too",
	"tags":             "tags for --tags/--skip-tags (always and never are special)",
	"secret_vars":      "play: names of variables whose values are masked in every output",
	"when":             "run only when the condition holds: a Go template pipeline without braces (eq .x \"y\"); a list must all hold",
	"loop":             "run once per item of a list (or a template giving one); the item is .item",
	"with_items":       "as loop:",
	"loop_control":     "loop_var: the item's variable name; label: what the output shows per item",
	"loop_var":         "the loop item's variable name (default item)",
	"register":         "keep the task's result in a variable of the host (see `pgplay doc MODULE` for its fields)",
	"notify":           "handlers (or listen topics) to run when the task changed something",
	"listen":           "handler: topics that notify it besides its name",
	"changed_when":     "a condition deciding changed (false: never changed)",
	"failed_when":      "a condition deciding failed",
	"ignore_errors":    "a failure does not stop the host (counted as ignored)",
	"until":            "retry the task until the condition holds",
	"retries":          "how often until: retries (default 3)",
	"delay":            "seconds (or a duration) between until: retries (default 5)",
	"run_once":         "run on the first host of the batch only",
	"throttle":         "at most this many hosts run the task at once",
	"delegate_to":      "run the task on another host (with this host's variables)",
	"no_log":           "hide the task's result and arguments in every output",
	"check_mode":       "false: a task that only reads runs in --check too; true: always simulated",
	"block":            "a list of tasks sharing when/tags/vars (added up) and become/become_user/ignore_errors/no_log/check_mode/delegate_to/run_once (a task's own wins, false too), with rescue: and always:",
	"rescue":           "block: tasks run on the hosts that failed in the block",
	"always":           "block: tasks run on all the block's hosts, failed or not",
	"args":             "module arguments given apart from the module key",
	"include_tasks":    "insert the tasks of a file here (resolved at parse time, as import_tasks)",
	"import_tasks":     "insert the tasks of a file here (at parse time)",
}

// writeKeywords lists the play and task keywords with what they do, or
// just name's.
func writeKeywords(w io.Writer, name string) error {
	if name != "" {
		d, ok := keywordDocs[name]
		if !ok {
			names := make([]string, 0, len(keywordDocs))
			for k := range keywordDocs {
				names = append(names, k)
			}
			sort.Strings(names)
			hint := yamlsrc.DidYouMean(name, names)
			return withCode(exitOptions, fmt.Errorf("no keyword %q\n  hint: %s`pgplay doc -t keyword` lists them", name, hint))
		}
		fmt.Fprintf(w, "%s: %s\n", name, d)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, sec := range []struct {
		title string
		keys  []string
	}{{"Play keywords:", playbook.PlayKeywords()}, {"Task keywords:", playbook.TaskKeywords()}} {
		fmt.Fprintln(tw, sec.title)
		for _, k := range sec.keys {
			fmt.Fprintf(tw, "  %s\t%s\n", k, keywordDocs[k])
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// functionDocs are pgplay's own template functions (tmpl.Funcs).
var functionDocs = [][2]string{
	{"sqlIdent", `PostgreSQL identifier: {{ sqlIdent .db }} -> "my db"`},
	{"sqlLiteral", `PostgreSQL string literal: {{ sqlLiteral .pw }} -> 'it''s' (nil: NULL)`},
	{"shellQuote", `one POSIX shell word: {{ shellQuote .x }} -> 'it'\''s'`},
	{"toYaml", `YAML text of a value: {{ toYaml .cfg }}`},
	{"fromYaml", `the value a YAML text holds: {{ (fromYaml .text).key }}`},
	{"lines", `a text split into lines: {{ range lines .out }}...{{ end }}`},
	{"cidrContains", `whether a network holds an address: cidrContains "10.0.0.0/24" .vip`},
}

// writeFunctions lists the template functions: pgplay's own, then where
// sprig's and the Jinja equivalents are documented.
func writeFunctions(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "pgplay's template functions (besides Go's and sprig's):")
	for _, f := range functionDocs {
		fmt.Fprintf(tw, "  %s\t%s\n", f[0], f[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, strings.TrimLeft(`
Go's: and or not eq ne lt le gt ge len index slice print printf urlquery ...
  (https://pkg.go.dev/text/template#hdr-Functions)
sprig's: default empty coalesce ternary join splitList replace regexReplaceAll
  regexMatch toJson fromJson dict list has hasKey get keys uniq sortAlpha
  b64enc sha256sum until env ... (https://masterminds.github.io/sprig/)
Jinja filters and tests as pgplay writes them: docs/templates.md`, "\n"))
	return nil
}
