// Package bot is deployq's chat: the one grammar every chat adapter
// parses, the Bot that carries commands out against the queue and answers
// in short text, and the console behind `deployq chat`.
package bot

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
)

// Command is one parsed chat command.
type Command struct {
	Verb     string // deploy, rollback, cancel, lock, unlock, promote, continue, approve, reject, freeze, unfreeze, scale, restart, stop, start, queue, where, history, help
	Bang     bool   // deploy! (skip checks), lock! (steal)
	Override bool   // deploy!! (an admin, through a freeze)
	All      bool   // unlock all
	App      string
	Env      string
	Ref      string        // deploy: the ref; "" for the default
	To       string        // rollback: a ref or "#N"; promote: the target env
	From     string        // promote: the source env
	ID       int64         // cancel, continue, approve, reject
	N        int           // scale
	Duration time.Duration // lock, freeze: 0 for no expiry
	Reason   string        // lock, freeze
}

// Help is the grammar, one line per command.
var Help = []string{
	"deploy[!|!!] APP[@REF] [to ENV]       deploy (! skips required checks, never a lock; !! an admin's, through a freeze)",
	"rollback APP [in ENV] [to REF|#N]     redeploy an earlier version (default: the one before)",
	"cancel #ID                            cancel a queued or running deploy",
	"lock[!] ENV|APP in ENV [for DURATION] [: reason]   keep others from deploying (! takes it)",
	"unlock ENV|APP in ENV | unlock all    remove a lock (all: admins)",
	"promote APP from ENV to ENV           deploy what runs in one env to the next",
	"continue #ID | approve #ID | reject #ID [: reason]",
	"freeze ENV [for DURATION] [: reason] | unfreeze ENV",
	"scale APP in ENV to N | restart|stop|start APP in ENV",
	"queue [ENV] | where APP | history APP [in ENV] | help",
}

var verbHelp = map[string]int{
	"deploy": 0, "rollback": 1, "cancel": 2, "lock": 3, "unlock": 4, "promote": 5,
	"continue": 6, "approve": 6, "reject": 6, "freeze": 7, "unfreeze": 7,
	"scale": 8, "restart": 8, "stop": 8, "start": 8,
	"queue": 9, "where": 9, "history": 9, "help": 9,
}

// IsVerb reports whether word starts a command ("deploy", "lock!", ...).
func IsVerb(word string) bool {
	_, ok := verbHelp[strings.TrimRight(strings.ToLower(word), "!")]
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
// are valid app/env names, refs are valid refs.
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
	i, ok := verbHelp[verb]
	if !ok {
		msg := fmt.Sprintf("unknown command %q", words[0])
		if guess := closest(verb); guess != "" {
			return nil, &ParseError{Msg: msg + fmt.Sprintf("; did you mean %q?", guess), Help: Help[verbHelp[guess]]}
		}
		return nil, &ParseError{Msg: msg + "; try `help`"}
	}
	p := &parser{words: words[1:], help: Help[i], verb: verb}
	if c.Bang && verb != "deploy" && verb != "lock" {
		return nil, p.fail("%s has no ! form", verb)
	}
	if c.Override && verb != "deploy" {
		return nil, p.fail("%s has no !! form", verb)
	}
	if hasReason && verb != "lock" && verb != "freeze" && verb != "reject" {
		return nil, p.fail("unexpected ':' (only lock, freeze and reject take a reason)")
	}
	c.Reason = strings.TrimSpace(reason)
	var err error
	switch verb {
	case "deploy":
		err = p.deploy(c)
	case "rollback":
		err = p.rollback(c)
	case "cancel", "continue", "approve", "reject":
		c.ID, err = p.id()
	case "lock", "freeze":
		err = p.lock(c)
	case "unlock", "unfreeze":
		if verb == "unlock" && p.peek() == "all" && len(p.words) == 1 {
			p.next()
			c.All = true
			break
		}
		err = p.scope(c)
	case "promote":
		err = p.promote(c)
	case "scale":
		err = p.scale(c)
	case "restart", "stop", "start":
		c.App, c.Env, err = p.appInEnv()
	case "queue":
		if p.more() {
			c.Env, err = p.name("ENV")
		}
	case "where":
		c.App, err = p.name("APP")
	case "history":
		c.App, err = p.name("APP")
		if err == nil && p.more() {
			if err = p.keyword("in"); err == nil {
				c.Env, err = p.name("ENV")
			}
		}
	case "help":
		p.words = nil
	}
	if err == nil && p.more() {
		err = p.fail("unexpected %q", p.words[0])
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

type parser struct {
	verb  string
	words []string
	help  string
}

func (p *parser) fail(format string, args ...any) error {
	return &ParseError{Msg: fmt.Sprintf(format, args...), Help: p.help}
}

func (p *parser) more() bool { return len(p.words) > 0 }

func (p *parser) peek() string {
	if len(p.words) == 0 {
		return ""
	}
	return strings.ToLower(p.words[0])
}

func (p *parser) next() string {
	w := p.words[0]
	p.words = p.words[1:]
	return w
}

func (p *parser) keyword(k ...string) error {
	if !p.more() {
		return p.fail("%s expected", strings.Join(k, " or "))
	}
	w := strings.ToLower(p.next())
	for _, kw := range k {
		if w == kw {
			return nil
		}
	}
	return p.fail("%s expected, got %q", strings.Join(k, " or "), w)
}

func (p *parser) name(what string) (string, error) {
	if !p.more() {
		return "", p.fail("%s missing", what)
	}
	w := p.next()
	n := strings.ToLower(w)
	if !queue.ValidName(n) {
		return "", p.fail("%q is not a valid %s name", w, strings.ToLower(what))
	}
	return n, nil
}

func (p *parser) id() (int64, error) {
	if !p.more() {
		return 0, p.fail("#ID missing")
	}
	w := p.next()
	n, err := strconv.ParseInt(strings.TrimPrefix(w, "#"), 10, 64)
	if err != nil || n <= 0 {
		return 0, p.fail("%q is not a deploy number like #12", w)
	}
	return n, nil
}

func (p *parser) deploy(c *Command) error {
	if !p.more() {
		return p.fail("APP missing")
	}
	target := p.next()
	app, ref, hasRef := strings.Cut(target, "@")
	p.words = append([]string{app}, p.words...)
	var err error
	if c.App, err = p.name("APP"); err != nil {
		return err
	}
	if hasRef {
		if !queue.ValidRef(ref) {
			return p.fail("invalid ref %q: use a sha, branch or tag", ref)
		}
		c.Ref = ref
	}
	if p.more() {
		if err := p.keyword("to", "in", "on"); err != nil {
			return err
		}
		c.Env, err = p.name("ENV")
	}
	return err
}

func (p *parser) rollback(c *Command) error {
	var err error
	if c.App, err = p.name("APP"); err != nil {
		return err
	}
	if p.peek() == "in" {
		p.next()
		if c.Env, err = p.name("ENV"); err != nil {
			return err
		}
	}
	if p.more() {
		if err := p.keyword("to"); err != nil {
			return err
		}
		if !p.more() {
			return p.fail("REF or #N missing after to")
		}
		to := p.next()
		if strings.HasPrefix(to, "#") {
			p.words = append([]string{to}, p.words...)
			id, err := p.id()
			if err != nil {
				return err
			}
			c.To = fmt.Sprintf("#%d", id)
		} else if !queue.ValidRef(to) {
			return p.fail("invalid ref %q: use a sha, branch, tag or #N", to)
		} else {
			c.To = to
		}
	}
	return nil
}

// scope reads "ENV" or "APP in ENV".
func (p *parser) scope(c *Command) error {
	first, err := p.name("ENV")
	if err != nil {
		return err
	}
	if p.peek() == "in" {
		p.next()
		c.App = first
		c.Env, err = p.name("ENV")
		return err
	}
	c.Env = first
	return nil
}

func (p *parser) lock(c *Command) error {
	if p.verb == "freeze" {
		var err error
		c.Env, err = p.name("ENV")
		if err != nil {
			return err
		}
	} else if err := p.scope(c); err != nil {
		return err
	}
	if p.more() {
		if err := p.keyword("for"); err != nil {
			return err
		}
		if !p.more() {
			return p.fail("DURATION missing after for")
		}
		w := p.next()
		d, err := ParseDuration(w)
		if err != nil {
			return p.fail("bad duration %q (use e.g. 30m, 2h, 1d)", w)
		}
		c.Duration = d
	}
	return nil
}

func (p *parser) promote(c *Command) error {
	var err error
	if c.App, err = p.name("APP"); err != nil {
		return err
	}
	if err = p.keyword("from"); err != nil {
		return err
	}
	if c.From, err = p.name("ENV"); err != nil {
		return err
	}
	if err = p.keyword("to"); err != nil {
		return err
	}
	c.To, err = p.name("ENV")
	return err
}

func (p *parser) appInEnv() (app, env string, err error) {
	if app, err = p.name("APP"); err != nil {
		return
	}
	if err = p.keyword("in"); err != nil {
		return
	}
	env, err = p.name("ENV")
	return
}

func (p *parser) scale(c *Command) error {
	var err error
	if c.App, c.Env, err = p.appInEnv(); err != nil {
		return err
	}
	if err = p.keyword("to"); err != nil {
		return err
	}
	if !p.more() {
		return p.fail("N missing")
	}
	w := p.next()
	n, err := strconv.Atoi(w)
	if err != nil || n < 0 || n > 10000 {
		return p.fail("%q is not an instance count", w)
	}
	c.N = n
	return nil
}

// ParseDuration reads a Go duration or a number of days ("1d", "2d12h").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.ToLower(s)
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, err
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		if rest, err = time.ParseDuration(s); err != nil {
			return 0, err
		}
	}
	d := days + rest
	if d <= 0 {
		return 0, fmt.Errorf("duration must be positive")
	}
	return d, nil
}

// closest returns the verb within two edits of w, if any.
func closest(w string) string {
	best, bestD := "", 3
	for v := range verbHelp {
		if d := distance(w, v); d < bestD || d == bestD && v < best {
			best, bestD = v, d
		}
	}
	return best
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
