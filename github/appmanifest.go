package github

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v62/github"
)

// The GitHub App of a deployq, registered from a manifest (GitHub's
// manifest flow), with the permissions and events deployq needs and no
// more: a test scans this package for the go-github calls it makes and
// the webhook events the Receiver handles, and fails when one is missing
// here or one listed here is not used.

// WebhookPath is where deployq receives GitHub's webhooks (the Receiver).
const WebhookPath = "/webhooks/github"

// apiCall is one go-github method this package calls (Service.Method),
// the REST endpoint it reaches, and the permission a GitHub App needs for
// it (docs.github.com/rest/authentication/permissions-required-for-github-apps).
// Calls made as the App itself (with its JWT) or with a manifest code
// need none.
type apiCall struct {
	Call       string
	Endpoint   string
	Permission string
	Access     string // read or write
}

var apiCalls = []apiCall{
	{"RepositoriesService.GetCommit", "GET /repos/{owner}/{repo}/commits/{ref}", "contents", "read"},
	{"RepositoriesService.CompareCommits", "GET /repos/{owner}/{repo}/compare/{basehead}", "contents", "read"},
	{"RepositoriesService.ListBranches", "GET /repos/{owner}/{repo}/branches", "contents", "read"},
	{"RepositoriesService.ListTags", "GET /repos/{owner}/{repo}/tags", "contents", "read"},
	{"GitService.GetRef", "GET /repos/{owner}/{repo}/git/ref/{ref}", "contents", "read"},
	{"GitService.GetCommit", "GET /repos/{owner}/{repo}/git/commits/{commit_sha}", "contents", "read"},
	{"RepositoriesService.GetCombinedStatus", "GET /repos/{owner}/{repo}/commits/{ref}/status", "statuses", "read"},
	{"ChecksService.ListCheckRunsForRef", "GET /repos/{owner}/{repo}/commits/{ref}/check-runs", "checks", "read"},
	{"RepositoriesService.ListDeployments", "GET /repos/{owner}/{repo}/deployments", "deployments", "read"},
	{"RepositoriesService.CreateDeployment", "POST /repos/{owner}/{repo}/deployments", "deployments", "write"},
	{"RepositoriesService.CreateDeploymentStatus", "POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses", "deployments", "write"},
	{"ActionsService.GetWorkflowRunByID", "GET /repos/{owner}/{repo}/actions/runs/{run_id}", "actions", "read"},
	{"ActionsService.CancelWorkflowRunByID", "POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel", "actions", "write"},
	{"ActionsService.CreateWorkflowDispatchEventByFileName", "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", "actions", "write"},
	{"PullRequestsService.Get", "GET /repos/{owner}/{repo}/pulls/{pull_number}", "pull_requests", "read"},
	{"PullRequestsService.ListReviews", "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews", "pull_requests", "read"},
	{"IssuesService.CreateComment", "POST /repos/{owner}/{repo}/issues/{issue_number}/comments", "pull_requests", "write"},
	{"IssuesService.EditComment", "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", "pull_requests", "write"},
	{"ReactionsService.CreateIssueCommentReaction", "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", "pull_requests", "write"},
	{"AppsService.CompleteAppManifest", "POST /app-manifests/{code}/conversions", "", ""},
	{"AppsService.ListInstallations", "GET /app/installations", "", ""},
}

// rawCalls are the calls made without a go-github method (its version
// has none for them), with their permission.
var rawCalls = []apiCall{
	{"Client.reviewRun", "POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule", "deployments", "write"},
}

// webhookEvent is an event the Receiver handles and the permission
// without which GitHub does not send it to an App
// (docs.github.com/webhooks/webhook-events-and-payloads).
type webhookEvent struct {
	Event      string
	Permission string
}

var webhookEvents = []webhookEvent{
	{"push", "contents"},
	{"pull_request", "pull_requests"},
	{"deployment", "deployments"},
	{"status", "statuses"},
	{"check_run", "checks"},
	{"check_suite", "checks"},
	{"deployment_protection_rule", "deployments"},
	{"deployment_status", "deployments"},
	{"workflow_run", "actions"},
	{"workflow_job", "actions"},
	{"issue_comment", "pull_requests"},
}

// AppPermissions returns the permissions deployq's App needs: those of
// the calls it makes (write where one writes), read for the events it
// handles, and metadata: read, which every App has.
func AppPermissions() map[string]string {
	p := map[string]string{"metadata": "read"}
	for _, c := range append(append([]apiCall(nil), apiCalls...), rawCalls...) {
		if c.Permission != "" && p[c.Permission] != "write" {
			p[c.Permission] = c.Access
		}
	}
	for _, e := range webhookEvents {
		if p[e.Permission] == "" {
			p[e.Permission] = "read"
		}
	}
	return p
}

// AppEvents returns the webhook events deployq's App subscribes to.
func AppEvents() []string {
	var events []string
	for _, e := range webhookEvents {
		events = append(events, e.Event)
	}
	return events
}

// AppManifest is a GitHub App manifest, as GitHub's manifest flow takes
// it (docs.github.com/apps/sharing-github-apps/registering-a-github-app-from-a-manifest).
type AppManifest struct {
	Name               string            `json:"name"`
	URL                string            `json:"url"`
	Description        string            `json:"description"`
	HookAttributes     HookAttributes    `json:"hook_attributes"`
	RedirectURL        string            `json:"redirect_url"`
	Public             bool              `json:"public"`
	DefaultPermissions map[string]string `json:"default_permissions"`
	DefaultEvents      []string          `json:"default_events"`
}

// HookAttributes is the App's webhook.
type HookAttributes struct {
	URL    string `json:"url"`
	Active bool   `json:"active"`
}

// AppManifestOptions says which deployq an App is for.
type AppManifestOptions struct {
	Name        string // default deployq; GitHub asks for another when it is taken
	BaseURL     string // deployq's URL: the App's homepage, webhooks at BaseURL + WebhookPath
	RedirectURL string // where GitHub sends the browser back with a code
	// Poll: deployq polls GitHub (github.mode: poll), so the webhook is
	// made inactive.
	Poll bool
}

// NewAppManifest returns the manifest of a private App with the
// permissions and events deployq needs.
func NewAppManifest(o AppManifestOptions) (AppManifest, error) {
	if o.Name == "" {
		o.Name = "deployq"
	}
	base := strings.TrimRight(o.BaseURL, "/")
	for key, u := range map[string]string{"server.base_url": base, "redirect URL": o.RedirectURL} {
		if p, err := url.Parse(u); u == "" || err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return AppManifest{}, fmt.Errorf("%s: want an http(s) URL, got %q", key, u)
		}
	}
	return AppManifest{
		Name:               o.Name,
		URL:                base,
		Description:        "deployq: deploys from chat, with a deploy queue",
		HookAttributes:     HookAttributes{URL: base + WebhookPath, Active: !o.Poll},
		RedirectURL:        o.RedirectURL,
		DefaultPermissions: AppPermissions(),
		DefaultEvents:      AppEvents(),
	}, nil
}

// WebURL is GitHub's web address for an API URL: https://github.com for
// "" and api.github.com, the Enterprise server's own address otherwise.
func WebURL(apiURL string) string {
	u, err := url.Parse(apiURL)
	if apiURL == "" || err != nil || u.Host == "api.github.com" {
		return "https://github.com"
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/api/v3")
	return strings.TrimRight(u.String(), "/")
}

// NewAppURL is where the manifest is posted to register an App: under
// the signed-in account, or under org when it is given.
func NewAppURL(webURL, org, state string) string {
	path := "/settings/apps/new"
	if org != "" {
		path = "/organizations/" + url.PathEscape(org) + path
	}
	return strings.TrimRight(webURL, "/") + path + "?state=" + url.QueryEscape(state)
}

// AppCredentials are what GitHub gives once for a new App.
type AppCredentials struct {
	ID            int64
	Slug          string
	Name          string
	Owner         string
	HTMLURL       string // the App's page; it is installed from HTMLURL/installations/new
	PEM           string // the private key
	WebhookSecret string
}

// manifestCode is what a manifest code looks like; nothing else goes
// into the conversion's path.
var manifestCode = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// ConvertAppManifest trades the code GitHub's redirect carries for the
// new App's id, key and webhook secret (POST
// /app-manifests/{code}/conversions), on apiURL ("" for github.com).
func ConvertAppManifest(ctx context.Context, apiURL, code string) (*AppCredentials, error) {
	if !manifestCode.MatchString(code) {
		return nil, fmt.Errorf("%q is not a manifest code", code)
	}
	c, err := newClient(nil, apiURL)
	if err != nil {
		return nil, err
	}
	app, _, err := c.gh.Apps.CompleteAppManifest(ctx, code)
	if err != nil {
		return nil, fmt.Errorf("github: creating the App from the manifest: %w", err)
	}
	if app.GetID() == 0 || app.GetPEM() == "" {
		return nil, fmt.Errorf("github: the manifest conversion gave no App id or no private key")
	}
	return &AppCredentials{ID: app.GetID(), Slug: app.GetSlug(), Name: app.GetName(), Owner: app.GetOwner().GetLogin(),
		HTMLURL: app.GetHTMLURL(), PEM: app.GetPEM(), WebhookSecret: app.GetWebhookSecret()}, nil
}

// Installation is an account an App is installed on.
type Installation struct {
	ID      int64
	Account string
	HTMLURL string // its settings page, which ends with the id
}

// AppInstallations lists where an App is installed (GET
// /app/installations), asking as the App: a JWT signed with its key.
func AppInstallations(ctx context.Context, apiURL string, appID int64, pem []byte) ([]Installation, error) {
	tr, err := ghinstallation.NewAppsTransport(http.DefaultTransport, appID, pem)
	if err != nil {
		return nil, fmt.Errorf("github app: %w", err)
	}
	c, err := newClient(&http.Client{Transport: tr}, apiURL)
	if err != nil {
		return nil, err
	}
	list, _, err := c.gh.Apps.ListInstallations(ctx, &gh.ListOptions{PerPage: 100})
	if err != nil {
		return nil, fmt.Errorf("github: listing the App's installations: %w", err)
	}
	var out []Installation
	for _, i := range list {
		out = append(out, Installation{ID: i.GetID(), Account: i.GetAccount().GetLogin(), HTMLURL: i.GetHTMLURL()})
	}
	slices.SortFunc(out, func(a, b Installation) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}
