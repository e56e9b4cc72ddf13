package runner

import "sync"

// workers run functions on at most max goroutines that live for the run.
//
// A goroutine per task and host would do, but each would start with a
// small stack and grow it (copying it each time) while it renders
// templates: a quarter of the runner's CPU in BenchmarkDispatch with 50
// hosts. Workers keep their stacks from task to task.
type workers struct {
	jobs chan func()
	max  int

	mu sync.Mutex
	n  int // workers started
}

func newWorkers(max int) *workers {
	if max < 1 {
		max = 1
	}
	return &workers{jobs: make(chan func()), max: max}
}

// do runs f on an idle worker, on a new one while fewer than max exist,
// or else on the first to become idle (do waits for it).
func (w *workers) do(f func()) {
	select {
	case w.jobs <- f:
		return
	default:
	}
	w.mu.Lock()
	if w.n < w.max {
		w.n++
		w.mu.Unlock()
		go w.work(f)
		return
	}
	w.mu.Unlock()
	w.jobs <- f
}

func (w *workers) work(f func()) {
	for {
		f()
		var ok bool
		if f, ok = <-w.jobs; !ok {
			return
		}
	}
}

// close stops the workers once they are idle. do must not be called after.
func (w *workers) close() { close(w.jobs) }
