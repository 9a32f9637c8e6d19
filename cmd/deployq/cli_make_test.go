package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/deployq/deployq/internal/queuetest"
)

// git runs git in dir and returns its output, trimmed.
func git(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// `make build` builds deployq and deployq-kubernetes side by side and
// stamps them from git: version, commit and date, which the server logs
// at start and shows in /healthz and deployq_build_info.
func TestMakeBuildStampsVersion(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := git(t, root, "rev-parse", "HEAD"); err != nil {
		t.Skip("not a git checkout: there is no commit to stamp")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "deployq")
	if out, err := exec.Command("make", "-C", root, "build", "BINDIR="+dir).CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	version, _ := git(t, root, "describe", "--tags", "--always", "--dirty")
	commit, _ := git(t, root, "rev-parse", "HEAD")
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile("^deployq " + regexp.QuoteMeta(version) + "\ncommit: " + commit +
		"\nbuilt:  \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\ngo:     " + regexp.QuoteMeta(runtime.Version()) + " ")
	if !want.Match(out) {
		t.Fatalf("version: want %s:\n%s", want, out)
	}
	if out, err := exec.Command(filepath.Join(dir, "deployq-kubernetes"), "version").CombinedOutput(); err != nil || string(out) != "deployq-kubernetes "+version+"\n" {
		t.Fatalf("deployq-kubernetes version: %v\n%s", err, out)
	}

	// make install copies both, side by side; before make build, it says so.
	dest := t.TempDir()
	if out, err := exec.Command("make", "-C", root, "install", "BINDIR="+dir, "DESTDIR="+dest, "PREFIX=/usr").CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, name := range []string{"deployq", "deployq-kubernetes"} {
		if fi, err := os.Stat(filepath.Join(dest, "usr", "bin", name)); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("make install: %s: %v", name, err)
		}
	}
	out, err = exec.Command("make", "-C", root, "install", "BINDIR="+t.TempDir(), "DESTDIR="+dest).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "run make build first") {
		t.Errorf("make install before make build: %v\n%s", err, out)
	}

	// The server of that binary.
	defer func(b string) { binary = b }(binary)
	binary = bin
	s := startServer(t, t.TempDir(), nil)
	var health struct{ Status, Version string }
	if err := json.Unmarshal([]byte(get(t, s.url+"/healthz")), &health); err != nil || health.Status != "ok" || health.Version != version {
		t.Fatalf("/healthz: %+v, %v", health, err)
	}
	metric := fmt.Sprintf(`deployq_build_info{commit=%q,go_version=%q,version=%q} 1`, commit, runtime.Version(), version)
	mustContain(t, "/metrics", get(t, s.url+"/metrics"), metric)
	queuetest.Eventually(t, "the server logs its version", func() bool {
		return strings.Contains(s.stderr.String(), "msg=started version="+version+" commit="+commit)
	})
}

// make run installs what the demo needs, not the tests' chromium and
// sshd, and passes ARGS to serve; make test installs them.
func TestMakeRunDependencies(t *testing.T) {
	dryRun := func(args ...string) string {
		out, err := exec.Command("make", append([]string{"-C", "../..", "-n"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := dryRun("run", "ARGS=--listen=127.0.0.1:9090")
	mustContain(t, "make run", out, "git:git gcc:gcc", "./bin/deployq serve --listen=127.0.0.1:9090")
	for _, pkg := range []string{"chromium", "openssh-server"} {
		if strings.Contains(out, pkg) {
			t.Errorf("make run installs %s:\n%s", pkg, out)
		}
	}
	mustContain(t, "make test", dryRun("test"), "git:git gcc:gcc", "sshd:openssh-server chromium:chromium")
}
