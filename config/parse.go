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
	"time"

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

// Parse reads and validates a config; name is used in errors.
func Parse(name string, data []byte, kinds Kinds) (*Config, error) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		e := &Error{File: name, Msg: msg}
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
		}
		return nil, e
	}
	d := &decoder{file: name}
	var fc fileConfig
	if root.Kind != 0 {
		if err := d.expand(&root, ""); err != nil {
			return nil, err
		}
		if err := d.decode(&root, reflect.ValueOf(&fc).Elem(), ""); err != nil {
			return nil, err
		}
	}
	c := &Config{File: name, Server: fc.Server, Slack: fc.Slack, GitHub: fc.GitHub, Secrets: d.secrets, Admins: fc.Admins}
	freeze, err := d.freezeWindows(fc.Freeze, find(&root, "freeze"), "freeze")
	if err != nil {
		return nil, err
	}
	c.Freeze = freeze
	if c.People, err = d.people(&root, fc.People); err != nil {
		return nil, err
	}
	if g := c.GitHub; g != nil {
		app := g.AppID != 0 || g.PrivateKeyFile != "" || g.InstallationID != 0
		if g.Mode == "" {
			g.Mode = "webhook"
		}
		if g.PollInterval == 0 {
			g.PollInterval = time.Minute
		}
		switch {
		case g.Mode != "webhook" && g.Mode != "poll":
			return nil, d.errf(findOr(&root, "github", "mode"), "github.mode", "want webhook or poll, got %q", g.Mode)
		case g.Mode == "poll" && !g.HasAPI():
			return nil, d.errf(findOr(&root, "github", "mode"), "github.mode", "polling reads GitHub's API: set github.token (or a GitHub App)")
		case g.Mode == "webhook" && len(g.WebhookSecret) < 16 || g.WebhookSecret != "" && len(g.WebhookSecret) < 16:
			return nil, d.errf(findOr(&root, "github", "webhook_secret"), "github.webhook_secret", "required, at least 16 characters")
		case app && g.Token != "":
			return nil, d.errf(findOr(&root, "github", "app_id"), "github", "use a token or a GitHub App, not both")
		case app && (g.AppID == 0 || g.PrivateKeyFile == "" || g.InstallationID == 0):
			return nil, d.errf(findOr(&root, "github", "app_id"), "github", "a GitHub App needs app_id, private_key_file and installation_id")
		}
		if app {
			if _, err := os.Stat(g.PrivateKeyFile); err != nil {
				return nil, d.errf(findOr(&root, "github", "private_key_file"), "github.private_key_file", "%v", err)
			}
		}
	}
	if err := d.validateServer(&root, &c.Server); err != nil {
		return nil, err
	}
	if err := d.validateSlack(&root, c.Slack); err != nil {
		return nil, err
	}
	apps, err := d.buildApps(&root, &fc, kinds)
	if err != nil {
		return nil, err
	}
	c.Apps = apps
	for i, a := range apps {
		for j, e := range a.Environments {
			if p := e.Promote; p != nil && a.Env(p.To) == nil {
				at := find(&root, "apps", i, "environments", j, "promote", "to")
				if at == nil {
					at = find(&root, "apps", i)
				}
				return nil, d.errf(at, fmt.Sprintf("apps[%s].environments[%s].promote.to", a.Name, e.Name),
					"%s has no environment %q to promote to", a.Name, p.To)
			}
		}
	}
	for i, a := range apps {
		for _, e := range a.Environments {
			if len(e.RequiredContexts) > 0 && (!c.GitHub.HasAPI() || a.Repo == "") {
				return nil, d.errf(find(&root, "apps", i), fmt.Sprintf("apps[%s].environments[%s].required_contexts", a.Name, e.Name),
					"checks are read from GitHub: set the app's repo and github.token (or a GitHub App)")
			}
		}
	}
	if c.Slack != nil {
		for env := range c.Slack.Channels {
			known := false
			for _, a := range apps {
				known = known || a.Env(env) != nil
			}
			if !known {
				return nil, d.errf(find(&root, "slack", "channels", env), "slack.channels."+env, "no app has an environment %q", env)
			}
		}
	}
	return c, nil
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

// findOr returns the node of section.key, or of the section when the key
// is absent, so that an error points as close as it can.
func findOr(root *yaml.Node, section, key string) *yaml.Node {
	if n := find(root, section, key); n != nil {
		return n
	}
	return find(root, section)
}

// people checks the people section: valid names, each identity claimed
// once.
func (d *decoder) people(root *yaml.Node, pcs []personConfig) (*queue.People, error) {
	ps := make([]queue.Person, 0, len(pcs))
	for i, pc := range pcs {
		if _, err := queue.NewPeople([]queue.Person{{Name: pc.Name}}); err != nil {
			return nil, d.errf(find(root, "people", i), fmt.Sprintf("people[%d].name", i), "%s", queue.ErrorMessage(err))
		}
		ps = append(ps, queue.Person{Name: pc.Name, GitHub: pc.GitHub, Slack: pc.Slack, Emails: pc.Emails})
	}
	p, err := queue.NewPeople(ps)
	if err != nil {
		return nil, d.errf(find(root, "people"), "people", "%s", queue.ErrorMessage(err))
	}
	return p, nil
}
