package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Verification: after its runner succeeded, a deploy to an environment
// with Verify stays verifying for a window while the environment's checks
// watch what it brought. One failed check fails it (with what the check
// saw), marks its sha bad, and rolls the environment back unless the
// environment only alerts. The window's start is kept with the deploy,
// so that a restart resumes it.

// Verify is an environment's verification.
type Verify struct {
	For    time.Duration // the window
	Every  time.Duration // between rounds of checks
	Checks []VerifyCheck
	// OnFailure is VerifyRollback (the default) or VerifyAlert.
	OnFailure string
}

// What a failed verification does.
const (
	VerifyRollback = "rollback" // deploy the previous successful sha again
	VerifyAlert    = "alert"    // say so, and nothing else
)

// Rounds is how many rounds of checks the window holds.
func (v *Verify) Rounds() int {
	n := int(v.For / v.Every)
	if n < 1 {
		n = 1
	}
	return n
}

// The kinds of checks.
const (
	CheckHTTP       = "http"
	CheckPrometheus = "prometheus"
	CheckCommand    = "command"
)

// VerifyCheck is one check of a verification. Which fields count depends on
// Kind.
type VerifyCheck struct {
	Name string // for people; its kind when not given
	Kind string // CheckHTTP, CheckPrometheus, CheckCommand
	// http: URL answers Status (200 when 0), its body matching Body (a
	// regular expression) when set.
	URL    string
	Status int
	Body   string
	// prometheus: Query (PromQL, one value) against Server compares to
	// Value with Op (<, <=, >, >=, ==, !=).
	Server string
	Query  string
	Op     string
	Value  float64
	// command: Command exits 0, run by /bin/sh in the app's workspace
	// with DEPLOY_* in its environment ({placeholders} quoted).
	Command string
	Timeout time.Duration // of one try; DefaultCheckTimeout when 0
}

// DefaultCheckTimeout bounds one try of a check that sets none.
const DefaultCheckTimeout = 10 * time.Second

// Evidence is what one try of a check saw.
type Evidence struct {
	OK   bool
	Said string // "GET http://…/health: 503 (want 200)", "0.034 < 0.01 is false"
}

// Prober runs one try of a check against what a deploy brought; out
// takes what a command prints.
type Prober interface {
	Probe(ctx context.Context, job Job, c VerifyCheck, out Output) Evidence
}

// MetaVerifyFrom is the deploy meta key of when its verification window
// began (RFC 3339, nanoseconds).
const MetaVerifyFrom = "verify.from"

// verifyFailed is how a verification ended that a check failed: which,
// and what it saw.
type verifyFailed struct {
	check string
	ev    Evidence
}

func (f *verifyFailed) Error() string {
	return fmt.Sprintf("verification failed: check %s: %s", f.check, f.ev.Said)
}

// verify watches d (running, its runner succeeded; or verifying, resumed
// at start) through env's checks until its window ends, and returns the
// end it reached. ErrShutdown when deployq stops meanwhile: the deploy
// stays verifying, and the next start resumes it.
func (x *executor) verify(ctx context.Context, env *Environment, d *Deploy, dl *deployLog, job Job) (State, string, error) {
	v := env.Verify
	from, err := x.verifyFrom(ctx, v, d)
	if err != nil {
		return StateFailed, "could not start its verification: " + err.Error(), nil
	}
	out := &runOutput{d: d, log: dl, runs: x.runs, notify: x.notify, clock: x.clock}
	defer out.closeAll()
	n := v.Rounds()
	done := int(x.clock.Now().Sub(from) / v.Every)
	if done >= n {
		done = n - 1 // the window ended while deployq was down: one last round
	}
	for k := done + 1; k <= n; k++ {
		out.Progress(Progress{Phase: PhaseVerify, Done: k - 1, Total: n, Message: fmt.Sprintf("checks %d/%d ok", k-1, n)})
		if wait := from.Add(time.Duration(k) * v.Every).Sub(x.clock.Now()); wait > 0 {
			if sleep(ctx, x.clock, wait) != nil {
				return x.verifyStopped(ctx)
			}
		}
		evs := x.round(ctx, job, v.Checks, out)
		if ctx.Err() != nil {
			return x.verifyStopped(ctx)
		}
		said := make([]string, len(v.Checks))
		var failed *verifyFailed
		for i, c := range v.Checks {
			said[i] = c.Name + " " + okOr(evs[i].OK) + ": " + evs[i].Said
			if !evs[i].OK && failed == nil {
				failed = &verifyFailed{check: c.Name, ev: evs[i]}
			}
		}
		dl.appendLine(StreamSystem, "", fmt.Sprintf("verify %d/%d: %s", k, n, strings.Join(said, "; ")))
		if failed != nil {
			return StateFailed, failed.Error(), failed
		}
	}
	out.Progress(Progress{Phase: PhaseVerify, Done: n, Total: n, Message: fmt.Sprintf("checks %d/%d ok", n, n)})
	return StateSucceeded, "", nil
}

// round runs one try of every check at once (a slow one does not delay
// the others) and returns what each saw, in the checks' order.
func (x *executor) round(ctx context.Context, job Job, checks []VerifyCheck, out Output) []Evidence {
	evs := make([]Evidence, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs[i] = x.probe(ctx, job, c, out)
		}()
	}
	wg.Wait()
	return evs
}

func okOr(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAILED"
}

// verifyFrom moves a running d to verifying, keeping when its window
// began; for a deploy already verifying it reads that back.
func (x *executor) verifyFrom(ctx context.Context, v *Verify, d *Deploy) (time.Time, error) {
	ctx = context.WithoutCancel(ctx) // a cancel meanwhile is seen by the first wait
	if d.State == StateVerifying {
		s, err := x.door.store.Meta(ctx, d.ID, MetaVerifyFrom)
		if t, perr := time.Parse(time.RFC3339Nano, s); err == nil && perr == nil {
			return t, nil
		}
		now := x.clock.Now().UTC() // its start was not kept: a whole window from now
		return now, x.door.store.SetMeta(ctx, d.ID, MetaVerifyFrom, now.Format(time.RFC3339Nano))
	}
	now := x.clock.Now().UTC()
	names := make([]string, len(v.Checks))
	for i, c := range v.Checks {
		names[i] = c.Name + " (" + c.Kind + ")"
	}
	line := fmt.Sprintf("the runner succeeded; verifying for %s, every %s: %s", v.For, v.Every, strings.Join(names, ", "))
	if err := x.door.move(x.holding(ctx), d, StateVerifying, nil, line); err != nil {
		return now, err
	}
	return now, x.door.store.SetMeta(ctx, d.ID, MetaVerifyFrom, now.Format(time.RFC3339Nano))
}

// verifyStopped says how a verification ended that was stopped: canceled,
// its lease lost, or deployq stopping (ErrShutdown: it stays verifying).
func (x *executor) verifyStopped(ctx context.Context) (State, string, error) {
	cause := context.Cause(ctx)
	if errors.Is(cause, ErrShutdown) {
		return StateVerifying, "", ErrShutdown
	}
	state, msg := outcome(cause, Result{}, nil)
	return state, msg, nil
}

// probe runs one try of c under its timeout; a prober that panics fails
// the check.
func (x *executor) probe(ctx context.Context, job Job, c VerifyCheck, out Output) (ev Evidence) {
	to := c.Timeout
	if to <= 0 {
		to = DefaultCheckTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			x.log.Error("check panic", "deploy", job.DeployID, "check", c.Name, "panic", p)
			ev = Evidence{Said: fmt.Sprintf("the check panicked: %v", p)}
		}
	}()
	if x.prober == nil {
		return Evidence{Said: "this server has no prober for checks"}
	}
	return x.prober.Probe(cctx, job, c, out)
}

// markBad marks the sha of d, whose verification failed, bad for its
// app, and returns what d's end then says of it.
func (x *executor) markBad(ctx context.Context, d *Deploy, f *verifyFailed) string {
	reason, err := CleanReason(cut(fmt.Sprintf("#%d failed its verification in %s: check %s: %s", d.ID, d.Env, f.check, f.ev.Said), MaxReason))
	if err != nil { // evidence that is not text: the check's name says enough
		reason = fmt.Sprintf("#%d failed its verification in %s: check %s", d.ID, d.Env, f.check)
	}
	b := &BadSHA{App: d.App, SHA: d.SHA, Reason: reason, User: "deployq", At: x.clock.Now().UTC()}
	if err := x.door.markBad(ctx, b); err != nil {
		x.log.Error("marking the sha of a deploy whose verification failed bad", "id", d.ID, "err", err)
		return ""
	}
	return fmt.Sprintf("; %s is marked bad for %s", ShortSHA(d.SHA), d.App)
}

// cut shortens s to at most n runes, saying it did.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// rollBackFailed rolls the environment of d, whose verification failed,
// back to what ran before it: a deploy of its own, in d's chat thread,
// linked to d.
func (s *Service) rollBackFailed(ctx context.Context, d *Deploy, why string) {
	r, err := s.Rollback(ctx, RollbackRequest{Of: d.ID, User: d.User, ChatThread: d.ChatThread})
	if err != nil {
		s.log.Warn("rolling back a deploy whose verification failed", "id", d.ID, "err", err)
		s.door.audit(ctx, "deployq", "rollback-refused", numbered(d.ID), "after its verification failed: "+ErrorMessage(err))
		return
	}
	s.logs.line(ctx, r.ID, fmt.Sprintf("rollback of #%d (%s), whose %s", d.ID, ShortSHA(d.SHA), why))
	if err := s.store.SetMeta(ctx, r.ID, MetaRollbackOf, numbered(d.ID)); err != nil {
		s.log.Error("linking a rollback to the deploy it rolls back", "id", r.ID, "err", err)
	}
	s.door.audit(ctx, "deployq", "rollback", numbered(r.ID), fmt.Sprintf("%s: #%d failed its verification", r.Describe(), d.ID))
}

// MetaRollbackOf is the deploy meta key of the deploy (#N) that an
// automatic rollback rolls back.
const MetaRollbackOf = "rollback.of"
