package bot

import (
	"cmp"
	"context"
	"slices"
	"strings"
)

// command is one entry of the grammar: a verb, or a family of verbs that
// read and run alike (restart, stop, start). Help, IsVerb, Parse and the
// Bot's dispatch all come from the table of them, so a new verb is one
// new entry.
type command struct {
	verbs []string
	// help is the entry's line in Help, and the usage line of its errors.
	// Verbs that read or run differently may share one (continue,
	// approve, reject): Help shows it once.
	help     string
	bang     bool // takes ! (deploy!, lock!)
	override bool // takes !! (deploy!!)
	reason   bool // takes ": reason"
	// parse reads the words after the verb into c; Parse refuses words
	// it leaves.
	parse func(p *parser, c *Command) error
	// run carries c out for m's user.
	run func(b *Bot, ctx context.Context, c *Command, m Message) (Reply, error)
}

// The help lines that several entries share.
const (
	helpDecide = "continue #ID | approve #ID | reject #ID [: reason]"
	helpFreeze = "freeze ENV [for DURATION] [: reason] | unfreeze ENV"
	helpOps    = "scale APP in ENV to N | restart|stop|start APP in ENV"
	helpStatus = "queue [ENV] | where APP | history APP [in ENV] | help"
	helpMark   = "mark APP@REF bad [: reason] | unmark APP@REF   never deploy a version again by itself"
)

var (
	// commands is the grammar, in the order of Help.
	commands []*command
	// byVerb finds the entry of a verb.
	byVerb map[string]*command
	// reasonVerbs lists the verbs that take a reason, for the error that
	// says so ("lock, freeze and reject").
	reasonVerbs string
	// Help is the grammar, one line per command or family of commands.
	Help []string
)

// The table is built in init because the help entry runs on the table it
// is part of: as an initializer it would depend on itself.
func init() {
	commands = []*command{
		{verbs: []string{"deploy"}, bang: true, override: true, parse: (*parser).deploy, run: (*Bot).deploy,
			help: "deploy[!|!!] APP[@REF] [to ENV] [with NAME=VALUE ...]   deploy (! skips required checks, never a lock; !! an admin's, through a freeze)"},
		{verbs: []string{"rollback"}, parse: (*parser).rollback, run: (*Bot).rollback,
			help: "rollback APP [in ENV] [to REF|#N]     redeploy an earlier version (default: the one before)"},
		{verbs: []string{"cancel"}, parse: (*parser).deployID, run: (*Bot).cancel,
			help: "cancel #ID                            cancel a queued or running deploy"},
		{verbs: []string{"lock"}, bang: true, reason: true, parse: (*parser).lock, run: (*Bot).lock,
			help: "lock[!] ENV|APP in ENV [for DURATION] [: reason]   keep others from deploying (! takes it)"},
		{verbs: []string{"unlock"}, parse: (*parser).unlock, run: (*Bot).unlock,
			help: "unlock ENV|APP in ENV | unlock all    remove a lock (all: admins)"},
		{verbs: []string{"promote"}, parse: (*parser).promote, run: (*Bot).promote,
			help: "promote APP from ENV to ENV           deploy what runs in one env to the next"},
		{verbs: []string{"continue"}, help: helpDecide, parse: (*parser).deployID, run: (*Bot).resume},
		{verbs: []string{"approve"}, help: helpDecide, parse: (*parser).deployID, run: (*Bot).approve},
		{verbs: []string{"reject"}, help: helpDecide, reason: true, parse: (*parser).deployID, run: (*Bot).reject},
		{verbs: []string{"freeze"}, help: helpFreeze, reason: true, parse: (*parser).freeze, run: (*Bot).freeze},
		{verbs: []string{"unfreeze"}, help: helpFreeze, parse: (*parser).scope, run: (*Bot).unfreeze},
		{verbs: []string{"scale"}, help: helpOps, parse: (*parser).scale, run: (*Bot).operate},
		{verbs: []string{"restart", "stop", "start"}, help: helpOps, parse: (*parser).appInEnv, run: (*Bot).operate},
		{verbs: []string{"mark"}, help: helpMark, reason: true, parse: (*parser).mark, run: (*Bot).mark},
		{verbs: []string{"unmark"}, help: helpMark, parse: (*parser).appAtRef, run: (*Bot).unmark},
		{verbs: []string{"queue"}, help: helpStatus, parse: (*parser).optionalEnv, run: (*Bot).queue},
		{verbs: []string{"where"}, help: helpStatus, parse: (*parser).app, run: (*Bot).where},
		{verbs: []string{"history"}, help: helpStatus, parse: (*parser).history, run: (*Bot).history},
		{verbs: []string{"help"}, help: helpStatus, parse: (*parser).anything, run: (*Bot).help},
	}
	byVerb = map[string]*command{}
	var withReason []string
	for _, c := range commands {
		if !slices.Contains(Help, c.help) {
			Help = append(Help, c.help)
		}
		for _, v := range c.verbs {
			if byVerb[v] != nil {
				panic("bot: " + v + " is twice in the grammar")
			}
			byVerb[v] = c
			if c.reason {
				withReason = append(withReason, v)
			}
		}
	}
	reasonVerbs = list(withReason)
}

// list joins words as "a, b and c", shortest first, then in alphabetical
// order.
func list(words []string) string {
	words = slices.Clone(words)
	slices.SortFunc(words, func(a, b string) int { return cmp.Or(len(a)-len(b), strings.Compare(a, b)) })
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}
