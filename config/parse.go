package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/deployq/deployq/queue"
	"gopkg.in/yaml.v3"
)

var yamlLineRe = regexp.MustCompile(`^line (\d+): (.*)$`)

// Load reads and validates the config file at path.
func Load(path string, kinds Kinds) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b, kinds)
}

// Parse reads and validates a config; name is used in errors. Its error
// is Errors: every error found, in file order.
func Parse(name string, data []byte, kinds Kinds) (*Config, error) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		e := &Error{File: name, Msg: msg}
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
		}
		return nil, Errors{e}
	}
	d := &decoder{file: name}
	var fc fileConfig
	if root.Kind != 0 {
		d.expand(&root, "")
		d.decode(&root, reflect.ValueOf(&fc).Elem(), "")
	}
	c := &Config{File: name, Server: fc.Server, Store: fc.Store, Slack: fc.Slack, GitHub: fc.GitHub, Admins: fc.Admins}
	c.Freeze = d.freezeWindows(fc.Freeze, find(&root, "freeze"), "freeze")
	c.People = d.people(&root, fc.People)
	d.validateGitHub(&root, c.GitHub)
	d.validateServer(&root, &c.Server)
	d.validateStore(&root, &c.Store)
	d.validateSlack(&root, c.Slack)
	if fc.Retention != nil {
		d.logsKept = d.retention(fc.Retention, find(&root, "retention"), "retention")
	}
	if fc.Prometheus != nil {
		d.prometheus = fc.Prometheus.URL
	}
	d.notifySinks(fc.Notify, find(&root, "notify"), "notify", "", "")
	c.Apps = d.buildApps(&root, &fc, kinds)
	c.Notify = d.notify
	d.crossCheck(&root, c)
	if len(d.errs) > 0 {
		return nil, d.errs.inFileOrder()
	}
	c.Secrets, c.Warnings = d.secrets, d.warns.inFileOrder()
	return c, nil
}

// crossCheck checks what sections say about each other: promotions to
// environments that exist, checks read from a GitHub deployq can read,
// channels of environments that exist, refs that can resolve.
func (d *decoder) crossCheck(root *yaml.Node, c *Config) {
	for i, a := range c.Apps {
		for _, e := range a.Environments {
			site := d.sites[e]
			if p := e.Promote; p != nil && a.Env(p.To) == nil {
				d.fail(closest(site.n, "promote", "to"), site.key+".promote.to", "%s has no environment %q to promote to", a.Name, p.To)
			}
			if e.Runner == "actions" {
				d.actionsNeeds(root, c, a, e)
			}
			if e.PRDeploys.RequireChecks && (!c.GitHub.HasAPI() || a.Repo == "") {
				d.fail(find(root, "apps", i), fmt.Sprintf("apps[%s].environments[%s].pr_deploys.require_checks", a.Name, e.Name),
					"checks are read from GitHub: set the app's repo and github.token (or a GitHub App)")
			}
			if len(e.RequiredContexts) > 0 && (!c.GitHub.HasAPI() || a.Repo == "") {
				d.fail(find(root, "apps", i), fmt.Sprintf("apps[%s].environments[%s].required_contexts", a.Name, e.Name),
					"checks are read from GitHub: set the app's repo and github.token (or a GitHub App)")
			}
		}
		d.checkRefs(find(root, "apps", i), a, c.GitHub.HasAPI())
	}
	if c.Slack != nil {
		for env := range c.Slack.Channels {
			known := false
			for _, a := range c.Apps {
				known = known || a.Env(env) != nil
			}
			if !known {
				d.fail(find(root, "slack", "channels", env), "slack.channels."+env, "no app has an environment %q", env)
			}
		}
	}
}

// actionsNeeds checks what gating an environment's Actions jobs needs:
// their requests come as webhooks, deployq answers through GitHub's API,
// and GitHub takes the answers only from the App that is the
// environment's protection rule.
func (d *decoder) actionsNeeds(root *yaml.Node, c *Config, a *queue.App, e *queue.Environment) {
	key := fmt.Sprintf("apps[%s].environments[%s].runner", a.Name, e.Name)
	n := d.sites[e].n
	switch {
	case c.GitHub == nil || c.GitHub.WebhookSecret == "":
		d.fail(closest(n, "runner"), key, "the actions runner hears Actions jobs by webhook: set github.webhook_secret, and make deployq's GitHub App the environment's deployment protection rule")
	case !c.GitHub.HasAPI():
		d.fail(closest(n, "runner"), key, "the actions runner answers Actions jobs through GitHub's API: set github.app_id, installation_id and private_key_file (or github.token)")
	case c.GitHub.Token != "":
		d.warn(closest(n, "runner"), key, "GitHub takes the answer to an Actions job only from the App that is the environment's protection rule: with github.token instead of a GitHub App, GitHub may refuse deployq's answers")
	}
}

// checkRefs warns about an app whose refs cannot resolve: refs resolve
// through its git, or through GitHub's API for its repo. Such an app still
// deploys a full sha (from the API, CI, GitHub), so it is no error.
func (d *decoder) checkRefs(n *yaml.Node, a *queue.App, githubAPI bool) {
	key := fmt.Sprintf("apps[%s]", a.Name)
	switch {
	case a.Git != "" || a.Repo != "" && githubAPI:
	case a.Repo == "":
		d.warn(n, key, "%s has neither git nor repo: no ref resolves, so only a full 40-hex sha deploys (deploy %s@SHA); set git (a URL or path) to deploy branches and tags",
			a.Name, a.Name)
	default:
		d.warn(n, key, "%s's repo resolves refs through GitHub's API, which the github section does not give: only a full 40-hex sha deploys; set github.token (or a GitHub App), or the app's git",
			a.Name)
	}
}

// find returns the node at a path of mapping keys and list indexes.
func find(n *yaml.Node, path ...any) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, p := range path {
		if n == nil {
			return nil
		}
		switch p := p.(type) {
		case string:
			var next *yaml.Node
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						next = n.Content[i+1]
					}
				}
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || p >= len(n.Content) {
				return nil
			}
			n = n.Content[p]
		}
	}
	return n
}

// closest returns the node at path, or the deepest one on the way there
// that exists, so that an error about an absent key points at its
// section.
func closest(n *yaml.Node, path ...any) *yaml.Node {
	for len(path) > 0 {
		if at := find(n, path...); at != nil {
			return at
		}
		path = path[:len(path)-1]
	}
	return find(n)
}

// people checks the people section: valid names, each identity claimed
// once.
func (d *decoder) people(root *yaml.Node, pcs []personConfig) *queue.People {
	ps := make([]queue.Person, 0, len(pcs))
	ok := true
	for i, pc := range pcs {
		if _, err := queue.NewPeople([]queue.Person{{Name: pc.Name}}); err != nil {
			d.fail(find(root, "people", i), fmt.Sprintf("people[%d].name", i), "%s", queue.ErrorMessage(err))
			ok = false
		}
		ps = append(ps, queue.Person{Name: pc.Name, GitHub: pc.GitHub, Slack: pc.Slack, Emails: pc.Emails})
	}
	if !ok {
		return nil
	}
	p, err := queue.NewPeople(ps)
	if err != nil {
		d.fail(find(root, "people"), "people", "%s", queue.ErrorMessage(err))
		return nil
	}
	return p
}
