package api

import "net/http"

// environments: GET /api/v1/environments, every configured app in every
// environment: what runs there, what is queued and waiting, the lock and
// the freeze that hold it, the last deploy.
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
