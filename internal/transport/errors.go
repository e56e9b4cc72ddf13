package transport

import (
	"context"
	"errors"
	"io/fs"

	"github.com/pkg/sftp"
)

// unreachableError is an error that means the host cannot be reached: it
// matches both ErrUnreachable and its cause with errors.Is/As.
type unreachableError struct {
	host string
	err  error
}

func (e *unreachableError) Error() string { return "host " + e.host + ": " + e.err.Error() }

func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.err} }

// answered says whether err is the host's answer (an SFTP status such as
// "no such file" or "permission denied") or a canceled context: neither
// says anything about the connection.
func answered(err error) bool {
	var status *sftp.StatusError
	return errors.As(err, &status) ||
		errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrExist) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
