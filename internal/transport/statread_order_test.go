package transport

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
)

// statRead sends its open and its lstat from two goroutines, so the open
// may reach sftp-server first. On a FIFO that open blocks sftp-server, and
// the lstat behind it is never answered: statRead must give the session
// up instead of waiting for ever. The test makes that order certain by
// blocking the server with an open of its own first.
func TestStatReadGivesUpWhenAnOpenBlocksTheServer(t *testing.T) {
	var server string
	for _, p := range sftpServerPaths() {
		if _, err := os.Stat(p); err == nil {
			server = p
			break
		}
	}
	if server == "" {
		t.Fatalf("no sftp-server in %v: install openssh-sftp-server", sftpServerPaths())
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(server)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Let the blocked server go, then end it.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	c, err := sftp.NewClientPipe(stdout, stdin)
	if err != nil {
		t.Fatal(err)
	}
	fs := &sftpFS{c: c, stats: &poolStats{}}

	go c.Open(fifo) // served first: sftp-server blocks in open(2)
	time.Sleep(200 * time.Millisecond)

	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, _, lerr, _ := fs.statRead(fifo, 1<<20)
		done <- lerr
	}()
	select {
	case lerr := <-done:
		if !errors.Is(lerr, errOpenFirst) {
			t.Errorf("statRead behind a blocked open: %v, want errOpenFirst", lerr)
		}
		if !fs.stuck.Load() {
			t.Error("statRead behind a blocked open did not mark the session stuck")
		}
		if d := time.Since(start); d > openStall+2*time.Second {
			t.Errorf("statRead behind a blocked open took %s", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("statRead behind a blocked open never returned")
	}
}
