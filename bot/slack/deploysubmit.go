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

// openDeployForm opens the deploy form for a Slack user (the first app,
// its default environment and ref) and then shows its preview. channel
// is where the deploy's message goes ("": the user's DM).
func (a *Adapter) openDeployForm(trigger, channel, user string) error {
	apps := a.formApps(user)
	f := withDefaults(apps, deployForm{Channel: channel})
	f.Preview = previewing
	v, err := a.openView(trigger, deployFormView(apps, f))
	if err != nil {
		return err
	}
	a.later(func() { a.showDeployForm(v.ID, v.Hash, f, apps) })
	return nil
}

// formApps are the apps, each with the environments the Slack user may
// deploy to, that a deploy form offers them; every app when who they are
// cannot be said (the rules decide on submit).
func (a *Adapter) formApps(user string) []*queue.App {
	all := a.svc.Apps()
	name, err := a.who(a.ctx, user)
	if err != nil {
		return all
	}
	var out []*queue.App
	for _, app := range all {
		c := *app
		c.Environments = nil
		for _, e := range app.Environments {
			if a.svc.MayDeploy(a.ctx, app.Name, e.Name, name) {
				c.Environments = append(c.Environments, e)
			}
		}
		if len(c.Environments) > 0 {
			if c.Env(c.DefaultEnv) == nil {
				c.DefaultEnv = c.Environments[0].Name
			}
			out = append(out, &c)
		}
	}
	return out
}

// refreshDeployForm shows the fields and the preview of the app and
// environment chosen in a deploy form.
func (a *Adapter) refreshDeployForm(v slackgo.View, user string) {
	if !tokenRe.MatchString(v.Hash) {
		return
	}
	apps := a.formApps(user)
	a.showDeployForm(v.ID, v.Hash, withDefaults(apps, readDeployForm(apps, v)), apps)
}

// showDeployForm updates the form to f with its preview. hash is the
// view's as last seen: when the form changed since, Slack refuses the
// update, and the change shows its own.
func (a *Adapter) showDeployForm(viewID, hash string, f deployForm, apps []*queue.App) {
	sha, current, compare, commits, err := a.svc.Preview(a.ctx, f.App, f.Env, f.Ref)
	f.Preview = previewText(f.Env, sha, current, compare, commits, err)
	if _, err := a.api.UpdateViewContext(a.ctx, deployFormView(apps, f), "", hash, viewID); err != nil {
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
	if env.Confirm && !f.Confirmed {
		return errorsOn(confirmBlock(app.Name, env.Name), "Tick this to deploy to "+env.Name)
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
