package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/config"
	"github.com/deployq/deployq/git"
	"github.com/deployq/deployq/github"
	"github.com/deployq/deployq/notify"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners/verify"
	"github.com/deployq/deployq/store"
	"github.com/deployq/deployq/store/postgres"
)

// Main is the deployq server: its configuration, the store, the queue,
// the runners, Slack, GitHub and the HTTP server. It is the one place
// where they are built and connected. `deployq serve` opens one; the
// tests open the same.
type Main struct {
	// ConfigPath is the config file. Empty: ./deployq.yaml if it exists,
	// and without it the demo.
	ConfigPath string
	// Listen, when set, overrides server.listen, and the base URL is then
	// the address listened on (port 0: any free port).
	Listen string
	// DataDir, when set, overrides server.data_dir (the demo's too).
	DataDir string
	// Stdout is told where the server listens, and the demo's
	// introduction.
	Stdout io.Writer
	// Logger is the server's log.
	Logger *slog.Logger

	// Config is the configuration Open loaded, with the overrides above.
	// When set before Open, Open uses it instead of reading ConfigPath.
	Config *config.Config
	// Demo reports whether Open started the demo.
	Demo bool
	// URL is the server's base URL.
	URL string
	// Store is where deploys are kept: the SQLite database in the data
	// directory, or PostgreSQL (store.driver: postgres).
	Store queue.Store
	// closeStore closes it.
	closeStore func() error
	// Service is the queue.
	Service *queue.Service
	// HTTPServer serves the API, the dashboard and the webhooks.
	HTTPServer *http.Server

	life          context.Context // what Open starts runs in it, until Close
	unlockDataDir func()
	listener      net.Listener
	served        chan error
	endRequests   context.CancelFunc // ends the handlers (log streams) still open

	metrics *api.Metrics
	events  *api.Events

	slack     *slack.Adapter // nil without a slack section
	stopSlack context.CancelFunc

	github     *github.Client     // nil without GitHub's API
	reporter   *github.Reporter   // nil without GitHub's API
	actions    *github.Actions    // nil unless an environment's deploys are Actions jobs
	prComments *github.PRComments // nil without GitHub's API and webhooks
	bot        *bot.Bot           // the chat grammar, for every adapter that takes commands
	poller     *github.Poller     // nil unless GitHub is polled
	gitHubCtx  context.Context    // the reporter's and the poller's
	stopGitHub context.CancelFunc

	notify     *notify.Notifier // nil without notify sinks
	stopNotify context.CancelFunc

	closeOnce sync.Once
	closeErr  error
}

// setAPIVersion gives /healthz the version, once for every Main of the
// process.
var setAPIVersion sync.Once

// NewMain returns a Main that prints to stdout and logs to stderr.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{
		Stdout: stdout,
		Logger: newLogger("text", stderr),
	}
}

// Open builds everything and starts it: the data directory (locked
// against a second server), the store, the listener, the runners, the
// queue (which ends the deploys a dead server left running), GitHub,
// Slack, and the HTTP server. ctx bounds the start; what Open starts runs
// until Close. When Open fails, what it had started is closed again.
func (m *Main) Open(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if m.Stdout == nil {
		m.Stdout = io.Discard
	}
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	// What is started below lives until Close, whatever becomes of ctx.
	m.life = context.WithoutCancel(ctx)
	if err := m.configure(ctx); err != nil {
		return err
	}
	cfg := m.Config
	if err := m.openDataDir(ctx); err != nil {
		return err
	}
	if err := m.listen(); err != nil {
		return err
	}
	m.metrics, m.events = api.NewMetrics(), api.NewEvents()
	build := readBuild()
	m.metrics.Build(build.Version, build.Commit, build.GoVersion)
	setAPIVersion.Do(func() { api.Version = build.Version })
	m.slack = newSlack(cfg.Slack, m.URL, m.Logger)
	if err := m.newGitHub(); err != nil {
		return err
	}
	if m.Service, err = m.newQueue(); err != nil {
		return err
	}
	// The reporter starts before the queue: recovery's statuses must reach
	// GitHub too.
	m.startReporter()
	m.startNotify()
	if err := m.Service.Start(m.life); err != nil {
		return err
	}
	m.metrics.Watch(m.Service)
	if m.slack != nil {
		m.metrics.WatchParts([]string{"slack"}, m.degraded)
	}
	b := bot.New(m.Service, m.URL)
	m.bot = b
	if err := m.startSlack(b); err != nil {
		return err
	}
	m.startPoller()
	m.serveHTTP(b)

	fmt.Fprintf(m.Stdout, "deployq listening on %s\n", m.URL)
	if m.Demo {
		printDemo(m.Stdout, m.URL)
	}
	m.Logger.Info("started", "version", build.Version, "commit", build.Commit, "listen", m.listener.Addr().String(),
		"apps", len(cfg.Apps), "data_dir", cfg.Server.DataDir, "config", cfg.File)
	for _, w := range m.Config.Warnings {
		m.Logger.Warn("config: " + w.Error())
	}
	if err := missingRunner(m.Config); err != nil {
		m.Logger.Error("deploys there will fail: " + err.Error())
	}
	return nil
}

// Close stops everything Open started, in order: the running deploys end
// first (interrupted), so that people following their logs see how they
// ended; Slack shows the last states; the open requests end; GitHub's
// reporter stops (what it did not send stays in the outbox); then the
// store closes and the data directory is free for the next server. Close
// may be called more than once.
func (m *Main) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Main) close() error {
	if m.HTTPServer != nil {
		m.Logger.Info("stopping")
	}
	if m.Service != nil {
		m.Service.Stop()
	}
	m.stopSlackAdapter()
	m.stopHTTP()
	m.stopGitHubAdapters()
	if m.stopNotify != nil {
		m.stopNotify()
		m.notify.Wait()
	}
	var err error
	if m.closeStore != nil {
		err = m.closeStore()
	}
	if m.unlockDataDir != nil {
		m.unlockDataDir()
	}
	return err
}

// configure loads the config, or sets up the demo without one, and
// applies Listen and DataDir.
func (m *Main) configure(ctx context.Context) error {
	if m.Config == nil {
		cfg, err := loadConfig(m.ConfigPath)
		if err != nil {
			return err
		}
		if cfg == nil {
			if cfg, err = demoConfig(ctx, cmp.Or(m.DataDir, "./data"), m.Listen); err != nil {
				return fmt.Errorf("setting up the demo: %w", err)
			}
			m.Demo = true
		}
		m.Config = cfg
	}
	if m.Listen != "" {
		m.Config.Server.Listen = m.Listen
	}
	if m.DataDir != "" {
		m.Config.Server.DataDir = m.DataDir
	}
	return nil
}

// openDataDir creates and locks the data directory and opens the store:
// SQLite in it, or PostgreSQL.
func (m *Main) openDataDir(ctx context.Context) error {
	dir := m.Config.Server.DataDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	unlock, err := lockDataDir(dir)
	if err != nil {
		return err
	}
	m.unlockDataDir = unlock
	if m.Config.Store.Driver == config.DriverPostgres {
		pg, err := postgres.Open(ctx, m.Config.Store.DSN)
		if err != nil {
			return err
		}
		m.Store, m.closeStore = pg, pg.Close
		return nil
	}
	st, err := store.Open(ctx, filepath.Join(dir, "deployq.db"))
	if err != nil {
		return err
	}
	m.Store, m.closeStore = st, st.Close
	go func() { // the whole file is read: beside the start, not before it
		if err := <-st.Checked(); err != nil {
			m.Logger.Error("THE DATABASE IS DAMAGED: deploys are refused until it is restored", "err", err)
		}
	}()
	return nil
}

// newQueue builds the queue over the store and the runners. Refs resolve
// through GitHub's API when there is one, else with git; the metrics, the
// event stream, Slack and GitHub's reporter hear of every change.
func (m *Main) newQueue() (*queue.Service, error) {
	cfg := m.Config
	notifiers := []queue.Notifier{m.metrics}
	var identify func(context.Context, string) []string
	observers := []queue.Notifier{m.events} // the event stream
	if m.slack != nil {
		notifiers = append(notifiers, m.slack)
		observers = append(observers, m.slack.HomeWatcher()) // the Home tabs
		identify = m.slack.Identify
	}
	if m.reporter != nil {
		notifiers = append(notifiers, m.reporter)
	}
	if m.actions != nil {
		notifiers = append(notifiers, m.actions)
	}
	if m.prComments != nil {
		notifiers = append(notifiers, m.prComments)
	}
	if len(cfg.Notify) > 0 {
		m.notify = notify.New(notifySinks(cfg.Notify), m.URL, m.Logger)
		notifiers = append(notifiers, m.notify)
	}
	var resolver queue.Resolver = git.NewResolver(filepath.Join(cfg.Server.DataDir, "git"))
	var comparer queue.Comparer
	var checker queue.Checker
	if m.github != nil {
		resolver = github.NewResolver(m.github, resolver)
		comparer, checker = m.github, m.github
	}
	o := queue.Options{
		Store:       m.Store,
		Runners:     newRunners(cfg.Server.DataDir, cfg.Server.KillGrace, m.actions, m.Logger),
		Resolver:    resolver,
		Comparer:    comparer,
		Notifiers:   notifiers,
		Observers:   observers, // they hear of other servers' changes too
		Logger:      m.Logger,
		MaxParallel: cfg.Server.MaxParallel,
		Server:      cfg.Server.Name,
		Admins:      cfg.Admins,
		Freeze:      cfg.Freeze,
		Secrets:     cfg.Secrets,
		Identify:    identify,
		People:      cfg.People,
		Checker:     checker,
		Prober:      verify.New(filepath.Join(cfg.Server.DataDir, "workspaces")),
	}
	if cfg.GitHub != nil {
		o.RecheckEvery = cfg.GitHub.PollInterval
	}
	if cfg.Store.Driver == config.DriverPostgres { // several servers may share it
		o.Lease = cfg.Store.Lease
	}
	return queue.New(cfg.Apps, o)
}

// startNotify starts the announcements to the notify sinks, before the
// queue: what recovery changes is announced too.
func (m *Main) startNotify() {
	if m.notify == nil {
		return
	}
	var ctx context.Context
	ctx, m.stopNotify = context.WithCancel(m.life)
	m.notify.Start(ctx, m.Service)
}

// notifySinks are the config's sinks as the notifier takes them.
func notifySinks(cs []config.NotifySink) []notify.Sink {
	out := make([]notify.Sink, len(cs))
	for i, c := range cs {
		out[i] = notify.Sink{Name: c.Name, Kind: c.Kind, URL: c.URL, Secret: c.Secret, Token: c.Token, Channel: c.Channel,
			Events: c.Events, App: c.App, Env: c.Env}
	}
	return out
}
