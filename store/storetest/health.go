package storetest

import (
	"testing"

	"github.com/deployq/deployq/queue"
)

// healthCases: a store that can be written says so.
var healthCases = []testCase{
	// A good store is healthy, fresh and after writes.
	{"Good", func(t *testing.T, s queue.Store) {
		if err := s.Health(t.Context()); err != nil {
			t.Fatalf("a fresh store: %v", err)
		}
		d := running(t, s, "web", "prod")
		appendLog(t, s, logLines(d.ID, 1, 10))
		if err := s.Health(t.Context()); err != nil {
			t.Fatalf("after writes: %v", err)
		}
	}},
}
