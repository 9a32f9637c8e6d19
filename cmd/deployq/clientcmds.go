package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/client"
	"github.com/deployq/deployq/queue"
)

// clientArgs pulls the flags out of args wherever they stand, so that
// `deployq deploy web to prod --force` works like `--force web to prod`.
type clientArgs struct {
	server string
	flags  map[string]bool
	rest   []string
}

func parseClientArgs(args []string, allowed ...string) (*clientArgs, error) {
	ca := &clientArgs{server: os.Getenv("DEPLOYQ_SERVER"), flags: map[string]bool{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--server" || a == "-server":
			if i+1 >= len(args) {
				return nil, fmt.Errorf("--server needs a URL")
			}
			ca.server = args[i+1]
			i++
		case strings.HasPrefix(a, "--server="):
			ca.server = strings.TrimPrefix(a, "--server=")
		case a == "--":
			ca.rest = append(ca.rest, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && len(a) > 1 && !isNumber(a):
			name := strings.TrimLeft(a, "-")
			ok := false
			for _, f := range allowed {
				if f == name {
					ok = true
				}
			}
			if !ok {
				return nil, fmt.Errorf("unknown flag %s", a)
			}
			ca.flags[name] = true
		default:
			ca.rest = append(ca.rest, a)
		}
	}
	if ca.server == "" {
		ca.server = "http://127.0.0.1:8080"
	}
	return ca, nil
}

func isNumber(s string) bool { _, err := strconv.Atoi(s); return err == nil }

func newClient(server string) *client.Client {
	c := &client.Client{Base: server, Token: os.Getenv("DEPLOYQ_TOKEN")}
	if c.Token == "" {
		if u, err := user.Current(); err == nil {
			c.User = u.Username
		}
		if v := os.Getenv("USER"); v != "" {
			c.User = v
		}
	}
	return c
}

func clientCommand(ctx context.Context, name string, args []string, stdin io.Reader, stdout io.Writer) error {
	flags := map[string][]string{
		"deploy": {"force", "override-freeze", "follow", "f"}, "rollback": {"follow", "f"}, "logs": {"f", "follow"},
		"lock": {"steal"},
	}
	ca, err := parseClientArgs(args, flags[name]...)
	if err != nil {
		return err
	}
	c := newClient(ca.server)
	follow := ca.flags["follow"] || ca.flags["f"]
	// The chat grammar reads the words of deploy, rollback, lock, unlock
	// and queue, so the CLI and chat take the same sentences.
	grammar := func() (*bot.Command, error) {
		cmd, err := bot.Parse(name + " " + strings.Join(ca.rest, " "))
		if err != nil {
			return nil, err
		}
		return cmd, nil
	}
	switch name {
	case "deploy", "rollback":
		cmd, err := grammar()
		if err != nil {
			return err
		}
		var d *api.Deploy
		if name == "deploy" {
			d, err = c.Deploy(ctx, cmd.App, cmd.Env, cmd.Ref, ca.flags["force"], ca.flags["override-freeze"])
		} else {
			d, err = c.Rollback(ctx, cmd.App, cmd.Env, cmd.To)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "#%d queued: %s@%s (%s) to %s\nlog: %s\n", d.ID, d.App, d.Ref, queue.ShortSHA(d.SHA), d.Env, d.LogURL)
		if follow {
			return followToEnd(ctx, c, d.ID, stdout)
		}
		return nil
	case "cancel":
		id, err := deployID(ca.rest)
		if err != nil {
			return err
		}
		d, err := c.Cancel(ctx, id)
		if err != nil {
			return err
		}
		if d.State == queue.StateRunning {
			fmt.Fprintf(stdout, "canceling #%d: its runner is being stopped\n", d.ID)
		} else {
			fmt.Fprintf(stdout, "#%d %s\n", d.ID, d.State)
		}
		return nil
	case "lock", "unlock":
		cmd, err := grammar()
		if err != nil {
			return err
		}
		scope := cmd.Env
		if cmd.App != "" {
			scope = cmd.App + " in " + cmd.Env
		}
		if name == "unlock" {
			l, err := c.Unlock(ctx, cmd.Env, cmd.App)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "unlocked %s (held by %s)\n", scope, l.Owner)
			return nil
		}
		ttl := ""
		if cmd.Duration > 0 {
			ttl = cmd.Duration.String()
		}
		l, err := c.Lock(ctx, cmd.Env, cmd.App, cmd.Reason, ttl, ca.flags["steal"])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "locked %s by %s", scope, l.Owner)
		if l.ExpiresAt != nil {
			fmt.Fprintf(stdout, " until %s", l.ExpiresAt.Local().Format(time.Kitchen))
		}
		fmt.Fprintln(stdout)
		return nil
	case "queue":
		cmd, err := grammar()
		if err != nil {
			return err
		}
		es, err := c.Environments(ctx)
		if err != nil {
			return err
		}
		printEnvironments(stdout, es, cmd.Env)
		return nil
	case "logs":
		id, err := deployID(ca.rest)
		if err != nil {
			return err
		}
		if follow {
			return followToEnd(ctx, c, id, stdout)
		}
		_, err = c.Log(ctx, id, false, stdout)
		return err
	case "chat":
		return bot.Console(ctx, stdin, stdout, &consoleBackend{c: c})
	}
	return fmt.Errorf("unknown command %s", name)
}

func deployID(rest []string) (int64, error) {
	if len(rest) != 1 {
		return 0, fmt.Errorf("give one deploy id")
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(rest[0], "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not a deploy id", rest[0])
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

func printEnvironments(w io.Writer, es []api.Environment, env string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tENV\tCURRENT\tRUNNING\tQUEUED\tLOCK")
	for _, e := range es {
		if env != "" && e.Env != env {
			continue
		}
		cur, running, lock := "-", "-", "-"
		if e.Current != nil {
			cur = fmt.Sprintf("%s #%d", queue.ShortSHA(e.Current.SHA), e.Current.ID)
		}
		if e.Running != nil {
			running = fmt.Sprintf("#%d %s by %s", e.Running.ID, queue.ShortSHA(e.Running.SHA), e.Running.User)
		}
		if e.Lock != nil {
			lock = e.Lock.Owner
			if e.Lock.Reason != "" {
				lock += ": " + e.Lock.Reason
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", e.App, e.Env, cur, running, e.Queued, lock)
	}
	tw.Flush()
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
