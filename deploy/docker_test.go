package deploy_test

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
)

func dockerfileOf(t *testing.T) *dockerfile {
	t.Helper()
	df, err := parseDockerfile(read(t, "Dockerfile"))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if len(df.stages) < 2 {
		t.Fatalf("Dockerfile: %d stage: want a build stage and a runtime stage", len(df.stages))
	}
	return df
}

// imageUser is the runtime stage's USER, uid and gid.
func imageUser(t *testing.T, df *dockerfile) (uid, gid int) {
	t.Helper()
	rt := df.stages[len(df.stages)-1]
	u, g, ok := strings.Cut(rt.last("USER"), ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("Dockerfile: USER %q: want numeric UID:GID, so that Kubernetes can tell it is not root (runAsNonRoot)", rt.last("USER"))
	}
	return uid, gid
}

// TestDockerfile checks what can be checked without a Docker engine: the
// stages, the Go and Debian releases, the stamping, the runtime image's
// user, packages, volume, port, signal, health check and command.
func TestDockerfile(t *testing.T) {
	df := dockerfileOf(t)
	build, rt := df.stages[0], df.stages[len(df.stages)-1]

	t.Run("BuilderIsGoModsGo", func(t *testing.T) {
		m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(read(t, "go.mod"))
		if m == nil {
			t.Fatal("go.mod has no go line")
		}
		if !strings.HasPrefix(build.from, "golang:"+m[1]+"-") {
			t.Errorf("the build stage is FROM %s: want golang:%s-DEBIAN (go.mod says go %s)", build.from, m[1], m[1])
		}
	})

	t.Run("SameDebianInBothStages", func(t *testing.T) {
		_, suite, _ := strings.Cut(strings.TrimPrefix(build.from, "golang:"), "-")
		if want := "debian:" + suite + "-slim"; suite == "" || rt.from != want {
			t.Errorf("the runtime stage is FROM %s, the build stage %s: want %s (cgo links against the build stage's glibc)", rt.from, build.from, want)
		}
	})

	t.Run("CgoAndStamps", func(t *testing.T) {
		args, env, err := df.goBuild(map[string]string{"VERSION": "V", "COMMIT": "C", "DATE": "D"}, "/out")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(env, "CGO_ENABLED=1") {
			t.Errorf("the build stage's ENV %q lacks CGO_ENABLED=1 (SQLite is built with cgo)", env)
		}
		cmd := strings.Join(args, " ")
		for _, x := range []string{"-X main.version=V", "-X main.commit=C", "-X main.date=D"} {
			if !strings.Contains(cmd, x) {
				t.Errorf("go %s: lacks %s from its build argument", cmd, x)
			}
		}
		for _, pkg := range []string{"./cmd/deployq", "./cmd/deployq-kubernetes"} {
			if !slices.Contains(args, pkg) {
				t.Errorf("go %s: want it to build %s (deployq starts deployq-kubernetes for deploys to Kubernetes)", cmd, pkg)
			}
		}
	})

	t.Run("RuntimeImage", func(t *testing.T) {
		copied := map[string]bool{}
		for _, in := range rt.all("COPY") {
			words := strings.Fields(in.args)
			if build.name == "" || len(words) < 3 || words[0] != "--from="+build.name {
				continue
			}
			dest := words[len(words)-1]
			for _, src := range words[1 : len(words)-1] {
				if strings.HasSuffix(dest, "/") {
					copied[dest+path.Base(src)] = true
				} else {
					copied[dest] = true
				}
			}
		}
		for _, bin := range []string{"/usr/local/bin/deployq", "/usr/local/bin/deployq-kubernetes"} {
			if !copied[bin] {
				t.Errorf("the runtime stage does not COPY --from=%q %s (it copies %v)", build.name, bin, copied)
			}
		}
		var installed []string
		for _, in := range rt.all("RUN") {
			if _, rest, ok := strings.Cut(in.args, "apt-get install"); ok {
				rest, _, _ = strings.Cut(rest, "&&")
				installed = append(installed, strings.Fields(rest)...)
			}
		}
		for _, p := range []string{"git", "openssh-client", "ca-certificates", "tzdata", "tini", "curl"} {
			if !slices.Contains(installed, p) {
				t.Errorf("the runtime stage does not install %s (it installs %q)", p, installed)
			}
		}
		uid, gid := imageUser(t, df)
		if uid == 0 || gid == 0 {
			t.Errorf("USER %d:%d: want a user other than root", uid, gid)
		}
		made := false
		for _, in := range rt.all("RUN") {
			made = made || (strings.Contains(in.args, fmt.Sprintf("useradd --system --uid %d ", uid)) &&
				strings.Contains(in.args, fmt.Sprintf("groupadd --system --gid %d ", gid)))
		}
		if !made {
			t.Errorf("no RUN makes the user %d and group %d of USER", uid, gid)
		}
		for cmd, want := range map[string]string{
			"VOLUME": "/var/lib/deployq", "WORKDIR": "/var/lib/deployq", "EXPOSE": "8080", "STOPSIGNAL": "SIGTERM",
		} {
			if got := rt.last(cmd); got != want {
				t.Errorf("%s %q: want %q", cmd, got, want)
			}
		}
		if !slices.Contains(rt.env(), "HOME=/var/lib/deployq") {
			t.Errorf("ENV %q: want HOME=/var/lib/deployq (git and ssh read their config there)", rt.env())
		}
		_, check, _ := strings.Cut(rt.last("HEALTHCHECK"), "CMD ")
		if probe, err := execForm(check); err != nil || !slices.Contains(probe, "http://127.0.0.1:8080/healthz") {
			t.Errorf("HEALTHCHECK %q (%v): want one that gets http://127.0.0.1:8080/healthz", rt.last("HEALTHCHECK"), err)
		}
		entry, err := execForm(rt.last("ENTRYPOINT"))
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := execForm(rt.last("CMD"))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"/usr/bin/tini", "--", "/usr/local/bin/deployq"}; !slices.Equal(entry, want) {
			t.Errorf("ENTRYPOINT %q: want %q (tini reaps what deploy commands leave behind)", entry, want)
		}
		if want := []string{"serve", "--config", "/etc/deployq/deployq.yaml"}; !slices.Equal(cmd, want) {
			t.Errorf("CMD %q: want %q", cmd, want)
		}
	})

	t.Run("Dockerignore", func(t *testing.T) {
		lines := strings.Split(read(t, ".dockerignore"), "\n")
		for _, p := range []string{".git", "data", "bin", "deployq.yaml"} {
			if !slices.Contains(lines, p) {
				t.Errorf(".dockerignore lacks %s", p)
			}
		}
	})
}

// TestDockerfileBuild builds deployq and deployq-kubernetes with the
// Dockerfile's own go build command, here, and runs them.
func TestDockerfileBuild(t *testing.T) {
	bin := deployq(t)
	t.Run("KubernetesRunner", func(t *testing.T) {
		out, err := exec.Command(deployqKubernetes(t), "version").CombinedOutput()
		if err != nil || string(out) != "deployq-kubernetes "+testVersion+"\n" {
			t.Errorf("deployq-kubernetes version: %v\n%s", err, out)
		}
	})
	t.Run("Help", func(t *testing.T) {
		out, err := exec.Command(bin, "--help").CombinedOutput()
		checkHelp(t, string(out), err)
	})
	t.Run("Version", func(t *testing.T) {
		out, err := exec.Command(bin, "version").CombinedOutput()
		checkVersion(t, string(out), err)
	})
}

func checkHelp(t *testing.T, out string, err error) {
	t.Helper()
	if err != nil || !strings.Contains(out, "usage: deployq") {
		t.Errorf("deployq --help: %v\n%s", err, out)
	}
}

// checkVersion checks that `deployq version` says the version and commit
// the build was given.
func checkVersion(t *testing.T, out string, err error) {
	t.Helper()
	if err != nil || !strings.Contains(out, testVersion) || !strings.Contains(out, testCommit[:7]) {
		t.Errorf("deployq version: %v\n%s\nwant the version %s and the commit %s the build stamped", err, out, testVersion, testCommit)
	}
}

// TestDockerImage builds the image and runs it, where a Docker engine
// answers; elsewhere it is skipped.
func TestDockerImage(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker client")
	}
	if out, err := exec.CommandContext(t.Context(), "docker", "info").CombinedOutput(); err != nil {
		t.Skipf("no Docker engine answers (docker info: %v): the image is not built\n%s", err, lastLines(string(out), 3))
	}
	docker := func(args ...string) (string, error) {
		out, err := exec.CommandContext(t.Context(), "docker", args...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := docker(args...)
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, lastLines(out, 30))
		}
		return out
	}
	image := fmt.Sprintf("deployq-test:%d", os.Getpid())
	must("build", "-t", image, "--build-arg", "VERSION="+testVersion, "--build-arg", "COMMIT="+testCommit,
		"--build-arg", "DATE="+testDate, root(t))
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", image).Run() })

	t.Run("Help", func(t *testing.T) {
		out, err := docker("run", "--rm", image, "--help")
		checkHelp(t, out, err)
	})
	t.Run("Version", func(t *testing.T) {
		out, err := docker("run", "--rm", image, "version")
		checkVersion(t, out, err)
	})
	uid, _ := imageUser(t, dockerfileOf(t))
	tools := must("run", "--rm", "--entrypoint", "sh", image, "-c", "id -u && git --version && ssh -V 2>&1 && test -w /var/lib/deployq && echo writable && deployq-kubernetes version")
	for _, want := range []string{strconv.Itoa(uid), "git version", "OpenSSH", "writable", "deployq-kubernetes " + testVersion} {
		if !strings.Contains(tools, want) {
			t.Errorf("in the image: %q lacks %q", tools, want)
		}
	}

	// The server, as README says to run it: a config with tokens, on
	// 0.0.0.0, data in the volume. It becomes healthy, and stops cleanly.
	cfg := filepath.Join(t.TempDir(), "deployq.yaml")
	if err := os.WriteFile(cfg, []byte("server:\n  listen: 0.0.0.0:8080\n  data_dir: /var/lib/deployq\n  api_tokens:\n    - {name: ci, token: "+
		`"${DEPLOYQ_API_TOKEN}"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := must("run", "-d", "--health-interval=1s", "--health-start-period=60s", "--stop-timeout=60",
		"-e", "DEPLOYQ_API_TOKEN=0123456789abcdef0123", "-v", cfg+":/etc/deployq/deployq.yaml:ro", image)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", "-v", id).Run() })
	queuetest.Eventually(t, "the container healthy", func() bool {
		st, _ := docker("inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", id)
		if strings.HasPrefix(st, "exited") {
			logs, _ := docker("logs", id)
			t.Fatalf("the server exited:\n%s", logs)
		}
		return st == "running healthy"
	})
	start := time.Now()
	must("stop", id)
	if code := must("inspect", "-f", "{{.State.ExitCode}}", id); code != "0" {
		logs, _ := docker("logs", id)
		t.Errorf("exit code %s after docker stop (%s): want 0, a graceful stop\n%s", code, time.Since(start), logs)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
