// Package api is deployq's HTTP server (go-chi/chi): the REST API, deploy
// logs as text, followed or as server-sent events, health and metrics. It
// mounts the handlers that the chat and GitHub adapters expose.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	Events *Events
	// GitHubOAuth, when set, lets dashboard users sign in with GitHub.
	GitHubOAuth *GitHubOAuth
	// NoUI leaves the dashboard out.
	NoUI bool
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
}

// New builds the handler.
func New(o Options) *Server {
	s := &Server{svc: o.Service, log: o.Logger, baseURL: strings.TrimRight(o.BaseURL, "/"), tokens: o.Tokens, chat: o.Chat,
		hub: o.Events, sessions: newSessions(), oauth: o.GitHubOAuth}
	if s.log == nil {
		s.log = slog.Default()
	}
	r := chi.NewRouter()
	r.Use(s.recoverer)
	r.Get("/healthz", s.healthz)
	if o.Metrics != nil {
		r.Handle("/metrics", promhttp.HandlerFor(o.Metrics.Registry, promhttp.HandlerOpts{}))
	}
	for path, h := range o.Mount {
		r.Handle(path, h)
	}
	if !o.NoUI {
		s.mountUI(r)
	}
	r.Post("/ui/login", s.login)
	r.Get("/ui/whoami", s.uiWhoami)
	r.Get("/ui/config", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"open": len(s.tokens) == 0, "github": s.oauth != nil})
	})
	r.Post("/ui/logout", s.logout)
	r.Get("/ui/auth/github", s.githubLogin)
	r.Get("/ui/auth/github/callback", s.githubCallback)
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(s.auth)
		r.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
				next.ServeHTTP(w, r)
			})
		})
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
		r.Delete("/locks", s.deleteAllLocks)
		r.Get("/environments", s.environments)
		r.Get("/locks", s.listLocks)
		r.Post("/locks", s.createLock)
		r.Delete("/locks/{env}", s.deleteLock)
		r.Post("/chat", s.postChat)
		r.Get("/audit", s.audit)
		r.Get("/events", s.events)
		r.Get("/whoami", s.whoami)
		r.Get("/preview", s.preview)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, queue.Errorf(queue.ENotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		fmt.Fprintf(w, "{\"error\": {\"code\": \"invalid\", \"message\": \"%s is not allowed on %s\"}}\n", r.Method, r.URL.Path)
	})
	s.router = r
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

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

type userKey struct{}

var userRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := "anonymous"
		got, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		cookieUser, cookie := s.sessions.user(r)
		switch {
		case bearer && len(s.tokens) > 0:
			if user = s.tokenUser(got); user == "" {
				s.writeError(w, r, queue.Errorf(queue.EUnauthorized, "missing or unknown bearer token"))
				return
			}
		case cookie:
			// the dashboard: changes must come with the UI header, which
			// another site cannot make a browser send
			if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get(uiHeader) == "" {
				s.writeError(w, r, queue.Errorf(queue.EForbidden, "a change from a browser session needs the %s header", uiHeader))
				return
			}
			user = cookieUser
		case len(s.tokens) == 0:
			if u := r.Header.Get("X-Deployq-User"); userRe.MatchString(u) {
				user = u
			}
		default:
			s.writeError(w, r, queue.Errorf(queue.EUnauthorized, "missing or unknown bearer token"))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
	})
}

func userOf(r *http.Request) string { u, _ := r.Context().Value(userKey{}).(string); return u }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if _, err := s.svc.Deploys(r.Context(), queue.DeployFilter{Limit: 1}); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "error": err.Error()})
		return
	}
	if err := s.svc.Health(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": queue.ErrorMessage(err)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) createDeploy(w http.ResponseWriter, r *http.Request) {
	var req struct {
		App            string `json:"app"`
		Env            string `json:"env"`
		Ref            string `json:"ref"`
		Force          bool   `json:"force"`
		OverrideFreeze bool   `json:"override_freeze"` // admins: deploy!!
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.App == "" {
		s.writeError(w, r, queue.Errorf(queue.EInvalid, "app is required"))
		return
	}
	d, err := s.svc.Submit(r.Context(), queue.Request{App: req.App, Env: req.Env, Ref: req.Ref, Force: req.Force,
		Override: req.OverrideFreeze, User: userOf(r), Source: queue.SourceAPI})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, s.deployJSON(d))
}

func (s *Server) createRollback(w http.ResponseWriter, r *http.Request) {
	var req struct {
		App string `json:"app"`
		Env string `json:"env"`
		To  string `json:"to"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := s.svc.Rollback(r.Context(), queue.RollbackRequest{App: req.App, Env: req.Env, To: req.To, User: userOf(r)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, s.deployJSON(d))
}

// createOperation queues an app operation: {"app", "env", "op":
// scale|restart|stop|start, "instances" (scale)}. It answers 202 with the
// operation, a deploy record with "op" set, whose log is the deploy log.
func (s *Server) createOperation(w http.ResponseWriter, r *http.Request) {
	var req struct {
		App       string `json:"app"`
		Env       string `json:"env"`
		Op        string `json:"op"`
		Instances *int   `json:"instances"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	n := 0
	if req.Op == "scale" {
		if req.Instances == nil {
			s.writeError(w, r, queue.Errorf(queue.EInvalid, "scale needs instances"))
			return
		}
		n = *req.Instances
	}
	d, err := s.svc.Operate(r.Context(), queue.OpRequest{App: req.App, Env: req.Env, Op: req.Op, Instances: n, User: userOf(r), Source: queue.SourceAPI})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, s.deployJSON(d))
}

func (s *Server) listDeploys(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := queue.DeployFilter{App: q.Get("app"), Env: q.Get("env")}
	if st := q.Get("state"); st != "" {
		for _, part := range strings.Split(st, ",") {
			if !queue.State(part).Valid() {
				s.writeError(w, r, queue.Errorf(queue.EInvalid, "unknown state %q", part))
				return
			}
			f.States = append(f.States, queue.State(part))
		}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, queue.Errorf(queue.EInvalid, "limit must be 1 to 1000"))
			return
		}
		f.Limit = n
	}
	ds, err := s.svc.Deploys(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]*Deploy, 0, len(ds))
	for _, d := range ds {
		out = append(out, s.deployJSON(d))
	}
	writeJSON(w, http.StatusOK, out)
}

// onDeploy answers POST /deploys/{id}/cancel, continue, approve: act on
// the deploy as the user, answer with it.
func (s *Server) onDeploy(status int, act func(ctx context.Context, id int64, user string) (*queue.Deploy, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := s.deployID(w, r)
		if !ok {
			return
		}
		d, err := act(r.Context(), id, userOf(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, status, s.deployJSON(d))
	}
}

func (s *Server) deployID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		s.writeError(w, r, queue.Errorf(queue.EInvalid, "bad deploy id %q", chi.URLParam(r, "id")))
		return 0, false
	}
	return id, true
}

func (s *Server) getDeploy(w http.ResponseWriter, r *http.Request) {
	id, ok := s.deployID(w, r)
	if !ok {
		return
	}
	d, err := s.svc.Deploy(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.deployJSON(d))
}

func (s *Server) rejectDeploy(w http.ResponseWriter, r *http.Request) {
	id, ok := s.deployID(w, r)
	if !ok {
		return
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	d, err := s.svc.Reject(r.Context(), id, userOf(r), req.Reason)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.deployJSON(d))
}

func (s *Server) createPromotion(w http.ResponseWriter, r *http.Request) {
	var req struct {
		App  string `json:"app"`
		From string `json:"from"`
		To   string `json:"to"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := s.svc.Promote(r.Context(), queue.PromoteRequest{App: req.App, From: req.From, To: req.To, User: userOf(r)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, s.deployJSON(d))
}

// Freeze is a one-off freeze as the API shows it.
type Freeze struct {
	Env       string     `json:"env"`
	Owner     string     `json:"owner"`
	Reason    string     `json:"reason"`
	CreatedAt time.Time  `json:"created_at"`
	EndsAt    *time.Time `json:"ends_at,omitempty"`
}

func freezeJSON(f *queue.Freeze) Freeze {
	return Freeze{Env: f.Env, Owner: f.Owner, Reason: f.Reason, CreatedAt: f.CreatedAt.UTC(), EndsAt: timePtr(f.EndsAt)}
}

// listFreezes answers what holds each frozen environment now, windows
// from the config included: [{env, status}], and the one-off freezes.
func (s *Server) listFreezes(w http.ResponseWriter, r *http.Request) {
	type frozen struct {
		Env    string `json:"env"`
		Status string `json:"status"`
	}
	out := struct {
		Frozen  []frozen `json:"frozen"`
		OneOffs []Freeze `json:"one_off"`
	}{Frozen: []frozen{}, OneOffs: []Freeze{}}
	seen := map[string]bool{}
	sts, err := s.svc.Environments(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, st := range sts {
		if seen[st.Env] {
			continue
		}
		seen[st.Env] = true
		if f := s.svc.FreezeStatus(st.Env); f != "" {
			out.Frozen = append(out.Frozen, frozen{Env: st.Env, Status: f})
		}
	}
	fs, err := s.svc.Freezes(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, f := range fs {
		out.OneOffs = append(out.OneOffs, freezeJSON(f))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createFreeze(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Env    string `json:"env"`
		Reason string `json:"reason"`
		TTL    string `json:"ttl"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	ttl, err := parseTTL(req.TTL)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f, err := s.svc.Freeze(r.Context(), queue.FreezeRequest{Env: req.Env, Owner: userOf(r), Reason: req.Reason, TTL: ttl})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, freezeJSON(f))
}

func (s *Server) deleteFreeze(w http.ResponseWriter, r *http.Request) {
	f, err := s.svc.Unfreeze(r.Context(), chi.URLParam(r, "env"), userOf(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, freezeJSON(f))
}

// deleteAllLocks is `unlock all`: admins only.
func (s *Server) deleteAllLocks(w http.ResponseWriter, r *http.Request) {
	ls, err := s.svc.UnlockAll(r.Context(), userOf(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]*Lock, 0, len(ls))
	for _, l := range ls {
		out = append(out, lockJSON(l))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) environments(w http.ResponseWriter, r *http.Request) {
	sts, err := s.svc.Environments(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]Environment, 0, len(sts))
	for _, st := range sts {
		out = append(out, Environment{App: st.App, Env: st.Env, Current: s.deployJSON(st.Current),
			Running: s.deployJSON(st.Running), Queued: st.Queued, Waiting: st.Waiting, Lock: lockJSON(st.Lock),
			Last: s.deployJSON(st.Last), Freeze: st.Freeze, Repo: st.Repo})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listLocks(w http.ResponseWriter, r *http.Request) {
	ls, err := s.svc.Locks(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]*Lock, 0, len(ls))
	for _, l := range ls {
		out = append(out, lockJSON(l))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createLock(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Env    string `json:"env"`
		App    string `json:"app"`
		Reason string `json:"reason"`
		TTL    string `json:"ttl"`
		Steal  bool   `json:"steal"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	ttl, err := parseTTL(req.TTL)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	l, _, err := s.svc.Lock(r.Context(), queue.LockRequest{Env: req.Env, App: req.App, Owner: userOf(r),
		Reason: req.Reason, TTL: ttl, Steal: req.Steal})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, lockJSON(l))
}

func (s *Server) deleteLock(w http.ResponseWriter, r *http.Request) {
	l, err := s.svc.Unlock(r.Context(), chi.URLParam(r, "env"), r.URL.Query().Get("app"), userOf(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, lockJSON(l))
}

func (s *Server) postChat(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Text string `json:"text"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.chat == nil {
		s.writeError(w, r, queue.Errorf(queue.EUnsupported, "chat is not set up"))
		return
	}
	reply, d, err := s.chat(r.Context(), userOf(r), req.Text)
	resp := map[string]any{"reply": reply}
	if d != nil {
		resp["deploy"] = s.deployJSON(d)
	}
	if err != nil {
		resp["error"] = map[string]any{"code": queue.ErrorCode(err), "message": queue.ErrorMessage(err)}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	es, err := s.svc.AuditLog(r.Context(), 200)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	type entry struct {
		Time   time.Time `json:"time"`
		User   string    `json:"user"`
		Action string    `json:"action"`
		Target string    `json:"target"`
		Detail string    `json:"detail"`
	}
	out := make([]entry, 0, len(es))
	for _, e := range es {
		out = append(out, entry{e.Time, e.User, e.Action, e.Target, e.Detail})
	}
	writeJSON(w, http.StatusOK, out)
}

// Metrics is the Prometheus side of deployq: a queue.Notifier that counts
// state changes, and collectors that read queue depth at scrape time.
type Metrics struct {
	Registry *prometheus.Registry
	states   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	mu       sync.Mutex
	seen     map[int64]queue.State
}

// NewMetrics returns metrics with the Go and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(), seen: map[int64]queue.State{}}
	m.states = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "deployq_deploys_total",
		Help: "Deploys that entered each state."}, []string{"state"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "deployq_deploy_duration_seconds",
		Help: "Run time of finished deploys.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}, []string{"state"})
	m.Registry.MustRegister(m.states, m.duration, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Watch adds gauges read from the service at scrape time.
func (m *Metrics) Watch(svc *queue.Service) {
	m.Registry.MustRegister(&laneCollector{svc: svc})
}

// DeployChanged implements queue.Notifier.
func (m *Metrics) DeployChanged(d *queue.Deploy) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[d.ID] == d.State {
		return
	}
	m.states.WithLabelValues(string(d.State)).Inc()
	if d.State.Terminal() {
		delete(m.seen, d.ID)
		if !d.StartedAt.IsZero() {
			m.duration.WithLabelValues(string(d.State)).Observe(d.FinishedAt.Sub(d.StartedAt).Seconds())
		}
		return
	}
	m.seen[d.ID] = d.State
}

// LockChanged implements queue.Notifier.
func (m *Metrics) LockChanged(*queue.Lock, bool) {}

var (
	queuedDesc  = prometheus.NewDesc("deployq_queue_depth", "Deploys queued per app and environment.", []string{"app", "env"}, nil)
	waitingDesc = prometheus.NewDesc("deployq_waiting", "Deploys waiting per app and environment.", []string{"app", "env"}, nil)
	runningDesc = prometheus.NewDesc("deployq_running", "1 when a deploy runs in the app and environment.", []string{"app", "env"}, nil)
	lockedDesc  = prometheus.NewDesc("deployq_locked", "1 when the app in the environment is locked.", []string{"app", "env"}, nil)
)

type laneCollector struct{ svc *queue.Service }

func (c *laneCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queuedDesc
	ch <- waitingDesc
	ch <- runningDesc
	ch <- lockedDesc
}

func (c *laneCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sts, err := c.svc.Environments(ctx)
	if err != nil {
		return
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, st := range sts {
		ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(st.Queued), st.App, st.Env)
		ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, float64(st.Waiting), st.App, st.Env)
		ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, b(st.Running != nil), st.App, st.Env)
		ch <- prometheus.MustNewConstMetric(lockedDesc, prometheus.GaugeValue, b(st.Lock != nil), st.App, st.Env)
	}
}

// parseTTL reads an optional duration ("" is none).
func parseTTL(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, queue.Errorf(queue.EInvalid, "bad ttl %q (use e.g. 30m, 2h)", v)
	}
	return d, nil
}
