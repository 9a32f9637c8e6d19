package api

import (
	"context"
	"net/http"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/go-chi/chi/v5"
)

// BadSHA is a version of an app marked bad: never deployed again by
// itself, and a typed deploy of it needs force.
type BadSHA struct {
	App    string    `json:"app"`
	SHA    string    `json:"sha"`
	Reason string    `json:"reason"`
	User   string    `json:"user"`
	At     time.Time `json:"at"`
}

func badJSON(b *queue.BadSHA) BadSHA {
	return BadSHA{App: b.App, SHA: b.SHA, Reason: b.Reason, User: b.User, At: b.At}
}

// markBadOnes sets Bad on the deploys whose sha is marked bad for their
// app (operations run no version of their own), reading each app's marks
// once.
func (s *Server) markBadOnes(ctx context.Context, ds []*Deploy) {
	marks := map[string]map[string]*queue.BadSHA{}
	for _, d := range ds {
		if d.Op != "" {
			continue
		}
		m, ok := marks[d.App]
		if !ok {
			bs, err := s.svc.BadSHAs(ctx, d.App)
			if err != nil {
				return // the deploys are shown without their marks
			}
			m = map[string]*queue.BadSHA{}
			for _, b := range bs {
				m[b.SHA] = b
			}
			marks[d.App] = m
		}
		if b := m[d.SHA]; b != nil {
			j := badJSON(b)
			d.Bad = &j
		}
	}
}

// listBadSHAs: GET /api/v1/bad-shas?app= -> the marks, newest first.
func (s *Server) listBadSHAs(w http.ResponseWriter, r *http.Request) {
	bs, err := s.svc.BadSHAs(r.Context(), r.URL.Query().Get("app"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []BadSHA{}
	for _, b := range bs {
		out = append(out, badJSON(b))
	}
	writeJSON(w, http.StatusOK, out)
}

// markBad: POST /api/v1/bad-shas {app, ref, reason} -> 201 the mark.
func (s *Server) markBad(w http.ResponseWriter, r *http.Request) {
	var req struct {
		App    string `json:"app"`
		Ref    string `json:"ref"`
		Reason string `json:"reason"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := s.svc.MarkBad(r.Context(), req.App, req.Ref, userOf(r), req.Reason)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, badJSON(b))
}

// unmarkBad: DELETE /api/v1/bad-shas/{app}/{ref} -> the mark removed.
func (s *Server) unmarkBad(w http.ResponseWriter, r *http.Request) {
	b, err := s.svc.UnmarkBad(r.Context(), chi.URLParam(r, "app"), chi.URLParam(r, "ref"), userOf(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, badJSON(b))
}
