package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/fatih/color"
)

// Adhoc writes the results of `pgplay exec` as the ansible command prints
// an ad-hoc run: no PLAY or TASK banners and no recap, one block per host:
//
//	node1 | CHANGED | rc=0 >>
//	(the command's stdout and stderr)
//
// for results with a return code (command, shell), and
//
//	node1 | SUCCESS => {
//	    "changed": false,
//	    ...
//	}
//
// for other modules (FAILED!, UNREACHABLE!, SKIPPED likewise). With oneLine
// each host's result is one line, as ansible's --one-line: the output's
// newlines written as \n. Warnings, errors and --diff diffs are shown as
// the human sink shows them.
type Adhoc struct {
	mu      sync.Mutex
	w       io.Writer
	oneLine bool
	human   *Human // warnings, errors, diffs

	ok, changed, failed, skipped, unreach *color.Color
}

// NewAdhoc returns an ad-hoc sink writing to w; colored says whether to
// color, oneLine whether to print one line per host.
func NewAdhoc(w io.Writer, colored, oneLine bool) *Adhoc {
	h := NewHuman(w, colored, 0)
	return &Adhoc{w: w, oneLine: oneLine, human: h,
		ok: h.ok, changed: h.changed, failed: h.failed, skipped: h.skipped, unreach: h.unreach}
}

// Emit writes the lines for one event; play, task and recap events print
// nothing.
func (a *Adhoc) Emit(e Event) {
	switch e.Kind {
	case Warning, ErrorReport, Progress:
		a.human.Emit(e)
		return
	case HostResult:
	default:
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, d := range e.Diffs {
		a.human.diff(d)
	}
	caption, c := a.caption(e)
	rc, hasRC := e.Result["rc"]
	if e.Status == Unreachable || e.Status == Skipped {
		hasRC = false
	}
	var head, body string
	switch {
	case hasRC:
		head = fmt.Sprintf("%s | %s | rc=%v", e.Host, caption, rc)
		body = commandOutput(e)
	case e.Status == Skipped:
		head = e.Host + " | " + caption
	default:
		head = e.Host + " | " + caption + " =>"
		body = a.resultJSON(e)
	}
	if a.oneLine {
		line := head
		if hasRC {
			line += " | (stdout) " + strings.ReplaceAll(strings.TrimRight(body, "\n"), "\n", `\n`)
		} else if body != "" {
			line += " " + body
		}
		fmt.Fprintln(a.w, c.Sprint(line))
		return
	}
	switch {
	case hasRC:
		fmt.Fprintln(a.w, c.Sprint(head+" >>"))
		if body != "" {
			fmt.Fprintln(a.w, c.Sprint(body))
		}
	case body != "":
		fmt.Fprintln(a.w, c.Sprint(head+" "+body))
	default:
		fmt.Fprintln(a.w, c.Sprint(head))
	}
}

// caption is the word after the host name, as ansible's: SUCCESS,
// CHANGED, FAILED (FAILED! without a return code), UNREACHABLE!, SKIPPED.
func (a *Adhoc) caption(e Event) (string, *color.Color) {
	_, hasRC := e.Result["rc"]
	switch e.Status {
	case Changed:
		return "CHANGED", a.changed
	case Failed:
		if e.Ignored {
			return "FAILED (ignored)", a.failed
		}
		if hasRC {
			return "FAILED", a.failed
		}
		return "FAILED!", a.failed
	case Unreachable:
		return "UNREACHABLE!", a.unreach
	case Skipped:
		return "SKIPPED", a.skipped
	}
	return "SUCCESS", a.ok
}

// commandOutput is what ansible prints under a command's line: its
// stdout, then its stderr, then the message of a failure.
func commandOutput(e Event) string {
	var parts []string
	for _, k := range []string{"stdout", "stderr"} {
		if s, _ := e.Result[k].(string); s != "" {
			parts = append(parts, strings.TrimRight(s, "\n"))
		}
	}
	if e.Status == Failed && e.Msg != "" {
		parts = append(parts, e.Msg)
	}
	parts = append(parts, wouldDo(e)...)
	return strings.Join(parts, "\n")
}

// wouldDo says, for a check-mode result, what the task would have done
// ("would run: touch /x"): its command did not run, so there is no
// output to show.
func wouldDo(e Event) []string {
	var out []string
	for _, c := range e.CheckChanges {
		out = append(out, c.String())
	}
	return out
}

// resultJSON is the host's result as indented JSON (one line with
// oneLine), with the message of an unreachable host.
func (a *Adhoc) resultJSON(e Event) string {
	m := map[string]any{}
	for k, v := range e.Result {
		m[k] = v
	}
	if e.Msg != "" {
		m["msg"] = e.Msg
	}
	if e.Status == Unreachable {
		m["unreachable"] = true
		m["changed"] = false
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // a shell's `a && b` stays readable
	if !a.oneLine {
		enc.SetIndent("", "    ")
	}
	if err := enc.Encode(m); err != nil {
		return fmt.Sprintf("%v", m)
	}
	return strings.TrimRight(b.String(), "\n")
}
