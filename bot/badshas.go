package bot

import (
	"context"
	"fmt"
	"strings"

	"github.com/deployq/deployq/queue"
)

// Marking shas bad: mark web@3f9c2e1 bad: it broke checkout; unmark
// web@3f9c2e1.

// appAtRef reads "APP@REF" (the ref is required).
func (p *parser) appAtRef(c *Command) error {
	if !p.more() {
		return p.fail("APP@REF missing")
	}
	app, ref, ok := strings.Cut(p.next(), "@")
	if !ok || ref == "" {
		return p.fail("say which version: APP@REF (a sha, branch or tag)")
	}
	p.words = append([]string{app}, p.words...)
	var err error
	if c.App, err = p.appName(); err != nil {
		return err
	}
	if !queue.ValidRef(ref) {
		return p.fail("invalid ref %q: use a sha, branch or tag", ref)
	}
	c.Ref = ref
	return nil
}

// mark reads "APP@REF bad".
func (p *parser) mark(c *Command) error {
	if err := p.appAtRef(c); err != nil {
		return err
	}
	return p.keyword("bad")
}

func (b *Bot) mark(ctx context.Context, c *Command, m Message) (Reply, error) {
	bad, err := b.svc.MarkBad(ctx, c.App, c.Ref, m.User, c.Reason)
	if err != nil {
		return Reply{}, err
	}
	text := fmt.Sprintf("marked %s@%s bad: it is not deployed again by itself, and deploy! is needed to deploy it", bad.App, queue.ShortSHA(bad.SHA))
	if bad.Reason != "" {
		text += " (" + bad.Reason + ")"
	}
	return Reply{Text: text}, nil
}

func (b *Bot) unmark(ctx context.Context, c *Command, m Message) (Reply, error) {
	bad, err := b.svc.UnmarkBad(ctx, c.App, c.Ref, m.User)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Text: fmt.Sprintf("%s@%s is no longer marked bad (it was, by %s)", bad.App, queue.ShortSHA(bad.SHA), bad.User)}, nil
}
