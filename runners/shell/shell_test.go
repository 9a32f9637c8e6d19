package shell_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/deployq/deployq/internal/gittest"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners/shell"
)

// output collects what a runner writes.
type output struct {
	mu       sync.Mutex
	text     strings.Builder
	progress []queue.Progress
}

type streamWriter struct {
	o      *output
	prefix string
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	for _, l := range strings.SplitAfter(string(p), "\n") {
		if l != "" {
			w.o.text.WriteString(w.prefix + l)
		}
	}
	return len(p), nil
}
func (w streamWriter) Close() error { return nil }

func (o *output) Stream(stream, host string) io.WriteCloser {
	return streamWriter{o: o, prefix: stream + ": "}
}
func (o *output) Progress(p queue.Progress) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.progress = append(o.progress, p)
}

func TestCheckoutAtSHA(t *testing.T) {
	repo := gittest.New(t)
	old := repo.Commit("v1", map[string]string{"VERSION": "1\n", "deploy.sh": "#!/bin/sh\necho \"version $(cat VERSION) to $1\"\npwd > \"$2\"\n"})
	repo.Commit("v2", map[string]string{"VERSION": "2\n"})

	ws := t.TempDir()
	pwdFile := filepath.Join(t.TempDir(), "pwd")
	r := shell.New(ws)
	st := &shell.Settings{Command: "./deploy.sh {env} " + pwdFile, Checkout: true}
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	out := &output{}
	res, err := r.Run(context.Background(), queue.Job{DeployID: 7, App: "web", Env: "staging", SHA: old, Git: repo.Bare, Settings: st}, out)
	if err != nil || !res.OK {
		t.Fatalf("%+v %v\n%s", res, err, out.text.String())
	}
	if !strings.Contains(out.text.String(), "stdout: version 1 to staging\n") {
		t.Fatalf("output:\n%s", out.text.String())
	}
	pwd, _ := os.ReadFile(pwdFile)
	if !strings.HasPrefix(string(pwd), filepath.Join(ws, "web", "deploy-7")) {
		t.Fatalf("ran in %s", pwd)
	}
	if _, err := os.Stat(filepath.Join(ws, "web", "deploy-7")); !os.IsNotExist(err) {
		t.Fatalf("checkout not removed: %v", err)
	}
	if len(out.progress) == 0 || out.progress[0].Phase != "checkout" {
		t.Fatalf("progress %+v", out.progress)
	}
}

func TestWorkspaceAndEnv(t *testing.T) {
	ws := t.TempDir()
	st := &shell.Settings{Command: `echo "$DEPLOY_APP $DEPLOY_ENV $DEPLOY_ID $EXTRA $(basename "$PWD")"`, Env: map[string]string{"EXTRA": "x y"}}
	out := &output{}
	res, err := shell.New(ws).Run(context.Background(), queue.Job{DeployID: 3, App: "web", Env: "qa", Settings: st}, out)
	if err != nil || !res.OK {
		t.Fatalf("%+v %v", res, err)
	}
	if got := out.text.String(); got != "stdout: web qa 3 x y web\n" {
		t.Fatalf("got %q", got)
	}
}

func TestValidate(t *testing.T) {
	for _, st := range []shell.Settings{{}, {Command: "x {nope}"}, {Command: "x", Dir: "../up"}, {Command: "x", Dir: "/abs"}} {
		if err := st.Validate(); err == nil {
			t.Errorf("%+v: no error", st)
		}
	}
}

func (o *output) Pause(ctx context.Context, reason string) error { return nil }
