package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/deployq/deployq/queue"
	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

func (d *decoder) buildApps(root *yaml.Node, fc *fileConfig, kinds Kinds) ([]*queue.App, error) {
	var apps []*queue.App
	byName := map[string]*queue.App{}
	for i, ac := range fc.Apps {
		n := find(root, "apps", i)
		key := fmt.Sprintf("apps[%s]", itemName(n, i))
		if !queue.ValidName(ac.Name) {
			return nil, d.errf(n, key+".name", "want a name of lower-case letters, digits, '-', '_' or '.', got %q", ac.Name)
		}
		if byName[ac.Name] != nil {
			return nil, d.errf(n, key+".name", "duplicate app %q", ac.Name)
		}
		if ac.Repo != "" && strings.Count(ac.Repo, "/") != 1 {
			return nil, d.errf(find(n, "repo"), key+".repo", "want owner/name, got %q", ac.Repo)
		}
		if ac.DefaultRef == "" {
			ac.DefaultRef = "main"
		}
		if !queue.ValidRef(ac.DefaultRef) {
			return nil, d.errf(find(n, "default_ref"), key+".default_ref", "invalid ref %q", ac.DefaultRef)
		}
		app := &queue.App{Name: ac.Name, Repo: ac.Repo, Git: ac.Git, DefaultRef: ac.DefaultRef, DefaultEnv: ac.DefaultEnv}
		for j, ec := range ac.Environments {
			en := find(n, "environments", j)
			ekey := fmt.Sprintf("%s.environments[%s]", key, itemName(en, j))
			if len(ec.Apps) > 0 {
				return nil, d.errf(find(en, "apps"), ekey+".apps", "apps is only for top-level environments")
			}
			if err := d.addEnv(app, ec, en, ekey, kinds); err != nil {
				return nil, err
			}
		}
		apps = append(apps, app)
		byName[app.Name] = app
	}
	for i, ec := range fc.Environments {
		en := find(root, "environments", i)
		key := fmt.Sprintf("environments[%s]", itemName(en, i))
		if len(ec.Apps) == 0 {
			return nil, d.errf(en, key+".apps", "list the apps that deploy to %q", ec.Name)
		}
		for j, name := range ec.Apps {
			app := byName[name]
			if app == nil {
				return nil, d.errf(find(en, "apps", j), key+".apps", "unknown app %q", name)
			}
			if err := d.addEnv(app, ec, en, key, kinds); err != nil {
				return nil, err
			}
		}
	}
	for i, app := range apps {
		n := find(root, "apps", i)
		key := fmt.Sprintf("apps[%s]", app.Name)
		if len(app.Environments) == 0 {
			return nil, d.errf(n, key+".environments", "%s has no environments", app.Name)
		}
		if app.DefaultEnv == "" {
			app.DefaultEnv = app.Environments[0].Name
		}
		if app.Env(app.DefaultEnv) == nil {
			return nil, d.errf(find(n, "default_env"), key+".default_env", "%s has no environment %q", app.Name, app.DefaultEnv)
		}
	}
	return apps, nil
}

func (d *decoder) addEnv(app *queue.App, ec envConfig, n *yaml.Node, key string, kinds Kinds) error {
	if !queue.ValidName(ec.Name) {
		return d.errf(n, key+".name", "want a name of lower-case letters, digits, '-', '_' or '.', got %q", ec.Name)
	}
	if app.Env(ec.Name) != nil {
		return d.errf(n, key+".name", "%s has environment %q twice", app.Name, ec.Name)
	}
	newSettings, ok := kinds[ec.Runner]
	if !ok {
		var names []string
		for k := range kinds {
			names = append(names, k)
		}
		at := find(n, "runner")
		if at == nil {
			at = n
		}
		return d.errf(at, key+".runner", "unknown runner %q (runners: %s)", ec.Runner, strings.Join(sortedStrings(names), ", "))
	}
	var settings any
	for k, v := range ec.Rest {
		if k != ec.Runner {
			if _, isKind := kinds[k]; isKind {
				return d.errf(v, key+"."+k, "settings for runner %s, but the runner is %s", k, ec.Runner)
			}
			return d.errf(v, key+"."+k, "unknown key (known: name, runner, %s, timeout, idle_timeout, auto_deploy, deployers, lockers, admins, required_contexts, checks_timeout, approvals, approval_timeout, freeze, promote, url)", ec.Runner)
		}
		settings = newSettings()
		if err := d.decode(v, reflect.ValueOf(settings), key+"."+k); err != nil {
			return err
		}
	}
	if settings == nil {
		return d.errf(n, key+"."+ec.Runner, "the %s runner needs its settings under %q", ec.Runner, ec.Runner)
	}
	for i, on := range ec.AutoDeploy.On {
		if on != "push" && on != "merge" {
			return d.errf(find(n, "auto_deploy", "on", i), key+".auto_deploy.on", "want push or merge, got %q", on)
		}
	}
	if b := ec.AutoDeploy.Branch; b != "" && !queue.ValidRef(b) {
		return d.errf(find(n, "auto_deploy", "branch"), key+".auto_deploy.branch", "invalid branch %q", b)
	}
	if v, ok := settings.(Validator); ok {
		if err := v.Validate(); err != nil {
			return d.errf(ec.Rest[ec.Runner], key+"."+ec.Runner, "%s", err)
		}
	}
	windows, err := d.freezeWindows(ec.Freeze, find(n, "freeze"), key+".freeze")
	if err != nil {
		return err
	}
	if ec.Approvals.Required < 0 {
		return d.errf(find(n, "approvals", "required"), key+".approvals.required", "cannot be negative")
	}
	var promote *queue.Promotion
	if p := ec.Promote; p != nil {
		if p.When != "" && p.When != "success" {
			return d.errf(find(n, "promote", "when"), key+".promote.when", "want success, got %q", p.When)
		}
		if !queue.ValidName(p.To) || p.To == ec.Name {
			return d.errf(find(n, "promote", "to"), key+".promote.to", "want another environment's name, got %q", p.To)
		}
		promote = &queue.Promotion{To: p.To, Soak: p.Soak, Spec: p.Schedule}
		if p.Schedule != "" {
			sched, err := cron.ParseStandard(p.Schedule)
			if err != nil {
				return d.errf(find(n, "promote", "schedule"), key+".promote.schedule", "bad cron expression %q: %v", p.Schedule, err)
			}
			promote.Schedule = sched
		}
	}
	app.Environments = append(app.Environments, &queue.Environment{Name: ec.Name, Runner: ec.Runner,
		Admins: ec.Admins, Freeze: windows, Promote: promote,
		Approvals: queue.Approvals{Required: ec.Approvals.Required, From: ec.Approvals.From, Timeout: ec.ApprovalTTL},
		Settings:  settings, Timeout: ec.Timeout, IdleTimeout: ec.IdleTimeout, LogCap: int64(ec.LogCap),
		AutoDeploy: queue.AutoDeploy{On: ec.AutoDeploy.On, Branch: ec.AutoDeploy.Branch},
		Deployers:  ec.Deployers, Lockers: ec.Lockers, RequiredContexts: ec.Required, ChecksTimeout: ec.ChecksWait,
		URL: strings.ReplaceAll(ec.URL, "{app}", app.Name)})
	return nil
}

// freezeWindows parses freeze windows: a cron expression (when each
// starts), a duration and a reason.
func (d *decoder) freezeWindows(fcs []freezeConfig, n *yaml.Node, key string) ([]queue.FreezeWindow, error) {
	var out []queue.FreezeWindow
	for i, f := range fcs {
		at := find(n, i)
		if at == nil {
			at = n
		}
		sched, err := cron.ParseStandard(f.Cron)
		if err != nil {
			return nil, d.errf(at, fmt.Sprintf("%s[%d].cron", key, i), "bad cron expression %q: %v", f.Cron, err)
		}
		if f.Duration <= 0 {
			return nil, d.errf(at, fmt.Sprintf("%s[%d].duration", key, i), "a freeze window needs a duration, e.g. 62h")
		}
		out = append(out, queue.FreezeWindow{Spec: f.Cron, Schedule: sched, Duration: f.Duration, Reason: f.Reason})
	}
	return out, nil
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}
