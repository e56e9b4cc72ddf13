package transport

import (
	"sync"
)

// controller is the backend of the controller's own files: direct system
// calls as the user pgplay runs as (no become, no SFTP).
var controller = sync.OnceValue(func() *localHost {
	return newLocalHost("controller", &poolStats{})
})

// IsCheck reports whether t is a check-mode Target (NewCheckTarget): its
// changes are recorded, not made. The runner decides it once per task;
// a module that must know (to soften a failure a simulated earlier change
// may cause) asks its Target, never a run-wide flag.
func IsCheck(t Target) bool {
	_, ok := t.(*checkTarget)
	return ok
}

// ControllerFor returns a Target for the controller itself (the machine
// and user pgplay runs as; paths must be absolute) under the check
// decision of t: when t is a check-mode Target so is the result, and its
// changes are recorded with t's (Detail says "on the controller"), in an
// Overlay of its own. A module that writes on the controller (fetch) goes
// through it, so that check mode is decided by the Target the runner
// handed the module and by nothing else.
func ControllerFor(t Target) Target {
	ct := &hostTarget{name: "controller", b: controller()}
	c, ok := t.(*checkTarget)
	if !ok {
		return ct
	}
	record := func(ch Change) {
		if ch.Detail == "" {
			ch.Detail = "on the controller"
		} else {
			ch.Detail = "on the controller, " + ch.Detail
		}
		c.record(ch)
	}
	return &checkTarget{t: ct, record: record, ov: NewOverlay()}
}
