// Package outbox drains the messages of one adapter from the queue's
// outbox (queue.Outbox): in order per key, each once across the servers
// sharing the store (what OutboxDue hands out is claimed), retrying with
// backoff what the other side could not take yet.
package outbox

import (
	"context"
	"log/slog"
	"time"

	"github.com/deployq/deployq/queue"
)

// Claim is how long what OutboxDue hands out stays the caller's: a
// minute, as queue.Store says. claimSpare is the part of it kept to
// record how a send went before the claim ends.
const (
	Claim      = time.Minute
	claimSpare = 10 * time.Second
)

// Courier takes the messages whose keys begin with Prefix to their
// service.
type Courier struct {
	Prefix string
	Box    queue.Outbox
	Log    *slog.Logger
	// Send delivers one message.
	Send func(ctx context.Context, it queue.OutboxItem) error
	// Retry says whether a failed send is worth another try, and when;
	// nil: always, backing off from MinBackoff.
	Retry func(err error, attempts int) (bool, time.Time)
	// MinBackoff is the first retry delay after a failure (default 1s).
	MinBackoff time.Duration
	// Name says whose messages these are, in the server's log.
	Name string

	wake chan struct{}
}

// New returns a courier of the messages under prefix; set Box and Send
// before Run.
func New(name, prefix string, log *slog.Logger) *Courier {
	return &Courier{Name: name, Prefix: prefix, Log: log, MinBackoff: time.Second, wake: make(chan struct{}, 1)}
}

// Poke makes the courier look at the outbox now.
func (c *Courier) Poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends.
func (c *Courier) Run(ctx context.Context) {
	for {
		now := time.Now()
		items, err := c.Box.OutboxDue(ctx, c.Prefix, now, 50)
		if err != nil && ctx.Err() == nil {
			c.Log.Error(c.Name+": reading the outbox", "err", err)
		}
		c.deliverAll(ctx, now.Add(Claim-claimSpare), items)
		if ctx.Err() != nil {
			return
		}
		wait := 30 * time.Second
		if next, ok, err := c.Box.OutboxNext(ctx, c.Prefix); err == nil && ok {
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
func (c *Courier) deliverAll(ctx context.Context, until time.Time, items []queue.OutboxItem) {
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
// refused for good is given up.
func (c *Courier) deliver(ctx context.Context, it queue.OutboxItem) {
	record := context.WithoutCancel(ctx)
	err := c.Send(ctx, it)
	if err == nil {
		c.Box.OutboxDone(record, it.ID)
		return
	}
	retry, when := true, time.Now().Add(c.Backoff(it.Attempts))
	if c.Retry != nil {
		retry, when = c.Retry(err, it.Attempts)
	}
	if retry {
		c.Log.Warn(c.Name+": not sent yet, will retry", "key", it.Key, "at", when, "err", err)
		c.Box.OutboxRetry(record, it.ID, when, err.Error())
		return
	}
	c.Log.Error(c.Name+": refused, given up", "key", it.Key, "err", err)
	c.Box.OutboxDone(record, it.ID)
}

// Backoff is the wait before the retry after attempts failed ones:
// MinBackoff doubling, up to five minutes.
func (c *Courier) Backoff(attempts int) time.Duration {
	return min(c.MinBackoff<<min(attempts, 8), 5*time.Minute)
}
