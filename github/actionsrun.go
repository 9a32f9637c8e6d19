package github

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/deployq/deployq/queue"
)

// ActionsSettings are the settings of an environment whose deploys are
// GitHub Actions jobs that deployq gates (runner: actions).
type ActionsSettings struct {
	// Environment is the environment's name on GitHub, where deployq is
	// its deployment protection rule (default: deployq's name for it).
	Environment string `yaml:"environment"`
	// Poll is how often deployq asks GitHub how a running job goes, in
	// case no webhook tells it (default 15s, at least 1s).
	Poll time.Duration `yaml:"poll"`
	// Workflow (a file under .github/workflows, deploy.yml) lets deploys
	// asked in deployq (chat, the API, promotions, rollbacks) run: deployq
	// starts it by workflow_dispatch, with the inputs sha and deployq_id,
	// on Ref (default the app's default_ref), and its job's request is
	// that deploy's.
	Workflow string `yaml:"workflow"`
	Ref      string `yaml:"ref"`
}

// workflowFile is what GitHub names a workflow by: a file name.
var workflowFile = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}\.ya?ml$`)

// Validate implements config.Validator.
func (s *ActionsSettings) Validate() error {
	if len(s.Environment) > 255 || strings.IndexFunc(s.Environment, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return fmt.Errorf("environment: want GitHub's name of the environment (at most 255 printable characters), got %+.40q", s.Environment)
	}
	if s.Poll != 0 && s.Poll < time.Second {
		return fmt.Errorf("poll: at least 1s, got %s", s.Poll)
	}
	if s.Workflow != "" && !workflowFile.MatchString(s.Workflow) {
		return fmt.Errorf("workflow: want the workflow's file name under .github/workflows (deploy.yml), got %+.60q", s.Workflow)
	}
	if s.Ref != "" && !queue.ValidRef(s.Ref) {
		return fmt.Errorf("ref: want a branch or tag, got %+.60q", s.Ref)
	}
	return nil
}

// ValidateApp implements config.AppValidator: the jobs come from the
// app's repository.
func (s *ActionsSettings) ValidateApp(app *queue.App) error {
	if app.Repo == "" {
		return fmt.Errorf("the actions runner gates the jobs of the app's repository: set %s's repo", app.Name)
	}
	return nil
}

// Optional says the settings may be left out (all have defaults).
func (s *ActionsSettings) Optional() {}

// gitHubEnv is env's name on GitHub.
func gitHubEnv(env *queue.Environment) string {
	if s, ok := env.Settings.(*ActionsSettings); ok && s.Environment != "" {
		return s.Environment
	}
	return env.Name
}

// AcceptsSource implements queue.SourceChecker: the environment is
// deployed by its Actions jobs, not by deployq.
func (a *Actions) AcceptsSource(env *queue.Environment, src queue.Source) error {
	if s, ok := env.Settings.(*ActionsSettings); src == queue.SourceActions || ok && s.Workflow != "" {
		return nil
	}
	return queue.Errorf(queue.EUnsupported, "%s is deployed by GitHub Actions jobs: run the workflow on GitHub, and deployq lets its job go in turn (or set actions.workflow to let deployq start it)",
		env.Name)
}

// Run implements queue.Runner: the job was let go (its approval is in
// the outbox, written as the deploy started); the deploy lasts as long
// as the job, as webhooks tell (any server may get them) or as GitHub
// answers when asked every Poll. A deploy asked in deployq (typed in
// chat, a promotion, a rollback) starts the environment's workflow, and
// its job's request is that deploy's.
func (a *Actions) Run(ctx context.Context, jb queue.Job, out queue.Output) (queue.Result, error) {
	wake := make(chan struct{}, 1)
	a.mu.Lock()
	a.runners[jb.DeployID] = wake
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.runners, jb.DeployID)
		a.mu.Unlock()
	}()
	j, ok, err := a.jobOf(ctx, jb.DeployID)
	if err != nil {
		return queue.Result{}, err
	}
	w := out.Stream(queue.StreamStdout, "")
	defer w.Close()
	if !ok { // asked in deployq: start the workflow, and wait for its job to ask
		if j, err = a.dispatch(ctx, jb, w, wake); err != nil {
			fmt.Fprintln(w, queue.ErrorMessage(err))
			return queue.Result{Message: queue.ErrorMessage(err)}, ctx.Err()
		}
	}
	fmt.Fprintf(w, "GitHub Actions run %d may deploy now: %s\n", j.run, j.url)
	look := time.NewTicker(time.Second) // what another server heard, kept with the deploy
	defer look.Stop()
	poll := a.Poll
	if s, ok := jb.Settings.(*ActionsSettings); ok && s.Poll > 0 {
		poll = s.Poll
	}
	ask := time.NewTicker(poll)
	defer ask.Stop()
	for {
		if res, done := a.outcome(ctx, jb.DeployID, j); done {
			fmt.Fprintln(w, res.Message)
			return res, nil
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(w, "deployq stops waiting for run %d; GitHub is asked to cancel it\n", j.run)
			return queue.Result{}, ctx.Err()
		case <-wake:
		case <-look.C:
		case <-ask.C:
			a.ask(ctx, jb.DeployID, j, out)
		}
	}
}

// outcome says how the job ended, once deployq knows.
func (a *Actions) outcome(ctx context.Context, id int64, j job) (queue.Result, bool) {
	if why, err := a.svc.Meta(ctx, id, metaRefused); err == nil && why != "" {
		return queue.Result{Message: why}, true
	}
	ended, err := a.svc.Meta(ctx, id, metaEnded)
	if err != nil || ended == "" {
		return queue.Result{}, false
	}
	if ended == "success" {
		return queue.Result{OK: true, Message: fmt.Sprintf("the job of run %d succeeded: %s", j.run, j.url)}, true
	}
	return queue.Result{Message: fmt.Sprintf("the job of run %d ended: %s (%s)", j.run, ended, j.url)}, true
}

// ask asks GitHub how the run stands, and keeps its end when it ended.
func (a *Actions) ask(ctx context.Context, id int64, j job, out queue.Output) {
	ctx, cancel := context.WithTimeout(ctx, compareTimeout)
	defer cancel()
	status, conclusion, err := a.client.runState(ctx, j.repo, j.run)
	if err != nil {
		a.log.Warn("github: asking how an Actions run stands", "deploy", id, "run", j.run, "err", err)
		return
	}
	out.Progress(queue.Progress{Phase: "actions " + status})
	if status == "completed" {
		a.ended(ctx, id, conclusion)
	}
}

// ended keeps how deploy id's job ended (first word: success, or why
// not), once, and wakes its runner if it runs here.
func (a *Actions) ended(ctx context.Context, id int64, how string) {
	if how == "" {
		how = "without a conclusion"
	}
	if cur, err := a.svc.Meta(ctx, id, metaEnded); err == nil && cur != "" {
		return
	}
	if err := a.svc.SetMeta(context.WithoutCancel(ctx), id, metaEnded, clip(how, 200)); err != nil {
		a.log.Error("github: keeping how an Actions job ended", "deploy", id, "err", err)
	}
	a.wake(id)
}
