package lab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// run executes argv and returns its standard output. A failure carries the
// command line and the tail of its standard error.
func run(ctx context.Context, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("`%s`: %w%s", strings.Join(argv, " "), err, tail(stderr.String(), 6))
	}
	return stdout.String(), nil
}

// tail returns the last n lines of s, indented for an error message, or ""
// when s is blank.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n ")
	if strings.TrimSpace(s) == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\n    " + strings.Join(lines, "\n    ")
}
