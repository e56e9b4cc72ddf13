// Package report turns run events into output: human lines in Ansible's
// familiar shape (colored on a terminal) or JSON lines, always through
// redaction of secret values.
package report

import (
	"time"
)

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
	// Check says the run is in check mode (so changes were not made).
	Check bool `json:"check,omitempty"`

	Stats    map[string]*Stats `json:"stats,omitempty"`
	Hosts    []string          `json:"hosts,omitempty"` // host order for the recap
	Duration time.Duration     `json:"duration_ns,omitempty"`
}

// Stats are one host's recap counters.
type Stats struct {
	OK          int `json:"ok"`
	Changed     int `json:"changed"`
	Unreachable int `json:"unreachable"`
	Failed      int `json:"failed"`
	Skipped     int `json:"skipped"`
	Rescued     int `json:"rescued"`
	Ignored     int `json:"ignored"`
}

// Sink receives events. Emit is called from one goroutine at a time.
type Sink interface {
	Emit(Event)
}
