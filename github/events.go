package github

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/deployq/deployq/queue"
)

// The parts of GitHub's webhook payloads that deployq reads, and nothing
// else: a field deployq never reads is never decoded, so its shape (an
// app's created_at written "2018-04-25 20:42:10", a field GitHub adds
// tomorrow) cannot refuse a delivery. A field deployq reads that has
// another shape than GitHub documents refuses it, naming the field.

type account struct {
	Login string `json:"login"`
	Email string `json:"email"`
}

type repository struct {
	FullName string `json:"full_name"`
}

type pingEvent struct {
	Zen string `json:"zen"`
}

type pushEvent struct {
	Ref     string     `json:"ref"`
	After   string     `json:"after"`
	Deleted bool       `json:"deleted"`
	Repo    repository `json:"repository"`
	Pusher  struct {
		Name  string `json:"name"` // the pusher's login
		Email string `json:"email"`
	} `json:"pusher"`
	Sender account `json:"sender"`
}

type pullRequestEvent struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest struct {
		Merged         bool    `json:"merged"`
		MergeCommitSHA string  `json:"merge_commit_sha"`
		MergedBy       account `json:"merged_by"`
		Base           struct {
			Ref string `json:"ref"`
		} `json:"base"`
	} `json:"pull_request"`
	Repo   repository `json:"repository"`
	Sender account    `json:"sender"`
}

// deployment is a GitHub deployment, from a webhook or from the API.
type deployment struct {
	ID          int64           `json:"id"`
	SHA         string          `json:"sha"`
	Ref         string          `json:"ref"`
	Environment string          `json:"environment"`
	Payload     json.RawMessage `json:"payload"` // an object, or a string holding one
	Creator     account         `json:"creator"`
}

type deploymentEvent struct {
	Deployment deployment `json:"deployment"`
	Repo       repository `json:"repository"`
	Sender     account    `json:"sender"`
}

type statusEvent struct {
	SHA string `json:"sha"`
}

type checkRunEvent struct {
	CheckRun struct {
		HeadSHA string `json:"head_sha"`
	} `json:"check_run"`
}

type checkSuiteEvent struct {
	CheckSuite struct {
		HeadSHA string `json:"head_sha"`
	} `json:"check_suite"`
}

// decode reads a payload of event into v: EInvalid for a body that is not
// JSON, or for a field deployq reads that has another type.
func decode(event string, body []byte, v any) error {
	err := json.Unmarshal(body, v)
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return queue.Errorf(queue.EInvalid, "malformed %s payload: %s is a JSON %s, not a %s", event, te.Field, te.Value, te.Type)
	case err != nil:
		return queue.Errorf(queue.EInvalid, "malformed %s payload: %v", event, err)
	}
	return nil
}

// ours reports whether deployq made the deployment (its payload names the
// deploy, PayloadKey).
func (d *deployment) ours() bool {
	raw := d.Payload
	var s string
	if json.Unmarshal(raw, &s) == nil { // a payload given as a string
		raw = json.RawMessage(s)
	}
	var payload map[string]json.RawMessage
	if json.Unmarshal(raw, &payload) != nil {
		return false
	}
	_, ok := payload[PayloadKey]
	return ok
}

// zeroSHA is the sha GitHub names as the head of a deleted branch.
func zeroSHA(sha string) bool { return strings.Trim(sha, "0") == "" }
