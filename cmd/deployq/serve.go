package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/config"
	"github.com/deployq/deployq/git"
	"github.com/deployq/deployq/github"
	"github.com/deployq/deployq/queue"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
	"github.com/deployq/deployq/runners/marathon"
	"github.com/deployq/deployq/runners/shell"
	sshrunner "github.com/deployq/deployq/runners/ssh"
	"github.com/deployq/deployq/store"
)

// kinds are the runner kinds this build knows, with their settings types.
var kinds = config.Kinds{
	"shell":      func() any { return &shell.Settings{} },
	"ssh":        func() any { return &sshrunner.Settings{} },
	"kubernetes": func() any { return &kuberunner.Settings{} },
	"marathon":   func() any { return &marathon.Settings{} },
}

// defaultConfig is used when --config is not given and it exists.
const defaultConfig = "deployq.yaml"

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		if _, err := os.Stat(defaultConfig); err != nil {
			return nil, nil
		}
		path = defaultConfig
	}
	return config.Load(path, kinds)
}

func checkConfig(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	path := fs.String("config", "", "config file (default ./deployq.yaml)")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if *path == "" {
		*path = defaultConfig
	}
	cfg, err := config.Load(*path, kinds)
	if err != nil {
		return err
	}
	envs := 0
	for _, a := range cfg.Apps {
		envs += len(a.Environments)
	}
	fmt.Fprintf(stdout, "%s: ok, %d apps, %d environments\n", cfg.File, len(cfg.Apps), envs)
	return nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default ./deployq.yaml; without one, a demo)")
	listen := fs.String("listen", "", "address to listen on, overriding server.listen (port 0: any free port)")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	demo := cfg == nil
	if demo {
		if cfg, err = demoConfig(ctx, "./data", *listen); err != nil {
			return fmt.Errorf("setting up the demo: %w", err)
		}
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	dataDir := cfg.Server.DataDir
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return err
	}
	defer unlock()

	st, err := store.Open(ctx, filepath.Join(dataDir, "deployq.db"))
	if err != nil {
		return err
	}
	defer st.Close()

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another deployq running? try --listen 127.0.0.1:0)", cfg.Server.Listen, err)
	}
	baseURL := cfg.Server.BaseURL
	if _, port, _ := net.SplitHostPort(cfg.Server.Listen); port == "0" || *listen != "" {
		baseURL = "http://" + ln.Addr().String()
	}

	shellRunner := shell.New(filepath.Join(dataDir, "workspaces"))
	if cfg.Server.KillGrace > 0 {
		shellRunner.Grace = cfg.Server.KillGrace
	}
	if pgids := shellRunner.Reap(); len(pgids) > 0 {
		log.Warn("ended process groups left by deploys of a server that died", "pgids", pgids)
	}
	metrics := api.NewMetrics()
	events := api.NewEvents()
	notifiers := []queue.Notifier{metrics, events}
	var sl *slack.Adapter
	if c := cfg.Slack; c != nil {
		sl = slack.New(slack.Config{Mode: c.Mode, BotToken: c.BotToken, AppToken: c.AppToken,
			SigningSecret: c.SigningSecret, Channel: c.Channel, Channels: c.Channels, APIURL: c.APIURL, BaseURL: baseURL,
			LockNagAfter: c.LockNagAfter}, log)
		notifiers = append(notifiers, sl)
	}
	var identify func(context.Context, string) []string
	if sl != nil {
		identify = sl.Identify
	}
	var checker queue.Checker
	var checkerClient *github.Client
	var reporter *github.Reporter
	if g := cfg.GitHub; g.HasAPI() {
		var c *github.Client
		var err error
		if g.Token != "" {
			c, err = github.NewClient(g.Token, g.APIURL)
		} else {
			c, err = github.NewAppClient(int64(g.AppID), int64(g.InstallationID), g.PrivateKeyFile, g.APIURL)
		}
		if err != nil {
			return err
		}
		checker, checkerClient = c, c
		reporter = github.NewReporter(c, baseURL, log)
		notifiers = append(notifiers, reporter)
	}
	var resolver queue.Resolver = git.NewResolver(filepath.Join(dataDir, "git"))
	var comparer queue.Comparer
	if checkerClient != nil {
		resolver = github.NewResolver(checkerClient, resolver)
		comparer = checkerClient
	}
	svc, err := queue.New(cfg.Apps, queue.Options{
		Store: st,
		Runners: map[string]queue.Runner{"shell": shellRunner,
			"ssh":        sshrunner.New(func(msg string) { log.Warn(msg) }),
			"kubernetes": kuberunner.New(),
			"marathon":   marathon.New()},
		Resolver:    resolver,
		Comparer:    comparer,
		Notifiers:   notifiers,
		Logger:      log,
		MaxParallel: cfg.Server.MaxParallel,
		Admins:      cfg.Admins,
		Freeze:      cfg.Freeze,
		Secrets:     cfg.Secrets,
		Identify:    identify,
		Checker:     checker,
		RecheckEvery: func() time.Duration {
			if cfg.GitHub != nil {
				return cfg.GitHub.PollInterval
			}
			return 0
		}(),
	})
	if err != nil {
		ln.Close()
		return err
	}
	reportCtx, stopReporting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopReporting()
	if reporter != nil {
		// before the queue starts: recovery's statuses must reach GitHub too
		reporter.Start(reportCtx, svc)
		defer reporter.Wait() // runs before the store closes
		defer stopReporting()
	}
	if err := svc.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	metrics.Watch(svc)
	b := bot.New(svc, baseURL)
	tokens := map[string]string{}
	for _, t := range cfg.Server.APITokens {
		tokens[t.Token] = t.Name
	}
	mounts := map[string]http.Handler{}
	slackCtx, stopSlack := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSlack()
	if sl != nil {
		if err := sl.Start(slackCtx, svc, b); err != nil {
			svc.Stop()
			ln.Close()
			return err
		}
		if cfg.Slack.Mode == "http" {
			mounts = sl.Handlers()
		}
		log.Info("slack connected", "mode", cfg.Slack.Mode)
	}
	if g := cfg.GitHub; g != nil && g.WebhookSecret != "" {
		mounts["/webhooks/github"] = github.NewReceiver(g.WebhookSecret, svc, log)
	}
	if g := cfg.GitHub; g != nil && g.Mode == "poll" {
		github.NewPoller(checkerClient, svc, g.PollInterval, log).Start(reportCtx)
		log.Info("polling GitHub", "every", g.PollInterval)
	}
	var oauth *api.GitHubOAuth
	if g := cfg.Server.GitHubOAuth; g != nil {
		oauth = &api.GitHubOAuth{ClientID: g.ClientID, ClientSecret: g.ClientSecret, AuthURL: g.AuthURL, TokenURL: g.TokenURL, APIURL: g.APIURL}
	}
	handler := api.New(api.Options{
		Service: svc, Logger: log, BaseURL: baseURL, Tokens: tokens, Metrics: metrics, Mount: mounts, Events: events,
		GitHubOAuth: oauth,
		Chat: func(ctx context.Context, user, text string) (string, *queue.Deploy, error) {
			r := b.Handle(ctx, bot.Message{User: user, Text: text})
			return r.Text, r.Deploy, r.Err
		},
	})
	// Handlers (log streams above all) end when the server stops.
	reqCtx, endRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer endRequests()
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return reqCtx }}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	fmt.Fprintf(stdout, "deployq listening on %s\n", baseURL)
	if demo {
		printDemo(stdout, baseURL)
	}
	log.Info("started", "listen", ln.Addr().String(), "apps", len(cfg.Apps), "data_dir", dataDir, "config", cfg.File)

	select {
	case <-ctx.Done():
	case err = <-served:
	}
	log.Info("stopping")
	// Running deploys end first (interrupted), so that people following
	// their logs see how they ended; then the open requests end.
	svc.Stop()
	if sl != nil {
		// the last states reach Slack, within a bound
		time.AfterFunc(3*time.Second, stopSlack)
		sl.Idle()
		stopSlack()
		sl.Wait()
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if srv.Shutdown(shutdown) != nil {
		endRequests() // streams of deploys that are still queued
		srv.Close()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// lockDataDir keeps two servers from sharing one data directory.
func lockDataDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "deployq.pid"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(f)
		f.Close()
		return nil, fmt.Errorf("another deployq (pid %s) uses %s", strings.TrimSpace(string(b)), dir)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}
