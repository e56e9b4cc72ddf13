package transport_test

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/transport"
)

// TestMain keeps the tests away from the real ~/.ssh and ssh-agent: HOME
// is an empty temporary directory and SSH_AUTH_SOCK is unset, unless a
// test sets them itself.
func TestMain(m *testing.M) {
	home, err := os.MkdirTemp("", "pgplay-transport-home-")
	if err != nil {
		panic(err)
	}
	os.Setenv("HOME", home)
	os.Unsetenv("SSH_AUTH_SOCK")
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

// testCtx is a context that ends with the test (or after 30s).
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newPool(t *testing.T) *transport.Pool {
	t.Helper()
	p := transport.NewPool()
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func target(t *testing.T, p *transport.Pool, cfg transport.Config, become string) transport.Target {
	t.Helper()
	tg, err := p.Target(testCtx(t), cfg, become)
	if err != nil {
		t.Fatalf("Target(%s, become %q): %v", cfg.Name, become, err)
	}
	return tg
}

func run(t *testing.T, tg transport.Target, cmd transport.Cmd) transport.Result {
	t.Helper()
	res, err := tg.Query(testCtx(t), cmd)
	if err != nil {
		t.Fatalf("%v: %v", cmd.Argv, err)
	}
	return res
}

// needRoot fails the test when not run as root: become to another user
// without a password needs it (CI runs the tests as root).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if testing.Short() {
			t.Skip("needs root")
		}
		t.Fatal("this test needs root (become to nobody with sudo -n); CI runs as root")
	}
}

// sharedDir is a directory every user may write to (for become tests).
func sharedDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "pgplay-transport-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	return d
}

// tcpProxy forwards 127.0.0.1:Port to a target; it can cut or freeze the
// connections going through it.
type tcpProxy struct {
	Port     int
	l        net.Listener
	mu       sync.Mutex
	conns    []net.Conn
	frozen   chan struct{} // closed = flowing; replaced to freeze
	isFrozen bool
}

func startProxy(t *testing.T, targetAddr string) *tcpProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	flowing := make(chan struct{})
	close(flowing)
	p := &tcpProxy{Port: l.Addr().(*net.TCPAddr).Port, l: l, frozen: flowing}
	t.Cleanup(func() { l.Close(); p.Cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", targetAddr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go p.pipe(c, u)
			go p.pipe(u, c)
		}
	}()
	return p
}

func (p *tcpProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.frozen
			p.mu.Unlock()
			<-gate // held while frozen
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}

// Cut closes every connection through the proxy (a dropped link).
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isFrozen {
		close(p.frozen) // let blocked writers go (and fail)
		p.isFrozen = false
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Freeze stops forwarding without closing anything (a dead peer).
func (p *tcpProxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.isFrozen {
		p.frozen = make(chan struct{})
		p.isFrozen = true
	}
}
