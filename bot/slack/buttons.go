package slack

import (
	"context"
	"strconv"
	"strings"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/queue"
	slackgo "github.com/slack-go/slack"
)

// handleInteraction carries out a button click as the command it stands
// for, for the user who clicked: the same rules and answers as the typed
// command.
func (a *Adapter) handleInteraction(cb slackgo.InteractionCallback) {
	if cb.Type != slackgo.InteractionTypeBlockActions {
		return
	}
	for _, act := range cb.ActionCallback.BlockActions {
		key := deliveryKey("action", cb.TriggerID, act.ActionID, act.ActionTs)
		if !a.fresh(key) {
			continue
		}
		c, ok := buttonCommand(act.ActionID, act.Value)
		if !ok {
			continue // not one of deployq's buttons
		}
		thread := cb.Message.ThreadTimestamp
		if thread == "" {
			thread = cb.Message.Timestamp
		}
		m, refused := a.from(cb.User.ID, cb.Channel.ID, thread)
		if refused != nil {
			a.answer(cb.User.ID, cb.Channel.ID, thread, *refused)
			continue
		}
		if r, ran := a.once(key, func(ctx context.Context) bot.Reply { return a.bot.Do(ctx, c, m) }); ran {
			a.answer(cb.User.ID, cb.Channel.ID, thread, r)
		}
	}
}

// buttonVerbs are the commands of the buttons on a deploy's message; the
// value of each is the deploy's id.
var buttonVerbs = map[string]string{
	ActionCancel:   "cancel",
	ActionContinue: "continue",
	ActionApprove:  "approve",
	ActionReject:   "reject",
	ActionRollback: "rollback", // of the deploy: back to what ran before it
}

// buttonCommand is the command a button of deployq's stands for.
func buttonCommand(action, value string) (bot.Command, bool) {
	if action == ActionUnlock {
		app, env, ok := parseLockValue(value)
		return bot.Command{Verb: "unlock", App: app, Env: env}, ok
	}
	verb, ok := buttonVerbs[action]
	id, err := strconv.ParseInt(value, 10, 64)
	if !ok || err != nil || id <= 0 {
		return bot.Command{}, false
	}
	return bot.Command{Verb: verb, ID: id}, true
}

// lockValue is the value of a lock's Unlock button: "ENV" or "APP in ENV".
func lockValue(l *queue.Lock) string {
	if l.App != "" {
		return l.App + " in " + l.Env
	}
	return l.Env
}

// parseLockValue reads lockValue.
func parseLockValue(v string) (app, env string, ok bool) {
	app, env, scoped := strings.Cut(v, " in ")
	if !scoped {
		app, env = "", v
	}
	return app, env, queue.ValidName(env) && (!scoped || queue.ValidName(app))
}
