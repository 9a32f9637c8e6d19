package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// logCases: deploys' output, written and read back.
var logCases = []testCase{
	// Every field of a line comes back as written: hosts, the three
	// streams, unicode, empty and long text, escapes a terminal reads.
	{"LinesRoundTrip", func(t *testing.T, s queue.Store) {
		d := running(t, s, "web", "prod")
		texts := []struct {
			stream, host, text string
		}{
			{queue.StreamSystem, "", "deploying web@main (1111111) to prod"},
			{queue.StreamStdout, "web-1.example.com", "Überprüfung läuft… ✓ 完了 🚀"},
			{queue.StreamStderr, "web-2.example.com", ""},
			{queue.StreamStdout, "", "\x1b[31mred\x1b[0m\tand a tab\r"},
			{queue.StreamStderr, "", "  leading and trailing spaces  "},
			{queue.StreamStdout, "web-1.example.com", strings.Repeat("long line ", 10000)},
			{queue.StreamSystem, "", `quotes ' " \ and 100% of %s`},
		}
		var want []queue.LogLine
		for i, x := range texts {
			want = append(want, queue.LogLine{DeployID: d.ID, Seq: int64(i + 1), Time: at(time.Duration(i) * time.Second).In(zone),
				Stream: x.stream, Host: x.host, Text: x.text})
		}
		appendLog(t, s, want)
		got, err := s.Log(t.Context(), d.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		sameLines(t, "the log", got, want)
	}},
	// A deploy without lines has an empty log and a last seq of 0.
	{"Empty", func(t *testing.T, s queue.Store) {
		d := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		lines, err := s.Log(t.Context(), d.ID, 0, 100)
		if err != nil || len(lines) != 0 {
			t.Fatalf("the log of a deploy without lines: %d lines, %v", len(lines), err)
		}
		last, err := s.LastLogSeq(t.Context(), d.ID)
		if err != nil || last != 0 {
			t.Fatalf("the last seq of a deploy without lines: %d, %v; want 0", last, err)
		}
	}},
	// Log pages: lines with Seq above after, up to limit, in order.
	{"Paging", func(t *testing.T, s queue.Store) {
		d := running(t, s, "web", "prod")
		all := logLines(d.ID, 1, 50)
		appendLog(t, s, all)
		for _, c := range []struct {
			after int64
			limit int
			want  []queue.LogLine
		}{
			{0, 100, all},
			{0, 50, all},
			{0, 7, all[:7]},
			{0, 1, all[:1]},
			{7, 7, all[7:14]},
			{45, 7, all[45:]},
			{49, 7, all[49:]},
			{50, 7, nil},
			{500, 7, nil},
		} {
			t.Run(fmt.Sprintf("after %d limit %d", c.after, c.limit), func(t *testing.T) {
				got, err := s.Log(t.Context(), d.ID, c.after, c.limit)
				if err != nil {
					t.Fatal(err)
				}
				sameLines(t, "the page", got, c.want)
			})
		}
		var pages []queue.LogLine
		for after := int64(0); ; {
			page, err := s.Log(t.Context(), d.ID, after, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			pages = append(pages, page...)
			after = page[len(page)-1].Seq
		}
		sameLines(t, "the log read in pages of 7", pages, all)
	}},
	// A limit of zero or less is the store's default, which holds 1000
	// lines at least.
	{"DefaultLimit", func(t *testing.T, s queue.Store) {
		d := running(t, s, "web", "prod")
		all := logLines(d.ID, 1, 1000)
		appendLog(t, s, all)
		for _, limit := range []int{0, -1} {
			got, err := s.Log(t.Context(), d.ID, 0, limit)
			if err != nil {
				t.Fatal(err)
			}
			sameLines(t, fmt.Sprintf("the log with limit %d", limit), got, all)
		}
	}},
	// LastLogSeq is the highest Seq stored, as lines come.
	{"LastLogSeq", func(t *testing.T, s queue.Store) {
		d := running(t, s, "web", "prod")
		other := running(t, s, "web", "qa")
		appendLog(t, s, logLines(other.ID, 1, 90))
		for _, to := range []int{1, 3, 40, 41} {
			from := 1
			if last, _ := s.LastLogSeq(t.Context(), d.ID); last > 0 {
				from = int(last) + 1
			}
			appendLog(t, s, logLines(d.ID, from, to))
			last, err := s.LastLogSeq(t.Context(), d.ID)
			if err != nil || last != int64(to) {
				t.Fatalf("after lines %d to %d: last seq %d, %v", from, to, last, err)
			}
		}
		if last, err := s.LastLogSeq(t.Context(), other.ID); err != nil || last != 90 {
			t.Fatalf("the other deploy's last seq: %d, %v; want 90", last, err)
		}
	}},
	// One call may hold lines of several deploys, mixed: each log gets its
	// own, in order.
	{"SeveralDeploysInOneCall", func(t *testing.T, s queue.Store) {
		a, b := running(t, s, "web", "prod"), running(t, s, "api", "prod")
		la, lb := logLines(a.ID, 1, 6), logLines(b.ID, 1, 4)
		mixed := []queue.LogLine{la[0], la[1], lb[0], la[2], lb[1], lb[2], la[3], la[4], la[5], lb[3]}
		appendLog(t, s, mixed)
		sameLines(t, "the first deploy's log", readLog(t, s, a.ID, 0), la)
		sameLines(t, "the second deploy's log", readLog(t, s, b.ID, 0), lb)
	}},
	// UpdateDeploy stores lines with the state, in one transaction; lines
	// written by AppendLog and by updates make one log.
	{"UpdateWithLines", func(t *testing.T, s queue.Store) {
		d := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		all := logLines(d.ID, 1, 9)
		run := *d
		run.State = queue.StateRunning
		if err := s.UpdateDeploy(t.Context(), &run, queue.StateQueued, all[:2]); err != nil {
			t.Fatal(err)
		}
		sameLines(t, "after starting", readLog(t, s, d.ID, 0), all[:2])
		appendLog(t, s, all[2:6])
		done := run
		done.State, done.FinishedAt = queue.StateSucceeded, at(time.Hour)
		if err := s.UpdateDeploy(t.Context(), &done, queue.StateRunning, all[6:8]); err != nil {
			t.Fatal(err)
		}
		sameLines(t, "after ending", readLog(t, s, d.ID, 0), all[:8])
		again := done
		again.State = queue.StateFailed
		err := s.UpdateDeploy(t.Context(), &again, queue.StateRunning, all[8:])
		wantCode(t, err, queue.EConflict, "an update from running of a succeeded deploy")
		sameLines(t, "after a refused update", readLog(t, s, d.ID, 0), all[:8])
		if last, err := s.LastLogSeq(t.Context(), d.ID); err != nil || last != 8 {
			t.Fatalf("last seq %d, %v; want 8", last, err)
		}
	}},
	// A long log, written in large batches, reads back whole, from any
	// point, while the deploy runs and once it ended.
	{"ManyThousandLines", func(t *testing.T, s queue.Store) {
		const n = 30000
		d := running(t, s, "web", "prod")
		all := logLines(d.ID, 1, n)
		for i := 0; i < n; i += 1000 {
			appendLog(t, s, all[i:i+1000])
		}
		check := func(when string) {
			t.Helper()
			sameLines(t, when+": the whole log", readLog(t, s, d.ID, 0), all)
			got, err := s.Log(t.Context(), d.ID, 12345, 3)
			if err != nil {
				t.Fatal(err)
			}
			sameLines(t, when+": 3 lines after 12345", got, all[12345:12348])
			if got, err = s.Log(t.Context(), d.ID, n-2, 10); err != nil {
				t.Fatal(err)
			}
			sameLines(t, when+": the last 2", got, all[n-2:])
			if last, err := s.LastLogSeq(t.Context(), d.ID); err != nil || last != n {
				t.Fatalf("%s: last seq %d, %v; want %d", when, last, err, n)
			}
		}
		check("running")
		end(t, s, d, queue.StateSucceeded, at(time.Hour))
		check("ended")
	}},
	// A log written a few lines at a time, as a deploy prints, reads back
	// whole at any moment, and once the deploy ended.
	{"AFewLinesAtATime", func(t *testing.T, s queue.Store) {
		d := running(t, s, "web", "prod")
		const n, batch = 1500, 5
		var all []queue.LogLine
		for i := 1; i <= n; i++ {
			all = append(all, queue.LogLine{DeployID: d.ID, Seq: int64(i), Time: at(time.Duration(i) * time.Millisecond),
				Stream: []string{queue.StreamStdout, queue.StreamStderr}[i%2], Host: fmt.Sprintf("web-%d", i%3),
				Text: fmt.Sprintf("%5d %s", i, strings.Repeat(lineText(i), 6))})
		}
		for i := 0; i < n; i += batch {
			appendLog(t, s, all[i:i+batch])
			if i%(100*batch) == 0 {
				sameLines(t, fmt.Sprintf("after %d lines", i+batch), readLog(t, s, d.ID, 0), all[:i+batch])
			}
		}
		sameLines(t, "all written", readLog(t, s, d.ID, 0), all)
		sameLines(t, "after 777", readLog(t, s, d.ID, 777), all[777:])
		end(t, s, d, queue.StateFailed, at(time.Hour))
		sameLines(t, "ended", readLog(t, s, d.ID, 0), all)
		sameLines(t, "ended, after 1234", readLog(t, s, d.ID, 1234), all[1234:])
	}},
}
