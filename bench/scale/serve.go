package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// measureServe builds deployq, starts `deployq serve` on the history with
// a config of every lane, and reports how long it took to listen and its
// memory once idle.
func measureServe(ctx context.Context, o options, h *history) error {
	bin := filepath.Join(o.dir, "deployq")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/deployq")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building deployq (run from the repository's root): %w", err)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "server:\n  listen: 127.0.0.1:0\n  data_dir: %s\napps:\n", filepath.Join(o.dir, "data"))
	for _, a := range h.apps() {
		fmt.Fprintf(&cfg, "  - name: %s\n    environments:\n", a.Name)
		for _, e := range a.Environments {
			fmt.Fprintf(&cfg, "      - {name: %s, runner: shell, shell: {command: \"true\"}}\n", e.Name)
		}
	}
	conf := filepath.Join(o.dir, "deployq.yaml")
	if err := os.WriteFile(conf, []byte(cfg.String()), 0o644); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "serve", "--config", conf)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	sc := bufio.NewScanner(out)
	listening := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "deployq listening on ") {
			listening = true
			break
		}
	}
	if !listening {
		return fmt.Errorf("deployq serve did not start")
	}
	took := time.Since(start)
	time.Sleep(2 * time.Second) // let it settle: what an idle server holds
	rss, err := rssMB(cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("deployq serve on the history: listening after %s, idle RSS %.1f MB\n", took.Round(time.Millisecond), rss)
	return nil
}

// rssMB reads a process's resident memory.
func rssMB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}
