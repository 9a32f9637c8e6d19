package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
)

// Events fans deploy and lock changes out to the dashboards following
// GET /api/v1/events (server-sent events). It is a queue.Notifier that
// never blocks: a follower that does not keep up misses events, and the
// dashboard refetches what it shows on each one anyway.
type Events struct {
	mu   sync.Mutex
	subs map[chan event]bool
}

type event struct {
	name string
	data any
}

// NewEvents returns an empty hub.
func NewEvents() *Events { return &Events{subs: map[chan event]bool{}} }

func (e *Events) send(ev event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for ch := range e.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// subscribe returns a new follower's channel.
func (e *Events) subscribe() chan event {
	ch := make(chan event, 64)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subs[ch] = true
	return ch
}

// unsubscribe forgets a follower that went away.
func (e *Events) unsubscribe(ch chan event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.subs, ch)
}

// DeployChanged implements queue.Notifier.
func (e *Events) DeployChanged(d *queue.Deploy) {
	e.send(event{"deploy", map[string]any{"id": d.ID, "app": d.App, "env": d.Env, "state": d.State}})
}

// LockChanged implements queue.Notifier.
func (e *Events) LockChanged(l *queue.Lock, locked bool) {
	e.send(event{"lock", map[string]any{"env": l.Env, "app": l.App, "locked": locked}})
}

// events: GET /api/v1/events, deploy and lock changes as server-sent
// events ("deploy" {id, app, env, state}, "lock" {env, app, locked}), with
// a comment every 25s to keep proxies from closing the stream. Streams are
// counted with the log followers (Limits); each write has WriteTimeout.
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
	ch := s.hub.subscribe()
	defer s.hub.unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	s.armWrite(rc)
	fmt.Fprint(w, ": deployq events\n\n")
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
		case ev := <-ch:
			b, _ := json.Marshal(ev.data)
			s.armWrite(rc)
			_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, b)
		}
		if err != nil || rc.Flush() != nil {
			return
		}
	}
}
