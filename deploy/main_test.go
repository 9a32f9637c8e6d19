package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/kubetest"
	"github.com/deployq/deployq/internal/queuetest"
)

// work is a directory for the whole run: the deployq binary, the control
// plane's files.
var work string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		var err error
		if work, err = os.MkdirTemp("", "deployq-deploy"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(work)
		defer func() {
			if cluster != nil {
				cluster.Close()
			}
		}()
		return m.Run()
	}())
}

// root is the repository's root directory.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Stamps are the build arguments the tests build with.
const (
	testVersion = "v9.8.7-test"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
	testDate    = "2026-01-02T03:04:05Z"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// deployq is the deployq binary, built once per run by the Dockerfile's
// own go build command, with the test's version, commit and date;
// deployq-kubernetes is beside it, from the same command.
func deployq(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir = filepath.Join(work, "bin")
		binErr = buildLikeDockerfile(root(t), binDir+string(filepath.Separator))
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "deployq")
}

// deployqKubernetes is deployq-kubernetes, built with deployq.
func deployqKubernetes(t *testing.T) string {
	t.Helper()
	return filepath.Join(filepath.Dir(deployq(t)), "deployq-kubernetes")
}

// buildLikeDockerfile runs the Dockerfile's go build in dir, its output
// in out, a directory (ending in a slash).
func buildLikeDockerfile(dir, out string) error {
	b, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		return err
	}
	df, err := parseDockerfile(string(b))
	if err != nil {
		return err
	}
	args, env, err := df.goBuild(map[string]string{"VERSION": testVersion, "COMMIT": testCommit, "DATE": testDate}, out)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// server is a deployq started by a test, ended by its pid.
type server struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// syncBuffer is a bytes.Buffer written by a process and read by a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs argv in dir with env added and waits until it says where it
// listens; the process is killed at the end of the test if it still runs.
func start(t *testing.T, dir string, env []string, argv ...string) (*server, string) {
	t.Helper()
	s := &server{cmd: exec.Command(argv[0], argv[1:]...), out: &syncBuffer{}, done: make(chan struct{})}
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		if !s.exited() {
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	var url string
	queuetest.Eventually(t, "deployq says where it listens", func() bool {
		if s.exited() {
			t.Fatalf("%s exited: %v\n%s", strings.Join(argv, " "), s.err, s.out)
		}
		for _, line := range strings.Split(s.out.String(), "\n") {
			if u, ok := strings.CutPrefix(line, "deployq listening on "); ok {
				url = strings.TrimSpace(u)
				return true
			}
		}
		return false
	})
	return s, url
}

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to within for the process to exit.
func (s *server) stop(t *testing.T, sig syscall.Signal, within time.Duration) error {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
		return s.err
	case <-time.After(within):
		t.Fatalf("still running %s after %v:\n%s", within, sig, s.out)
		return nil
	}
}

// healthy waits until url/healthz answers 200.
func healthy(t *testing.T, url string) {
	t.Helper()
	queuetest.Eventually(t, url+"/healthz answers 200", func() bool {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// cluster is the control plane, started by the first test that needs it.
var (
	clusterOnce sync.Once
	cluster     *kubetest.Cluster
	clusterErr  error
)

// needCluster returns the running control plane. Without its binaries
// the test is skipped, or fails when kubetest.RequiredEnv is set.
func needCluster(t *testing.T) *kubetest.Cluster {
	t.Helper()
	if missing := kubetest.Missing(); len(missing) > 0 {
		msg := fmt.Sprintf("kubernetes test binaries missing in %s: %s (build them: go run ./internal/kubetest/build; make test does)",
			kubetest.BinDir(), strings.Join(missing, ", "))
		if os.Getenv(kubetest.RequiredEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	clusterOnce.Do(func() {
		dir := filepath.Join(work, "kube")
		if clusterErr = os.Mkdir(dir, 0o700); clusterErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cluster, clusterErr = kubetest.Start(ctx, dir)
	})
	if clusterErr != nil {
		t.Fatal("start the kubernetes test stack:", clusterErr)
	}
	return cluster
}
