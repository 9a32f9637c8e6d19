package slack

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/deployq/deployq/queue"
	slackgo "github.com/slack-go/slack"
)

// The deploy form: one field for each part of `deploy APP@REF to ENV
// with NAME=VALUE ...`, and what the deploy would bring.

// Action ids of the deploy form's fields. Choosing an app or an
// environment changes the form (its environments, parameters, preview).
const (
	ActionFormApp   = "deployq_form_app"
	ActionFormEnv   = "deployq_form_env"
	actionFormRef   = "deployq_form_ref"
	actionFormParam = "deployq_form_param"
	actionFormSure  = "deployq_form_confirm"
)

// Block ids of the deploy form. The environment, ref and parameter fields
// name the app (and environment) they belong to, so that a value chosen
// or typed for one app is not kept in another's field when the form
// changes.
const (
	blockApp     = "app"
	blockPreview = "preview"
)

func envBlock(app string) string               { return "env:" + app }
func refBlock(app string) string               { return "ref:" + app }
func paramBlock(app, env, param string) string { return "param:" + app + ":" + env + ":" + param }
func confirmBlock(app, env string) string      { return "confirm:" + app + ":" + env }

// refSelect is the ref field: a select fed, as the user types, by the
// app's branches and tags and what they typed (refOptions), holding
// initial.
func refSelect(initial string) *slackgo.SelectBlockElement {
	s := slackgo.NewOptionsSelectBlockElement(slackgo.OptTypeExternal, plain("Type a branch, a tag or a sha"), actionFormRef)
	zero := 0
	s.MinQueryLength = &zero
	if initial != "" && len(initial) <= maxOptionValue {
		s.WithInitialOption(option(initial, initial))
	}
	return s
}

// deployForm is what the deploy form shows, and what it holds when sent.
type deployForm struct {
	App, Env, Ref string
	Params        map[string]string // by name; "" when not given
	Confirmed     bool              // the confirmation of an environment with confirm is ticked
	Channel       string            // where the deploy's message goes ("": the user's DM)
	Preview       string            // what the deploy would bring, mrkdwn
}

// deployFormView is the deploy form showing f. An app or environment f
// does not name shows no fields under it.
func deployFormView(apps []*queue.App, f deployForm) slackgo.ModalViewRequest {
	var opts []*slackgo.OptionBlockObject
	for _, a := range apps[:min(len(apps), maxOptions)] {
		opts = append(opts, option(a.Name, a.Name))
	}
	blocks := []slackgo.Block{
		input(blockApp, "App", "", staticSelect(ActionFormApp, "Choose an app", opts, f.App), false).WithDispatchAction(true),
	}
	if app := findApp(apps, f.App); app != nil {
		opts = nil
		for _, e := range app.Environments[:min(len(app.Environments), maxOptions)] {
			opts = append(opts, option(e.Name, e.Name))
		}
		blocks = append(blocks,
			input(envBlock(app.Name), "Environment", "", staticSelect(ActionFormEnv, "Choose an environment", opts, f.Env), false).WithDispatchAction(true),
			input(refBlock(app.Name), "Ref", "A branch or a tag, or type a sha", refSelect(f.Ref), false))
		if env := app.Env(f.Env); env != nil {
			for _, p := range env.Params[:min(len(env.Params), maxBlocks-len(blocks)-2)] {
				blocks = append(blocks, paramField(paramBlock(app.Name, env.Name, p.Name), p, f.Params[p.Name]))
			}
			if env.Confirm {
				sure := option("yes", fmt.Sprintf("I mean to deploy %s to %s", app.Name, env.Name))
				blocks = append(blocks, input(confirmBlock(app.Name, env.Name), "Confirm", "",
					slackgo.NewCheckboxGroupsBlockElement(actionFormSure, sure), false))
			}
		}
	}
	if f.Preview != "" {
		blocks = append(blocks, slackgo.NewContextBlock(blockPreview, mrkdwn(f.Preview)))
	}
	return slackgo.ModalViewRequest{Type: slackgo.VTModal, CallbackID: CallbackDeploy, PrivateMetadata: f.Channel,
		Title: plain("Deploy"), Submit: plain("Deploy"), Close: plain("Cancel"), Blocks: slackgo.Blocks{BlockSet: blocks}}
}

// paramField is the field of a parameter: a checkbox for a bool, a
// select for an enum, text for the others; optional unless the parameter
// is required and has no default.
func paramField(block string, p queue.Param, value string) *slackgo.InputBlock {
	optional := !p.Required || p.Default != ""
	switch {
	case p.Type == "bool":
		yes := option("true", p.Name)
		e := slackgo.NewCheckboxGroupsBlockElement(actionFormParam, yes)
		if value == "true" {
			e.InitialOptions = []*slackgo.OptionBlockObject{yes}
		}
		return input(block, p.Name, "", e, true)
	case p.Type == "enum" && selectable(p.Values):
		var opts []*slackgo.OptionBlockObject
		for _, v := range p.Values {
			opts = append(opts, option(v, v))
		}
		return input(block, p.Name, "", staticSelect(actionFormParam, "Choose", opts, value), optional)
	case p.Type == "int":
		return input(block, p.Name, "A whole number", textInput(actionFormParam, value, 20), optional)
	}
	max := p.Max
	if max <= 0 {
		max = queue.DefaultParamMax
	}
	return input(block, p.Name, "", textInput(actionFormParam, value, min(max, maxSection)), optional)
}

// selectable reports whether values fit a select; others are typed.
func selectable(values []string) bool {
	return len(values) > 0 && len(values) <= maxOptions &&
		!slices.ContainsFunc(values, func(v string) bool { return v == "" || len(v) > maxOptionValue })
}

// readDeployForm is what a deploy form holds: the app and environment
// chosen, the ref typed, and the parameters of that environment ("" for
// a field left empty; a parameter without a field is missing).
func readDeployForm(apps []*queue.App, v slackgo.View) deployForm {
	f := deployForm{Channel: formChannel(v.PrivateMetadata), Params: map[string]string{}}
	f.App = chosen(v, blockApp, ActionFormApp)
	f.Env = chosen(v, envBlock(f.App), ActionFormEnv)
	f.Ref = strings.TrimSpace(chosen(v, refBlock(f.App), actionFormRef))
	app := findApp(apps, f.App)
	if app == nil || app.Env(f.Env) == nil {
		return f
	}
	if s, ok := stateOf(v, confirmBlock(f.App, f.Env), actionFormSure); ok {
		f.Confirmed = slices.ContainsFunc(s.SelectedOptions, func(o slackgo.OptionBlockObject) bool { return o.Value == "yes" })
	}
	for _, p := range app.Env(f.Env).Params {
		block := paramBlock(f.App, f.Env, p.Name)
		s, ok := stateOf(v, block, actionFormParam)
		switch {
		case !ok:
		case p.Type == "bool":
			f.Params[p.Name] = fmt.Sprint(slices.ContainsFunc(s.SelectedOptions, func(o slackgo.OptionBlockObject) bool { return o.Value == "true" }))
		case p.Type == "enum" && selectable(p.Values):
			f.Params[p.Name] = chosen(v, block, actionFormParam)
		default:
			f.Params[p.Name], _ = typed(v, block, actionFormParam, maxSection)
		}
	}
	return f
}

// withDefaults fills in what f leaves out: the first app, the app's
// default environment (else its first), its default ref, and the
// parameters' defaults.
func withDefaults(apps []*queue.App, f deployForm) deployForm {
	app := findApp(apps, f.App)
	if app == nil && len(apps) > 0 {
		app = apps[0]
	}
	if app == nil {
		return f
	}
	f.App = app.Name
	if app.Env(f.Env) == nil || app.Env(f.Env).Name != f.Env {
		f.Env = app.DefaultEnv
		if app.Env(f.Env) == nil && len(app.Environments) > 0 {
			f.Env = app.Environments[0].Name
		}
	}
	if f.Ref == "" {
		f.Ref = app.DefaultRef
	}
	params := map[string]string{}
	if env := app.Env(f.Env); env != nil {
		for _, p := range env.Params {
			v, ok := f.Params[p.Name]
			if !ok {
				v = p.Default
			}
			params[p.Name] = v
		}
	}
	f.Params = params
	return f
}

// previewText says what a deploy of sha brings where current runs:
// "`1111111` → `2222222`, 3 commits: compare", linked.
func previewText(env, sha, current, compare string, commits int, err error) string {
	switch {
	case err != nil:
		return ":warning: " + Escape(queue.ErrorMessage(err))
	case current == "":
		return fmt.Sprintf("Nothing ran in %s yet → `%s`", Escape(env), queue.ShortSHA(sha))
	case current == sha:
		return fmt.Sprintf("`%s` runs in %s already", queue.ShortSHA(sha), Escape(env))
	}
	s := fmt.Sprintf("`%s` → `%s`", queue.ShortSHA(current), queue.ShortSHA(sha))
	if u, perr := url.Parse(compare); compare != "" && perr == nil && (u.Scheme == "https" || u.Scheme == "http") &&
		!strings.ContainsAny(compare, "<>| ") {
		unit := "commits"
		if commits == 1 {
			unit = "commit"
		}
		s += fmt.Sprintf(", %d %s: <%s|compare>", commits, unit, compare)
	}
	return s
}
