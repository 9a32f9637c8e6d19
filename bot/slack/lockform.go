package slack

import (
	"context"
	"fmt"
	"time"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/queue"
	slackgo "github.com/slack-go/slack"
)

// The lock form: `lock ENV|APP in ENV [for DURATION]: reason`, a field
// each.

// Block and action ids of the lock form.
const (
	blockLockEnv    = "lock_env"
	blockLockApp    = "lock_app"
	blockLockReason = "lock_reason"
	blockLockFor    = "lock_for"
	actionLockEnv   = "deployq_lock_env"
	actionLockApp   = "deployq_lock_app"
	actionLockWhy   = "deployq_lock_reason"
	actionLockFor   = "deployq_lock_for"
)

// wholeEnv is the lock form's app option that locks every app.
const wholeEnv = "*"

// lockDurations are the lock form's durations, by option value; "0" holds
// until unlocked.
var lockDurations = []struct {
	value, text string
	d           time.Duration
}{
	{"30m", "30 minutes", 30 * time.Minute},
	{"1h", "1 hour", time.Hour},
	{"2h", "2 hours", 2 * time.Hour},
	{"4h", "4 hours", 4 * time.Hour},
	{"1d", "1 day", 24 * time.Hour},
	{"0", "until unlocked", 0},
}

// lockFormView is the lock form, starting with app ("": the whole
// environment) in env.
func lockFormView(apps []*queue.App, channel, app, env string) slackgo.ModalViewRequest {
	var envs, appOpts, durations []*slackgo.OptionBlockObject
	for _, e := range envNames(apps)[:min(len(envNames(apps)), maxOptions)] {
		envs = append(envs, option(e, e))
	}
	appOpts = append(appOpts, option(wholeEnv, "Whole environment"))
	for _, a := range apps[:min(len(apps), maxOptions-1)] {
		appOpts = append(appOpts, option(a.Name, a.Name))
	}
	if app == "" {
		app = wholeEnv
	}
	for _, d := range lockDurations {
		durations = append(durations, option(d.value, d.text))
	}
	blocks := []slackgo.Block{
		input(blockLockEnv, "Environment", "", staticSelect(actionLockEnv, "Choose an environment", envs, env), false),
		input(blockLockApp, "App", "", staticSelect(actionLockApp, "Whole environment", appOpts, app), true),
		input(blockLockReason, "Reason", "Others see it when their deploy is refused", textInput(actionLockWhy, "", queue.MaxReason), false),
		input(blockLockFor, "For", "", staticSelect(actionLockFor, "How long", durations, "0"), false),
	}
	return slackgo.ModalViewRequest{Type: slackgo.VTModal, CallbackID: CallbackLock, PrivateMetadata: channel,
		Title: plain("Lock"), Submit: plain("Lock"), Close: plain("Cancel"), Blocks: slackgo.Blocks{BlockSet: blocks}}
}

// openLockForm opens the lock form. channel is where the lock's card goes
// ("": the user's DM).
func (a *Adapter) openLockForm(trigger, channel, app, env string) error {
	_, err := a.openView(trigger, lockFormView(a.svc.Apps(), channel, app, env))
	return err
}

// submitLock carries out a lock form as `lock APP in ENV for DURATION:
// reason` typed by its user: the same rules, and the lock's card as the
// answer. A refusal is shown under its field: the reason's, the app's for
// an app that is not in the environment, else the environment's.
func (a *Adapter) submitLock(cb slackgo.InteractionCallback) *slackgo.ViewSubmissionResponse {
	apps, v := a.svc.Apps(), cb.View
	c := bot.Command{Verb: "lock", Env: chosen(v, blockLockEnv, actionLockEnv), App: chosen(v, blockLockApp, actionLockApp)}
	if c.App == wholeEnv {
		c.App = ""
	}
	raw, _ := typed(v, blockLockReason, actionLockWhy, queue.MaxReason)
	reason, err := queue.CleanReason(raw)
	switch {
	case !queue.ValidName(c.Env):
		return errorsOn(blockLockEnv, "Choose an environment")
	case c.App != "" && (findApp(apps, c.App) == nil || findApp(apps, c.App).Env(c.Env) == nil):
		return errorsOn(blockLockApp, fmt.Sprintf("%s is not deployed to %s", c.App, c.Env))
	case err != nil:
		return errorsOn(blockLockReason, queue.ErrorMessage(err))
	case reason == "":
		return errorsOn(blockLockReason, "Say why: others see it when their deploy is refused")
	}
	c.Reason = reason
	known := false
	for _, d := range lockDurations {
		if d.value == chosen(v, blockLockFor, actionLockFor) {
			c.Duration, known = d.d, true
		}
	}
	if !known {
		return errorsOn(blockLockFor, "Choose how long")
	}
	channel := formChannel(v.PrivateMetadata)
	place := replyPlace(channel, cb.User.ID)
	m, refused := a.from(cb.User.ID, place, "")
	if refused != nil {
		return errorsOn(blockLockEnv, refused.Text)
	}
	key := deliveryKey("view", cb.TriggerID)
	if !a.fresh(key) {
		return nil
	}
	r, ok := a.inTime(func() (bot.Reply, bool) {
		r, ran := a.once(key, func(ctx context.Context) bot.Reply { return a.bot.Do(ctx, c, m) })
		if ran && r.Err == nil {
			a.answer(cb.User.ID, place, "", r) // the lock's card
		}
		return r, ran
	}, func(r bot.Reply) {
		if r.Err != nil {
			a.tell(cb.User.ID, channel, r.Text)
		}
	})
	if !ok || r.Err == nil {
		return nil
	}
	return errorsOn(blockLockEnv, r.Text)
}
