// Command sshbench times one rollout to a fleet of real sshd servers on
// this machine: deployq's ssh runner (canary 1, then 25% batches) against a
// bare golang.org/x/crypto/ssh fan-out of the same command, and against
// parallel-ssh and ansible-playbook (serial 25%, pipelining) when they are
// installed (make bench-ssh installs them). It prints the median of -runs
// for each.
//
//	go run ./bench/sshbench -hosts 200 -parallel 50 -runs 3
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/internal/sshfleet"
	"github.com/deployq/deployq/queue"
	sshrunner "github.com/deployq/deployq/runners/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// step is the work on every host: write a version file, verify it.
func step(v string) string {
	return fmt.Sprintf(`echo %s > "$HOSTDIR/version" && test "$(cat "$HOSTDIR/version")" = %s`, v, v)
}

type discard struct{}

func (discard) Stream(string, string) io.WriteCloser { return nopCloser{io.Discard} }
func (discard) Progress(queue.Progress)              {}
func (discard) Pause(context.Context, string) error  { return nil }

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func main() {
	hosts := flag.Int("hosts", 200, "sshd servers to start")
	parallel := flag.Int("parallel", 50, "connections at once")
	runs := flag.Int("runs", 3, "runs of each tool; the median is printed")
	flag.Parse()
	dir, err := os.MkdirTemp("", "sshbench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	fmt.Printf("starting %d sshd servers...\n", *hosts)
	f, err := sshfleet.Start(dir, *hosts)
	if err != nil {
		fail(err)
	}
	defer f.Close()

	run := 0
	version := func() string { run++; return fmt.Sprintf("v%d", run) }
	check := func(v string) error {
		for _, h := range f.Hosts {
			if got := h.File("version"); got != v {
				return fmt.Errorf("%s has %q, want %q", h.Name, got, v)
			}
		}
		return nil
	}
	type tool struct {
		name string
		run  func(v string) error
	}
	tools := []tool{
		{"deployq ssh runner", func(v string) error { return deployq(f, *parallel, v) }},
		{"bare x/crypto/ssh fan-out", func(v string) error { return bare(f, *parallel, v) }},
	}
	if _, err := exec.LookPath("parallel-ssh"); err == nil {
		tools = append(tools, tool{"parallel-ssh -p", func(v string) error { return pssh(f, *parallel, v) }})
	} else {
		fmt.Println("parallel-ssh not installed: skipped (make bench-ssh installs it)")
	}
	if _, err := exec.LookPath("ansible-playbook"); err == nil {
		tools = append(tools, tool{"ansible-playbook", func(v string) error { return ansible(f, *parallel, v) }})
	} else {
		fmt.Println("ansible-playbook not installed: skipped (make bench-ssh installs it)")
	}
	medians := map[string]time.Duration{}
	for _, t := range tools {
		var times []time.Duration
		for range *runs {
			v := version()
			start := time.Now()
			err := t.run(v)
			took := time.Since(start)
			if err == nil {
				err = check(v)
			}
			if err != nil {
				fail(fmt.Errorf("%s: %w", t.name, err))
			}
			times = append(times, took)
		}
		slices.Sort(times)
		medians[t.name] = times[len(times)/2]
		fmt.Printf("%-28s median %8.3fs  (runs: %v)\n", t.name, medians[t.name].Seconds(), times)
	}
	base := medians["deployq ssh runner"]
	for _, t := range tools[1:] {
		fmt.Printf("%-28s / deployq = %.2fx\n", t.name, float64(medians[t.name])/float64(base))
	}
}

func deployq(f *sshfleet.Fleet, parallel int, v string) error {
	st := &sshrunner.Settings{Hosts: f.Names(), KeyFiles: []string{f.KeyFile}, KnownHosts: f.KnownHosts,
		Canary: "1", Batch: "25%", Parallel: parallel, Steps: []sshrunner.Step{{Name: "version", Command: step(v)}}}
	res, err := sshrunner.New(nil).Run(context.Background(), queue.Job{DeployID: 1, App: "bench", Env: "bench",
		SHA: strings.Repeat("a", 40), Settings: st}, discard{})
	if err == nil && !res.OK {
		err = fmt.Errorf("%s", res.Message)
	}
	return err
}

func bare(f *sshfleet.Fleet, parallel int, v string) error {
	b, err := os.ReadFile(f.KeyFile)
	if err != nil {
		return err
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return err
	}
	kh, err := knownhosts.New(f.KnownHosts)
	if err != nil {
		return err
	}
	cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: kh, Timeout: 10 * time.Second}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, h := range f.Hosts {
		sem <- struct{}{}
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			defer func() { <-sem }()
			err := func() error {
				c, err := ssh.Dial("tcp", addr, cfg)
				if err != nil {
					return err
				}
				defer c.Close()
				s, err := c.NewSession()
				if err != nil {
					return err
				}
				defer s.Close()
				return s.Run(step(v))
			}()
			if err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
			}
		}(h.Name)
	}
	wg.Wait()
	return first
}

func pssh(f *sshfleet.Fleet, parallel int, v string) error {
	hostsFile := filepath.Join(f.Dir, "pssh.hosts")
	os.WriteFile(hostsFile, []byte(strings.Join(f.Names(), "\n")+"\n"), 0o644)
	cmd := exec.Command("parallel-ssh", "-p", fmt.Sprint(parallel), "-h", hostsFile, "-l", "root",
		"-O", "UserKnownHostsFile="+f.KnownHosts, "-O", "StrictHostKeyChecking=yes", "-O", "IdentityFile="+f.KeyFile,
		"-O", "IdentitiesOnly=yes", "-O", "BatchMode=yes", step(v))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, lastLines(out))
	}
	return nil
}

func ansible(f *sshfleet.Fleet, parallel int, v string) error {
	var inv strings.Builder
	inv.WriteString("[fleet]\n")
	for i, h := range f.Hosts {
		host, port, _ := net.SplitHostPort(h.Name)
		fmt.Fprintf(&inv, "h%d ansible_host=%s ansible_port=%s\n", i, host, port)
	}
	invFile := filepath.Join(f.Dir, "inventory.ini")
	os.WriteFile(invFile, []byte(inv.String()), 0o644)
	play := filepath.Join(f.Dir, "play.yml")
	os.WriteFile(play, []byte(fmt.Sprintf(`- hosts: fleet
  serial: "25%%"
  gather_facts: false
  tasks:
    - name: version
      ansible.builtin.shell: %q
`, step(v))), 0o644)
	cfg := filepath.Join(f.Dir, "ansible.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`[defaults]
forks = %d
host_key_checking = True
remote_user = root
private_key_file = %s
interpreter_python = auto_silent
[ssh_connection]
pipelining = True
ssh_args = -o UserKnownHostsFile=%s -o IdentitiesOnly=yes -o ControlMaster=auto -o ControlPersist=60s
`, parallel, f.KeyFile, f.KnownHosts)), 0o644)
	cmd := exec.Command("ansible-playbook", "-i", invFile, play)
	cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+cfg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, lastLines(out))
	}
	return nil
}

func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sshbench:", err)
	os.Exit(1)
}
