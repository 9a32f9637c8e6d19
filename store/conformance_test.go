package store_test

import (
	"path/filepath"
	"testing"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/store/storetest"
)

// The SQLite store passes the conformance suite, each case on a database
// of its own in a temporary directory.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) queue.Store {
		s := open(t, filepath.Join(t.TempDir(), "db"))
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("closing the store: %v", err)
			}
		})
		return s
	})
}
