package api_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// Freezes, approvals, promotions and unlock-all over HTTP.
func TestPolicyEndpoints(t *testing.T) {
	staging, prod := queuetest.Shell("staging", "true"), queuetest.Shell("production", "true")
	prod.Approvals = queue.Approvals{Required: 1, From: []string{"bob"}}
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging",
		Environments: []*queue.Environment{staging, prod}}}, func(o *queue.Options) { o.Admins = []string{"root"} })
	s := serve(t, q, api.Options{BaseURL: "http://deployq.test"})
	as := func(u string) []string { return []string{"X-Deployq-User", u} }

	if r := s.do(t, "POST", "/api/v1/freezes", `{"env":"staging","ttl":"2h","reason":"incident 7"}`, as("carol")...); r.status != 201 || !strings.Contains(r.body, `"reason": "incident 7"`) {
		t.Fatalf("freeze: %d %s", r.status, r.body)
	}
	if r := s.do(t, "GET", "/api/v1/freezes", ""); r.status != 200 || !strings.Contains(r.body, "staging is frozen until") {
		t.Fatalf("freezes: %d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", "/api/v1/deploys", `{"app":"web","env":"staging","ref":"`+sha1+`"}`, as("alice")...); r.status != 409 || !strings.HasPrefix(errCode(t, r), "frozen: staging is frozen until") {
		t.Fatalf("deploy while frozen: %d %s", r.status, r.body)
	}
	r := s.do(t, "POST", "/api/v1/deploys", `{"app":"web","env":"staging","ref":"`+sha1+`","override_freeze":true}`, as("root")...)
	if r.status != 202 {
		t.Fatalf("override by root: %d %s", r.status, r.body)
	}
	var d struct{ ID int64 }
	json.Unmarshal([]byte(r.body), &d)
	s.q.Wait(t, d.ID)
	if r := s.do(t, "DELETE", "/api/v1/freezes/staging", "", as("carol")...); r.status != 200 {
		t.Fatalf("unfreeze: %d %s", r.status, r.body)
	}

	r = s.do(t, "POST", "/api/v1/promotions", `{"app":"web","from":"staging","to":"production"}`, as("alice")...)
	var p struct {
		ID     int64
		State  string
		Source string
		SHA    string
	}
	json.Unmarshal([]byte(r.body), &p)
	if r.status != 202 || p.State != "waiting" || p.Source != "promotion" || p.SHA != sha1 {
		t.Fatalf("promotion: %d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", "/api/v1/deploys/"+itoa(p.ID)+"/approve", "", as("alice")...); r.status != 403 {
		t.Fatalf("self-approval: %d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", "/api/v1/deploys/"+itoa(p.ID)+"/approve", "", as("bob")...); r.status != 200 {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	if got := s.q.Wait(t, p.ID); got.State != queue.StateSucceeded {
		t.Fatalf("%s", got.State)
	}
	r = s.do(t, "POST", "/api/v1/deploys", `{"app":"web","env":"production","ref":"`+sha1+`"}`, as("alice")...)
	json.Unmarshal([]byte(r.body), &d)
	if r := s.do(t, "POST", "/api/v1/deploys/"+itoa(d.ID)+"/reject", `{"reason":"not today"}`, as("bob")...); r.status != 200 || !strings.Contains(r.body, `"error": "rejected by bob: not today"`) {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}

	s.do(t, "POST", "/api/v1/locks", `{"env":"staging"}`, as("alice")...)
	if r := s.do(t, "DELETE", "/api/v1/locks", "", as("alice")...); r.status != 403 {
		t.Fatalf("unlock all by alice: %d %s", r.status, r.body)
	}
	if r := s.do(t, "DELETE", "/api/v1/locks", "", as("root")...); r.status != 200 || !strings.Contains(r.body, `"owner": "alice"`) {
		t.Fatalf("unlock all: %d %s", r.status, r.body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// operator runs operations at once.
type operator struct{}

func (operator) Run(context.Context, queue.Job, queue.Output) (queue.Result, error) {
	return queue.Result{OK: true}, nil
}
func (operator) Operate(context.Context, queue.Job, queue.Output) (queue.Result, error) {
	return queue.Result{OK: true}, nil
}

func TestOperationEndpoint(t *testing.T) {
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "production",
		Environments: []*queue.Environment{{Name: "production", Runner: "op"}}}},
		func(o *queue.Options) { o.Runners["op"] = operator{} })
	s := serve(t, q, api.Options{})
	r := s.do(t, "POST", "/api/v1/operations", `{"app":"web","op":"scale","instances":3}`, "X-Deployq-User", "alice")
	var d struct {
		ID        int64
		Op        string
		Instances int
	}
	json.Unmarshal([]byte(r.body), &d)
	if r.status != 202 || d.Op != "scale" || d.Instances != 3 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got := s.q.Wait(t, d.ID); got.State != queue.StateSucceeded || got.Op != "scale" {
		t.Fatalf("%+v", got)
	}
}
