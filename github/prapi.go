package github

import (
	"context"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v62/github"
)

// The calls deployq makes about pull requests and their comments.

// pullHead is a pull request's head: its branch and sha.
func (c *Client) pullHead(ctx context.Context, repoName string, number int) (ref, sha string, err error) {
	owner, repo, err := splitRepo(repoName)
	if err != nil {
		return "", "", err
	}
	pr, _, err := c.gh.PullRequests.Get(ctx, owner, repo, number)
	if err != nil {
		return "", "", err
	}
	return pr.GetHead().GetRef(), pr.GetHead().GetSHA(), nil
}

// react puts a reaction (eyes, rocket, -1) on a comment.
func (c *Client) react(ctx context.Context, repoName string, comment int64, content string) error {
	owner, repo, err := splitRepo(repoName)
	if err != nil {
		return err
	}
	_, _, err = c.gh.Reactions.CreateIssueCommentReaction(ctx, owner, repo, comment, content)
	return err
}

// comment writes body as a new comment of pull request number (comment
// 0), or over comment, and returns its id.
func (c *Client) comment(ctx context.Context, repoName string, number int, comment int64, body string) (int64, error) {
	owner, repo, err := splitRepo(repoName)
	if err != nil {
		return 0, err
	}
	ic := &gh.IssueComment{Body: gh.String(body)}
	if comment != 0 {
		_, _, err = c.gh.Issues.EditComment(ctx, owner, repo, comment, ic)
		return comment, err
	}
	made, _, err := c.gh.Issues.CreateComment(ctx, owner, repo, number, ic)
	return made.GetID(), err
}

// prThread is the chat thread of a deploy asked in pull request number
// of repo: its messages are that pull request's comments.
func prThread(repo string, number int) string { return fmt.Sprintf("github:%s#%d", repo, number) }

// parsePRThread reads a thread of prThread.
func parsePRThread(thread string) (repo string, number int, ok bool) {
	rest, ok := strings.CutPrefix(thread, "github:")
	if !ok {
		return "", 0, false
	}
	repo, num, ok := strings.Cut(rest, "#")
	if !ok {
		return "", 0, false
	}
	if _, err := fmt.Sscanf(num, "%d", &number); err != nil || number <= 0 {
		return "", 0, false
	}
	return repo, number, true
}
