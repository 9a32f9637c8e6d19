package queue

import (
	"fmt"
	"strings"
)

// laneKey names one app in one environment: a lane of the queue.
type laneKey struct{ app, env string }

func (k laneKey) String() string { return k.app + "/" + k.env }

func laneOf(d *Deploy) laneKey { return laneKey{d.App, d.Env} }

// catalog is the configured apps and environments, read-only once built.
type catalog struct {
	apps   []*App
	byName map[string]*App
	envs   map[string]string // an environment's name or alias -> its name
}

func newCatalog(apps []*App, runners map[string]Runner) (*catalog, error) {
	c := &catalog{apps: apps, byName: map[string]*App{}, envs: map[string]string{}}
	for _, a := range apps {
		c.byName[a.Name] = a
		for _, e := range a.Environments {
			if _, ok := runners[e.Runner]; !ok {
				return nil, fmt.Errorf("queue: %s/%s: no runner of kind %q", a.Name, e.Name, e.Runner)
			}
			c.envs[e.Name] = e.Name
			for _, alias := range e.Aliases {
				if _, taken := c.envs[alias]; !taken {
					c.envs[alias] = e.Name
				}
			}
		}
	}
	return c, nil
}

// lookup returns an app and one of its environments; an empty env means
// the app's default. ENotFound names what exists.
func (c *catalog) lookup(appName, envName string) (*App, *Environment, error) {
	app := c.byName[appName]
	for _, a := range c.apps { // owner/repo names the app of that repo
		if app == nil && a.Repo != "" && strings.EqualFold(a.Repo, appName) {
			app = a
		}
	}
	if app == nil {
		var names []string
		for _, a := range c.apps {
			names = append(names, a.Name)
		}
		return nil, nil, Errorf(ENotFound, "unknown app %q (apps: %s)", appName, strings.Join(names, ", "))
	}
	if envName == "" {
		envName = app.DefaultEnv
	}
	env := app.Env(envName)
	if env == nil {
		var names []string
		for _, e := range app.Environments {
			names = append(names, e.Name)
		}
		return nil, nil, Errorf(ENotFound, "%s has no environment %q (environments: %s)", app.Name, envName, strings.Join(names, ", "))
	}
	return app, env, nil
}

// target is lookup for what changes an environment (a deploy, a
// rollback, an operation): an environment that must be named is never
// taken as the app's default (EInvalid).
func (c *catalog) target(appName, envName string) (*App, *Environment, error) {
	app, env, err := c.lookup(appName, envName)
	if err == nil && envName == "" && env.RequireExplicit {
		return nil, nil, Errorf(EInvalid, "say where: %s's default environment %s must be named (deploy %s to %s)", app.Name, env.Name, app.Name, env.Name)
	}
	return app, env, err
}

// known returns the name of an environment given by name or alias, or
// ENotFound for one no app has.
func (c *catalog) known(env string) (string, error) {
	name, ok := c.envs[env]
	if !ok {
		return "", Errorf(ENotFound, "unknown environment %q", env)
	}
	return name, nil
}

// env returns the first configuration of an environment by name (every
// app has its own copy), or nil.
func (c *catalog) env(name string) *Environment {
	for _, a := range c.apps {
		if e := a.Env(name); e != nil {
			return e
		}
	}
	return nil
}

// each calls f for every app+env, in config order.
func (c *catalog) each(f func(*App, *Environment)) {
	for _, a := range c.apps {
		for _, e := range a.Environments {
			f(a, e)
		}
	}
}
