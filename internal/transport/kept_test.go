package transport_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/sshtest"
	"github.com/pgplay/pgplay/internal/transport"
)

// echoLines is a kept command that answers each line with "PID: line",
// so a test sees which process answered.
func echoLines(tag string) transport.Cmd {
	return transport.Cmd{Argv: []string{"/bin/sh", "-c", `echo starting >&2; while read -r l; do echo "$$: $l"; done # ` + tag}}
}

// ask sends line to k and returns its answer.
func ask(t *testing.T, k *transport.Kept, line string) string {
	t.Helper()
	if err := k.Send([]byte(line + "\n")); err != nil {
		t.Fatalf("send %q: %v", line, err)
	}
	got, err := k.Out.ReadString('\n')
	if err != nil {
		t.Fatalf("answer to %q: %v", line, err)
	}
	pid, text, _ := strings.Cut(strings.TrimSuffix(got, "\n"), ": ")
	if text != line {
		t.Fatalf("answer to %q: %q", line, got)
	}
	return pid
}

// running reports whether a process whose command line holds s runs (sshd
// runs on this machine).
func running(s string) bool {
	out, _ := exec.Command("ps", "-eo", "args").Output()
	return strings.Contains(string(out), s)
}

func waitGone(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for running(s) {
		if time.Now().After(deadline) {
			t.Fatalf("%q still runs", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestKeptCommand(t *testing.T) {
	needRoot(t)
	s := sshtest.Start(t)
	p := newPool(t)
	ctx := testCtx(t)
	for _, become := range []string{"", "nobody"} {
		t.Run("become="+become, func(t *testing.T) {
			tg := target(t, p, s.Config("node1"), become)
			kp, ok := tg.(transport.Keeper)
			if !ok {
				t.Fatal("an SSH Target can keep commands")
			}
			tag := "pgplay-kept-test-" + become
			cmd := echoLines(tag)
			k, fresh, err := kp.Take(ctx, cmd)
			if err != nil || !fresh {
				t.Fatalf("first Take: fresh %v, %v", fresh, err)
			}
			if l, _ := k.Err.ReadString('\n'); l != "starting\n" {
				t.Errorf("standard error starts with %q, want the command's own line", l)
			}
			pid := ask(t, k, "one")
			kp.Put(k)

			// A second Take of the same command gets the same process.
			k, fresh, err = kp.Take(ctx, cmd)
			if err != nil || fresh {
				t.Fatalf("second Take: fresh %v, %v", fresh, err)
			}
			if got := ask(t, k, "two"); got != pid {
				t.Errorf("second Take answered from process %s, want the kept %s", got, pid)
			}
			// A check-mode Target keeps the same commands (they only read).
			ck, ok := transport.NewCheckTarget(tg, nil).(transport.Keeper)
			if !ok {
				t.Fatal("a check Target passes kept commands through")
			}
			kp.Put(k)
			k, fresh, err = ck.Take(ctx, cmd)
			if err != nil || fresh {
				t.Fatalf("Take through the check Target: fresh %v, %v", fresh, err)
			}
			if got := ask(t, k, "three"); got != pid {
				t.Errorf("check Target: process %s, want %s", got, pid)
			}

			// Cancelling a use ends the process.
			cctx, cancel := context.WithCancel(ctx)
			stop := k.Watch(cctx)
			cancel()
			if _, err := k.Out.ReadString('\n'); err == nil {
				t.Error("a read after the cancel answered")
			}
			stop()
			kp.Discard(k)
			waitGone(t, tag)

			// Then a Take starts a new one.
			k, fresh, err = kp.Take(ctx, cmd)
			if err != nil || !fresh {
				t.Fatalf("Take after Discard: fresh %v, %v", fresh, err)
			}
			if got := ask(t, k, "four"); got == pid {
				t.Errorf("Take after Discard answered from the ended process %s", pid)
			}
			kp.Put(k)
		})
	}

	t.Run("bounded", func(t *testing.T) {
		tg := target(t, p, s.Config("node2"), "")
		kp := tg.(transport.Keeper)
		var held []*transport.Kept
		for i := 0; i < 2; i++ {
			k, _, err := kp.Take(ctx, echoLines(fmt.Sprintf("pgplay-kept-bound-%d", i)))
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, k)
		}
		if _, _, err := kp.Take(ctx, echoLines("pgplay-kept-bound-2")); err == nil {
			t.Fatal("a third kept command while two are in use: want an error (the caller runs it one-shot)")
		}
		// An idle one gives way to a new command.
		kp.Put(held[0])
		k, fresh, err := kp.Take(ctx, echoLines("pgplay-kept-bound-2"))
		if err != nil || !fresh {
			t.Fatalf("Take with one idle: fresh %v, %v", fresh, err)
		}
		waitGone(t, "pgplay-kept-bound-0")
		kp.Put(k)
		kp.Put(held[1])
	})

	// Closing the pool ends every kept command.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"pgplay-kept-test-", "pgplay-kept-bound-"} {
		waitGone(t, tag)
	}
}
