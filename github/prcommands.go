package github

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
)

// Commands in pull request comments: a new comment whose first line
// begins with the prefix (default ".") is a command, run once, as the
// commenter. .deploy deploys the pull request's head (or a ref it names);
// the others (.lock, .unlock, .wcid, .help, and the whole chat grammar)
// go through the Commander.

type issueCommentEvent struct {
	Action string `json:"action"`
	Issue  struct {
		Number      int `json:"number"`
		PullRequest *struct {
			URL string `json:"url"`
		} `json:"pull_request"`
	} `json:"issue"`
	Comment struct {
		ID   int64   `json:"id"`
		Body string  `json:"body"`
		User account `json:"user"`
	} `json:"comment"`
	Repo   repository `json:"repository"`
	Sender account    `json:"sender"`
}

// Commander carries out a chat command (the chat grammar) for user, and
// says what it did, or why not.
type Commander interface {
	Command(ctx context.Context, user, text string) (string, error)
}

// prCommands is what pull request commands need besides the receiver.
type prCommands struct {
	prefix string
	cmd    Commander
}

// WithPRCommands makes the receiver take commands in pull request
// comments that begin with prefix ("" for "."), through cmd for all but
// .deploy.
func (rc *Receiver) WithPRCommands(prefix string, cmd Commander) *Receiver {
	if prefix == "" {
		prefix = "."
	}
	rc.pr = &prCommands{prefix: prefix, cmd: cmd}
	return rc
}

// commentKey is the once-key of a comment: it runs once, whatever is
// delivered again.
func commentKey(id int64) string { return fmt.Sprintf("github-comment:%d", id) }

// prTimeout bounds the calls to GitHub that answer a command.
const prTimeout = 10 * time.Second

func (rc *Receiver) issueComment(ctx context.Context, p *issueCommentEvent, res *Result) error {
	line, _, _ := strings.Cut(p.Comment.Body, "\n")
	line = strings.TrimSpace(line)
	switch {
	case rc.pr == nil:
		res.Ignored = "deployq takes no commands in pull requests"
		return nil
	case p.Action != "created":
		res.Ignored = "comment " + p.Action + ": only a new comment runs a command"
		return nil
	case p.Issue.PullRequest == nil:
		res.Ignored = "a comment on an issue, not a pull request"
		return nil
	case !strings.HasPrefix(line, rc.pr.prefix) || len(line) == len(rc.pr.prefix):
		res.Ignored = "not a command"
		return nil
	case p.Comment.ID <= 0 || p.Issue.Number <= 0:
		return queue.Errorf(queue.EInvalid, "a comment with no id or pull request number")
	}
	apps := rc.apps(p.Repo.FullName)
	if len(apps) == 0 {
		res.Ignored = "no app deploys " + p.Repo.FullName
		return nil
	}
	key := commentKey(p.Comment.ID)
	if seen, err := rc.svc.Seen(ctx, key); err != nil || seen {
		res.Duplicate = seen
		return err
	}
	user, err := who(rc.people, "commenter", []string{p.Comment.User.Login, p.Sender.Login}, "")
	if err != nil {
		return err
	}
	c := prCall{rc: rc, repo: p.Repo.FullName, number: p.Issue.Number, comment: p.Comment.ID, user: user, apps: apps, key: key}
	c.github(ctx, func(ctx context.Context) error { return rc.client.react(ctx, c.repo, c.comment, "eyes") })
	text := strings.TrimSpace(line[len(rc.pr.prefix):])
	text, paramText, _ := strings.Cut(text, "|") // .deploy to staging | migrate=true
	words := strings.Fields(text)
	params := map[string]string{}
	for _, kv := range strings.Fields(paramText) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return c.answer(ctx, "", queue.Errorf(queue.EInvalid, "%q is not a parameter: NAME=VALUE", kv))
		}
		params[strings.ToLower(k)] = v
	}
	c.params = params
	switch verb := strings.ToLower(words[0]); verb {
	case "deploy", "deploy!":
		return c.deploy(ctx, words[1:], verb == "deploy!", false, res)
	case "noop":
		return c.deploy(ctx, words[1:], false, true, res)
	case "help":
		return c.answer(ctx, prHelp(rc.pr.prefix), nil)
	case "lock", "unlock", "wcid":
		text, err = c.translate(verb, words[1:])
		if err != nil {
			return c.answer(ctx, "", err)
		}
	}
	reply, err := rc.pr.cmd.Command(ctx, user, text)
	return c.answer(ctx, reply, err)
}

// prCall is one command, as it is carried out.
type prCall struct {
	rc      *Receiver
	repo    string
	number  int
	comment int64
	user    string
	apps    []*queue.App
	key     string
	params  map[string]string // after "|"
}

// github makes a call to GitHub that answers the command; a failure is
// logged (the command itself was done).
func (c *prCall) github(ctx context.Context, call func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), prTimeout)
	defer cancel()
	if err := call(ctx); err != nil {
		c.rc.log.Warn("github: answering a pull request command", "repo", c.repo, "pr", c.number, "err", err)
	}
}

// answer records the command done, and answers it in the pull request:
// the reply (or why not) as a comment, a rocket or a -1 on the command.
func (c *prCall) answer(ctx context.Context, reply string, err error) error {
	if _, rerr := c.rc.svc.Once(ctx, c.key); rerr != nil {
		return rerr
	}
	content := "rocket"
	if err != nil {
		content, reply = "-1", queue.ErrorMessage(err)
	}
	c.github(ctx, func(ctx context.Context) error {
		_, err := c.rc.client.comment(ctx, c.repo, c.number, 0, clip(fmt.Sprintf("@%s: %s", strings.TrimPrefix(c.user, "github:"), reply), 60000))
		return err
	})
	c.github(ctx, func(ctx context.Context) error { return c.rc.client.react(ctx, c.repo, c.comment, content) })
	return nil
}

// deploy queues a deploy of the pull request's head (or of the ref
// named: .deploy main to production), the app named first when the
// repository has several. The pull request's comments show it.
func (c *prCall) deploy(ctx context.Context, words []string, force, noop bool, res *Result) error {
	var app *queue.App
	if len(words) > 0 {
		for _, a := range c.apps {
			if strings.EqualFold(words[0], a.Name) {
				app, words = a, words[1:]
			}
		}
	}
	if app == nil && len(c.apps) == 1 {
		app = c.apps[0]
	}
	if app == nil {
		var names []string
		for _, a := range c.apps {
			names = append(names, a.Name)
		}
		return c.answer(ctx, "", queue.Errorf(queue.EInvalid, "%s has several apps: name one (%sdeploy %s ...)", c.repo, c.rc.pr.prefix, strings.Join(names, "|")))
	}
	var ref, env string
	for i := 0; i < len(words); i++ {
		switch {
		case strings.EqualFold(words[i], "to") && i+1 < len(words):
			env = words[i+1]
			i++
		case ref == "":
			ref = words[i]
		default:
			return c.answer(ctx, "", queue.Errorf(queue.EInvalid, "usage: %sdeploy [APP] [REF] [to ENV]", c.rc.pr.prefix))
		}
	}
	req := queue.Request{App: app.Name, Env: env, Ref: ref, User: c.user, Source: queue.SourcePR, Force: force, Noop: noop, Params: c.params,
		ChatThread: prThread(c.repo, c.number), Meta: map[string]string{metaPRCommand: strconv.FormatInt(c.comment, 10)}}
	if ref == "" { // the pull request's head, shown as its branch
		var err error
		hctx, cancel := context.WithTimeout(ctx, prTimeout)
		req.Ref, req.SHA, err = c.rc.client.pullHead(hctx, c.repo, c.number)
		cancel()
		if err != nil {
			return fmt.Errorf("reading pull request %d's head: %w", c.number, err) // the delivery is sent again
		}
	}
	_, target, lerr := c.rc.svc.Lookup(app.Name, env) // an unknown environment: Submit says so
	if lerr == nil && !noop {                         // a dry run changes nothing: no rule holds it back
		rctx, cancel := context.WithTimeout(ctx, prTimeout)
		err := c.prRules(rctx, app, target, req.SHA, force)
		cancel()
		var refusal *queue.Error
		switch {
		case errors.As(err, &refusal):
			res.Ignored = queue.ErrorMessage(err)
			return c.answer(ctx, "", err)
		case err != nil:
			return err // GitHub did not answer: the delivery is sent again
		}
	}
	d, err := c.rc.svc.Submit(queue.WithOnce(ctx, c.key), req)
	if err == nil && target != nil && target.PRDeploys.StickyLock && !noop {
		c.stickyLock(ctx, target)
	}
	switch {
	case err == nil:
		res.Deploys = append(res.Deploys, d.ID)
		return nil // its comment comes from the outbox
	case queue.ErrorCode(err) == queue.EDuplicate:
		res.Duplicate = true
		return nil
	case retryable(err):
		return err
	}
	res.Ignored = queue.ErrorMessage(err)
	return c.answer(ctx, "", err)
}

// translate writes .lock, .unlock and .wcid in the chat grammar: .lock
// [ENV] [--reason TEXT] [--for DURATION].
func (c *prCall) translate(verb string, words []string) (string, error) {
	env := ""
	if len(words) > 0 && !strings.HasPrefix(words[0], "--") {
		env, words = words[0], words[1:]
	}
	if env == "" {
		env = c.apps[0].DefaultEnv
	}
	if verb == "wcid" {
		return "queue " + env, nil
	}
	if verb == "unlock" {
		return "unlock " + env, nil
	}
	var reason []string
	var dur string
	for i := 0; i < len(words); i++ {
		switch {
		case words[i] == "--for" && i+1 < len(words):
			dur = words[i+1]
			i++
		case words[i] == "--reason":
			reason = words[i+1:]
			i = len(words)
		default:
			return "", queue.Errorf(queue.EInvalid, "usage: %slock [ENV] [--for DURATION] [--reason TEXT]", c.rc.pr.prefix)
		}
	}
	text := "lock " + env
	if dur != "" {
		text += " for " + dur
	}
	if len(reason) > 0 {
		text += ": " + strings.Join(reason, " ")
	}
	return text, nil
}

// prHelp is the answer to .help.
func prHelp(p string) string {
	return strings.Join([]string{
		"commands, on the first line of a new comment:",
		"- `" + p + "deploy [to ENV]`: deploy this pull request's head (`" + p + "deploy!` skips required checks)",
		"- `" + p + "deploy REF [to ENV]`: deploy a branch, tag or sha (`" + p + "deploy main to production`)",
		"- `" + p + "noop [REF] [to ENV]`: a dry run: what the deploy would do, in its turn in the lane",
		"- `" + p + "lock [ENV] [--for DURATION] [--reason TEXT]`, `" + p + "unlock [ENV]`",
		"- `" + p + "wcid [ENV]`: who controls it: what runs, what waits, the lock",
		"- `" + p + "help`; any chat command after `" + p + "` works too (`" + p + "history web`)",
		"a locked environment queues the deploy until it is unlocked.",
	}, "\n")
}
