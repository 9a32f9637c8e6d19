package slack

import (
	"context"
	"strings"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/queue"
	slackgo "github.com/slack-go/slack"
)

// Opening the deploy form, changing it, and carrying it out as the typed
// deploy command.

// previewing is the preview a form shows until its preview is known.
const previewing = "Looking up what this deploy brings…"

// openDeployForm opens the deploy form (the first app, its default
// environment and ref) and then shows its preview. channel is where the
// deploy's message goes ("": the user's DM).
func (a *Adapter) openDeployForm(trigger, channel string) error {
	f := withDefaults(a.svc.Apps(), deployForm{Channel: channel})
	f.Preview = previewing
	v, err := a.openView(trigger, deployFormView(a.svc.Apps(), f))
	if err != nil {
		return err
	}
	a.later(func() { a.showDeployForm(v.ID, v.Hash, f) })
	return nil
}

// refreshDeployForm shows the fields and the preview of the app and
// environment chosen in a deploy form.
func (a *Adapter) refreshDeployForm(v slackgo.View) {
	if !tokenRe.MatchString(v.Hash) {
		return
	}
	a.showDeployForm(v.ID, v.Hash, withDefaults(a.svc.Apps(), readDeployForm(a.svc.Apps(), v)))
}

// showDeployForm updates the form to f with its preview. hash is the
// view's as last seen: when the form changed since, Slack refuses the
// update, and the change shows its own.
func (a *Adapter) showDeployForm(viewID, hash string, f deployForm) {
	sha, current, compare, commits, err := a.svc.Preview(a.ctx, f.App, f.Env, f.Ref)
	f.Preview = previewText(f.Env, sha, current, compare, commits, err)
	if _, err := a.api.UpdateViewContext(a.ctx, deployFormView(a.svc.Apps(), f), "", hash, viewID); err != nil {
		a.log.Info("slack: views.update", "view", viewID, "err", a.checked(err))
	}
}

// submitDeploy carries out a deploy form as `deploy APP@REF to ENV with
// NAME=VALUE ...` typed by its user: the same request, rules and
// message. A refusal is shown under the field it is about: the ref's, a
// parameter's, else the environment's.
func (a *Adapter) submitDeploy(cb slackgo.InteractionCallback) *slackgo.ViewSubmissionResponse {
	apps := a.svc.Apps()
	f := readDeployForm(apps, cb.View)
	app := findApp(apps, f.App)
	if app == nil {
		return errorsOn(blockApp, "Choose an app")
	}
	env := app.Env(f.Env)
	if env == nil || env.Name != f.Env {
		return errorsOn(envBlock(app.Name), "Choose an environment")
	}
	if f.Ref != "" && !queue.ValidRef(f.Ref) {
		return errorsOn(refBlock(app.Name), "Not a ref: use a branch, a tag or a sha")
	}
	params := map[string]string{}
	for _, p := range env.Params {
		v := f.Params[p.Name]
		switch {
		case v == "" && p.Required && p.Default == "":
			return errorsOn(paramBlock(app.Name, env.Name, p.Name), p.Name+" is required in "+env.Name)
		case v == "":
			continue // the queue fills in its default
		}
		if _, err := queue.CheckParam(p, v); err != nil {
			return errorsOn(paramBlock(app.Name, env.Name, p.Name), queue.ErrorMessage(err))
		}
		params[p.Name] = v
	}
	place := replyPlace(f.Channel, cb.User.ID)
	m, refused := a.from(cb.User.ID, place, "")
	if refused != nil {
		return errorsOn(envBlock(app.Name), refused.Text)
	}
	key := deliveryKey("view", cb.TriggerID)
	if !a.fresh(key) {
		return nil
	}
	c := bot.Command{Verb: "deploy", App: app.Name, Env: env.Name, Ref: f.Ref, Params: params}
	r, ok := a.inTime(func() (bot.Reply, bool) {
		return a.once(key, func(ctx context.Context) bot.Reply { return a.bot.Do(ctx, c, m) })
	}, func(r bot.Reply) {
		if r.Err != nil {
			a.tell(cb.User.ID, f.Channel, r.Text)
		}
	})
	if !ok || r.Err == nil {
		return nil // the deploy's own message answers
	}
	block := envBlock(app.Name)
	if queue.ErrorCode(r.Err) == queue.EInvalid { // the form checked all else: the ref did not resolve
		block = refBlock(app.Name)
	}
	return errorsOn(block, strings.TrimSpace(r.Text))
}
