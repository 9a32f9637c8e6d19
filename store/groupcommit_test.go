package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// A write that shares a commit with others never fails because another
// caller gave up: callers whose contexts end at random moments, while
// their large writes run, are mixed with callers that never give up, and
// every write of the latter succeeds and is stored.
func TestGroupCommitSurvivesCallersThatGiveUp(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	ctx := context.Background()
	const patient, each = 8, 150
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []error
	for w := range patient {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := queue.AuditEntry{Time: time.Now(), User: "patient", Action: "write", Target: fmt.Sprintf("%d/%d", w, i)}
				if err := s.Audit(ctx, e); err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				}
			}
		}()
	}
	lines := make([]queue.LogLine, 2000)
	for i := range lines {
		lines[i] = queue.LogLine{Seq: int64(i + 1), Time: time.Now(), Stream: queue.StreamStdout, Text: fmt.Sprintf("line %d of a long log", i)}
	}
	stop := make(chan struct{})
	var gaveUp sync.WaitGroup
	for w := range 4 {
		gaveUp.Add(1)
		go func() {
			defer gaveUp.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				batch := make([]queue.LogLine, len(lines))
				for i, l := range lines {
					l.DeployID = int64(1000*w + n)
					batch[i] = l
				}
				c, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(3000))*time.Microsecond)
				s.AppendLog(c, batch) // may or may not land: it gave up
				cancel()
			}
		}()
	}
	wg.Wait()
	close(stop)
	gaveUp.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of %d writes of callers that did not give up failed, first: %v", len(failed), patient*each, failed[0])
	}
	entries, err := s.AuditLog(ctx, 10*patient*each)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, e := range entries {
		if e.User == "patient" {
			stored[e.Target] = true
		}
	}
	if len(stored) != patient*each {
		t.Fatalf("%d writes stored, want %d", len(stored), patient*each)
	}
}
