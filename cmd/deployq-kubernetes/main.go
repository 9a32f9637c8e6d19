// Command deployq-kubernetes is deployq's kubernetes runner in a process
// of its own, so that client-go is in no deployq that does not deploy to
// Kubernetes. deployq starts it for one call (a deploy, `where`'s live
// view, a check-config --online probe) and speaks with it over its stdin
// and stdout; see runners/kubernetes. Install it next to deployq: make
// build builds both, and so does go install ./cmd/...
//
//	deployq-kubernetes           serve one call on stdin and stdout
//	deployq-kubernetes version   say which build it is
//
// SIGTERM and SIGINT end a run as deployq's stop does: the rollout is left
// to the cluster.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	kuberunner "github.com/deployq/deployq/runners/kubernetes"
	"github.com/deployq/deployq/runners/kubernetes/kube"
)

// version is set at build time, as deployq's is (make build).
var version = ""

func main() {
	if len(os.Args) > 1 {
		os.Exit(command(os.Args[1:]))
	}
	// Its stdout is the protocol's: whatever else would print there goes
	// to stderr, which deployq logs.
	proto := os.Stdout
	os.Stdout = os.Stderr
	// A deployq that died does not stop an undo half way: writes to it
	// fail, and the call goes on to its end.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := kuberunner.Serve(ctx, os.Stdin, proto, kube.New()); err != nil {
		fmt.Fprintln(os.Stderr, "deployq-kubernetes:", err)
		os.Exit(1)
	}
}

// command runs what is asked by hand.
func command(args []string) int {
	switch args[0] {
	case "version", "--version":
		v := version
		if v == "" {
			if bi, ok := debug.ReadBuildInfo(); ok {
				v = bi.Main.Version
			}
		}
		fmt.Printf("deployq-kubernetes %s\n", v)
		return 0
	case "help", "-h", "--help":
		fmt.Println("usage: deployq-kubernetes [version]\n\n" +
			"The kubernetes runner of deployq, which starts it for each deploy to Kubernetes\n" +
			"and speaks with it over stdin and stdout. Install it next to deployq.")
		return 0
	}
	fmt.Fprintf(os.Stderr, "deployq-kubernetes: unknown command %q (deployq starts it without arguments)\n", args[0])
	return 2
}
