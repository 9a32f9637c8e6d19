package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/deployq/deployq/queue"
	"github.com/go-chi/chi/v5"
)

// Deploys over HTTP: asking for one (a deploy, a rollback, an operation,
// a promotion), listing and reading them, acting on one (cancel,
// continue, approve, reject), and previewing what one would bring. Each
// answers with the deploy, as answerDeploy writes it.

// answerDeploy answers with the deploy a call gave, or with its error.
func (s *Server) answerDeploy(w http.ResponseWriter, r *http.Request, status int, d *queue.Deploy, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, s.deployJSON(d))
}

// createDeploy: POST /api/v1/deploys {app, env, ref, force,
// override_freeze} -> 202 the queued (or waiting) deploy.
func (s *Server) createDeploy(w http.ResponseWriter, r *http.Request) {
	var req struct {
		App            string            `json:"app"`
		Env            string            `json:"env"`
		Ref            string            `json:"ref"`
		Force          bool              `json:"force"`
		OverrideFreeze bool              `json:"override_freeze"` // admins: deploy!!
		Params         map[string]string `json:"params"`
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
		Override: req.OverrideFreeze, User: userOf(r), Source: queue.SourceAPI, Params: req.Params})
	s.answerDeploy(w, r, http.StatusAccepted, d, err)
}

// createRollback: POST /api/v1/rollbacks {app, env, to} -> 202.
func (s *Server) createRollback(w http.ResponseWriter, r *http.Request) {
	var req struct {
		App string `json:"app"`
		Env string `json:"env"`
		To  string `json:"to"`
		Of  int64  `json:"of"` // roll back that deploy: to what ran before it
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := s.svc.Rollback(r.Context(), queue.RollbackRequest{App: req.App, Env: req.Env, To: req.To, Of: req.Of, User: userOf(r)})
	s.answerDeploy(w, r, http.StatusAccepted, d, err)
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
	s.answerDeploy(w, r, http.StatusAccepted, d, err)
}

// createPromotion: POST /api/v1/promotions {app, from, to} -> 202.
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
	s.answerDeploy(w, r, http.StatusAccepted, d, err)
}

// listDeploys: GET /api/v1/deploys?app=&env=&state=a,b&limit=, newest
// first.
func (s *Server) listDeploys(w http.ResponseWriter, r *http.Request) {
	f, err := deployFilter(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
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
	s.markBadOnes(r.Context(), out)
	writeJSON(w, http.StatusOK, out)
}

// deployFilter reads the query of GET /api/v1/deploys (EInvalid).
func deployFilter(q url.Values) (queue.DeployFilter, error) {
	f := queue.DeployFilter{App: q.Get("app"), Env: q.Get("env")}
	if st := q.Get("state"); st != "" {
		for _, part := range strings.Split(st, ",") {
			if !queue.State(part).Valid() {
				return f, queue.Errorf(queue.EInvalid, "unknown state %q", part)
			}
			f.States = append(f.States, queue.State(part))
		}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return f, queue.Errorf(queue.EInvalid, "limit must be 1 to 1000")
		}
		f.Limit = n
	}
	return f, nil
}

// deployID reads the {id} of the path, or answers invalid.
func (s *Server) deployID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		s.writeError(w, r, queue.Errorf(queue.EInvalid, "bad deploy id %q", chi.URLParam(r, "id")))
		return 0, false
	}
	return id, true
}

// getDeploy: GET /api/v1/deploys/{id}.
func (s *Server) getDeploy(w http.ResponseWriter, r *http.Request) {
	if id, ok := s.deployID(w, r); ok {
		d, err := s.svc.Deploy(r.Context(), id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := s.deployJSON(d)
		s.markBadOnes(r.Context(), []*Deploy{out})
		if link, err := s.svc.Meta(r.Context(), id, queue.MetaLink); err == nil {
			out.Link = link
		}
		if raw, err := s.svc.Meta(r.Context(), id, queue.MetaParams); err == nil && raw != "" {
			json.Unmarshal([]byte(raw), &out.Params)
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// onDeploy answers POST /deploys/{id}/cancel, continue, approve: act on
// the deploy as the user, answer with it.
func (s *Server) onDeploy(status int, act func(ctx context.Context, id int64, user string) (*queue.Deploy, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if id, ok := s.deployID(w, r); ok {
			d, err := act(r.Context(), id, userOf(r))
			s.answerDeploy(w, r, status, d, err)
		}
	}
}

// rejectDeploy: POST /api/v1/deploys/{id}/reject {reason?} -> 200 the
// canceled deploy.
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
	s.answerDeploy(w, r, http.StatusOK, d, err)
}

// preview: GET /api/v1/preview?app=&env=&ref= -> what a deploy would bring.
func (s *Server) preview(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sha, cur, compare, n, err := s.svc.Preview(r.Context(), q.Get("app"), q.Get("env"), q.Get("ref"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sha": sha, "current_sha": cur, "compare_url": compare, "commits": n,
		"summary": fmt.Sprintf("%s -> %s", queue.ShortSHA(cur), queue.ShortSHA(sha))})
}
