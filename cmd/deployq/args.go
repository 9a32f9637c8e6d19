package main

import (
	"fmt"
	"strconv"
	"strings"
)

// flagSpec is one flag of a command. The parser, the command's help and
// the completion scripts are all read from it.
type flagSpec struct {
	name    string   // the long name, without dashes
	short   string   // a one-letter alias, or ""
	value   string   // what the flag takes (URL, FILE); "" for a switch
	about   string   // one line for the command's help
	choices []string // the values it takes, when they are few (for completion)
	file    bool     // its value is a file name (for completion)
	repeat  bool     // it may be given more than once (all)
}

// The flags of every command that talks to a server; they may also come
// before the command (`deployq --server URL queue`).
var globalFlags = []flagSpec{
	{name: "server", value: "URL", about: "the deployq server (default $DEPLOYQ_SERVER, else " + defaultServer + ")"},
	{name: "token", value: "TOKEN", about: "the API token (default $DEPLOYQ_TOKEN)"},
}

// topFlags are the flags before a command.
var topFlags = append([]flagSpec{{name: "version", about: "print the version"}, {name: "help", short: "h", about: "show the usage"}}, globalFlags...)

// defaultServer is where client commands go without --server or
// $DEPLOYQ_SERVER.
const defaultServer = "http://127.0.0.1:8080"

// parsed is a command line read against a command's flags.
type parsed struct {
	flags map[string]string // by long name; "true" for a switch that was given
	words []string          // the rest, in order
}

func (p *parsed) on(name string) bool    { return p.flags[name] == "true" }
func (p *parsed) get(name string) string { return p.flags[name] }
func (p *parsed) has(name string) bool   { _, ok := p.flags[name]; return ok }
func (p *parsed) sentence() string       { return strings.Join(p.words, " ") }
func (p *parsed) noWords() error         { return wantWords(p.words, 0) }

// wantWords refuses a command line whose words are more than n.
func wantWords(words []string, n int) error {
	if len(words) > n {
		return usageError{msg: fmt.Sprintf("unexpected %q", words[n])}
	}
	return nil
}

// usageError is a command line deployq cannot read: the program says so
// with the command's usage line and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// parseArgs reads args against specs. Flags may stand anywhere, so that
// `deployq deploy web to prod --follow` works like `--follow web to prod`;
// they are --name, -name, --name=value or --name value, or the short
// alias. Flag reading stops at "--" and at the first word holding a ':'
// (what follows is a reason, kept as it is). A negative number is a
// word, not a flag.
func parseArgs(args []string, specs []flagSpec) (*parsed, error) {
	p := &parsed{flags: map[string]string{}}
	literal := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" && !literal {
			literal = true
			continue
		}
		if literal || !isFlag(a) {
			literal = literal || strings.Contains(a, ":")
			p.words = append(p.words, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		spec := findFlag(specs, name)
		switch {
		case spec == nil:
			return nil, usageError{msg: "unknown flag " + a}
		case spec.value == "" && hasValue:
			return nil, usageError{msg: fmt.Sprintf("--%s takes no value", spec.name)}
		case spec.value == "":
			value = "true"
		case !hasValue:
			if i+1 >= len(args) {
				return nil, usageError{msg: fmt.Sprintf("--%s needs a value (%s)", spec.name, spec.value)}
			}
			i++
			value = args[i]
		}
		if len(spec.choices) > 0 && !contains(spec.choices, value) {
			return nil, usageError{msg: fmt.Sprintf("--%s: want %s, got %q", spec.name, oneOf(spec.choices), value)}
		}
		if prev, again := p.flags[spec.name]; again && spec.repeat {
			value = prev + "\n" + value // each one kept, in order (all)
		}
		p.flags[spec.name] = value
	}
	return p, nil
}

// all returns every value a repeatable flag was given, in order.
func (p *parsed) all(name string) []string {
	v, ok := p.flags[name]
	if !ok {
		return nil
	}
	return strings.Split(v, "\n")
}

// isFlag reports whether a word is a flag: it starts with '-', is not
// "-" alone and is not a negative number.
func isFlag(a string) bool {
	if len(a) < 2 || a[0] != '-' {
		return false
	}
	_, err := strconv.Atoi(a)
	return err != nil
}

// asksHelp reports whether a command line asks for the command's help:
// -h or --help where a flag may stand (the values of specs' flags are
// skipped).
func asksHelp(args []string, specs []flagSpec) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--" || !isFlag(a) && strings.Contains(a, ":"):
			return false
		case a == "-h" || a == "--help" || a == "-help":
			return true
		case isFlag(a) && !strings.Contains(a, "="):
			if f := findFlag(specs, strings.TrimLeft(a, "-")); f != nil && f.value != "" {
				i++
			}
		}
	}
	return false
}

func findFlag(specs []flagSpec, name string) *flagSpec {
	for i := range specs {
		if specs[i].name == name || specs[i].short != "" && specs[i].short == name {
			return &specs[i]
		}
	}
	return nil
}

// oneOf is "a, b or c".
func oneOf(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// parseGlobals reads the flags before the command: --server, --token,
// --version and --help. It returns them, and the command with its
// arguments.
func parseGlobals(args []string) (*parsed, []string, error) {
	specs := topFlags
	var flags []string
	i := 0
	for ; i < len(args) && isFlag(args[i]) && args[i] != "--"; i++ {
		flags = append(flags, args[i])
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if f := findFlag(specs, name); f != nil && f.value != "" && !hasValue && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	p, err := parseArgs(flags, specs)
	return p, args[i:], err
}
