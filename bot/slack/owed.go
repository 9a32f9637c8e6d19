package slack

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
)

// The end of a deploy is owed to its message: the change that ends it
// writes a letter into the store's outbox in its own transaction, and the
// letter stays there until the message shows that end. The server that
// made the change shows it with the watcher it already runs; if that
// server dies first, another sharing the store takes the letter over
// after Handover and shows the end itself.

// outboxPrefix begins the outbox keys of the ends owed to messages.
const outboxPrefix = "slack:"

// giveUpAfter is how long a message that cannot be shown (Slack refusing
// it all along) is tried.
const giveUpAfter = 24 * time.Hour

// owedEnd is a letter's body.
type owedEnd struct {
	State queue.State `json:"state"`
	By    string      `json:"by"` // the adapter that wrote it
	At    int64       `json:"at"` // when, in unix milliseconds
}

// Letters implements queue.Mailer: a deploy that ends owes its message
// that end, when it has a message.
func (a *Adapter) Letters(d *queue.Deploy) []queue.Letter {
	if !d.State.Terminal() {
		return nil
	}
	if channel, _ := a.cardChannel(d); channel == "" {
		return nil
	}
	body, _ := json.Marshal(owedEnd{State: d.State, By: a.ident, At: time.Now().UnixMilli()})
	return []queue.Letter{{Key: outboxPrefix + strconv.FormatInt(d.ID, 10), Body: string(body)}}
}

// owed looks at the letters due, every few seconds, until the adapter
// stops.
func (a *Adapter) owed() {
	defer a.wg.Done()
	box := a.svc.Outbox()
	for a.ctx.Err() == nil {
		now := time.Now()
		items, err := box.OutboxDue(a.ctx, outboxPrefix, now, 50)
		if err != nil && a.ctx.Err() == nil {
			a.log.Error("slack: reading the outbox", "err", err)
		}
		for _, it := range items {
			a.settle(it)
		}
		wait := 5 * time.Second
		if next, ok, err := box.OutboxNext(a.ctx, outboxPrefix); err == nil && ok {
			wait = min(wait, max(time.Until(next), 10*time.Millisecond))
		}
		select {
		case <-a.ctx.Done():
		case <-time.After(wait):
		}
	}
}

// settle ends a letter whose message shows its deploy's end, or sees
// that it will and looks again later.
func (a *Adapter) settle(it queue.OutboxItem) {
	box := a.svc.Outbox()
	ctx := a.ctx
	var end owedEnd
	id, err := strconv.ParseInt(strings.TrimPrefix(it.Key, outboxPrefix), 10, 64)
	if err == nil {
		err = json.Unmarshal([]byte(it.Body), &end)
	}
	d, derr := a.svc.Deploy(ctx, id)
	if err != nil || queue.ErrorCode(derr) == queue.ENotFound {
		box.OutboxDone(ctx, it.ID) // nothing to show
		return
	}
	later := func(after time.Duration, why string) {
		box.OutboxRetry(ctx, it.ID, time.Now().Add(after), why)
	}
	if derr != nil {
		later(5*time.Second, derr.Error())
		return
	}
	if shown, err := a.svc.Meta(ctx, id, metaShown); err == nil && shown == string(d.State) {
		box.OutboxDone(ctx, it.ID)
		return
	}
	wrote := time.UnixMilli(end.At)
	switch {
	case a.Health() != nil:
		later(time.Second, "Slack does not answer")
		return
	case time.Since(wrote) > giveUpAfter:
		a.log.Error("slack: the message of a deploy never showed its end; given up", "deploy", id, "state", d.State)
		box.OutboxDone(ctx, it.ID)
		return
	case a.watched(id):
		later(time.Second, "being shown")
		return
	case end.By != a.ident && time.Since(wrote) < a.Handover:
		later(max(time.Until(wrote.Add(a.Handover)), 10*time.Millisecond), "left to the server that ended it")
		return
	}
	a.watchDeploy(d, func() bool { return true })
	later(min(time.Duration(it.Attempts+1)*time.Second, 30*time.Second), fmt.Sprintf("showing %s", d.State))
}
