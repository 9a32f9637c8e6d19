package postgres_test

import (
	"testing"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/store/storetest"
)

// The PostgreSQL store passes the conformance suite, each case on a
// database of its own.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) queue.Store { return fresh(t) })
}
