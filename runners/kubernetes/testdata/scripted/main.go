// Command scripted is deployq-kubernetes with a runner that plays a
// script, named by the job's app, instead of rolling out: the bridge's
// tests see through it what crosses between the two processes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/deployq/deployq/queue"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
)

func main() {
	proto := os.Stdout
	os.Stdout = os.Stderr
	if err := kuberunner.Serve(context.Background(), os.Stdin, proto, script{}); err != nil {
		fmt.Fprintln(os.Stderr, "scripted:", err)
		os.Exit(1)
	}
}

// Long is the line of the "output" script that is longer than a write of
// the bridge: 50,000 two-byte characters.
var Long = strings.Repeat("é", 50000)

type script struct{}

func (script) Run(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	switch job.App {
	case "output": // two hosts, lines cut anywhere, progress, a pause
		a := out.Stream(queue.StreamStdout, "web-1")
		io.WriteString(a, "one\ntw")
		io.WriteString(a, "o\nthree, with no end")
		b := out.Stream(queue.StreamStderr, "web-2")
		io.WriteString(b, Long[:1])
		io.WriteString(b, Long[1:]+"\n")
		b.Close()
		out.Progress(queue.Progress{Phase: "rollout", Done: 1, Total: 2, Message: "half way"})
		err := out.Pause(ctx, "look at web-1")
		fmt.Fprintf(a, "pause: %v\n", err)
		a.Close()
		if err != nil {
			return queue.Result{Message: "paused no more"}, err
		}
		return queue.Result{Message: "ran and failed"}, nil
	case "wait": // until stopped, saying why
		w := out.Stream(queue.StreamStdout, "")
		defer w.Close()
		io.WriteString(w, "waiting\n")
		<-ctx.Done()
		fmt.Fprintf(w, "stopped: %v; shutdown: %v\n", context.Cause(ctx), errors.Is(context.Cause(ctx), queue.ErrShutdown))
		return queue.Result{Message: "stopped"}, ctx.Err()
	case "crash": // a stream left open, last words on stderr
		io.WriteString(out.Stream(queue.StreamStdout, ""), "about to crash\n")
		fmt.Fprintln(os.Stderr, "boom")
		os.Exit(3)
	}
	return queue.Result{}, fmt.Errorf("no script %q", job.App)
}

func (script) Live(ctx context.Context, app *queue.App, env *queue.Environment) (string, error) {
	st := env.Settings.(*kuberunner.Settings)
	return fmt.Sprintf("%s/%s in %s", app.Name, env.Name, st.Namespace), nil
}

func (script) Probe(ctx context.Context, st *kuberunner.Settings, report func(what string, err error)) {
	report(st.Where()+": answers", nil)
	report("deployment/web", errors.New("refused"))
}
