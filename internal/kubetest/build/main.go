// Command build builds the Kubernetes control plane, etcd and kwok that
// the kubernetes runner's tests run against, into kubetest.BinDir(), from
// the Go module proxy. What is already there is kept: a warm rerun takes
// a moment, a cold one several minutes.
//
//	go run ./internal/kubetest/build
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/deployq/deployq/internal/kubetest"
)

func main() {
	dir := kubetest.BinDir()
	missing := kubetest.Missing()
	if len(missing) == 0 {
		fmt.Println("kubernetes test binaries are ready in", dir)
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(err)
	}
	gomod, err := goCmd(".", nil, "env", "GOMOD").Output()
	if err != nil || len(gomod) < 2 {
		fail(fmt.Errorf("run it inside the deployq module: %v", err))
	}
	tools := filepath.Join(filepath.Dir(string(gomod[:len(gomod)-1])), "internal", "kubetest", "tools")
	start := time.Now()
	fmt.Printf("building the kubernetes test stack into %s (several minutes the first time)...\n", dir)
	has := func(name string) bool { _, err := os.Stat(filepath.Join(dir, name)); return err == nil }

	var kube []string
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"} {
		if !has(b) {
			kube = append(kube, "k8s.io/kubernetes/cmd/"+b)
		}
	}
	if len(kube) > 0 {
		run(filepath.Join(tools, "kube"), nil, append([]string{"build", "-trimpath", "-o", dir + "/"}, kube...)...)
	}
	if !has("etcd") {
		run(filepath.Join(tools, "etcd"), nil, "build", "-trimpath", "-o", filepath.Join(dir, "etcd"), "go.etcd.io/etcd/server/v3")
	}
	if !has("kwok") {
		run(dir, []string{"GOBIN=" + dir, "GOFLAGS=-trimpath"}, "install", "sigs.k8s.io/kwok/cmd/kwok@"+kubetest.KwokVersion)
	}
	// kwok's stages ship in its module source
	out, err := goCmd(dir, nil, "mod", "download", "-json", "sigs.k8s.io/kwok@"+kubetest.KwokVersion).Output()
	if err != nil {
		fail(fmt.Errorf("go mod download kwok: %v", err))
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		fail(fmt.Errorf("go mod download kwok: no directory in %s", out))
	}
	for _, f := range kubetest.StageFiles {
		b, err := os.ReadFile(filepath.Join(mod.Dir, f))
		if err != nil {
			fail(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "stage-"+filepath.Base(f)), b, 0o644); err != nil {
			fail(err)
		}
	}
	if m := kubetest.Missing(); len(m) > 0 {
		fail(fmt.Errorf("still missing after the build: %v", m))
	}
	fmt.Printf("built in %s\n", time.Since(start).Round(time.Second))
}

func goCmd(dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

func run(dir string, env []string, args ...string) {
	fmt.Println("  go", args[0], args[len(args)-1])
	cmd := goCmd(dir, env, args...)
	cmd.Stdout = os.Stdout
	if err := cmd.Run(); err != nil {
		fail(fmt.Errorf("go %s in %s: %v", args[0], dir, err))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kubetest build:", err)
	os.Exit(1)
}
