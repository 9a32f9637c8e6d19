package queue_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/deployq/deployq/internal/proctest"
	"github.com/deployq/deployq/queue"
)

// 100 concurrent requests to one env: all run, never two at once, in the
// order they were accepted.
func TestConcurrentRequestsRunOneAtATimeInOrder(t *testing.T) {
	dir := t.TempDir()
	// mkdir is atomic: a second deploy running at the same time fails.
	cmd := fmt.Sprintf(`mkdir %[1]s/running || exit 99; echo $DEPLOY_ID >> %[1]s/order; rmdir %[1]s/running`, dir)
	e := start(t, []*queue.App{app("web", shellEnv("staging", cmd))}, nil)

	const n = 100
	ids := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := e.svc.Submit(context.Background(), queue.Request{App: "web", Ref: sha(i + 1), User: "u" + strconv.Itoa(i)})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = d.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if d, log := e.wait(id); d.State != queue.StateSucceeded {
			t.Fatalf("#%d %s: %s\n%s", id, d.State, d.Error, log)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "order"))
	if err != nil {
		t.Fatal(err)
	}
	var order []int64
	for _, f := range strings.Fields(string(b)) {
		id, _ := strconv.ParseInt(f, 10, 64)
		order = append(order, id)
	}
	if len(order) != n {
		t.Fatalf("%d deploys ran, want %d", len(order), n)
	}
	if !slices.IsSorted(order) {
		t.Fatalf("not FIFO: %v", order)
	}
	numbers := map[int64]bool{}
	ds, _ := e.svc.Deploys(context.Background(), queue.DeployFilter{Limit: -1})
	for _, d := range ds {
		if numbers[d.Number] {
			t.Fatalf("number %d given twice", d.Number)
		}
		numbers[d.Number] = true
	}
}

// Different app+env pairs run in parallel, but never more than max_parallel.
func TestMaxParallelBoundsPairs(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "slots"), 0o755)
	cmd := fmt.Sprintf(`touch %[1]s/slots/$DEPLOY_ID; ls %[1]s/slots | wc -l >> %[1]s/counts; sleep 0.2; rm %[1]s/slots/$DEPLOY_ID`, dir)
	var apps []*queue.App
	for i := range 6 {
		apps = append(apps, app(fmt.Sprintf("app%d", i), shellEnv("staging", cmd), shellEnv("production", cmd)))
	}
	e := start(t, apps, func(o *queue.Options) { o.MaxParallel = 3 })
	var ids []int64
	for _, a := range apps {
		for _, env := range []string{"staging", "production"} {
			ids = append(ids, e.submit(queue.Request{App: a.Name, Env: env, Ref: sha(1)}).ID)
		}
	}
	for _, id := range ids {
		if d, _ := e.wait(id); d.State != queue.StateSucceeded {
			t.Fatalf("#%d %s: %s", id, d.State, d.Error)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "counts"))
	for _, f := range strings.Fields(string(b)) {
		if n, _ := strconv.Atoi(f); n > 3 {
			t.Fatalf("%d deploys ran at once, max_parallel is 3", n)
		}
	}
}

// forker starts a tree: two background sleeps, a nested shell with its own
// sleep, and writes their pids; then it waits.
func forker(dir string) string {
	return fmt.Sprintf(`sleep 300 & echo $! >> %[1]s/pids
sh -c 'sleep 300 & echo $! >> %[1]s/pids; trap "" TERM; wait' & echo $! >> %[1]s/pids
trap "" TERM
echo $$ >> %[1]s/pids
n=0; while [ "$(wc -l < %[1]s/pids)" -lt 4 ] && [ $n -lt 1000 ]; do sleep 0.01; n=$((n+1)); done
touch %[1]s/ready
echo started
wait`, dir)
}

func TestCancelKillsTheProcessTree(t *testing.T) {
	dir := t.TempDir()
	e := start(t, []*queue.App{app("web", shellEnv("staging", forker(dir)))}, nil)
	d := e.submit(queue.Request{App: "web", Ref: sha(1)})
	waitFile(t, filepath.Join(dir, "ready"))
	if _, err := e.svc.Cancel(context.Background(), d.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	got, log := e.wait(d.ID)
	if got.State != queue.StateCanceled || got.Error != "canceled by bob" {
		t.Fatalf("state %s error %q", got.State, got.Error)
	}
	if !strings.Contains(log, "started") {
		t.Fatalf("log lost output:\n%s", log)
	}
	ps := proctest.Pids(t, filepath.Join(dir, "pids"))
	if len(ps) != 4 {
		t.Fatalf("want 4 pids, got %v", ps)
	}
	for _, pid := range ps {
		if proctest.Alive(pid) {
			t.Errorf("process %d survived the cancel", pid)
		}
	}
	if _, err := e.svc.Cancel(context.Background(), d.ID, "bob"); queue.ErrorCode(err) != queue.EConflict {
		t.Fatalf("cancel of a finished deploy: %v, want conflict", err)
	}
}

func TestTimeoutKillsTheProcessTree(t *testing.T) {
	dir := t.TempDir()
	env := shellEnv("staging", forker(dir))
	env.Timeout = 1e9 // 1s
	e := start(t, []*queue.App{app("web", env)}, nil)
	d := e.submit(queue.Request{App: "web", Ref: sha(1)})
	got, _ := e.wait(d.ID)
	if got.State != queue.StateFailed || got.Error != "timed out after 1s" {
		t.Fatalf("state %s error %q", got.State, got.Error)
	}
	for _, pid := range proctest.Pids(t, filepath.Join(dir, "pids")) {
		if proctest.Alive(pid) {
			t.Errorf("process %d survived the timeout", pid)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	env := shellEnv("staging", `echo one; sleep 300`)
	env.IdleTimeout = 300e6 // 300ms
	e := start(t, []*queue.App{app("web", env)}, nil)
	got, log := e.wait(e.submit(queue.Request{App: "web", Ref: sha(1)}).ID)
	if got.State != queue.StateFailed || got.Error != "no output for 300ms" {
		t.Fatalf("state %s error %q", got.State, got.Error)
	}
	if !strings.Contains(log, "one\n") {
		t.Fatalf("log: %s", log)
	}
}

func TestFailedAndCouldNotRun(t *testing.T) {
	e := start(t, []*queue.App{app("web", shellEnv("staging", `echo oops >&2; exit 3`))}, nil)
	got, log := e.wait(e.submit(queue.Request{App: "web", Ref: sha(1)}).ID)
	if got.State != queue.StateFailed || got.Error != "exit status 3" || !strings.Contains(log, "oops") {
		t.Fatalf("state %s error %q log %q", got.State, got.Error, log)
	}
	lines, _ := e.svc.Log(context.Background(), got.ID, 0, 0)
	var streams []string
	for _, l := range lines {
		streams = append(streams, l.Stream)
	}
	if !slices.Contains(streams, queue.StreamStderr) || lines[0].Stream != queue.StreamSystem {
		t.Fatalf("streams %v", streams)
	}
}

func TestSecretsAreMasked(t *testing.T) {
	e := start(t, []*queue.App{app("web", shellEnv("staging", `echo "token=s3cr3t-value and again s3cr3t-value"`))},
		func(o *queue.Options) { o.Secrets = []string{"s3cr3t-value"} })
	_, log := e.wait(e.submit(queue.Request{App: "web", Ref: sha(1)}).ID)
	if strings.Contains(log, "s3cr3t") || !strings.Contains(log, "token=******** and again ********") {
		t.Fatalf("log: %s", log)
	}
}

func TestPlaceholdersAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	cmd := fmt.Sprintf(`printf '%%s|' {app} {env} {ref} {short_sha} "$DEPLOY_SHA" "$DEPLOY_USER" "$DEPLOY_PREVIOUS_SHA" > %s/out`, dir)
	e := start(t, []*queue.App{app("web", shellEnv("staging", cmd))}, nil)
	e.wait(e.submit(queue.Request{App: "web", Ref: sha(1), User: "alice"}).ID)
	e.wait(e.submit(queue.Request{App: "web", Ref: sha(2), User: "bob"}).ID)
	b, _ := os.ReadFile(filepath.Join(dir, "out"))
	want := "web|staging|" + sha(2) + "|0000000|" + sha(2) + "|bob|" + sha(1) + "|"
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestBadInputIsRefusedAndNothingStored(t *testing.T) {
	e := start(t, []*queue.App{app("web", shellEnv("staging", "true"))}, nil)
	cases := []struct {
		name string
		r    queue.Request
		code queue.Code
	}{
		{"ErrUnknownApp", queue.Request{App: "wbe", Ref: sha(1)}, queue.ENotFound},
		{"ErrUnknownEnv", queue.Request{App: "web", Env: "prod", Ref: sha(1)}, queue.ENotFound},
		{"ErrInjection", queue.Request{App: "web", Ref: "main;rm -rf /"}, queue.EInvalid},
		{"ErrSubshell", queue.Request{App: "web", Ref: "$(touch /tmp/x)"}, queue.EInvalid},
		{"ErrOption", queue.Request{App: "web", Ref: "--upload-pack=evil"}, queue.EInvalid},
		{"ErrNoGitForBranch", queue.Request{App: "web", Ref: "main"}, queue.EInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.r.User = "alice"
			_, err := e.svc.Submit(context.Background(), c.r)
			if queue.ErrorCode(err) != c.code {
				t.Fatalf("got %v (%s), want %s", err, queue.ErrorCode(err), c.code)
			}
		})
	}
	ds, _ := e.svc.Deploys(context.Background(), queue.DeployFilter{})
	if len(ds) != 0 {
		t.Fatalf("%d deploys stored", len(ds))
	}
}

// A graceful stop ends running deploys as interrupted, with their process
// trees, and leaves queued deploys queued for the next start.
func TestStopInterruptsRunningKeepsQueued(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	apps := []*queue.App{app("web", shellEnv("staging", forker(dir)))}
	e := startIn(t, dir, apps, nil)
	running := e.submit(queue.Request{App: "web", Ref: sha(1)})
	waitFile(t, filepath.Join(dir, "ready"))
	queued := e.submit(queue.Request{App: "web", Ref: sha(2)})
	e.svc.Stop()

	d, err := e.store.Deploy(ctx, running.ID)
	if err != nil || d.State != queue.StateInterrupted {
		t.Fatalf("running deploy after stop: %v %+v", err, d)
	}
	if d, _ := e.store.Deploy(ctx, queued.ID); d.State != queue.StateQueued {
		t.Fatalf("queued deploy after stop: %s", d.State)
	}
	for _, pid := range proctest.Pids(t, filepath.Join(dir, "pids")) {
		if proctest.Alive(pid) {
			t.Errorf("process %d survived the stop", pid)
		}
	}
}
