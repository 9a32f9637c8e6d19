package slack

import (
	"context"
	"strings"
	"sync"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/queue"
)

// Slack delivers again what it thinks was not received (an event, a
// command, a click), and anyone holding a signed request can replay it
// within its five minutes. Each delivery has a key; a command runs once
// per key, across restarts: the key is recorded in the store with the
// first change the command makes, in the same transaction.

// deliveryKey is the once-key of a delivery: "slack:" and the kind and
// ids that name it ("slack:Ev0123", "slack:slash:TRIGGER"); "" (no key)
// when one of the ids is missing.
func deliveryKey(parts ...string) string {
	for _, p := range parts {
		if p == "" {
			return ""
		}
	}
	return "slack:" + strings.Join(parts, ":")
}

// fresh reports whether the delivery of key was not carried out yet: not
// seen by this process, nor recorded in the store. A delivery without a
// key is always fresh.
func (a *Adapter) fresh(key string) bool {
	if key == "" {
		return true
	}
	if !a.seen.first(key) {
		return false
	}
	done, err := a.svc.Seen(a.ctx, key)
	if err != nil { // the write that records the key still refuses a replay
		a.log.Warn("slack: reading a delivery", "key", key, "err", err)
	}
	return !done
}

// once runs do with key carried by its context (queue.WithOnce), so that
// the first change it causes records the key. It reports false, and
// nothing is to be answered, when the store found the key recorded
// already: a replay that came in between.
func (a *Adapter) once(key string, do func(context.Context) bot.Reply) (bot.Reply, bool) {
	ctx := a.ctx
	if key != "" {
		ctx = queue.WithOnce(ctx, key)
	}
	r := do(ctx)
	if queue.ErrorCode(r.Err) == queue.EDuplicate {
		a.log.Info("slack: a delivery done already", "key", key)
		return bot.Reply{}, false
	}
	return r, true
}

// seen remembers recent delivery keys, so a redelivery in this process
// is dropped before anything is read.
type seen struct {
	mu    sync.Mutex
	ids   map[string]bool
	order []string
	max   int
}

func newSeen(max int) *seen { return &seen{ids: map[string]bool{}, max: max} }

// first reports whether id is new, and remembers it. "" is always new.
func (s *seen) first(id string) bool {
	if id == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[id] {
		return false
	}
	s.ids[id] = true
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
	return true
}
