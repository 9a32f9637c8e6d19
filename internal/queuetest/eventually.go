package queuetest

import (
	"testing"
	"time"
)

// Patience is how long Eventually waits for a condition by default: long
// enough for a loaded CI machine, short of the suite's timeout.
const Patience = 2 * time.Minute

// Eventually waits until cond holds, looking again every few
// milliseconds, and fails the test saying what never happened when
// Patience runs out. It is the one way tests wait: never a sleep and then
// a check.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	EventuallyWithin(t, Patience, what, cond)
}

// EventuallyWithin is Eventually with its own deadline.
func EventuallyWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	wait := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s: %s never happened", d, what)
		}
		time.Sleep(wait)
		wait = min(wait*2, 20*time.Millisecond)
	}
}

// Receive waits for a value on ch (or its close), failing the test saying
// what never happened when Patience runs out.
func Receive[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	timer := time.NewTimer(Patience)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("waited %s: %s never happened", Patience, what)
		panic("unreachable")
	}
}
