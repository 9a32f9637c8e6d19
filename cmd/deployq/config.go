package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/deployq/deployq/config"
	"github.com/deployq/deployq/queue"
	slackgo "github.com/slack-go/slack"
)

// defaultConfig is used when --config is not given and it exists.
const defaultConfig = "deployq.yaml"

// loadConfig reads the config at path, or at defaultConfig when path is
// empty; with neither (no path, no defaultConfig) it returns nil.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		if _, err := os.Stat(defaultConfig); err != nil {
			return nil, nil
		}
		path = defaultConfig
	}
	return config.Load(path, kinds)
}

// checkConfig is the check-config command: it validates a config file
// without starting anything and prints every error, one a line, with its
// file, line and key. With --online it also reaches what the config
// names (Slack, GitHub, each app's git, ssh hosts, Kubernetes and
// Marathon APIs), a line for each check. Any error or failed check makes
// it exit 1.
func checkConfig(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	path := fs.String("config", "", "config file (default ./deployq.yaml)")
	online := fs.Bool("online", false, "also reach Slack, GitHub, each app's git, the ssh hosts and the Kubernetes and Marathon APIs")
	timeout := fs.Duration("timeout", 10*time.Second, "how long each --online check may take")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if *path == "" {
		*path = defaultConfig
	}
	cfg, err := config.Load(*path, kinds)
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(stdout, e)
		}
		if len(errs) == 1 {
			fmt.Fprintf(stdout, "%s: 1 error\n", *path)
		} else {
			fmt.Fprintf(stdout, "%s: %d errors\n", *path, len(errs))
		}
		return exitCode(1)
	}
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stdout, w)
	}
	if err := missingRunner(cfg); err != nil {
		fmt.Fprintf(stdout, "%s: %v\n%s: 1 error\n", cfg.File, err, cfg.File)
		return exitCode(1)
	}
	envs := 0
	for _, a := range cfg.Apps {
		envs += len(a.Environments)
	}
	fmt.Fprintf(stdout, "%s: ok, %d apps, %d environments\n", cfg.File, len(cfg.Apps), envs)
	if !*online {
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if runProbes(ctx, probes(cfg), *timeout, stdout) > 0 {
		return exitCode(1)
	}
	return nil
}

// probe is one --online check. run calls report once for each thing it
// tried: what names it and, when err is nil, what was found.
type probe struct {
	name string // "slack", "git web", "ssh web/production"
	run  func(ctx context.Context, report func(what string, err error))
}

// probes lists the online checks of a config: Slack, GitHub, each app's
// git, and the runner settings that can be probed (each once, however
// many apps share them).
func probes(cfg *config.Config) []probe {
	var ps []probe
	if s := cfg.Slack; s != nil {
		ps = append(ps, probe{"slack", func(ctx context.Context, report func(string, error)) { probeSlack(ctx, s, report) }})
	}
	if g := cfg.GitHub; g.HasAPI() {
		ps = append(ps, probe{"github", func(ctx context.Context, report func(string, error)) { probeGitHub(ctx, g, cfg.Apps, report) }})
	}
	for _, a := range cfg.Apps {
		if a.Git != "" {
			ps = append(ps, probe{"git " + a.Name, func(ctx context.Context, report func(string, error)) { probeGit(ctx, a, report) }})
		}
	}
	var probed []any
	for _, a := range cfg.Apps {
		for _, e := range a.Environments {
			p, ok := e.Settings.(config.Prober)
			if !ok || slices.ContainsFunc(probed, func(s any) bool { return reflect.DeepEqual(s, e.Settings) }) {
				continue
			}
			probed = append(probed, e.Settings)
			ps = append(ps, probe{e.Runner + " " + a.Name + "/" + e.Name, p.Probe})
		}
	}
	return ps
}

// runProbes runs the probes, a few at a time, each within timeout, and
// prints their lines in order: "ok    what" or "FAIL  what: why". It
// returns how many failed.
func runProbes(ctx context.Context, ps []probe, timeout time.Duration, w io.Writer) (failed int) {
	if len(ps) == 0 {
		fmt.Fprintln(w, "online: nothing to reach")
		return 0
	}
	type line struct {
		what string
		err  error
	}
	lines := make([][]line, len(ps))
	done := make([]chan struct{}, len(ps))
	slots := make(chan struct{}, 4)
	for i, p := range ps {
		done[i] = make(chan struct{})
		go func() {
			defer close(done[i])
			slots <- struct{}{}
			defer func() { <-slots }()
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			p.run(pctx, func(what string, err error) { lines[i] = append(lines[i], line{what, err}) })
		}()
	}
	total := 0
	for i, p := range ps {
		<-done[i]
		for _, l := range lines[i] {
			total++
			if l.err != nil {
				failed++
				fmt.Fprintf(w, "FAIL  %s %s: %s\n", p.name, l.what, oneLine(l.err.Error()))
			} else {
				fmt.Fprintf(w, "ok    %s %s\n", p.name, l.what)
			}
		}
	}
	if failed > 0 {
		fmt.Fprintf(w, "online: %d of %d checks failed\n", failed, total)
	} else {
		fmt.Fprintf(w, "online: %d checks ok\n", total)
	}
	return failed
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// probeSlack asks Slack who the bot token is (auth.test).
func probeSlack(ctx context.Context, s *config.Slack, report func(string, error)) {
	var opts []slackgo.Option
	if s.APIURL != "" {
		opts = append(opts, slackgo.OptionAPIURL(s.APIURL))
	}
	r, err := slackgo.New(s.BotToken, opts...).AuthTestContext(ctx)
	if err != nil {
		report("auth.test with the bot token", err)
		return
	}
	report(fmt.Sprintf("auth.test: bot %s in %s (%s)", r.User, r.Team, r.TeamID), nil)
}

// probeGitHub asks GitHub who the token is (GET /user), or whether the
// App is installed (GET /app/installations/{id}, with the App's JWT), then
// reads each app's repository with that access.
func probeGitHub(ctx context.Context, g *config.GitHub, apps []*queue.App, report func(string, error)) {
	base := "https://api.github.com"
	if g.APIURL != "" {
		base = strings.TrimRight(g.APIURL, "/")
		if !strings.HasSuffix(base, "/api/v3") {
			base += "/api/v3"
		}
	}
	var hc *http.Client
	if g.Token != "" {
		hc = &http.Client{Transport: bearer(g.Token)}
		var u struct{ Login string }
		if err := getJSON(ctx, hc, base+"/user", &u); err != nil {
			report("token (GET /user)", err)
			return
		}
		report("token: user "+u.Login, nil)
	} else {
		what := fmt.Sprintf("App %d, installation %d", g.AppID, g.InstallationID)
		atr, err := ghinstallation.NewAppsTransportKeyFromFile(http.DefaultTransport, int64(g.AppID), g.PrivateKeyFile)
		if err != nil {
			report(what, err)
			return
		}
		atr.BaseURL = base
		var inst struct {
			Account             struct{ Login string }
			RepositorySelection string `json:"repository_selection"`
		}
		if err := getJSON(ctx, &http.Client{Transport: atr}, fmt.Sprintf("%s/app/installations/%d", base, g.InstallationID), &inst); err != nil {
			report(what, err)
			return
		}
		report(fmt.Sprintf("%s: installed on %s (%s repositories)", what, inst.Account.Login, inst.RepositorySelection), nil)
		hc = &http.Client{Transport: ghinstallation.NewFromAppsTransport(atr, int64(g.InstallationID))}
	}
	seen := map[string]bool{}
	for _, a := range apps {
		if a.Repo == "" || seen[strings.ToLower(a.Repo)] {
			continue
		}
		seen[strings.ToLower(a.Repo)] = true
		var r struct {
			FullName string `json:"full_name"`
		}
		if err := getJSON(ctx, hc, base+"/repos/"+a.Repo, &r); err != nil {
			report("repo "+a.Repo, err)
			continue
		}
		report("repo "+r.FullName+": readable", nil)
	}
}

// bearer sends a token as a bearer.
type bearer string

func (t bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(t))
	return http.DefaultTransport.RoundTrip(r)
}

// getJSON GETs a GitHub API URL into v; an answer other than 200 is an
// error with GitHub's message.
func getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Message string }
		json.Unmarshal(body, &e)
		if e.Message == "" || e.Message == http.StatusText(resp.StatusCode) {
			return fmt.Errorf("GET %s: %s", req.URL.Path, resp.Status)
		}
		return fmt.Errorf("GET %s: %s: %s", req.URL.Path, resp.Status, e.Message)
	}
	return json.Unmarshal(body, v)
}

// probeGit reads the app's default ref from its git (git ls-remote), as
// resolving a ref does. git and what it starts (ssh) are one process
// group, ended with the probe.
func probeGit(ctx context.Context, a *queue.App, report func(string, error)) {
	refs := []string{"refs/heads/" + a.DefaultRef, "refs/tags/" + a.DefaultRef}
	if queue.IsFullSHA(a.DefaultRef) {
		refs = []string{"HEAD"}
	}
	cmd := exec.CommandContext(ctx, "git", append([]string{"ls-remote", "--", a.Git}, refs...)...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	if os.Getenv("GIT_SSH_COMMAND") == "" {
		cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	what := "ls-remote " + a.Git
	switch {
	case ctx.Err() != nil:
		report(what, fmt.Errorf("no answer in time: %w", ctx.Err()))
	case err != nil:
		first, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		report(what, fmt.Errorf("%v: %s", err, first))
	case len(out) == 0:
		report(what, fmt.Errorf("no branch or tag %q (the app's default_ref)", a.DefaultRef))
	default:
		sha, _, _ := strings.Cut(string(out), "\t")
		report(fmt.Sprintf("%s: %s at %s", what, a.DefaultRef, queue.ShortSHA(sha)), nil)
	}
}
