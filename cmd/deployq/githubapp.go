package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/deployq/deployq/github"
)

// githubApp is the github-app command: GitHub's manifest flow, from a
// page on 127.0.0.1. The page posts deployq's App manifest to GitHub,
// GitHub sends the browser back with a code, and deployq trades it for
// the App's id, key and webhook secret, keeps them in data_dir, waits for
// the App to be installed and prints what to add to the config.
func githubApp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("github-app", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default ./deployq.yaml, if there): server.base_url, server.data_dir, github.mode, github.api_url")
	org := fs.String("org", "", "register the App on this organization (default: your own account)")
	listen := fs.String("listen", "127.0.0.1:0", "address of the local page (a loopback address)")
	name := fs.String("name", "deployq", "the App's name (GitHub asks for another if it is taken)")
	apiURL := fs.String("api-url", "", "GitHub's API (default github.api_url, else api.github.com)")
	webURL := fs.String("github-url", "", "GitHub's web address (default https://github.com, or the Enterprise server of the API URL)")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	cfg, err := readSetup(*path)
	if err != nil {
		return err
	}
	if cfg.Server.BaseURL == "" {
		return fmt.Errorf("set server.base_url in the config: the App's homepage, and its webhook goes to base_url%s", github.WebhookPath)
	}
	api := cmp.Or(*apiURL, cfg.GitHub.APIURL)
	ln, err := listenLoopback(*listen)
	if err != nil {
		return err
	}
	addr := ln.Addr().(*net.TCPAddr)
	manifest, err := github.NewAppManifest(github.AppManifestOptions{Name: *name, BaseURL: cfg.Server.BaseURL,
		RedirectURL: fmt.Sprintf("http://%s/callback", addr), Poll: cfg.GitHub.Mode == "poll"})
	if err != nil {
		ln.Close()
		return err
	}
	saved := make(chan *savedApp, 1)
	flow, err := github.NewManifestFlow(manifest, cmp.Or(*webURL, github.WebURL(api)), api, *org, func(app *github.AppCredentials) error {
		s, err := saveApp(cmp.Or(cfg.Server.DataDir, "./data"), app)
		if err == nil {
			saved <- s
		}
		return err
	})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: flow, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	if w := unreachable(cfg.Server.BaseURL, "GitHub"); w != "" && cfg.GitHub.Mode != "poll" {
		fmt.Fprintln(stderr, w)
	}
	fmt.Fprintf(stdout, "Open http://%s/ in a browser signed in to GitHub (from another machine: ssh -L %d:%s HOST first).\n",
		addr, addr.Port, addr)
	var app *savedApp
	select {
	case app = <-saved:
	case <-ctx.Done():
		return fmt.Errorf("stopped: no App was created")
	}
	fmt.Fprintf(stdout, created, app.Name, app.ID, app.Owner, app.HTMLURL, app.Dir, app.HTMLURL)
	inst := waitInstalled(ctx, api, app, stdout)
	if inst != nil {
		fmt.Fprintf(stdout, "\nInstalled on %s (installation %d).\n", inst.Account, inst.ID)
	}
	newAPI := ""
	if cfg.GitHub.APIURL == "" {
		newAPI = *apiURL
	}
	fmt.Fprint(stdout, configSnippet(app, inst, newAPI))
	if inst == nil {
		fmt.Fprintf(stdout, findInstallation, app.HTMLURL)
	}
	if cfg.GitHub.Mode != "poll" {
		fmt.Fprintf(stdout, "\nGitHub sends the App's webhooks to %s%s: no webhook per repository is needed (remove old ones).\n",
			strings.TrimRight(cfg.Server.BaseURL, "/"), github.WebhookPath)
	}
	return nil
}

const created = `
Created the GitHub App %s (id %d), owned by %s: %s
Its private key, webhook secret and id are in %s (only you can read them).

Now install it on the repositories deployq deploys: %s/installations/new
Waiting for the installation (Ctrl-C to stop and finish by hand)...
`

const findInstallation = `
To find INSTALLATION_ID: install the App (%s/installations/new). GitHub then
shows the installation's settings page, .../settings/installations/ID (for an
organization: /organizations/ORG/settings/installations/ID): the number at
the end is the installation id. It is also on the App's page: Install App,
then the gear next to the account.
`

// listenLoopback listens on addr, which must be a loopback address: the
// page holds the flow's state and receives the App's credentials.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--listen: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("--listen: %s is not a loopback address (127.0.0.1)", addr)
	}
	return net.Listen("tcp", addr)
}

// savedApp is a new App, its credentials written in data_dir.
type savedApp struct {
	github.AppCredentials
	Dir        string // data_dir/github-app, absolute
	KeyFile    string
	SecretFile string // "" when GitHub gave no webhook secret
}

// saveApp writes app's key, webhook secret and description in
// dataDir/github-app (0700), each file readable by this user only (0600)
// and never over another.
func saveApp(dataDir string, app *github.AppCredentials) (*savedApp, error) {
	dir, err := filepath.Abs(filepath.Join(dataDir, "github-app"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	s := &savedApp{AppCredentials: *app, Dir: dir}
	prefix := filepath.Join(dir, fmt.Sprintf("app-%d", app.ID))
	about, _ := json.MarshalIndent(map[string]any{"id": app.ID, "slug": app.Slug, "name": app.Name,
		"owner": app.Owner, "html_url": app.HTMLURL}, "", "  ")
	files := []struct {
		path, content string
		keep          *string
	}{
		{prefix + ".private-key.pem", app.PEM, &s.KeyFile},
		{prefix + ".webhook-secret", app.WebhookSecret, &s.SecretFile},
		{prefix + ".json", string(about) + "\n", nil},
	}
	for _, f := range files {
		if f.content == "" {
			continue
		}
		if err := writePrivate(f.path, f.content); err != nil {
			return nil, err
		}
		if f.keep != nil {
			*f.keep = f.path
		}
	}
	return s, nil
}

// writePrivate creates path, readable by this user only, with content.
func writePrivate(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// waitInstalled asks GitHub, as the App, where it is installed, until it
// is or ctx ends (nil then).
func waitInstalled(ctx context.Context, api string, app *savedApp, out io.Writer) *github.Installation {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	said := false
	for {
		askCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		list, err := github.AppInstallations(askCtx, api, app.ID, []byte(app.PEM))
		cancel()
		switch {
		case len(list) > 0:
			return &list[0]
		case err != nil && ctx.Err() == nil && !said:
			fmt.Fprintf(out, "(%v; asking again)\n", err)
			said = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// configSnippet is what to add to the config for app, installed as inst
// (nil: not yet); apiURL, when not "", is an API to name in it.
func configSnippet(app *savedApp, inst *github.Installation, apiURL string) string {
	var b strings.Builder
	b.WriteString("\nIn deployq.yaml, the github section (instead of github.token, if it has one):\n\ngithub:\n")
	fmt.Fprintf(&b, "  app_id: %d\n", app.ID)
	if inst != nil {
		fmt.Fprintf(&b, "  installation_id: %d\n", inst.ID)
	} else {
		b.WriteString("  installation_id: INSTALLATION_ID\n")
	}
	fmt.Fprintf(&b, "  private_key_file: %q\n", app.KeyFile)
	if app.SecretFile != "" {
		b.WriteString("  webhook_secret: ${GITHUB_WEBHOOK_SECRET}\n")
	}
	if apiURL != "" {
		fmt.Fprintf(&b, "  api_url: %q\n", apiURL)
	}
	if app.SecretFile != "" {
		fmt.Fprintf(&b, "\nand in deployq's environment:\n\n  export GITHUB_WEBHOOK_SECRET=\"$(cat '%s')\"\n", app.SecretFile)
	}
	return b.String()
}
