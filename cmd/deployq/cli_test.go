package main_test

import (
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Helpers of the CLI's tests.

// run runs the binary in dir with args; it returns what it said and its
// exit code.
func run(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// commands are the commands the usage lists, read from `deployq --help`.
func commands(t *testing.T) []string {
	t.Helper()
	out, code := run(t, t.TempDir(), "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d\n%s", code, out)
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); strings.HasPrefix(line, "  ") && len(line) > 2 && line[2] != ' ' {
			names = append(names, f[0])
		}
	}
	for _, core := range []string{"serve", "check-config", "deploy", "queue", "help"} {
		if !slices.Contains(names, core) {
			t.Fatalf("the usage lacks %s (read %v):\n%s", core, names, out)
		}
	}
	return names
}

// get returns the body of a GET.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
