package slack

import (
	"context"
	"regexp"
	"sync"
	"time"

	"github.com/deployq/deployq/bot"
	slackgo "github.com/slack-go/slack"
)

// What comes from Slack's surfaces other than messages: the global
// shortcut, the forms (modals) and the Home tab, and how deployq answers
// them in time.

// Callback ids of deployq's shortcut and views.
const (
	CallbackDeploy = "deployq_deploy" // the global shortcut, and the deploy form
	CallbackLock   = "deployq_lock"   // the lock form
	CallbackHome   = "deployq_home"   // the Home tab
)

// Action ids of the Home tab's buttons that open a form. The lock form's
// value is the scope it starts with ("", "ENV" or "APP in ENV").
const (
	ActionOpenDeploy = "deployq_open_deploy"
	ActionOpenLock   = "deployq_open_lock"
)

// openTimeout bounds views.open: a trigger is good for 3 s.
const openTimeout = 2500 * time.Millisecond

// maxErrorText bounds the text of a form's error under its field.
const maxErrorText = 500

var (
	// slackIDRe is a Slack id: a user (U…, W…), a channel (C…, G…, D…).
	slackIDRe = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,31}$`)
	// tokenRe is an opaque id Slack hands back: a trigger, a view, a hash.
	tokenRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,255}$`)
)

// interact handles an interaction payload and returns the payload of its
// ack (nil: an empty ack). What a trigger is needed for (opening a form),
// a form's submission and the options of a select are done before the
// ack; the rest is queued for the worker.
func (a *Adapter) interact(cb slackgo.InteractionCallback) any {
	switch {
	case !slackIDRe.MatchString(cb.User.ID) || cb.TriggerID != "" && !tokenRe.MatchString(cb.TriggerID):
		a.log.Warn("slack: an interaction without a valid user or trigger", "type", cb.Type)
	case cb.Type == slackgo.InteractionTypeShortcut:
		if cb.CallbackID == CallbackDeploy && a.seen.first(deliveryKey("shortcut", cb.TriggerID)) {
			a.formOpened(cb.User.ID, a.openDeployForm(cb.TriggerID, "", cb.User.ID))
		}
	case cb.Type == slackgo.InteractionTypeViewSubmission:
		var r *slackgo.ViewSubmissionResponse
		switch cb.View.CallbackID {
		case CallbackDeploy:
			r = a.submitDeploy(cb)
		case CallbackLock:
			r = a.submitLock(cb)
		}
		if r != nil {
			return r
		}
	case cb.Type == slackgo.InteractionTypeBlockSuggestion:
		if cb.ActionID == actionFormRef {
			return a.refOptions(cb)
		}
		return slackgo.OptionsResponse{Options: []*slackgo.OptionBlockObject{}}
	case cb.Type == slackgo.InteractionTypeBlockActions && cb.View.ID != "":
		a.viewActions(cb)
	default:
		a.later(func() { a.handleInteraction(cb) })
	}
	return nil
}

// viewActions handles what was done in a view: a form's select changed,
// or a Home tab's button clicked.
func (a *Adapter) viewActions(cb slackgo.InteractionCallback) {
	if !tokenRe.MatchString(cb.View.ID) {
		return
	}
	for _, act := range cb.ActionCallback.BlockActions {
		if !a.seen.first(deliveryKey("view", cb.TriggerID, act.ActionID, act.ActionTs)) {
			continue
		}
		switch act.ActionID {
		case ActionFormApp, ActionFormEnv:
			if cb.View.CallbackID == CallbackDeploy {
				a.later(func() { a.refreshDeployForm(cb.View, cb.User.ID) })
			}
		case ActionOpenDeploy:
			a.formOpened(cb.User.ID, a.openDeployForm(cb.TriggerID, "", cb.User.ID))
		case ActionOpenLock:
			app, env, _ := parseLockValue(act.Value)
			a.formOpened(cb.User.ID, a.openLockForm(cb.TriggerID, "", app, env))
		default:
			a.later(func() { a.homeButton(cb, act) })
		}
	}
}

// openView opens a form within its trigger's window.
func (a *Adapter) openView(trigger string, v slackgo.ModalViewRequest) (*slackgo.ViewResponse, error) {
	if !tokenRe.MatchString(trigger) {
		return nil, errNoTrigger
	}
	ctx, cancel := context.WithTimeout(a.ctx, openTimeout)
	defer cancel()
	r, err := a.api.OpenViewContext(ctx, trigger, v)
	if err != nil {
		a.log.Warn("slack: views.open", "view", v.CallbackID, "err", err)
		return nil, a.checked(err)
	}
	return r, nil
}

// errNoTrigger: Slack sent no trigger to open a form with.
var errNoTrigger = slackgo.ErrParametersMissing

// formChannel is the channel a form came from, as its private metadata
// keeps it ("" for none, or for anything else).
func formChannel(meta string) string {
	if slackIDRe.MatchString(meta) {
		return meta
	}
	return ""
}

// replyPlace is where the outcome of a form goes: the channel it came
// from, else the user's direct messages with the bot.
func replyPlace(channel, user string) string {
	if channel != "" {
		return channel
	}
	return user
}

// tell gives user a short text: privately in channel, else by DM.
func (a *Adapter) tell(user, channel, text string) {
	if channel != "" {
		a.ephemeral(channel, user, "", text)
		return
	}
	if _, _, err := a.api.PostMessageContext(a.ctx, user, plainText(text)); err != nil {
		a.log.Error("slack: DM", "user", user, "err", a.checked(err))
	}
}

// inTime runs do on the worker, in turn with the other commands, and
// waits up to AnswerWithin for its reply, which a form's answer needs
// (Slack waits 3 s for it). ok is false when do did not answer by then,
// or found its delivery done already: late gets the reply when it comes.
func (a *Adapter) inTime(do func() (bot.Reply, bool), late func(bot.Reply)) (r bot.Reply, ok bool) {
	type result struct {
		r   bot.Reply
		ran bool
	}
	var mu sync.Mutex
	gaveUp := a.AnswerWithin <= 0
	done := make(chan result, 1)
	a.later(func() {
		r, ran := do()
		mu.Lock()
		tooLate := gaveUp
		if !tooLate {
			done <- result{r, ran}
		}
		mu.Unlock()
		if tooLate && ran {
			late(r)
		}
	})
	if !gaveUp {
		t := time.NewTimer(a.AnswerWithin)
		defer t.Stop()
		select {
		case res := <-done:
			return res.r, res.ran
		case <-t.C:
		case <-a.ctx.Done():
		}
	}
	mu.Lock()
	defer mu.Unlock()
	select {
	case res := <-done:
		return res.r, res.ran
	default:
		gaveUp = true
		return bot.Reply{}, false
	}
}

// errorsOn is the answer to a form that puts msg under its field block.
func errorsOn(block, msg string) *slackgo.ViewSubmissionResponse {
	return slackgo.NewErrorsViewSubmissionResponse(map[string]string{block: clip(msg, maxErrorText)})
}

// formOpened tells a user by DM that a form they asked for from a button
// or the shortcut could not open (a /deploy is answered in its ack).
func (a *Adapter) formOpened(user string, err error) {
	if err != nil {
		a.later(func() {
			a.tell(user, "", "deployq could not open its form (Slack said: "+err.Error()+"); type the command instead, as /deploy help says")
		})
	}
}
