package github

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/deployq/deployq/queue"
	gh "github.com/google/go-github/v62/github"
)

// outboxClaim is how long what OutboxDue hands out stays ours: a
// minute, as queue.Store says. claimSpare is the part of it kept to
// record how a send went before the claim ends.
const (
	outboxClaim = time.Minute
	claimSpare  = 10 * time.Second
)

// courier takes the outbox messages of its prefix to GitHub, in order
// per key, each once across the servers sharing the store (what
// OutboxDue hands out is claimed), retrying with backoff what GitHub
// could not take yet.
type courier struct {
	prefix string
	box    queue.Outbox
	log    *slog.Logger
	// send delivers one message; what it says is a message for the log.
	send func(ctx context.Context, it queue.OutboxItem) error
	// minBackoff is the first retry delay after a failure.
	minBackoff time.Duration
	wake       chan struct{}
}

func newCourier(prefix string, log *slog.Logger) *courier {
	return &courier{prefix: prefix, log: log, minBackoff: time.Second, wake: make(chan struct{}, 1)}
}

// poke makes the courier look at the outbox now.
func (c *courier) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run delivers until ctx ends.
func (c *courier) run(ctx context.Context) {
	for {
		now := time.Now()
		items, err := c.box.OutboxDue(ctx, c.prefix, now, 50)
		if err != nil && ctx.Err() == nil {
			c.log.Error("github: reading the outbox", "err", err)
		}
		c.deliverAll(ctx, now.Add(outboxClaim-claimSpare), items)
		if ctx.Err() != nil {
			return
		}
		wait := 30 * time.Second
		if next, ok, err := c.box.OutboxNext(ctx, c.prefix); err == nil && ok {
			wait = min(wait, max(time.Until(next), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-time.After(wait):
		}
	}
}

// deliverAll sends items one by one while their claim lasts, up to until
// (short of its end): a send still going then is cut short and retried,
// and the items not sent by then come due again when the claim ends, to
// whichever server takes them first.
func (c *courier) deliverAll(ctx context.Context, until time.Time, items []queue.OutboxItem) {
	ctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	for _, it := range items {
		if ctx.Err() != nil {
			return
		}
		c.deliver(ctx, it)
	}
}

// deliver sends it and records how that went, even if ctx ended
// meanwhile: a message sent is done, one that failed gets its retry, one
// GitHub refused is given up.
func (c *courier) deliver(ctx context.Context, it queue.OutboxItem) {
	record := context.WithoutCancel(ctx)
	err := c.send(ctx, it)
	if err == nil {
		c.box.OutboxDone(record, it.ID)
		return
	}
	if retry, when := c.retryable(err, it.Attempts); retry {
		c.log.Warn("github: not sent yet, will retry", "key", it.Key, "at", when, "err", err)
		c.box.OutboxRetry(record, it.ID, when, err.Error())
		return
	}
	c.log.Error("github: refused, given up", "key", it.Key, "err", err)
	c.box.OutboxDone(record, it.ID)
}

// errGiveUp marks an error no retry mends.
var errGiveUp = errors.New("given up")

// retryable says whether err is worth another try, and when: rate limits
// say when themselves; server errors and network failures back off.
func (c *courier) retryable(err error, attempts int) (bool, time.Time) {
	backoff := c.minBackoff << min(attempts, 8)
	backoff = min(backoff, 5*time.Minute)
	var rl *gh.RateLimitError
	var abuse *gh.AbuseRateLimitError
	var resp *gh.ErrorResponse
	switch {
	case errors.Is(err, errGiveUp):
		return false, time.Time{}
	case errors.As(err, &rl):
		return true, rl.Rate.Reset.Time.Add(time.Second)
	case errors.As(err, &abuse):
		if d := abuse.GetRetryAfter(); d > 0 {
			return true, time.Now().Add(d)
		}
		return true, time.Now().Add(backoff)
	case errors.As(err, &resp):
		code := resp.Response.StatusCode
		if code == http.StatusTooManyRequests || code >= 500 {
			if s := resp.Response.Header.Get("Retry-After"); s != "" {
				if n, err := strconv.Atoi(s); err == nil {
					return true, time.Now().Add(time.Duration(n) * time.Second)
				}
			}
			return true, time.Now().Add(backoff)
		}
		return false, time.Time{} // a 4xx will not get better by itself
	}
	return true, time.Now().Add(backoff) // the network
}
