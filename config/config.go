// Package config reads deployq's YAML config: ${VAR} from the environment,
// strict keys, and validation whose errors name the file, line and key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// Config is a whole, validated configuration.
type Config struct {
	File    string
	Server  Server
	Slack   *Slack  // nil without a slack section
	GitHub  *GitHub // nil without a github section
	Apps    []*queue.App
	Secrets []string // values that came from the environment; masked in logs
	// Admins may override freezes (deploy!!) and unlock all, everywhere.
	Admins []string
	// Freeze lists freeze windows of every environment.
	Freeze []queue.FreezeWindow
	// People maps each person's identities (GitHub logins, Slack users,
	// emails) to their name; nil without a people section.
	People *queue.People
}

// Server is the server section.
type Server struct {
	Listen      string  `yaml:"listen"`
	DataDir     string  `yaml:"data_dir"`
	BaseURL     string  `yaml:"base_url"`
	MaxParallel int     `yaml:"max_parallel"`
	APITokens   []Token `yaml:"api_tokens"`
	// KillGrace is the default time between SIGTERM and SIGKILL.
	KillGrace time.Duration `yaml:"kill_grace"`
	// GitHubOAuth lets dashboard users sign in with GitHub.
	GitHubOAuth *GitHubOAuth `yaml:"github_oauth"`
	// BodyTimeout bounds the reading of a request body (default 10s).
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// WriteTimeout bounds each write to a client: a log follower that
	// stops reading is cut after it (default 30s).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxFollowers caps the log followers and event streams open at once
	// (default 500); MaxFollowersPerDeploy those of one deploy (default 50).
	MaxFollowers          int `yaml:"max_followers"`
	MaxFollowersPerDeploy int `yaml:"max_followers_per_deploy"`
}

// GitHubOAuth is a GitHub OAuth app for the dashboard's sign-in; its
// callback URL is base_url + /ui/auth/github/callback.
type GitHubOAuth struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// AuthURL, TokenURL and APIURL: GitHub Enterprise (default github.com).
	AuthURL  string `yaml:"auth_url"`
	TokenURL string `yaml:"token_url"`
	APIURL   string `yaml:"api_url"`
	// Allow says who may sign in; it is required.
	Allow GitHubAllow `yaml:"allow"`
}

// GitHubAllow lets in a GitHub user who is one of Logins, an active
// member of one of Orgs, or a member of one of Teams (org/team-slug).
type GitHubAllow struct {
	Orgs   []string `yaml:"orgs"`
	Teams  []string `yaml:"teams"`
	Logins []string `yaml:"logins"`
}

// Slack is the slack section.
type Slack struct {
	Mode          string `yaml:"mode"`           // socket (default) or http
	BotToken      string `yaml:"bot_token"`      // xoxb-...
	AppToken      string `yaml:"app_token"`      // xapp-..., for socket mode
	SigningSecret string `yaml:"signing_secret"` // for http mode
	Channel       string `yaml:"channel"`        // announcements (channel id)
	// Channels: an environment's own announcement channel, by env name.
	Channels map[string]string `yaml:"channels"`
	APIURL   string            `yaml:"api_url"` // default Slack's
	// LockNagAfter: a lock held longer gets its holder a reminder DM.
	LockNagAfter time.Duration `yaml:"lock_nag_after"`
	// AllowBots: the bots (bot ids, B0123ABCD) whose mentions and direct
	// messages run commands; every other bot and workflow is ignored.
	AllowBots []string `yaml:"allow_bots"`
}

// GitHub is the github section.
type GitHub struct {
	// WebhookSecret checks X-Hub-Signature-256 on POST /webhooks/github.
	WebhookSecret string `yaml:"webhook_secret"`
	// Token (or a GitHub App: AppID, PrivateKeyFile, InstallationID) lets
	// deployq read checks and report deployments.
	Token          string `yaml:"token"`
	AppID          int    `yaml:"app_id"`
	PrivateKeyFile string `yaml:"private_key_file"`
	InstallationID int    `yaml:"installation_id"`
	APIURL         string `yaml:"api_url"` // GitHub Enterprise, a test server
	// Mode: webhook (default), or poll behind a firewall (no inbound).
	Mode         string        `yaml:"mode"`
	PollInterval time.Duration `yaml:"poll_interval"`
}

// HasAPI reports whether deployq may call GitHub's API.
func (g *GitHub) HasAPI() bool { return g != nil && (g.Token != "" || g.AppID != 0) }

// Token is an API bearer token; its name is the user of the calls made
// with it.
type Token struct {
	Name  string `yaml:"name"`
	Token string `yaml:"token"`
}

// Validator is implemented by runner settings that can check themselves.
type Validator interface{ Validate() error }

// Kinds maps each runner kind to a function returning a pointer to a new
// value of its settings type.
type Kinds map[string]func() any

type fileConfig struct {
	Server       Server         `yaml:"server"`
	Slack        *Slack         `yaml:"slack"`
	GitHub       *GitHub        `yaml:"github"`
	Apps         []appConfig    `yaml:"apps"`
	Environments []envConfig    `yaml:"environments"`
	Admins       []string       `yaml:"admins"`
	Freeze       []freezeConfig `yaml:"freeze"`
	People       []personConfig `yaml:"people"`
}

// personConfig is one person: their deployq user name and who they are
// in each source.
type personConfig struct {
	Name   string   `yaml:"name"`
	GitHub []string `yaml:"github"`
	Slack  []string `yaml:"slack"`
	Emails []string `yaml:"emails"`
}

type freezeConfig struct {
	Cron     string        `yaml:"cron"`
	Duration time.Duration `yaml:"duration"`
	Reason   string        `yaml:"reason"`
}

type approvalsConfig struct {
	Required int      `yaml:"required"`
	From     []string `yaml:"from"`
}

type promoteConfig struct {
	To       string        `yaml:"to"`
	When     string        `yaml:"when"`
	Soak     time.Duration `yaml:"soak"`
	Schedule string        `yaml:"schedule"`
}

type appConfig struct {
	Name         string      `yaml:"name"`
	Repo         string      `yaml:"repo"`
	Git          string      `yaml:"git"`
	DefaultRef   string      `yaml:"default_ref"`
	DefaultEnv   string      `yaml:"default_env"`
	Environments []envConfig `yaml:"environments"`
}

type autoDeploy struct {
	On     []string `yaml:"on"`
	Branch string   `yaml:"branch"`
}

type envConfig struct {
	Name        string                `yaml:"name"`
	Apps        []string              `yaml:"apps"` // top-level environments only
	Runner      string                `yaml:"runner"`
	Timeout     time.Duration         `yaml:"timeout"`
	IdleTimeout time.Duration         `yaml:"idle_timeout"`
	LogCap      Size                  `yaml:"log_cap"` // output kept per deploy; default 100MB
	AutoDeploy  autoDeploy            `yaml:"auto_deploy"`
	Deployers   []string              `yaml:"deployers"`
	Lockers     []string              `yaml:"lockers"`
	Required    []string              `yaml:"required_contexts"` // a list, or "all"
	ChecksWait  time.Duration         `yaml:"checks_timeout"`
	URL         string                `yaml:"url"` // where it can be seen; {app} is replaced
	Admins      []string              `yaml:"admins"`
	Approvals   approvalsConfig       `yaml:"approvals"`
	ApprovalTTL time.Duration         `yaml:"approval_timeout"`
	Freeze      []freezeConfig        `yaml:"freeze"`
	Promote     *promoteConfig        `yaml:"promote"`
	Rest        map[string]*yaml.Node `yaml:",remain"` // the runner's section
}

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

func (d *decoder) validateServer(root *yaml.Node, s *Server) error {
	at := func(key string) *yaml.Node { return findOr(root, "server", key) }
	if s.Listen == "" {
		s.Listen = "127.0.0.1:8080"
	}
	host, _, err := net.SplitHostPort(s.Listen)
	if err != nil {
		return d.errf(at("listen"), "server.listen", "want host:port, got %q", s.Listen)
	}
	if s.DataDir == "" {
		s.DataDir = "./data"
	}
	if s.BaseURL == "" {
		h := s.Listen
		if host == "" || host == "0.0.0.0" || host == "::" {
			_, port, _ := net.SplitHostPort(s.Listen)
			h = net.JoinHostPort("127.0.0.1", port)
		}
		s.BaseURL = "http://" + h
	}
	s.BaseURL = strings.TrimRight(s.BaseURL, "/")
	if s.MaxParallel == 0 {
		s.MaxParallel = 8
	}
	if s.MaxParallel < 1 {
		return d.errf(at("max_parallel"), "server.max_parallel", "must be at least 1")
	}
	names, tokens := map[string]bool{}, map[string]bool{}
	for i, t := range s.APITokens {
		key := fmt.Sprintf("server.api_tokens[%d]", i)
		n := find(root, "server", "api_tokens", i)
		switch {
		case !queue.ValidName(t.Name):
			return d.errf(n, key+".name", "want a lower-case name, got %q", t.Name)
		case names[t.Name]:
			return d.errf(n, key+".name", "duplicate token name %q", t.Name)
		case len(t.Token) < 16:
			return d.errf(n, key+".token", "a token needs at least 16 characters")
		case tokens[t.Token]:
			return d.errf(n, key+".token", "two tokens are the same")
		}
		names[t.Name], tokens[t.Token] = true, true
	}
	if len(s.APITokens) == 0 && !isLoopback(host) {
		return d.errf(at("listen"), "server.listen",
			"%s is not a loopback address: set server.api_tokens, or listen on 127.0.0.1", s.Listen)
	}
	for _, l := range []struct {
		key      string
		negative bool
	}{{"max_followers", s.MaxFollowers < 0}, {"max_followers_per_deploy", s.MaxFollowersPerDeploy < 0}} {
		if l.negative {
			return d.errf(at(l.key), "server."+l.key, "cannot be negative (0: the default)")
		}
	}
	return d.validateGitHubOAuth(root, s.GitHubOAuth)
}

// githubNameRe is a GitHub login or organization: letters, digits and
// single hyphens, at most 39 characters.
var githubNameRe = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}$`)

// teamSlugRe is a team's slug.
var teamSlugRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// validateGitHubOAuth checks the dashboard's GitHub sign-in: an OAuth
// app, and who it lets in, which must be said.
func (d *decoder) validateGitHubOAuth(root *yaml.Node, g *GitHubOAuth) error {
	if g == nil {
		return nil
	}
	at := func(path ...any) *yaml.Node {
		if n := find(root, append([]any{"server", "github_oauth"}, path...)...); n != nil {
			return n
		}
		return find(root, "server", "github_oauth")
	}
	const key = "server.github_oauth"
	switch {
	case g.ClientID == "":
		return d.errf(at("client_id"), key+".client_id", "required: the OAuth app's client id")
	case g.ClientSecret == "":
		return d.errf(at("client_secret"), key+".client_secret", "required: the OAuth app's client secret")
	case len(g.Allow.Orgs)+len(g.Allow.Teams)+len(g.Allow.Logins) == 0:
		return d.errf(at("allow"), key+".allow",
			"say who may sign in (orgs, teams as org/team-slug, logins): without it any GitHub account could")
	}
	for _, list := range []struct {
		field string
		names []string
	}{{"orgs", g.Allow.Orgs}, {"logins", g.Allow.Logins}} {
		for i, n := range list.names {
			if !githubNameRe.MatchString(n) {
				return d.errf(at("allow", list.field, i), fmt.Sprintf("%s.allow.%s[%d]", key, list.field, i), "not a GitHub name: %q", n)
			}
		}
	}
	for i, t := range g.Allow.Teams {
		org, slug, ok := strings.Cut(t, "/")
		if !ok || !githubNameRe.MatchString(org) || !teamSlugRe.MatchString(slug) {
			return d.errf(at("allow", "teams", i), fmt.Sprintf("%s.allow.teams[%d]", key, i), "want org/team-slug, got %q", t)
		}
	}
	return nil
}

func (d *decoder) validateSlack(root *yaml.Node, s *Slack) error {
	if s == nil {
		return nil
	}
	at := func(key string) *yaml.Node { return findOr(root, "slack", key) }
	if s.Mode == "" {
		s.Mode = "socket"
	}
	switch {
	case s.Mode != "socket" && s.Mode != "http":
		return d.errf(at("mode"), "slack.mode", "want socket or http, got %q", s.Mode)
	case s.BotToken == "":
		return d.errf(at("bot_token"), "slack.bot_token", "required (xoxb-...)")
	case s.Mode == "socket" && s.AppToken == "":
		return d.errf(at("app_token"), "slack.app_token", "socket mode needs an app-level token (xapp-...)")
	case s.Mode == "http" && s.SigningSecret == "":
		return d.errf(at("signing_secret"), "slack.signing_secret", "http mode needs the app's signing secret")
	}
	if s.APIURL != "" && !strings.HasSuffix(s.APIURL, "/") {
		s.APIURL += "/"
	}
	for i, id := range s.AllowBots {
		if !botID.MatchString(id) {
			return d.errf(find(root, "slack", "allow_bots", i), fmt.Sprintf("slack.allow_bots[%d]", i),
				"want a bot id like B0123ABCD, got %q", id)
		}
	}
	return nil
}

// botID is a Slack bot id: a bot's messages carry it as bot_id.
var botID = regexp.MustCompile(`^B[A-Z0-9]{2,20}$`)

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

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
