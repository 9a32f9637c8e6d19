package deploy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// What the tests read of a Dockerfile: its global ARGs and its stages,
// each a list of instructions with continuation lines joined and comments
// dropped, as Docker reads them (heredocs aside, which it does not use).

type instruction struct {
	cmd  string // FROM, RUN...: upper case
	args string // the rest of the instruction
	line int    // where it starts
}

type stage struct {
	name   string // after AS
	from   string // the image, with the global ARGs expanded
	instrs []instruction
}

type dockerfile struct {
	globalArgs map[string]string // ARG name=default before the first FROM
	stages     []*stage
}

func parseDockerfile(text string) (*dockerfile, error) {
	df := &dockerfile{globalArgs: map[string]string{}}
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		if err := df.add(strings.TrimSpace(cur.String()), start); err != nil {
			return nil, err
		}
		cur.Reset()
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("line %d: the file ends in a continuation", start)
	}
	if len(df.stages) == 0 {
		return nil, errors.New("no FROM")
	}
	return df, nil
}

func (df *dockerfile) add(text string, line int) error {
	cmd, args, _ := strings.Cut(text, " ")
	in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: line}
	switch {
	case in.cmd == "FROM":
		f := strings.Fields(in.args)
		for len(f) > 0 && strings.HasPrefix(f[0], "--") {
			f = f[1:]
		}
		if len(f) != 1 && (len(f) != 3 || !strings.EqualFold(f[1], "AS")) {
			return fmt.Errorf("line %d: FROM %s: want IMAGE [AS NAME]", line, in.args)
		}
		s := &stage{from: os.Expand(f[0], func(k string) string { return df.globalArgs[k] })}
		if len(f) == 3 {
			s.name = f[2]
		}
		df.stages = append(df.stages, s)
	case len(df.stages) == 0 && in.cmd == "ARG":
		name, def, _ := strings.Cut(in.args, "=")
		df.globalArgs[name] = def
	case len(df.stages) == 0:
		return fmt.Errorf("line %d: %s before the first FROM", line, in.cmd)
	default:
		s := df.stages[len(df.stages)-1]
		s.instrs = append(s.instrs, in)
	}
	return nil
}

// all returns the stage's instructions of one kind.
func (s *stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// last returns the args of the stage's last instruction of one kind (the
// one in force), or "".
func (s *stage) last(cmd string) string {
	all := s.all(cmd)
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1].args
}

// env returns the stage's ENV settings, KEY=VALUE.
func (s *stage) env() []string {
	var out []string
	for _, in := range s.all("ENV") {
		out = append(out, strings.Fields(in.args)...)
	}
	return out
}

// declared reports whether the stage declares an ARG.
func (s *stage) declared(name string) bool {
	for _, in := range s.all("ARG") {
		if n, _, _ := strings.Cut(in.args, "="); n == name {
			return true
		}
	}
	return false
}

// execForm parses the JSON array form of CMD, ENTRYPOINT and the like.
func execForm(args string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(args), &out); err != nil {
		return nil, fmt.Errorf("%s: not the exec (JSON array) form: %v", args, err)
	}
	return out, nil
}

// goBuild returns the arguments of the first stage's `go build`, with the
// build arguments replaced by values and the output by out, and the
// stage's environment: the command the image's binary is built with.
func (df *dockerfile) goBuild(values map[string]string, out string) (args, env []string, err error) {
	s := df.stages[0]
	for _, in := range s.all("RUN") {
		_, cmd, ok := strings.Cut(in.args, "go build ")
		if !ok {
			continue
		}
		cmd, _, _ = strings.Cut(cmd, "&&")
		words, err := shellWords(cmd)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %v", in.line, err)
		}
		var undeclared []string
		args = []string{"build"}
		for i, w := range words {
			if i > 0 && words[i-1] == "-o" {
				w = out
			}
			args = append(args, os.Expand(w, func(k string) string {
				if !s.declared(k) {
					undeclared = append(undeclared, k)
				}
				return values[k]
			}))
		}
		if len(undeclared) > 0 {
			return nil, nil, fmt.Errorf("line %d: the build stage uses %s without an ARG: they would be empty", in.line, strings.Join(undeclared, ", "))
		}
		if !slices.Contains(words, "-o") {
			return nil, nil, fmt.Errorf("line %d: go build without -o", in.line)
		}
		return args, s.env(), nil
	}
	return nil, nil, errors.New("the first stage runs no go build")
}

// shellWords splits a command line as sh would, for the quoting a build
// command uses: words, "double" and 'single' quotes.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case r == ';' || r == '|' || r == '&':
			return nil, fmt.Errorf("%q: one command expected", s)
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("%q: unterminated quote", s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
