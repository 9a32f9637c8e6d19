package api

import (
	"net/http"

	"github.com/deployq/deployq/queue"
)

// environments: GET /api/v1/environments, every configured app in every
// environment: what runs there, what is queued and waiting, the lock and
// the freeze that hold it, the last deploy. X-Deployq-Event-ID says the
// id of the last change the answer holds (see Events): a follower of
// GET /api/v1/events applies the events after it.
func (s *Server) environments(w http.ResponseWriter, r *http.Request) {
	if s.hub != nil {
		// read before the statuses: a change after it may be in them
		// too, and its event shows it again, never older
		w.Header().Set("X-Deployq-Event-ID", s.hub.position())
	}
	sts, err := s.svc.Environments(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]Environment, 0, len(sts))
	for _, st := range sts {
		out = append(out, s.environmentJSON(st))
	}
	writeJSON(w, http.StatusOK, out)
}

// environmentJSON is one app in one environment as the API shows it.
func (s *Server) environmentJSON(st queue.EnvStatus) Environment {
	return Environment{App: st.App, Env: st.Env, Current: s.deployJSON(st.Current),
		Running: s.deployJSON(st.Running), Queued: st.Queued, Waiting: st.Waiting, Lock: lockJSON(st.Lock),
		Last: s.deployJSON(st.Last), Freeze: st.Freeze, Repo: st.Repo}
}

// lanes is the status of app in env, or with app "", of every app in
// env, from memory: what a change of them shows again.
func (s *Server) lanes(app, env string) []Environment {
	var out []Environment
	add := func(app string) {
		if st, err := s.svc.Environment(app, env); err == nil {
			out = append(out, s.environmentJSON(st))
		}
	}
	if app != "" {
		add(app)
		return out
	}
	for _, a := range s.svc.Apps() {
		if a.Env(env) != nil {
			add(a.Name)
		}
	}
	return out
}
