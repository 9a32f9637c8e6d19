package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/go-chi/chi/v5"
)

// Locks and freezes over HTTP: what holds deploys back, taken and lifted
// by people.

// listLocks: GET /api/v1/locks, the live locks.
func (s *Server) listLocks(w http.ResponseWriter, r *http.Request) {
	ls, err := s.svc.Locks(r.Context())
	s.answerLocks(w, r, ls, err)
}

// deleteAllLocks is `unlock all`: admins only. It answers with the locks
// it removed.
func (s *Server) deleteAllLocks(w http.ResponseWriter, r *http.Request) {
	ls, err := s.svc.UnlockAll(r.Context(), userOf(r))
	s.answerLocks(w, r, ls, err)
}

// answerLocks answers with the locks a call gave, or with its error.
func (s *Server) answerLocks(w http.ResponseWriter, r *http.Request, ls []*queue.Lock, err error) {
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

// createLock: POST /api/v1/locks {env, app?, reason, ttl?, steal?} -> 201.
func (s *Server) createLock(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Env    string `json:"env"`
		App    string `json:"app"`
		Reason string `json:"reason"`
		TTL    ttl    `json:"ttl"`
		Steal  bool   `json:"steal"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	l, _, err := s.svc.Lock(r.Context(), queue.LockRequest{Env: req.Env, App: req.App, Owner: userOf(r),
		Reason: req.Reason, TTL: time.Duration(req.TTL), Steal: req.Steal})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, lockJSON(l))
}

// deleteLock: DELETE /api/v1/locks/{env}[?app=] -> the removed lock.
func (s *Server) deleteLock(w http.ResponseWriter, r *http.Request) {
	l, err := s.svc.Unlock(r.Context(), chi.URLParam(r, "env"), r.URL.Query().Get("app"), userOf(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, lockJSON(l))
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

// createFreeze: POST /api/v1/freezes {env, ttl?, reason} -> 201.
func (s *Server) createFreeze(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Env    string `json:"env"`
		Reason string `json:"reason"`
		TTL    ttl    `json:"ttl"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	f, err := s.svc.Freeze(r.Context(), queue.FreezeRequest{Env: req.Env, Owner: userOf(r), Reason: req.Reason,
		TTL: time.Duration(req.TTL)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, freezeJSON(f))
}

// deleteFreeze: DELETE /api/v1/freezes/{env} -> the lifted freeze.
func (s *Server) deleteFreeze(w http.ResponseWriter, r *http.Request) {
	f, err := s.svc.Unfreeze(r.Context(), chi.URLParam(r, "env"), userOf(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, freezeJSON(f))
}

// ttl is how long a lock or a freeze lasts, in a request: "30m", "2h";
// "" or absent is until lifted.
type ttl time.Duration

// UnmarshalJSON reads a positive Go duration (EInvalid).
func (t *ttl) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v == "" {
		*t = 0
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return queue.Errorf(queue.EInvalid, "bad ttl %q (use e.g. 30m, 2h)", v)
	}
	*t = ttl(d)
	return nil
}
