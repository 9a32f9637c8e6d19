package queue

import "context"

// notifiers tell the adapters (chat, GitHub, metrics, the event stream)
// of every change of a deploy and of locks.
type notifiers []Notifier

func (ns notifiers) deploy(d *Deploy) {
	for _, n := range ns {
		c := *d
		n.DeployChanged(&c)
	}
}

func (ns notifiers) lock(l *Lock, locked bool) {
	for _, n := range ns {
		c := *l
		n.LockChanged(&c, locked)
	}
}

// onChange is the door's hook: every stored change is told.
func (ns notifiers) onChange(_ context.Context, c change) { ns.deploy(c.d) }
