package api_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// lockedBuffer is a log that handlers may write at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A client that hangs up before its answer is no server error: the
// requests it left are not logged at ERROR (a storm of hang-ups once
// wrote 36 MB of them a minute). A real internal error still is.
func TestClientHangUpIsNotAnError(t *testing.T) {
	var log lockedBuffer
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging",
		Environments: []*queue.Environment{queuetest.Shell("staging", "true")}}}, nil)
	s := serve(t, q, api.Options{Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	gone, hangUp := context.WithCancel(context.Background())
	hangUp()
	for _, path := range []string{"/api/v1/deploys", "/api/v1/deploys/1", "/api/v1/deploys/1/log", "/api/v1/environments",
		"/api/v1/locks", "/api/v1/audit", "/api/v1/freezes", "/healthz"} {
		req := httptest.NewRequest("GET", "http://127.0.0.1"+path, nil).WithContext(gone)
		s.api.ServeHTTP(httptest.NewRecorder(), req)
	}
	if strings.Contains(log.String(), "level=ERROR") {
		t.Fatalf("hang-ups logged as errors:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "the client went away") {
		t.Fatalf("the hang-ups left no trace at debug:\n%s", log.String())
	}
	s.api.WriteErrorForTest(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/deploys", nil), errors.New("disk on fire"))
	if !strings.Contains(log.String(), `level=ERROR msg="request failed" method=GET path=/api/v1/deploys err="disk on fire"`) {
		t.Fatalf("an internal error was not logged:\n%s", log.String())
	}
}
