package queue_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// prober answers the checks of verifications as the test says: by sha,
// and by how many tries of that sha came before.
type prober struct {
	mu     sync.Mutex
	tries  map[string]int
	answer func(sha string, try int) queue.Evidence
}

func newProber(answer func(sha string, try int) queue.Evidence) *prober {
	return &prober{tries: map[string]int{}, answer: answer}
}

func (p *prober) Probe(ctx context.Context, job queue.Job, c queue.VerifyCheck, out queue.Output) queue.Evidence {
	p.mu.Lock()
	p.tries[job.SHA]++
	n := p.tries[job.SHA]
	p.mu.Unlock()
	return p.answer(job.SHA, n)
}

func (p *prober) triesOf(sha string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tries[sha]
}

func healthy(string, int) queue.Evidence { return queue.Evidence{OK: true, Said: "200 in 1ms"} }

// verifying is an environment whose deploys are verified by one check,
// in rounds: every of for.
func verifying(every time.Duration, rounds int, onFailure string) *queue.Environment {
	e := shellEnv("prod", "true")
	e.Verify = &queue.Verify{For: every * time.Duration(rounds), Every: every, OnFailure: onFailure,
		Checks: []queue.VerifyCheck{{Name: "health", Kind: queue.CheckHTTP, URL: "http://127.0.0.1/health"}}}
	return e
}

func TestVerifyPasses(t *testing.T) {
	p := newProber(healthy)
	e := start(t, []*queue.App{app("web", verifying(20*time.Millisecond, 3, ""))}, func(o *queue.Options) { o.Prober = p })
	d := e.submit(queue.Request{App: "web", Env: "prod", Ref: sha(1), SHA: sha(1)})
	d, log := e.wait(d.ID)
	if d.State != queue.StateSucceeded {
		t.Fatalf("deploy %s (%s), want succeeded\n%s", d.State, d.Error, log)
	}
	for _, want := range []string{"the runner succeeded; verifying for 60ms, every 20ms: health (http)", "verify 1/3: health ok: 200 in 1ms", "verify 3/3"} {
		if !strings.Contains(log, want) {
			t.Fatalf("log lacks %q:\n%s", want, log)
		}
	}
	if n := p.triesOf(sha(1)); n != 3 {
		t.Fatalf("%d tries of the check, want 3 (one a round)", n)
	}
	if from, _ := e.store.Meta(t.Context(), d.ID, queue.MetaVerifyFrom); from == "" {
		t.Fatal("the window's start was not kept")
	}
}

// TestVerifyFailsRollsBack: a check that fails in the window fails the
// deploy with what it saw, marks its sha bad, and rolls the environment
// back to what ran before, as a deploy of its own linked to the failed
// one; an automatic deploy of that sha is then refused.
func TestVerifyFailsRollsBack(t *testing.T) {
	p := newProber(func(sha string, try int) queue.Evidence {
		if sha == shaOf(2) && try == 2 {
			return queue.Evidence{Said: "GET http://127.0.0.1/health: 503 (want 200)"}
		}
		return healthy(sha, try)
	})
	e := start(t, []*queue.App{app("web", verifying(20*time.Millisecond, 3, ""))}, func(o *queue.Options) { o.Prober = p })
	first, _ := e.wait(e.submit(queue.Request{App: "web", Env: "prod", Ref: sha(1), SHA: sha(1)}).ID)
	if first.State != queue.StateSucceeded {
		t.Fatalf("first deploy %s: %s", first.State, first.Error)
	}
	bad, log := e.wait(e.submit(queue.Request{App: "web", Env: "prod", Ref: sha(2), SHA: sha(2)}).ID)
	if bad.State != queue.StateFailed {
		t.Fatalf("deploy %s, want failed\n%s", bad.State, log)
	}
	want := "verification failed: check health: GET http://127.0.0.1/health: 503 (want 200); " + queue.ShortSHA(sha(2)) + " is marked bad for web; prod rolls back"
	if bad.Error != want {
		t.Fatalf("error %q\nwant  %q", bad.Error, want)
	}
	if !strings.Contains(log, "verify 2/3: health FAILED: GET http://127.0.0.1/health: 503 (want 200)") {
		t.Fatalf("the log lacks the failed round:\n%s", log)
	}
	marks, err := e.svc.BadSHAs(t.Context(), "web")
	if err != nil || len(marks) != 1 || marks[0].SHA != sha(2) || marks[0].User != "deployq" || !strings.Contains(marks[0].Reason, "503") {
		t.Fatalf("bad shas %+v, %v", marks, err)
	}
	var back *queue.Deploy
	queuetest.Eventually(t, "a rollback deploy", func() bool {
		ds, _ := e.svc.Deploys(t.Context(), queue.DeployFilter{App: "web", Env: "prod", Limit: 1})
		if len(ds) == 1 && ds[0].ID > bad.ID {
			back = ds[0]
		}
		return back != nil
	})
	back, blog := e.wait(back.ID)
	if back.Source != queue.SourceRollback || back.SHA != sha(1) || back.State != queue.StateSucceeded {
		t.Fatalf("rollback %+v\n%s", back, blog)
	}
	if of, _ := e.store.Meta(t.Context(), back.ID, queue.MetaRollbackOf); of != "#2" {
		t.Fatalf("the rollback is of %q, want #2", of)
	}
	if !strings.Contains(blog, "rollback of #2 ("+queue.ShortSHA(sha(2))+"), whose verification failed") {
		t.Fatalf("the rollback's log does not say why:\n%s", blog)
	}
	auto, err := e.svc.Submit(t.Context(), queue.Request{App: "web", Env: "prod", Ref: sha(2), SHA: sha(2), User: "github", Source: queue.SourceAuto})
	if err == nil && auto.State == queue.StateFailed {
		err = queue.Errorf(queue.EConflict, "%s", auto.Error)
	}
	if err == nil || !strings.Contains(queue.ErrorMessage(err), "is marked bad for web by deployq") {
		t.Fatalf("an auto-deploy of the bad sha: %+v, %v", auto, err)
	}
	_, err = e.svc.Submit(t.Context(), queue.Request{App: "web", Env: "prod", Ref: sha(2), SHA: sha(2), User: "alice"})
	if queue.ErrorCode(err) != queue.EConflict || !strings.Contains(queue.ErrorMessage(err), "deploy!") {
		t.Fatalf("a typed deploy of the bad sha: %v", err)
	}
}

// The rollback of a failed verification goes before the deploys already
// queued in its lane: they were asked of the version it rolls away from,
// and run after it, on what it put back.
func TestRollbackGoesFirst(t *testing.T) {
	gate := make(chan struct{})
	p := newProber(func(sha string, try int) queue.Evidence {
		if sha == shaOf(2) && try == 2 {
			<-gate
			return queue.Evidence{Said: "GET http://127.0.0.1/health: 503 (want 200)"}
		}
		return healthy(sha, try)
	})
	e := start(t, []*queue.App{app("web", verifying(20*time.Millisecond, 3, ""))}, func(o *queue.Options) { o.Prober = p })
	if first, _ := e.wait(e.submit(queue.Request{App: "web", Env: "prod", Ref: sha(1), SHA: sha(1)}).ID); first.State != queue.StateSucceeded {
		t.Fatalf("first deploy %s: %s", first.State, first.Error)
	}
	bad := e.submit(queue.Request{App: "web", Env: "prod", Ref: sha(2), SHA: sha(2)})
	queuetest.Eventually(t, "#2 verifying", func() bool {
		d, err := e.svc.Deploy(t.Context(), bad.ID)
		return err == nil && d.State == queue.StateVerifying
	})
	next := e.submit(queue.Request{App: "web", Env: "prod", Ref: sha(3), SHA: sha(3)}) // queued behind #2
	close(gate)
	next, log := e.wait(next.ID)
	if next.State != queue.StateSucceeded {
		t.Fatalf("#%d %s: %s\n%s", next.ID, next.State, next.Error, log)
	}
	ds, err := e.svc.Deploys(t.Context(), queue.DeployFilter{App: "web", Env: "prod", Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	var back *queue.Deploy
	for _, d := range ds {
		if d.Source == queue.SourceRollback {
			back = d
		}
	}
	if back == nil || back.ID < next.ID || back.State != queue.StateSucceeded || !back.StartedAt.Before(next.StartedAt) {
		t.Fatalf("the rollback %+v did not run before #%d (started %s)", back, next.ID, next.StartedAt)
	}
	if next.PreviousSHA != sha(1) {
		t.Fatalf("#%d replaced %s, want what the rollback put back, %s", next.ID, next.PreviousSHA, sha(1))
	}
}

func shaOf(n int) string { return sha(n) }

// TestVerifyAlert: on_failure alert fails the deploy and marks its sha
// bad, and rolls nothing back.
func TestVerifyAlert(t *testing.T) {
	p := newProber(func(sha string, try int) queue.Evidence {
		if sha == shaOf(2) {
			return queue.Evidence{Said: "0.2 < 0.01 is false"}
		}
		return healthy(sha, try)
	})
	e := start(t, []*queue.App{app("web", verifying(10*time.Millisecond, 2, queue.VerifyAlert))}, func(o *queue.Options) { o.Prober = p })
	e.wait(e.submit(queue.Request{App: "web", Env: "prod", Ref: sha(1), SHA: sha(1)}).ID)
	bad, _ := e.wait(e.submit(queue.Request{App: "web", Env: "prod", Ref: sha(2), SHA: sha(2)}).ID)
	if bad.State != queue.StateFailed || strings.Contains(bad.Error, "rolls back") || !strings.Contains(bad.Error, "marked bad") {
		t.Fatalf("deploy %s: %s", bad.State, bad.Error)
	}
	next := e.submit(queue.Request{App: "web", Env: "prod", Ref: sha(3), SHA: sha(3)})
	if next.ID != bad.ID+1 {
		t.Fatalf("a deploy came between: #%d after #%d", next.ID, bad.ID)
	}
}

// TestVerifyCancel: a verifying deploy is canceled like a running one.
func TestVerifyCancel(t *testing.T) {
	checking := make(chan struct{}, 1)
	p := newProber(func(string, int) queue.Evidence {
		select {
		case checking <- struct{}{}:
		default:
		}
		return queue.Evidence{OK: true, Said: "fine"}
	})
	e := start(t, []*queue.App{app("web", verifying(20*time.Millisecond, 1000, ""))}, func(o *queue.Options) { o.Prober = p })
	d := e.submit(queue.Request{App: "web", Env: "prod", Ref: sha(1), SHA: sha(1)})
	queuetest.Receive(t, "a check of the verification", checking)
	got, err := e.svc.Cancel(t.Context(), d.ID, "bob")
	if err != nil || got.State != queue.StateVerifying {
		t.Fatalf("cancel: %+v, %v", got, err)
	}
	d, log := e.wait(d.ID)
	if d.State != queue.StateCanceled || !strings.Contains(d.Error, "canceled by bob") {
		t.Fatalf("deploy %s (%s)\n%s", d.State, d.Error, log)
	}
	if marks, _ := e.svc.BadSHAs(t.Context(), "web"); len(marks) != 0 {
		t.Fatalf("a canceled verification marked %+v bad", marks)
	}
}

// TestVerifyResumesAfterRestart: deployq stopping during a verification
// leaves the deploy verifying; the next start resumes its window.
func TestVerifyResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	stuck := make(chan struct{})
	first := newProber(func(sha string, try int) queue.Evidence {
		if try == 2 {
			close(stuck)
			<-t.Context().Done() // never answers in time: the stop comes first
		}
		return healthy(sha, try)
	})
	// The prober above never returns from its second try; the executor
	// gives up on it when the check's timeout ends or deployq stops.
	apps := []*queue.App{app("web", verifying(50*time.Millisecond, 4, ""))}
	e := startIn(t, dir, apps, func(o *queue.Options) { o.Prober = blocking{first} })
	d := e.submit(queue.Request{App: "web", Env: "prod", Ref: sha(1), SHA: sha(1)})
	queuetest.Receive(t, "the second round of checks", stuck)
	e.svc.Stop()
	kept, err := e.store.Deploy(t.Context(), d.ID)
	if err != nil || kept.State != queue.StateVerifying {
		t.Fatalf("after a stop during its verification: %+v, %v", kept, err)
	}
	second := newProber(healthy)
	e2 := startIn(t, dir, apps, func(o *queue.Options) { o.Prober = second })
	d, log := e2.wait(d.ID)
	if d.State != queue.StateSucceeded {
		t.Fatalf("deploy %s (%s)\n%s", d.State, d.Error, log)
	}
	for _, want := range []string{"verify 1/4: health ok", "the verification of #1 goes on", "verify 4/4: health ok"} {
		if !strings.Contains(log, want) {
			t.Fatalf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Count(log, "the runner succeeded; verifying") != 1 {
		t.Fatalf("the deploy ran again:\n%s", log)
	}
}

// blocking wraps a prober whose answer may never come: the check's
// context ends it.
type blocking struct{ p *prober }

func (b blocking) Probe(ctx context.Context, job queue.Job, c queue.VerifyCheck, out queue.Output) queue.Evidence {
	ch := make(chan queue.Evidence, 1)
	go func() { ch <- b.p.Probe(ctx, job, c, out) }()
	select {
	case ev := <-ch:
		return ev
	case <-ctx.Done():
		return queue.Evidence{Said: ctx.Err().Error()}
	}
}

// The checks of a round run at once: one that waits for another to have
// started passes.
func TestVerifyChecksRunAtOnce(t *testing.T) {
	started := make(chan struct{})
	var once sync.Once
	p := probeFunc(func(ctx context.Context, c queue.VerifyCheck) queue.Evidence {
		if c.Name == "second" {
			once.Do(func() { close(started) })
			return queue.Evidence{OK: true, Said: "up"}
		}
		select {
		case <-started:
			return queue.Evidence{OK: true, Said: "up, with the second"}
		case <-ctx.Done():
			return queue.Evidence{Said: "the second check never started meanwhile"}
		}
	})
	env := verifying(10*time.Millisecond, 1, "")
	env.Verify.Checks = []queue.VerifyCheck{{Name: "first", Kind: queue.CheckHTTP, Timeout: 5 * time.Second}, {Name: "second", Kind: queue.CheckHTTP}}
	e := start(t, []*queue.App{app("web", env)}, func(o *queue.Options) { o.Prober = p })
	d, log := e.wait(e.submit(queue.Request{App: "web", Env: "prod", Ref: sha(1), SHA: sha(1)}).ID)
	if d.State != queue.StateSucceeded || !strings.Contains(log, "verify 1/1: first ok: up, with the second; second ok: up") {
		t.Fatalf("deploy %s (%s)\n%s", d.State, d.Error, log)
	}
}

type probeFunc func(ctx context.Context, c queue.VerifyCheck) queue.Evidence

func (f probeFunc) Probe(ctx context.Context, _ queue.Job, c queue.VerifyCheck, _ queue.Output) queue.Evidence {
	return f(ctx, c)
}

// Turns: rollbacks first, the oldest first; a deploy that holds the lane
// is ahead of every queued one, and a deploy is not ahead of itself.
func TestTurns(t *testing.T) {
	q := func(id int64, src queue.Source) *queue.Deploy {
		return &queue.Deploy{ID: id, Source: src, State: queue.StateQueued}
	}
	old, newer, rb, rb2 := q(1, queue.SourceChat), q(2, queue.SourceAuto), q(3, queue.SourceRollback), q(4, queue.SourceRollback)
	running := &queue.Deploy{ID: 9, State: queue.StateRunning}
	for _, c := range []struct {
		o, d *queue.Deploy
		want bool
	}{{old, newer, true}, {newer, old, false}, {rb, old, true}, {old, rb, false}, {rb, rb2, true}, {rb2, rb, false},
		{running, rb, true}, {rb, running, false}, {old, old, false}} {
		if got := queue.Ahead(c.o, c.d); got != c.want {
			t.Errorf("#%d (%s) ahead of #%d (%s): %v, want %v", c.o.ID, c.o.Source, c.d.ID, c.d.Source, got, c.want)
		}
	}
}
