package kubernetes_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/internal/runnertest"
	"github.com/deployq/deployq/queue"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
)

// scriptJob is a job of the scripted deployq-kubernetes: app names the script.
func scriptJob(app string) queue.Job {
	return queue.Job{DeployID: 3, App: app, Env: "production", SHA: sha1, Ref: "main", User: "alice",
		Settings: &kuberunner.Settings{Namespace: "web", Targets: []kuberunner.Target{{Workload: "deployment/web"}}}}
}

// running is a Run of the bridge in a goroutine.
type running struct {
	out  *runnertest.Recorder
	done chan struct{}
	res  queue.Result
	err  error
}

func runBridge(ctx context.Context, r *kuberunner.Runner, job queue.Job) *running {
	x := &running{out: runnertest.NewRecorder(), done: make(chan struct{})}
	go func() {
		defer close(x.done)
		x.res, x.err = r.Run(ctx, job, x.out)
		x.out.Ended()
	}()
	return x
}

func (x *running) wait(t *testing.T) {
	t.Helper()
	select {
	case <-x.done:
	case <-time.After(queuetest.Patience):
		t.Fatalf("Run did not return; the log:\n%s", x.out.Text())
	}
	if open := x.out.Open(); len(open) > 0 {
		t.Errorf("streams left open: %v", open)
	}
	if m := x.out.Misuse(); len(m) > 0 {
		t.Errorf("output misused: %v", m)
	}
	noChildren(t, "scripted")
}

// Every call the runner makes on its Output in deployq-kubernetes is made
// on the queue's in deployq: streams of hosts, lines cut anywhere (a
// line longer than a write, of two-byte characters), a partial last line,
// progress, a pause that someone continues; then the result.
func TestOutputCrossesTheBridge(t *testing.T) {
	x := runBridge(t.Context(), bridgeTo(t, scripted), scriptJob("output"))
	x.out.Wait(t, "the pause", func() bool { return len(x.out.Pauses()) == 1 })
	x.out.Continue(t)
	x.wait(t)
	if x.err != nil || x.res.OK || x.res.Message != "ran and failed" {
		t.Fatalf("Run returned %+v, %v: want the failed result", x.res, x.err)
	}
	want := []runnertest.Line{
		{Stream: queue.StreamStdout, Host: "web-1", Text: "one"},
		{Stream: queue.StreamStdout, Host: "web-1", Text: "two"},
		{Stream: queue.StreamStderr, Host: "web-2", Text: strings.Repeat("é", 50000)},
		{Stream: queue.StreamStdout, Host: "web-1", Text: "three, with no endpause: <nil>"},
	}
	if got := x.out.Lines(); !slices.Equal(got, want) {
		t.Errorf("lines:\n%.300v\nwant\n%.300v", got, want)
	}
	if got := x.out.Reported(); len(got) != 2 || got[0] != (queue.Progress{Phase: "rollout", Done: 1, Total: 2, Message: "half way"}) ||
		got[1].Phase != queue.PhasePaused || got[1].Message != "look at web-1" {
		t.Errorf("progress %+v", got)
	}
}

// A pause ends with the run's context: the runner in deployq-kubernetes
// sees its own context end, and Run returns the context's error.
func TestPauseEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	x := runBridge(ctx, bridgeTo(t, scripted), scriptJob("output"))
	x.out.Wait(t, "the pause", func() bool { return len(x.out.Pauses()) == 1 })
	cancel(errors.New("canceled by bob"))
	x.wait(t)
	if !errors.Is(x.err, context.Canceled) || x.res.Message != "paused no more" {
		t.Fatalf("Run returned %+v, %v: want the context's error", x.res, x.err)
	}
	if !strings.Contains(x.out.Text(), "pause: context canceled") {
		t.Errorf("the runner's pause did not end:\n%s", x.out.Text())
	}
}

// The cause of the run's context crosses too: a shutdown is
// queue.ErrShutdown in deployq-kubernetes (the rollout is left alone),
// anything else is a cancel (it is undone), with its words.
func TestStopSaysWhy(t *testing.T) {
	for _, c := range []struct {
		name  string
		cause error
		want  string
	}{
		{"Cancel", errors.New("canceled by bob"), "stopped: canceled by bob; shutdown: false"},
		{"Shutdown", queue.ErrShutdown, "stopped: " + queue.ErrShutdown.Error() + "; shutdown: true"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(t.Context())
			x := runBridge(ctx, bridgeTo(t, scripted), scriptJob("wait"))
			x.out.WaitLine(t, "waiting")
			cancel(c.cause)
			x.wait(t)
			if !errors.Is(x.err, context.Canceled) || x.res.Message != "stopped" {
				t.Fatalf("Run returned %+v, %v", x.res, x.err)
			}
			if !strings.Contains(x.out.Text(), c.want) {
				t.Errorf("the log lacks %q:\n%s", c.want, x.out.Text())
			}
		})
	}
}

// A deployq-kubernetes that dies mid-run could not run the deploy: its
// last words are in the error and in the log, the streams it left open
// are closed.
func TestDeployqKubernetesThatDiesIsAnError(t *testing.T) {
	var logged []string
	r := &kuberunner.Runner{Path: scripted, Log: func(msg string) { logged = append(logged, msg) }}
	x := runBridge(t.Context(), r, scriptJob("crash"))
	x.wait(t)
	if x.err == nil || !strings.Contains(x.err.Error(), "deployq-kubernetes ended without saying how the call went (exit status 3)") ||
		!strings.Contains(x.err.Error(), "it said: boom; a rollout it started goes on in the cluster, unwatched") {
		t.Fatalf("Run returned %+v, %v", x.res, x.err)
	}
	if !slices.Contains(logged, "deployq-kubernetes: boom") {
		t.Errorf("logged %q", logged)
	}
	if !strings.Contains(x.out.Text(), "about to crash") {
		t.Errorf("the log:\n%s", x.out.Text())
	}
}

// An error of the runner in deployq-kubernetes is an error of Run.
func TestCouldNotRunCrosses(t *testing.T) {
	x := runBridge(t.Context(), bridgeTo(t, scripted), scriptJob("nothing"))
	x.wait(t)
	if x.err == nil || x.err.Error() != `no script "nothing"` {
		t.Fatalf("Run returned %+v, %v", x.res, x.err)
	}
}

// Live and Probe cross the bridge too.
func TestLiveAndProbeCross(t *testing.T) {
	r := bridgeTo(t, scripted)
	job := scriptJob("web")
	live, err := r.Live(t.Context(), &queue.App{Name: "web"}, &queue.Environment{Name: "production", Settings: job.Settings})
	if err != nil || live != "web/production in web" {
		t.Errorf("live %q, %v", live, err)
	}
	var got []string
	r.Probe(t.Context(), &kuberunner.Settings{Kubeconfig: "/etc/deployq/kubeconfig"}, func(what string, err error) {
		got = append(got, what+" "+errString(err))
	})
	if want := []string{"/etc/deployq/kubeconfig: answers <nil>", "deployment/web refused"}; !slices.Equal(got, want) {
		t.Errorf("probe %q, want %q", got, want)
	}
	noChildren(t, "scripted")
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// Without deployq-kubernetes next to the executable or on PATH, every
// call says what to do.
func TestMissingDeployqKubernetesSaysWhatToDo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	const want = "the kubernetes runner needs deployq-kubernetes next to deployq ("
	if _, err := kuberunner.Find(); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "make build builds both") {
		t.Fatalf("Find: %v", err)
	}
	r := kuberunner.New()
	if _, err := r.Run(t.Context(), scriptJob("output"), runnertest.NewRecorder()); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Run: %v", err)
	}
	var probed []string
	st := &kuberunner.Settings{Namespace: "web"}
	st.Probe(t.Context(), func(what string, err error) { probed = append(probed, what+": "+errString(err)) })
	if len(probed) != 1 || !strings.HasPrefix(probed[0], "in-cluster config: "+want) {
		t.Errorf("probe %q", probed)
	}
}

// On PATH is good enough.
func TestFindOnPath(t *testing.T) {
	t.Setenv("PATH", filepath.Dir(kubeBin))
	if got, err := kuberunner.Find(); err != nil || got != kubeBin {
		t.Fatalf("Find: %q, %v; want %q", got, err, kubeBin)
	}
}

// A deployq-kubernetes of another build says so rather than guess, and a
// deployq that goes away (its stdin ends) is a shutdown: the run ends as
// it would when deployq stops.
func TestProtocol(t *testing.T) {
	talk := func(t *testing.T, request string, then func(stdin interface{ Close() error })) []string {
		cmd := exec.Command(scripted)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stdin.Write([]byte(request + "\n"))
		var lines []string
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), `"waiting\n"`) {
				then(stdin)
			}
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("exit: %v", err)
		}
		return lines
	}
	t.Run("Version", func(t *testing.T) {
		lines := talk(t, `{"v":99,"run":{"job":{},"settings":{}}}`, nil)
		var last struct{ End struct{ Error string } }
		if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &last) != nil ||
			last.End.Error != "deployq-kubernetes speaks protocol 1, deployq 99: install deployq and deployq-kubernetes from one build" {
			t.Fatalf("%q", lines)
		}
	})
	t.Run("DeployqGone", func(t *testing.T) {
		lines := talk(t, `{"v":1,"run":{"job":{"App":"wait"},"settings":{}}}`, func(stdin interface{ Close() error }) { stdin.Close() })
		text := strings.Join(lines, "\n")
		if !strings.Contains(text, "shutdown: true") || !strings.Contains(lines[len(lines)-1], `"canceled":true`) {
			t.Fatalf("%s", text)
		}
	})
}
