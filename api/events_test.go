package api_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// sse is one server-sent event as a follower reads it.
type sse struct{ id, name, data string }

// seq is the SEQ of an id "EPOCH:SEQ".
func (e sse) seq(t *testing.T) int64 {
	t.Helper()
	_, s, ok := strings.Cut(e.id, ":")
	n, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil {
		t.Fatalf("event id %q is not EPOCH:SEQ", e.id)
	}
	return n
}

// eventStream follows GET /api/v1/events until the test ends; start
// begins reading it (a follower that does not read yet falls behind),
// next waits for the next event.
type eventStream struct {
	resp *http.Response
	ch   chan sse
}

func followEvents(t *testing.T, s *server) *eventStream {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", s.url+"/api/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /api/v1/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &eventStream{resp: resp, ch: make(chan sse, 1024)}
}

func (es *eventStream) start() *eventStream {
	go func() {
		defer close(es.ch)
		sc := bufio.NewScanner(es.resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					es.ch <- ev
				}
				ev.name, ev.data = "", "" // the id stays, as a browser keeps it
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return es
}

func (es *eventStream) next(t *testing.T) sse {
	t.Helper()
	var ev sse
	queuetest.Eventually(t, "an event", func() bool {
		select {
		case e, ok := <-es.ch:
			if !ok {
				t.Fatal("the event stream ended")
			}
			ev = e
			return true
		default:
			return false
		}
	})
	return ev
}

// eventsServer serves web and api, each in staging and production, with
// an event hub.
func eventsServer(t *testing.T) (*server, *api.Events) {
	events := api.NewEvents()
	apps := []*queue.App{
		{Name: "web", DefaultRef: "main", DefaultEnv: "staging", Environments: []*queue.Environment{
			queuetest.Shell("staging", "echo deployed"), queuetest.Shell("production", "true")}},
		{Name: "api", DefaultRef: "main", DefaultEnv: "staging", Environments: []*queue.Environment{
			queuetest.Shell("staging", "true")}},
	}
	q := queuetest.Start(t, apps, func(o *queue.Options) { o.Notifiers = []queue.Notifier{events} })
	return serve(t, q, api.Options{Events: events}), events
}

// lane is the status GET /api/v1/environments gives of app in env, as
// decoded JSON, and the id of the last change it holds.
func lane(t *testing.T, s *server, app, env string) (any, string) {
	t.Helper()
	r := s.do(t, "GET", "/api/v1/environments", "")
	var all []map[string]any
	if err := json.Unmarshal([]byte(r.body), &all); err != nil {
		t.Fatalf("%d %s", r.status, r.body)
	}
	for _, l := range all {
		if l["app"] == app && l["env"] == env {
			return l, r.header.Get("X-Deployq-Event-ID")
		}
	}
	t.Fatalf("no %s in %s in %s", app, env, r.body)
	return nil, ""
}

// TestEventsCarryTheLanesTheyChange: each deploy and lock event carries
// the new status of the lanes it changed, the same JSON as GET
// /api/v1/environments; a lock of a whole environment changes every app
// there; ids count the changes, and the environments say the last one
// they hold.
func TestEventsCarryTheLanesTheyChange(t *testing.T) {
	s, _ := eventsServer(t)
	es := followEvents(t, s).start()
	ready := es.next(t)
	if ready.name != "ready" || ready.data != `{"id":"`+ready.id+`"}` {
		t.Fatalf("the stream starts with %+v", ready)
	}
	if _, at := lane(t, s, "web", "staging"); at != ready.id {
		t.Errorf("the environments hold change %q, the stream starts after %q", at, ready.id)
	}

	r := s.do(t, "POST", "/api/v1/deploys", `{"app":"web","ref":"`+sha1+`"}`, "X-Deployq-User", "alice")
	if r.status != 202 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	last, seen := ready, []string{}
	var ev api.DeployEvent
	for ev.Deploy == nil || ev.Deploy.State != queue.StateSucceeded {
		e := es.next(t)
		if e.name != "deploy" || e.seq(t) != last.seq(t)+1 {
			t.Fatalf("after %q: %+v", last.id, e)
		}
		last, ev = e, api.DeployEvent{}
		if err := json.Unmarshal([]byte(e.data), &ev); err != nil {
			t.Fatal(err)
		}
		if len(ev.Lanes) != 1 || ev.Lanes[0].App != "web" || ev.Lanes[0].Env != "staging" || ev.Deploy.ID != 1 {
			t.Fatalf("a deploy event of web in staging: %s", e.data)
		}
		seen = append(seen, string(ev.Deploy.State))
		if ev.Deploy.State == queue.StateRunning && (ev.Lanes[0].Running == nil || ev.Lanes[0].Running.ID != 1) {
			t.Errorf("the lane of a running deploy: %s", e.data)
		}
	}
	seen = slices.Compact(seen) // the runner's progress is a change too
	if strings.Join(seen, " ") != "queued running succeeded" {
		t.Errorf("deploy events: %v", seen)
	}
	want, at := lane(t, s, "web", "staging")
	var got struct{ Lanes []any }
	json.Unmarshal([]byte(last.data), &got)
	if !reflect.DeepEqual(got.Lanes[0], want) {
		t.Errorf("the last event's lane\n%v\nis not the environments'\n%v", got.Lanes[0], want)
	}
	if at != last.id {
		t.Errorf("the environments hold change %q, the last event is %q", at, last.id)
	}

	s.do(t, "POST", "/api/v1/locks", `{"env":"staging","reason":"load test"}`, "X-Deployq-User", "bob")
	lockEvent := func(locked bool) {
		t.Helper()
		e := es.next(t)
		var ev api.LockEvent
		json.Unmarshal([]byte(e.data), &ev)
		if e.name != "lock" || e.seq(t) != last.seq(t)+1 || ev.Locked != locked || ev.Lock.Env != "staging" || len(ev.Lanes) != 2 {
			t.Fatalf("a lock event of all staging (locked %v): %+v", locked, e)
		}
		for i, app := range []string{"web", "api"} {
			if l := ev.Lanes[i]; l.App != app || l.Env != "staging" || (l.Lock != nil) != locked || locked && l.Lock.Owner != "bob" {
				t.Errorf("lane %d of %s", i, e.data)
			}
		}
		last = e
	}
	lockEvent(true)
	s.do(t, "DELETE", "/api/v1/locks/staging", "", "X-Deployq-User", "bob")
	lockEvent(false)
}

// TestEventsFollowerThatFallsBehindIsToldToResync: a follower that does
// not read while changes pile up never holds them back; what it cannot
// take it is told of, in "resync" events saying how many it missed, and
// nothing is lost silently: ids skip only across a resync, and the events
// it got and those it was told it missed add up to all the changes.
func TestEventsFollowerThatFallsBehindIsToldToResync(t *testing.T) {
	s, events := eventsServer(t)
	es := followEvents(t, s)
	// far more than the follower's backlog and the sockets' buffers hold
	const changes = 100000
	for i := range changes {
		events.LockChanged(&queue.Lock{Env: "staging", App: "web", Owner: "carol", Reason: strconv.Itoa(i)}, true)
	}
	es.start()
	if ready := es.next(t); ready.name != "ready" {
		t.Fatalf("the stream starts with %+v", ready)
	}
	var prev sse
	got, missed, resyncs, told := 0, 0, 0, false
	for got+missed < changes {
		switch e := es.next(t); {
		case e.name == "resync":
			var r struct{ Missed int }
			if err := json.Unmarshal([]byte(e.data), &r); err != nil || r.Missed <= 0 {
				t.Fatalf("resync %q", e.data)
			}
			missed += r.Missed
			resyncs++
			told = true
		case e.name != "lock":
			t.Fatalf("%+v", e)
		default:
			if prev.id != "" && !told && e.seq(t) != prev.seq(t)+1 {
				t.Fatalf("a gap without a resync: %q after %q", e.id, prev.id)
			}
			prev, told = e, false
			got++
		}
	}
	if resyncs == 0 || got+missed != changes {
		t.Fatalf("%d events and %d missed in %d resyncs, of %d changes", got, missed, resyncs, changes)
	}
	// all told: the next change comes next
	events.LockChanged(&queue.Lock{Env: "staging", App: "web", Owner: "dave"}, true)
	if e := es.next(t); e.name != "lock" || !strings.Contains(e.data, `"owner":"dave"`) || e.seq(t) != changes+1 {
		t.Errorf("after all the piled up changes: %+v", e)
	}
	t.Logf("the follower got %d events and missed %d, in %d resyncs", got, missed, resyncs)
}
