// Package queue is deployq's domain: apps, environments, deploys, locks and
// log lines (domain.go), the interfaces it consumes (ports.go), and the
// Service that queues, dispatches, times out, cancels and recovers
// deploys: a thin facade (service.go) over small owners, one a file, each
// with its own state. Every state change goes through one door (door.go);
// whoever must hear of a change registers a hook there. It imports only
// the standard library.
package queue
