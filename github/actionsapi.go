package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v62/github"
)

// The calls deployq makes about Actions runs, as the App (or the token)
// of the github section: never to a URL a payload gives.

// reviewRun answers a run's request to deploy to environment env on
// GitHub: state approved or rejected.
// https://docs.github.com/en/rest/actions/workflow-runs#review-custom-deployment-protection-rules-for-a-workflow-run
func (c *Client) reviewRun(ctx context.Context, repoName string, run int64, env, state, comment string) error {
	owner, repo, err := splitRepo(repoName)
	if err != nil {
		return fmt.Errorf("%w: %v", errGiveUp, err)
	}
	body := map[string]string{"environment_name": env, "state": state}
	if comment != "" {
		body["comment"] = comment
	}
	req, err := c.gh.NewRequest("POST", fmt.Sprintf("repos/%s/%s/actions/runs/%d/deployment_protection_rule",
		url.PathEscape(owner), url.PathEscape(repo), run), body)
	if err != nil {
		return err
	}
	_, err = c.gh.Do(ctx, req, nil)
	return err
}

// cancelRun cancels a workflow run.
func (c *Client) cancelRun(ctx context.Context, repoName string, run int64) error {
	owner, repo, err := splitRepo(repoName)
	if err != nil {
		return fmt.Errorf("%w: %v", errGiveUp, err)
	}
	resp, err := c.gh.Actions.CancelWorkflowRunByID(ctx, owner, repo, run)
	var accepted *gh.AcceptedError // 202: the cancel is under way
	switch {
	case errors.As(err, &accepted):
		return nil
	case err != nil && resp != nil && resp.StatusCode == http.StatusConflict:
		return nil // the run already ended (its job deployed, and a verification failed after): nothing to cancel
	}
	return err
}

// runState is how a workflow run stands: its status (queued,
// in_progress, waiting, completed) and, once completed, its conclusion.
func (c *Client) runState(ctx context.Context, repoName string, run int64) (status, conclusion string, err error) {
	owner, repo, err := splitRepo(repoName)
	if err != nil {
		return "", "", err
	}
	r, _, err := c.gh.Actions.GetWorkflowRunByID(ctx, owner, repo, run)
	if err != nil {
		return "", "", err
	}
	return r.GetStatus(), r.GetConclusion(), nil
}

// httpStatus is the HTTP status of a GitHub error (0: none, or no answer).
func httpStatus(err error) int {
	var resp *gh.ErrorResponse
	if errors.As(err, &resp) && resp.Response != nil {
		return resp.Response.StatusCode
	}
	return 0
}

// callbackPath is the path, under the API's base, of a run's callback.
var callbackPath = regexp.MustCompile(`^repos/([A-Za-z0-9._-]+)/([A-Za-z0-9._-]+)/actions/runs/([0-9]{1,19})/deployment_protection_rule$`)

// callbackRun checks the callback URL a request gives against what
// deployq would call itself for the repository the event names (its own
// API base, that repository) and returns the run's id.
func (c *Client) callbackRun(callback, repoName string) (int64, error) {
	base := c.gh.BaseURL
	u, err := url.Parse(callback)
	if err != nil || u.Scheme != base.Scheme || !strings.EqualFold(u.Host, base.Host) || u.RawQuery != "" || u.Fragment != "" ||
		!strings.HasPrefix(u.Path, base.Path) {
		return 0, fmt.Errorf("its deployment_callback_url %+.80q is not on %s", callback, base.Scheme+"://"+base.Host+base.Path)
	}
	m := callbackPath.FindStringSubmatch(strings.TrimPrefix(u.Path, base.Path))
	if m == nil {
		return 0, fmt.Errorf("its deployment_callback_url %+.80q is not a workflow run's", callback)
	}
	if !strings.EqualFold(m[1]+"/"+m[2], repoName) {
		return 0, fmt.Errorf("its deployment_callback_url is for %s/%s, not %s", m[1], m[2], repoName)
	}
	run, err := strconv.ParseInt(m[3], 10, 64)
	if err != nil || run <= 0 {
		return 0, fmt.Errorf("its deployment_callback_url names no run")
	}
	return run, nil
}

// runURL is a run's page on GitHub's web.
func (c *Client) runURL(repoName string, run int64) string {
	return fmt.Sprintf("%s%s/actions/runs/%d", webURL(c.gh.BaseURL.String()), repoName, run)
}
