package marathon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DeploymentResult is what a change returns: the deployment doing it.
type DeploymentResult struct {
	DeploymentID string `json:"deploymentId"` // the deployment doing the change
	Version      string `json:"version"`      // the app version it makes
}

// Deployment is one entry of GET /v2/deployments.
type Deployment struct {
	ID           string   `json:"id"`           // the deployment's id
	Version      string   `json:"version"`      // the version it deploys
	AffectedApps []string `json:"affectedApps"` // the app ids it changes
	CurrentStep  int      `json:"currentStep"`  // how far it is, of TotalSteps
	TotalSteps   int      `json:"totalSteps"`   // its steps
	// CurrentActions are what it does now, app by app.
	CurrentActions []struct {
		Action string `json:"action"`
		App    string `json:"app"`
	} `json:"currentActions"`
}

// HealthCheckResult is one health check's state on one task.
type HealthCheckResult struct {
	Alive               bool   `json:"alive"`               // the last check passed
	ConsecutiveFailures int    `json:"consecutiveFailures"` // failed checks in a row
	TaskID              string `json:"taskId"`              // the task checked
	LastFailureCause    string `json:"lastFailureCause"`    // why it last failed
}

// Task is a running (or starting) instance of an app.
type Task struct {
	ID                 string              `json:"id"`                 // the task's id
	AppID              string              `json:"appId"`              // its app
	Host               string              `json:"host"`               // where it runs
	State              string              `json:"state"`              // TASK_RUNNING, ... (absent in old versions: running)
	StartedAt          string              `json:"startedAt"`          // when it started running, "" before
	Version            string              `json:"version"`            // the app version it runs
	HealthCheckResults []HealthCheckResult `json:"healthCheckResults"` // one per health check
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
	TaskID    string `json:"taskId"`    // the task that failed
	Host      string `json:"host"`      // where it ran
	Message   string `json:"message"`   // why, as Mesos says it
	State     string `json:"state"`     // TASK_FAILED, TASK_LOST, ...
	Timestamp string `json:"timestamp"` // when
	Version   string `json:"version"`   // the app version it ran
}

// AppStatus is the read-only part of GET /v2/apps/{id}.
type AppStatus struct {
	Version         string       `json:"version"`         // the app's current version
	Tasks           []Task       `json:"tasks"`           // its tasks, of every version
	TasksRunning    int          `json:"tasksRunning"`    // counts of its tasks
	TasksHealthy    int          `json:"tasksHealthy"`    // ...
	TasksUnhealthy  int          `json:"tasksUnhealthy"`  // ...
	TasksStaged     int          `json:"tasksStaged"`     // ...
	LastTaskFailure *TaskFailure `json:"lastTaskFailure"` // nil if none failed
	// Deployments are those changing the app now.
	Deployments []struct {
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
	Type       string `json:"eventType"`  // status_update_event, deployment_success, ...
	AppID      string `json:"appId"`      // the app, for task events
	TaskID     string `json:"taskId"`     // the task, for task events
	TaskStatus string `json:"taskStatus"` // TASK_RUNNING, TASK_FAILED, ...
	Message    string `json:"message"`    // why a task changed
	Host       string `json:"host"`       // where the task runs
	Version    string `json:"version"`    // the app version of the task
	ID         string `json:"id"`         // the deployment, for deployment_* events
	// Plan is the deployment plan, for deployment_* events.
	Plan *struct {
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
