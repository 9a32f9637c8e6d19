package main_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
)

// fakeActions is GitHub's API for the Actions runs deployq gates: it
// records the answers to the runs' protection rules and the cancels, and
// tells how each run stands (as the test sets it), from the workflow run
// of the real workflow_run.completed payload.
type fakeActions struct {
	t    *testing.T
	url  string // the API base, ending with /api/v3/
	run  map[string]any
	mu   sync.Mutex
	said []answerHeard
	runs map[int64][2]string // run -> status, conclusion
	odd  []string            // calls it does not know
}

type answerHeard struct {
	run                 int64
	state, env, comment string
	cancel              bool
}

var actionsPath = regexp.MustCompile(`^/api/v3/repos/octo-org/octo-repo/actions/runs/([0-9]+)(/deployment_protection_rule|/cancel)?$`)

func newFakeActions(t *testing.T) *fakeActions {
	var payload struct {
		WorkflowRun map[string]any `json:"workflow_run"`
	}
	json.Unmarshal(mustRead(t, filepath.Join("..", "..", "github", "testdata", "actions", "workflow_run.completed.json")), &payload)
	f := &fakeActions{t: t, run: payload.WorkflowRun, runs: map[int64][2]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		m := actionsPath.FindStringSubmatch(r.URL.Path)
		if m == nil {
			f.odd = append(f.odd, r.Method+" "+r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"Not Found"}`))
			return
		}
		run, _ := strconv.ParseInt(m[1], 10, 64)
		switch {
		case r.Method == "POST" && m[2] == "/deployment_protection_rule":
			var body map[string]string
			json.NewDecoder(r.Body).Decode(&body)
			f.said = append(f.said, answerHeard{run: run, state: body["state"], env: body["environment_name"], comment: body["comment"]})
			w.WriteHeader(http.StatusNoContent)
		case r.Method == "POST" && m[2] == "/cancel":
			f.said = append(f.said, answerHeard{run: run, cancel: true})
			w.WriteHeader(http.StatusAccepted)
			w.Write([]byte(`{}`))
		case r.Method == "GET" && m[2] == "":
			out := map[string]any{}
			for k, v := range f.run {
				out[k] = v
			}
			st := f.runs[run]
			if st[0] == "" {
				st = [2]string{"in_progress", ""}
			}
			out["id"], out["status"], out["conclusion"] = run, st[0], nil
			if st[1] != "" {
				out["conclusion"] = st[1]
			}
			json.NewEncoder(w).Encode(out)
		default:
			f.odd = append(f.odd, r.Method+" "+r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL + "/api/v3/"
	t.Cleanup(func() {
		if t.Failed() {
			f.mu.Lock()
			t.Logf("GitHub heard %+v; calls it did not know: %v", f.said, f.odd)
			f.mu.Unlock()
		}
	})
	return f
}

// answers returns what the runs were told so far.
func (f *fakeActions) answers() []answerHeard {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]answerHeard(nil), f.said...)
}

// answered waits until run was told state (approved, rejected) and
// returns that answer.
func (f *fakeActions) answered(t *testing.T, run int64, state string) answerHeard {
	t.Helper()
	var got answerHeard
	queuetest.Eventually(t, fmt.Sprintf("run %d %s", run, state), func() bool {
		for _, a := range f.answers() {
			if a.run == run && a.state == state {
				got = a
				return true
			}
		}
		return false
	})
	return got
}

// answerOf returns the answer run got, "" if none.
func (f *fakeActions) answerOf(run int64) string {
	for _, a := range f.answers() {
		if a.run == run && !a.cancel {
			return a.state
		}
	}
	return ""
}

// setRun sets how run stands when deployq asks.
func (f *fakeActions) setRun(run int64, status, conclusion string) {
	f.mu.Lock()
	f.runs[run] = [2]string{status, conclusion}
	f.mu.Unlock()
}

// actionsHook sends signed deliveries to a server's GitHub webhook.
type actionsHook struct {
	url, secret string
	n           int
	mu          sync.Mutex
}

func (h *actionsHook) send(t *testing.T, event string, body []byte) (int, string) {
	t.Helper()
	h.mu.Lock()
	h.n++
	delivery := fmt.Sprintf("actions-e2e-%d", h.n)
	h.mu.Unlock()
	mac := hmac.New(sha256.New, []byte(h.secret))
	mac.Write(body)
	req, _ := http.NewRequest("POST", h.url+"/webhooks/github", strings.NewReader(string(body)))
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// request is the protection rule's request of run (its deployment
// numbered after it), its callback on the fake's API base.
func request(t *testing.T, f *fakeActions, run int64) []byte {
	var p map[string]any
	json.Unmarshal(mustRead(t, filepath.Join("..", "..", "github", "testdata", "actions", "deployment_protection_rule.requested.json")), &p)
	p["deployment_callback_url"] = fmt.Sprintf("%srepos/octo-org/octo-repo/actions/runs/%d/deployment_protection_rule", f.url, run)
	p["deployment"].(map[string]any)["id"] = 875096710 + (run - realRun)
	b, _ := json.Marshal(p)
	return b
}

// realRun is the run of the real workflow_run.completed payload.
const realRun = 289782451

func actionsConfig(f *fakeActions, secret string) string {
	return `github:
  webhook_secret: ` + secret + `
  token: ghp_actions_e2e_0000000000000000000000000
  api_url: ` + f.url + `
people:
  - {name: codertocat, github: [Codertocat]}
apps:
  - name: web
    repo: octo-org/octo-repo
    default_ref: master
    environments:
      - name: production
        runner: actions
        actions: {poll: 1s}
`
}

// Two Actions jobs ask for production at once: one is let go, the other
// only once the first's job ended (heard by webhook, or by asking
// GitHub). A lock refuses the next job with its words; a lock that will
// end makes the one after wait, and an unlock lets it go.
func TestActionsJobsGatedThroughTheBinary(t *testing.T) {
	f := newFakeActions(t)
	dir := t.TempDir()
	const secret = "actions-e2e-webhook-secret"
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(actionsConfig(f, secret)), 0o644)
	s := startServer(t, dir, nil)
	hook := &actionsHook{url: s.url, secret: secret}

	runs := []int64{realRun, realRun + 1}
	var wg sync.WaitGroup
	for _, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, out := hook.send(t, "deployment_protection_rule", request(t, f, run)); code != 202 || !strings.Contains(out, `"deploys":[`) {
				t.Errorf("run %d's request: %d %s", run, code, out)
			}
		}()
	}
	wg.Wait()
	queuetest.Eventually(t, "one of the two jobs let go", func() bool { return len(f.answers()) > 0 })
	first, second := runs[0], runs[1]
	if f.answerOf(first) == "" {
		first, second = second, first
	}
	if a := f.answered(t, first, "approved"); a.env != "production" || !strings.Contains(a.comment, "may deploy to production") {
		t.Fatalf("the first job's answer: %+v", a)
	}
	if got := f.answerOf(second); got != "" {
		t.Fatalf("the second job was answered %s while the first runs", got)
	}
	mustContain(t, "the queue", s.cliOK(t, nil, "queue", "production"), "via GitHub Actions")

	// The first job ends: the second goes. The real run ends by webhook,
	// the other by what GitHub answers when asked.
	end := func(run int64, conclusion string) {
		if run == realRun {
			if code, out := hook.send(t, "workflow_run", mustRead(t, filepath.Join("..", "..", "github", "testdata", "actions", "workflow_run.completed.json"))); code != 202 {
				t.Fatalf("workflow_run: %d %s", code, out)
			}
			return
		}
		f.setRun(run, "completed", conclusion)
	}
	end(first, "success")
	f.answered(t, second, "approved")
	end(second, "failure")
	for id, run := range map[string]int64{"1": first, "2": second} {
		want := "succeeded"
		if run == second && run != realRun { // GitHub answered failure
			want = "failed"
		}
		out, _ := s.cli(t, nil, "", "logs", "-f", id) // exits 1 for a deploy that failed
		mustContain(t, "deploy #"+id, out, fmt.Sprintf("GitHub Actions run %d may deploy now", run), want)
	}

	// A lock refuses the next job, with its words.
	s.cliOK(t, []string{"USER=alice"}, "lock", "production", ":", "db migration")
	if code, out := hook.send(t, "deployment_protection_rule", request(t, f, realRun+2)); code != 202 || !strings.Contains(out, "locked by alice") {
		t.Fatalf("a request while locked: %d %s", code, out)
	}
	if a := f.answered(t, realRun+2, "rejected"); !strings.Contains(a.comment, "production is locked by alice") || !strings.Contains(a.comment, "db migration") {
		t.Fatalf("the rejection: %+v", a)
	}
	s.cliOK(t, []string{"USER=alice"}, "unlock", "production")

	// A lock that will end makes the next job wait; the unlock lets it go.
	s.cliOK(t, []string{"USER=alice"}, "lock", "production", "for", "1h", ":", "smoke tests")
	if code, out := hook.send(t, "deployment_protection_rule", request(t, f, realRun+3)); code != 202 {
		t.Fatalf("a request while locked for an hour: %d %s", code, out)
	}
	mustContain(t, "the waiting job", s.cliOK(t, nil, "queue", "production"), "locked by alice")
	if got := f.answerOf(realRun + 3); got != "" {
		t.Fatalf("answered %s while the lock holds", got)
	}
	s.cliOK(t, []string{"USER=alice"}, "unlock", "production")
	f.answered(t, realRun+3, "approved")

	// A deploy typed in deployq cannot run there: the jobs deploy.
	if out, code := s.cli(t, nil, "", "deploy", "web@3484a3fb816e0859fd6e1cea078d76385ff50625", "to", "production"); code == 0 ||
		!strings.Contains(out, "production is deployed by GitHub Actions jobs") {
		t.Fatalf("a typed deploy: %d %s", code, out)
	}

	// deployq's cancel of a running job cancels its run on GitHub.
	id := fmt.Sprint(4)
	mustContain(t, "cancel", s.cliOK(t, nil, "cancel", id), "canceling #4")
	queuetest.Eventually(t, "the run canceled on GitHub", func() bool {
		for _, a := range f.answers() {
			if a.run == realRun+3 && a.cancel {
				return true
			}
		}
		return false
	})
}

// An Actions job to an environment that needs an approval waits for it;
// the Approve button of its Slack message approves the deploy, and so
// lets the job go.
func TestActionsJobApprovedFromSlack(t *testing.T) {
	f := newFakeActions(t)
	sl := newFakeSlackAPI(t)
	dir := t.TempDir()
	const secret = "actions-e2e-webhook-secret"
	cfg := actionsConfig(f, secret) + `        approvals: {required: 1}
slack:
  mode: http
  bot_token: xoxb-e2e
  signing_secret: ` + httpModeSecret + `
  channel: CANNOUNCE
  api_url: ` + sl.url + `
`
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	hook := &actionsHook{url: s.url, secret: secret}
	if code, out := hook.send(t, "deployment_protection_rule", request(t, f, realRun)); code != 202 || !strings.Contains(out, `"deploys":[1]`) {
		t.Fatalf("the request: %d %s", code, out)
	}
	queuetest.Eventually(t, "the message with the Approve button", func() bool {
		return sl.said("chat.postMessage", "deployq_approve") && sl.said("chat.postMessage", "Actions run")
	})
	if got := f.answerOf(realRun); got != "" {
		t.Fatalf("answered %s before the approval", got)
	}

	var click map[string]any
	json.Unmarshal(mustRead(t, filepath.Join("..", "..", "bot", "slack", "testdata", "fixtures", "interactive.block_actions.button.json")), &click)
	act := click["actions"].([]any)[0].(map[string]any)
	act["action_id"], act["value"] = "deployq_approve", "1"
	payload, _ := json.Marshal(click)
	form := url.Values{"payload": {string(payload)}}.Encode()
	if code, out := signSlack(httpModeSecret, "/slack/interactive", "application/x-www-form-urlencoded", form, time.Now()).send(t, s.url); code != 200 {
		t.Fatalf("the click: %d %s", code, out)
	}
	f.answered(t, realRun, "approved")
	if code, out := hook.send(t, "workflow_run", mustRead(t, filepath.Join("..", "..", "github", "testdata", "actions", "workflow_run.completed.json"))); code != 202 {
		t.Fatalf("workflow_run: %d %s", code, out)
	}
	mustContain(t, "the deploy", s.cliOK(t, nil, "logs", "-f", "1"), "approved", "succeeded")
}
