// Package marathontest is a Marathon simulator on 127.0.0.1 for the
// marathon runner's tests: it validates every app definition it receives
// against Marathon's published schema (testdata/AppDefinition.json, with a
// JSON Schema library), answers with the bodies of Marathon's published
// examples (testdata/, unedited; values a live server would fill are
// changed in code), and plays deployments out over time: tasks stage,
// start, pass or fail their health checks or crash, old tasks go when new
// ones are healthy, a PUT during a deployment gets 409, and 5xx can be
// injected.
package marathontest

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed testdata/*.json testdata/*.txt
var fixtures embed.FS

func fixture(name string) []byte {
	b, err := fixtures.ReadFile("testdata/" + name)
	if err != nil {
		panic(err)
	}
	return b
}

// decode reads a fixture into a fresh value.
func decode(name string) any {
	var v any
	if err := json.Unmarshal(fixture(name), &v); err != nil {
		panic(fmt.Sprintf("%s: %v", name, err))
	}
	return v
}

// Behaviour is how the tasks of an image behave.
type Behaviour struct {
	StartTicks int  // ticks from staged to running
	Unhealthy  bool // running, but every health check fails
	Crash      bool // fails (TASK_FAILED) right after it starts
}

// DefaultBehaviour reads the image: "unhealthy", "crash" and "slow" in it
// make such tasks; others become healthy in a few ticks.
func DefaultBehaviour(image string) Behaviour {
	b := Behaviour{StartTicks: 2}
	switch {
	case strings.Contains(image, "unhealthy"):
		b.Unhealthy = true
	case strings.Contains(image, "crash"):
		b.Crash = true
	case strings.Contains(image, "slow"):
		b.StartTicks = 200
	}
	return b
}

// Server is a running simulator.
type Server struct {
	URL string

	// Token, when set, is required as "Authorization: token=<Token>".
	Token string
	// NoEvents makes /v2/events answer 404, as on a server without it.
	NoEvents bool
	// Behaviour decides how the tasks of an image behave.
	Behaviour func(image string) Behaviour

	srv    *httptest.Server
	schema *jsonschema.Schema
	tick   time.Duration
	stop   chan struct{}
	done   chan struct{}

	mu          sync.Mutex
	apps        map[string]*app
	deployments []*deployment
	seq         int
	clock       time.Time
	failNext    int
	subs        map[chan []byte]bool
	received    []map[string]any
	rejected    []string
	requests    []string
}

type app struct {
	def         map[string]any
	version     string
	config      string // the definition but for instances: tasks on another config are replaced
	configAt    string
	tasks       []*task
	lastFailure map[string]any
}

type task struct {
	id, version, config string
	image               string
	state               string
	stagedAt, startedAt string
	ticks               int
	failures            int
	healthy             bool
	b                   Behaviour
}

type deployment struct {
	id, version, app string
	from             map[string]any // the definition before, for a rollback
	manual           bool           // another user's: ends with Finish
}

// Start starts a simulator whose deployments advance every tick.
func Start(tick time.Duration) (*Server, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(fixture("AppDefinition.json")))
	if err != nil {
		return nil, err
	}
	// "http://json-schema.org/schema#" meant draft-04 when Marathon 1.7
	// published the schema (it uses draft-04's tuple items); today's
	// libraries read it as the latest draft.
	doc.(map[string]any)["$schema"] = "http://json-schema.org/draft-04/schema#"
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///AppDefinition.json", doc); err != nil {
		return nil, err
	}
	schema, err := c.Compile("file:///AppDefinition.json")
	if err != nil {
		return nil, err
	}
	s := &Server{schema: schema, tick: tick, Behaviour: DefaultBehaviour, apps: map[string]*app{},
		clock: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), subs: map[chan []byte]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	go s.run()
	return s, nil
}

// Close stops the simulator.
func (s *Server) Close() {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	for ch := range s.subs {
		close(ch)
		delete(s.subs, ch)
	}
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// FailNext makes the next n requests answer 503.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	s.failNext = n
	s.mu.Unlock()
}

// Received lists the app definitions PUT so far, as sent.
func (s *Server) Received() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any{}, s.received...)
}

// Rejected lists the validation errors of definitions refused.
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string{}, s.rejected...)
}

// Requests lists "METHOD /path" of every request so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string{}, s.requests...)
}

// now is the simulator's clock, a millisecond a call: versions differ.
func (s *Server) now() string {
	s.clock = s.clock.Add(time.Millisecond)
	return s.clock.Format("2006-01-02T15:04:05.000Z")
}

func (s *Server) newID() string {
	s.seq++
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", s.seq, s.seq)
}

// readOnly are the properties of GET answers that are not part of a
// definition.
var readOnly = []string{"tasks", "tasksRunning", "tasksHealthy", "tasksUnhealthy", "tasksStaged", "deployments",
	"lastTaskFailure", "version", "versionInfo", "storeUrls"}

// Seed creates an app from the fixture app (get-app.with-tasks-healthchecks
// .json) with a docker image and n healthy tasks, as if deployed long ago.
func (s *Server) Seed(id, image string, n int) error {
	def := decode("get-app.with-tasks-healthchecks.json").(map[string]any)["app"].(map[string]any)
	for _, k := range readOnly {
		delete(def, k)
	}
	dropNulls(def) // the 0.7-era example has nulls (a health check's command) 1.7's schema refuses
	def["id"] = id
	def["instances"] = float64(n)
	def["container"] = map[string]any{"type": "DOCKER", "docker": map[string]any{"image": image, "network": "BRIDGE"}}
	def["labels"] = map[string]any{"team": "web"}
	if err := s.validate(def); err != nil {
		return fmt.Errorf("seed %s: %v", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &app{def: def}
	s.apps[id] = a
	s.setDef(a, def)
	for range n {
		t := s.newTask(a)
		t.state, t.startedAt, t.healthy = "TASK_RUNNING", t.stagedAt, true
	}
	return nil
}

// Image returns an app's current image and instance count.
func (s *Server) Image(id string) (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[id]
	if a == nil {
		return "", 0
	}
	return imageOf(a.def), instancesOf(a.def)
}

// Labels returns an app's labels.
func (s *Server) Labels(id string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	if a := s.apps[id]; a != nil {
		if l, ok := a.def["labels"].(map[string]any); ok {
			for k, v := range l {
				out[k], _ = v.(string)
			}
		}
	}
	return out
}

// Healthy reports whether an app has its instances, all on its current
// configuration, running and healthy, with no deployment.
func (s *Server) Healthy(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[id]
	if a == nil || s.deploymentOf(id) != nil {
		return false
	}
	n := 0
	for _, t := range a.tasks {
		if t.config == a.config && t.state == "TASK_RUNNING" && t.healthy {
			n++
		}
	}
	return n == instancesOf(a.def) && len(a.tasks) == n
}

// StartDeployment starts a deployment of app id that the runner did not
// make (another user's), one that never finishes until Finish is called.
func (s *Server) StartDeployment(id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[id]
	if a == nil {
		return "", fmt.Errorf("no app %s", id)
	}
	d := &deployment{id: s.newID(), version: s.now(), app: id, from: a.def, manual: true}
	s.deployments = append(s.deployments, d)
	return d.id, nil
}

// Finish ends a deployment started with StartDeployment.
func (s *Server) Finish(depID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeDeployment(depID)
}

func dropNulls(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if x == nil {
				delete(t, k)
			} else {
				dropNulls(x)
			}
		}
	case []any:
		for _, x := range t {
			dropNulls(x)
		}
	}
}

func imageOf(def map[string]any) string {
	c, _ := def["container"].(map[string]any)
	d, _ := c["docker"].(map[string]any)
	img, _ := d["image"].(string)
	return img
}

func instancesOf(def map[string]any) int {
	if n, ok := def["instances"].(float64); ok {
		return int(n)
	}
	return 1
}

func configOf(def map[string]any) string {
	c := map[string]any{}
	for k, v := range def {
		if k != "instances" {
			c[k] = v
		}
	}
	b, _ := json.Marshal(c)
	return string(b)
}

func (s *Server) setDef(a *app, def map[string]any) {
	a.def = def
	a.version = s.now()
	if cfg := configOf(def); cfg != a.config {
		a.config, a.configAt = cfg, a.version
	}
}

func (s *Server) newTask(a *app) *task {
	id, _ := a.def["id"].(string)
	t := &task{id: strings.ReplaceAll(strings.Trim(id, "/"), "/", "_") + "." + s.newID(), version: a.version, config: a.config,
		image: imageOf(a.def), state: "TASK_STAGING", stagedAt: s.now(), b: s.Behaviour(imageOf(a.def))}
	a.tasks = append(a.tasks, t)
	return t
}

func (s *Server) validate(def map[string]any) error {
	b, _ := json.Marshal(def)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return s.schema.Validate(v)
}

func (s *Server) deploymentOf(app string) *deployment {
	for _, d := range s.deployments {
		if d.app == app {
			return d
		}
	}
	return nil
}

func (s *Server) removeDeployment(id string) {
	for i, d := range s.deployments {
		if d.id == id {
			s.deployments = append(s.deployments[:i], s.deployments[i+1:]...)
			return
		}
	}
}

// run advances the deployments every tick.
func (s *Server) run() {
	defer close(s.done)
	t := time.NewTicker(s.tick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			s.step()
			s.mu.Unlock()
		}
	}
}

// step moves every app one tick towards its definition.
func (s *Server) step() {
	for id, a := range s.apps {
		want := instancesOf(a.def)
		var current, old []*task
		for _, t := range a.tasks {
			t.ticks++
			switch {
			case t.state == "TASK_STAGING" && t.ticks >= t.b.StartTicks:
				t.state, t.startedAt = "TASK_RUNNING", s.now()
				s.emitStatus(id, t, "")
			case t.state == "TASK_RUNNING" && t.b.Crash:
				t.state = "TASK_FAILED"
				a.lastFailure = s.failure(id, t, "Abnormal executor termination")
				s.emitStatus(id, t, "Abnormal executor termination")
			case t.state == "TASK_RUNNING" && t.b.Unhealthy:
				t.failures++
			case t.state == "TASK_RUNNING":
				t.healthy = true
			}
		}
		// failed tasks go; Marathon launches others in their place
		kept := a.tasks[:0]
		for _, t := range a.tasks {
			if t.state != "TASK_FAILED" {
				kept = append(kept, t)
			}
		}
		a.tasks = kept
		for _, t := range a.tasks {
			if t.config == a.config {
				current = append(current, t)
			} else {
				old = append(old, t)
			}
		}
		healthyCurrent := 0
		for _, t := range current {
			if t.state == "TASK_RUNNING" && t.healthy {
				healthyCurrent++
			}
		}
		switch {
		case len(current) < want:
			s.newTask(a) // one at a time
		case len(current) > want:
			s.kill(a, current[len(current)-1])
		}
		// an old task goes for each healthy new one beyond what is needed
		// to keep capacity (minimumHealthCapacity 1)
		if len(old) > 0 && healthyCurrent+len(old) > want {
			s.kill(a, old[0])
		}
		if d := s.deploymentOf(id); d != nil && !d.manual {
			if len(old) == 0 && len(current) == want && healthyCurrent == want {
				s.removeDeployment(d.id)
			}
		}
	}
}

func (s *Server) kill(a *app, t *task) {
	for i, x := range a.tasks {
		if x == t {
			a.tasks = append(a.tasks[:i], a.tasks[i+1:]...)
			t.state = "TASK_KILLED"
			id, _ := a.def["id"].(string)
			s.emitStatus(id, t, "")
			return
		}
	}
}

// failure is a lastTaskFailure, shaped as the fixture's.
func (s *Server) failure(appID string, t *task, msg string) map[string]any {
	f := decode("get-app.with-tasks-healthchecks.json").(map[string]any)["app"].(map[string]any)["lastTaskFailure"].(map[string]any)
	f["appId"], f["host"], f["message"], f["state"], f["taskId"], f["timestamp"], f["version"] =
		appID, "127.0.0.1", msg, t.state, t.id, s.now(), t.version
	return f
}

// emitStatus sends a status_update_event shaped as the fixture's.
func (s *Server) emitStatus(appID string, t *task, msg string) {
	if len(s.subs) == 0 {
		return
	}
	var ev map[string]any
	for _, block := range strings.Split(string(fixture("events.sse.txt")), "\n\n") {
		if strings.HasPrefix(block, "event: status_update_event") {
			_, data, _ := strings.Cut(block, "data: ")
			json.Unmarshal([]byte(data), &ev)
			break
		}
	}
	ev["taskId"], ev["taskStatus"], ev["message"], ev["appId"], ev["host"], ev["version"], ev["timestamp"] =
		t.id, t.state, msg, appID, "127.0.0.1", t.version, s.now()
	s.emit("status_update_event", ev)
}

func (s *Server) emit(name string, ev any) {
	b, _ := json.Marshal(ev)
	msg := []byte("event: " + name + "\ndata: " + string(b) + "\n\n")
	for ch := range s.subs {
		select {
		case ch <- msg:
		default: // a slow reader misses events, as with Marathon
		}
	}
}

// serve routes the API.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	if s.Token != "" && r.Header.Get("Authorization") != "token="+s.Token {
		s.mu.Unlock()
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Unauthorized"})
		return
	}
	if s.failNext > 0 {
		s.failNext--
		s.mu.Unlock()
		http.Error(w, "503 Service Unavailable: leader is being elected", http.StatusServiceUnavailable)
		return
	}
	s.mu.Unlock()
	path := r.URL.Path
	switch {
	case path == "/v2/events" && r.Method == http.MethodGet:
		s.events(w, r)
	case path == "/v2/deployments" && r.Method == http.MethodGet:
		s.listDeployments(w)
	case strings.HasPrefix(path, "/v2/deployments/") && r.Method == http.MethodDelete:
		s.deleteDeployment(w, r, strings.TrimPrefix(path, "/v2/deployments/"))
	case strings.HasPrefix(path, "/v2/apps/") && strings.HasSuffix(path, "/restart") && r.Method == http.MethodPost:
		s.restart(w, strings.TrimSuffix(strings.TrimPrefix(path, "/v2/apps"), "/restart"))
	case strings.HasPrefix(path, "/v2/apps/") && strings.HasSuffix(path, "/tasks") && r.Method == http.MethodGet:
		s.appTasks(w, strings.TrimSuffix(strings.TrimPrefix(path, "/v2/apps"), "/tasks"))
	case strings.HasPrefix(path, "/v2/apps/") && r.Method == http.MethodGet:
		s.getApp(w, strings.TrimPrefix(path, "/v2/apps"))
	case strings.HasPrefix(path, "/v2/apps/") && r.Method == http.MethodPut:
		s.putApp(w, r, strings.TrimPrefix(path, "/v2/apps"))
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Unknown resource " + path})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// locked answers 409 with Marathon's body for an app a deployment locks.
func locked(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusConflict)
	w.Write(fixture("put-app.409-locked-by-deployment.json"))
}

func notFound(w http.ResponseWriter, id string) {
	writeJSON(w, http.StatusNotFound, map[string]any{"message": fmt.Sprintf("App '%s' does not exist", id)})
}

// getApp answers GET /v2/apps/{id}?embed=apps.tasks, shaped as the fixture.
func (s *Server) getApp(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[id]
	if a == nil {
		notFound(w, id)
		return
	}
	body := decode("get-app.with-tasks-healthchecks.json").(map[string]any)
	tmpl := body["app"].(map[string]any)
	taskTmpl := tmpl["tasks"].([]any)[0].(map[string]any)
	out := maps.Clone(a.def)
	var tasks []any
	running, healthy, unhealthy, staged := 0, 0, 0, 0
	checks, _ := a.def["healthChecks"].([]any)
	for _, t := range a.tasks {
		tj := maps.Clone(taskTmpl)
		tj["appId"], tj["id"], tj["host"], tj["version"], tj["stagedAt"], tj["state"] = id, t.id, "127.0.0.1", t.version, t.stagedAt, t.state
		tj["ports"] = []any{31000}
		if t.startedAt != "" {
			tj["startedAt"] = t.startedAt
		} else {
			delete(tj, "startedAt")
		}
		var hcs []any
		if t.state == "TASK_RUNNING" && (t.healthy || t.failures > 0) {
			hcTmpl := taskTmpl["healthCheckResults"].([]any)[0].(map[string]any)
			for range checks {
				h := maps.Clone(hcTmpl)
				h["taskId"], h["alive"], h["consecutiveFailures"] = t.id, t.healthy && t.failures == 0, t.failures
				if t.failures > 0 {
					h["lastFailure"] = s.clock.Format("2006-01-02T15:04:05.000Z")
				}
				hcs = append(hcs, h)
			}
		}
		tj["healthCheckResults"] = hcs
		tasks = append(tasks, tj)
		switch {
		case t.state == "TASK_STAGING":
			staged++
		case t.state == "TASK_RUNNING":
			running++
			if t.failures > 0 {
				unhealthy++
			} else if t.healthy || len(checks) == 0 {
				healthy++
			}
		}
	}
	if tasks == nil {
		tasks = []any{}
	}
	out["tasks"], out["tasksRunning"], out["tasksHealthy"], out["tasksUnhealthy"], out["tasksStaged"] =
		tasks, running, healthy, unhealthy, staged
	deps := []any{}
	if d := s.deploymentOf(id); d != nil {
		deps = append(deps, map[string]any{"id": d.id})
	}
	out["deployments"] = deps
	out["version"] = a.version
	out["versionInfo"] = map[string]any{"lastConfigChangeAt": a.configAt, "lastScalingAt": a.version}
	if a.lastFailure != nil {
		out["lastTaskFailure"] = a.lastFailure
	}
	body["app"] = out
	writeJSON(w, http.StatusOK, body)
}

// appTasks answers GET /v2/apps/{id}/tasks, shaped as the fixture.
func (s *Server) appTasks(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[id]
	if a == nil {
		notFound(w, id)
		return
	}
	body := decode("get-app-tasks.response.json").(map[string]any)
	tmpl := body["tasks"].([]any)[0].(map[string]any)
	tasks := []any{}
	for _, t := range a.tasks {
		tj := maps.Clone(tmpl)
		tj["appId"], tj["id"], tj["host"], tj["version"], tj["state"], tj["stagedAt"], tj["startedAt"] =
			id, t.id, "127.0.0.1", t.version, t.state, t.stagedAt, t.startedAt
		tasks = append(tasks, tj)
	}
	body["tasks"] = tasks
	writeJSON(w, http.StatusOK, body)
}

// putApp validates the definition, answers 409 while a deployment locks
// the app (unless force), and starts a deployment.
func (s *Server) putApp(w http.ResponseWriter, r *http.Request, id string) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var def map[string]any
	if err := json.Unmarshal(b, &def); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid JSON: " + err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, def)
	if err := s.validate(def); err != nil {
		s.rejected = append(s.rejected, err.Error())
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Object is not valid",
			"details": []any{map[string]any{"path": "/", "errors": []string{err.Error()}}}})
		return
	}
	if def["id"] != id {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Object is not valid",
			"details": []any{map[string]any{"path": "/id", "errors": []string{"id does not match the path"}}}})
		return
	}
	a := s.apps[id]
	if a == nil {
		notFound(w, id) // this simulator does not create apps by PUT
		return
	}
	force := r.URL.Query().Get("force") == "true"
	if d := s.deploymentOf(id); d != nil {
		if !force {
			locked(w)
			return
		}
		s.removeDeployment(d.id)
	}
	s.deploy(w, a, def)
}

// deploy sets a new definition and starts its deployment.
func (s *Server) deploy(w http.ResponseWriter, a *app, def map[string]any) {
	from := a.def
	s.setDef(a, def)
	id, _ := def["id"].(string)
	d := &deployment{id: s.newID(), version: a.version, app: id, from: from}
	s.deployments = append(s.deployments, d)
	body := decode("put-app.deployment-result.json").(map[string]any)
	body["deploymentId"], body["version"] = d.id, d.version
	writeJSON(w, http.StatusOK, body)
}

// restart replaces every task: a new version, the same definition.
func (s *Server) restart(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[id]
	if a == nil {
		notFound(w, id)
		return
	}
	if s.deploymentOf(id) != nil {
		locked(w)
		return
	}
	def := a.def
	s.deploy(w, a, def)
	a.config = configOf(def) + "#" + a.version // tasks on the old config are replaced
	a.configAt = a.version
}

// deleteDeployment rolls a deployment back (a new deployment to the
// definition before it), or with force only forgets it.
func (s *Server) deleteDeployment(w http.ResponseWriter, r *http.Request, depID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d *deployment
	for _, x := range s.deployments {
		if x.id == depID {
			d = x
		}
	}
	if d == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": fmt.Sprintf("DeploymentPlan %s does not exist", depID)})
		return
	}
	s.removeDeployment(depID)
	if r.URL.Query().Get("force") == "true" {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	a := s.apps[d.app]
	if d.from == nil || a == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	s.deploy(w, a, d.from)
}

// listDeployments answers GET /v2/deployments, shaped as the fixture.
func (s *Server) listDeployments(w http.ResponseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tmpl := decode("get-deployments.response.json").([]any)[0].(map[string]any)
	out := []any{}
	ds := append([]*deployment{}, s.deployments...)
	sort.Slice(ds, func(i, j int) bool { return ds[i].version < ds[j].version })
	for _, d := range ds {
		dj := maps.Clone(tmpl)
		dj["id"], dj["version"], dj["affectedApps"], dj["affectedPods"] = d.id, d.version, []any{d.app}, []any{}
		dj["steps"] = []any{map[string]any{"actions": []any{map[string]any{"action": "RestartApplication", "app": d.app}}}}
		dj["currentActions"] = []any{map[string]any{"action": "RestartApplication", "app": d.app, "readinessCheckResults": []any{}}}
		dj["currentStep"], dj["totalSteps"] = 1, 1
		out = append(out, dj)
	}
	writeJSON(w, http.StatusOK, out)
}

// events streams /v2/events: event_stream_attached first (the fixture's
// first event), then status updates of tasks.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if s.NoEvents {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Unknown resource /v2/events"})
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		return
	}
	ch := make(chan []byte, 256)
	s.mu.Lock()
	s.subs[ch] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.subs[ch] {
			delete(s.subs, ch)
			close(ch)
		}
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	first, _, _ := strings.Cut(string(fixture("events.sse.txt")), "\n\n")
	io.WriteString(w, first+"\n\n")
	fl.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			w.Write(msg)
			fl.Flush()
		}
	}
}
