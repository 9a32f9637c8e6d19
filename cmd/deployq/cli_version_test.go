package main_test

import (
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/deployq/deployq/internal/queuetest"
)

// A build without -ldflags says "dev", and the commit the Go toolchain
// recorded in it, if any; --version says the same as version.
func TestVersionWithoutLdflags(t *testing.T) {
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	commit := "unknown"
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			commit = s.Value
		}
	}
	out, code := run(t, t.TempDir(), "version")
	want := fmt.Sprintf("deployq dev\ncommit: %s", commit)
	if code != 0 || !strings.HasPrefix(out, want) || !strings.Contains(out, "built:  unknown\n") ||
		!strings.Contains(out, "go:     "+runtime.Version()+" ") {
		t.Fatalf("version: exit %d, want %q...:\n%s", code, want, out)
	}
	if again, code := run(t, t.TempDir(), "--version"); code != 0 || again != out {
		t.Fatalf("--version: exit %d\n%s", code, again)
	}
}

// The server says which deployq it is: in its log at start, in /healthz
// and in deployq_build_info.
func TestServerSaysVersion(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	var health map[string]string
	if err := json.Unmarshal([]byte(get(t, s.url+"/healthz")), &health); err != nil || health["status"] != "ok" || health["version"] != "dev" {
		t.Fatalf("/healthz: %v, %v", health, err)
	}
	metric := fmt.Sprintf(`go_version=%q,version="dev"} 1`, runtime.Version())
	mustContain(t, "/metrics", get(t, s.url+"/metrics"), "deployq_build_info{commit=", metric)
	queuetest.Eventually(t, "the server logs its version", func() bool {
		return strings.Contains(s.stderr.String(), "msg=started version=dev commit=")
	})
}
