package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deployq/deployq/config"
)

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// What a first deploy would trip on is said before: channel names for
// ids, ports out of range, a GitHub App key that does not parse, unknown
// placeholders, a checkout without git.
func TestFirstDeployChecks(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	appKey := writeFile(t, "app.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	ecFile := writeFile(t, "ec.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))
	garbage := writeFile(t, "garbage.pem", []byte("-----BEGIN RSA PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END RSA PRIVATE KEY-----\n"))
	notPEM := writeFile(t, "key.txt", []byte("ghp_not_a_key\n"))
	app := func(key string) string {
		return "github:\n  webhook_secret: 0123456789abcdef\n  app_id: 1\n  installation_id: 2\n  private_key_file: " + key + "\n"
	}
	web := func(env string) string {
		return "apps:\n  - name: web\n    environments:\n      - {name: production, runner: shell, " + env + "}\n"
	}
	for _, c := range []struct{ name, yaml, want string }{
		{"ChannelName", "slack:\n  bot_token: b\n  app_token: a\n  channel: \"#deploys\"\n",
			`deployq.yaml:4: slack.channel: "#deploys" is a channel's name: deployq needs its id (like C0123ABCD): in Slack, open the channel, click its name at the top, and copy the Channel ID at the bottom of the About tab`},
		{"ChannelNameWithoutHash", web("shell: {command: x}") + "slack:\n  bot_token: b\n  app_token: a\n  channels: {production: deploys}\n",
			`deployq.yaml:8: slack.channels.production: "deploys" is a channel's name: deployq needs its id`},
		{"NotAChannelID", "slack:\n  bot_token: b\n  app_token: a\n  channel: U0123ABCD\n",
			`deployq.yaml:4: slack.channel: want a channel id like C0123ABCD, got "U0123ABCD"`},
		{"ListenPort", "server:\n  listen: 127.0.0.1:80800\n", `deployq.yaml:2: server.listen: want host:port (a port of 0-65535), got "127.0.0.1:80800"`},
		{"BaseURLPort", "server:\n  base_url: https://deploy.example.com:0\n", `deployq.yaml:2: server.base_url: "https://deploy.example.com:0": port 0 is out of range 1-65535`},
		{"SlackAPIURL", "slack:\n  bot_token: b\n  app_token: a\n  api_url: slack.example.com/api\n", `deployq.yaml:4: slack.api_url: want an http:// or https:// URL, got "slack.example.com/api"`},
		{"GitHubKeyGarbage", app(garbage), `deployq.yaml:5: github.private_key_file: ` + garbage + `: its RSA PRIVATE KEY does not parse`},
		{"GitHubKeyNotPEM", app(notPEM), `deployq.yaml:5: github.private_key_file: ` + notPEM + ` is not a PEM file: want the private key GitHub gave for the App (-----BEGIN RSA PRIVATE KEY-----)`},
		{"GitHubKeyNotRSA", app(ecFile), `deployq.yaml:5: github.private_key_file: ` + ecFile + `: not an RSA key (GitHub Apps sign with RSA)`},
		{"URLPlaceholder", web("shell: {command: x}, url: \"https://{app}.{region}.example.com\""),
			`deployq.yaml:4: apps[web].environments[production].url: unknown placeholder {region} (known: {app} {env})`},
		{"CheckoutWithoutGit", web("shell: {command: x, checkout: true}"),
			`deployq.yaml:4: apps[web].environments[production].shell: checkout: true clones the app's git, and web has none: set its git (a URL or path)`},
		{"RunnerMissing", "apps:\n  - name: web\n    environments:\n      - {name: production, shell: {command: x}}\n",
			`deployq.yaml:4: apps[web].environments[production].runner: runner is required (runners: shell)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("deployq.yaml", []byte(c.yaml), kinds)
			if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got  %v\nwant %s", err, c.want)
			}
		})
	}
	ok := app(appKey) + "apps:\n  - name: web\n    git: /srv/git/web.git\n    environments:\n" +
		"      - {name: production, runner: shell, shell: {command: x, checkout: true}, url: \"https://{app}.{env}.example.com\"}\n" +
		"slack:\n  bot_token: b\n  app_token: a\n  channel: C0ANNOUNCE\n  channels: {production: G0PROD}\n"
	c, err := config.Parse("deployq.yaml", []byte(ok), kinds)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Apps[0].Env("production").URL; got != "https://web.production.example.com" {
		t.Fatalf("url %q", got)
	}
}

// An app whose refs cannot resolve still deploys full shas: a warning,
// not an error.
func TestRefsWarnings(t *testing.T) {
	y := `github:
  webhook_secret: 0123456789abcdef
apps:
  - name: web
    git: /srv/git/web.git
    environments: [{name: s, runner: shell, shell: {command: x}}]
  - name: api
    environments: [{name: s, runner: shell, shell: {command: x}}]
  - name: worker
    repo: acme/worker
    environments: [{name: s, runner: shell, shell: {command: x}}]
`
	c, err := config.Parse("deployq.yaml", []byte(y), kinds)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"deployq.yaml:7: apps[api]: warning: api has neither git nor repo: no ref resolves, so only a full 40-hex sha deploys (deploy api@SHA); set git (a URL or path) to deploy branches and tags",
		"deployq.yaml:9: apps[worker]: warning: worker's repo resolves refs through GitHub's API, which the github section does not give: only a full 40-hex sha deploys; set github.token (or a GitHub App), or the app's git",
	}
	if got := c.Warnings.Error(); got != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	withAPI, err := config.Parse("deployq.yaml", []byte(strings.Replace(y, "github:\n", "github:\n  token: ghp_x\n", 1)), kinds)
	if err != nil {
		t.Fatal(err)
	}
	if len(withAPI.Warnings) != 1 || withAPI.Warnings[0].Key != "apps[api]" {
		t.Fatalf("with GitHub's API, the repo resolves: %v", withAPI.Warnings)
	}
}
