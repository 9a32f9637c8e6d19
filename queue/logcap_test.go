package queue_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/deployq/deployq/queue"
)

// Past its cap, a deploy's output is counted, not kept, and the log says
// so; the deploy's own lines are always kept.
func TestLogCap(t *testing.T) {
	env := shellEnv("staging", `i=0; while [ $i -lt 100 ]; do printf '%049d\n' $i; i=$((i+1)); done`)
	env.LogCap = 1000
	e := start(t, []*queue.App{app("web", env)}, nil)
	d := e.submit(queue.Request{App: "web", Ref: sha(1)})
	got, log := e.wait(d.ID)
	if got.State != queue.StateSucceeded {
		t.Fatalf("%s %q", got.State, got.Error)
	}
	kept := 0
	for _, l := range strings.Split(log, "\n") {
		if len(l) == 49 {
			kept++
		}
	}
	if kept != 20 {
		t.Errorf("%d lines of output kept, want the 20 that fit in 1000 bytes\n%s", kept, log)
	}
	for _, want := range []string{
		"the log reached its cap of 1.0 kB: further output is counted, not kept",
		"80 lines (3.9 kB) of output were not kept: the log's cap is 1.0 kB",
		fmt.Sprintf("deploy #%d succeeded", d.ID),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}
