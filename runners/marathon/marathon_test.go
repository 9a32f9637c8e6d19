package marathon_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/marathontest"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners/marathon"
)

const (
	sha1 = "1111111111111111111111111111111111111111"
	sha2 = "2222222222222222222222222222222222222222"
)

func simulator(t *testing.T) *marathontest.Server {
	t.Helper()
	m, err := marathontest.Start(5 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func settings(m *marathontest.Server, tweak func(*marathon.Settings)) *marathon.Settings {
	s := &marathon.Settings{URL: marathon.Strings{m.URL}, AppID: marathon.Strings{"/web"},
		Image: "registry.example.com/web:{sha}", Timeout: time.Minute, HealthGrace: 300 * time.Millisecond,
		LockedTimeout: time.Minute, PollInterval: 20 * time.Millisecond}
	if tweak != nil {
		tweak(s)
	}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	return s
}

func seed(t *testing.T, m *marathontest.Server, id, image string, n int) {
	t.Helper()
	if err := m.Seed(id, image, n); err != nil {
		t.Fatal(err)
	}
}

type env struct {
	*queuetest.Env
	m *marathontest.Server
}

func start(t *testing.T, m *marathontest.Server, st *marathon.Settings) env {
	t.Helper()
	e := &queue.Environment{Name: "production", Runner: "marathon", Settings: st}
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "production", Environments: []*queue.Environment{e}}},
		func(o *queue.Options) { o.Runners["marathon"] = marathon.New() })
	return env{q, m}
}

// wait follows a deploy (or operation) to its end and returns it with its
// log.
func (e env) wait(t *testing.T, d *queue.Deploy) (*queue.Deploy, string) {
	t.Helper()
	return e.Follow(t, d.ID)
}

func (e env) deploy(t *testing.T, sha string) (*queue.Deploy, string) {
	t.Helper()
	d, err := e.Svc.Submit(e.Ctx, queue.Request{App: "web", Ref: sha, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	return e.wait(t, d)
}

func contains(t *testing.T, log string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}
}

func TestDeploySucceeds(t *testing.T) {
	m := simulator(t)
	seed(t, m, "/web", "registry.example.com/web:old", 3)
	e := start(t, m, settings(m, nil))
	d, log := e.deploy(t, sha1)
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	if img, n := m.Image("/web"); img != "registry.example.com/web:"+sha1 || n != 3 {
		t.Errorf("image %q, %d instances", img, n)
	}
	labels := m.Labels("/web")
	if labels[marathon.LabelDeploy] != fmt.Sprint(d.ID) || labels[marathon.LabelSHA] != sha1 || labels[marathon.LabelUser] != "alice" || labels["team"] != "web" {
		t.Errorf("labels %v", labels)
	}
	if !m.Healthy("/web") {
		t.Error("the app is not healthy")
	}
	if r := m.Rejected(); len(r) > 0 {
		t.Errorf("the simulator refused definitions: %v", r)
	}
	// only the image and labels changed; read-only fields and nulls were
	// not sent back
	put := m.Received()[0]
	for _, k := range []string{"tasks", "tasksHealthy", "version", "versionInfo", "deployments", "lastTaskFailure", "storeUrls", "args", "user"} {
		if _, ok := put[k]; ok {
			t.Errorf("PUT carried %q", k)
		}
	}
	if put["cmd"] != "python toggle.py $PORT0" || put["mem"] != 32.0 {
		t.Errorf("PUT changed other fields: %v", put)
	}
	contains(t, log, "/web: image registry.example.com/web:old -> registry.example.com/web:"+sha1,
		"/web: tasks healthy 3/3", "/web: healthy (3/3)", "/web  deployed")
}

func TestUnhealthyRollsBack(t *testing.T) {
	m := simulator(t)
	seed(t, m, "/web", "registry.example.com/web:good", 2)
	e := start(t, m, settings(m, func(s *marathon.Settings) { s.Image = "registry.example.com/web-unhealthy:{sha}" }))
	d, log := e.deploy(t, sha1)
	if d.State != queue.StateFailed || !strings.Contains(d.Error, "unhealthy") || !strings.Contains(d.Error, "rolled back: /web") {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	if img, _ := m.Image("/web"); img != "registry.example.com/web:good" || !m.Healthy("/web") {
		t.Errorf("after the rollback: %q, healthy %v", img, m.Healthy("/web"))
	}
	contains(t, log, "failing health checks", "/web: rolling back deployment", "/web  rolled back")
}

func TestCrashingTasksAreLoggedAndRolledBack(t *testing.T) {
	m := simulator(t)
	seed(t, m, "/web", "registry.example.com/web:good", 2)
	e := start(t, m, settings(m, func(s *marathon.Settings) { s.Image = "registry.example.com/web-crash:{sha}" }))
	d, log := e.deploy(t, sha1)
	if d.State != queue.StateFailed || !strings.Contains(d.Error, "task failure") {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	contains(t, log, "TASK_FAILED: Abnormal executor termination")
	if img, _ := m.Image("/web"); img != "registry.example.com/web:good" {
		t.Errorf("image %q after the rollback", img)
	}
}

// Without an event stream the runner polls, and reads task failures from
// the app's lastTaskFailure.
func TestCrashWithoutEventStream(t *testing.T) {
	m := simulator(t)
	m.NoEvents = true
	seed(t, m, "/web", "registry.example.com/web:good", 1)
	e := start(t, m, settings(m, func(s *marathon.Settings) { s.Image = "registry.example.com/web-crash:{sha}" }))
	d, log := e.deploy(t, sha1)
	if d.State != queue.StateFailed {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	contains(t, log, "TASK_FAILED: Abnormal executor termination", "rolled back")
}

func TestTimeoutRollsBack(t *testing.T) {
	m := simulator(t)
	seed(t, m, "/web", "registry.example.com/web:good", 2)
	e := start(t, m, settings(m, func(s *marathon.Settings) {
		s.Image = "registry.example.com/web-slow:{sha}"
		s.Timeout = 400 * time.Millisecond
	}))
	d, log := e.deploy(t, sha1)
	if d.State != queue.StateFailed || !strings.Contains(d.Error, "not healthy within 400ms") || !strings.Contains(d.Error, "rolled back: /web") {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	if img, _ := m.Image("/web"); img != "registry.example.com/web:good" || !m.Healthy("/web") {
		t.Errorf("after the rollback: %q", img)
	}
}

func TestCancelRollsBack(t *testing.T) {
	m := simulator(t)
	m.Behaviour = stuck // the cancel always comes mid-deployment
	seed(t, m, "/web", "registry.example.com/web:good", 2)
	e := start(t, m, settings(m, func(s *marathon.Settings) { s.Image = "registry.example.com/web-stuck:{sha}" }))
	d, err := e.Svc.Submit(e.Ctx, queue.Request{App: "web", Ref: sha1, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	e.WaitLog(t, d.ID, "tasks healthy 0/2")
	if _, err := e.Svc.Cancel(e.Ctx, d.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	got, log := e.wait(t, d)
	if got.State != queue.StateCanceled || !strings.Contains(got.Error, "canceled by bob; rolled back: /web") {
		t.Fatalf("%s %q\n%s", got.State, got.Error, log)
	}
	if img, _ := m.Image("/web"); img != "registry.example.com/web:good" || !m.Healthy("/web") {
		t.Errorf("after the cancel: %q", img)
	}
}

func TestCanaryFailureStopsBeforeTheMainApp(t *testing.T) {
	m := simulator(t)
	seed(t, m, "/web", "registry.example.com/web:good", 3)
	seed(t, m, "/web-canary", "registry.example.com/web:good", 0)
	m.Behaviour = func(image string) marathontest.Behaviour {
		return marathontest.DefaultBehaviour(image) // the new image is fine on its own ...
	}
	e := start(t, m, settings(m, func(s *marathon.Settings) {
		s.Image = "registry.example.com/web-unhealthy:{sha}" // ... but not this one
		s.Canary = &marathon.Canary{AppID: "/web-canary", Instances: 1, Bake: time.Second}
	}))
	d, log := e.deploy(t, sha1)
	if d.State != queue.StateFailed || !strings.Contains(d.Error, "canary /web-canary") || !strings.Contains(d.Error, "the main apps were not touched") {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	for _, put := range m.Received() {
		if put["id"] == "/web" {
			t.Fatalf("the main app was changed: %v", put)
		}
	}
	if img, _ := m.Image("/web"); img != "registry.example.com/web:good" {
		t.Errorf("main app image %q", img)
	}
	if img, n := m.Image("/web-canary"); img != "registry.example.com/web:good" || n != 0 {
		t.Errorf("canary after the rollback: %q, %d instances", img, n)
	}
}

func TestCanaryThenMainApp(t *testing.T) {
	m := simulator(t)
	seed(t, m, "/web", "registry.example.com/web:good", 2)
	seed(t, m, "/web-canary", "registry.example.com/web:good", 0)
	e := start(t, m, settings(m, func(s *marathon.Settings) {
		s.Canary = &marathon.Canary{AppID: "/web-canary", Instances: 1, Bake: 200 * time.Millisecond}
	}))
	d, log := e.deploy(t, sha2)
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	contains(t, log, "canary /web-canary: 1 instance(s)", "/web-canary: baked 200ms, healthy", "/web: healthy (2/2)")
	if strings.Index(log, "/web-canary: baked") > strings.Index(log, "/web: image") {
		t.Errorf("the main app went before the canary baked:\n%s", log)
	}
}

// A PUT while another deployment runs gets 409 (Marathon's body): the
// runner says so, waits for it to clear, then deploys.
func TestLockedByAnotherDeploymentWaits(t *testing.T) {
	m := simulator(t)
	seed(t, m, "/web", "registry.example.com/web:good", 1)
	other, err := m.StartDeployment("/web")
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, m, settings(m, nil))
	d, err := e.Svc.Submit(e.Ctx, queue.Request{App: "web", Ref: sha1, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	e.WaitLog(t, d.ID, "is locked by deployment 5cd987cd-85ae-4e70-8df7-f1438367d9cb")
	m.Finish(other)
	got, log := e.wait(t, d)
	if got.State != queue.StateSucceeded {
		t.Fatalf("%s %q\n%s", got.State, got.Error, log)
	}
	contains(t, log, "App is locked by one or more deployments")
}

// 5xx answers are retried; a URL that refuses connections is skipped.
func TestFailoverAnd5xx(t *testing.T) {
	m := simulator(t)
	seed(t, m, "/web", "registry.example.com/web:good", 1)
	m.Token = "s3cret"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	e := start(t, m, settings(m, func(s *marathon.Settings) {
		s.URL = marathon.Strings{dead, m.URL}
		s.Token = "s3cret"
	}))
	m.FailNext(2)
	d, log := e.deploy(t, sha1)
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	if img, _ := m.Image("/web"); img != "registry.example.com/web:"+sha1 {
		t.Errorf("image %q", img)
	}
}

func TestUnknownAppFailsClearly(t *testing.T) {
	m := simulator(t)
	e := start(t, m, settings(m, func(s *marathon.Settings) { s.AppID = marathon.Strings{"/nope"} }))
	d, log := e.deploy(t, sha1)
	if d.State != queue.StateFailed || !strings.Contains(d.Error, "/nope: no such app in Marathon") {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
}

// scale, stop, start and restart: queued and logged like a deploy,
// locked out like one.
func TestOperations(t *testing.T) {
	m := simulator(t)
	seed(t, m, "/web", "registry.example.com/web:good", 2)
	e := start(t, m, settings(m, nil))
	op := func(r queue.OpRequest) (*queue.Deploy, string) {
		t.Helper()
		r.App, r.Env, r.User = "web", "production", "alice"
		d, err := e.Svc.Operate(e.Ctx, r)
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		d, log := e.wait(t, d)
		if d.State != queue.StateSucceeded {
			t.Fatalf("%+v: %s %q\n%s", r, d.State, d.Error, log)
		}
		return d, log
	}
	if d, log := op(queue.OpRequest{Op: "scale", Instances: 4}); d.Op != "scale" || d.Instances != 4 || !strings.Contains(log, "operation #") {
		t.Errorf("%+v\n%s", d, log)
	}
	if _, n := m.Image("/web"); n != 4 || !m.Healthy("/web") {
		t.Errorf("after scale: %d instances, healthy %v", n, m.Healthy("/web"))
	}
	op(queue.OpRequest{Op: "stop"})
	if _, n := m.Image("/web"); n != 0 || m.Labels("/web")[marathon.LabelStoppedInstances] != "4" {
		t.Errorf("after stop: %d instances, labels %v", n, m.Labels("/web"))
	}
	op(queue.OpRequest{Op: "start"})
	if _, n := m.Image("/web"); n != 4 || !m.Healthy("/web") {
		t.Errorf("after start: %d instances", n)
	}
	before := m.Requests()
	_, log := op(queue.OpRequest{Op: "restart"})
	if !slicesContains(m.Requests()[len(before):], "POST /v2/apps/web/restart") || !m.Healthy("/web") {
		t.Errorf("restart: %v\n%s", m.Requests()[len(before):], log)
	}
	// operations are not deploys: rollback finds no deploy to go back to
	if _, err := e.Svc.Rollback(e.Ctx, queue.RollbackRequest{App: "web", User: "alice"}); queue.ErrorCode(err) != queue.ENotFound && queue.ErrorCode(err) != queue.EConflict {
		t.Errorf("rollback with no deploy before: %v", err)
	}
	// a lock holds operations back like deploys
	if _, _, err := e.Svc.Lock(e.Ctx, queue.LockRequest{Env: "production", Owner: "carol", Reason: "incident"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.Operate(e.Ctx, queue.OpRequest{App: "web", Op: "scale", Instances: 1, User: "alice"}); queue.ErrorCode(err) != queue.ELocked {
		t.Errorf("scale under a lock: %v", err)
	}
}

func slicesContains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestOperationsRefusedByOtherRunners(t *testing.T) {
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "production",
		Environments: []*queue.Environment{queuetest.Shell("production", "true")}}}, nil)
	_, err := q.Svc.Operate(q.Ctx, queue.OpRequest{App: "web", Op: "restart", User: "alice"})
	if queue.ErrorCode(err) != queue.EUnsupported {
		t.Errorf("restart on the shell runner: %v", err)
	}
}
