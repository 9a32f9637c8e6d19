// Package pgtest runs a real PostgreSQL for tests. initdb makes a cluster
// once, into a cache directory outside the repository (named by the
// major version); each test binary copies it into a temporary directory
// and starts a private server there, which listens only on a unix socket
// in that directory. Each test gets a fresh database of its own.
//
// A test binary that uses the shared server calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// The server starts on the first call of New (or Shared) and Main stops
// it when the tests end; the server also dies with the test binary if it
// is killed. Tests that stop, crash or restart a server (chaos) take one
// of their own with Private.
//
// When the tests run as root, initdb and the server run as the system
// user postgres (PostgreSQL refuses root). Without PostgreSQL the tests
// skip, unless RequiredEnv is set: then they fail.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
)

// RequiredEnv, when set (make test sets it), turns a missing PostgreSQL
// into a failure instead of a skip.
const RequiredEnv = "DEPLOYQ_PG_REQUIRED"

// shared is the test binary's server, started by the first test that
// needs it.
var shared struct {
	mu      sync.Mutex
	main    bool // Main runs the tests, and will stop the server
	started bool
	srv     *Server
	err     error
}

// Main runs the tests of m, then stops and removes the shared server if
// a test started it, and exits with the tests' status.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain that has more to do after the tests: it
// returns their status instead of exiting.
func Run(m *testing.M) int {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	if shared.srv != nil {
		if err := shared.srv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = max(code, 1)
		}
		shared.srv = nil
	}
	shared.mu.Unlock()
	return code
}

// Shared returns the test binary's server, starting it the first time.
// It skips t (fails it with RequiredEnv set) when PostgreSQL cannot run
// here, and fails it when the binary's TestMain does not call Main, which
// stops the server.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		t.Fatal("pgtest: call pgtest.Main(m) from TestMain: it stops the server when the tests end")
	}
	if !shared.started {
		shared.started = true
		shared.srv, shared.err = Start(context.Background())
	}
	if shared.err != nil {
		unusable(t, shared.err)
	}
	return shared.srv
}

// New returns the DSN of a fresh, empty database on the shared server,
// dropped when t ends. It connects as Role.
func New(t testing.TB) string {
	t.Helper()
	return Shared(t).NewDB(t)
}

// Private starts a server for t alone (to stop, crash or restart), closed
// when t ends.
func Private(t testing.TB) *Server {
	t.Helper()
	s, err := Start(t.Context())
	if err != nil {
		unusable(t, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// unusable skips t for a missing PostgreSQL, unless RequiredEnv is set,
// and fails it for anything else.
func unusable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrMissing) && os.Getenv(RequiredEnv) == "" {
		t.Skipf("%v (set %s=1 to fail instead)", err, RequiredEnv)
	}
	t.Fatal(err)
}
