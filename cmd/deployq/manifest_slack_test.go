package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/deployq/deployq/bot/slack"
	"gopkg.in/yaml.v3"
)

// deployq slack-manifest prints a manifest for the config at hand, even
// before the tokens it helps create exist.
func TestSlackManifestCommand(t *testing.T) {
	for _, c := range []struct {
		name, config string
		args         []string
		urls         []string // request URLs; none in Socket Mode
		app          string
		fails        string // in stderr, when it must fail
	}{
		{name: "no config: socket mode", app: "deployq"},
		{name: "socket mode, another name", args: []string{"--name", "Ship It"}, app: "Ship It",
			config: "slack:\n  bot_token: ${SLACK_BOT_TOKEN}\n  app_token: ${SLACK_APP_TOKEN}\n"},
		{name: "http mode", app: "deployq",
			config: "server:\n  base_url: https://deployq.example.com\nslack:\n  mode: http\n  bot_token: ${SLACK_BOT_TOKEN}\n",
			urls:   []string{"https://deployq.example.com/slack/commands", "https://deployq.example.com/slack/events", "https://deployq.example.com/slack/interactive"}},
		{name: "http mode without base_url", config: "slack:\n  mode: http\n", fails: "server.base_url"},
		{name: "a base_url from an unset variable", config: "server:\n  base_url: ${DEPLOYQ_NOT_SET}\nslack:\n  mode: http\n", fails: "${DEPLOYQ_NOT_SET} is not set"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"slack-manifest"}, c.args...)
			if c.config != "" {
				os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(c.config), 0o644)
			}
			cmd := exec.Command(binary, args...)
			cmd.Dir = dir
			cmd.Env = slices.DeleteFunc(os.Environ(), func(v string) bool { return strings.HasPrefix(v, "SLACK_") })
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if c.fails != "" {
				if err == nil || !strings.Contains(stderr.String(), c.fails) {
					t.Fatalf("want a failure saying %q; err %v, stderr:\n%s", c.fails, err, stderr.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			var m struct {
				Display struct {
					Name string `yaml:"name"`
				} `yaml:"display_information"`
				Features struct {
					Slash []struct {
						URL string `yaml:"url"`
					} `yaml:"slash_commands"`
				} `yaml:"features"`
				OAuth struct {
					Scopes struct {
						Bot []string `yaml:"bot"`
					} `yaml:"scopes"`
				} `yaml:"oauth_config"`
				Settings struct {
					Events struct {
						URL string `yaml:"request_url"`
					} `yaml:"event_subscriptions"`
					Interactivity struct {
						URL string `yaml:"request_url"`
					} `yaml:"interactivity"`
					SocketMode bool `yaml:"socket_mode_enabled"`
				} `yaml:"settings"`
			}
			if err := yaml.Unmarshal(out, &m); err != nil {
				t.Fatalf("not YAML: %v\n%s", err, out)
			}
			var urls []string
			for _, u := range []string{m.Settings.Events.URL, m.Settings.Interactivity.URL, m.Features.Slash[0].URL} {
				if u != "" {
					urls = append(urls, u)
				}
			}
			slices.Sort(urls)
			if !slices.Equal(urls, c.urls) || m.Settings.SocketMode != (c.urls == nil) {
				t.Errorf("request URLs %v (want %v), socket_mode_enabled %v", urls, c.urls, m.Settings.SocketMode)
			}
			if !slices.Equal(m.OAuth.Scopes.Bot, slack.BotScopes()) || m.Display.Name != c.app {
				t.Errorf("scopes %v, name %q", m.OAuth.Scopes.Bot, m.Display.Name)
			}
			if !strings.Contains(stderr.String(), "/invite @"+c.app) || !strings.Contains(stderr.String(), "connections:write") {
				t.Errorf("next steps:\n%s", stderr.String())
			}
		})
	}
}

func TestSlackManifestHelp(t *testing.T) {
	out, err := exec.Command(binary, "slack-manifest", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-name") {
		t.Errorf("%v\n%s", err, out)
	}
}
