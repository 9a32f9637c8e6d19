package queue_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/store"
)

// BenchmarkAcceptToStart: 500 concurrent requests across 100 app+env pairs
// on SQLite; reports the p50 and p99 time from a request's
// acknowledgement to its runner starting.
func BenchmarkAcceptToStart(b *testing.B) {
	queuetest.AcceptToStart(b, func(b *testing.B) queue.Store {
		st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}, nil)
}
