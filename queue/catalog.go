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
	apps []*App
	envs map[string]bool
}

func newCatalog(apps []*App, runners map[string]Runner) (*catalog, error) {
	c := &catalog{apps: apps, envs: map[string]bool{}}
	for _, a := range apps {
		for _, e := range a.Environments {
			if _, ok := runners[e.Runner]; !ok {
				return nil, fmt.Errorf("queue: %s/%s: no runner of kind %q", a.Name, e.Name, e.Runner)
			}
			c.envs[e.Name] = true
		}
	}
	return c, nil
}

// lookup returns an app and one of its environments; an empty env means
// the app's default. ENotFound names what exists.
func (c *catalog) lookup(appName, envName string) (*App, *Environment, error) {
	var app *App
	for _, a := range c.apps {
		if a.Name == appName {
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

// known returns ENotFound for an environment no app has.
func (c *catalog) known(env string) error {
	if !c.envs[env] {
		return Errorf(ENotFound, "unknown environment %q", env)
	}
	return nil
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
