package slack

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/queue"
	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// Commands typed in Slack (mentions, direct messages, /deploy) and the
// bot's answers.

var mentionRe = regexp.MustCompile(`<@[A-Z0-9]+>`)

// unescape undoes what Slack does to the text of messages and slash
// commands: it sends &, < and > as &amp;, &lt; and &gt;. Nothing else is
// touched.
var unescape = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace

// commandText is a command as typed in a message: the text Slack sent,
// without mentions, unescaped.
func commandText(text string) string { return unescape(mentionRe.ReplaceAllString(text, "")) }

// handleEvent runs a mention or a direct message once per event id, and
// shows the Home tab to whoever opens it.
func (a *Adapter) handleEvent(e slackevents.EventsAPIEvent, id string) {
	key := deliveryKey(id)
	if e.Type != slackevents.CallbackEvent || !a.fresh(key) {
		return
	}
	switch ev := e.InnerEvent.Data.(type) {
	case *slackevents.AppMentionEvent:
		user, ok := a.author(ev.User, ev.BotID)
		if !ok {
			return
		}
		thread := ev.ThreadTimeStamp
		if thread == "" {
			thread = ev.TimeStamp
		}
		a.command(key, user, ev.Channel, thread, commandText(ev.Text))
	case *slackevents.MessageEvent:
		if ev.ChannelType != "im" || ev.SubType != "" && ev.SubType != "bot_message" {
			return
		}
		if user, ok := a.author(ev.User, ev.BotID); ok {
			a.command(key, user, ev.Channel, ev.ThreadTimeStamp, commandText(ev.Text))
		}
	case *slackevents.AppHomeOpenedEvent:
		if ev.Tab == "home" && slackIDRe.MatchString(ev.User) {
			a.sawHome(ev.User)
			a.publishHome(a.ctx, ev.User)
		}
	}
}

// slackbot is the user id of Slack's own bot.
const slackbot = "USLACKBOT"

// author is who said a message, and whether their commands run: people's
// do; those of bots, workflows and Slackbot only when slack.allow_bots
// names the bot; deployq's own messages never. A bot without a user is
// known by its bot id.
func (a *Adapter) author(user, botID string) (string, bool) {
	switch {
	case botID == "" && user != slackbot:
		return user, true
	case botID != "" && botID == a.self():
		return "", false
	case botID == "" || !slices.Contains(a.cfg.AllowBots, botID):
		a.log.Info("slack: ignored a bot's command (slack.allow_bots)", "bot", botID, "user", user)
		return "", false
	}
	if user == "" {
		user = botID
	}
	return user, true
}

// from is who said a command, as a deployq user (see who), and the thread
// its deploy's messages go to. A Slack user deployq cannot take gets a
// reply saying why.
func (a *Adapter) from(user, channel, thread string) (bot.Message, *bot.Reply) {
	name, err := a.who(a.ctx, user)
	if err != nil {
		return bot.Message{}, &bot.Reply{Text: "deployq cannot take your Slack user: " + queue.ErrorMessage(err), Err: err}
	}
	return bot.Message{User: name, Thread: threadRef(channel, thread)}, nil
}

// command carries out one typed chat command said in a channel (and
// thread), once per delivery key.
func (a *Adapter) command(key, user, channel, thread, text string) {
	m, refused := a.from(user, channel, thread)
	if refused != nil {
		a.answer(user, channel, thread, *refused)
		return
	}
	m.Text = text
	r, ran := a.once(key, func(ctx context.Context) bot.Reply { return a.bot.Handle(ctx, m) })
	if ran {
		a.answer(user, channel, thread, r)
	}
}

// answer gives user the bot's reply where the command was said: a
// refusal privately, a lock as its card, the rest as text; a queued
// deploy's own message answers for it.
func (a *Adapter) answer(user, channel, thread string, r bot.Reply) {
	switch {
	case r.Err != nil:
		a.ephemeral(channel, user, thread, r.Text)
	case r.Deploy != nil && (r.Deploy.State == queue.StateQueued || r.Deploy.State == queue.StateWaiting):
		// the deploy's own message answers
	case r.Lock != nil:
		a.answeredLock(r.Lock, channel)
		opts := []slackgo.MsgOption{plainText(r.Text), slackgo.MsgOptionBlocks(LockBlocks(r.Lock, r.Locked, time.Now())...)}
		if thread != "" {
			opts = append(opts, slackgo.MsgOptionTS(thread))
		}
		if _, _, err := a.api.PostMessageContext(a.ctx, channel, opts...); err != nil {
			a.log.Error("slack: lock reply", "channel", channel, "err", a.checked(err))
		}
	default:
		opts := []slackgo.MsgOption{plainText(r.Text)}
		if thread != "" {
			opts = append(opts, slackgo.MsgOptionTS(thread))
		}
		if _, _, err := a.api.PostMessageContext(a.ctx, channel, opts...); err != nil {
			a.log.Error("slack: reply", "channel", channel, "err", a.checked(err))
		}
	}
}

func (a *Adapter) ephemeral(channel, user, thread, text string) {
	opts := []slackgo.MsgOption{plainText(text)}
	if thread != "" {
		opts = append(opts, slackgo.MsgOptionTS(thread))
	}
	if _, err := a.api.PostEphemeralContext(a.ctx, channel, user, opts...); err != nil {
		a.log.Error("slack: ephemeral reply", "channel", channel, "err", a.checked(err))
	}
}

// handleSlash runs a /deploy command; its reply goes back in the ack.
// "/deploy web to prod" and "/deploy deploy web to prod" mean the same;
// "/deploy lock prod" is a lock; "/deploy lcok prod" asks whether lock
// was meant (see bot.HandleSlash). "/deploy" alone opens the deploy form,
// "/deploy lock" alone the lock form: "" is answered then.
func (a *Adapter) handleSlash(cmd slackgo.SlashCommand) (string, error) {
	text := strings.TrimSpace(unescape(cmd.Text))
	key := deliveryKey("slash", cmd.TriggerID)
	if !a.fresh(key) {
		return "", nil
	}
	channel := cmd.ChannelID
	if !slackIDRe.MatchString(channel) {
		channel = ""
	}
	var err error
	usage := "/deploy APP[@REF] to ENV [with NAME=VALUE ...]"
	switch strings.ToLower(text) {
	case "":
		err = a.openDeployForm(cmd.TriggerID, channel, cmd.UserID)
	case "lock":
		err = a.openLockForm(cmd.TriggerID, channel, "", "")
		usage = "/deploy lock ENV|APP in ENV [for DURATION] [: reason]"
	default:
		return a.slashCommand(cmd, key, text)
	}
	if err != nil {
		return fmt.Sprintf("deployq could not open its form (Slack said: %v); type the command instead: %s", err, usage), err
	}
	return "", nil
}

// slashCommand carries out the text of a /deploy command.
func (a *Adapter) slashCommand(cmd slackgo.SlashCommand, key, text string) (string, error) {
	m, refused := a.from(cmd.UserID, cmd.ChannelID, "")
	if refused != nil {
		return refused.Text, refused.Err
	}
	m.Text = text
	r, _ := a.once(key, func(ctx context.Context) bot.Reply { return a.bot.HandleSlash(ctx, m) })
	return r.Text, r.Err
}
