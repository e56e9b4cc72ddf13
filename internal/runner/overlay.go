package runner

import (
	"sync"

	"github.com/pgplay/pgplay/internal/transport"
)

// checkOverlays holds, in a check run, the file changes simulated on each
// host (transport.Overlay), for the whole run: a later task's Stat and
// ReadFile see what an earlier task would have written. A host is the one
// an operation targets (the delegate under delegate_to). The zero value is
// ready to use; it is safe for concurrent use.
type checkOverlays struct {
	mu sync.Mutex
	m  map[string]*transport.Overlay
}

// host returns the overlay of the host named name, made on first use.
func (o *checkOverlays) host(name string) *transport.Overlay {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]*transport.Overlay{}
	}
	ov := o.m[name]
	if ov == nil {
		ov = transport.NewOverlay()
		o.m[name] = ov
	}
	return ov
}
