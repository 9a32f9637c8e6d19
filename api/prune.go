package api

import (
	"net/http"

	"github.com/deployq/deployq/queue"
)

// Pruned is what POST /api/v1/prune did (or, dry, would do).
type Pruned struct {
	Deploys int   `json:"deploys"` // logs pruned
	Lines   int64 `json:"lines"`   // lines removed
	Bytes   int64 `json:"bytes"`   // bytes of text removed
	Freed   int64 `json:"freed"`   // bytes the database file gave back
	DryRun  bool  `json:"dry_run"`
}

// prune: POST /api/v1/prune {"logs_older_than": "90d", "dry_run": true}
// -> Pruned. Admins only.
func (s *Server) prune(w http.ResponseWriter, r *http.Request) {
	var req struct {
		LogsOlderThan string `json:"logs_older_than"`
		DryRun        bool   `json:"dry_run"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	older, err := queue.ParseDuration(req.LogsOlderThan)
	if err != nil || older <= 0 {
		s.writeError(w, r, queue.Errorf(queue.EInvalid, "bad logs_older_than %q (use e.g. 90d, 12h)", req.LogsOlderThan))
		return
	}
	rep, err := s.svc.PruneLogs(r.Context(), userOf(r), older, req.DryRun)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Pruned{rep.Deploys, rep.Lines, rep.Bytes, rep.Freed, req.DryRun})
}
