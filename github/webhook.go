// Package github is deployq's GitHub integration (google/go-github): the
// webhook receiver (signed deliveries; pushes and merged pull requests
// start auto-deploys, deployments made elsewhere are run, each once), the
// poller that stands in for it, required checks, and deployments and
// statuses on GitHub. It is the only package that knows GitHub's names
// for things.
package github

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/deployq/deployq/queue"
)

// MaxBody caps webhook bodies (GitHub sends at most 25 MB; deploy events
// are small).
const MaxBody = 5 << 20

// The headers of a delivery.
const (
	signatureHeader = "X-Hub-Signature-256"
	eventHeader     = "X-GitHub-Event"
	deliveryHeader  = "X-GitHub-Delivery"
)

// Receiver handles POST /webhooks/github.
type Receiver struct {
	starter
	secret  string
	actions *Actions    // nil: no Actions jobs are gated
	pr      *prCommands // nil: no commands in pull requests
}

// WithActions makes the receiver hand the requests and ends of Actions
// jobs to the gate.
func (rc *Receiver) WithActions(a *Actions) *Receiver {
	rc.actions = a
	return rc
}

// NewReceiver returns a receiver that checks signatures against secret
// and names users through people (nil: nobody is mapped). With client
// (nil without API access) it asks GitHub whether a pushed sha is still
// its branch's head before deploying it.
func NewReceiver(secret string, svc *queue.Service, people *queue.People, client *Client, log *slog.Logger) *Receiver {
	if log == nil {
		log = slog.Default()
	}
	return &Receiver{starter: starter{svc: svc, people: people, client: client, log: log}, secret: secret}
}

// Result is what a delivery did, as the response body says it.
type Result struct {
	Event     string  `json:"event"`
	Delivery  string  `json:"delivery"`
	Duplicate bool    `json:"duplicate,omitempty"` // all it asks for was done already
	Deploys   []int64 `json:"deploys,omitempty"`
	Refused   []int64 `json:"refused,omitempty"` // recorded as failed deploys
	Ignored   string  `json:"ignored,omitempty"`
}

// ignore adds why a lane did nothing.
func (r *Result) ignore(l lane, why string) {
	r.Ignored = strings.TrimPrefix(r.Ignored+"; ", "; ") + l.String() + ": " + why
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func refuse(w http.ResponseWriter, status int, code queue.Code, msg string) {
	reply(w, status, map[string]any{"error": map[string]string{"code": string(code), "message": msg}})
}

// deliveryID is what GitHub sends as a delivery id (a GUID), bounded.
var deliveryID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// eventName is what GitHub sends as an event name, bounded.
var eventName = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// ServeHTTP implements http.Handler.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		refuse(w, http.StatusMethodNotAllowed, queue.EInvalid, "POST only")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		refuse(w, http.StatusRequestEntityTooLarge, "too_large", "body too large")
		return
	case err != nil: // it did not arrive in time, or the sender went away
		refuse(w, http.StatusRequestTimeout, "timeout", "the body did not arrive")
		return
	}
	if !validSignature(r.Header.Get(signatureHeader), body, rc.secret) {
		rc.log.Warn("github: refused a webhook: bad or missing signature")
		refuse(w, http.StatusUnauthorized, queue.EUnauthorized, "bad or missing "+signatureHeader+" (sha256=...)")
		return
	}
	event, delivery := r.Header.Get(eventHeader), r.Header.Get(deliveryHeader)
	switch {
	case !deliveryID.MatchString(delivery):
		refuse(w, http.StatusBadRequest, queue.EInvalid, "a delivery needs its "+deliveryHeader+" id, as GitHub sends it")
		return
	case !eventName.MatchString(event):
		refuse(w, http.StatusBadRequest, queue.EInvalid, "a delivery needs its "+eventHeader+" name, as GitHub sends it")
		return
	}
	res := Result{Event: event, Delivery: delivery}
	status, err := rc.handle(r.Context(), event, body, &res)
	switch {
	case queue.ErrorCode(err) == queue.EInvalid:
		rc.log.Warn("github: refused a webhook", "event", event, "delivery", delivery, "err", queue.ErrorMessage(err))
		refuse(w, http.StatusBadRequest, queue.EInvalid, queue.ErrorMessage(err))
		return
	case err != nil: // nothing of it that failed is recorded: a redelivery does it
		rc.log.Error("github: a webhook not done", "event", event, "delivery", delivery, "err", err)
		status, code := http.StatusInternalServerError, queue.EInternal
		if queue.ErrorCode(err) == queue.EUnavailable {
			status, code = http.StatusServiceUnavailable, queue.EUnavailable
		}
		refuse(w, status, code, "what the delivery asks for could not be stored; redeliver it")
		return
	}
	if res.Ignored != "" && status != http.StatusOK {
		rc.log.Info("github: webhook ignored", "event", event, "delivery", delivery, "why", res.Ignored)
	}
	if res.Duplicate {
		status = http.StatusOK
	}
	reply(w, status, res)
}

// validSignature checks X-Hub-Signature-256: sha256= and the body's
// HMAC-SHA256 with the secret, nothing weaker.
func validSignature(header string, body []byte, secret string) bool {
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// handle does what a delivery of event asks for and returns the status to
// answer with: EInvalid for a payload refused, another error for a
// delivery to send again.
func (rc *Receiver) handle(ctx context.Context, event string, body []byte, res *Result) (int, error) {
	switch event {
	case "ping":
		var p pingEvent
		if err := decode(event, body, &p); err != nil {
			return 0, err
		}
		res.Ignored = "pong: " + p.Zen
		return http.StatusOK, nil
	case "push":
		var p pushEvent
		if err := decode(event, body, &p); err != nil {
			return 0, err
		}
		return http.StatusAccepted, rc.push(ctx, &p, res)
	case "pull_request":
		var p pullRequestEvent
		if err := decode(event, body, &p); err != nil {
			return 0, err
		}
		return http.StatusAccepted, rc.pullRequest(ctx, &p, res)
	case "deployment":
		var p deploymentEvent
		if err := decode(event, body, &p); err != nil {
			return 0, err
		}
		return http.StatusAccepted, rc.deployment(ctx, &p, res)
	case "status":
		var p statusEvent
		if err := decode(event, body, &p); err != nil {
			return 0, err
		}
		return http.StatusAccepted, rc.recheck(ctx, p.SHA, res)
	case "check_run":
		var p checkRunEvent
		if err := decode(event, body, &p); err != nil {
			return 0, err
		}
		return http.StatusAccepted, rc.recheck(ctx, p.CheckRun.HeadSHA, res)
	case "deployment_protection_rule":
		var p protectionRuleEvent
		if err := decode(event, body, &p); err != nil {
			return 0, err
		}
		return http.StatusAccepted, rc.protectionRule(ctx, &p, res)
	case "workflow_run":
		var p workflowRunEvent
		if err := decode(event, body, &p); err != nil {
			return 0, err
		}
		return http.StatusAccepted, rc.workflowRun(ctx, &p, res)
	case "workflow_job":
		var p workflowJobEvent
		if err := decode(event, body, &p); err != nil {
			return 0, err
		}
		return http.StatusAccepted, rc.workflowJob(ctx, &p, res)
	case "deployment_status":
		var p deploymentStatusEvent
		if err := decode(event, body, &p); err != nil {
			return 0, err
		}
		return http.StatusAccepted, rc.deploymentStatus(ctx, &p, res)
	case "issue_comment":
		var p issueCommentEvent
		if err := decode(event, body, &p); err != nil {
			return 0, err
		}
		return http.StatusAccepted, rc.issueComment(ctx, &p, res)
	case "check_suite":
		var p checkSuiteEvent
		if err := decode(event, body, &p); err != nil {
			return 0, err
		}
		return http.StatusAccepted, rc.recheck(ctx, p.CheckSuite.HeadSHA, res)
	}
	res.Ignored = "event not used by deployq"
	return http.StatusAccepted, nil
}

func (rc *Receiver) push(ctx context.Context, p *pushEvent, res *Result) error {
	branch, ok := strings.CutPrefix(p.Ref, "refs/heads/")
	switch {
	case !ok:
		res.Ignored = "not a branch: " + p.Ref
	case p.Deleted || zeroSHA(p.After):
		res.Ignored = "branch deleted"
	case !queue.IsFullSHA(p.After):
		res.Ignored = "no head commit"
	default:
		user, err := who(rc.people, "pusher", []string{p.Pusher.Name, p.Sender.Login}, p.Pusher.Email)
		if err != nil {
			return err
		}
		return rc.auto(ctx, push{repo: p.Repo.FullName, branch: branch, sha: p.After, events: []string{"push"},
			user: user, email: p.Pusher.Email}, res)
	}
	return nil
}

func (rc *Receiver) pullRequest(ctx context.Context, p *pullRequestEvent, res *Result) error {
	pr := &p.PullRequest
	if p.Action == "closed" && p.Number > 0 {
		if released := rc.releaseSticky(ctx, p.Repo.FullName, p.Number); len(released) > 0 {
			rc.log.Info("github: a pull request's locks released", "repo", p.Repo.FullName, "pr", p.Number, "locks", released)
		}
	}
	switch {
	case p.Action != "closed":
		res.Ignored = "pull request " + p.Action
	case !pr.Merged:
		res.Ignored = "pull request closed without merging"
	case !queue.IsFullSHA(pr.MergeCommitSHA):
		res.Ignored = "merged pull request without a merge commit"
	default:
		user, err := who(rc.people, "merger", []string{pr.MergedBy.Login, p.Sender.Login}, pr.MergedBy.Email)
		if err != nil {
			return err
		}
		return rc.auto(ctx, push{repo: p.Repo.FullName, branch: pr.Base.Ref, sha: pr.MergeCommitSHA, events: []string{"merge"},
			user: user, email: pr.MergedBy.Email}, res)
	}
	return nil
}

// recheck moves deploys waiting on sha on.
func (rc *Receiver) recheck(ctx context.Context, sha string, res *Result) error {
	if !queue.IsFullSHA(sha) {
		res.Ignored = "no sha"
		return nil
	}
	if err := rc.svc.Recheck(ctx, sha); err != nil {
		rc.log.Error("github: rechecking deploys", "sha", sha, "err", err)
	}
	res.Ignored = "rechecked deploys waiting on " + queue.ShortSHA(sha)
	return nil
}

// PayloadKey marks deployments deployq made itself in their payload.
const PayloadKey = "deployq_id"

func (rc *Receiver) deployment(ctx context.Context, p *deploymentEvent, res *Result) error {
	if p.Deployment.ours() {
		res.Ignored = "a deployment deployq made"
		return nil
	}
	return rc.runDeployment(ctx, p.Repo.FullName, p.Deployment, []string{p.Sender.Login}, res)
}
