package bot

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/deployq/deployq/queue"
)

// parser reads the words after a verb. Its methods named after a command
// are the parse functions of the table.
type parser struct {
	words []string
	help  string
}

// fail is a ParseError; the words it quotes are shortened (see short).
func (p *parser) fail(format string, args ...any) error {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = short(s)
		}
	}
	return &ParseError{Msg: fmt.Sprintf(format, args...), Help: p.help}
}

// maxQuoted is how much of a word an error quotes.
const maxQuoted = 40

// short is w as an error quotes it: at most maxQuoted characters, so that
// a long word typed makes a short error.
func short(w string) string {
	if utf8.RuneCountInString(w) <= maxQuoted {
		return w
	}
	return string([]rune(w)[:maxQuoted]) + "…"
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
	if isKeyword(w, k...) {
		return nil
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

// repoRe is a GitHub owner/name: teams used to hubot-deploy and
// SlashDeploy name an app by its repo, and the queue finds the app whose
// repo it is.
var repoRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,38}/[a-z0-9_.-]{1,100}$`)

// validApp reports whether s can name an app: an app's own name, or the
// owner/name of its repo.
func validApp(s string) bool {
	if queue.ValidName(s) {
		return true
	}
	_, repo, _ := strings.Cut(s, "/")
	return repoRe.MatchString(s) && repo != "." && repo != ".."
}

// appName reads APP: an app's name or its repo's owner/name.
func (p *parser) appName() (string, error) {
	if !p.more() {
		return "", p.fail("APP missing")
	}
	w := p.next()
	n := strings.ToLower(w)
	if !validApp(n) {
		return "", p.fail("%q is not a valid app name", w)
	}
	return n, nil
}

// isKeyword reports whether w is one of the keywords k.
func isKeyword(w string, k ...string) bool {
	for _, kw := range k {
		if strings.EqualFold(w, kw) {
			return true
		}
	}
	return false
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

// deployID reads "#ID" (cancel, continue, approve, reject).
func (p *parser) deployID(c *Command) (err error) {
	c.ID, err = p.id()
	return err
}

func (p *parser) deploy(c *Command) error {
	if !p.more() {
		return p.fail("APP missing")
	}
	if err := p.params(c); err != nil {
		return err
	}
	target := p.next()
	app, ref, hasRef := strings.Cut(target, "@")
	p.words = append([]string{app}, p.words...)
	var err error
	if c.App, err = p.appName(); err != nil {
		return err
	}
	if hasRef {
		if !queue.ValidRef(ref) {
			return p.fail("invalid ref %q: use a sha, branch or tag", ref)
		}
		c.Ref = ref
	}
	if !p.more() {
		return nil
	}
	// "deploy web production": the last word alone is the environment,
	// as other deploy bots take it
	if len(p.words) > 1 || isKeyword(p.peek(), "to", "in", "on") {
		if err := p.keyword("to", "in", "on"); err != nil {
			return err
		}
	}
	c.Env, err = p.name("ENV")
	return err
}

func (p *parser) rollback(c *Command) error {
	var err error
	if c.App, err = p.appName(); err != nil {
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
func (p *parser) scope(c *Command) (err error) {
	if len(p.words) > 1 && isKeyword(p.words[1], "in") {
		if c.App, err = p.appName(); err != nil {
			return err
		}
		p.next()
	}
	c.Env, err = p.name("ENV")
	return err
}

// unlock reads a scope, or "all".
func (p *parser) unlock(c *Command) error {
	if p.peek() == "all" && len(p.words) == 1 {
		p.next()
		c.All = true
		return nil
	}
	return p.scope(c)
}

func (p *parser) lock(c *Command) error {
	if err := p.scope(c); err != nil {
		return err
	}
	return p.duration(c)
}

func (p *parser) freeze(c *Command) (err error) {
	if c.Env, err = p.name("ENV"); err != nil {
		return err
	}
	return p.duration(c)
}

// duration reads an optional "for DURATION".
func (p *parser) duration(c *Command) error {
	if !p.more() {
		return nil
	}
	if err := p.keyword("for"); err != nil {
		return err
	}
	if !p.more() {
		return p.fail("DURATION missing after for")
	}
	w := p.next()
	d, err := queue.ParseDuration(w)
	if err != nil || d <= 0 {
		return p.fail("bad duration %q (use e.g. 30m, 2h, 1d)", w)
	}
	c.Duration = d
	return nil
}

func (p *parser) promote(c *Command) error {
	var err error
	if c.App, err = p.appName(); err != nil {
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

// appInEnv reads "APP in ENV" (restart, stop, start).
func (p *parser) appInEnv(c *Command) (err error) {
	if c.App, err = p.appName(); err != nil {
		return err
	}
	if err = p.keyword("in"); err != nil {
		return err
	}
	c.Env, err = p.name("ENV")
	return err
}

func (p *parser) scale(c *Command) error {
	if err := p.appInEnv(c); err != nil {
		return err
	}
	if err := p.keyword("to"); err != nil {
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

// optionalEnv reads "[ENV]" (queue).
func (p *parser) optionalEnv(c *Command) (err error) {
	if p.more() {
		c.Env, err = p.name("ENV")
	}
	return err
}

// app reads "APP" (where).
func (p *parser) app(c *Command) (err error) {
	c.App, err = p.appName()
	return err
}

// history reads "APP [in ENV]".
func (p *parser) history(c *Command) (err error) {
	if c.App, err = p.appName(); err != nil || !p.more() {
		return err
	}
	if err = p.keyword("in"); err != nil {
		return err
	}
	c.Env, err = p.name("ENV")
	return err
}

// anything takes whatever follows (help).
func (p *parser) anything(*Command) error {
	p.words = nil
	return nil
}

// params takes "with NAME=VALUE ..." off the end of the words: a
// deploy's parameters.
func (p *parser) params(c *Command) error {
	i := slices.IndexFunc(p.words, func(w string) bool { return strings.EqualFold(w, "with") })
	if i < 0 {
		return nil
	}
	rest := p.words[i+1:]
	p.words = p.words[:i]
	if len(rest) == 0 {
		return p.fail("parameters missing after with: NAME=VALUE ...")
	}
	c.Params = map[string]string{}
	for _, w := range rest {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return p.fail("%q is not a parameter: NAME=VALUE", w)
		}
		c.Params[strings.ToLower(k)] = v
	}
	return nil
}
