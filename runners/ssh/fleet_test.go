package ssh_test

import (
	"testing"

	"github.com/deployq/deployq/internal/sshfleet"
)

// newFleet starts n real sshd servers for a test, stopped when it ends.
func newFleet(t *testing.T, n int, tweak ...func(i int, config string) string) *sshfleet.Fleet {
	t.Helper()
	f, err := sshfleet.Start(t.TempDir(), n, tweak...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}
