package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/deployq/deployq/internal/queuetest"
)

// An open server (no api_tokens) listens on loopback only, whoever picks
// the address: the config, --listen over a config that was fine, or the
// demo. An address of every interface is refused before anything is
// served.
func TestOpenServerListensOnLoopbackOnly(t *testing.T) {
	const open = "apps:\n  - name: web\n    environments:\n      - {name: staging, runner: shell, shell: {command: \"true\"}}\n"
	cases := []struct {
		name   string
		config string // written to deployq.yaml; "" runs the demo
		args   []string
		want   string
	}{
		{"ErrFlagAllInterfaces", open, []string{"--listen", "0.0.0.0:0"}, "is not a loopback address"},
		{"ErrFlagAllInterfacesIPv6", open, []string{"--listen", "[::]:0"}, "is not a loopback address"},
		{"ErrFlagNoHost", open, []string{"--listen", ":0"}, "is not a loopback address"},
		{"ErrConfig", "server:\n  listen: 0.0.0.0:0\n" + open, nil, "is not a loopback address"},
		{"ErrDemo", "", []string{"--listen", "0.0.0.0:0"}, "is not a loopback address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.config != "" {
				os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(c.config), 0o644)
			}
			out := serveRefused(t, dir, c.args...)
			if !strings.Contains(out, c.want) || !strings.Contains(out, "api_tokens") {
				t.Fatalf("deployq serve %v said:\n%s", c.args, out)
			}
		})
	}
}

// serveRefused runs `deployq serve args` in dir, expects it to exit with
// an error before it listens, and returns what it said.
func serveRefused(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve"}, args...)...)
	cmd.Dir = dir
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var exit error
	exited := false
	t.Cleanup(func() {
		if !exited {
			syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	queuetest.Eventually(t, "deployq serve exits or listens", func() bool {
		select {
		case exit = <-done:
			exited = true
		default:
		}
		return exited || strings.Contains(out.String(), "deployq listening on")
	})
	if !exited {
		t.Fatalf("deployq serve %v served:\n%s", args, out.String())
	}
	if exit == nil {
		t.Fatalf("deployq serve %v exited 0:\n%s", args, out.String())
	}
	return out.String()
}
