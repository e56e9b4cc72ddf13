package report

import (
	"encoding/json"
	"io"
	"sync"
)

// JSON writes one JSON object per event, one per line.
type JSON struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSON returns a JSON-lines sink writing to w.
func NewJSON(w io.Writer) *JSON { return &JSON{enc: json.NewEncoder(w)} }

// Emit writes e as one line.
func (j *JSON) Emit(e Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = j.enc.Encode(e)
}
