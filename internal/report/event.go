// Package report turns run events into output: human lines in Ansible's
// familiar shape (colored on a terminal) or JSON lines, always through
// redaction of secret values.
package report

import (
	"encoding/json"
	"strings"
	"time"
)

// SchemaVersion is the version of the JSON events' shape
// (docs/json-events.md), given on the run_start and error events. It
// changes when a field is removed or changes meaning, not when one is
// added.
//
// Version 2 moved a check-mode task's changes from result.check_changes
// (the registered result, where they did not belong) to the event's own
// check_changes field.
const SchemaVersion = 2

// Kind names an event.
type Kind string

// Event kinds, in the order a run emits them.
const (
	RunStart    Kind = "run_start"
	PlayStart   Kind = "play_start"
	TaskStart   Kind = "task_start"
	HostResult  Kind = "host_result"
	HandlerRun  Kind = "handler_start"
	Warning     Kind = "warning"
	Progress    Kind = "progress"
	Recap       Kind = "recap"
	RunEnd      Kind = "run_end"
	ErrorReport Kind = "error"
)

// Status of a host's task result.
type Status string

// Statuses as shown in output and counted in the recap.
const (
	OK          Status = "ok"
	Changed     Status = "changed"
	Failed      Status = "failed"
	Skipped     Status = "skipped"
	Unreachable Status = "unreachable"
)

// Diff is a before/after pair for one path.
type Diff struct {
	Path   string `json:"path"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// Change is one change a check-mode task would have made: a command it
// would run (Op "run", Argv) or a file operation on Path. A no_log task's
// changes are one Change with Op "censored" and nothing else: it says
// only that something would change.
type Change struct {
	// Op is run, write, mkdir, chmod, chown, remove, symlink or censored.
	Op     string   `json:"op"`
	Path   string   `json:"path,omitempty"`
	Argv   []string `json:"argv,omitempty"`
	Detail string   `json:"detail,omitempty"`
}

// Censored is the Op of the one Change reported for a no_log task.
const Censored = "censored"

// String says what the change would do, e.g. "would write /etc/x (+3 -1
// lines, 120 bytes)" or "would run: repmgr -f /etc/repmgr.conf standby
// clone".
func (c Change) String() string {
	var s string
	switch c.Op {
	case Censored:
		return "would change something (details hidden due to no_log: true)"
	case "run":
		words := make([]string, len(c.Argv))
		for i, a := range c.Argv {
			words[i] = shellWord(a)
		}
		s = "would run: " + strings.Join(words, " ")
	case "mkdir":
		s = "would create directory " + c.Path
	case "symlink":
		s = "would link " + c.Path
	default:
		s = "would " + c.Op + " " + c.Path
	}
	if c.Detail != "" {
		if c.Op == "symlink" {
			return s + " " + c.Detail
		}
		s += " (" + c.Detail + ")"
	}
	return s
}

// shellWord quotes w for display when a shell would need it.
func shellWord(w string) string {
	if w != "" && !strings.ContainsAny(w, " \t\n'\"$\\|&;<>()*?!#~`{}[]") {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// Event is one thing that happened during a run.
type Event struct {
	Kind Kind      `json:"event"`
	Time time.Time `json:"time"`

	Play  string `json:"play,omitempty"`
	Task  string `json:"task,omitempty"`
	Role  string `json:"role,omitempty"`
	Host  string `json:"host,omitempty"`
	Where string `json:"where,omitempty"` // file:line:col of the task

	Status  Status `json:"status,omitempty"`
	Item    any    `json:"item,omitempty"`
	HasItem bool   `json:"-"`
	Ignored bool   `json:"ignored,omitempty"`
	Msg     string `json:"msg,omitempty"`
	// ShowMsg asks human output to show Msg even for ok results (debug).
	ShowMsg bool `json:"-"`
	// Result is the registered result (already redacted by the runner for
	// no_log tasks).
	Result map[string]any `json:"result,omitempty"`
	Diffs  []Diff         `json:"diffs,omitempty"`
	// CheckChanges are the changes a check-mode task would have made and
	// did not (host_result events only).
	CheckChanges []Change `json:"check_changes,omitempty"`
	// Check says the run is in check mode (so changes were not made).
	Check bool `json:"check,omitempty"`

	// Schema is SchemaVersion on run_start and error events.
	Schema int `json:"schema,omitempty"`
	// Hint says what to do about an error event's Msg; ExitCode is the
	// exit code pgplay ends with, on an error that ends the run.
	Hint     string `json:"hint,omitempty"`
	ExitCode int    `json:"exit_code,omitempty"`

	Stats    map[string]*Stats `json:"stats,omitempty"`
	Hosts    []string          `json:"hosts,omitempty"` // host order for the recap
	Duration time.Duration     `json:"duration_ns,omitempty"`
}

// Stats are one host's recap counters. The runner counts each task result
// in one of them: OK the results that changed nothing, Changed those that
// changed something, Ignored the failures ignore_errors let pass. The
// recap, human and JSON, shows ok as ansible-playbook does (RecapOK).
type Stats struct {
	OK          int `json:"ok"`
	Changed     int `json:"changed"`
	Unreachable int `json:"unreachable"`
	Failed      int `json:"failed"`
	Skipped     int `json:"skipped"`
	Rescued     int `json:"rescued"`
	Ignored     int `json:"ignored"`
	// IgnoredChanged counts the ignored failures whose result says it
	// changed something (a command that ran and failed): Ansible's recap
	// counts those in changed= as well (RecapChanged).
	IgnoredChanged int `json:"-"`
}

// RecapChanged is the recap's changed= as ansible-playbook counts it:
// the changed results and the ignored failures that changed something.
func (s Stats) RecapChanged() int { return s.Changed + s.IgnoredChanged }

// RecapOK is the recap's ok= as ansible-playbook counts it: every task
// result that neither failed nor was skipped, the changed ones and the
// ignored failures included. So ok >= changed, and scripts that read
// Ansible's recaps read pgplay's the same way.
func (s Stats) RecapOK() int { return s.OK + s.Changed + s.Ignored }

// MarshalJSON writes the counters as the recap shows them: "ok" is
// RecapOK and "changed" RecapChanged, as in Ansible's JSON callback.
func (s Stats) MarshalJSON() ([]byte, error) {
	type counters Stats // without this method
	c := counters(s)
	c.OK = s.RecapOK()
	c.Changed = s.RecapChanged()
	return json.Marshal(c)
}

// Sink receives events. Emit is called from one goroutine at a time.
type Sink interface {
	Emit(Event)
}
