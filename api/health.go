package api

import (
	"net/http"

	"github.com/deployq/deployq/queue"
)

// Version is the deployq version /healthz reports. The command sets it
// once, before it serves.
var Version = "dev"

// healthz: GET /healthz, each answer with the version ({"status": ...,
// "version": "v1.4.0"}). 200 {"status": "ok"} when deploys can be read
// and recorded; 200 {"status": "degraded", "degraded": {"slack": why}}
// when an outside part is down but deployq works without it; 503
// {"status": "unhealthy"} when the database cannot be read, 503
// {"status": "unavailable"} when it cannot be written (a full disk), each
// with the error.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	// what the store knows of itself first (a database deleted, damaged
	// or full): a read may fail for those reasons too, and say less
	if err := s.svc.Health(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": queue.ErrorMessage(err), "version": Version})
		return
	}
	if _, err := s.svc.Deploys(r.Context(), queue.DeployFilter{Limit: 1}); err != nil {
		if r.Context().Err() == nil { // else the client went away
			s.log.Error("health: reading deploys", "err", err)
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "error": queue.ErrorMessage(err), "version": Version})
		return
	}
	if s.degraded != nil {
		if down := s.degraded(); len(down) > 0 {
			writeJSON(w, http.StatusOK, map[string]any{"status": "degraded", "degraded": down, "version": Version})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": Version})
}
