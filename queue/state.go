package queue

// State is where a deploy is in its life.
type State string

// The states of a deploy. waiting -> queued -> running -> (verifying ->)
// one of the terminal states.
const (
	StateWaiting     State = "waiting"     // for required checks, approval or a freeze window
	StateQueued      State = "queued"      // accepted, waits its turn
	StateRunning     State = "running"     // a runner has it
	StateVerifying   State = "verifying"   // its runner succeeded; its environment's checks watch it
	StateSucceeded   State = "succeeded"   // the runner finished well
	StateFailed      State = "failed"      // the runner failed, timed out, or could not run
	StateCanceled    State = "canceled"    // someone canceled it
	StateInterrupted State = "interrupted" // the server stopped while it ran
	StateSuperseded  State = "superseded"  // a newer auto-deploy replaced it before it ran
)

// States lists every state, in life order.
var States = []State{StateWaiting, StateQueued, StateRunning, StateVerifying, StateSucceeded,
	StateFailed, StateCanceled, StateInterrupted, StateSuperseded}

// transitions is the one table of allowed moves. Every state change in
// deployq goes through CanTransition.
var transitions = map[State][]State{
	StateWaiting:   {StateQueued, StateFailed, StateCanceled, StateSuperseded},
	StateQueued:    {StateRunning, StateFailed, StateCanceled, StateSuperseded},
	StateRunning:   {StateVerifying, StateSucceeded, StateFailed, StateCanceled, StateInterrupted},
	StateVerifying: {StateSucceeded, StateFailed, StateCanceled, StateInterrupted},
}

// Holding lists the states in which a deploy holds its lane and a server
// holds it (under a lease when several share the store): running and
// verifying.
var Holding = []State{StateRunning, StateVerifying}

// Holds reports whether a deploy in state s holds its lane: it runs, or
// its verification does.
func (s State) Holds() bool { return s == StateRunning || s == StateVerifying }

// CanTransition reports whether a deploy may move from one state to another.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Terminal reports whether s is an end state.
func (s State) Terminal() bool {
	switch s {
	case StateSucceeded, StateFailed, StateCanceled, StateInterrupted, StateSuperseded:
		return true
	}
	return false
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	for _, k := range States {
		if k == s {
			return true
		}
	}
	return false
}
