package runnertest_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/deployq/deployq/internal/runnertest"
	"github.com/deployq/deployq/queue"
)

func TestRecorderSplitsLinesAndFlushesOnClose(t *testing.T) {
	r := runnertest.NewRecorder()
	out, errw := r.Stream(queue.StreamStdout, ""), r.Stream(queue.StreamStderr, "web-1")
	fmt.Fprint(out, "one\ntw")
	fmt.Fprint(errw, "oops\r\n")
	fmt.Fprint(out, "o\nthree")
	if open := r.Open(); len(open) != 2 {
		t.Fatalf("open %v", open)
	}
	out.Close()
	errw.Close()
	want := []runnertest.Line{
		{Stream: queue.StreamStdout, Text: "one"},
		{Stream: queue.StreamStderr, Host: "web-1", Text: "oops"},
		{Stream: queue.StreamStdout, Text: "two"},
		{Stream: queue.StreamStdout, Text: "three"},
	}
	if got := r.Lines(); !slices.Equal(got, want) {
		t.Fatalf("lines\n got %+v\nwant %+v", got, want)
	}
	if got := r.Text(); got != "one\n[web-1] oops\ntwo\nthree\n" {
		t.Fatalf("text %q", got)
	}
	if open, m := r.Open(), r.Misuse(); len(open) != 0 || len(m) != 0 {
		t.Fatalf("open %v, misuse %v", open, m)
	}
}

func TestRecorderKeepsMisuse(t *testing.T) {
	r := runnertest.NewRecorder()
	w := r.Stream(queue.StreamStdout, "")
	w.Close()
	fmt.Fprintln(w, "late")
	left := r.Stream(queue.StreamStderr, "web-2")
	r.Ended()
	r.Progress(queue.Progress{Phase: "after"})
	m := r.Misuse()
	if len(m) != 2 || !strings.Contains(m[0], "after it was closed") || !strings.Contains(m[1], "after Run returned") {
		t.Fatalf("misuse %q", m)
	}
	if open := r.Open(); !slices.Equal(open, []string{"stderr of web-2"}) {
		t.Fatalf("open %v", open)
	}
	left.Close()
}

// WaitLine wakes when the line comes, written from another goroutine.
func TestRecorderWaitLine(t *testing.T) {
	r := runnertest.NewRecorder()
	w := r.Stream(queue.StreamStdout, "h")
	release := make(chan struct{})
	go func() {
		<-release
		fmt.Fprintln(w, "started")
		fmt.Fprintln(w, "started again")
	}()
	close(release)
	r.WaitLine(t, "started", 2)
}

// Pause reports the phase paused and waits for Continue, or for ctx.
func TestRecorderPause(t *testing.T) {
	r := runnertest.NewRecorder()
	done := make(chan error, 1)
	go func() { done <- r.Pause(context.Background(), "canary done") }()
	r.Continue(t)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p := r.Reported(); len(p) != 1 || p[0].Phase != queue.PhasePaused || p[0].Message != "canary done" {
		t.Fatalf("progress %+v", p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Pause(ctx, "again"); err != context.Canceled {
		t.Fatalf("a canceled pause: %v", err)
	}
	if got := r.Pauses(); !slices.Equal(got, []string{"canary done", "again"}) {
		t.Fatalf("pauses %v", got)
	}
}

// fatal is a testing.TB whose Fatalf keeps the message and ends the
// goroutine, as the testing package's does.
type fatal struct {
	testing.TB
	msg chan string
}

func (f *fatal) Helper() {}
func (f *fatal) Fatalf(format string, args ...any) {
	f.msg <- fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// A wait for what has not happened gives up as soon as the run ends,
// with the log.
func TestRecorderWaitGivesUpWhenTheRunEnds(t *testing.T) {
	r := runnertest.NewRecorder()
	w := r.Stream(queue.StreamStdout, "")
	fmt.Fprintln(w, "deploy failed early")
	w.Close()
	f := &fatal{TB: t, msg: make(chan string, 1)}
	go r.WaitLine(f, "started")
	r.Ended()
	if msg := <-f.msg; !strings.Contains(msg, `the run ended before 1 line(s) with "started"`) || !strings.Contains(msg, "deploy failed early") {
		t.Fatalf("message %q", msg)
	}
}
