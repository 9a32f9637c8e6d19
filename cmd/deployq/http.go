package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/queue"
)

// listen opens the listener, before anything starts, and settles the base
// URL: the address listened on when it was chosen by the command line or
// by the system (port 0), else server.base_url. Without api_tokens the API
// is open, so the address bound must be a loopback one, whoever chose it
// (the config, --listen, the demo) and whatever its name resolved to.
func (m *Main) listen() error {
	s := m.Config.Server
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another deployq running? try --listen 127.0.0.1:0)", s.Listen, err)
	}
	if len(s.APITokens) == 0 && !loopback(ln.Addr()) {
		ln.Close()
		return fmt.Errorf("listen on %s: %s is not a loopback address, and without server.api_tokens the API would be open to anyone who reaches it: set api_tokens, or listen on 127.0.0.1", s.Listen, ln.Addr())
	}
	m.listener = ln
	m.URL = s.BaseURL
	if _, port, _ := net.SplitHostPort(s.Listen); port == "0" || m.Listen != "" {
		m.URL = "http://" + ln.Addr().String()
	}
	return nil
}

// loopback reports whether a listener's address is a loopback one.
func loopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// serveHTTP serves the API, the dashboard, chat over HTTP and the mounted
// webhooks on the listener, until Close.
func (m *Main) serveHTTP(b *bot.Bot) {
	cfg := m.Config
	tokens := map[string]string{}
	for _, t := range cfg.Server.APITokens {
		tokens[t.Token] = t.Name
	}
	var oauth *api.GitHubOAuth
	if g := cfg.Server.GitHubOAuth; g != nil {
		oauth = &api.GitHubOAuth{ClientID: g.ClientID, ClientSecret: g.ClientSecret, AuthURL: g.AuthURL, TokenURL: g.TokenURL, APIURL: g.APIURL,
			Allow: api.GitHubAllow{Orgs: g.Allow.Orgs, Teams: g.Allow.Teams, Logins: g.Allow.Logins}}
	}
	s := cfg.Server
	handler := api.New(api.Options{
		Service: m.Service, Logger: m.Logger, BaseURL: m.URL, Tokens: tokens, Metrics: m.metrics, Mount: m.mounts(),
		Events: m.events, GitHubOAuth: oauth, Degraded: m.degraded, People: cfg.People,
		Limits: api.Limits{BodyTimeout: s.BodyTimeout, WriteTimeout: s.WriteTimeout, Followers: s.MaxFollowers, FollowersPerDeploy: s.MaxFollowersPerDeploy},
		Chat: func(ctx context.Context, user, text string) (string, *queue.Deploy, error) {
			r := b.Handle(ctx, bot.Message{User: user, Text: text})
			return r.Text, r.Deploy, r.Err
		},
	})
	// Handlers (log streams above all) end when the server stops.
	reqCtx, endRequests := context.WithCancel(m.life)
	m.endRequests = endRequests
	// Headers come within 10s and 64 KiB; an idle connection is closed
	// after 2 minutes; bodies and writes are bounded by the handler.
	m.HTTPServer = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return reqCtx }}
	m.served = make(chan error, 1)
	go func() {
		if err := m.HTTPServer.Serve(m.listener); !errors.Is(err, http.ErrServerClosed) {
			m.served <- err
		}
	}()
}

// mounts are the handlers outside the API: Slack's HTTP mode and
// GitHub's webhooks.
func (m *Main) mounts() map[string]http.Handler {
	mounts := map[string]http.Handler{}
	if m.slack != nil && m.Config.Slack.Mode == "http" {
		mounts = m.slack.Handlers()
	}
	if h := m.webhooks(); h != nil {
		mounts["/webhooks/github"] = h
	}
	return mounts
}

// Err receives the HTTP server's error if it stops serving before Close.
func (m *Main) Err() <-chan error { return m.served }

// stopHTTP lets the open requests end for a moment, then ends them (the
// log streams of deploys still queued), and closes the listener.
func (m *Main) stopHTTP() {
	if m.HTTPServer == nil {
		if m.listener != nil {
			m.listener.Close()
		}
		return
	}
	shutdown, cancel := context.WithTimeout(m.life, 2*time.Second)
	defer cancel()
	if m.HTTPServer.Shutdown(shutdown) != nil {
		m.endRequests()
		m.HTTPServer.Close()
	}
	m.endRequests()
}

// degraded says which outside parts deployq works without for now.
func (m *Main) degraded() map[string]string {
	down := map[string]string{}
	if m.slack != nil {
		if err := m.slack.Health(); err != nil {
			down["slack"] = err.Error()
		}
	}
	return down
}
