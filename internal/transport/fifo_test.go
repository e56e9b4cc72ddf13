package transport_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/sshtest"
	"github.com/pgplay/pgplay/internal/transport"
)

// A FIFO where a file is expected: StatRead sends the open with the lstat
// (two round trips), and sftp-server blocks in open(2) on a FIFO with no
// writer. pgplay must describe the FIFO without waiting for that open, and
// the host's next file operations must still work.
func TestStatReadOnFIFODoesNotHang(t *testing.T) {
	s := sshtest.Start(t)
	tg := target(t, newPool(t), s.Config("node1"), "")
	dir := t.TempDir()
	fifo := filepath.Join(dir, "app.conf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.conf")
	if err := os.WriteFile(other, []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, let a blocked sftp-server go at the end.
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})

	ctx := testCtx(t)
	// The open and the lstat race to sftp-server; ask several times so
	// that both orders are seen (the open first: 1 time in 20 here).
	for i := 0; i < 8; i++ {
		start := time.Now()
		fi, data, err := transport.StatRead(ctx, tg, fifo, 1<<20)
		if err != nil || !fi.Exists || fi.IsDir || data != nil {
			t.Fatalf("StatRead of a FIFO (%d): %+v %q %v", i, fi, data, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("StatRead of a FIFO (%d) took %s", i, d)
		}
		unblockFIFO(fifo)
	}
	for name, tgt := range map[string]transport.Target{"ssh": tg, "local": target(t, newPool(t), localConfig(), "")} {
		start := time.Now()
		if b, err := tgt.ReadFile(ctx, fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: ReadFile of a FIFO: %q, %v; want an error saying it is not a regular file", name, b, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: ReadFile of a FIFO took %s", name, d)
		}
	}
	start := time.Now()
	b, err := tg.ReadFile(ctx, other)
	if err != nil || string(b) != "x = 1\n" {
		t.Fatalf("ReadFile after the FIFO: %q %v", b, err)
	}
	if err := tg.WriteFile(ctx, filepath.Join(dir, "new.conf"), []byte("y\n"), transport.Attrs{Mode: 0o600}); err != nil {
		t.Fatalf("WriteFile after the FIFO: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("file operations after the FIFO took %s", d)
	}
}

// unblockFIFO lets an sftp-server blocked in open(2) on fifo go: an open
// for writing succeeds once it is there.
func unblockFIFO(fifo string) {
	for i := 0; i < 20; i++ {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
