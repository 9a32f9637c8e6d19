package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// completion is the completion command: a bash, zsh or fish script that
// completes the commands, their flags and the values of the flags that
// take few, all read from the command table.
func completion(_ context.Context, x *call) error {
	p, err := x.parse()
	if err != nil {
		return err
	}
	if len(p.words) != 1 {
		return usageError{msg: "say which shell: bash, zsh or fish"}
	}
	switch p.words[0] {
	case "bash":
		bashCompletion(x.stdout, x.table)
	case "zsh":
		zshCompletion(x.stdout, x.table)
	case "fish":
		fishCompletion(x.stdout, x.table)
	default:
		return usageError{msg: fmt.Sprintf("unknown shell %q: bash, zsh or fish", p.words[0])}
	}
	return nil
}

// shells are the completion command's words.
var shells = []string{"bash", "zsh", "fish"}

// argWords are the words a command's first argument may be, when they
// are few.
func argWords(c *command, table []*command) []string {
	switch c.name {
	case "completion":
		return shells
	case "help":
		return commandNames(table)
	}
	return nil
}

func commandNames(table []*command) []string {
	var names []string
	for _, c := range table {
		names = append(names, c.name)
	}
	return names
}

// flagWords is --name (and -short) of each flag.
func flagWords(specs []flagSpec) []string {
	var words []string
	for _, f := range specs {
		words = append(words, "--"+f.name)
		if f.short != "" {
			words = append(words, "-"+f.short)
		}
	}
	return words
}

func bashCompletion(w io.Writer, table []*command) {
	fmt.Fprintf(w, `# bash completion for deployq: source <(deployq completion bash)
_deployq() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--server|--token) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	case $prev in
`)
	seen := map[string]bool{}
	for _, c := range table {
		for _, f := range c.allFlags() {
			if f.value == "" || seen[f.name] {
				continue
			}
			seen[f.name] = true
			pattern := strings.Join(flagWords([]flagSpec{f}), "|")
			switch {
			case len(f.choices) > 0:
				fmt.Fprintf(w, "\t%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", pattern, strings.Join(f.choices, " "))
			case f.file:
				fmt.Fprintf(w, "\t%s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", pattern)
			default:
				fmt.Fprintf(w, "\t%s) return ;;\n", pattern)
			}
		}
	}
	// Flags where a word starts with '-', else the words of the place.
	fmt.Fprintf(w, "\tesac\n\tlocal flags words\n\tcase $cmd in\n")
	fmt.Fprintf(w, "\t\"\") flags=%q words=%q ;;\n", strings.Join(flagWords(topFlags), " "), strings.Join(commandNames(table), " "))
	for _, c := range table {
		flags := flagWords(append(c.allFlags(), flagSpec{name: "help"}))
		fmt.Fprintf(w, "\t%s) flags=%q words=%q ;;\n", c.name, strings.Join(flags, " "), strings.Join(argWords(c, table), " "))
	}
	fmt.Fprintf(w, "\tesac\n\tif [[ $cur == -* ]]; then words=$flags; fi\n")
	fmt.Fprintf(w, "\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n}\ncomplete -F _deployq deployq\n")
}

// zshQuote makes s a description inside a single-quoted zsh spec: its
// quotes closed and reopened around an escaped one, brackets made
// parentheses (a bracket would end the description of a flag).
func zshQuote(s string) string {
	return strings.NewReplacer("'", `'\''`, "[", "(", "]", ")").Replace(s)
}

// zshFlag is one _arguments spec of a flag, quoted.
func zshFlag(f flagSpec) string {
	spec := "'--" + f.name
	if f.short != "" {
		spec = fmt.Sprintf("'(-%s --%s)'{-%s,--%s}'", f.short, f.name, f.short, f.name)
	}
	spec += "[" + zshQuote(f.about) + "]"
	switch {
	case len(f.choices) > 0:
		spec += fmt.Sprintf(":%s:(%s)", f.value, strings.Join(f.choices, " "))
	case f.file:
		spec += ":" + f.value + ":_files"
	case f.value != "":
		spec += ":" + f.value + ": "
	}
	return spec + "'"
}

func zshCompletion(w io.Writer, table []*command) {
	fmt.Fprintf(w, "#compdef deployq\n# zsh completion for deployq: deployq completion zsh > \"${fpath[1]}/_deployq\"\n_deployq() {\n")
	fmt.Fprintf(w, "\tlocal curcontext=$curcontext state line\n\tlocal -a commands\n\tcommands=(\n")
	for _, c := range table {
		fmt.Fprintf(w, "\t\t'%s:%s'\n", c.name, zshQuote(c.about))
	}
	fmt.Fprintf(w, "\t)\n\t_arguments -C \\\n")
	for _, f := range topFlags {
		fmt.Fprintf(w, "\t\t%s \\\n", zshFlag(f))
	}
	fmt.Fprintf(w, "\t\t'1: :->command' \\\n\t\t'*:: :->args'\n")
	fmt.Fprintf(w, "\tcase $state in\n\tcommand) _describe -t commands 'deployq command' commands ;;\n\targs)\n\t\tcase $words[1] in\n")
	for _, c := range table {
		specs := []string{}
		for _, f := range append(c.allFlags(), flagSpec{name: "help", about: "show the usage"}) {
			specs = append(specs, zshFlag(f))
		}
		if words := argWords(c, table); len(words) > 0 {
			specs = append(specs, fmt.Sprintf("'1: :(%s)'", strings.Join(words, " ")))
		}
		fmt.Fprintf(w, "\t\t%s) _arguments %s ;;\n", c.name, strings.Join(specs, " "))
	}
	fmt.Fprintf(w, "\t\tesac ;;\n\tesac\n}\nif [ \"$funcstack[1]\" = _deployq ]; then _deployq \"$@\"; else compdef _deployq deployq; fi\n")
}

// fishQuote is s single-quoted for fish.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

// fishFlag is the complete line of a flag, under the condition cond.
func fishFlag(cond string, f flagSpec) string {
	line := fmt.Sprintf("complete -c deployq -n %s -l %s", fishQuote(cond), f.name)
	if f.short != "" {
		line += " -s " + f.short
	}
	switch {
	case len(f.choices) > 0:
		line += " -x -a " + fishQuote(strings.Join(f.choices, " "))
	case f.file:
		line += " -r -F"
	case f.value != "":
		line += " -x"
	}
	return line + " -d " + fishQuote(f.about)
}

func fishCompletion(w io.Writer, table []*command) {
	fmt.Fprintf(w, "# fish completion for deployq: deployq completion fish > ~/.config/fish/completions/deployq.fish\ncomplete -c deployq -f\n")
	for _, f := range topFlags {
		fmt.Fprintln(w, fishFlag("__fish_use_subcommand", f))
	}
	for _, c := range table {
		fmt.Fprintf(w, "complete -c deployq -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.about))
	}
	for _, c := range table {
		cond := "__fish_seen_subcommand_from " + c.name
		for _, f := range append(c.allFlags(), flagSpec{name: "help", about: "show the usage"}) {
			fmt.Fprintln(w, fishFlag(cond, f))
		}
		if words := argWords(c, table); len(words) > 0 {
			fmt.Fprintf(w, "complete -c deployq -n %s -a %s\n", fishQuote(cond), fishQuote(strings.Join(words, " ")))
		}
	}
}
