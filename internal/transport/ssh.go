package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// maxCommands bounds the command channels open at once on one connection:
// OpenSSH allows 10 sessions per connection (MaxSessions) and the SFTP
// sessions need some of them.
const maxCommands = 6

// sftpServerPaths are where hosts keep sftp-server (Debian, RHEL, Arch,
// others).
func sftpServerPaths() []string {
	return []string{
		"/usr/lib/openssh/sftp-server",
		"/usr/libexec/openssh/sftp-server",
		"/usr/lib/ssh/sftp-server",
		"/usr/libexec/sftp-server",
		"/usr/lib/sftp-server",
	}
}

// sshHost is one host reached over one SSH connection, shared by all of
// its Targets.
type sshHost struct {
	s      sshSettings
	client *ssh.Client
	jumps  []*ssh.Client
	stats  *poolStats
	slots  chan struct{}
	idr    *idResolver
	auth   *becomeAuth // -K's password for sudo; nil: none

	deadMu  sync.Mutex
	deadErr error
	done    chan struct{} // closed by close
	ended   chan struct{} // closed when the connection ended (client.Wait returned)

	mu         sync.Mutex // guards the fields below
	sessions   map[string]*sftpSession
	idle       []*Kept // kept commands not in use (kept.go)
	kept       int     // kept commands running, idle or in use
	serverPath string
}

type sftpSession struct {
	c    *sftp.Client
	sess *ssh.Session // the exec channel when we started sftp-server ourselves
	fs   *sftpFS
}

func (s *sftpSession) close() {
	s.c.Close()
	if s.sess != nil {
		s.sess.Close()
	}
}

func newSSHHost(s sshSettings, client *ssh.Client, jumps []*ssh.Client, stats *poolStats) *sshHost {
	h := &sshHost{
		s:        s,
		client:   client,
		jumps:    jumps,
		stats:    stats,
		slots:    make(chan struct{}, maxCommands),
		done:     make(chan struct{}),
		ended:    make(chan struct{}),
		sessions: map[string]*sftpSession{},
	}
	h.idr = newIDResolver(s.name, func(ctx context.Context, argv []string) (Result, error) {
		return h.run(ctx, Cmd{Argv: argv}, "")
	})
	go func() {
		err := client.Wait()
		if err == nil {
			err = errors.New("connection closed by the host")
		}
		h.setDead(err)
		close(h.ended)
	}()
	go h.keepAlive()
	return h
}

func (h *sshHost) loginUser() string { return h.s.user }
func (h *sshHost) ids() *idResolver  { return h.idr }
func (h *sshHost) where() string     { return h.s.user + "@" + h.s.hostPort() }
func (h *sshHost) setDead(err error) {
	h.deadMu.Lock()
	if h.deadErr == nil {
		h.deadErr = err
	}
	h.deadMu.Unlock()
}

// dead says why the connection is gone, or nil while it is up.
func (h *sshHost) dead() error {
	select {
	case <-h.done:
		return errors.New("connection closed by pgplay")
	default:
	}
	h.deadMu.Lock()
	defer h.deadMu.Unlock()
	return h.deadErr
}

// lost is the error for an operation that failed because the connection
// is gone.
func (h *sshHost) lost() error {
	cause := h.dead()
	if cause == nil {
		cause = errors.New("connection closed")
	}
	return &unreachableError{host: h.s.name, err: fmt.Errorf("connection to %s lost: %w", h.where(), cause)}
}

// verdictWait bounds how long gone waits for the connection's verdict.
const verdictWait = 2 * time.Second

// gone says whether the connection is lost, after an operation on it
// failed in a way that does not say why: a session that could not be
// opened, a command that ended without an exit status, an SFTP session
// that broke. Such channel errors can arrive before the connection's own
// end is seen (x/crypto closes the channels first, then ends Wait), so a
// live-looking connection is asked: gone waits, at most verdictWait, for
// either the connection's end or the answer to a keepalive request. No
// verdict in time counts as alive (the keepalives will tell later); the
// caller then reports its own error.
func (h *sshHost) gone() bool {
	if h.dead() != nil {
		return true
	}
	reply := make(chan error, 1)
	go func() {
		_, _, err := h.client.SendRequest("keepalive@openssh.com", true, nil)
		reply <- err
	}()
	timer := time.NewTimer(verdictWait)
	defer timer.Stop()
	select {
	case <-h.ended:
		return true
	case <-h.done:
		return true
	case err := <-reply:
		if err == nil {
			return h.dead() != nil
		}
		// The request could not be sent, or the connection ended while
		// it waited: wait for the connection's own reason, briefly.
		select {
		case <-h.ended:
		case <-h.done:
		case <-timer.C:
			h.setDead(fmt.Errorf("keepalive: %w", err))
			h.client.Close()
		}
		return true
	case <-timer.C:
		return false
	}
}

// keepAlive sends keepalive@openssh.com every interval and declares the
// connection dead when no answer came for three intervals.
func (h *sshHost) keepAlive() {
	interval := h.s.keepAlive
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-t.C:
		}
		if h.dead() != nil {
			return
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := h.client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		timer := time.NewTimer(3 * interval)
		select {
		case err := <-reply:
			timer.Stop()
			if err != nil {
				h.setDead(fmt.Errorf("keepalive: %w", err))
				h.client.Close()
				return
			}
		case <-timer.C:
			h.setDead(fmt.Errorf("no answer to keepalives for %s", 3*interval))
			h.client.Close()
			return
		case <-h.done:
			timer.Stop()
			return
		}
	}
}

func (h *sshHost) close() error {
	select {
	case <-h.done:
		return nil
	default:
	}
	close(h.done)
	h.mu.Lock()
	for k, s := range h.sessions {
		s.close()
		delete(h.sessions, k)
	}
	h.mu.Unlock()
	h.closeKept()
	h.deadMu.Lock()
	gone := h.deadErr != nil
	h.deadMu.Unlock()
	err := h.client.Close()
	for i := len(h.jumps) - 1; i >= 0; i-- {
		h.jumps[i].Close()
	}
	if gone || errors.Is(err, net.ErrClosed) {
		return nil // already gone: nothing worth reporting
	}
	return err
}

// pidMarker starts every command line: the shell sshd starts leads the
// command's process group (sshd calls setsid), so its $$ is what to kill
// on cancellation. sshd refuses "signal" requests for root logins, which
// is why pgplay kills by process group itself.
const pidMarker = "pgplay-pid "

func (h *sshHost) run(ctx context.Context, cmd Cmd, become string) (Result, error) {
	sudo, stdinHead, err := h.sudo(ctx, become)
	if err != nil {
		return Result{}, err
	}
	line, err := commandLine(cmd, sudo)
	if err != nil {
		return Result{}, fmt.Errorf("host %s: %w", h.s.name, err)
	}
	line = "echo " + pidMarker + "$$ >&2; " + line
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("host %s: %w", h.s.name, ctx.Err())
	}
	defer func() { <-h.slots }()

	if h.dead() != nil {
		return Result{}, h.lost()
	}
	sess, err := h.client.NewSession()
	if err != nil {
		if h.gone() {
			return Result{}, h.lost()
		}
		return Result{}, fmt.Errorf("host %s: open session: %w", h.s.name, err)
	}
	defer sess.Close()
	h.stats.commands.Add(1)
	h.stats.roundTrips.Add(1)
	var stdout bytes.Buffer
	stderr := &pidWriter{pid: make(chan int, 1)}
	sess.Stdout, sess.Stderr = &stdout, stderr
	if cmd.Stdin != nil || stdinHead != nil {
		sess.Stdin = bytes.NewReader(append(stdinHead, cmd.Stdin...))
	}
	if err := sess.Start(line); err != nil {
		if h.gone() {
			return Result{}, h.lost()
		}
		return Result{}, fmt.Errorf("host %s: start %s: %w", h.s.name, cmd.Argv[0], err)
	}
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		h.stop(sess, waited, stderr.pid, become)
		return Result{}, fmt.Errorf("host %s: %s canceled: %w", h.s.name, cmd.Argv[0], ctx.Err())
	}
	stderr.finish()
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.buf.Bytes()}
	var exitErr *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.RC = exitErr.ExitStatus()
		// Killed by a signal: maybe with the connection (sshd reports
		// the signal when its session process saw the command die first).
		if exitErr.Signal() != "" && h.gone() {
			return res, h.lost()
		}
	default:
		if h.gone() {
			return res, h.lost()
		}
		return res, fmt.Errorf("host %s: %s: %w", h.s.name, cmd.Argv[0], err)
	}
	if err := sudoFailure(h.s.name, h.s.user, become, res.RC, res.Stderr); err != nil {
		return res, err
	}
	return res, nil
}

// sudo returns the sudo prefix that runs a command as become (nil for
// the login user) and what must come first on its standard input (the
// -K password line, or nil).
func (h *sshHost) sudo(ctx context.Context, become string) ([]string, []byte, error) {
	if become == "" {
		return nil, nil, nil
	}
	return h.auth.prefix(ctx, h.s.name, h.s.user, become, func(ctx context.Context, argv []string, stdin []byte) (Result, error) {
		return h.run(ctx, Cmd{Argv: argv, Stdin: stdin}, "")
	})
}

// maxPreamble bounds what pidWriter holds back while it looks for the
// pid line.
const maxPreamble = 64 << 10

// pidWriter collects a command's stderr. The command line prints the pid
// line first, but the login may print before it (a shell profile, a
// banner, sshd's "Could not chdir to home directory"): what comes before
// the pid line is not the command's and is dropped. When no pid line
// comes within maxPreamble bytes (or at all: finish), everything is kept.
type pidWriter struct {
	buf  bytes.Buffer // the command's stderr
	head []byte       // stderr until the pid line was found
	off  int          // head[:off] holds complete lines without the pid
	done bool
	pid  chan int
}

func (w *pidWriter) Write(p []byte) (int, error) {
	if w.done {
		return w.buf.Write(p)
	}
	w.head = append(w.head, p...)
	for {
		i := bytes.IndexByte(w.head[w.off:], '\n')
		if i < 0 {
			break
		}
		line := w.head[w.off : w.off+i]
		w.off += i + 1
		if pid, ok := parsePidLine(line); ok {
			w.done = true
			w.pid <- pid
			w.buf.Write(w.head[w.off:])
			w.head = nil
			return len(p), nil
		}
	}
	if len(w.head) > maxPreamble {
		w.finish()
	}
	return len(p), nil
}

// parsePidLine reads the pid off a line ending in pidMarker and a number
// (the marker may follow an unterminated line of the login's).
func parsePidLine(line []byte) (int, bool) {
	i := bytes.LastIndex(line, []byte(pidMarker))
	if i < 0 {
		return 0, false
	}
	pid, err := strconv.Atoi(string(line[i+len(pidMarker):]))
	return pid, err == nil && pid > 1
}

// finish keeps what was held back when no pid line came.
func (w *pidWriter) finish() {
	if !w.done {
		w.done = true
		w.buf.Write(w.head)
		w.head = nil
	}
}

// pidWait bounds how long stop waits for a just-started command's pid
// line: without it only the session's signal is left, which sshd ignores
// for root logins, and closing the channel does not end a command that
// writes nothing. A loaded host takes over a second to start the shell.
const pidWait = 5 * time.Second

// stop ends a running command: SIGTERM to its process group, SIGKILL a
// second later when it is still running, then the channel is closed.
func (h *sshHost) stop(sess *ssh.Session, waited <-chan error, pids <-chan int, become string) {
	pid := 0
	select {
	case pid = <-pids:
	case <-waited:
		return
	case <-time.After(pidWait):
	}
	for _, sig := range []ssh.Signal{ssh.SIGTERM, ssh.SIGKILL} {
		_ = sess.Signal(sig) // honoured by sshd for non-root logins
		if pid > 0 {
			h.killGroup(pid, string(sig), become)
		}
		select {
		case <-waited:
			return
		case <-time.After(time.Second):
		}
	}
	sess.Close()
}

// killGroup sends sig to process group pgid, as become (the command's
// processes are become's).
func (h *sshHost) killGroup(pgid int, sig, become string) {
	argv := []string{"kill", "-s", sig, "--", "-" + strconv.Itoa(pgid)} // the form dash, bash and procps agree on
	sudo, stdinHead, err := h.sudo(context.Background(), become)
	if err != nil {
		return
	}
	argv = append(sudo, argv...)
	sess, err := h.client.NewSession()
	if err != nil {
		return
	}
	defer sess.Close()
	if stdinHead != nil {
		sess.Stdin = bytes.NewReader(stdinHead)
	}
	done := make(chan struct{})
	go func() { _ = sess.Run(Quote(argv)); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// wrap marks a file error as unreachable when the connection is gone and
// forgets a broken SFTP session so that the next operation opens one.
func (h *sshHost) wrap(become string, err error) error {
	if err == nil {
		return nil
	}
	broken := errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	gone := h.dead() != nil || !answered(err) && h.gone()
	if gone || broken {
		h.mu.Lock()
		if s := h.sessions[become]; s != nil {
			s.close()
			delete(h.sessions, become)
		}
		h.mu.Unlock()
	}
	if gone {
		return h.lost()
	}
	return err
}

// files returns the SFTP session of become, opening it on first use: the
// "sftp" subsystem for the login user, sftp-server under sudo on an exec
// channel for another user.
func (h *sshHost) files(ctx context.Context, become string) (fileSystem, error) {
	if h.dead() != nil {
		return nil, h.lost()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.sessions[become]; s != nil {
		if !s.fs.stuck.Load() {
			return s.fs, nil
		}
		// A request blocks the old session's sftp-server (see statRead):
		// close it (that ends the waiting request) and start another.
		delete(h.sessions, become)
		go s.close()
	}
	var s *sftpSession
	var err error
	if become == "" {
		s, err = h.openSubsystem(ctx)
	} else {
		s, err = h.openSudoSFTP(ctx, become)
	}
	if err != nil {
		if h.gone() {
			return nil, h.lost()
		}
		return nil, err
	}
	h.stats.sftpSessions.Add(1)
	s.fs = &sftpFS{c: s.c, stats: h.stats}
	h.sessions[become] = s
	return s.fs, nil
}

func (h *sshHost) openSubsystem(ctx context.Context) (*sftpSession, error) {
	s, err := h.subsystemSFTP()
	if err == nil {
		return s, nil
	}
	// No sftp subsystem configured: start sftp-server ourselves.
	s, err2 := h.openSFTPServer(ctx, "")
	if err2 != nil {
		return nil, fmt.Errorf("host %s: open SFTP session: %w (and without the sftp subsystem: %w)", h.s.name, err, err2)
	}
	return s, nil
}

// pipedSession opens a session channel with its stdin and stdout piped,
// for an SFTP client to speak over.
func (h *sshHost) pipedSession() (*ssh.Session, io.WriteCloser, io.Reader, error) {
	sess, err := h.client.NewSession()
	if err != nil {
		return nil, nil, nil, err
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, nil, nil, err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, nil, nil, err
	}
	return sess, stdin, stdout, nil
}

// subsystemSFTP opens the "sftp" subsystem (what sftp.NewClient does),
// counting the requests sent.
func (h *sshHost) subsystemSFTP() (*sftpSession, error) {
	sess, stdin, stdout, err := h.pipedSession()
	if err != nil {
		return nil, err
	}
	if err := sess.RequestSubsystem("sftp"); err != nil {
		sess.Close()
		return nil, err
	}
	c, err := sftp.NewClientPipe(stdout, &requestCounter{w: stdin, n: &h.stats.sftpRequests}, sftpOptions()...)
	if err != nil {
		sess.Close()
		return nil, err
	}
	return &sftpSession{c: c, sess: sess}, nil
}

func (h *sshHost) openSudoSFTP(ctx context.Context, become string) (*sftpSession, error) {
	s, err := h.openSFTPServer(ctx, become)
	if err != nil {
		return nil, fmt.Errorf("host %s: open SFTP session as %s: %w", h.s.name, become, err)
	}
	return s, nil
}

// findSFTPServer finds the host's sftp-server, once. h.mu is held.
func (h *sshHost) findSFTPServer(ctx context.Context) (string, error) {
	if h.serverPath != "" {
		return h.serverPath, nil
	}
	argv := append([]string{"sh", "-c", `for p in "$@"; do if [ -x "$p" ]; then echo "$p"; exit 0; fi; done; exit 1`, "sh"}, sftpServerPaths()...)
	res, err := h.run(ctx, Cmd{Argv: argv}, "")
	if err != nil {
		return "", err
	}
	if res.RC != 0 {
		return "", fmt.Errorf("no sftp-server found (looked in %s); install the host's OpenSSH SFTP server (openssh-sftp-server)", strings.Join(sftpServerPaths(), ", "))
	}
	h.serverPath = strings.TrimSpace(string(res.Stdout))
	return h.serverPath, nil
}

// openSFTPServer starts sftp-server (under sudo for become) on an exec
// channel and speaks SFTP over its stdin/stdout. Its umask is 077 so that
// temporary files are private from the start.
func (h *sshHost) openSFTPServer(ctx context.Context, become string) (*sftpSession, error) {
	path, err := h.findSFTPServer(ctx)
	if err != nil {
		return nil, err
	}
	sudo, stdinHead, err := h.sudo(ctx, become)
	if err != nil {
		return nil, err
	}
	argv := append(sudo, path, "-u", "077")
	sess, stdin, stdout, err := h.pipedSession()
	if err != nil {
		return nil, err
	}
	stderr := &syncBuffer{}
	sess.Stderr = stderr
	if err := sess.Start(Quote(argv)); err != nil {
		sess.Close()
		return nil, err
	}
	if stdinHead != nil {
		// sudo reads the password line byte by byte; the rest of the
		// pipe is sftp-server's.
		if _, err := stdin.Write(stdinHead); err != nil {
			sess.Close()
			return nil, err
		}
	}
	c, err := sftp.NewClientPipe(stdout, &requestCounter{w: stdin, n: &h.stats.sftpRequests}, sftpOptions()...)
	if err != nil {
		// sudo (or sftp-server) said why on stderr and exited.
		rc := 1
		waited := make(chan error, 1)
		go func() { waited <- sess.Wait() }()
		select {
		case werr := <-waited:
			var exitErr *ssh.ExitError
			if errors.As(werr, &exitErr) {
				rc = exitErr.ExitStatus()
			}
		case <-time.After(5 * time.Second):
		}
		sess.Close()
		if serr := sudoFailure(h.s.name, h.s.user, become, rc, stderr.Bytes()); serr != nil {
			return nil, serr
		}
		if msg := strings.TrimSpace(string(stderr.Bytes())); msg != "" {
			return nil, fmt.Errorf("%s: %w: %s", path, err, msg)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &sftpSession{c: c, sess: sess}, nil
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 64<<10 {
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

// poolStats are the counters behind Stats.
type poolStats struct {
	dials, commands, sftpSessions, sftpRequests, roundTrips atomic.Int64
}
