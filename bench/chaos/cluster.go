package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/deployq/deployq/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// cluster is PostgreSQL, the deployq servers on it, the file their
// deploys mark, and the fake Slack and GitHub they tell of their deploys.
type cluster struct {
	db      *pgtest.Server
	dbName  string
	servers []*server
	marks   string // the marks file every deploy's command appends to
	token   string // in the environment of every process started here, and of their children
	lanes   []lane
	slack   *fakeSlack
	github  *fakeGitHub
}

// lane is an app and its one environment: what runs one deploy at a time.
type lane struct{ app, env string }

// repo is the lane's app's GitHub repository.
func (l lane) repo() string { return githubOwner + "/" + l.app }

func (l lane) String() string { return l.app + "/" + l.env }

// runEnv names the variable that carries the run's token, by which the
// processes this run started (servers and deploy commands) are found.
const runEnv = "DEPLOYQ_CHAOS_RUN"

// openCluster builds deployq, starts PostgreSQL with a database for the
// servers, and starts the servers. A cluster returned with an error is
// to be closed all the same.
func openCluster(ctx context.Context, dir string, o options) (*cluster, error) {
	bin := filepath.Join(dir, "bin")
	if err := build(ctx, bin); err != nil {
		return nil, err
	}
	token := make([]byte, 8)
	rand.Read(token)
	c := &cluster{dbName: "chaos", marks: filepath.Join(dir, "marks"), token: hex.EncodeToString(token),
		slack: newFakeSlack(), github: newFakeGitHub()}
	for i := range o.lanes {
		c.lanes = append(c.lanes, lane{app: fmt.Sprintf("app%d", i+1), env: "prod"})
	}
	db, err := pgtest.Start(ctx)
	if err != nil {
		return c, fmt.Errorf("PostgreSQL: %w", err)
	}
	c.db = db
	if err := db.Exec(ctx, "postgres", `CREATE DATABASE `+pgx.Identifier{c.dbName}.Sanitize()+` OWNER `+pgtest.Role+` TEMPLATE template0`); err != nil {
		return c, fmt.Errorf("create database: %w", err)
	}
	for i := range o.servers {
		s, err := c.newServer(dir, bin, fmt.Sprintf("deployq-%d", i+1), o)
		if err != nil {
			return c, err
		}
		c.servers = append(c.servers, s)
	}
	// One after another: the first applies the migrations.
	for _, s := range c.servers {
		if err := s.start(ctx); err != nil {
			return c, err
		}
		fmt.Printf("%s listening on %s\n", s.name, s.base())
	}
	return c, nil
}

// build builds deployq and deployq-kubernetes into dir, as the e2e tests
// do.
func build(ctx context.Context, dir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./cmd/deployq", "./cmd/deployq-kubernetes")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building deployq (run from the repository's root): %w", err)
	}
	return nil
}

// newServer writes the config of a server named name, in a directory of
// its own (its data_dir is there too).
func (c *cluster) newServer(dir, bin, name string, o options) (*server, error) {
	home := filepath.Join(dir, name)
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	config := filepath.Join(home, "deployq.yaml")
	if err := os.WriteFile(config, []byte(c.config(name, o)), 0o644); err != nil {
		return nil, err
	}
	dsn := c.db.DSN(c.dbName) + " application_name=" + name
	return &server{name: name, bin: filepath.Join(bin, "deployq"), config: config, log: filepath.Join(home, "server.log"),
		env: []string{"DEPLOYQ_DSN=" + dsn, "CHAOS_SERVER=" + name, runEnv + "=" + c.token}}, nil
}

// config is a server's deployq.yaml: Slack (http mode) and GitHub (a
// token) are the fakes, each environment has its Slack channel, each app
// its repo; every lane is on the shell runner, whose command marks its
// start and end (and a SIGTERM that ends it) in the marks file, with the
// time, the deploy and the server's name.
func (c *cluster) config(name string, o options) string {
	mark := func(what string) string {
		return fmt.Sprintf(`echo "$(date +%%s.%%N) %s $DEPLOY_ID $DEPLOY_APP $DEPLOY_ENV $CHAOS_SERVER" >> '%s'`, what, c.marks)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n  name: %s\n  data_dir: ./data\n", name)
	fmt.Fprintf(&b, "store:\n  driver: postgres\n  dsn: \"${DEPLOYQ_DSN}\"\n  lease: %s\n", o.lease)
	fmt.Fprintf(&b, "slack:\n  mode: http\n  bot_token: %s\n  signing_secret: %s\n  channel: %s\n  api_url: %s\n  channels:\n",
		slackBotToken, slackSecret, slackChannel, c.slack.url(name))
	envs := map[string]bool{}
	for _, l := range c.lanes {
		if !envs[l.env] {
			envs[l.env] = true
			fmt.Fprintf(&b, "    %s: %s\n", l.env, envSlackChannel(l.env))
		}
	}
	fmt.Fprintf(&b, "github:\n  token: %s\n  webhook_secret: %s\n  api_url: %s\n", githubToken, githubSecret, c.github.url(name))
	b.WriteString("apps:\n")
	for _, l := range c.lanes {
		fmt.Fprintf(&b, "  - name: %s\n    repo: %s\n    environments:\n      - name: %s\n        runner: shell\n        shell:\n", l.app, l.repo(), l.env)
		b.WriteString("          kill_grace: 2s\n          command: |\n")
		for _, line := range []string{
			fmt.Sprintf(`trap '%s; exit 143' TERM`, strings.ReplaceAll(mark("term"), `'`, `'\''`)),
			mark("start"),
			`echo "deploy $DEPLOY_ID runs on $CHAOS_SERVER"`,
			fmt.Sprintf("sleep %g", o.sleep.Seconds()),
			mark("end"),
			`echo "deploy $DEPLOY_ID done"`,
		} {
			b.WriteString("            " + line + "\n")
		}
	}
	return b.String()
}

// revive starts again the servers that exited by themselves (each exit
// is kept, and said as a violation at the end), and lets none stay
// stopped: before each fault, and before the deploys are waited for.
func (c *cluster) revive(ctx context.Context) error {
	for _, s := range c.servers {
		s.resume()
		if s.pid() != 0 {
			continue
		}
		fmt.Printf("%s is not running (it exited by itself): started again\n", s.name)
		if err := s.start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// close stops the servers, ends whatever this run started that is still
// there (deploy commands a killed server left), stops PostgreSQL and
// removes its directory, and stops the fakes. It says what it could not
// end.
func (c *cluster) close() error {
	var errs []error
	for _, s := range c.servers {
		errs = append(errs, s.stop())
	}
	if left := leftovers(c.token); len(left) > 0 {
		for _, pid := range left {
			killPid(pid, c.token)
		}
		time.Sleep(200 * time.Millisecond)
		if left := leftovers(c.token); len(left) > 0 {
			errs = append(errs, fmt.Errorf("processes of this run still there: %v", left))
		}
	}
	if c.db != nil {
		errs = append(errs, c.db.Close())
	}
	c.slack.close()
	c.github.close()
	return errors.Join(errs...)
}
