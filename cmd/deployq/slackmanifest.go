package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/deployq/deployq/bot/slack"
	"gopkg.in/yaml.v3"
)

// slackManifest is the slack-manifest command: it prints the Slack app
// manifest of this deployq (YAML, on stdout) and what to do with it (on
// stderr).
func slackManifest(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("slack-manifest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default ./deployq.yaml, if there): slack.mode, server.base_url")
	name := fs.String("name", "deployq", "the app's and its bot's name in Slack")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	cfg, err := readSetup(*path)
	if err != nil {
		return err
	}
	out, err := slack.Manifest(slack.ManifestOptions{Name: *name, Mode: cfg.Slack.Mode, BaseURL: cfg.Server.BaseURL})
	if err != nil {
		return err
	}
	if _, err := stdout.Write(out); err != nil {
		return err
	}
	if cfg.Slack.Mode == "http" {
		if w := unreachable(cfg.Server.BaseURL, "Slack"); w != "" {
			fmt.Fprintln(stderr, w)
		}
		if strings.HasPrefix(cfg.Server.BaseURL, "http://") {
			fmt.Fprintln(stderr, "warning: Slack sends its requests to https URLs only: put deployq behind TLS and set server.base_url to https://...")
		}
	}
	fmt.Fprintf(stderr, slackNext, *name)
	return nil
}

const slackNext = `
Next: api.slack.com/apps > Create New App > From a manifest > your workspace >
paste the manifest above > Create > Install to Workspace. Then, in deployq.yaml:
  slack.bot_token       OAuth & Permissions > Bot User OAuth Token (xoxb-...)
  slack.app_token       Socket Mode: Basic Information > App-Level Tokens >
                        Generate, with the scope connections:write (xapp-...)
  slack.signing_secret  HTTP mode: Basic Information > Signing Secret
and invite the bot where it posts: /invite @%s in each channel of
slack.channel and slack.channels.
`

// setupConfig is what the setup commands read of a config: a few keys,
// without check-config's checks, so that they work before the tokens and
// secrets they help create exist.
type setupConfig struct {
	Server struct {
		DataDir string `yaml:"data_dir"`
		BaseURL string `yaml:"base_url"`
	} `yaml:"server"`
	Store struct {
		Driver string `yaml:"driver"`
	} `yaml:"store"`
	Slack struct {
		Mode string `yaml:"mode"`
	} `yaml:"slack"`
	GitHub struct {
		Mode   string `yaml:"mode"`
		APIURL string `yaml:"api_url"`
	} `yaml:"github"`
}

// readSetup reads those keys of the config at path (default
// defaultConfig, when it exists), ${VAR} read from the environment as
// the server reads it.
func readSetup(path string) (*setupConfig, error) {
	var c setupConfig
	if path == "" {
		if _, err := os.Stat(defaultConfig); err != nil {
			return &c, nil
		}
		path = defaultConfig
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for key, v := range map[string]*string{"server.data_dir": &c.Server.DataDir, "server.base_url": &c.Server.BaseURL,
		"slack.mode": &c.Slack.Mode, "github.mode": &c.GitHub.Mode, "github.api_url": &c.GitHub.APIURL} {
		if *v, err = expandEnv(*v); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, key, err)
		}
	}
	return &c, nil
}

var envVarRe = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${VAR} with the environment's value; $${ is a
// literal ${.
func expandEnv(s string) (string, error) {
	var missing string
	s = envVarRe.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$${" {
			return "${"
		}
		v, ok := os.LookupEnv(m[2 : len(m)-1])
		if !ok && missing == "" {
			missing = m
		}
		return v
	})
	if missing != "" {
		return "", fmt.Errorf("%s is not set in the environment", missing)
	}
	return s, nil
}

// unreachable says why who (Slack, GitHub) cannot send requests to
// base, when it can tell: a loopback address.
func unreachable(base, who string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || ip != nil && ip.IsLoopback() {
		return fmt.Sprintf("warning: server.base_url is %s: %s cannot reach it; set it to deployq's public URL", base, who)
	}
	return ""
}

// flagError is the result of a command whose flags did not parse: done
// for --help, a usage error otherwise (the flag package said which).
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return exitCode(2)
}
