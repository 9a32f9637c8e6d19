package github

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/outbox"
	"github.com/deployq/deployq/queue"
)

// PRComments answers the deploys asked in pull request comments in the
// pull request: one comment per deploy, written when it is asked and
// updated in place as it moves (queued and its place, waiting and why,
// running with its log, its end), and on the command's comment a rocket
// when it succeeded, a -1 when it did not. It is a queue.Mailer: each
// update is owed by the change that causes it, in the outbox.
type PRComments struct {
	client  *Client
	svc     *queue.Service
	baseURL string
	log     *slog.Logger
	courier *outbox.Courier
	done    chan struct{}
}

// Meta keys of a deploy asked in a pull request comment.
const (
	metaPRCommand = "github.pr_command" // the comment that asked for it
	metaPRComment = "github.pr_comment" // deployq's comment that shows it
	metaPRReacted = "github.pr_reacted" // its end was said with a reaction
)

// prPrefix begins the outbox keys of the comments owed.
const prPrefix = "prcomment:"

// NewPRComments returns the answerer; give it to the queue as a Notifier
// and call Start before the queue starts.
func NewPRComments(client *Client, baseURL string, log *slog.Logger) *PRComments {
	if log == nil {
		log = slog.Default()
	}
	return &PRComments{client: client, baseURL: strings.TrimRight(baseURL, "/"), log: log,
		courier: newCourier(prPrefix, log), done: make(chan struct{})}
}

// Start sends what the outbox holds, until ctx ends.
func (p *PRComments) Start(ctx context.Context, svc *queue.Service) {
	p.svc = svc
	p.courier.Box, p.courier.Send = svc.Outbox(), p.deliver
	go func() {
		defer close(p.done)
		p.courier.Run(ctx)
	}()
}

// Wait waits for it to stop after its context ended.
func (p *PRComments) Wait() { <-p.done }

// Letters implements queue.Mailer: a deploy asked in a pull request owes
// it its comment, as the deploy is now.
func (p *PRComments) Letters(d *queue.Deploy) []queue.Letter {
	if _, _, ok := parsePRThread(d.ChatThread); !ok {
		return nil
	}
	return []queue.Letter{{Key: prPrefix + strconv.FormatInt(d.ID, 10), Body: string(d.State)}}
}

// DeployChanged implements queue.Notifier.
func (p *PRComments) DeployChanged(d *queue.Deploy) {
	if _, _, ok := parsePRThread(d.ChatThread); ok {
		p.courier.Poke()
	}
}

// LockChanged implements queue.Notifier.
func (p *PRComments) LockChanged(*queue.Lock, bool) {}

// deliver writes the deploy's comment as the deploy is now (an older
// letter shows the newer state: nothing is shown that is not so), and
// at its end reacts on the command.
func (p *PRComments) deliver(ctx context.Context, it queue.OutboxItem) error {
	id, err := strconv.ParseInt(strings.TrimPrefix(it.Key, prPrefix), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %v", errGiveUp, err)
	}
	d, err := p.svc.Deploy(ctx, id)
	if queue.ErrorCode(err) == queue.ENotFound {
		return fmt.Errorf("%w: %v", errGiveUp, err)
	}
	if err != nil {
		return err
	}
	repo, number, ok := parsePRThread(d.ChatThread)
	if !ok {
		return nil
	}
	cur, err := p.svc.Meta(ctx, id, metaPRComment)
	if err != nil {
		return err
	}
	comment, _ := strconv.ParseInt(cur, 10, 64)
	made, err := p.client.comment(ctx, repo, number, comment, p.render(ctx, d))
	if err != nil {
		return err
	}
	if comment == 0 {
		if err := p.svc.SetMeta(context.WithoutCancel(ctx), id, metaPRComment, strconv.FormatInt(made, 10)); err != nil {
			return err
		}
	}
	if d.State.Terminal() {
		return p.react(ctx, d, repo)
	}
	return nil
}

// react says a deploy's end on the comment that asked for it, once.
func (p *PRComments) react(ctx context.Context, d *queue.Deploy, repo string) error {
	done, err1 := p.svc.Meta(ctx, d.ID, metaPRReacted)
	cmd, err2 := p.svc.Meta(ctx, d.ID, metaPRCommand)
	if err := firstErr(err1, err2); err != nil || done != "" || cmd == "" {
		return err
	}
	comment, _ := strconv.ParseInt(cmd, 10, 64)
	content := "-1"
	if d.State == queue.StateSucceeded {
		content = "rocket"
	}
	if err := p.client.react(ctx, repo, comment, content); err != nil {
		return err
	}
	return p.svc.SetMeta(context.WithoutCancel(ctx), d.ID, metaPRReacted, content)
}

// render is the comment that shows d.
func (p *PRComments) render(ctx context.Context, d *queue.Deploy) string {
	var b strings.Builder
	what := ""
	if d.Op == queue.OpNoop {
		what = "dry run of "
	}
	fmt.Fprintf(&b, "**deployq #%d**: %s`%s@%s` (%s) to **%s**, asked by %s: **%s**", d.ID, what, d.App, d.Ref, queue.ShortSHA(d.SHA), d.Env, d.User, d.State)
	switch d.State {
	case queue.StateQueued:
		if ahead := p.ahead(ctx, d); ahead > 0 {
			fmt.Fprintf(&b, ", %d ahead of it in the lane", ahead)
		} else {
			b.WriteString(", next in the lane")
		}
	case queue.StateWaiting:
		if d.Waiting != nil {
			b.WriteString(": " + d.Waiting.Reason)
		}
	case queue.StateRunning, queue.StateVerifying:
		if v := p.svc.View(d); v.Progress != nil && v.Progress.Phase == queue.PhaseVerify {
			b.WriteString(" (" + v.Progress.Message + ")")
		} else if v.Progress != nil && v.Progress.Phase != "" {
			b.WriteString(" (" + v.Progress.Phase + ")")
		}
	case queue.StateSucceeded:
		if !d.StartedAt.IsZero() && !d.FinishedAt.IsZero() {
			fmt.Fprintf(&b, " in %s", d.FinishedAt.Sub(d.StartedAt).Round(time.Second))
		}
	default:
		if d.Error != "" {
			b.WriteString(": " + d.Error)
		}
	}
	fmt.Fprintf(&b, "\n\n[log](%s/api/v1/deploys/%d/log)", p.baseURL, d.ID)
	return clip(b.String(), 60000)
}

// ahead counts the deploys of d's lane that go before it.
func (p *PRComments) ahead(ctx context.Context, d *queue.Deploy) int {
	ds, err := p.svc.Deploys(ctx, queue.DeployFilter{App: d.App, Env: d.Env, States: []queue.State{queue.StateQueued, queue.StateRunning, queue.StateVerifying}, Limit: -1})
	if err != nil {
		return 0
	}
	n := 0
	for _, o := range ds {
		if queue.Ahead(o, d) {
			n++
		}
	}
	return n
}
