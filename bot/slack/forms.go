package slack

import (
	"unicode/utf8"

	"github.com/deployq/deployq/queue"
	slackgo "github.com/slack-go/slack"
)

// The pieces forms are made of, and reading what a submitted form holds.

// Slack's bounds on a view: blocks, options of a static select, and the
// characters of an option's text and value.
const (
	maxBlocks      = 100
	maxOptions     = 100
	maxOptionText  = 75
	maxOptionValue = 150
)

// option is one choice of a select: value, shown as text (bounded).
func option(value, text string) *slackgo.OptionBlockObject {
	return slackgo.NewOptionBlockObject(value, plain(clip(text, maxOptionText)), nil)
}

// staticSelect is a select of options, the one whose value is initial
// chosen.
func staticSelect(action, placeholder string, options []*slackgo.OptionBlockObject, initial string) *slackgo.SelectBlockElement {
	s := slackgo.NewOptionsSelectBlockElement(slackgo.OptTypeStatic, plain(placeholder), action, options...)
	for _, o := range options {
		if o.Value == initial {
			s.WithInitialOption(o)
		}
	}
	return s
}

// textInput is a one-line text field, holding initial, taking at most max
// characters.
func textInput(action, initial string, max int) *slackgo.PlainTextInputBlockElement {
	e := slackgo.NewPlainTextInputBlockElement(nil, action).WithMaxLength(max)
	if initial != "" {
		e.WithInitialValue(initial)
	}
	return e
}

// input is a form's field.
func input(block, label, hint string, e slackgo.BlockElement, optional bool) *slackgo.InputBlock {
	var h *slackgo.TextBlockObject
	if hint != "" {
		h = plain(hint)
	}
	return slackgo.NewInputBlock(block, plain(label), h, e).WithOptional(optional)
}

// stateOf is what a field of a view holds: its element's value.
func stateOf(v slackgo.View, block, action string) (slackgo.BlockAction, bool) {
	if v.State == nil {
		return slackgo.BlockAction{}, false
	}
	s, ok := v.State.Values[block][action]
	return s, ok
}

// chosen is the value of the option chosen in a select ("" none).
func chosen(v slackgo.View, block, action string) string {
	s, _ := stateOf(v, block, action)
	return bounded(s.SelectedOption.Value, maxOptionValue)
}

// typed is what was typed in a text field, and whether the field is
// there; text past max characters is refused where it is checked.
func typed(v slackgo.View, block, action string, max int) (string, bool) {
	s, ok := stateOf(v, block, action)
	return bounded(s.Value, max+1), ok
}

// bounded cuts s to n characters (more is never kept, and is longer
// than any field takes, so it is refused where it is checked).
func bounded(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// findApp is the configured app of that name (nil: none).
func findApp(apps []*queue.App, name string) *queue.App {
	for _, a := range apps {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// envNames are the environments of every app, each once, in the order
// of the config.
func envNames(apps []*queue.App) []string {
	var names []string
	seen := map[string]bool{}
	for _, a := range apps {
		for _, e := range a.Environments {
			if !seen[e.Name] {
				seen[e.Name] = true
				names = append(names, e.Name)
			}
		}
	}
	return names
}
