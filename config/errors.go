package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is a config error, or a warning, at a line of a file.
type Error struct {
	File string
	Line int
	Key  string // dotted path, e.g. apps[web].environments[staging].timeout
	Msg  string
	// Warning: the config works, but some deploys will not go as one
	// would think (see Config.Warnings).
	Warning bool
}

func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		s += ": " + e.Key
	}
	if e.Warning {
		s += ": warning"
	}
	return s + ": " + e.Msg
}

// Errors are all the errors of a config, in file order. Parse returns
// them all at once; Error says one a line.
type Errors []*Error

func (l Errors) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives each error to errors.Is and errors.As.
func (l Errors) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// inFileOrder sorts by line (errors without a line first, as they are
// about the whole file) and drops repeats, which top-level environments
// give once per app.
func (l Errors) inFileOrder() Errors {
	sort.SliceStable(l, func(i, j int) bool { return l[i].Line < l[j].Line })
	seen := map[Error]bool{}
	var out Errors
	for _, e := range l {
		if !seen[*e] {
			seen[*e] = true
			out = append(out, e)
		}
	}
	return out
}

// fail records an error at n's line. A key whose value could not be
// decoded gets no more errors: they would only say the same again.
func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	if d.badValue[key] {
		return
	}
	d.errs = append(d.errs, d.at(n, key, fmt.Sprintf(format, args...)))
}

// failValue records that the value at key could not be decoded.
func (d *decoder) failValue(n *yaml.Node, key, format string, args ...any) {
	d.fail(n, key, format, args...)
	if d.badValue == nil {
		d.badValue = map[string]bool{}
	}
	d.badValue[key] = true
}

// warn records a warning at n's line.
func (d *decoder) warn(n *yaml.Node, key, format string, args ...any) {
	e := d.at(n, key, fmt.Sprintf(format, args...))
	e.Warning = true
	d.warns = append(d.warns, e)
}

// failEach records each of the errors err joins (errors.Join), or err.
func (d *decoder) failEach(n *yaml.Node, key string, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			d.failEach(n, key, e)
		}
		return
	}
	if err != nil {
		d.fail(n, key, "%s", err)
	}
}

func (d *decoder) at(n *yaml.Node, key, msg string) *Error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: d.file, Line: line, Key: key, Msg: msg}
}
