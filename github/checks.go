package github

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/deployq/deployq/queue"
	gh "github.com/google/go-github/v62/github"
	"golang.org/x/oauth2"
)

// Client talks to GitHub's REST API.
type Client struct {
	gh *gh.Client
}

// NewClient returns a client authenticated with token, on apiURL (""
// for github.com; a GitHub Enterprise or test server otherwise).
func NewClient(token, apiURL string) (*Client, error) {
	var hc *http.Client
	if token != "" {
		hc = oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}))
	}
	return newClient(hc, apiURL)
}

// NewAppClient returns a client acting as a GitHub App installation: it
// signs the app's JWT with the private key, trades it for installation
// tokens and renews them before they expire (ghinstallation).
func NewAppClient(appID, installationID int64, privateKeyFile, apiURL string) (*Client, error) {
	tr, err := ghinstallation.NewKeyFromFile(http.DefaultTransport, appID, installationID, privateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("github app: %w", err)
	}
	if apiURL != "" {
		tr.BaseURL = strings.TrimRight(apiURL, "/")
		if !strings.HasSuffix(tr.BaseURL, "/api/v3") {
			tr.BaseURL += "/api/v3"
		}
	}
	return newClient(&http.Client{Transport: tr}, apiURL)
}

func newClient(hc *http.Client, apiURL string) (*Client, error) {
	c := gh.NewClient(hc)
	if apiURL != "" {
		var err error
		if c, err = c.WithEnterpriseURLs(apiURL, apiURL); err != nil {
			return nil, fmt.Errorf("github.api_url: %w", err)
		}
	}
	return &Client{gh: c}, nil
}

func splitRepo(repo string) (string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" {
		return "", "", fmt.Errorf("repo %q is not owner/name", repo)
	}
	return owner, name, nil
}

type checkState struct {
	state string // success, pending, failure
	url   string
}

// Checks implements queue.Checker: the combined commit status and the
// check runs of sha, by name. A required name not reported yet is pending,
// never failed; neutral and skipped check runs count as green.
func (c *Client) Checks(ctx context.Context, app *queue.App, sha string, required []string) (queue.CheckReport, error) {
	owner, repo, err := splitRepo(app.Repo)
	if err != nil {
		return queue.CheckReport{}, err
	}
	seen := map[string]checkState{}
	combined, _, err := c.gh.Repositories.GetCombinedStatus(ctx, owner, repo, sha, &gh.ListOptions{PerPage: 100})
	if err != nil {
		return queue.CheckReport{}, fmt.Errorf("combined status of %s: %w", queue.ShortSHA(sha), err)
	}
	for _, st := range combined.Statuses {
		s := "pending"
		switch st.GetState() {
		case "success":
			s = "success"
		case "failure", "error":
			s = "failure"
		}
		seen[st.GetContext()] = checkState{s, st.GetTargetURL()}
	}
	runs, _, err := c.gh.Checks.ListCheckRunsForRef(ctx, owner, repo, sha, &gh.ListCheckRunsOptions{ListOptions: gh.ListOptions{PerPage: 100}})
	if err != nil {
		return queue.CheckReport{}, fmt.Errorf("check runs of %s: %w", queue.ShortSHA(sha), err)
	}
	for _, cr := range runs.CheckRuns {
		s := "pending"
		if cr.GetStatus() == "completed" {
			switch cr.GetConclusion() {
			case "success", "neutral", "skipped":
				s = "success"
			default:
				s = "failure"
			}
		}
		seen[cr.GetName()] = checkState{s, cr.GetHTMLURL()}
	}

	names := required
	if len(required) == 1 && required[0] == "all" {
		names = nil
		for n := range seen {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 { // nothing reported yet: CI may not have started
			return queue.CheckReport{State: "pending", Pending: []queue.Check{{Name: "any check"}}}, nil
		}
	}
	var rep queue.CheckReport
	for _, n := range names {
		st, ok := seen[n]
		switch {
		case !ok || st.state == "pending":
			rep.Pending = append(rep.Pending, queue.Check{Name: n, URL: st.url})
		case st.state == "failure":
			rep.Failed = append(rep.Failed, queue.Check{Name: n, URL: st.url})
		}
	}
	switch {
	case len(rep.Failed) > 0:
		rep.State = "failure"
	case len(rep.Pending) > 0:
		rep.State = "pending"
	default:
		rep.State = "success"
	}
	return rep, nil
}
