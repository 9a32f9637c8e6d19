package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/client"
	"github.com/deployq/deployq/queue"
)

// The client commands that ask for deploys and operations and follow
// them: deploy, rollback, promote, scale, restart, stop, start, cancel,
// continue, logs and the chat console. Their
// words are read by the chat grammar, so the CLI and chat take the same
// sentences.

// connect reads a client command's line and returns it with a client of
// the server it names.
func (x *call) connect() (*parsed, *client.Client, error) {
	p, err := x.parse()
	if err != nil {
		return nil, nil, err
	}
	c := &client.Client{
		Base:  cmp.Or(p.get("server"), os.Getenv("DEPLOYQ_SERVER"), defaultServer),
		Token: cmp.Or(p.get("token"), os.Getenv("DEPLOYQ_TOKEN")),
	}
	if c.Token == "" { // an open server takes the user's name
		if u, err := user.Current(); err == nil {
			c.User = u.Username
		}
		c.User = cmp.Or(os.Getenv("USER"), c.User)
	}
	return p, c, nil
}

// sentence reads the command's words with the chat grammar. What it
// cannot read is refused like a request the server refuses (exit 1),
// with the command's usage.
func (x *call) sentence(p *parsed) (*bot.Command, error) {
	cmd, err := bot.Parse(x.cmd.name + " " + p.sentence())
	var pe *bot.ParseError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("%s\nusage: deployq %s", pe.Msg, x.cmd.usageLine())
	}
	return cmd, err
}

// connectAndRead is connect, then sentence.
func (x *call) connectAndRead() (*parsed, *client.Client, *bot.Command, error) {
	p, c, err := x.connect()
	if err != nil {
		return nil, nil, nil, err
	}
	cmd, err := x.sentence(p)
	return p, c, cmd, err
}

func deploy(ctx context.Context, x *call) error {
	p, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	params := cmd.Params
	for _, kv := range p.all("param") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageError{msg: fmt.Sprintf("--param %q: want NAME=VALUE", kv)}
		}
		if params == nil {
			params = map[string]string{}
		}
		params[strings.ToLower(k)] = v
	}
	d, err := c.Deploy(ctx, cmd.App, cmd.Env, cmd.Ref, p.on("force"), p.on("override-freeze"), params)
	return queued(ctx, x, c, p, d, err)
}

func rollback(ctx context.Context, x *call) error {
	p, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	d, err := c.Rollback(ctx, cmd.App, cmd.Env, cmd.To)
	return queued(ctx, x, c, p, d, err)
}

func promote(ctx context.Context, x *call) error {
	p, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	d, err := c.Promote(ctx, cmd.App, cmd.From, cmd.To)
	return queued(ctx, x, c, p, d, err)
}

// operate is scale, restart, stop and start.
func operate(ctx context.Context, x *call) error {
	p, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	d, err := c.Operate(ctx, cmd.App, cmd.Env, cmd.Verb, cmd.N)
	return queued(ctx, x, c, p, d, err)
}

// queued says what a request queued, and follows its log if asked.
func queued(ctx context.Context, x *call, c *client.Client, p *parsed, d *api.Deploy, err error) error {
	if err != nil {
		return err
	}
	state := "queued"
	if d.State == queue.StateWaiting {
		state = "waiting"
		if d.WaitingFor != "" {
			state += " (" + d.WaitingFor + ")"
		}
	}
	what := fmt.Sprintf("%s@%s (%s) to %s", d.App, d.Ref, queue.ShortSHA(d.SHA), d.Env)
	switch d.Op {
	case "":
	case "scale":
		what = fmt.Sprintf("scale %s in %s to %d", d.App, d.Env, d.Instances)
	default:
		what = fmt.Sprintf("%s %s in %s", d.Op, d.App, d.Env)
	}
	fmt.Fprintf(x.stdout, "#%d %s: %s\nlog: %s\n", d.ID, state, what, d.LogURL)
	if p.on("follow") {
		return followToEnd(ctx, c, d.ID, x.stdout)
	}
	return nil
}

func cancel(ctx context.Context, x *call) error {
	_, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	d, err := c.Cancel(ctx, cmd.ID)
	if err != nil {
		return err
	}
	switch d.State {
	case queue.StateRunning:
		fmt.Fprintf(x.stdout, "canceling #%d: its runner is being stopped\n", d.ID)
	case queue.StateVerifying:
		fmt.Fprintf(x.stdout, "canceling #%d: its verification is being stopped\n", d.ID)
	default:
		fmt.Fprintf(x.stdout, "#%d %s\n", d.ID, d.State)
	}
	return nil
}

// resume is the continue command.
func resume(ctx context.Context, x *call) error {
	_, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	d, err := c.Continue(ctx, cmd.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "#%d continues (%s to %s)\n", d.ID, d.App, d.Env)
	return nil
}

func logs(ctx context.Context, x *call) error {
	p, c, err := x.connect()
	if err != nil {
		return err
	}
	id, err := deployID(p.words)
	if err != nil {
		return err
	}
	if p.on("follow") {
		return followToEnd(ctx, c, id, x.stdout)
	}
	_, err = c.Log(ctx, id, false, x.stdout)
	return err
}

func deployID(words []string) (int64, error) {
	if len(words) != 1 {
		return 0, usageError{msg: "give one deploy id"}
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(words[0], "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{msg: fmt.Sprintf("%q is not a deploy id", words[0])}
	}
	return id, nil
}

// followToEnd streams a log; the exit status says how the deploy ended.
func followToEnd(ctx context.Context, c *client.Client, id int64, w io.Writer) error {
	d, err := c.Log(ctx, id, true, w)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "#%d %s\n", d.ID, d.State)
	if d.State != queue.StateSucceeded {
		return exitCode(1)
	}
	return nil
}

func chat(ctx context.Context, x *call) error {
	p, c, err := x.connect()
	if err != nil {
		return err
	}
	if err := p.noWords(); err != nil {
		return err
	}
	return bot.Console(ctx, x.stdin, x.stdout, &consoleBackend{c: c})
}

type consoleBackend struct{ c *client.Client }

func (b *consoleBackend) Chat(ctx context.Context, text string) (string, int64, error) {
	r, err := b.c.Chat(ctx, text)
	if err != nil {
		return "", 0, err
	}
	var id int64
	if r.Deploy != nil && r.Error == nil {
		id = r.Deploy.ID
	}
	return r.Reply, id, nil
}

// Follow streams a log; Ctrl-C stops following, not the deploy.
func (b *consoleBackend) Follow(ctx context.Context, id int64, w io.Writer) (string, error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	d, err := b.c.Log(ctx, id, true, w)
	if err != nil {
		return "", err
	}
	return string(d.State), nil
}
