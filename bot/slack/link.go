package slack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"
)

// The link to Slack's Web API. deployq never waits for Slack to start or
// to work: while Slack does not answer, Health says why, deploy messages
// wait (the latest state of each), and auth.test is retried with a
// backoff; once Slack answers, the messages owed are caught up.

// Bounds of the backoff between two checks of a Slack that does not
// answer (or answers auth.test and fails the calls that matter).
const (
	firstRetry = time.Second
	lastRetry  = time.Minute
	// callTimeout bounds every Web API call: a Slack that hangs is a
	// Slack that does not answer.
	callTimeout = 30 * time.Second
)

// link owns what the adapter knows of Slack's reachability.
type link struct {
	mu      sync.Mutex
	down    error         // nil while Slack answers
	up      chan struct{} // closed while Slack answers
	probing bool          // a loop checks Slack
	wait    time.Duration // before the next check: 0, then firstRetry doubling up to lastRetry
	self    string        // deployq's own bot id, as auth.test said
}

func newLink() *link {
	return &link{down: errors.New("not connected yet"), up: make(chan struct{})}
}

// Health is nil while Slack answers, else why it does not: deployq then
// works without Slack and says so (/healthz, /metrics).
func (a *Adapter) Health() error {
	a.link.mu.Lock()
	defer a.link.mu.Unlock()
	return a.link.down
}

// probe starts the loop that checks Slack, unless one runs.
func (a *Adapter) probe() {
	l := a.link
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.probing || a.ctx.Err() != nil {
		return
	}
	l.probing = true
	a.wg.Add(1)
	go a.connect()
}

// connect checks Slack (auth.test) until it answers, waiting longer
// after each failure (see backOff).
func (a *Adapter) connect() {
	defer a.wg.Done()
	for {
		a.link.mu.Lock()
		wait := a.link.wait
		a.link.mu.Unlock()
		select {
		case <-a.ctx.Done():
			return
		case <-time.After(wait):
		}
		self, err := a.authTest()
		if err == nil {
			a.reached(self)
			return
		}
		a.markDown(err)
		a.log.Warn("slack: not answering; deployq goes on without it", "err", err, "next_check_in", a.backOff())
	}
}

// authTest asks Slack who deployq is; it answers with deployq's bot id.
func (a *Adapter) authTest() (string, error) {
	ctx, cancel := context.WithTimeout(a.ctx, callTimeout)
	defer cancel()
	r, err := a.api.AuthTestContext(ctx)
	if err != nil {
		return "", fmt.Errorf("auth.test: %w", err)
	}
	return r.BotID, nil
}

// markDown says why Slack does not answer; it reports whether Slack was
// up until now.
func (a *Adapter) markDown(err error) (wasUp bool) {
	l := a.link
	l.mu.Lock()
	defer l.mu.Unlock()
	wasUp = l.down == nil
	if wasUp {
		l.up = make(chan struct{})
	}
	l.down = err
	return wasUp
}

// backOff doubles the wait before the next check of Slack, from
// firstRetry up to lastRetry, and returns it. A call that works resets it
// (see checked).
func (a *Adapter) backOff() time.Duration {
	l := a.link
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wait = min(max(2*l.wait, firstRetry), lastRetry)
	return l.wait
}

// lost marks Slack down for err, found by a call that was not answered,
// and checks it until it answers again. Each time Slack is lost anew the
// first check waits longer: Slack may answer auth.test and still fail the
// calls that matter.
func (a *Adapter) lost(err error) {
	if a.markDown(err) {
		a.backOff()
	}
	a.probe()
}

// reached marks Slack up, and catches up on the messages owed: the
// deploys whose message does not show their state yet.
func (a *Adapter) reached(self string) {
	l := a.link
	l.mu.Lock()
	l.probing, l.self = false, self
	was := l.down
	if was != nil {
		l.down = nil
		close(l.up)
	}
	l.mu.Unlock()
	if was == nil {
		return
	}
	a.log.Info("slack: connected")
	a.reconcile(a.ctx)
	a.signal()
}

// self is deployq's own bot id, "" until Slack said it.
func (a *Adapter) self() string {
	a.link.mu.Lock()
	defer a.link.mu.Unlock()
	return a.link.self
}

// waitUp waits until Slack answers; false when the adapter stops first.
func (a *Adapter) waitUp() bool {
	a.link.mu.Lock()
	up := a.link.up
	a.link.mu.Unlock()
	select {
	case <-up:
		return true
	case <-a.ctx.Done():
		return false
	}
}

// unreachable reports whether err says Slack could not be reached or
// could not serve (no answer, a 5xx, a timeout), as opposed to an answer
// (an API error, a rate limit) or deployq stopping.
func unreachable(err error) bool {
	var (
		rl  *slackgo.RateLimitedError
		api slackgo.SlackErrorResponse
		sc  slackgo.StatusCodeError
	)
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.As(err, &rl), errors.As(err, &api):
		return false
	case errors.As(err, &sc):
		return sc.Code >= 500
	}
	return true
}

// checked reports the outcome of a Web API call to the link: a call
// that found Slack unreachable marks it down; one that worked resets the
// backoff. It returns err.
func (a *Adapter) checked(err error) error {
	switch {
	case err == nil: // Slack works: a next outage is checked at once
		a.link.mu.Lock()
		a.link.wait = 0
		a.link.mu.Unlock()
	case unreachable(err) && a.ctx.Err() == nil:
		a.lost(err)
	}
	return err
}
