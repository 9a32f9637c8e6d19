// Package api is deployq's HTTP server (go-chi/chi): the REST API, deploy
// logs as text, followed or as server-sent events, health and metrics. It
// mounts the handlers that the chat and GitHub adapters expose.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/deployq/deployq/queue"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MaxBody caps request bodies.
const MaxBody = 64 << 10

// ChatFunc answers one chat message for the API's chat endpoint.
type ChatFunc func(ctx context.Context, user, text string) (reply string, d *queue.Deploy, err error)

// Options configure a Server.
type Options struct {
	Service *queue.Service
	Logger  *slog.Logger
	BaseURL string
	// Tokens maps bearer tokens to user names. Empty: the API is open and
	// the user is the X-Deployq-User header, or "anonymous".
	Tokens  map[string]string
	Chat    ChatFunc
	Metrics *Metrics
	// Mount adds handlers outside the API (webhooks, chat adapters) by path.
	Mount map[string]http.Handler
	// Events feeds GET /api/v1/events; register it as a queue Notifier.
	// The Server renders the lanes its events carry.
	Events *Events
	// GitHubOAuth, when set, lets dashboard users sign in with GitHub.
	GitHubOAuth *GitHubOAuth
	// NoUI leaves the dashboard out.
	NoUI bool
	// Degraded says which outside parts deployq works without for now
	// (slack: why), for /healthz; nil: none.
	Degraded func() map[string]string
	// People says who a GitHub login signing in is (a person's name, or
	// github:login); nil: github:login.
	People *queue.People
	// Limits bound what peers can hold: body and write timeouts, bodies
	// of unknown senders, followers.
	Limits Limits
}

// Server is the HTTP handler of deployq.
type Server struct {
	svc      *queue.Service
	log      *slog.Logger
	baseURL  string
	tokens   map[string]string
	chat     ChatFunc
	router   chi.Router
	hub      *Events
	sessions *sessions
	oauth    *GitHubOAuth
	degraded func() map[string]string
	people   *queue.People
	limits   Limits
	// bodyTurns holds a place for each body of an unknown sender being
	// read (unknownSender).
	bodyTurns chan struct{}
	streams   *streams
}

// New builds the handler.
func New(o Options) *Server {
	limits := o.Limits.withDefaults()
	base := strings.TrimRight(o.BaseURL, "/")
	s := &Server{svc: o.Service, log: o.Logger, baseURL: base, tokens: o.Tokens, chat: o.Chat,
		hub: o.Events, sessions: newSessions(strings.HasPrefix(base, "https://")), oauth: o.GitHubOAuth,
		degraded: o.Degraded, people: o.People, limits: limits,
		bodyTurns: make(chan struct{}, limits.OpenBodies), streams: newStreams(limits)}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.hub != nil {
		s.hub.attach(s)
	}
	r := chi.NewRouter()
	r.Use(s.recoverer, s.deadlines)
	// Webhooks and chat adapters: their senders prove who they are by a
	// signature over the whole body, so a few bodies are read at a time.
	r.Group(func(r chi.Router) {
		r.Use(s.unknownSender)
		for path, h := range o.Mount {
			r.Handle(path, h)
		}
	})
	// What browsers use: no other site may change anything through them.
	r.Group(func(r chi.Router) {
		r.Use(s.sameSite)
		r.Get("/healthz", s.healthz)
		if o.Metrics != nil {
			o.Metrics.Registry.MustRegister(s.streams)
			r.Handle("/metrics", promhttp.HandlerFor(o.Metrics.Registry, promhttp.HandlerOpts{}))
		}
		if !o.NoUI {
			s.mountUI(r)
		}
		r.With(s.unknownSender, limitBody).Post("/ui/login", s.login)
		r.Get("/ui/whoami", s.uiWhoami)
		r.Get("/ui/config", s.uiConfig)
		r.Post("/ui/logout", s.logout)
		r.Get("/ui/auth/github", s.githubLogin)
		r.Get("/ui/auth/github/callback", s.githubCallback)
		r.Route("/api/v1", s.routeAPI)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, queue.Errorf(queue.ENotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeErrorBody(w, http.StatusMethodNotAllowed, queue.EInvalid, fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path))
	})
	s.router = r
	return s
}

// routeAPI routes /api/v1: who asks is known (auth) before a body is read,
// and on an open server, where anyone may ask, a few bodies are read at a
// time.
func (s *Server) routeAPI(r chi.Router) {
	r.Use(s.auth)
	if len(s.tokens) == 0 {
		r.Use(s.unknownSender)
	}
	r.Use(limitBody)
	r.Post("/deploys", s.createDeploy)
	r.Get("/deploys", s.listDeploys)
	r.Get("/deploys/{id}", s.getDeploy)
	r.Post("/deploys/{id}/cancel", s.onDeploy(http.StatusAccepted, s.svc.Cancel))
	r.Post("/deploys/{id}/continue", s.onDeploy(http.StatusAccepted, s.svc.Continue))
	r.Get("/deploys/{id}/log", s.getLog)
	r.Post("/rollbacks", s.createRollback)
	r.Post("/operations", s.createOperation)
	r.Post("/promotions", s.createPromotion)
	r.Post("/deploys/{id}/approve", s.onDeploy(http.StatusOK, s.svc.Approve))
	r.Post("/deploys/{id}/reject", s.rejectDeploy)
	r.Get("/freezes", s.listFreezes)
	r.Post("/freezes", s.createFreeze)
	r.Delete("/freezes/{env}", s.deleteFreeze)
	r.Get("/bad-shas", s.listBadSHAs)
	r.Post("/bad-shas", s.markBad)
	r.Delete("/bad-shas/{app}/{ref}", s.unmarkBad)
	r.Delete("/locks", s.deleteAllLocks)
	r.Get("/environments", s.environments)
	r.Get("/locks", s.listLocks)
	r.Post("/locks", s.createLock)
	r.Delete("/locks/{env}", s.deleteLock)
	r.Post("/chat", s.postChat)
	r.Get("/audit", s.audit)
	r.Post("/prune", s.prune)
	r.Get("/events", s.events)
	r.Get("/whoami", s.whoami)
	r.Get("/preview", s.preview)
	r.Get("/parameters", s.parameters)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// recoverer answers a handler's panic with an internal error and logs it;
// the server goes on.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				s.writeError(w, r, fmt.Errorf("panic: %v", p))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies at MaxBody: a longer one fails to decode
// with too_large, and one declared longer is refused before it is read.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBody {
			w.Header().Set("Connection", "close")
			writeErrorBody(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over %d bytes", MaxBody))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		next.ServeHTTP(w, r)
	})
}
