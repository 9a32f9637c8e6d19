package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/deployq/deployq/queue"
)

// events: GET /api/v1/events, deploy and lock changes as server-sent
// events. It starts with "ready" {"id"}, the id of the last change before
// the stream; then "deploy" (DeployEvent) and "lock" (LockEvent), each
// with its id; "resync" {"missed"} when this follower fell behind and
// lost events (what it shows must be fetched again); and a comment every
// 25s to keep proxies from closing the stream. Streams are counted with
// the log followers (Limits); each write has WriteTimeout.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if s.hub == nil {
		s.writeError(w, r, queue.Errorf(queue.EUnsupported, "no event stream on this server"))
		return
	}
	done, err := s.streams.open(0)
	if err != nil {
		s.refuseStream(w, r, err)
		return
	}
	defer done()
	rc := http.NewResponseController(w)
	f, from := s.hub.subscribe()
	defer s.hub.unsubscribe(f)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	s.armWrite(rc)
	fmt.Fprintf(w, "id: %s\nevent: ready\ndata: {\"id\":%q}\n\n", from, from)
	if rc.Flush() != nil {
		return
	}
	defer s.armWrite(rc)
	keep := time.NewTicker(25 * time.Second)
	defer keep.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			s.armWrite(rc)
			_, err = fmt.Fprint(w, ": keepalive\n\n")
		case <-f.behind:
			missed := s.hub.catchUp(f)
			s.armWrite(rc)
			_, err = fmt.Fprintf(w, "event: resync\ndata: {\"missed\":%d}\n\n", missed)
		case b := <-f.ch:
			s.armWrite(rc)
			_, err = w.Write(b)
		}
		if err != nil || rc.Flush() != nil {
			return
		}
	}
}
