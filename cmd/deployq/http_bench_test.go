package main_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What peers that stop half-way cost `deployq serve`: resident memory,
// the connections it holds, and how long until it lets them go. These
// measure; the tests in http_limits_test.go assert the behaviour.

// BenchmarkStalledBodies: 100 connections each declare a 5 MiB webhook
// body, send 4 MiB of it and stall. Reported: the server's RSS before and
// while they stall, the connections it holds then, and the seconds until
// it has cut them all (60: not within a minute).
func BenchmarkStalledBodies(b *testing.B) {
	const peers, declared, sent = 100, 5 << 20, 4 << 20
	for range b.N {
		dir := b.TempDir()
		cfg := "github:\n  webhook_secret: \"" + strings.Repeat("s", 32) + "\"\n" +
			"apps:\n  - name: web\n    environments:\n      - {name: staging, runner: shell, shell: {command: \"true\"}}\n"
		os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
		s := startServer(b, dir, nil)
		pid := s.cmd.Process.Pid
		base, idleFDs := rssMB(b, pid), openFDs(b, pid)
		addr := strings.TrimPrefix(s.url, "http://")
		chunk := make([]byte, 64<<10)
		var conns []net.Conn
		for range peers {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
			go func() {
				fmt.Fprintf(c, "POST /webhooks/github HTTP/1.1\r\nHost: %s\r\nX-GitHub-Event: push\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, declared)
				for n := 0; n < sent; n += len(chunk) {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}()
		}
		stalled := time.Now()
		time.Sleep(5 * time.Second) // what arrived is read; the rest never comes
		peak, held := rssMB(b, pid), openFDs(b, pid)-idleFDs
		cut := 60.0
		for time.Since(stalled) < time.Minute {
			if openFDs(b, pid) <= idleFDs {
				cut = time.Since(stalled).Seconds()
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, c := range conns {
			c.Close()
		}
		s.stop(b)
		b.ReportMetric(base, "idle-rss-MB")
		b.ReportMetric(peak, "stalled-rss-MB")
		b.ReportMetric(float64(held), "held-conns")
		b.ReportMetric(cut, "cut-s")
	}
}

// BenchmarkStalledFollowers: 500 followers of one running deploy's log
// (100,000 lines, then a line every 100ms) that never read. Reported:
// the server's RSS before and while they stall, the connections it holds
// then, and 45s later (past the write timeout).
func BenchmarkStalledFollowers(b *testing.B) {
	const followers = 500
	for range b.N {
		dir := b.TempDir()
		printed := filepath.Join(dir, "printed")
		cfg := fmt.Sprintf(`apps:
  - name: web
    environments:
      - name: staging
        runner: shell
        shell: {command: "seq -f 'line %%g of a long deploy log, long enough to weigh something' 100000; touch %s; while true; do echo tick; sleep 0.1; done"}
`, printed)
		os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
		s := startServer(b, dir, nil)
		pid := s.cmd.Process.Pid
		if out, code := s.cli(b, nil, "", "deploy", "web@"+strings.Repeat("f", 40)); code != 0 {
			b.Fatalf("%d %s", code, out)
		}
		for {
			if _, err := os.Stat(printed); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		base, idleFDs := rssMB(b, pid), openFDs(b, pid)
		addr := strings.TrimPrefix(s.url, "http://")
		var conns []net.Conn
		for range followers {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			c.(*net.TCPConn).SetReadBuffer(4 << 10)
			fmt.Fprintf(c, "GET /api/v1/deploys/1/log?follow=1 HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
			conns = append(conns, c)
		}
		time.Sleep(10 * time.Second)
		peak, held := rssMB(b, pid), openFDs(b, pid)-idleFDs
		time.Sleep(45 * time.Second)
		later, heldLater := rssMB(b, pid), openFDs(b, pid)-idleFDs
		for _, c := range conns {
			c.Close()
		}
		s.cli(b, nil, "", "cancel", "1")
		s.stop(b)
		b.ReportMetric(base, "idle-rss-MB")
		b.ReportMetric(peak, "stalled-rss-MB")
		b.ReportMetric(float64(held), "held-conns")
		b.ReportMetric(later, "later-rss-MB")
		b.ReportMetric(float64(heldLater), "later-held-conns")
	}
}

// rssMB is the resident memory of a process, in MB.
func rssMB(tb testing.TB, pid int) float64 {
	tb.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb / 1024
		}
	}
	tb.Fatalf("no VmRSS for %d", pid)
	return 0
}

// openFDs counts a process's open files: its connections among them.
func openFDs(tb testing.TB, pid int) int {
	tb.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		tb.Fatal(err)
	}
	return len(fds)
}
