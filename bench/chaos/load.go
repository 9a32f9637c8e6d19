package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ack is an acknowledged request: the deploy a server answered 202 with.
type ack struct {
	id   int64
	lane lane
	sha  string
}

// loadResult is what the sender did.
type loadResult struct {
	mu       sync.Mutex
	sent     int
	acks     []ack
	refused  []string       // requests a server refused (4xx): not retried, not acknowledged
	gaveUp   int            // requests no server acknowledged before submitDeadline
	failures map[string]int // failed attempts (then retried elsewhere), by why
}

func (r *loadResult) failed(err error) {
	r.mu.Lock()
	r.failures[failureKind(err)]++
	r.mu.Unlock()
}

func (r *loadResult) retries() int {
	n := 0
	for _, v := range r.failures {
		n += v
	}
	return n
}

// failureSummary says why attempts failed: "connection refused 12, timeout 3".
func (r *loadResult) failureSummary() string {
	var kinds []string
	for k := range r.failures {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return r.failures[kinds[i]] > r.failures[kinds[j]] })
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.failures[k]))
	}
	return strings.Join(parts, ", ")
}

// submitDeadline bounds how long one request is retried.
const submitDeadline = 90 * time.Second

// senders is how many requests may be in flight at once (a stopped
// server holds one for attemptTimeout).
const senders = 8

// sendLoad sends o.requests deploy requests, o.rate a second, each to a
// random lane and a random server with a random 40-hex sha (the apps
// have no git: a full sha needs none). A request that fails because its
// server is down, stopped or without its database is retried on another.
func sendLoad(ctx context.Context, c *client, lanes []lane, o options) *loadResult {
	r := &loadResult{failures: map[string]int{}}
	rnd := rand.New(rand.NewPCG(uint64(o.seed), 1))
	jobs := make(chan deployRequest)
	var wg sync.WaitGroup
	for w := range senders {
		wrnd := rand.New(rand.NewPCG(uint64(o.seed), uint64(100+w)))
		wg.Go(func() {
			for req := range jobs {
				d, err := c.submit(ctx, wrnd, req, r)
				r.mu.Lock()
				switch {
				case err == nil:
					r.acks = append(r.acks, ack{id: d.ID, lane: lane{app: req.App, env: req.Env}, sha: req.Ref})
				case isRefusal(err):
					r.refused = append(r.refused, fmt.Sprintf("%s@%s: %v", req.App, req.Ref[:7], err))
				case ctx.Err() == nil:
					r.gaveUp++
				}
				r.mu.Unlock()
			}
		})
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
	defer tick.Stop()
send:
	for range o.requests {
		l := lanes[rnd.IntN(len(lanes))]
		req := deployRequest{App: l.app, Env: l.env, Ref: randomSHA(rnd)}
		select {
		case <-ctx.Done():
			break send
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
			break send
		case jobs <- req:
			r.sent++
		}
	}
	close(jobs)
	wg.Wait()
	return r
}

// submit asks for a deploy until a server acknowledges it (202), a server
// refuses it (4xx: a refusal), or submitDeadline passes.
func (c *client) submit(ctx context.Context, rnd *rand.Rand, req deployRequest, r *loadResult) (*apiDeploy, error) {
	deadline := time.Now().Add(submitDeadline)
	var last *server
	for attempt := 0; ; attempt++ {
		s := c.pick(rnd, last)
		var d apiDeploy
		err := c.do(ctx, s, http.MethodPost, "/api/v1/deploys", req, http.StatusAccepted, &d)
		if err == nil && d.ID > 0 {
			return &d, nil
		}
		if err == nil {
			err = errors.New("202 without a deploy id")
		}
		if isRefusal(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return nil, err
		}
		r.failed(err)
		last = s
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(50*time.Millisecond<<min(attempt, 5), time.Second)):
		}
	}
}

// pick is a random server, other than last when there is another.
func (c *client) pick(rnd *rand.Rand, last *server) *server {
	for {
		s := c.servers[rnd.IntN(len(c.servers))]
		if s != last || len(c.servers) == 1 {
			return s
		}
	}
}

// isRefusal: the server answered that the request itself is wrong;
// asking another would change nothing.
func isRefusal(err error) bool {
	var se *statusError
	return errors.As(err, &se) && se.status >= 400 && se.status < 500 &&
		se.status != http.StatusRequestTimeout && se.status != http.StatusTooManyRequests
}

// failureKind names why an attempt failed.
func failureKind(err error) string {
	var se *statusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("HTTP %d", se.status)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return "other: " + err.Error()
	}
}

func randomSHA(rnd *rand.Rand) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 40)
	for i := range b {
		b[i] = hex[rnd.IntN(16)]
	}
	return string(b)
}
