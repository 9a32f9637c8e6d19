package slack_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	"github.com/gorilla/websocket"
)

// Forms and the Home tab, as Slack sends them: helpers that turn the
// fixtures into the payloads of deployq's own views.

// viewCall is what deployq sent in one views.open, views.update or
// views.publish call.
type viewCall struct {
	TriggerID string `json:"trigger_id"`
	ViewID    string `json:"view_id"`
	Hash      string `json:"hash"`
	UserID    string `json:"user_id"`
	View      struct {
		Type            string           `json:"type"`
		CallbackID      string           `json:"callback_id"`
		PrivateMetadata string           `json:"private_metadata"`
		Blocks          []map[string]any `json:"blocks"`
	} `json:"view"`
	raw string
}

// blockIDs are the ids of the view's blocks, in order.
func (v viewCall) blockIDs() []string {
	var ids []string
	for _, b := range v.View.Blocks {
		id, _ := b["block_id"].(string)
		ids = append(ids, id)
	}
	return ids
}

// viewCalls are the views.* calls of method so far.
func (f *fakeSlack) viewCalls(t testing.TB, method string) []viewCall {
	t.Helper()
	var out []viewCall
	for _, c := range f.callsOf(method) {
		var v viewCall
		if err := json.Unmarshal(c.Body, &v); err != nil {
			t.Fatalf("%s: %v: %s", method, err, c.Body)
		}
		v.raw = string(c.Body)
		out = append(out, v)
	}
	return out
}

// nthView waits for the n-th call (from 1) of a views.* method.
func (f *fakeSlack) nthView(t testing.TB, method string, n int) viewCall {
	t.Helper()
	f.waitFor(t, fmt.Sprintf("%s #%d", method, n), func() bool { return len(f.callsOf(method)) >= n })
	return f.viewCalls(t, method)[n-1]
}

// values is a view's state: block id -> action id -> what it holds.
type values map[string]map[string]any

// chose is a static select's state with value chosen.
func chose(value string) map[string]any {
	return map[string]any{"type": "static_select", "selected_option": map[string]any{
		"text": map[string]any{"type": "plain_text", "text": value, "emoji": true}, "value": value}}
}

// picked is an external select's state with value chosen (a ref taken
// from its options, or typed).
func picked(value string) map[string]any {
	s := chose(value)
	s["type"] = "external_select"
	return s
}

// wrote is a text field's state holding value.
func wrote(value string) map[string]any {
	return map[string]any{"type": "plain_text_input", "value": value}
}

// ticked is a checkbox group's state with the options of values ticked.
func ticked(values ...string) map[string]any {
	opts := []any{}
	for _, v := range values {
		opts = append(opts, map[string]any{"text": map[string]any{"type": "plain_text", "text": v}, "value": v})
	}
	return map[string]any{"type": "checkboxes", "selected_options": opts}
}

// deployState is a deploy form's state: app, environment, ref and the
// parameters' states by name.
func deployState(app, env, ref string, params map[string]map[string]any) values {
	v := values{
		"app":        {"deployq_form_app": chose(app)},
		"env:" + app: {"deployq_form_env": chose(env)},
		"ref:" + app: {"deployq_form_ref": picked(ref)},
	}
	for name, s := range params {
		v["param:"+app+":"+env+":"+name] = map[string]any{"deployq_form_param": s}
	}
	return v
}

// submission is the fixture's view_submission turned into user's
// submission of one of deployq's forms; every submission has a trigger of
// its own.
func submission(t testing.TB, user, trigger, callback, meta string, state values) map[string]any {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(fixture(t, "interactive.view_submission.json"), &p); err != nil {
		t.Fatal(err)
	}
	p["user"].(map[string]any)["id"] = user
	p["trigger_id"] = trigger
	v := p["view"].(map[string]any)
	v["callback_id"], v["private_metadata"], v["state"] = callback, meta, map[string]any{"values": state}
	return p
}

// interactive sends an interaction payload over Socket Mode in the
// fixture's envelope (a shortcut's) with an id of its own, waits for its
// ack, and returns the envelope id.
func (e *env) interactive(t testing.TB, c *websocket.Conn, payload any) string {
	t.Helper()
	e.sent++
	id := fmt.Sprintf("env-interactive-%d", e.sent)
	raw := withValue(t, fixture(t, "socket-mode.interactive.shortcut.json"), payload, "payload")
	send(t, e.fake, c, withValue(t, raw, id, "envelope_id"))
	return id
}

// submit sends user's submission of a form over Socket Mode and returns
// the errors deployq answered with (none: nil).
func (e *env) submit(t testing.TB, c *websocket.Conn, user, callback, meta string, state values) map[string]string {
	t.Helper()
	p := submission(t, user, fmt.Sprintf("768915595217.771150964790.submit%d", e.sent+1), callback, meta, state)
	return formErrors(t, e.fake.ackPayload(e.interactive(t, c, p)))
}

// formErrors reads the answer to a form: its errors, nil when it closes.
func formErrors(t testing.TB, raw []byte) map[string]string {
	t.Helper()
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var r struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.ResponseAction != "errors" {
		t.Fatalf("answer to a form: %s (%v)", raw, err)
	}
	return r.Errors
}

// viewAction is the fixture's block_actions from a modal turned into
// user's choice of value in a select of deployq's deploy form, as Slack
// has it (view id, hash, state).
func viewAction(t testing.TB, user, viewID, hash, meta string, state values, action, block, value string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, "socket-mode.interactive.block_actions.view.json"), &m); err != nil {
		t.Fatal(err)
	}
	p := m["payload"].(map[string]any)
	p["user"].(map[string]any)["id"] = user
	p["container"].(map[string]any)["view_id"] = viewID
	v := p["view"].(map[string]any)
	v["id"], v["hash"], v["callback_id"], v["private_metadata"] = viewID, hash, "deployq_deploy", meta
	v["state"] = map[string]any{"values": state}
	act := p["actions"].([]any)[0].(map[string]any)
	act["action_id"], act["block_id"], act["selected_option"] = action, block, chose(value)["selected_option"]
	b, _ := json.Marshal(m)
	return b
}

// formApps are the apps of the form tests: web in staging (the shell
// environment) and production, whose deploys take parameters, and api,
// which nobody may deploy.
func formApps(_ *fakeSlack, staging *queue.Environment) []*queue.App {
	production := queuetest.Shell("production", "true")
	production.Params = []queue.Param{
		{Name: "migrate", Type: "bool", Default: "false"},
		{Name: "region", Type: "enum", Values: []string{"eu", "us"}, Required: true},
		{Name: "replicas", Type: "int"},
		{Name: "note", Type: "string", Max: 40},
	}
	api := queuetest.Shell("staging", "true")
	api.Deployers = []string{"nobody"}
	return []*queue.App{
		{Name: "web", Repo: "acme/web", DefaultRef: "main", DefaultEnv: "staging", Environments: []*queue.Environment{staging, production}},
		{Name: "api", DefaultRef: "main", DefaultEnv: "staging", Environments: []*queue.Environment{api}},
	}
}

// contains reports whether a view call's JSON has every one of want.
func contains(v viewCall, want ...string) bool {
	for _, w := range want {
		if !strings.Contains(v.raw, w) {
			return false
		}
	}
	return true
}
