package kubernetes

import (
	"github.com/deployq/deployq/queue"
)

// The protocol between deployq and deployq-kubernetes is JSON, one message
// a line, for one call. deployq writes a request to its stdin,
// then controls (a stop, a continue) as they come; deployq-kubernetes writes
// events to its stdout, what the runner does with its queue.Output and,
// last, the end. Then deployq closes stdin and deployq-kubernetes exits. Its
// stderr is for what client-go or a crash has to say; deployq logs it.
//
//	> {"v":1,"run":{"job":{...},"settings":{...}}}
//	< {"open":{"id":1,"stream":"stdout"}}
//	< {"write":{"id":1,"text":"deployment/web: 0 of 2 updated replicas are available\n"}}
//	< {"progress":{"phase":"rollout","done":0,"total":2,"message":"..."}}
//	> {"stop":{"why":"canceled by bob"}}
//	< {"close":{"id":1}}
//	< {"end":{"message":"undone: deployment/web","error":"canceled by bob","canceled":true}}
//
// A stop says why the run's context ended: a shutdown leaves the rollout
// to the cluster, any other cause undoes it, as queue.ErrShutdown and
// the other causes do in process. The end of deployq's stdin (deployq
// died) is a shutdown.

// protocolVersion changes when the messages do: deployq and
// deployq-kubernetes from two builds may not understand each other.
const protocolVersion = 1

// request is the first line deployq writes: one of Run, Live and Probe.
type request struct {
	V     int          `json:"v"`
	Run   *runRequest  `json:"run,omitempty"`
	Live  *liveRequest `json:"live,omitempty"`
	Probe *Settings    `json:"probe,omitempty"`
}

// runRequest is a deploy: the job, its Settings apart (the job's field is
// an interface).
type runRequest struct {
	Job      queue.Job `json:"job"`
	Settings *Settings `json:"settings"`
}

// liveRequest asks what an environment runs now, for `where`.
type liveRequest struct {
	App      string    `json:"app"`
	Env      string    `json:"env"`
	Settings *Settings `json:"settings"`
}

// control is what deployq writes after the request: one field set.
type control struct {
	Stop     *stop `json:"stop,omitempty"`
	Continue bool  `json:"continue,omitempty"`
}

// stop ends the run's context, with its cause.
type stop struct {
	Shutdown bool   `json:"shutdown,omitempty"` // deployq stops: queue.ErrShutdown
	Why      string `json:"why,omitempty"`      // any other cause: "canceled by bob"
}

// event is what deployq-kubernetes writes: one field set.
type event struct {
	Open     *streamOpen     `json:"open,omitempty"`
	Write    *streamWrite    `json:"write,omitempty"`
	Close    *streamClose    `json:"close,omitempty"`
	Progress *queue.Progress `json:"progress,omitempty"`
	Pause    *string         `json:"pause,omitempty"` // the reason
	Report   *report         `json:"report,omitempty"`
	End      *end            `json:"end,omitempty"`
}

// streamOpen is a call of Output.Stream: the writer is id from then on.
type streamOpen struct {
	ID     int    `json:"id"`
	Stream string `json:"stream"`
	Host   string `json:"host,omitempty"`
}

// streamWrite is text written to a writer: whole lines, but for a line
// too long to wait for. Bytes that are not UTF-8 arrive as U+FFFD.
type streamWrite struct {
	ID   int    `json:"id"`
	Text string `json:"text"`
}

// streamClose closes a writer.
type streamClose struct {
	ID int `json:"id"`
}

// report is one line of a probe.
type report struct {
	What  string `json:"what"`
	Error string `json:"error,omitempty"`
}

// end is the last event: how the call ended.
type end struct {
	OK       bool   `json:"ok,omitempty"`
	Message  string `json:"message,omitempty"`
	Error    string `json:"error,omitempty"`    // could not run, or why the run was stopped
	Canceled bool   `json:"canceled,omitempty"` // the run was stopped: Error is its context's cause
	Live     string `json:"live,omitempty"`
}
