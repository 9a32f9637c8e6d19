package api

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/deployq/deployq/queue"
)

// Events fans deploy and lock changes out to the dashboards following
// GET /api/v1/events (server-sent events). Each event carries the new
// status of the lanes (app+env) the change touched, as GET
// /api/v1/environments shows them, so that a dashboard updates what it
// shows in place. It is a queue.Notifier that never waits for a
// follower: it renders each change once, from memory, and only while
// someone follows; each follower has a bounded backlog, and one that
// falls behind loses what does not fit and gets a "resync" event instead,
// to refetch once.
//
// Every change has an id, "EPOCH:SEQ": SEQ counts changes, and EPOCH
// tells this server's ids from a previous one's. GET /api/v1/environments
// says (X-Deployq-Event-ID) the id of the last change its answer holds,
// and a stream starts with a "ready" event that says where it starts: a
// dashboard whose snapshot is older than its stream refetches.
type Events struct {
	epoch string

	mu   sync.Mutex
	seq  int64   // the last change's
	srv  *Server // renders lanes; set by New
	subs map[*follower]bool
}

// followerBacklog is how many events one follower may have unwritten.
const followerBacklog = 64

// follower is one open event stream.
type follower struct {
	ch     chan []byte   // events, framed, to write
	behind chan struct{} // a signal: an event did not fit in ch
	missed int           // events lost since the last resync; under Events.mu
}

// DeployEvent is the data of a "deploy" event: the deploy as it is now,
// and the status of its lane.
type DeployEvent struct {
	Deploy *Deploy       `json:"deploy"`
	Lanes  []Environment `json:"lanes"`
}

// LockEvent is the data of a "lock" event: the lock taken (locked) or
// released, and the status of the lanes it holds: one app in one
// environment, or every app of a locked environment.
type LockEvent struct {
	Lock   *Lock         `json:"lock"`
	Locked bool          `json:"locked"`
	Lanes  []Environment `json:"lanes"`
}

// NewEvents returns an empty hub.
func NewEvents() *Events {
	return &Events{epoch: strconv.FormatUint(rand.Uint64()>>32, 36), subs: map[*follower]bool{}}
}

// attach makes s the server that renders the lanes of events.
func (e *Events) attach(s *Server) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.srv = s
}

// id is the id of the last change; under mu.
func (e *Events) id() string { return e.epoch + ":" + strconv.FormatInt(e.seq, 10) }

// position returns the id of the last change told.
func (e *Events) position() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.id()
}

// publish numbers a change and, when someone follows, sends it to each
// follower with what render makes of it, rendered once. It holds mu all
// along, so that followers get events in the order of their ids and a
// later event never shows an older status than an earlier one.
func (e *Events) publish(name string, render func(s *Server) any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	if len(e.subs) == 0 || e.srv == nil {
		return
	}
	data, err := json.Marshal(render(e.srv))
	if err != nil {
		e.srv.log.Error("rendering an event", "event", name, "err", err)
		return
	}
	b := fmt.Appendf(nil, "id: %s\nevent: %s\ndata: %s\n\n", e.id(), name, data)
	for f := range e.subs {
		select {
		case f.ch <- b:
		default:
			f.missed++
			select {
			case f.behind <- struct{}{}:
			default:
			}
		}
	}
}

// DeployChanged implements queue.Notifier.
func (e *Events) DeployChanged(d *queue.Deploy) {
	e.publish("deploy", func(s *Server) any {
		return DeployEvent{Deploy: s.deployJSON(d), Lanes: s.lanes(d.App, d.Env)}
	})
}

// LockChanged implements queue.Notifier.
func (e *Events) LockChanged(l *queue.Lock, locked bool) {
	e.publish("lock", func(s *Server) any {
		return LockEvent{Lock: lockJSON(l), Locked: locked, Lanes: s.lanes(l.App, l.Env)}
	})
}

// subscribe returns a new follower and the id of the last change before
// its first event.
func (e *Events) subscribe() (*follower, string) {
	f := &follower{ch: make(chan []byte, followerBacklog), behind: make(chan struct{}, 1)}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subs[f] = true
	return f, e.id()
}

// unsubscribe forgets a follower that went away.
func (e *Events) unsubscribe(f *follower) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.subs, f)
}

// catchUp drops what a follower that fell behind has not written yet (a
// resync shows all of it) and returns how many events it did not get.
func (e *Events) catchUp(f *follower) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := f.missed
	for len(f.ch) > 0 {
		<-f.ch
		n++
	}
	select {
	case <-f.behind:
	default:
	}
	f.missed = 0
	return n
}
