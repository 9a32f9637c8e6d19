package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// Every error code answers with its status, as the README lists them,
// and says its code and message in the body.
func TestErrorStatuses(t *testing.T) {
	want := map[queue.Code]int{
		queue.EInvalid:      400,
		queue.EUnauthorized: 401,
		queue.EForbidden:    403,
		queue.ENotFound:     404,
		queue.ELocked:       409,
		queue.EConflict:     409,
		queue.EChecksFailed: 422,
		queue.EFrozen:       409,
		queue.EUnsupported:  501,
		queue.EUnavailable:  503,
		queue.EDuplicate:    409,
		queue.EInternal:     500,
	}
	for code := range api.StatusesForTest {
		if _, ok := want[code]; !ok {
			t.Errorf("the table maps %q, which this test does not know", code)
		}
	}
	s := newServer(t, "true", nil)
	for code, status := range want {
		t.Run(string(code), func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.api.WriteErrorForTest(rec, httptest.NewRequest("GET", "/api/v1/deploys", nil), queue.Errorf(code, "it went %s", code))
			r := response{rec.Code, rec.Body.String(), rec.Header()}
			if got, msg := errCode(t, r), string(code)+": it went "+string(code); r.status != status || got != msg {
				t.Fatalf("got %d %s\nwant %d %s", r.status, got, status, msg)
			}
			if r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("content type %q", r.header.Get("Content-Type"))
			}
		})
	}
}

// errDiskFull is what the store answers when its disk is full.
var errDiskFull = queue.Errorf(queue.EUnavailable, "the database cannot be written (disk full)")

// fullDisk is the real store, answering lock writes and health checks as
// it does on a full disk while full is set: a disk filled on purpose
// would need a mount of its own.
type fullDisk struct {
	queue.Store
	full atomic.Bool
}

func (f *fullDisk) PutLock(ctx context.Context, l *queue.Lock) error {
	if f.full.Load() {
		return errDiskFull
	}
	return f.Store.PutLock(ctx, l)
}

func (f *fullDisk) Health(ctx context.Context) error {
	if f.full.Load() {
		return errDiskFull
	}
	return f.Store.Health(ctx)
}

// A store that cannot be written answers 503 unavailable, through a
// handler and /healthz, and both recover when it can again.
func TestUnavailable(t *testing.T) {
	disk := &fullDisk{}
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging",
		Environments: []*queue.Environment{queuetest.Shell("staging", "true")}}},
		func(o *queue.Options) { disk.Store = o.Store; o.Store = disk })
	s := serve(t, q, api.Options{})
	health := func() (int, map[string]string) {
		r := s.do(t, "GET", "/healthz", "")
		var body map[string]string
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Fatalf("healthz: %d %s", r.status, r.body)
		}
		return r.status, body
	}

	disk.full.Store(true)
	r := s.do(t, "POST", "/api/v1/locks", `{"env":"staging","reason":"r"}`, "X-Deployq-User", "alice")
	if want := "unavailable: the database cannot be written (disk full)"; r.status != 503 || errCode(t, r) != want {
		t.Fatalf("lock on a full disk: %d %s\nwant 503 %s", r.status, r.body, want)
	}
	var body map[string]map[string]string // exactly {"error": {"code", "message"}}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || len(body) != 1 || len(body["error"]) != 2 || body["error"]["code"] != "unavailable" {
		t.Fatalf("the body of a 503: %s", r.body)
	}
	if status, body := health(); status != 503 || body["status"] != "unavailable" || body["error"] != errDiskFull.Message {
		t.Fatalf("healthz on a full disk: %d %v", status, body)
	}
	if ls, _ := q.Svc.Locks(t.Context()); len(ls) != 0 {
		t.Fatalf("a lock the store refused is held: %+v", ls)
	}

	disk.full.Store(false)
	if r := s.do(t, "POST", "/api/v1/locks", `{"env":"staging","reason":"r"}`, "X-Deployq-User", "alice"); r.status != 201 {
		t.Fatalf("lock with space again: %d %s", r.status, r.body)
	}
	if status, body := health(); status != 200 || body["status"] != "ok" {
		t.Fatalf("healthz with space again: %d %v", status, body)
	}
}
