package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// The usage, each command's help, and the help command, all read from
// the command table.

// usage lists the commands by group, with their usage lines.
func usage(table []*command) string {
	var b strings.Builder
	b.WriteString("usage: deployq [--server URL] [--token TOKEN] COMMAND [ARGS]\n")
	b.WriteString("       deployq COMMAND --help     (a command's usage and flags)\n")
	b.WriteString("       deployq --version\n")
	group := ""
	for _, c := range table {
		if c.group != group {
			group = c.group
			fmt.Fprintf(&b, "\n%s:\n", group)
		}
		fmt.Fprintf(&b, "  %s\n", c.usageLine())
	}
	return b.String()
}

// help is the help command.
func help(_ context.Context, x *call) error {
	p, err := x.parse()
	if err != nil {
		return err
	}
	if len(p.words) == 0 {
		fmt.Fprint(x.stdout, usage(x.table))
		return nil
	}
	if err := wantWords(p.words, 1); err != nil {
		return err
	}
	cmd := find(x.table, p.words[0])
	if cmd == nil {
		return fmt.Errorf("unknown command %q", p.words[0])
	}
	cmd.printHelp(x.stdout)
	return nil
}

// usageLine is "NAME [--flag VALUE]... ARGS".
func (c *command) usageLine() string {
	parts := []string{c.name}
	for _, f := range c.flags {
		s := "--" + f.name
		if f.short != "" {
			s += "|-" + f.short
		}
		if len(f.choices) > 0 {
			s += " " + strings.Join(f.choices, "|")
		} else if f.value != "" {
			s += " " + f.value
		}
		parts = append(parts, "["+s+"]")
	}
	if c.args != "" {
		parts = append(parts, c.args)
	}
	return strings.Join(parts, " ")
}

// allFlags are the flags the command takes: its own, and the global
// ones if it talks to a server.
func (c *command) allFlags() []flagSpec {
	if !c.client {
		return c.flags
	}
	return append(append([]flagSpec{}, c.flags...), globalFlags...)
}

// printHelp writes the command's help: its usage, what it does, its
// flags.
func (c *command) printHelp(w io.Writer) {
	fmt.Fprintf(w, "usage: deployq %s\n\n%s\n", c.usageLine(), c.about)
	flags := c.allFlags()
	if len(flags) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range flags {
		name := "--" + f.name
		if f.short != "" {
			name += ", -" + f.short
		}
		if f.value != "" {
			name += " " + f.value
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, f.about)
	}
	tw.Flush()
}
