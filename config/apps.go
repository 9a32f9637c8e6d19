package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	"gopkg.in/yaml.v3"
)

func (d *decoder) buildApps(root *yaml.Node, fc *fileConfig, kinds Kinds) []*queue.App {
	var apps []*queue.App
	byName := map[string]*queue.App{}
	for i, ac := range fc.Apps {
		n := find(root, "apps", i)
		key := fmt.Sprintf("apps[%s]", itemName(n, i))
		if !queue.ValidName(ac.Name) {
			d.fail(n, key+".name", "want a name of lower-case letters, digits, '-', '_' or '.', got %q", ac.Name)
		}
		if byName[ac.Name] != nil {
			d.fail(n, key+".name", "duplicate app %q", ac.Name)
			continue
		}
		if ac.Repo != "" && strings.Count(ac.Repo, "/") != 1 {
			d.fail(find(n, "repo"), key+".repo", "want owner/name, got %q", ac.Repo)
		}
		if ac.DefaultRef == "" {
			ac.DefaultRef = "main"
		}
		if !queue.ValidRef(ac.DefaultRef) {
			d.fail(find(n, "default_ref"), key+".default_ref", "invalid ref %q", ac.DefaultRef)
		}
		app := &queue.App{Name: ac.Name, Repo: ac.Repo, Git: ac.Git, DefaultRef: ac.DefaultRef, DefaultEnv: ac.DefaultEnv}
		for j, ec := range ac.Environments {
			en := find(n, "environments", j)
			ekey := fmt.Sprintf("%s.environments[%s]", key, itemName(en, j))
			if len(ec.Apps) > 0 {
				d.fail(find(en, "apps"), ekey+".apps", "apps is only for top-level environments")
			}
			d.addEnv(app, ec, en, ekey, kinds)
			d.notifySinks(ec.Notify, find(en, "notify"), ekey+".notify", app.Name, ec.Name)
		}
		apps = append(apps, app)
		byName[app.Name] = app
	}
	for i, ec := range fc.Environments {
		en := find(root, "environments", i)
		key := fmt.Sprintf("environments[%s]", itemName(en, i))
		if len(ec.Apps) == 0 {
			d.fail(en, key+".apps", "list the apps that deploy to %q", ec.Name)
		}
		d.notifySinks(ec.Notify, find(en, "notify"), key+".notify", "", ec.Name)
		for j, name := range ec.Apps {
			app := byName[name]
			if app == nil {
				d.fail(find(en, "apps", j), key+".apps", "unknown app %q", name)
				continue
			}
			d.addEnv(app, ec, en, key, kinds)
		}
	}
	for i, app := range apps {
		n := find(root, "apps", i)
		key := fmt.Sprintf("apps[%s]", app.Name)
		if len(app.Environments) == 0 {
			d.fail(n, key+".environments", "%s has no environments", app.Name)
			continue
		}
		if app.DefaultEnv == "" {
			app.DefaultEnv = app.Environments[0].Name
		}
		if app.Env(app.DefaultEnv) == nil {
			d.fail(find(n, "default_env"), key+".default_env", "%s has no environment %q", app.Name, app.DefaultEnv)
		}
	}
	d.checkAliases(apps)
	return apps
}

func (d *decoder) addEnv(app *queue.App, ec envConfig, n *yaml.Node, key string, kinds Kinds) {
	if !queue.ValidName(ec.Name) {
		d.fail(n, key+".name", "want a name of lower-case letters, digits, '-', '_' or '.', got %q", ec.Name)
	}
	for _, e := range app.Environments {
		if e.Name == ec.Name {
			d.fail(n, key+".name", "%s has environment %q twice", app.Name, ec.Name)
			return
		}
	}
	settings := d.runnerSettings(app, ec, n, key, kinds)
	for i, on := range ec.AutoDeploy.On {
		if on != "push" && on != "merge" {
			d.fail(find(n, "auto_deploy", "on", i), key+".auto_deploy.on", "want push or merge, got %q", on)
		}
	}
	if b := ec.AutoDeploy.Branch; b != "" && !queue.ValidRef(b) {
		d.fail(find(n, "auto_deploy", "branch"), key+".auto_deploy.branch", "invalid branch %q", b)
	}
	windows := d.freezeWindows(ec.Freeze, find(n, "freeze"), key+".freeze")
	params := d.params(ec.Parameters, n, key)
	if ec.Approvals.Required < 0 {
		d.fail(find(n, "approvals", "required"), key+".approvals.required", "cannot be negative")
	}
	for i, alias := range ec.Aliases {
		if !queue.ValidName(alias) {
			d.fail(closest(n, "aliases", i), fmt.Sprintf("%s.aliases[%d]", key, i),
				"want a name of lower-case letters, digits, '-', '_' or '.', got %q", alias)
		}
	}
	env := &queue.Environment{Name: ec.Name, Runner: ec.Runner, Aliases: ec.Aliases, RequireExplicit: ec.RequireExplicit,
		Admins: ec.Admins, Freeze: windows, Promote: d.promotion(ec, n, key),
		Approvals: queue.Approvals{Required: ec.Approvals.Required, From: ec.Approvals.From, Timeout: ec.ApprovalTTL},
		Settings:  settings, Timeout: ec.Timeout, IdleTimeout: ec.IdleTimeout, LogCap: int64(ec.LogCap),
		LogRetention: d.logsKept,
		AutoDeploy:   queue.AutoDeploy{On: ec.AutoDeploy.On, Branch: ec.AutoDeploy.Branch},
		Params:       params,
		PRDeploys: queue.PRDeploys{Allow: ec.PRDeploys.Allow, RequireChecks: ec.PRDeploys.RequireChecks, RequireReview: ec.PRDeploys.RequireReview,
			RefuseBehind: ec.PRDeploys.RefuseBehind, StickyLock: ec.PRDeploys.StickyLock},
		Deployers: ec.Deployers, Lockers: ec.Lockers, RequiredContexts: ec.Required, ChecksTimeout: ec.ChecksWait,
		URL: d.envURL(app, ec, n, key)}
	env.Verify = d.verify(ec.Verify, n, app, ec.Name, key)
	env.Confirm = ec.Confirm
	if ec.Retention != nil {
		env.LogRetention = d.retention(ec.Retention, find(n, "retention"), key+".retention")
	}
	app.Environments = append(app.Environments, env)
	if d.sites == nil {
		d.sites = map[*queue.Environment]envSite{}
	}
	d.sites[env] = envSite{n: n, key: key}
}

// runnerSettings decodes and validates the settings of the
// environment's runner, under the runner's name; nil when they cannot be.
func (d *decoder) runnerSettings(app *queue.App, ec envConfig, n *yaml.Node, key string, kinds Kinds) any {
	newSettings, ok := kinds[ec.Runner]
	if !ok {
		var names []string
		for k := range kinds {
			names = append(names, k)
		}
		if ec.Runner == "" {
			d.fail(n, key+".runner", "runner is required (runners: %s)", strings.Join(sortedStrings(names), ", "))
		} else {
			d.fail(closest(n, "runner"), key+".runner", "unknown runner %q (runners: %s)", ec.Runner, strings.Join(sortedStrings(names), ", "))
		}
		return nil
	}
	var settings any
	keys := make([]string, 0, len(ec.Rest))
	for k := range ec.Rest {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return ec.Rest[keys[i]].Line < ec.Rest[keys[j]].Line })
	for _, k := range keys {
		v := ec.Rest[k]
		if k == ec.Runner {
			settings = newSettings()
			if !d.decode(v, reflect.ValueOf(settings), key+"."+k) {
				return nil
			}
			continue
		}
		if _, isKind := kinds[k]; isKind {
			d.fail(v, key+"."+k, "settings for runner %s, but the runner is %s", k, ec.Runner)
			continue
		}
		_, _, known := yamlFields(reflect.TypeOf(ec))
		d.fail(v, key+"."+k, "unknown key (known: %s)", strings.Join(sortedStrings(append(known, ec.Runner)), ", "))
	}
	if settings == nil {
		if s := newSettings(); isOptional(s) {
			settings = s
		} else {
			d.fail(n, key+"."+ec.Runner, "the %s runner needs its settings under %q", ec.Runner, ec.Runner)
			return nil
		}
	}
	at := ec.Rest[ec.Runner]
	if at == nil { // settings left out: they have defaults
		at = closest(n, "runner")
	}
	if v, ok := settings.(Validator); ok {
		d.failEach(at, key+"."+ec.Runner, v.Validate())
	}
	if v, ok := settings.(AppValidator); ok {
		d.failEach(at, key+"."+ec.Runner, v.ValidateApp(app))
	}
	return settings
}

// promotion reads the environment's promotion rule; its schedule is read
// in its zone.
func (d *decoder) promotion(ec envConfig, n *yaml.Node, key string) *queue.Promotion {
	p := ec.Promote
	if p == nil {
		return nil
	}
	if p.When != "" && p.When != "success" {
		d.fail(find(n, "promote", "when"), key+".promote.when", "want success, got %q", p.When)
	}
	if !queue.ValidName(p.To) || p.To == ec.Name {
		d.fail(closest(n, "promote", "to"), key+".promote.to", "want another environment's name, got %q", p.To)
	}
	loc := d.zone(p.TZ, closest(n, "promote", "tz"), key+".promote.tz")
	promote := &queue.Promotion{To: p.To, Soak: p.Soak, Spec: p.Schedule, Location: loc}
	if p.Schedule != "" {
		promote.Schedule = d.schedule(p.Schedule, loc, closest(n, "promote", "schedule"), key+".promote.schedule")
	}
	return promote
}

var placeholderRe = regexp.MustCompile(`\{[^{}]*\}`)

// envURL fills {app} and {env} in the environment's URL; any other
// placeholder is an error.
func (d *decoder) envURL(app *queue.App, ec envConfig, n *yaml.Node, key string) string {
	for _, p := range placeholderRe.FindAllString(ec.URL, -1) {
		if p != "{app}" && p != "{env}" {
			d.fail(closest(n, "url"), key+".url", "unknown placeholder %s (known: {app} {env})", p)
		}
	}
	return strings.NewReplacer("{app}", app.Name, "{env}", ec.Name).Replace(ec.URL)
}

// checkAliases checks that each alias names one environment: not the name
// of an environment (of any app: lock, freeze and queue take an
// environment alone), and the same environment in every app that has it.
func (d *decoder) checkAliases(apps []*queue.App) {
	names := map[string]string{} // environment name -> an app that has it
	for _, a := range apps {
		for _, e := range a.Environments {
			names[e.Name] = a.Name
		}
	}
	type meaning struct{ app, env string }
	means := map[string]meaning{}
	for _, a := range apps {
		for _, e := range a.Environments {
			site := d.sites[e]
			for i, alias := range e.Aliases {
				at, key := closest(site.n, "aliases", i), fmt.Sprintf("%s.aliases[%d]", site.key, i)
				m, taken := means[alias]
				switch {
				case names[alias] != "":
					d.fail(at, key, "%q is the name of an environment (of %s)", alias, names[alias])
				case taken && m.env != e.Name:
					d.fail(at, key, "%q already stands for %s (of %s): an alias names one environment", alias, m.env, m.app)
				case taken && m.app == a.Name:
					d.fail(at, key, "%q is given twice", alias)
				default:
					means[alias] = meaning{a.Name, e.Name}
				}
			}
		}
	}
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}

// retention reads a retention section: how long logs are kept (0:
// forever). Deploy records are kept forever.
func (d *decoder) retention(r *retention, n *yaml.Node, key string) time.Duration {
	if r.Deploys != "" && r.Deploys != "forever" {
		d.fail(orNode(find(n, "deploys"), n), key+".deploys", "deploy records are kept forever (write forever, or leave it out): only logs are pruned")
	}
	if r.Logs == "" || r.Logs == "forever" {
		return 0
	}
	dur, err := queue.ParseDuration(r.Logs)
	if err != nil || dur <= 0 {
		d.fail(orNode(find(n, "logs"), n), key+".logs", "want a duration such as 90d, or forever, got %q", r.Logs)
		return 0
	}
	return dur
}

func orNode(n, or *yaml.Node) *yaml.Node {
	if n != nil {
		return n
	}
	return or
}

// isOptional reports whether runner settings may be left out: all they
// hold has a default.
func isOptional(settings any) bool {
	_, ok := settings.(interface{ Optional() })
	return ok
}

// params reads an environment's typed deploy parameters.
func (d *decoder) params(pcs []paramConfig, n *yaml.Node, key string) []queue.Param {
	var out []queue.Param
	seen := map[string]bool{}
	for i, pc := range pcs {
		at := closest(n, "parameters", i)
		pkey := fmt.Sprintf("%s.parameters[%d]", key, i)
		p := queue.Param{Name: pc.Name, Type: pc.Type, Default: pc.Default, Values: pc.Values, Required: pc.Required, Max: pc.Max}
		if p.Type == "" {
			p.Type = "string"
		}
		switch {
		case !queue.ValidParamName(p.Name):
			d.fail(at, pkey+".name", "want a name of lower-case letters, digits and _ (a letter first), got %q", p.Name)
			continue
		case seen[p.Name]:
			d.fail(at, pkey+".name", "parameter %q twice", p.Name)
			continue
		case !slices.Contains(queue.ParamTypes, p.Type):
			d.fail(at, pkey+".type", "want %s, got %q", strings.Join(queue.ParamTypes, ", "), p.Type)
			continue
		case p.Type == "enum" && len(p.Values) == 0:
			d.fail(at, pkey+".values", "an enum lists its values")
			continue
		case p.Type != "enum" && len(p.Values) > 0:
			d.fail(at, pkey+".values", "only an enum has values")
			continue
		case p.Max < 0 || p.Max > 0 && p.Type != "string":
			d.fail(at, pkey+".max", "max is for a string, at least 1")
			continue
		}
		if p.Default != "" {
			if _, err := queue.CheckParam(p, p.Default); err != nil {
				d.fail(at, pkey+".default", "%s", queue.ErrorMessage(err))
				continue
			}
		}
		seen[p.Name] = true
		out = append(out, p)
	}
	return out
}
