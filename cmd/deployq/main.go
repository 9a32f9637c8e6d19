// Command deployq is a ChatOps deploy bot with a deploy queue.
//
//	deployq serve [--config FILE] [--listen ADDR]
//	deployq check-config [--config FILE]
//	deployq deploy|rollback|cancel|lock|unlock|queue|logs|chat ...
//
// The client commands talk to a server: --server URL (default
// $DEPLOYQ_SERVER or http://127.0.0.1:8080), token from $DEPLOYQ_TOKEN.
// On a terminal, what they print is rendered inert (escape sequences and
// other control characters shown as \x1b and the like); to a file or a
// pipe it goes byte for byte.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/deployq/deployq/client"
)

const usage = `usage: deployq COMMAND [ARGS]

Server:
  serve [--config FILE] [--listen ADDR]   run the server (no config: a demo)
  check-config [--config FILE]            validate a config file

Client (talks to --server URL, default $DEPLOYQ_SERVER or http://127.0.0.1:8080;
token from $DEPLOYQ_TOKEN):
  deploy [--force] [--override-freeze] [--follow] APP[@REF] [to ENV]
  rollback [--follow] APP [in ENV] [to REF|#N]
  cancel ID
  lock [--steal] ENV|APP in ENV [for DURATION] [: reason]
  unlock ENV|APP in ENV
  queue [ENV]
  logs [-f] ID
  chat                                    a chat console: type commands, watch logs
`

func main() {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if len(os.Args) > 1 && os.Args[1] == "chat" {
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
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "check-config":
		err = checkConfig(args[1:], stdout)
	case "slack-manifest", "github-app":
		err = setupCommand(ctx, args[0], args[1:], stdout, stderr)
	case "deploy", "rollback", "cancel", "lock", "unlock", "queue", "logs", "chat":
		err = clientCommand(ctx, args[0], args[1:], stdin, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "deployq: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if ec, ok := err.(exitCode); ok {
			return int(ec)
		}
		fmt.Fprintf(stderr, "deployq %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// exitCode ends the program with a status and no message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }
