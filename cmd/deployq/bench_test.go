package main_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleRSS: resident memory of `deployq serve` (the demo: one app,
// two environments) after it has been up and idle for two seconds.
func BenchmarkIdleRSS(b *testing.B) {
	var rss float64
	for range b.N {
		dir := b.TempDir()
		s := startServer(b, dir, nil)
		time.Sleep(2 * time.Second)
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				var kb float64
				fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
				rss = kb / 1024
			}
		}
		s.stop(b)
	}
	b.ReportMetric(rss, "rss-MB")
}
