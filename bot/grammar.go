// Package bot is deployq's chat: the one grammar every chat adapter
// parses, the Bot that carries commands out against the queue and answers
// in short text, and the console behind `deployq chat`.
package bot

import (
	"fmt"
	"strings"
	"time"
)

// Command is one chat command: parsed from text, or built by an adapter
// for a button.
type Command struct {
	Verb     string // deploy, rollback, cancel, lock, unlock, promote, continue, approve, reject, freeze, unfreeze, scale, restart, stop, start, mark, unmark, queue, where, history, help
	Bang     bool   // deploy! (skip checks), lock! (steal)
	Override bool   // deploy!! (an admin, through a freeze)
	All      bool   // unlock all
	App      string
	Env      string
	Ref      string // deploy: the ref; "" for the default; mark, unmark: the version
	To       string // rollback: a ref or "#N"; promote: the target env
	From     string // promote: the source env
	// ID is the deploy of cancel, continue, approve and reject. For
	// rollback it is the deploy to undo (the Roll back button of its
	// message): back to what ran before it. The grammar never sets it
	// for rollback.
	ID       int64
	N        int               // scale
	Duration time.Duration     // lock, freeze: 0 for no expiry
	Reason   string            // lock, freeze, reject, mark
	Params   map[string]string // deploy: "with NAME=VALUE ..."
}

// IsVerb reports whether word starts a command ("deploy", "lock!", ...).
func IsVerb(word string) bool {
	_, ok := byVerb[strings.TrimRight(strings.ToLower(word), "!")]
	return ok
}

// ParseError is a chat input deployq could not read. Help is the usage line
// of the command that was meant.
type ParseError struct {
	Msg  string
	Help string
}

func (e *ParseError) Error() string {
	if e.Help == "" {
		return e.Msg
	}
	return e.Msg + "\nusage: " + strings.Join(strings.Fields(strings.SplitN(e.Help, "  ", 2)[0]), " ")
}

// Parse reads one chat command. Every value it returns is validated: names
// are valid app/env names (an app may also be named by its repo's
// owner/name), refs are valid refs.
func Parse(text string) (*Command, error) {
	text = strings.TrimSpace(strings.ReplaceAll(text, "\u00a0", " "))
	head, reason, hasReason := strings.Cut(text, ":")
	words := strings.Fields(head)
	if len(words) == 0 {
		return nil, &ParseError{Msg: "say a command; try `help`"}
	}
	verb := strings.ToLower(words[0])
	c := &Command{}
	if strings.HasSuffix(verb, "!!") {
		c.Override = true
		verb = strings.TrimSuffix(verb, "!")
	}
	if strings.HasSuffix(verb, "!") {
		c.Bang = true
		verb = strings.TrimSuffix(verb, "!")
	}
	c.Verb = verb
	cmd := byVerb[verb]
	if cmd == nil {
		msg := fmt.Sprintf("unknown command %q", short(words[0]))
		if guess, _ := closest(verb); guess != "" {
			return nil, &ParseError{Msg: msg + fmt.Sprintf("; did you mean %q?", guess), Help: byVerb[guess].help}
		}
		return nil, &ParseError{Msg: msg + "; try `help`"}
	}
	p := &parser{words: words[1:], help: cmd.help}
	switch {
	case c.Bang && !cmd.bang:
		return nil, p.fail("%s has no ! form", verb)
	case c.Override && !cmd.override:
		return nil, p.fail("%s has no !! form", verb)
	case hasReason && !cmd.reason:
		return nil, p.fail("unexpected ':' (only %s take a reason)", reasonVerbs)
	}
	c.Reason = strings.TrimSpace(reason)
	if err := cmd.parse(p, c); err != nil {
		return nil, err
	}
	if p.more() {
		return nil, p.fail("unexpected %q", p.words[0])
	}
	return c, nil
}

// closest returns the verb within two edits of w, if any, and how many
// edits away it is.
func closest(w string) (string, int) {
	best, bestD := "", 3
	for v := range byVerb {
		if d := distance(w, v); d < bestD || d == bestD && v < best {
			best, bestD = v, d
		}
	}
	return best, bestD
}

// distance is the Damerau-Levenshtein distance (with adjacent swaps).
func distance(a, b string) int {
	if len(a) > 32 || len(b) > 32 {
		return 99
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
