package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
)

// Bot carries chat commands out against the queue.
type Bot struct {
	svc     *queue.Service
	baseURL string
	now     func() time.Time
}

// New returns a Bot; baseURL makes log links.
func New(svc *queue.Service, baseURL string) *Bot {
	return &Bot{svc: svc, baseURL: strings.TrimRight(baseURL, "/"), now: time.Now}
}

// Reply is the bot's answer: short text, and the deploy it is about.
type Reply struct {
	Text   string
	Deploy *queue.Deploy
	// Lock is the lock a lock command took (Locked) or an unlock removed.
	Lock   *queue.Lock
	Locked bool
	// Err is set when the command was refused or failed; Text explains it.
	Err error
}

// Message is one chat message to handle.
type Message struct {
	User   string
	Text   string
	Thread string // the chat thread a deploy's messages go to
}

// Handle parses and carries out one message. It never panics on input and
// never returns a stack trace: errors become short text.
func (b *Bot) Handle(ctx context.Context, m Message) Reply {
	c, err := Parse(m.Text)
	if err != nil {
		return Reply{Text: err.Error(), Err: queue.Errorf(queue.EInvalid, "%s", err.Error())}
	}
	return b.Do(ctx, *c, m)
}

// Do carries out a command that needs no parsing (an adapter's button
// stands for one) for m's user, in m's thread; m.Text is not read. It
// meets the same rules and answers as the typed command.
func (b *Bot) Do(ctx context.Context, c Command, m Message) Reply {
	r, err := b.run(ctx, &c, m)
	if err != nil {
		msg := queue.ErrorMessage(err)
		var pe *ParseError
		if errors.As(err, &pe) {
			msg = pe.Error()
		}
		if queue.ErrorCode(err) == queue.EInternal && msg == "internal error" {
			msg = "something went wrong on deployq's side; the server log has the details"
		}
		return Reply{Text: msg, Err: err}
	}
	return r
}

// run finds c's entry in the grammar and runs it.
func (b *Bot) run(ctx context.Context, c *Command, m Message) (Reply, error) {
	cmd := byVerb[c.Verb]
	if cmd == nil {
		return Reply{}, queue.Errorf(queue.EUnsupported, "%s is not supported by this server yet", c.Verb)
	}
	return cmd.run(b, ctx, c, m)
}

// LogURL is the link to a deploy's log.
func (b *Bot) LogURL(id int64) string {
	return fmt.Sprintf("%s/api/v1/deploys/%d/log", b.baseURL, id)
}
