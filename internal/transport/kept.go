package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Keeper is an optional ability of a Target, found by type assertion: a
// command that keeps running between uses, such as a psql session that
// answers one query after another, so that later tasks of the run do not
// pay for starting it again. What the command is told and how its
// answers end is the caller's business (a marker line, for instance).
//
// Kept commands belong to the host's connection: at most maxKept run at
// once per host, and they end when the connection closes. Only the SSH
// Target has this ability; callers fall back to Query without it.
type Keeper interface {
	// Take returns an idle kept command that cmd started for this
	// Target's user, or starts one (fresh is true then). The caller owns
	// it until Put or Discard.
	Take(ctx context.Context, cmd Cmd) (k *Kept, fresh bool, err error)
	// Put gives k back for a later Take of the same command.
	Put(k *Kept)
	// Discard ends k (its standard input closed, its process group
	// killed when it does not exit at once).
	Discard(k *Kept)
}

// maxKept bounds the kept commands of one connection: each holds an SSH
// channel, and OpenSSH allows 10 (maxCommands, plus the SFTP sessions).
const maxKept = 2

// Kept is a running command that a Target keeps for reuse (see Keeper).
type Kept struct {
	// Out is the command's standard output.
	Out *bufio.Reader
	// Err is the command's standard error, without what the login
	// printed before the command started.
	Err *bufio.Reader
	// Note is the caller's to keep what it knows of the command's state
	// between uses (a psql session's database); "" when it started.
	Note string

	key    string
	become string
	h      *sshHost
	sess   *ssh.Session
	in     io.WriteCloser
	pid    int
	exited chan struct{}
}

// Send writes p to the command's standard input; it counts as one round
// trip of the host's.
func (k *Kept) Send(p []byte) error {
	k.h.stats.roundTrips.Add(1)
	_, err := k.in.Write(p)
	return err
}

// Watch ends the command when ctx is done before the returned stop is
// called: a caller blocked reading Out or Err then gets an error.
func (k *Kept) Watch(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			k.kill()
		case <-done:
		case <-k.exited:
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}

// kill ends the command at once.
func (k *Kept) kill() {
	k.in.Close()
	if k.pid > 0 {
		go k.h.killGroup(k.pid, string(ssh.SIGKILL), k.become)
	}
	k.sess.Close()
}

// Take starts or reuses a kept command on the host of t (see Keeper).
func (t *hostTarget) Take(ctx context.Context, cmd Cmd) (*Kept, bool, error) {
	h, ok := t.b.(*sshHost)
	if !ok {
		return nil, false, errors.New("kept commands need an SSH connection")
	}
	return h.take(ctx, cmd, t.become)
}

// Put gives k back to its host.
func (t *hostTarget) Put(k *Kept) { k.h.put(k) }

// Discard ends k.
func (t *hostTarget) Discard(k *Kept) { k.h.discard(k) }

func (h *sshHost) take(ctx context.Context, cmd Cmd, become string) (*Kept, bool, error) {
	sudo, stdinHead, err := h.sudo(ctx, become)
	if err != nil {
		return nil, false, err
	}
	line, err := commandLine(cmd, sudo)
	if err != nil {
		return nil, false, fmt.Errorf("host %s: %w", h.s.name, err)
	}
	key := become + "\x00" + line
	h.mu.Lock()
	for i, k := range h.idle {
		if k.key != key {
			continue
		}
		h.idle = append(h.idle[:i], h.idle[i+1:]...)
		select {
		case <-k.exited:
			h.kept--
			h.mu.Unlock()
			k.sess.Close()
			return h.take(ctx, cmd, become)
		default:
		}
		h.mu.Unlock()
		return k, false, nil
	}
	if h.kept >= maxKept && len(h.idle) > 0 {
		old := h.idle[0]
		h.idle = h.idle[1:]
		h.kept--
		defer old.kill()
	}
	if h.kept >= maxKept {
		h.mu.Unlock()
		return nil, false, errors.New("host " + h.s.name + ": every kept command is in use")
	}
	h.kept++
	h.mu.Unlock()
	k, err := h.start(ctx, key, line, become, stdinHead)
	if err != nil {
		h.mu.Lock()
		h.kept--
		h.mu.Unlock()
		return nil, false, err
	}
	return k, true, nil
}

// start opens the channel of a kept command and waits for the pid line
// its command line prints first.
func (h *sshHost) start(ctx context.Context, key, line, become string, stdinHead []byte) (*Kept, error) {
	if h.dead() != nil {
		return nil, h.lost()
	}
	sess, err := h.client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("host %s: open session: %w", h.s.name, err)
	}
	in, err1 := sess.StdinPipe()
	out, err2 := sess.StdoutPipe()
	errp, err3 := sess.StderrPipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		sess.Close()
		return nil, fmt.Errorf("host %s: %w", h.s.name, err)
	}
	h.stats.commands.Add(1)
	h.stats.roundTrips.Add(1)
	if err := sess.Start("echo " + pidMarker + "$$ >&2; " + line); err != nil {
		sess.Close()
		return nil, fmt.Errorf("host %s: start a kept command: %w", h.s.name, err)
	}
	k := &Kept{Out: bufio.NewReader(out), Err: bufio.NewReader(errp), key: key, become: become, h: h, sess: sess, in: in, exited: make(chan struct{})}
	go func() { _ = sess.Wait(); close(k.exited) }()
	if len(stdinHead) > 0 {
		if _, err := in.Write(stdinHead); err != nil {
			k.kill()
			return nil, fmt.Errorf("host %s: %w", h.s.name, err)
		}
	}
	// The login may print before the pid line (see pidWriter).
	stop := k.Watch(ctx)
	defer stop()
	timer := time.AfterFunc(pidWait, k.kill)
	defer timer.Stop()
	for n := 0; n < maxPreamble; {
		l, err := k.Err.ReadString('\n')
		n += len(l)
		if pid, ok := parsePidLine([]byte(strings.TrimSuffix(l, "\n"))); ok {
			k.pid = pid
			return k, nil
		}
		if err != nil {
			k.kill()
			return nil, fmt.Errorf("host %s: a kept command did not start: %w", h.s.name, err)
		}
	}
	k.kill()
	return nil, fmt.Errorf("host %s: a kept command did not start: no pid line", h.s.name)
}

func (h *sshHost) put(k *Kept) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.done:
	case <-k.exited:
	default:
		h.idle = append(h.idle, k)
		return
	}
	h.kept--
	k.kill()
}

func (h *sshHost) discard(k *Kept) {
	h.mu.Lock()
	h.kept--
	h.mu.Unlock()
	k.kill()
}

// closeKept ends the idle kept commands (the connection is closing).
func (h *sshHost) closeKept() {
	h.mu.Lock()
	idle := h.idle
	h.idle = nil
	h.kept -= len(idle)
	h.mu.Unlock()
	for _, k := range idle {
		k.in.Close()
		k.sess.Close()
	}
}
