package queue

import "context"

// Letter is a message to an outside service that a deploy's change owes
// (a GitHub status, the end of a deploy in chat): it goes into the
// outbox in the transaction of the change, so that a server that dies
// a moment after the change still owes it, and any server sharing the
// store delivers it.
type Letter struct{ Key, Body string }

// A Mailer is a Notifier whose messages must not be lost: for every
// deploy created or moved to another state, the door asks it for the
// letters the deploy, as it is about to be stored, owes.
type Mailer interface {
	Letters(d *Deploy) []Letter
}

type lettersKey struct{}

// WithLetters returns ctx carrying mail: a Store that creates or changes
// a deploy with that context adds mail(d) (d as stored, with its ID) to
// the outbox in the same transaction; when the write does not land,
// neither do they.
func WithLetters(ctx context.Context, mail func(d *Deploy) []Letter) context.Context {
	return context.WithValue(ctx, lettersKey{}, mail)
}

// LettersOf returns the letters a context from WithLetters owes for d
// (none without one).
func LettersOf(ctx context.Context, d *Deploy) []Letter {
	mail, _ := ctx.Value(lettersKey{}).(func(*Deploy) []Letter)
	if mail == nil {
		return nil
	}
	return mail(d)
}

// HasLetters reports whether ctx carries letters (WithLetters).
func HasLetters(ctx context.Context) bool {
	mail, _ := ctx.Value(lettersKey{}).(func(*Deploy) []Letter)
	return mail != nil
}

// mailers are the Mailers among the notifiers.
type mailers []Mailer

func mailersOf(ns []Notifier) mailers {
	var ms mailers
	for _, n := range ns {
		if m, ok := n.(Mailer); ok {
			ms = append(ms, m)
		}
	}
	return ms
}

// letters is what every mailer owes for d.
func (ms mailers) letters(d *Deploy) []Letter {
	var out []Letter
	for _, m := range ms {
		c := *d
		out = append(out, m.Letters(&c)...)
	}
	return out
}

// with returns ctx carrying the mailers' letters, or ctx when there are
// no mailers.
func (ms mailers) with(ctx context.Context) context.Context {
	if len(ms) == 0 {
		return ctx
	}
	return WithLetters(ctx, ms.letters)
}
