package shell_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/deployq/deployq/internal/gittest"
	"github.com/deployq/deployq/internal/runnertest"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners/shell"
)

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
	out := runnertest.NewRecorder()
	res, err := r.Run(t.Context(), queue.Job{DeployID: 7, App: "web", Env: "staging", SHA: old, Git: repo.Bare, Settings: st}, out)
	if err != nil || !res.OK {
		t.Fatalf("%+v %v\n%s", res, err, out.Text())
	}
	if !slices.Contains(out.Lines(), runnertest.Line{Stream: queue.StreamStdout, Text: "version 1 to staging"}) {
		t.Fatalf("output:\n%s", out.Text())
	}
	pwd, _ := os.ReadFile(pwdFile)
	if !strings.HasPrefix(string(pwd), filepath.Join(ws, "web", "deploy-7")) {
		t.Fatalf("ran in %s", pwd)
	}
	if _, err := os.Stat(filepath.Join(ws, "web", "deploy-7")); !os.IsNotExist(err) {
		t.Fatalf("checkout not removed: %v", err)
	}
	if p := out.Reported(); len(p) == 0 || p[0].Phase != "checkout" {
		t.Fatalf("progress %+v", p)
	}
}

func TestWorkspaceAndEnv(t *testing.T) {
	ws := t.TempDir()
	st := &shell.Settings{Command: `echo "$DEPLOY_APP $DEPLOY_ENV $DEPLOY_ID $EXTRA $(basename "$PWD")"`, Env: map[string]string{"EXTRA": "x y"}}
	out := runnertest.NewRecorder()
	res, err := shell.New(ws).Run(t.Context(), queue.Job{DeployID: 3, App: "web", Env: "qa", Settings: st}, out)
	if err != nil || !res.OK {
		t.Fatalf("%+v %v", res, err)
	}
	if got, want := out.Lines(), []runnertest.Line{{Stream: queue.StreamStdout, Text: "web qa 3 x y web"}}; !slices.Equal(got, want) {
		t.Fatalf("got %+v", got)
	}
}

func TestValidate(t *testing.T) {
	for _, st := range []shell.Settings{{}, {Command: "x {nope}"}, {Command: "x", Dir: "../up"}, {Command: "x", Dir: "/abs"}} {
		if err := st.Validate(); err == nil {
			t.Errorf("%+v: no error", st)
		}
	}
}

// A checkout clones the app's git: an app without one cannot have it.
func TestValidateApp(t *testing.T) {
	st := shell.Settings{Command: "x", Checkout: true}
	err := st.ValidateApp(&queue.App{Name: "web"})
	if err == nil || err.Error() != "checkout: true clones the app's git, and web has none: set its git (a URL or path)" {
		t.Fatalf("got %v", err)
	}
	if err := st.ValidateApp(&queue.App{Name: "web", Git: "/srv/git/web.git"}); err != nil {
		t.Fatal(err)
	}
	st.Checkout = false
	if err := st.ValidateApp(&queue.App{Name: "web"}); err != nil {
		t.Fatal(err)
	}
}
