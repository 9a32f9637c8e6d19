package runners_test

import (
	"bytes"
	"context"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/proctest"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/runners"
)

// Hostile values stay single words: sh prints them back unchanged.
func TestExpandShellQuotes(t *testing.T) {
	evil := []string{`'; touch /tmp/pwned; '`, `$(id)`, "`id`", `a b`, `"x"`, `\`, ``, `{sha}`, "x\ny", `*`}
	for _, v := range evil {
		cmd, err := runners.ExpandShell(`printf '[%s]' {ref}`, map[string]string{"ref": v})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("sh", "-c", cmd).Output()
		if err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
		if string(out) != "["+v+"]" {
			t.Fatalf("value %q came back as %q from %q", v, out, cmd)
		}
	}
}

func TestExpandErrors(t *testing.T) {
	for _, tmpl := range []string{"deploy {nope}", "deploy {sha"} {
		if _, err := runners.ExpandShell(tmpl, map[string]string{"sha": "x"}); err == nil {
			t.Errorf("%q: no error", tmpl)
		}
	}
	got, err := runners.ExpandPlain("{{literal}} registry/{app}:{sha}", map[string]string{"app": "web", "sha": "abc"})
	if err != nil || got != "{literal} registry/web:abc" {
		t.Fatalf("%q %v", got, err)
	}
	got, err = runners.ExpandShell(`echo "${HOME:-/}" {app} $$`, map[string]string{"app": "web"})
	if err != nil || got != `echo "${HOME:-/}" web $$` {
		t.Fatalf("shell variables: %q %v", got, err)
	}
}

func TestRunGroupExitAndOutput(t *testing.T) {
	var out, errb bytes.Buffer
	err := runners.RunGroup(context.Background(), exec.Command("sh", "-c", "echo out; echo err >&2; exit 4"), &out, &errb, time.Second, "")
	res, rerr := runners.ExitResult(err)
	if rerr != nil || res.OK || res.Message != "exit status 4" {
		t.Fatalf("%+v %v", res, rerr)
	}
	if out.String() != "out\n" || errb.String() != "err\n" {
		t.Fatalf("out %q err %q", out.String(), errb.String())
	}
	_, rerr = runners.ExitResult(runners.RunGroup(context.Background(), exec.Command("/nonexistent"), &out, &errb, time.Second, ""))
	if rerr == nil {
		t.Fatal("a missing program must be 'could not run'")
	}
}

// A command that leaves a child holding its output does not hang the
// deploy: the leftover is ended when the command exits.
func TestRunGroupEndsLeftovers(t *testing.T) {
	var out, errb bytes.Buffer
	cmd := exec.Command("sh", "-c", "sleep 300 & echo $!; echo done")
	err := runners.RunGroup(context.Background(), cmd, &out, &errb, time.Second, "")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(out.String())
	if len(lines) != 2 || lines[1] != "done" {
		t.Fatalf("out %q", out.String())
	}
	pid, _ := strconv.Atoi(lines[0])
	t.Cleanup(func() {
		if proctest.Alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	queuetest.EventuallyWithin(t, 10*time.Second, "the leftover "+lines[0]+" ended", func() bool { return !proctest.Alive(pid) })
}

// A process that ignores SIGTERM gets SIGKILL after the grace.
func TestRunGroupKillsAfterGrace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	cmd := exec.Command("sh", "-c", `trap "" TERM; echo ready; while :; do sleep 0.05; done`)
	done := make(chan error, 1)
	pr := &lineWaiter{want: "ready", ch: make(chan struct{})}
	go func() { done <- runners.RunGroup(ctx, cmd, pr, &out, 200*time.Millisecond, "") }()
	<-pr.ch
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("got %v", err)
	}
}

type lineWaiter struct {
	want string
	buf  bytes.Buffer
	ch   chan struct{}
	done bool
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.want) {
		w.done = true
		close(w.ch)
	}
	return len(p), nil
}

// Changes lists what differs between two flattened documents, by path:
// changed, removed and added leaves; nothing for equal ones.
func TestChanges(t *testing.T) {
	a := map[string]string{"spec.image": "web:1", "spec.replicas": "3", "spec.old": "x"}
	b := map[string]string{"spec.image": "web:2", "spec.replicas": "3", "spec.new": "y"}
	want := []string{"  - spec.image: web:1", "  + spec.image: web:2", "  + spec.new: y", "  - spec.old: x"}
	if got := runners.Changes(a, b); !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if got := runners.Changes(a, a); got != nil {
		t.Fatalf("the same document: %q", got)
	}
}
