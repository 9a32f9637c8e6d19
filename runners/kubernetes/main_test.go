package kubernetes_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/kubetest"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
)

var (
	// buildFlags are the flags the executables are built with (-race
	// when the tests are).
	buildFlags []string
	// kubeBin is deployq-kubernetes, built for this run.
	kubeBin string
	// scripted is testdata/scripted, a deployq-kubernetes whose runner
	// plays a script instead of rolling out: what crosses the bridge.
	scripted string
	cluster  *kubetest.Cluster
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "deployq-kube")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "bin") + string(filepath.Separator)
		build := exec.Command("go", append(append([]string{"build"}, buildFlags...), "-o", bin, "../../cmd/deployq-kubernetes", "./testdata/scripted")...)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building deployq-kubernetes:", err)
			return 1
		}
		kubeBin, scripted = filepath.Join(bin, kuberunner.Executable), filepath.Join(bin, "scripted")

		if missing := kubetest.Missing(); len(missing) > 0 {
			msg := fmt.Sprintf("kubernetes test binaries missing in %s: %s\nbuild them with: go run ./internal/kubetest/build (make test does)",
				kubetest.BinDir(), strings.Join(missing, ", "))
			if os.Getenv(kubetest.RequiredEnv) != "" {
				fmt.Fprintln(os.Stderr, msg)
				return 1
			}
			fmt.Fprintln(os.Stderr, "SKIPPING the tests against a real API server:", msg)
			return m.Run()
		}
		kube := filepath.Join(dir, "kube")
		if err := os.Mkdir(kube, 0o700); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		c, err := kubetest.Start(ctx, kube)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "start the kubernetes test stack:", err)
			return 1
		}
		defer c.Close()
		cluster = c
		return m.Run()
	}())
}

// newRunner is the bridge to the deployq-kubernetes built for the run.
// What it says on stderr goes to t's log; a race, a panic or an unclean
// exit it reports fails t.
func newRunner(t testing.TB) *kuberunner.Runner {
	return bridgeTo(t, kubeBin)
}

func bridgeTo(t testing.TB, path string) *kuberunner.Runner {
	return &kuberunner.Runner{Path: path, Log: func(msg string) {
		if strings.Contains(msg, "DATA RACE") || strings.Contains(msg, "panic:") || strings.Contains(msg, "exited after its call") {
			t.Errorf("%s", msg)
			return
		}
		t.Log(msg)
	}}
}

// children lists the processes of this test process whose name is name
// (as the kernel keeps it, 15 bytes) that are still there: running, or
// exited and not waited for.
func children(name string) []string {
	var left []string
	for _, c := range childProcs(name) {
		left = append(left, fmt.Sprintf("pid %d (%s, state %s)", c.pid, name, c.state))
	}
	return left
}

// proc is a process, as /proc/PID/stat says.
type proc struct {
	pid   int
	state string
}

// childProcs are the processes of this test process named name.
func childProcs(name string) []proc {
	if len(name) > 15 {
		name = name[:15]
	}
	entries, _ := os.ReadDir("/proc")
	var found []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		lp, rp := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if lp < 0 || rp < lp {
			continue
		}
		f := strings.Fields(s[rp+1:])
		if len(f) < 2 || s[lp+1:rp] != name || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		found = append(found, proc{pid: pid, state: f[0]})
	}
	return found
}

// noChildren fails t if a process named name that this test process
// started is still there.
func noChildren(t testing.TB, name string) {
	t.Helper()
	if left := children(name); len(left) > 0 {
		t.Errorf("left behind: %s", strings.Join(left, ", "))
	}
}
