package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// executor runs a deploy that became running through its runner, under
// its timeouts, and stores the end it reached until that end lands.
type executor struct {
	life    context.Context // the Service's: ends when it stops
	runners map[string]Runner
	logs    *logHub
	door    *door
	runs    *runs
	notify  notifiers
	clock   Clock
	log     *slog.Logger
	// server and lease: when several servers share the store (lease > 0),
	// what a run writes is kept only while this server holds the deploy.
	server string
	lease  time.Duration
	// prober runs the checks of verifications; rollBack rolls back a
	// deploy whose verification failed, once its failure is stored.
	prober   Prober
	rollBack func(ctx context.Context, d *Deploy, why string)
}

// holding returns ctx for a write of a run: with the holder when several
// servers share the store, so that a server that lost the deploy changes
// nothing of it.
func (x *executor) holding(ctx context.Context) context.Context {
	if x.lease == 0 {
		return ctx
	}
	return WithHolder(ctx, Holder{Server: x.server, Now: x.clock.Now()})
}

// exec runs d (running, registered in runs with cancel) to its end (or
// leaves it running if its end could not be stored before deployq
// stopped). The environment's timeouts bound its runner; its
// verification, when it has one, follows a runner that succeeded.
func (x *executor) exec(ctx context.Context, cancel context.CancelCauseFunc, app *App, env *Environment, d *Deploy) {
	defer cancel(nil)
	rctx, rcancel := context.WithCancelCause(ctx) // the runner's: its timeouts end it
	defer rcancel(nil)
	if env.Timeout > 0 {
		t := x.clock.AfterFunc(env.Timeout, func() { rcancel(&timeoutError{d: env.Timeout}) })
		defer t.Stop()
	}
	final := context.WithoutCancel(ctx)
	dl, job, err := x.prepare(ctx, app, env, d)
	if err != nil {
		x.finish(final, d, nil, StateFailed, "could not open the log: "+err.Error())
		return
	}
	defer x.logs.release(dl)
	out := &runOutput{d: d, log: dl, runs: x.runs, notify: x.notify, clock: x.clock}
	out.touch()
	if env.IdleTimeout > 0 {
		go out.watch(rctx, env.IdleTimeout, rcancel)
	}
	dl.appendLine(StreamSystem, "", fmt.Sprintf("%s #%d: %s by %s, runner %s", kindOf(d), d.ID, d.Describe(), d.User, env.Runner))
	res, runErr := x.safeRun(rctx, x.runners[env.Runner], job, out)
	out.closeAll()
	if over := dl.capSummary(); over != "" {
		dl.appendLine(StreamSystem, "", over)
	}
	state, msg := outcome(context.Cause(rctx), res, runErr)
	rcancel(nil)
	if state == StateSucceeded && env.Verify != nil && d.Op == "" {
		x.verifyAndFinish(ctx, env, d, dl, job)
		return
	}
	x.finish(final, d, dl, state, msg)
}

// resume goes on with the verification of d, found verifying at start
// (registered in runs with cancel), to its end.
func (x *executor) resume(ctx context.Context, cancel context.CancelCauseFunc, app *App, env *Environment, d *Deploy) {
	defer cancel(nil)
	final := context.WithoutCancel(ctx)
	dl, job, err := x.prepare(ctx, app, env, d)
	if err != nil {
		x.finish(final, d, nil, StateFailed, "could not open the log: "+err.Error())
		return
	}
	defer x.logs.release(dl)
	if env.Verify == nil {
		x.finish(final, d, dl, StateSucceeded, "")
		return
	}
	dl.appendLine(StreamSystem, "", fmt.Sprintf("deployq started again: the verification of #%d goes on", d.ID))
	x.verifyAndFinish(ctx, env, d, dl, job)
}

// openLogAttempts is how many times more prepare tries to open a log
// the store could not read (about 3 s in all).
const openLogAttempts = 5

// prepare opens d's log for its run and says what its runner gets. A
// store that cannot be read (a database restarting) is tried again a few
// times, backing off, before the deploy fails without having run.
func (x *executor) prepare(ctx context.Context, app *App, env *Environment, d *Deploy) (*deployLog, Job, error) {
	job := Job{DeployID: d.ID, Number: d.Number, App: d.App, Env: d.Env, Ref: d.Ref, SHA: d.SHA,
		PreviousSHA: d.PreviousSHA, User: d.User, Git: app.Git, Settings: env.Settings, Op: d.Op, Instances: d.Instances}
	dl, err := x.logs.acquire(context.WithoutCancel(ctx), d.ID)
	for attempt := 0; err != nil && attempt < openLogAttempts && ErrorCode(err) == EUnavailable; attempt++ {
		x.log.Warn("opening a deploy's log; trying again", "id", d.ID, "attempt", attempt+1, "err", err)
		if sleep(ctx, x.clock, backoff(attempt)) != nil {
			break
		}
		dl, err = x.logs.acquire(context.WithoutCancel(ctx), d.ID)
	}
	if err != nil {
		return nil, job, err
	}
	if x.lease > 0 {
		dl.hold(x.server)
	}
	limit := env.LogCap
	if limit <= 0 {
		limit = DefaultLogCap
	}
	dl.setCap(limit)
	if len(env.Params) > 0 {
		params, err := paramsOf(ctx, x.door.store, d.ID)
		if err != nil {
			x.log.Error("reading a deploy's parameters", "id", d.ID, "err", err)
		}
		job.Params = params
	}
	return dl, job, nil
}

// verifyAndFinish verifies d and stores the end it reached; a failed
// verification then does what the environment says. A stop of deployq
// leaves d verifying, for the next start.
func (x *executor) verifyAndFinish(ctx context.Context, env *Environment, d *Deploy, dl *deployLog, job Job) {
	final := context.WithoutCancel(ctx)
	state, msg, err := x.verify(ctx, env, d, dl, job)
	if errors.Is(err, ErrShutdown) {
		x.log.Info("deployq stops during a verification; the next start resumes it", "id", d.ID)
		x.runs.forget(d.ID)
		return
	}
	var f *verifyFailed
	failed := errors.As(err, &f)
	if failed {
		msg += x.markBad(final, d, f)
		if env.Verify.OnFailure != VerifyAlert {
			msg += "; " + env.Name + " rolls back"
		}
	}
	x.finish(final, d, dl, state, msg)
	if failed && d.State == StateFailed && env.Verify.OnFailure != VerifyAlert && x.rollBack != nil {
		x.rollBack(final, d, f.Error())
	}
}

// outcome says how a run ended: "ran and failed" (a result) apart from
// "could not run" (an error), and why it stopped when someone or
// something stopped it.
func outcome(cause error, res Result, runErr error) (State, string) {
	var by *canceledBy
	var to *timeoutError
	var lost *leaseLost
	switch {
	case errors.As(cause, &lost): // whatever the runner said: its end is not this server's to tell
		return StateInterrupted, withSummary(lost.Error(), res.Message)
	case runErr == nil && res.OK:
		return StateSucceeded, ""
	case errors.As(cause, &by):
		return StateCanceled, withSummary(by.Error(), res.Message)
	case errors.Is(cause, ErrShutdown):
		return StateInterrupted, withSummary(ErrShutdown.Error(), res.Message)
	case errors.As(cause, &to):
		return StateFailed, withSummary(to.Error(), res.Message)
	case runErr != nil:
		return StateFailed, "could not run: " + runErr.Error()
	case res.Message == "":
		return StateFailed, "the runner reported a failure"
	}
	return StateFailed, res.Message
}

func kindOf(d *Deploy) string {
	switch d.Op {
	case "":
		return "deploy"
	case OpNoop:
		return "dry run"
	}
	return "operation"
}

func (x *executor) safeRun(ctx context.Context, r Runner, job Job, out Output) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			x.log.Error("runner panic", "deploy", job.DeployID, "panic", p)
			res, err = Result{}, fmt.Errorf("runner panic: %v", p)
		}
	}()
	if job.Op == OpNoop {
		n, ok := r.(Rehearser)
		if !ok {
			return Result{}, fmt.Errorf("the runner cannot do a dry run")
		}
		return n.Noop(ctx, job, out)
	}
	if job.Op != "" {
		o, ok := r.(Operator)
		if !ok {
			return Result{}, fmt.Errorf("the runner cannot %s", job.Op)
		}
		return o.Operate(ctx, job, out)
	}
	return r.Run(ctx, job, out)
}

// finish stores the end a deploy reached with its last log lines, in one
// transaction, so that whoever sees the end finds the whole log stored.
// Until it lands it is retried (backing off, each failure logged); the
// lane stays busy meanwhile, but the deploy already shows that end and
// cancel answers at once. Only a stop of deployq ends the retries: the
// deploy is then interrupted at the next start.
func (x *executor) finish(ctx context.Context, d *Deploy, dl *deployLog, state State, msg string) {
	now := x.clock.Now().UTC()
	took := now.Sub(d.StartedAt).Round(100 * time.Millisecond)
	line := fmt.Sprintf("%s #%d %s in %s", kindOf(d), d.ID, state, took)
	if msg != "" {
		line += ": " + msg
	}
	mutate := func(d *Deploy) { d.Error, d.FinishedAt = msg, now }
	end := *d
	end.State = state
	mutate(&end)
	x.runs.ended(&end)
	for attempt := 0; ; attempt++ {
		err := x.door.move(x.holding(ctx), d, state, mutate, line)
		if err == nil {
			break
		}
		if ErrorCode(err) == EConflict { // no longer running, or no longer this server's: ended elsewhere
			x.log.Error("recording the end of a deploy", "id", d.ID, "state", state, "err", err)
			break
		}
		x.log.Error("recording the end of a deploy; trying again", "id", d.ID, "state", state, "attempt", attempt+1, "err", err)
		if sleep(x.life, x.clock, backoff(attempt)) != nil {
			x.log.Error("deployq stops before the end of a deploy could be recorded; the next start marks it interrupted", "id", d.ID, "reached", state)
			break
		}
	}
	x.runs.forget(d.ID)
	x.log.Info("deploy finished", "id", d.ID, "app", d.App, "env", d.Env, "state", state, "took", took, "error", msg)
}
