// Package github is deployq's GitHub integration (google/go-github): the
// webhook receiver (signed, deduped deliveries; pushes and merged pull
// requests start auto-deploys, deployments made elsewhere are run). It is
// the only package that knows GitHub's names for things.
package github

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/deployq/deployq/queue"
	gh "github.com/google/go-github/v62/github"
)

// MaxBody caps webhook bodies (GitHub sends at most 25 MB; deploy events
// are small).
const MaxBody = 5 << 20

// Receiver handles POST /webhooks/github.
type Receiver struct {
	secret string
	svc    *queue.Service
	log    *slog.Logger
}

// NewReceiver returns a receiver that checks signatures against secret.
func NewReceiver(secret string, svc *queue.Service, log *slog.Logger) *Receiver {
	if log == nil {
		log = slog.Default()
	}
	return &Receiver{secret: secret, svc: svc, log: log}
}

// Result is what a delivery did, as the response body says it.
type Result struct {
	Event     string  `json:"event"`
	Delivery  string  `json:"delivery"`
	Duplicate bool    `json:"duplicate,omitempty"`
	Deploys   []int64 `json:"deploys,omitempty"`
	Refused   []int64 `json:"refused,omitempty"` // recorded as failed deploys
	Ignored   string  `json:"ignored,omitempty"`
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func refuse(w http.ResponseWriter, status int, code, msg string) {
	reply(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// ServeHTTP implements http.Handler.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		refuse(w, http.StatusMethodNotAllowed, "invalid", "POST only")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		refuse(w, http.StatusRequestEntityTooLarge, "too_large", "body too large")
		return
	}
	sig := r.Header.Get(gh.SHA256SignatureHeader)
	if sig == "" || gh.ValidateSignature(sig, body, []byte(rc.secret)) != nil {
		rc.log.Warn("github: refused a webhook: bad or missing signature", "delivery", r.Header.Get(gh.DeliveryIDHeader))
		refuse(w, http.StatusUnauthorized, "unauthorized", "bad or missing X-Hub-Signature-256")
		return
	}
	event, delivery := r.Header.Get(gh.EventTypeHeader), r.Header.Get(gh.DeliveryIDHeader)
	res := Result{Event: event, Delivery: delivery}
	payload, err := gh.ParseWebHook(event, body)
	if err != nil {
		if strings.Contains(err.Error(), "unknown X-Github-Event") {
			res.Ignored = "event not used by deployq"
			reply(w, http.StatusAccepted, res)
			return
		}
		refuse(w, http.StatusBadRequest, "invalid", "malformed "+event+" payload: "+err.Error())
		return
	}
	if delivery != "" {
		first, err := rc.svc.Once(r.Context(), "github-delivery:"+delivery)
		if err != nil {
			rc.log.Error("github: recording a delivery", "delivery", delivery, "err", err)
			refuse(w, http.StatusInternalServerError, "internal", "cannot record the delivery; send it again")
			return
		}
		if !first {
			res.Duplicate = true
			reply(w, http.StatusOK, res)
			return
		}
	}
	status := http.StatusAccepted
	switch p := payload.(type) {
	case *gh.PingEvent:
		status, res.Ignored = http.StatusOK, "pong: "+p.GetZen()
	case *gh.PushEvent:
		rc.push(r.Context(), p, &res)
	case *gh.PullRequestEvent:
		rc.pullRequest(r.Context(), p, &res)
	case *gh.DeploymentEvent:
		rc.deployment(r.Context(), p, &res)
	case *gh.StatusEvent:
		rc.recheck(r.Context(), p.GetSHA(), &res)
	case *gh.CheckRunEvent:
		rc.recheck(r.Context(), p.GetCheckRun().GetHeadSHA(), &res)
	case *gh.CheckSuiteEvent:
		rc.recheck(r.Context(), p.GetCheckSuite().GetHeadSHA(), &res)
	default:
		res.Ignored = "event not used by deployq"
	}
	if res.Ignored != "" && status != http.StatusOK {
		rc.log.Info("github: webhook ignored", "event", event, "delivery", delivery, "why", res.Ignored)
	}
	reply(w, status, res)
}

// apps returns the apps of a repository (owner/name, any case).
func (rc *Receiver) apps(repo string) []*queue.App {
	var out []*queue.App
	for _, a := range rc.svc.Apps() {
		if a.Repo != "" && strings.EqualFold(a.Repo, repo) {
			out = append(out, a)
		}
	}
	return out
}

// auto queues an auto-deploy of sha, once, in every environment that asks
// for one on any of events; email (of who pushed, if known) is kept.
func (rc *Receiver) auto(ctx context.Context, repo string, events []string, branch, sha, user, email string, res *Result) {
	apps := rc.apps(repo)
	if len(apps) == 0 {
		res.Ignored = "no app deploys " + repo
		return
	}
	for _, a := range apps {
		for _, e := range a.Environments {
			wants := false
			for _, event := range events {
				wants = wants || e.AutoDeploy.Wants(event, branch, a.DefaultRef)
			}
			if !wants {
				continue
			}
			d, err := rc.svc.Submit(ctx, queue.Request{App: a.Name, Env: e.Name, Ref: branch, SHA: sha,
				User: user, Source: queue.SourceAuto, AuthorEmail: email})
			if err != nil && d != nil {
				res.Refused = append(res.Refused, d.ID)
			}
			if err != nil {
				// Never silent: the reason is logged and answered.
				rc.log.Error("github: auto-deploy refused", "app", a.Name, "env", e.Name, "sha", sha, "err", queue.ErrorMessage(err))
				res.Ignored = strings.TrimPrefix(res.Ignored+"; ", "; ") + fmt.Sprintf("%s/%s: %s", a.Name, e.Name, queue.ErrorMessage(err))
				continue
			}
			res.Deploys = append(res.Deploys, d.ID)
		}
	}
	if len(res.Deploys) == 0 && res.Ignored == "" {
		res.Ignored = fmt.Sprintf("no environment of %s auto-deploys on %s to %s", repo, strings.Join(events, " or "), branch)
	}
}

func (rc *Receiver) push(ctx context.Context, p *gh.PushEvent, res *Result) {
	branch, ok := strings.CutPrefix(p.GetRef(), "refs/heads/")
	switch {
	case !ok:
		res.Ignored = "not a branch: " + p.GetRef()
	case p.GetDeleted():
		res.Ignored = "branch deleted"
	case !queue.IsFullSHA(p.GetAfter()):
		res.Ignored = "no head commit"
	default:
		user := p.GetPusher().GetName()
		if user == "" {
			user = p.GetSender().GetLogin()
		}
		rc.auto(ctx, p.GetRepo().GetFullName(), []string{"push"}, branch, p.GetAfter(), user, p.GetPusher().GetEmail(), res)
	}
}

func (rc *Receiver) pullRequest(ctx context.Context, p *gh.PullRequestEvent, res *Result) {
	pr := p.GetPullRequest()
	switch {
	case p.GetAction() != "closed":
		res.Ignored = "pull request " + p.GetAction()
	case !pr.GetMerged():
		res.Ignored = "pull request closed without merging"
	case !queue.IsFullSHA(pr.GetMergeCommitSHA()):
		res.Ignored = "merged pull request without a merge commit"
	default:
		user := pr.GetMergedBy().GetLogin()
		if user == "" {
			user = p.GetSender().GetLogin()
		}
		rc.auto(ctx, p.GetRepo().GetFullName(), []string{"merge"}, pr.GetBase().GetRef(), pr.GetMergeCommitSHA(), user, pr.GetMergedBy().GetEmail(), res)
	}
}

// recheck moves deploys waiting on sha on.
func (rc *Receiver) recheck(ctx context.Context, sha string, res *Result) {
	if !queue.IsFullSHA(sha) {
		res.Ignored = "no sha"
		return
	}
	if err := rc.svc.Recheck(ctx, sha); err != nil {
		rc.log.Error("github: rechecking deploys", "sha", sha, "err", err)
	}
	res.Ignored = "rechecked deploys waiting on " + queue.ShortSHA(sha)
}

// PayloadKey marks deployments deployq made itself in their payload.
const PayloadKey = "deployq_id"

func (rc *Receiver) deployment(ctx context.Context, p *gh.DeploymentEvent, res *Result) {
	dep := p.GetDeployment()
	var payload map[string]any
	json.Unmarshal(dep.Payload, &payload)
	if _, ours := payload[PayloadKey]; ours {
		res.Ignored = "a deployment deployq made"
		return
	}
	rc.runDeployment(ctx, p.GetRepo().GetFullName(), dep, res)
}

// runDeployment runs a deployment made on GitHub, once per deployment id.
func (rc *Receiver) runDeployment(ctx context.Context, repoName string, dep *gh.Deployment, res *Result) {
	apps := rc.apps(repoName)
	if len(apps) == 0 {
		res.Ignored = "no app deploys " + repoName
		return
	}
	for _, a := range apps {
		if a.Env(dep.GetEnvironment()) == nil {
			continue
		}
		if first, err := rc.svc.Once(ctx, fmt.Sprintf("github-deployment:%d", dep.GetID())); err != nil || !first {
			res.Ignored = fmt.Sprintf("deployment %d already run", dep.GetID())
			return
		}
		d, err := rc.svc.Submit(ctx, queue.Request{App: a.Name, Env: dep.GetEnvironment(), Ref: dep.GetRef(), SHA: dep.GetSHA(),
			User: dep.GetCreator().GetLogin(), Source: queue.SourceGitHub, GitHubDeploymentID: dep.GetID()})
		if err != nil {
			rc.log.Error("github: deployment refused", "app", a.Name, "env", dep.GetEnvironment(), "deployment", dep.GetID(), "err", queue.ErrorMessage(err))
			res.Ignored = queue.ErrorMessage(err)
			return
		}
		res.Deploys = append(res.Deploys, d.ID)
		return
	}
	res.Ignored = fmt.Sprintf("no app of %s has an environment %q", repoName, dep.GetEnvironment())
}
