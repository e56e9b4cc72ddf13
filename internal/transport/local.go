package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
)

// localHost runs commands on the controller with os/exec (argv directly,
// no shell) and does file operations with system calls, or for become
// over SFTP with a local `sudo -n -u USER sftp-server`.
type localHost struct {
	name  string
	user  string
	stats *poolStats
	idr   *idResolver
	auth  *becomeAuth // -K's password for sudo; nil: none

	mu       sync.Mutex
	sessions map[string]*localSFTP
	closed   bool
}

type localSFTP struct {
	c   *sftp.Client
	cmd *exec.Cmd
	fs  *sftpFS
}

func (s *localSFTP) close() {
	s.c.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func newLocalHost(name string, stats *poolStats) *localHost {
	h := &localHost{name: name, user: currentUser(), stats: stats, sessions: map[string]*localSFTP{}}
	h.idr = newIDResolver(name, func(ctx context.Context, argv []string) (Result, error) {
		return h.run(ctx, Cmd{Argv: argv}, "")
	})
	return h
}

func (h *localHost) loginUser() string { return h.user }
func (h *localHost) ids() *idResolver  { return h.idr }
func (h *localHost) dead() error       { return nil }

// localEnv is the controller's environment without its locale settings,
// plus LC_ALL and cmd's variables.
func localEnv(assignments []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "LANG" || k == "LANGUAGE" || strings.HasPrefix(k, "LC_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, assignments...)
}

func (h *localHost) run(ctx context.Context, cmd Cmd, become string) (Result, error) {
	if err := checkArgv(cmd.Argv); err != nil {
		return Result{}, fmt.Errorf("host %s: %w", h.name, err)
	}
	var argv, env []string
	var stdinHead []byte
	if become != "" {
		sudo, head, err := h.auth.prefix(ctx, h.name, h.user, become, func(ctx context.Context, argv []string, stdin []byte) (Result, error) {
			return h.run(ctx, Cmd{Argv: argv, Stdin: stdin}, "")
		})
		if err != nil {
			return Result{}, err
		}
		stdinHead = head
		full, err := execArgv(cmd, sudo)
		if err != nil {
			return Result{}, fmt.Errorf("host %s: %w", h.name, err)
		}
		argv, env = full, localEnv(nil)
	} else {
		assignments, err := envAssignments(cmd.Env)
		if err != nil {
			return Result{}, fmt.Errorf("host %s: %w", h.name, err)
		}
		argv, env = cmd.Argv, localEnv(assignments)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("host %s: %w", h.name, err)
	}
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Env = env
	c.Dir = cmd.Dir
	// No controlling terminal, as over SSH: sudo neither prompts nor
	// allocates a pty.
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if cmd.Stdin != nil || stdinHead != nil {
		c.Stdin = bytes.NewReader(append(stdinHead, cmd.Stdin...))
	}
	// TERM to the process group first (sudo passes it on to the command),
	// KILL 2s later.
	c.Cancel = func() error {
		if err := syscall.Kill(-c.Process.Pid, syscall.SIGTERM); err != nil {
			return c.Process.Signal(syscall.SIGTERM)
		}
		return nil
	}
	c.WaitDelay = 2 * time.Second
	h.stats.commands.Add(1)
	h.stats.roundTrips.Add(1)
	err := c.Run()
	if ctx.Err() != nil {
		return Result{}, fmt.Errorf("host %s: %s canceled: %w", h.name, cmd.Argv[0], ctx.Err())
	}
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.RC = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.RC = 128 + int(ws.Signal())
		}
	case errors.Is(err, exec.ErrNotFound):
		// As a shell would say it over SSH.
		res.RC = 127
		res.Stderr = fmt.Appendf(res.Stderr, "%s: command not found\n", argv[0])
	default:
		return res, fmt.Errorf("host %s: run %s: %w", h.name, cmd.Argv[0], err)
	}
	if err := sudoFailure(h.name, h.user, become, res.RC, res.Stderr); err != nil {
		return res, err
	}
	return res, nil
}

func (h *localHost) wrap(become string, err error) error {
	if become != "" && (errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		h.mu.Lock()
		if s := h.sessions[become]; s != nil {
			s.close()
			delete(h.sessions, become)
		}
		h.mu.Unlock()
	}
	return err
}

func (h *localHost) files(ctx context.Context, become string) (fileSystem, error) {
	if become == "" {
		return osFS{}, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("host %s: connection pool closed", h.name)
	}
	if s := h.sessions[become]; s != nil {
		return s.fs, nil
	}
	s, err := h.openSFTP(ctx, become)
	if err != nil {
		return nil, fmt.Errorf("host %s: open SFTP session as %s: %w", h.name, become, err)
	}
	h.stats.sftpSessions.Add(1)
	h.sessions[become] = s
	return s.fs, nil
}

func (h *localHost) openSFTP(ctx context.Context, become string) (*localSFTP, error) {
	var path string
	for _, p := range sftpServerPaths() {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			path = p
			break
		}
	}
	if path == "" {
		return nil, fmt.Errorf("no sftp-server found on the controller (looked in %s); install the OpenSSH SFTP server (openssh-sftp-server)", strings.Join(sftpServerPaths(), ", "))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Not CommandContext: the session outlives this call.
	sudo, stdinHead, err := h.auth.prefix(ctx, h.name, h.user, become, func(ctx context.Context, argv []string, stdin []byte) (Result, error) {
		return h.run(ctx, Cmd{Argv: argv, Stdin: stdin}, "")
	})
	if err != nil {
		return nil, err
	}
	argv := append(sudo, path, "-u", "077")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = localEnv(nil)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if stdinHead != nil {
		if _, err := stdin.Write(stdinHead); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, err
		}
	}
	c, err := sftp.NewClientPipe(stdout, &requestCounter{w: stdin, n: &h.stats.sftpRequests}, sftpOptions()...)
	if err != nil {
		stdin.Close()
		werr := cmd.Wait()
		rc := 1
		var exitErr *exec.ExitError
		if errors.As(werr, &exitErr) {
			rc = exitErr.ExitCode()
		}
		if serr := sudoFailure(h.name, h.user, become, rc, stderr.Bytes()); serr != nil {
			return nil, serr
		}
		if msg := strings.TrimSpace(string(stderr.Bytes())); msg != "" {
			return nil, fmt.Errorf("%s: %w: %s", path, err, msg)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s := &localSFTP{c: c, cmd: cmd}
	s.fs = &sftpFS{c: c, stats: h.stats}
	return s, nil
}

func (h *localHost) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for k, s := range h.sessions {
		s.close()
		delete(h.sessions, k)
	}
	return nil
}
