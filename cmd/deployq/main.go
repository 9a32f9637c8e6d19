// Command deployq is a ChatOps deploy bot with a deploy queue.
//
//	deployq serve [--config FILE] [--listen ADDR] [--log-format text|json]
//	deployq check-config [--config FILE]
//	deployq init [--app NAME] [--repo OWNER/NAME] [--runner RUNNER] [--force]
//	deployq [--server URL] [--token TOKEN] deploy|rollback|promote|cancel|... ARGS
//	deployq completion bash|zsh|fish
//	deployq version
//
// The client commands talk to a server: --server URL (default
// $DEPLOYQ_SERVER or http://127.0.0.1:8080), --token TOKEN (default
// $DEPLOYQ_TOKEN). On a terminal, what they print is rendered inert
// (escape sequences and other control characters shown as \x1b and the
// like); to a file or a pipe it goes byte for byte. Every command answers
// --help.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/deployq/deployq/client"
)

// command is one deployq command: its usage, its flags, and what it runs.
// The usage, each command's help, the completion scripts and the dispatch
// are all read from the table of them.
type command struct {
	name   string
	args   string // what follows the flags in its usage line
	about  string // what it does, for its help
	group  string // where the usage lists it: groupServer, groupClient or groupOther
	flags  []flagSpec
	client bool // talks to a server: takes --server and --token
	run    func(ctx context.Context, x *call) error
}

// The groups of the usage.
const (
	groupServer = "Server"
	groupClient = "Client (talks to --server URL, default $DEPLOYQ_SERVER or " + defaultServer + ";\n--token TOKEN, default $DEPLOYQ_TOKEN)"
	groupOther  = "Other"
)

// call is one run of a command: its arguments, its streams, and the
// global flags given before it.
type call struct {
	cmd            *command
	table          []*command
	args           []string // the words after the command's name, as given
	global         *parsed
	stdin          io.Reader
	stdout, stderr io.Writer
}

// parse reads the call's arguments against the command's flags; the
// global flags given before the command count unless given again after.
func (x *call) parse() (*parsed, error) {
	p, err := parseArgs(x.args, x.cmd.allFlags())
	if err != nil {
		return nil, err
	}
	for k, v := range x.global.flags {
		if !p.has(k) {
			p.flags[k] = v
		}
	}
	return p, nil
}

var (
	follow = flagSpec{name: "follow", short: "f", about: "follow the log; exit 0 only if the deploy succeeded"}
	cfgIn  = flagSpec{name: "config", value: "FILE", file: true, about: "the config file (default ./deployq.yaml)"}
	// dataDirFlags say where the database is.
	dataDirFlags = []flagSpec{
		{name: "config", value: "FILE", file: true, about: "the config file (default ./deployq.yaml, if there): server.data_dir"},
		{name: "data-dir", value: "DIR", file: true, about: "the data directory (default server.data_dir of the config, else ./data)"},
	}
)

// commandTable is every command, in the order of the usage.
func commandTable() []*command {
	return []*command{
		{name: "serve", group: groupServer, about: "Run the server. Without a config file, the demo.",
			flags: []flagSpec{
				{name: "config", value: "FILE", file: true, about: "the config file (default ./deployq.yaml; without one, the demo)"},
				{name: "listen", value: "ADDR", about: "the address to listen on, over server.listen (port 0: any free port)"},
				{name: "log-format", value: "FORMAT", choices: []string{"text", "json"}, about: "the server log's format: text (default) or json, on stderr"},
			}, run: serve},
		{name: "check-config", group: groupServer, about: "Check a config file without starting anything: every error at once.",
			flags: []flagSpec{cfgIn,
				{name: "online", about: "also reach Slack, GitHub, each app's git, the ssh hosts and the Kubernetes and Marathon APIs"},
				{name: "timeout", value: "DURATION", about: "how long each --online check may take (default 10s)"},
			}, run: func(_ context.Context, x *call) error { return checkConfig(x.args, x.stdout) }},
		{name: "backup", group: groupServer, args: "FILE", run: backup, flags: dataDirFlags,
			about: "Copy the database to FILE, consistently, while the server runs."},
		{name: "restore", group: groupServer, args: "FILE", run: restore, flags: dataDirFlags,
			about: "Put a backup in place of the database (stop the server first; the old one is kept)."},
		{name: "slack-manifest", group: groupServer, about: "Print the Slack app manifest of this deployq (create the app from it).",
			flags: []flagSpec{
				{name: "config", value: "FILE", file: true, about: "the config file (default ./deployq.yaml, if there): slack.mode, server.base_url"},
				{name: "name", value: "NAME", about: "the app's and its bot's name in Slack (default deployq)"},
			}, run: func(_ context.Context, x *call) error { return slackManifest(x.args, x.stdout, x.stderr) }},
		{name: "github-app", group: groupServer, about: "Create deployq's GitHub App from its manifest, in your browser, and say what to configure.",
			flags: []flagSpec{
				{name: "config", value: "FILE", file: true, about: "the config file (default ./deployq.yaml, if there): server.base_url, data_dir, github"},
				{name: "org", value: "ORG", about: "register the App on this organization (default: your own account)"},
				{name: "listen", value: "ADDR", about: "the local page's address, a loopback one (default 127.0.0.1:0)"},
				{name: "name", value: "NAME", about: "the App's name (default deployq)"},
				{name: "api-url", value: "URL", about: "GitHub's API (default github.api_url, else api.github.com)"},
				{name: "github-url", value: "URL", about: "GitHub's web address (default https://github.com, or the Enterprise server of the API)"},
			}, run: func(ctx context.Context, x *call) error { return githubApp(ctx, x.args, x.stdout, x.stderr) }},
		{name: "init", group: groupServer, run: initConfig,
			about: "Write a commented starter config that check-config passes; edit it, then serve.",
			flags: []flagSpec{
				{name: "config", value: "FILE", file: true, about: "the file to write (default ./deployq.yaml)"},
				{name: "app", value: "NAME", about: "the app's name (default web)"},
				{name: "repo", value: "OWNER/NAME", about: "the app's GitHub repository"},
				{name: "git", value: "URL", about: "where the app's refs resolve (default: the repo on GitHub)"},
				{name: "runner", value: "RUNNER", choices: runnerKinds(), about: "how it deploys (default shell)"},
				{name: "force", about: "overwrite the file if it exists"},
			}},

		{name: "deploy", group: groupClient, client: true, args: "APP[@REF] [to ENV] [with NAME=VALUE ...]", run: deploy,
			about: "Queue a deploy of APP at REF (default: its default ref) to ENV (default: its default environment).",
			flags: []flagSpec{
				{name: "force", about: "skip the required checks (never a lock)"},
				{name: "override-freeze", about: "deploy through a freeze (admins)"},
				{name: "param", value: "NAME=VALUE", repeat: true, about: "a deploy parameter of the environment (again for each)"},
				follow,
			}},
		{name: "rollback", group: groupClient, client: true, args: "APP [in ENV] [to REF|#N]", run: rollback, flags: []flagSpec{follow},
			about: "Deploy an earlier version again: the one before the current, a ref or deploy #N's."},
		{name: "promote", group: groupClient, client: true, args: "APP from ENV to ENV", run: promote, flags: []flagSpec{follow},
			about: "Deploy what runs in one environment to another."},
		{name: "scale", group: groupClient, client: true, args: "APP in ENV to N", run: operate, flags: []flagSpec{follow},
			about: "Run N instances of APP in ENV (runners that can, such as marathon)."},
		{name: "restart", group: groupClient, client: true, args: "APP in ENV", run: operate, flags: []flagSpec{follow},
			about: "Restart APP in ENV (runners that can)."},
		{name: "stop", group: groupClient, client: true, args: "APP in ENV", run: operate, flags: []flagSpec{follow},
			about: "Stop APP in ENV (runners that can)."},
		{name: "start", group: groupClient, client: true, args: "APP in ENV", run: operate, flags: []flagSpec{follow},
			about: "Start APP in ENV again, as many as before it stopped (runners that can)."},
		{name: "cancel", group: groupClient, client: true, args: "ID", run: cancel,
			about: "Cancel a waiting, queued or running deploy."},
		{name: "continue", group: groupClient, client: true, args: "ID", run: resume,
			about: "Let a paused deploy go on (a manual rollout after its canary)."},
		{name: "approve", group: groupClient, client: true, args: "ID", run: approve,
			about: "Approve a deploy that waits for approvals."},
		{name: "reject", group: groupClient, client: true, args: "ID [: reason]", run: reject,
			about: "Reject a deploy that waits for approvals: it is canceled."},
		{name: "lock", group: groupClient, client: true, args: "ENV|APP in ENV [for DURATION] [: reason]", run: lock,
			flags: []flagSpec{{name: "steal", about: "take the lock from whoever holds it"}},
			about: "Keep others from deploying to an environment, or to one app in it."},
		{name: "unlock", group: groupClient, client: true, args: "ENV|APP in ENV | all", run: unlock,
			about: "Remove a lock (all: every lock, admins)."},
		{name: "freeze", group: groupClient, client: true, args: "ENV [for DURATION] [: reason]", run: freeze,
			about: "Freeze an environment: deploys are refused (an admin's --override-freeze goes through)."},
		{name: "unfreeze", group: groupClient, client: true, args: "ENV", run: unfreeze,
			about: "Lift a freeze."},
		{name: "mark", group: groupClient, client: true, args: "APP@REF bad [: reason]", run: markBad,
			about: "Mark a version bad: it is never deployed again by itself (auto-deploys, promotions), and a deploy of it needs --force."},
		{name: "unmark", group: groupClient, client: true, args: "APP@REF", run: unmarkBad,
			about: "Remove a version's bad mark."},
		{name: "queue", group: groupClient, client: true, args: "[ENV]", run: showQueue,
			about: "What runs, and what is queued and waiting, in order, with ids, refs and who asked."},
		{name: "where", group: groupClient, client: true, args: "APP", run: where,
			about: "What runs where: an app's version in each environment, locks and freezes."},
		{name: "history", group: groupClient, client: true, args: "APP [in ENV]", run: history,
			flags: []flagSpec{{name: "limit", short: "n", value: "N", about: "how many deploys, newest first (default 10)"}},
			about: "An app's deploys, newest first."},
		{name: "audit", group: groupClient, client: true, run: audit,
			about: "Who did what, newest first."},
		{name: "prune", group: groupClient, client: true, run: prune,
			flags: []flagSpec{
				{name: "logs-older-than", value: "DURATION", about: "prune the logs of deploys that ended longer ago than this (90d, 12h)"},
				{name: "dry-run", about: "only say what would be pruned"},
			},
			about: "Prune old logs now, to their last 100 lines (admins; retention in the config does it every hour)."},
		{name: "logs", group: groupClient, client: true, args: "ID", run: logs, flags: []flagSpec{follow},
			about: "A deploy's log."},
		{name: "chat", group: groupClient, client: true, run: chat,
			about: "A chat console: type commands as in chat, watch the logs of what you start."},

		{name: "completion", group: groupOther, args: "bash|zsh|fish", run: completion,
			about: "Print a completion script: source <(deployq completion bash), or see the README for zsh and fish."},
		{name: "version", group: groupOther, run: printVersion,
			about: "The version, commit, build date and Go version of this deployq."},
		{name: "help", group: groupOther, args: "[COMMAND]", run: help,
			about: "The commands, or one command's usage and flags."},
	}
}

func main() {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if _, rest, _ := parseGlobals(os.Args[1:]); len(rest) > 0 && rest[0] == "chat" {
		sigs = sigs[1:] // in the console Ctrl-C stops following a log, not the console
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	stdout, stderr := client.NewTerminalWriter(os.Stdout), client.NewTerminalWriter(os.Stderr)
	code := run(ctx, os.Args[1:], os.Stdin, stdout, stderr)
	stdout.Flush()
	stderr.Flush()
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	table := commandTable()
	global, rest, err := parseGlobals(args)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "deployq: %v\n\n%s", err, usage(table))
		return 2
	case global.on("version"):
		printBuild(stdout)
		return 0
	case len(rest) == 0 && global.on("help"):
		fmt.Fprint(stdout, usage(table))
		return 0
	case len(rest) == 0:
		fmt.Fprint(stderr, usage(table))
		return 2
	}
	cmd := find(table, rest[0])
	if cmd == nil {
		fmt.Fprintf(stderr, "deployq: unknown command %q\n\n%s", rest[0], usage(table))
		return 2
	}
	if global.on("help") || asksHelp(rest[1:], cmd.allFlags()) {
		cmd.printHelp(stdout)
		return 0
	}
	if !cmd.client && (global.has("server") || global.has("token")) {
		fmt.Fprintf(stderr, "deployq %s: --server and --token are for the client commands\n", cmd.name)
		return 2
	}
	x := &call{cmd: cmd, table: table, args: rest[1:], global: global, stdin: stdin, stdout: stdout, stderr: stderr}
	return exit(cmd, cmd.run(ctx, x), stderr)
}

// exit says what went wrong, if anything, and returns the exit status:
// 0, 1 for an error, 2 for a command line deployq could not read.
func exit(cmd *command, err error, stderr io.Writer) int {
	var ec exitCode
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ec):
		return int(ec)
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "deployq %s: %v\nusage: deployq %s\n", cmd.name, ue.msg, cmd.usageLine())
		return 2
	}
	fmt.Fprintf(stderr, "deployq %s: %v\n", cmd.name, err)
	return 1
}

func find(table []*command, name string) *command {
	for _, c := range table {
		if c.name == name {
			return c
		}
	}
	return nil
}

// exitCode ends the program with a status and no message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }
