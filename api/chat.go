package api

import (
	"net/http"

	"github.com/deployq/deployq/queue"
)

// postChat: POST /api/v1/chat {text} -> {reply, deploy?, error?}: one
// chat message answered as the chat adapters answer it. A refusal is part
// of the answer (200 with "error"), as it would be in a channel.
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
