package transport

// unreachableError is an error that means the host cannot be reached: it
// matches both ErrUnreachable and its cause with errors.Is/As.
type unreachableError struct {
	host string
	err  error
}

func (e *unreachableError) Error() string { return "host " + e.host + ": " + e.err.Error() }

func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.err} }
