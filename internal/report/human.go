package report

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	udiff "github.com/aymanbagabas/go-udiff"
	"github.com/fatih/color"
	"golang.org/x/term"
)

// Human writes Ansible-style lines: PLAY, TASK, one status line per host,
// PLAY RECAP.
type Human struct {
	mu        sync.Mutex
	w         io.Writer
	verbosity int

	ok, changed, failed, skipped, unreach, warn, diffAdd, diffDel, head *color.Color
}

// UseColor says whether output to w should be colored: only when w is a
// terminal and NO_COLOR is unset (https://no-color.org) and TERM is not dumb.
func UseColor(w io.Writer) bool {
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	if os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// NewHuman returns a human sink writing to w; colored says whether to color.
func NewHuman(w io.Writer, colored bool, verbosity int) *Human {
	h := &Human{
		w: w, verbosity: verbosity,
		ok: color.New(color.FgGreen), changed: color.New(color.FgYellow),
		failed: color.New(color.FgRed), skipped: color.New(color.FgCyan),
		unreach: color.New(color.FgRed, color.Bold), warn: color.New(color.FgMagenta),
		diffAdd: color.New(color.FgGreen), diffDel: color.New(color.FgRed),
		head: color.New(color.Bold),
	}
	for _, c := range []*color.Color{h.ok, h.changed, h.failed, h.skipped, h.unreach, h.warn, h.diffAdd, h.diffDel, h.head} {
		if colored {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
	}
	return h
}

func banner(s string) string {
	n := 79 - len(s)
	if n < 3 {
		n = 3
	}
	return s + " " + strings.Repeat("*", n)
}

// Emit writes the lines for one event.
func (h *Human) Emit(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch e.Kind {
	case PlayStart:
		fmt.Fprintf(h.w, "\n%s\n", h.head.Sprint(banner("PLAY ["+e.Play+"]")))
	case TaskStart, HandlerRun:
		word := "TASK"
		if e.Kind == HandlerRun {
			word = "RUNNING HANDLER"
		}
		name := e.Task
		if e.Role != "" {
			name = e.Role + " : " + name
		}
		if e.Check {
			word += " (check mode)"
		}
		fmt.Fprintf(h.w, "\n%s\n", banner(word+" ["+name+"]"))
		if h.verbosity >= 2 && e.Where != "" {
			fmt.Fprintf(h.w, "task path: %s\n", e.Where)
		}
	case HostResult:
		h.hostResult(e)
	case Warning:
		fmt.Fprintf(h.w, "%s\n", h.warn.Sprint("[WARNING]: "+e.Msg))
	case Progress:
		fmt.Fprintf(h.w, "%s\n", e.Msg)
	case ErrorReport:
		fmt.Fprintf(h.w, "%s\n", h.failed.Sprint("ERROR! "+e.Msg))
	case Recap:
		h.recap(e)
	}
}

func (h *Human) hostResult(e Event) {
	var c *color.Color
	word := string(e.Status)
	switch e.Status {
	case OK:
		c = h.ok
	case Changed:
		c = h.changed
	case Skipped:
		c = h.skipped
		word = "skipping"
	case Unreachable:
		c = h.unreach
	default:
		c = h.failed
	}
	line := word + ": [" + e.Host + "]"
	if e.HasItem {
		line += " => (item=" + itemLabel(e.Item) + ")"
	}
	var detail []string
	if e.Msg != "" && (e.Status == Failed || e.Status == Unreachable || e.ShowMsg || h.verbosity > 0) {
		detail = append(detail, e.Msg)
	}
	if e.Status == Failed || h.verbosity > 0 {
		if rc, ok := e.Result["rc"]; ok && e.Status == Failed {
			detail = append(detail, fmt.Sprintf("rc=%v", rc))
		}
		for _, k := range []string{"stdout", "stderr"} {
			s, _ := e.Result[k].(string)
			if s == "" {
				continue
			}
			if e.Status == Failed && h.verbosity == 0 {
				s = tail(s, 10)
			}
			detail = append(detail, k+":\n"+indent(strings.TrimRight(s, "\n"), "    "))
		}
	}
	if h.verbosity > 0 {
		// What a check-mode task would have done instead.
		for _, ch := range e.CheckChanges {
			detail = append(detail, ch.String())
		}
	}
	if e.Ignored {
		detail = append(detail, "...ignoring")
	}
	if len(detail) == 1 && !strings.Contains(detail[0], "\n") {
		line += " => " + detail[0]
		detail = nil
	}
	fmt.Fprintln(h.w, c.Sprint(line))
	for _, d := range detail {
		fmt.Fprintln(h.w, c.Sprint(indent(d, "  ")))
	}
	for _, d := range e.Diffs {
		h.diff(d)
	}
}

// DiffStat counts the lines a unified diff of before and after adds and
// removes (a changed line counts in both).
func DiffStat(before, after string) (add, del int) {
	u := udiff.Unified("a", "b", before, after)
	for i, l := range strings.Split(u, "\n") {
		switch {
		case i < 2: // the --- and +++ header lines
		case strings.HasPrefix(l, "+"):
			add++
		case strings.HasPrefix(l, "-"):
			del++
		}
	}
	return add, del
}

func (h *Human) diff(d Diff) {
	u := udiff.Unified(d.Path+" (before)", d.Path+" (after)", d.Before, d.After)
	if u == "" {
		return
	}
	for _, l := range strings.SplitAfter(u, "\n") {
		switch {
		case l == "":
		case strings.HasPrefix(l, "+++") || strings.HasPrefix(l, "---"):
			fmt.Fprint(h.w, h.head.Sprint(l))
		case strings.HasPrefix(l, "+"):
			fmt.Fprint(h.w, h.diffAdd.Sprint(l))
		case strings.HasPrefix(l, "-"):
			fmt.Fprint(h.w, h.diffDel.Sprint(l))
		default:
			fmt.Fprint(h.w, l)
		}
	}
	if !strings.HasSuffix(u, "\n") {
		fmt.Fprintln(h.w)
	}
}

func (h *Human) recap(e Event) {
	fmt.Fprintf(h.w, "\n%s\n", h.head.Sprint(banner("PLAY RECAP")))
	hosts := e.Hosts
	if len(hosts) == 0 {
		for n := range e.Stats {
			hosts = append(hosts, n)
		}
		sort.Strings(hosts)
	}
	width := 0
	for _, n := range hosts {
		if len(n) > width {
			width = len(n)
		}
	}
	for _, n := range hosts {
		s := e.Stats[n]
		if s == nil {
			continue
		}
		c := h.ok
		switch {
		case s.Unreachable > 0:
			c = h.unreach
		case s.Failed > 0:
			c = h.failed
		case s.RecapChanged() > 0:
			c = h.changed
		}
		fmt.Fprintf(h.w, "%s : ok=%-4d changed=%-4d unreachable=%-4d failed=%-4d skipped=%-4d rescued=%-4d ignored=%d\n",
			c.Sprint(fmt.Sprintf("%-*s", width, n)), s.RecapOK(), s.RecapChanged(), s.Unreachable, s.Failed, s.Skipped, s.Rescued, s.Ignored)
	}
	if e.Duration > 0 {
		fmt.Fprintf(h.w, "\nfinished in %.2fs\n", e.Duration.Seconds())
	}
}

func itemLabel(v any) string {
	switch x := v.(type) {
	case map[string]any:
		if n, ok := x["name"]; ok {
			return fmt.Sprint(n)
		}
	}
	s := fmt.Sprint(v)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= n {
		return s
	}
	return "... (" + fmt.Sprint(len(lines)-n) + " lines above)\n" + strings.Join(lines[len(lines)-n:], "\n")
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}
