package report

import (
	"sort"
	"strings"
	"sync"
)

// Mask replaces every secret value in output.
const Mask = "********"

// Redactor replaces secret values in strings. It is safe for concurrent use;
// secrets may be added while a run goes on (set_fact of a secret variable).
type Redactor struct {
	mu       sync.RWMutex
	secrets  map[string]bool
	replacer *strings.Replacer
}

// NewRedactor returns an empty Redactor.
func NewRedactor() *Redactor { return &Redactor{secrets: map[string]bool{}} }

// Add registers secret values. Empty and one-character values are ignored
// (masking them would garble all output without protecting anything).
func (r *Redactor) Add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	added := false
	for _, v := range values {
		if len(v) < 2 || r.secrets[v] {
			continue
		}
		r.secrets[v] = true
		added = true
	}
	if !added {
		return
	}
	list := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		list = append(list, s)
	}
	// Longest first so a secret containing another is masked whole.
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	pairs := make([]string, 0, 2*len(list))
	for _, s := range list {
		pairs = append(pairs, s, Mask)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// String masks the secrets in s.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep == nil || s == "" {
		return s
	}
	return rep.Replace(s)
}

// Value masks secrets in every string of a value tree (maps, lists).
func (r *Redactor) Value(v any) any {
	switch x := v.(type) {
	case string:
		return r.String(x)
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			out[i] = r.String(s)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.Value(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = r.Value(e)
		}
		return out
	default:
		return v
	}
}

// Event masks secrets in every text field of e.
func (r *Redactor) Event(e Event) Event {
	e.Play = r.String(e.Play)
	e.Task = r.String(e.Task)
	e.Msg = r.String(e.Msg)
	if e.Item != nil {
		e.Item = r.Value(e.Item)
	}
	if e.Result != nil {
		e.Result, _ = r.Value(e.Result).(map[string]any)
	}
	if len(e.CheckChanges) > 0 {
		cs := make([]Change, len(e.CheckChanges))
		for i, c := range e.CheckChanges {
			cs[i] = Change{Op: c.Op, Path: r.String(c.Path), Detail: r.String(c.Detail)}
			if c.Argv != nil {
				cs[i].Argv, _ = r.Value(c.Argv).([]string)
			}
		}
		e.CheckChanges = cs
	}
	if len(e.Diffs) > 0 {
		ds := make([]Diff, len(e.Diffs))
		for i, d := range e.Diffs {
			ds[i] = Diff{Path: r.String(d.Path), Before: r.String(d.Before), After: r.String(d.After)}
		}
		e.Diffs = ds
	}
	return e
}

// Redacting wraps a sink so every event passes through r first.
func Redacting(s Sink, r *Redactor) Sink { return redacting{s, r} }

type redacting struct {
	s Sink
	r *Redactor
}

func (x redacting) Emit(e Event) { x.s.Emit(x.r.Event(e)) }

// Multi fans events out to several sinks.
type Multi []Sink

// Emit sends e to each sink.
func (m Multi) Emit(e Event) {
	for _, s := range m {
		s.Emit(e)
	}
}
