package queuetest

import (
	"os"
	"syscall"
	"testing"
)

// MountTmpfs mounts a tmpfs of size (say "2m") on a fresh directory, for
// tests of a full disk, and unmounts it when the test ends (after
// whatever the test started on it has stopped: register those cleanups
// after this call). Where mounting is not allowed the test is skipped,
// unless DEPLOYQ_MOUNT_REQUIRED is set: make test runs as root and sets
// it, so there it fails instead.
func MountTmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		if os.Getenv("DEPLOYQ_MOUNT_REQUIRED") != "" {
			t.Fatalf("mounting a tmpfs: %v", err)
		}
		t.Skipf("mounting a tmpfs is not allowed here: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}
