package bot

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
)

// ConsoleBackend is what the console talks to: a deployq server.
type ConsoleBackend interface {
	// Chat sends one line and returns the reply, and the id of the deploy
	// the line queued (0 if none).
	Chat(ctx context.Context, text string) (reply string, deployID int64, err error)
	// Follow writes a deploy's log to w until it ends and returns its end
	// state.
	Follow(ctx context.Context, id int64, w io.Writer) (state string, err error)
}

// Console reads chat commands line by line from in, prints the replies to
// out, and follows the log of each deploy or rollback it queues until the
// deploy ends. It returns at the end of in.
func Console(ctx context.Context, in io.Reader, out io.Writer, be ConsoleBackend) error {
	sc := bufio.NewScanner(in)
	fmt.Fprint(out, "deployq> ")
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		switch text {
		case "":
		case "exit", "quit":
			return nil
		default:
			reply, id, err := be.Chat(ctx, text)
			if err != nil {
				fmt.Fprintf(out, "error: %v\n", err)
				break
			}
			fmt.Fprintln(out, reply)
			if c, perr := Parse(text); perr == nil && id > 0 && (c.Verb == "deploy" || c.Verb == "rollback") {
				state, err := be.Follow(ctx, id, out)
				if err != nil {
					fmt.Fprintf(out, "stopped following #%d: %v\n", id, err)
				} else {
					fmt.Fprintf(out, "#%d %s\n", id, state)
				}
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprint(out, "deployq> ")
	}
	fmt.Fprintln(out)
	return sc.Err()
}
