package config

import (
	"cmp"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	"gopkg.in/yaml.v3"
)

func (d *decoder) validateServer(root *yaml.Node, s *Server) {
	at := func(key string) *yaml.Node { return closest(root, "server", key) }
	if s.Listen == "" {
		s.Listen = "127.0.0.1:8080"
	}
	host, port, err := net.SplitHostPort(s.Listen)
	if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 0 || p > 65535 {
		d.fail(at("listen"), "server.listen", "want host:port (a port of 0-65535), got %q", s.Listen)
	}
	if s.DataDir == "" {
		s.DataDir = "./data"
	}
	if s.Name == "" {
		h, _ := os.Hostname()
		s.Name = strings.ToLower(cmp.Or(h, "deployq"))
	}
	if !serverNameRe.MatchString(s.Name) {
		d.fail(at("name"), "server.name", "want a name of letters, digits, '.', '-' and '_' (at most 63), got %q", s.Name)
	}
	if s.BaseURL == "" {
		h := s.Listen
		if host == "" || host == "0.0.0.0" || host == "::" {
			h = net.JoinHostPort("127.0.0.1", port)
		}
		s.BaseURL = "http://" + h
	} else if err := checkURL(s.BaseURL); err != nil {
		d.fail(at("base_url"), "server.base_url", "%v", err)
	}
	s.BaseURL = strings.TrimRight(s.BaseURL, "/")
	if s.MaxParallel == 0 {
		s.MaxParallel = 8
	}
	if s.MaxParallel < 1 {
		d.fail(at("max_parallel"), "server.max_parallel", "must be at least 1")
	}
	names, tokens := map[string]bool{}, map[string]bool{}
	for i, t := range s.APITokens {
		key := fmt.Sprintf("server.api_tokens[%d]", i)
		n := find(root, "server", "api_tokens", i)
		switch {
		case !queue.ValidName(t.Name):
			d.fail(n, key+".name", "want a lower-case name, got %q", t.Name)
		case names[t.Name]:
			d.fail(n, key+".name", "duplicate token name %q", t.Name)
		case len(t.Token) < 16:
			d.fail(n, key+".token", "a token needs at least 16 characters")
		case tokens[t.Token]:
			d.fail(n, key+".token", "two tokens are the same")
		}
		names[t.Name], tokens[t.Token] = true, true
	}
	if len(s.APITokens) == 0 && !isLoopback(host) && err == nil {
		d.fail(at("listen"), "server.listen",
			"%s is not a loopback address: set server.api_tokens, or listen on 127.0.0.1", s.Listen)
	}
	for _, l := range []struct {
		key      string
		negative bool
	}{{"max_followers", s.MaxFollowers < 0}, {"max_followers_per_deploy", s.MaxFollowersPerDeploy < 0}} {
		if l.negative {
			d.fail(at(l.key), "server."+l.key, "cannot be negative (0: the default)")
		}
	}
	d.validateGitHubOAuth(root, s.GitHubOAuth)
}

// serverNameRe is a server's name: a host name, or any short word.
var serverNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// githubNameRe is a GitHub login or organization: letters, digits and
// single hyphens, at most 39 characters.
var githubNameRe = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}$`)

// teamSlugRe is a team's slug.
var teamSlugRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// validateGitHubOAuth checks the dashboard's GitHub sign-in: an OAuth
// app, and who it lets in, which must be said.
func (d *decoder) validateGitHubOAuth(root *yaml.Node, g *GitHubOAuth) {
	if g == nil {
		return
	}
	at := func(path ...any) *yaml.Node {
		return closest(root, append([]any{"server", "github_oauth"}, path...)...)
	}
	const key = "server.github_oauth"
	switch {
	case g.ClientID == "":
		d.fail(at("client_id"), key+".client_id", "required: the OAuth app's client id")
	case g.ClientSecret == "":
		d.fail(at("client_secret"), key+".client_secret", "required: the OAuth app's client secret")
	case len(g.Allow.Orgs)+len(g.Allow.Teams)+len(g.Allow.Logins) == 0:
		d.fail(at("allow"), key+".allow",
			"say who may sign in (orgs, teams as org/team-slug, logins): without it any GitHub account could")
	}
	for _, list := range []struct {
		field string
		names []string
	}{{"orgs", g.Allow.Orgs}, {"logins", g.Allow.Logins}} {
		for i, n := range list.names {
			if !githubNameRe.MatchString(n) {
				d.fail(at("allow", list.field, i), fmt.Sprintf("%s.allow.%s[%d]", key, list.field, i), "not a GitHub name: %q", n)
			}
		}
	}
	for i, t := range g.Allow.Teams {
		org, slug, ok := strings.Cut(t, "/")
		if !ok || !githubNameRe.MatchString(org) || !teamSlugRe.MatchString(slug) {
			d.fail(at("allow", "teams", i), fmt.Sprintf("%s.allow.teams[%d]", key, i), "want org/team-slug, got %q", t)
		}
	}
	for _, u := range []struct{ key, url string }{{"auth_url", g.AuthURL}, {"token_url", g.TokenURL}, {"api_url", g.APIURL}} {
		if u.url != "" {
			if err := checkURL(u.url); err != nil {
				d.fail(at(u.key), key+"."+u.key, "%v", err)
			}
		}
	}
}

// validateGitHub checks the github section: its mode, the webhook
// secret, and a token or a GitHub App whose key parses.
func (d *decoder) validateGitHub(root *yaml.Node, g *GitHub) {
	if g == nil {
		return
	}
	at := func(key string) *yaml.Node { return closest(root, "github", key) }
	app := g.AppID != 0 || g.PrivateKeyFile != "" || g.InstallationID != 0
	if g.Mode == "" {
		g.Mode = "webhook"
	}
	if g.PollInterval == 0 {
		g.PollInterval = time.Minute
	}
	switch {
	case g.Mode != "webhook" && g.Mode != "poll":
		d.fail(at("mode"), "github.mode", "want webhook or poll, got %q", g.Mode)
	case g.Mode == "poll" && !g.HasAPI():
		d.fail(at("mode"), "github.mode", "polling reads GitHub's API: set github.token (or a GitHub App)")
	}
	if p := g.PRPrefix; p != "" && (len(p) > 8 || strings.IndexFunc(p, func(r rune) bool { return r <= ' ' || r > '~' || r == '`' }) >= 0) {
		d.fail(at("pr_prefix"), "github.pr_prefix", "want 1 to 8 visible ASCII characters (default \".\"), got %q", p)
	}
	if g.Mode == "webhook" && len(g.WebhookSecret) < 16 || g.WebhookSecret != "" && len(g.WebhookSecret) < 16 {
		d.fail(at("webhook_secret"), "github.webhook_secret", "required, at least 16 characters")
	}
	switch {
	case app && g.Token != "":
		d.fail(at("app_id"), "github", "use a token or a GitHub App, not both")
	case app && (g.AppID == 0 || g.PrivateKeyFile == "" || g.InstallationID == 0):
		d.fail(at("app_id"), "github", "a GitHub App needs app_id, private_key_file and installation_id")
	case app:
		if err := checkAppKey(g.PrivateKeyFile); err != nil {
			d.fail(at("private_key_file"), "github.private_key_file", "%v", err)
		}
	}
	if g.APIURL != "" {
		if err := checkURL(g.APIURL); err != nil {
			d.fail(at("api_url"), "github.api_url", "%v", err)
		}
	}
}

// checkAppKey checks that a GitHub App's private key file exists and
// holds an RSA key, as GitHub gives it (PKCS #1) or in PKCS #8.
func checkAppKey(path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return fmt.Errorf("%s is not a PEM file: want the private key GitHub gave for the App (-----BEGIN RSA PRIVATE KEY-----)", path)
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return fmt.Errorf("%s holds a %s, not a private key", path, block.Type)
	}
	if err != nil {
		return fmt.Errorf("%s: its %s does not parse", path, block.Type)
	}
	if _, ok := key.(*rsa.PrivateKey); !ok {
		return fmt.Errorf("%s: not an RSA key (GitHub Apps sign with RSA)", path)
	}
	return nil
}

func (d *decoder) validateSlack(root *yaml.Node, s *Slack) {
	if s == nil {
		return
	}
	at := func(path ...any) *yaml.Node { return closest(root, append([]any{"slack"}, path...)...) }
	if s.Mode == "" {
		s.Mode = "socket"
	}
	switch {
	case s.Mode != "socket" && s.Mode != "http":
		d.fail(at("mode"), "slack.mode", "want socket or http, got %q", s.Mode)
	case s.BotToken == "":
		d.fail(at("bot_token"), "slack.bot_token", "required (xoxb-...)")
	case s.Mode == "socket" && s.AppToken == "":
		d.fail(at("app_token"), "slack.app_token", "socket mode needs an app-level token (xapp-...)")
	case s.Mode == "http" && s.SigningSecret == "":
		d.fail(at("signing_secret"), "slack.signing_secret", "http mode needs the app's signing secret")
	}
	if s.APIURL != "" {
		if err := checkURL(s.APIURL); err != nil {
			d.fail(at("api_url"), "slack.api_url", "%v", err)
		}
		if !strings.HasSuffix(s.APIURL, "/") {
			s.APIURL += "/"
		}
	}
	for i, id := range s.AllowBots {
		if !botID.MatchString(id) {
			d.fail(at("allow_bots", i), fmt.Sprintf("slack.allow_bots[%d]", i), "want a bot id like B0123ABCD, got %q", id)
		}
	}
	if s.Channel != "" {
		if why := channelID(s.Channel); why != "" {
			d.fail(at("channel"), "slack.channel", "%s", why)
		}
	}
	for env, ch := range s.Channels {
		if why := channelID(ch); why != "" {
			d.fail(at("channels", env), "slack.channels."+env, "%s", why)
		}
	}
}

// botID is a Slack bot id: a bot's messages carry it as bot_id.
var botID = regexp.MustCompile(`^B[A-Z0-9]{2,20}$`)

// channelIDRe is a Slack conversation id: a public (C) or private (G)
// channel, or a direct message (D). Names are lower case.
var channelIDRe = regexp.MustCompile(`^[CGD][A-Z0-9]+$`)

// channelID says what is wrong with a channel id, or "". deployq needs
// the id: Slack updates a message only by its channel's id, and a name
// never equals the id events carry.
func channelID(ch string) string {
	switch {
	case channelIDRe.MatchString(ch):
		return ""
	case strings.HasPrefix(ch, "#") || ch == strings.ToLower(ch):
		return fmt.Sprintf("%q is a channel's name: deployq needs its id (like C0123ABCD): in Slack, open the channel, click its name at the top, and copy the Channel ID at the bottom of the About tab", ch)
	}
	return fmt.Sprintf("want a channel id like C0123ABCD, got %q", ch)
}

// checkURL checks an http or https URL with a host and, if it has one, a
// port of 1-65535.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an http:// or https:// URL, got %q", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %s is out of range 1-65535", raw, p)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateStore checks the store section: a known driver, and a DSN
// exactly when PostgreSQL is chosen.
func (d *decoder) validateStore(root *yaml.Node, s *Store) {
	at := func(key string) *yaml.Node { return closest(root, "store", key) }
	if s.Driver == "" {
		s.Driver = DriverSQLite
	}
	switch s.Driver {
	case DriverSQLite:
		if s.DSN != "" {
			d.fail(at("dsn"), "store.dsn", "SQLite lives in server.data_dir: a dsn is for driver: postgres")
		}
		if s.Lease != 0 {
			d.fail(at("lease"), "store.lease", "SQLite serves one server: leases are for driver: postgres")
		}
	case DriverPostgres:
		if s.Lease == 0 {
			s.Lease = DefaultLease
		}
		if s.Lease < time.Second {
			d.fail(at("lease"), "store.lease", "want at least 1s (default 15s), got %s", s.Lease)
		}
		if strings.TrimSpace(s.DSN) == "" {
			d.fail(at("dsn"), "store.dsn", `PostgreSQL needs a connection string, such as "${DEPLOYQ_DSN}" (postgres://user@host/db)`)
		} else if u, err := url.Parse(s.DSN); strings.Contains(s.DSN, "://") && (err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql")) {
			d.fail(at("dsn"), "store.dsn", "want a postgres:// URL or key=value pairs")
		}
	default:
		d.fail(at("driver"), "store.driver", "want sqlite or postgres, got %q", s.Driver)
	}
}
