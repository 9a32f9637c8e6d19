package main_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/pgtest"
	"github.com/deployq/deployq/internal/queuetest"
)

// group is several deployq servers, real processes, sharing one
// PostgreSQL database, each with its own data directory.
type group struct {
	t       *testing.T
	dirs    []string
	env     []string
	servers []*server
	marks   string // where the deploys write "start ID" and "end ID"
}

// startGroup starts n servers (deployq-1...) with a lease of lease (a
// duration: short where a test waits for one to end) and one app, web,
// whose production runs command ($MARKS is the marks file).
func startGroup(t *testing.T, n int, lease, command string) *group {
	t.Helper()
	g := &group{t: t, env: []string{"DEPLOYQ_DSN=" + pgtest.New(t)}, marks: filepath.Join(t.TempDir(), "marks")}
	for i := 1; i <= n; i++ {
		dir := t.TempDir()
		cfg := fmt.Sprintf(`server:
  name: deployq-%d
  data_dir: ./data
store:
  driver: postgres
  dsn: "${DEPLOYQ_DSN}"
  lease: %s
apps:
  - name: web
    environments:
      - name: production
        runner: shell
        shell:
          env: {MARKS: %q}
          command: %q
`, i, lease, g.marks, command)
		os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
		g.dirs = append(g.dirs, dir)
		g.servers = append(g.servers, startServer(t, dir, g.env))
	}
	return g
}

// restart starts server i (from 0) again after it died.
func (g *group) restart(i int) { g.servers[i] = startServer(g.t, g.dirs[i], g.env) }

// deploy asks server i for a deploy of sha n and returns its id.
func (g *group) deploy(i, n int) int {
	g.t.Helper()
	out := g.servers[i].cliOK(g.t, nil, "deploy", fmt.Sprintf("web@%040x", n))
	m := regexp.MustCompile(`#(\d+) queued`).FindStringSubmatch(out)
	if m == nil {
		g.t.Fatalf("no id in %q", out)
	}
	var id int
	fmt.Sscan(m[1], &id)
	return id
}

type deployJSON struct{ State, Error, Server string }

// running waits until deploy id runs and returns the index of the server
// that runs it, and of another one.
func (g *group) running(id int) (runs, other int) {
	g.t.Helper()
	var d deployJSON
	queuetest.Eventually(g.t, fmt.Sprintf("#%d runs", id), func() bool {
		d = g.deployOf(0, id)
		return d.State == "running"
	})
	if _, err := fmt.Sscanf(d.Server, "deployq-%d", &runs); err != nil {
		g.t.Fatalf("#%d runs on %q", id, d.Server)
	}
	runs--
	return runs, (runs + 1) % len(g.servers)
}

// deployOf reads deploy id through server i.
func (g *group) deployOf(i, id int) deployJSON {
	var d deployJSON
	getJSON(g.t, fmt.Sprintf("%s/api/v1/deploys/%d", g.servers[i].url, id), &d)
	return d
}

// marked returns the marks written so far.
func (g *group) marked() []string {
	b, _ := os.ReadFile(g.marks)
	return strings.Fields(strings.ReplaceAll(string(b), "\n", " "))
}

const markCommand = `echo "start $DEPLOY_ID" >> "$MARKS"; sleep 0.2; echo "end $DEPLOY_ID" >> "$MARKS"; echo "deployed $DEPLOY_ID"`

// Deploys asked of any of three servers run once each, one at a time,
// oldest first, on whichever server takes them; a log is followed to its
// end, and the deploy's end is heard in the event stream, through a
// server that does not run it.
func TestServersShareOneDatabase(t *testing.T) {
	g := startGroup(t, 3, "10s", markCommand) // no server dies here: a lease that load cannot end
	var ids []int
	for n := range 9 {
		ids = append(ids, g.deploy(n%3, n+1))
	}
	for _, id := range ids {
		var d deployJSON
		queuetest.Eventually(t, fmt.Sprintf("#%d ended", id), func() bool {
			d = g.deployOf(0, id)
			return d.State != "queued" && d.State != "running"
		})
		if d.State != "succeeded" {
			t.Fatalf("#%d %s on %s: %s", id, d.State, d.Server, d.Error)
		}
	}
	var want []string
	for _, id := range ids {
		want = append(want, "start", fmt.Sprint(id), "end", fmt.Sprint(id))
	}
	if got := g.marked(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("marks (one at a time, oldest first, each once):\n got %v\nwant %v", got, want)
	}
	servers := map[string]bool{}
	for _, id := range ids {
		servers[g.deployOf(1, id).Server] = true
	}
	for s := range servers {
		if !regexp.MustCompile(`^deployq-[123]$`).MatchString(s) {
			t.Fatalf("a deploy ran on server %q", s)
		}
	}

	// a log followed, and the event stream read, through a server that
	// does not run the deploy
	var events []<-chan string
	for _, srv := range g.servers {
		events = append(events, streamEvents(t, srv.url, "deploy"))
	}
	id := g.deploy(0, 100)
	var runs int
	queuetest.Eventually(t, fmt.Sprintf("#%d has a server", id), func() bool {
		_, err := fmt.Sscanf(g.deployOf(0, id).Server, "deployq-%d", &runs)
		return err == nil
	})
	other := runs % 3 // the index of the server after the one that runs it
	mustContain(t, "a log followed from another server", g.servers[other].cliOK(t, nil, "logs", "-f", fmt.Sprint(id)),
		fmt.Sprintf("deployed %d", id), "succeeded")
	waitEvent(t, events[other], fmt.Sprintf(`"id":%d,`, id), `"state":"succeeded"`)
}

// streamEvents reads the event stream of the server at url and hands
// over the data of its events named name, until the test ends.
func streamEvents(t *testing.T, url, name string) <-chan string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", url+"/api/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	ch := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			if e, ok := strings.CutPrefix(line, "event: "); ok {
				event = e
			} else if data, ok := strings.CutPrefix(line, "data: "); ok && event == name {
				ch <- data
			}
		}
		close(ch)
	}()
	return ch
}

// waitEvent waits for an event whose data holds all of wants.
func waitEvent(t *testing.T, events <-chan string, wants ...string) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case data, ok := <-events:
			if !ok {
				t.Fatalf("the event stream ended before an event with %q", wants)
			}
			all := true
			for _, w := range wants {
				all = all && strings.Contains(data, w)
			}
			if all {
				return
			}
		case <-timeout:
			t.Fatalf("waited a minute for an event with %q", wants)
		}
	}
}

// A server killed while it runs a deploy: another one finds its lease
// ended, marks the deploy interrupted (never runs it again) and runs the
// next one. The killed server, started again, finds nothing to redo.
func TestServerKilledWhileItRuns(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGroup(t, 2, "1s", fmt.Sprintf(`echo "start $DEPLOY_ID" >> "$MARKS"; if [ "$DEPLOY_ID" = 1 ]; then echo waiting; read x < %s; fi; echo "end $DEPLOY_ID" >> "$MARKS"`, fifo))
	first := g.deploy(0, 1)
	dead, alive := g.running(first)
	queuetest.Eventually(t, "#1 printed", func() bool {
		return strings.Contains(g.servers[alive].cliOK(t, nil, "logs", fmt.Sprint(first)), "waiting")
	})
	second := g.deploy(alive, 2) // waits its turn behind #1
	g.servers[dead].cmd.Process.Kill()
	<-g.servers[dead].done
	queuetest.Eventually(t, "#1 interrupted by the other server", func() bool { return g.deployOf(alive, first).State == "interrupted" })
	if d := g.deployOf(alive, first); !strings.Contains(d.Error, fmt.Sprintf("server deployq-%d stopped renewing its lease", dead+1)) {
		t.Fatalf("#1's error: %q", d.Error)
	}
	queuetest.Eventually(t, "#2 succeeded on the other server", func() bool { return g.deployOf(alive, second).State == "succeeded" })
	mustContain(t, "#1's log", g.servers[alive].cliOK(t, nil, "logs", fmt.Sprint(first)), "waiting", "stopped renewing its lease", "never run again")

	g.restart(dead)
	third := g.deploy(dead, 3)
	queuetest.Eventually(t, "#3 succeeded", func() bool { return g.deployOf(dead, third).State == "succeeded" })
	if d := g.deployOf(dead, first); d.State != "interrupted" {
		t.Fatalf("#1 after its server came back: %s", d.State)
	}
	if got := strings.Count(strings.Join(g.marked(), " "), fmt.Sprintf("start %d", first)); got != 1 {
		t.Fatalf("#1 started %d times: %v", got, g.marked())
	}
}

// A server stopped (SIGSTOP) past its lease while it runs a deploy:
// another server ends that deploy as interrupted; when the stopped one
// goes on, its deploy stays interrupted, no line it read late shows in
// the log (the deploy printed one while its server was stopped), and it
// stops what it still runs. Which of the late line's write and the stop
// comes first is the servers' race: the refusal of a late line itself is
// the stores' conformance case Leases/LinesOnlyFromTheHolder.
func TestServerPausedPastItsLease(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGroup(t, 2, "1s", fmt.Sprintf(`echo "start $DEPLOY_ID" >> "$MARKS"; echo early; read x < %s; echo late-line; sleep 30; echo "end $DEPLOY_ID" >> "$MARKS"`, fifo))
	id := g.deploy(0, 1)
	paused, other := g.running(id)
	queuetest.Eventually(t, "#1 printed", func() bool {
		return strings.Contains(g.servers[other].cliOK(t, nil, "logs", fmt.Sprint(id)), "early")
	})
	p := g.servers[paused].cmd.Process
	p.Signal(syscall.SIGSTOP)
	t.Cleanup(func() { p.Signal(syscall.SIGCONT) }) // whatever happens, before it is stopped for good
	queuetest.Eventually(t, "#1 interrupted by the other server", func() bool { return g.deployOf(other, id).State == "interrupted" })
	f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0) // the deploy reads it: it prints while its server is stopped
	if err != nil {
		t.Fatalf("the deploy no longer waits: %v", err)
	}
	f.Write([]byte("go\n"))
	f.Close()
	p.Signal(syscall.SIGCONT)
	queuetest.Eventually(t, "the paused server let go of #1", func() bool {
		return strings.Contains(g.servers[paused].stderr.String(), "is no longer its own; its run is stopped")
	})
	if d := g.deployOf(paused, id); d.State != "interrupted" || !strings.Contains(d.Error, "stopped renewing") {
		t.Fatalf("#1 after its server went on: %+v", d)
	}
	log := g.servers[other].cliOK(t, nil, "logs", fmt.Sprint(id))
	if strings.Contains(log, "late-line") || !strings.Contains(log, "early") || !strings.Contains(log, "never run again") {
		t.Fatalf("#1's log after deployq-1 went on:\n%s", log)
	}
	if strings.Contains(strings.Join(g.marked(), " "), "end") {
		t.Fatalf("#1's run went on to its end: %v", g.marked())
	}
}

// A lock taken through one server holds back deploys asked of another;
// a deploy canceled through a server that does not run it is stopped on
// the one that does.
func TestServersShareLocksAndCancels(t *testing.T) {
	g := startGroup(t, 2, "1s", `echo "start $DEPLOY_ID" >> "$MARKS"; sleep 30; echo "end $DEPLOY_ID" >> "$MARKS"`)
	// each server's event stream hears of the lock changes of the other
	locks0, locks1 := streamEvents(t, g.servers[0].url, "lock"), streamEvents(t, g.servers[1].url, "lock")
	g.servers[0].cliOK(t, []string{"USER=alice"}, "lock", "production", ":", "release freeze")
	waitEvent(t, locks1, `"locked":true`, `"owner":"alice"`, `"reason":"release freeze"`)
	queuetest.Eventually(t, "deployq-2 refuses a deploy to the locked production", func() bool {
		out, code := g.servers[1].cli(t, []string{"USER=bob"}, "", "deploy", fmt.Sprintf("web@%040x", 1))
		return code != 0 && strings.Contains(out, "locked by alice")
	})
	g.servers[1].cliOK(t, []string{"USER=alice"}, "unlock", "production")
	waitEvent(t, locks0, `"locked":false`, `"owner":"alice"`)

	id := g.deploy(0, 2)
	runs, other := g.running(id)
	out := g.servers[other].cliOK(t, []string{"USER=bob"}, "cancel", fmt.Sprint(id))
	mustContain(t, "cancel through the other server", out, "canceled")
	queuetest.Eventually(t, "the server that runs it stops the run", func() bool {
		return strings.Contains(g.servers[runs].stderr.String(), "another server ended it")
	})
	if d := g.deployOf(runs, id); d.State != "canceled" {
		t.Fatalf("#%d after the cancel: %+v", id, d)
	}
	mustContain(t, "the log", g.servers[runs].cliOK(t, nil, "logs", fmt.Sprint(id)), fmt.Sprintf("server deployq-%d stops its run", runs+1), "canceled by bob")
}
