package marathon

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Client speaks Marathon's REST API v2 over net/http. Requests go to the
// first URL that answers; a connection error moves on to the next one.
type Client struct {
	URLs     []string
	HTTP     *http.Client
	User     string // basic auth, with Password
	Password string
	Token    string // DC/OS: "Authorization: token=..."
	// RetryWait is the first pause before a GET that got a 5xx is sent
	// again (three more times, each pause longer); default 250ms.
	RetryWait time.Duration

	mu   sync.Mutex
	good int // the URL that answered last
}

// ClientOptions configure NewClient.
type ClientOptions struct {
	URLs               []string
	User, Password     string
	Token              string
	CAFile             string
	InsecureSkipVerify bool
	Timeout            time.Duration // per request, default 30s
}

// NewClient returns a client.
func NewClient(o ClientOptions) (*Client, error) {
	if len(o.URLs) == 0 {
		return nil, errors.New("marathon: no url")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.CAFile != "" || o.InsecureSkipVerify {
		tc := &tls.Config{InsecureSkipVerify: o.InsecureSkipVerify}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: no certificates", o.CAFile)
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	urls := make([]string, len(o.URLs))
	for i, u := range o.URLs {
		urls[i] = strings.TrimRight(u, "/")
	}
	return &Client{URLs: urls, HTTP: &http.Client{Transport: tr, Timeout: timeout},
		User: o.User, Password: o.Password, Token: o.Token}, nil
}

// APIError is an answer other than 2xx.
type APIError struct {
	Status      int
	Message     string
	Deployments []string // for 409: the deployments that lock the app
	Details     string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("marathon: %d", e.Status)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Details != "" {
		msg += " (" + e.Details + ")"
	}
	return msg
}

// Locked reports whether err is a 409 "locked by deployment".
func Locked(err error) (*APIError, bool) {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		return ae, true
	}
	return nil, false
}

func (c *Client) request(ctx context.Context, base, method, path string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case c.Token != "":
		req.Header.Set("Authorization", "token="+c.Token)
	case c.User != "":
		req.SetBasicAuth(c.User, c.Password)
	}
	return req, nil
}

// do sends a request, failing over between URLs on connection errors, and
// decodes a 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	wait := c.RetryWait
	if wait <= 0 {
		wait = 250 * time.Millisecond
	}
	var b []byte
	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, method, path, body)
		if err != nil {
			return err
		}
		b, err = io.ReadAll(io.LimitReader(resp.Body, 32<<20))
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode/100 == 2 {
			break
		}
		// a GET is safe to send again when Marathon has a bad moment (a
		// leader election answers 503)
		if method != http.MethodGet || resp.StatusCode < 500 || attempt == 3 {
			return apiError(resp.StatusCode, b)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait << attempt):
		}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("marathon: %s %s: %v", method, path, err)
	}
	return nil
}

// send tries the URLs in turn, starting with the one that answered last.
func (c *Client) send(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	c.mu.Lock()
	start := c.good
	c.mu.Unlock()
	var errs []string
	for i := range c.URLs {
		n := (start + i) % len(c.URLs)
		req, err := c.request(ctx, c.URLs[n], method, path, body)
		if err != nil {
			return nil, err
		}
		resp, err := c.HTTP.Do(req)
		if err == nil {
			c.mu.Lock()
			c.good = n
			c.mu.Unlock()
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ne net.Error
		var oe *net.OpError
		if !errors.As(err, &oe) && !(errors.As(err, &ne) && ne.Timeout()) {
			return nil, err
		}
		errs = append(errs, fmt.Sprintf("%s: %v", c.URLs[n], oe))
	}
	return nil, fmt.Errorf("marathon: no url answered: %s", strings.Join(errs, "; "))
}

func apiError(status int, b []byte) error {
	var body struct {
		Message     string `json:"message"`
		Deployments []struct {
			ID string `json:"id"`
		} `json:"deployments"`
		Details []struct {
			Path   string   `json:"path"`
			Errors []string `json:"errors"`
		} `json:"details"`
	}
	e := &APIError{Status: status}
	if json.Unmarshal(b, &body) == nil {
		e.Message = body.Message
		for _, d := range body.Deployments {
			e.Deployments = append(e.Deployments, d.ID)
		}
		var ds []string
		for _, d := range body.Details {
			ds = append(ds, d.Path+": "+strings.Join(d.Errors, ", "))
		}
		e.Details = strings.Join(ds, "; ")
	} else {
		e.Message = strings.TrimSpace(string(b))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// DeploymentResult is what a change returns: the deployment doing it.
type DeploymentResult struct {
	DeploymentID string `json:"deploymentId"`
	Version      string `json:"version"`
}

// Deployment is one entry of GET /v2/deployments.
type Deployment struct {
	ID             string   `json:"id"`
	Version        string   `json:"version"`
	AffectedApps   []string `json:"affectedApps"`
	CurrentStep    int      `json:"currentStep"`
	TotalSteps     int      `json:"totalSteps"`
	CurrentActions []struct {
		Action string `json:"action"`
		App    string `json:"app"`
	} `json:"currentActions"`
}

// HealthCheckResult is one health check's state on one task.
type HealthCheckResult struct {
	Alive               bool   `json:"alive"`
	ConsecutiveFailures int    `json:"consecutiveFailures"`
	TaskID              string `json:"taskId"`
	LastFailureCause    string `json:"lastFailureCause"`
}

// Task is a running (or starting) instance of an app.
type Task struct {
	ID                 string              `json:"id"`
	AppID              string              `json:"appId"`
	Host               string              `json:"host"`
	State              string              `json:"state"` // TASK_RUNNING, ... (absent in old versions: running)
	StartedAt          string              `json:"startedAt"`
	Version            string              `json:"version"`
	HealthCheckResults []HealthCheckResult `json:"healthCheckResults"`
}

// Running reports whether the task runs.
func (t *Task) Running() bool {
	return (t.State == "" && t.StartedAt != "") || t.State == "TASK_RUNNING"
}

// Healthy reports whether the task runs and passes every health check
// (checks counts the app's health checks).
func (t *Task) Healthy(checks int) bool {
	if !t.Running() {
		return false
	}
	if checks == 0 {
		return true
	}
	if len(t.HealthCheckResults) < checks {
		return false
	}
	for _, h := range t.HealthCheckResults {
		if !h.Alive {
			return false
		}
	}
	return true
}

// Unhealthy reports whether a health check has failed on the task.
func (t *Task) Unhealthy() bool {
	for _, h := range t.HealthCheckResults {
		if !h.Alive && h.ConsecutiveFailures > 0 {
			return true
		}
	}
	return false
}

// TaskFailure is an app's last failed task.
type TaskFailure struct {
	TaskID    string `json:"taskId"`
	Host      string `json:"host"`
	Message   string `json:"message"`
	State     string `json:"state"`
	Timestamp string `json:"timestamp"`
	Version   string `json:"version"`
}

// AppStatus is the read-only part of GET /v2/apps/{id}.
type AppStatus struct {
	Version         string       `json:"version"`
	Tasks           []Task       `json:"tasks"`
	TasksRunning    int          `json:"tasksRunning"`
	TasksHealthy    int          `json:"tasksHealthy"`
	TasksUnhealthy  int          `json:"tasksUnhealthy"`
	TasksStaged     int          `json:"tasksStaged"`
	LastTaskFailure *TaskFailure `json:"lastTaskFailure"`
	Deployments     []struct {
		ID string `json:"id"`
	} `json:"deployments"`
}

// GetApp reads an app with its tasks: its definition (only the properties
// an app definition may have, ready to PUT back) and its status.
func (c *Client) GetApp(ctx context.Context, id string) (*AppDefinition, *AppStatus, error) {
	var body struct {
		App json.RawMessage `json:"app"`
	}
	if err := c.do(ctx, http.MethodGet, "/v2/apps"+escapeID(id)+"?embed=apps.tasks&embed=apps.lastTaskFailure", nil, &body); err != nil {
		return nil, nil, err
	}
	def := &AppDefinition{}
	if err := json.Unmarshal(body.App, def); err != nil {
		return nil, nil, fmt.Errorf("marathon: app %s: %v", id, err)
	}
	st := &AppStatus{}
	if err := json.Unmarshal(body.App, st); err != nil {
		return nil, nil, fmt.Errorf("marathon: app %s: %v", id, err)
	}
	return def, st, nil
}

// PutApp replaces an app's definition; force overrides a deployment that
// locks the app.
func (c *Client) PutApp(ctx context.Context, def *AppDefinition, force bool) (DeploymentResult, error) {
	var res DeploymentResult
	path := "/v2/apps" + escapeID(def.ID)
	if force {
		path += "?force=true"
	}
	err := c.do(ctx, http.MethodPut, path, def, &res)
	return res, err
}

// Deployments lists the running deployments.
func (c *Client) Deployments(ctx context.Context) ([]Deployment, error) {
	var ds []Deployment
	err := c.do(ctx, http.MethodGet, "/v2/deployments", nil, &ds)
	return ds, err
}

// RollbackDeployment cancels a deployment the Marathon way: a new
// deployment takes the app back to where it was.
func (c *Client) RollbackDeployment(ctx context.Context, id string) (DeploymentResult, error) {
	var res DeploymentResult
	err := c.do(ctx, http.MethodDelete, "/v2/deployments/"+url.PathEscape(id), nil, &res)
	return res, err
}

// Restart replaces every task of an app.
func (c *Client) Restart(ctx context.Context, id string) (DeploymentResult, error) {
	var res DeploymentResult
	err := c.do(ctx, http.MethodPost, "/v2/apps"+escapeID(id)+"/restart", struct{}{}, &res)
	return res, err
}

// Event is one event of /v2/events.
type Event struct {
	Type       string `json:"eventType"`
	AppID      string `json:"appId"`
	TaskID     string `json:"taskId"`
	TaskStatus string `json:"taskStatus"`
	Message    string `json:"message"`
	Host       string `json:"host"`
	Version    string `json:"version"`
	ID         string `json:"id"` // deployment_* events
	Plan       *struct {
		ID string `json:"id"`
	} `json:"plan"`
}

// Events follows /v2/events (server-sent events) and calls f for each
// event until ctx ends or the stream breaks. It returns at once with an
// error when the server has no event stream.
func (c *Client) Events(ctx context.Context, f func(Event)) error {
	resp, err := c.send(ctx, http.MethodGet, "/v2/events", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return fmt.Errorf("marathon: no event stream (%d %s)", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(data) > 0 {
				var e Event
				if json.Unmarshal([]byte(strings.Join(data, "\n")), &e) == nil {
					f(e)
				}
				data = data[:0]
			}
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}

// escapeID turns an app id ("/prod/web") into a path.
func escapeID(id string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return "/" + strings.Join(parts, "/")
}

// AppDefinition is an app as PUT /v2/apps/{id} takes it, typed on
// Marathon's published schema (AppDefinition.json, Marathon 1.7): the
// properties deployq reads or changes are fields; every other property of
// the schema is kept as it came, so a PUT changes nothing else. Read-only
// properties of GET answers (tasks, counts, deployments, version, ...) and
// nulls are dropped.
type AppDefinition struct {
	ID           string
	Instances    *int
	Labels       map[string]string
	HealthChecks []json.RawMessage
	Container    *Container
	Other        map[string]json.RawMessage // the rest of the schema's properties
}

// Container is an app's container; Docker.Image is what deploys change.
type Container struct {
	Docker *Docker
	Other  map[string]json.RawMessage
}

// Docker is the docker part of a container.
type Docker struct {
	Image string
	Other map[string]json.RawMessage
}

// Properties are the app definition's properties in AppDefinition.json
// that a PUT may carry (version and versionInfo are Marathon's to set: a
// PUT with a version means "go back to that version").
var Properties = []string{
	"acceptedResourceRoles", "args", "backoffFactor", "backoffSeconds", "cmd", "constraints", "container",
	"cpus", "dependencies", "disk", "env", "executor", "executorResources", "fetch", "gpus", "healthChecks",
	"id", "instances", "ipAddress", "killSelection", "labels", "maxLaunchDelaySeconds", "mem", "networks",
	"portDefinitions", "ports", "readinessChecks", "requirePorts", "residency", "secrets",
	"taskKillGracePeriodSeconds", "unreachableStrategy", "upgradeStrategy", "uris", "user",
}

var writable = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range Properties {
		m[p] = true
	}
	return m
}()

func isNull(b json.RawMessage) bool { return len(b) == 0 || string(b) == "null" }

// dropNulls removes null members at any depth: GET answers carry nulls
// (a health check's "command": null) that a definition may not.
func dropNulls(b json.RawMessage) json.RawMessage {
	if !bytes.Contains(b, []byte("null")) {
		return b
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	out, err := json.Marshal(stripNulls(v))
	if err != nil {
		return b
	}
	return out
}

func stripNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if x == nil {
				delete(t, k)
			} else {
				t[k] = stripNulls(x)
			}
		}
	case []any:
		for i, x := range t {
			t[i] = stripNulls(x)
		}
	}
	return v
}

// splitObject decodes a JSON object: the members named in known into
// their destinations, the others (but nulls, at any depth) kept as they
// came. keep, when set, says which other members to keep at all.
func splitObject(b []byte, known map[string]any, keep func(string) bool) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	rest := map[string]json.RawMessage{}
	for k, v := range m {
		if keep != nil && !keep(k) {
			continue
		}
		if v = dropNulls(v); isNull(v) {
			continue
		}
		if dst, ok := known[k]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return nil, fmt.Errorf("%s: %v", k, err)
			}
			continue
		}
		rest[k] = v
	}
	return rest, nil
}

// joinObject writes rest with the set members over it.
func joinObject(rest map[string]json.RawMessage, set map[string]any) ([]byte, error) {
	m := map[string]any{}
	for k, v := range rest {
		m[k] = v
	}
	maps.Copy(m, set)
	return json.Marshal(m)
}

// UnmarshalJSON keeps the schema's properties.
func (a *AppDefinition) UnmarshalJSON(b []byte) error {
	*a = AppDefinition{}
	rest, err := splitObject(b, map[string]any{"id": &a.ID, "instances": &a.Instances, "labels": &a.Labels,
		"healthChecks": &a.HealthChecks, "container": &a.Container}, func(k string) bool { return writable[k] })
	a.Other = rest
	return err
}

// MarshalJSON writes the properties back.
func (a AppDefinition) MarshalJSON() ([]byte, error) {
	set := map[string]any{"id": a.ID}
	if a.Instances != nil {
		set["instances"] = *a.Instances
	}
	if a.Labels != nil {
		set["labels"] = a.Labels
	}
	if a.HealthChecks != nil {
		set["healthChecks"] = a.HealthChecks
	}
	if a.Container != nil {
		set["container"] = a.Container
	}
	return joinObject(a.Other, set)
}

// UnmarshalJSON keeps every property of a container.
func (c *Container) UnmarshalJSON(b []byte) error {
	*c = Container{}
	rest, err := splitObject(b, map[string]any{"docker": &c.Docker}, nil)
	c.Other = rest
	return err
}

// MarshalJSON writes a container back.
func (c Container) MarshalJSON() ([]byte, error) {
	set := map[string]any{}
	if c.Docker != nil {
		set["docker"] = c.Docker
	}
	return joinObject(c.Other, set)
}

// UnmarshalJSON keeps every property of the docker part.
func (d *Docker) UnmarshalJSON(b []byte) error {
	*d = Docker{}
	rest, err := splitObject(b, map[string]any{"image": &d.Image}, nil)
	d.Other = rest
	return err
}

// MarshalJSON writes the docker part back.
func (d Docker) MarshalJSON() ([]byte, error) {
	set := map[string]any{}
	if d.Image != "" {
		set["image"] = d.Image
	}
	return joinObject(d.Other, set)
}

// Clone deep-copies a definition.
func (a *AppDefinition) Clone() *AppDefinition {
	b, _ := json.Marshal(a)
	c := &AppDefinition{}
	json.Unmarshal(b, c)
	return c
}
