package api

import (
	"net/http"
	"time"
)

// audit: GET /api/v1/audit, who did what, newest first (the last 200).
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
