package main_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleRSS: resident memory of `deployq serve` (the demo: one app,
// two environments) after it has been up and idle for two seconds
// (rss-MB), and of it, the process's own (anon-MB) and the pages of its
// executable it maps (file-MB): those are the page cache's, shared, and
// how many are mapped depends on what the cache holds (a binary just
// written, as here, is mapped in large pieces; after a reboot, only what
// was read).
func BenchmarkIdleRSS(b *testing.B) {
	m := map[string]float64{}
	for range b.N {
		dir := b.TempDir()
		s := startServer(b, dir, nil)
		time.Sleep(2 * time.Second)
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && (k == "VmRSS" || k == "RssAnon" || k == "RssFile") {
				var kb float64
				fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
				m[k] = kb / 1024
			}
		}
		s.stop(b)
	}
	b.ReportMetric(m["VmRSS"], "rss-MB")
	b.ReportMetric(m["RssAnon"], "anon-MB")
	b.ReportMetric(m["RssFile"], "file-MB")
}
