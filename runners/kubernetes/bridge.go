package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/deployq/deployq/queue"
)

// Executable is the name of the executable that runs the kubernetes runner.
const Executable = "deployq-kubernetes"

// Runner is the kubernetes runner of the deployq server. Each deploy,
// each live view and each probe runs in a deployq-kubernetes process of
// its own, started for it and gone when it ends: a server whose
// environments never deploy to Kubernetes never starts one.
type Runner struct {
	// Path is the deployq-kubernetes executable. Empty: Find's.
	Path string
	// Log gets each line deployq-kubernetes writes on its stderr
	// (client-go's warnings, a crash) and how it exited when it did not
	// exit cleanly. Nil: slog's default logger, as warnings.
	Log func(msg string)
}

// New returns a kubernetes runner that runs the deployq-kubernetes Find
// finds.
func New() *Runner { return &Runner{} }

// Find returns the deployq-kubernetes deployq runs: the one next to
// deployq's own executable, else the first on PATH. Without one, the
// error says what to do.
func Find() (string, error) {
	next := Executable
	if exe, err := os.Executable(); err == nil {
		next = filepath.Join(filepath.Dir(exe), Executable)
		if fi, err := os.Stat(next); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return next, nil
		}
	}
	if p, err := exec.LookPath(Executable); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the kubernetes runner needs %s next to deployq (%s) or on PATH: make build builds both", Executable, next)
}

// Run implements queue.Runner: deployq-kubernetes rolls the job out. When
// ctx ends, it is told why: on queue.ErrShutdown it leaves the rollout to
// the cluster, on any other cause it undoes it; Run returns when it has.
// A deployq-kubernetes that cannot be started, or that ends without
// saying how the deploy went, is an error (could not run).
func (r *Runner) Run(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	st, ok := job.Settings.(*Settings)
	if !ok || st == nil {
		return queue.Result{}, fmt.Errorf("kubernetes runner: settings are %T", job.Settings)
	}
	job.Settings = nil
	c, err := r.start(request{V: protocolVersion, Run: &runRequest{Job: job, Settings: st}})
	if err != nil {
		return queue.Result{}, err
	}
	p := &player{out: out, c: c, streams: map[int]*playedStream{}}
	p.pauseCtx, p.endPauses = context.WithCancel(ctx)
	defer p.stop()
	e, err := c.converse(ctx, p.play)
	switch {
	case err != nil && ctx.Err() != nil:
		return queue.Result{}, ctx.Err()
	case err != nil:
		return queue.Result{}, fmt.Errorf("%w; a rollout it started goes on in the cluster, unwatched", err)
	}
	res := queue.Result{OK: e.OK, Message: e.Message}
	switch {
	case e.Error == "":
		return res, nil
	case e.Canceled && ctx.Err() != nil:
		return res, ctx.Err()
	}
	return res, errors.New(e.Error)
}

// Noop implements queue.Rehearser: deployq-kubernetes does a server-side
// dry run and says what would change (the job says it is one: OpNoop).
func (r *Runner) Noop(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	return r.Run(ctx, job, out)
}

// Live implements queue.Inspector: deployq-kubernetes reads the images
// the environment's workloads run now.
func (r *Runner) Live(ctx context.Context, app *queue.App, env *queue.Environment) (string, error) {
	st, ok := env.Settings.(*Settings)
	if !ok || st == nil {
		return "", nil
	}
	c, err := r.start(request{V: protocolVersion, Live: &liveRequest{App: app.Name, Env: env.Name, Settings: st}})
	if err != nil {
		return "", err
	}
	e, err := c.converse(ctx, func(event) {})
	switch {
	case err != nil:
		return "", err
	case e.Error != "":
		return e.Live, errors.New(e.Error)
	}
	return e.Live, nil
}

// Probe reaches the cluster of st through deployq-kubernetes, as
// Settings.Probe says; a deployq-kubernetes that cannot be started or
// answer is a failed check.
func (r *Runner) Probe(ctx context.Context, st *Settings, report func(what string, err error)) {
	c, err := r.start(request{V: protocolVersion, Probe: st})
	if err != nil {
		report(st.Where(), err)
		return
	}
	e, err := c.converse(ctx, func(ev event) {
		if rp := ev.Report; rp != nil {
			var err error
			if rp.Error != "" {
				err = errors.New(rp.Error)
			}
			report(rp.What, err)
		}
	})
	switch {
	case err != nil:
		report(st.Where(), err)
	case e.Error != "":
		report(st.Where(), errors.New(e.Error))
	}
}

// log is where deployq-kubernetes's stderr goes.
func (r *Runner) log(msg string) {
	if r.Log != nil {
		r.Log(msg)
		return
	}
	slog.Warn(msg)
}

// player makes, on the queue's Output, the calls the run made on its
// own in deployq-kubernetes.
type player struct {
	out       queue.Output
	c         *call
	streams   map[int]*playedStream
	pauseCtx  context.Context
	endPauses context.CancelFunc
	pauses    sync.WaitGroup
}

// playedStream is a writer of the queue's Output, and whether the run
// closed it.
type playedStream struct {
	w      io.WriteCloser
	closed bool
}

func (p *player) play(ev event) {
	switch {
	case ev.Open != nil:
		p.streams[ev.Open.ID] = &playedStream{w: p.out.Stream(ev.Open.Stream, ev.Open.Host)}
	case ev.Write != nil:
		if s := p.streams[ev.Write.ID]; s != nil {
			io.WriteString(s.w, ev.Write.Text)
		}
	case ev.Close != nil:
		if s := p.streams[ev.Close.ID]; s != nil {
			s.closed = true
			s.w.Close()
		}
	case ev.Progress != nil:
		p.out.Progress(*ev.Progress)
	case ev.Pause != nil:
		p.pauses.Add(1)
		go func(reason string) {
			defer p.pauses.Done()
			if p.out.Pause(p.pauseCtx, reason) == nil {
				p.c.send(control{Continue: true})
			}
		}(*ev.Pause)
	}
}

// stop ends a pause still waiting and closes the streams a run that
// ended without closing them (it crashed) left open.
func (p *player) stop() {
	p.endPauses()
	p.pauses.Wait()
	for _, s := range p.streams {
		if !s.closed {
			s.w.Close()
		}
	}
}
