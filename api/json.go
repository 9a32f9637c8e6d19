package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"time"

	"github.com/deployq/deployq/queue"
)

// Deploy is a deploy as the API shows it.
type Deploy struct {
	ID          int64           `json:"id"`
	Number      int64           `json:"number"`
	App         string          `json:"app"`
	Env         string          `json:"env"`
	Ref         string          `json:"ref"`
	SHA         string          `json:"sha"`
	PreviousSHA string          `json:"previous_sha"`
	State       queue.State     `json:"state"`
	User        string          `json:"user"`
	Source      queue.Source    `json:"source"`
	Force       bool            `json:"force"`
	Op          string          `json:"op,omitempty"`        // an app operation: scale, restart, stop, start
	Instances   int             `json:"instances,omitempty"` // for scale
	CreatedAt   *time.Time      `json:"created_at,omitempty"`
	StartedAt   *time.Time      `json:"started_at,omitempty"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
	Error       string          `json:"error"`
	Server      string          `json:"server,omitempty"` // the deployq server that runs it, or ran it
	LogURL      string          `json:"log_url"`
	Progress    *queue.Progress `json:"progress,omitempty"`
	WaitingFor  string          `json:"waiting_for,omitempty"`
	// NeedsApproval: approve and reject apply to it.
	NeedsApproval bool `json:"needs_approval,omitempty"`
	// Link is the page of the deploy where it is done outside deployq (a
	// GitHub Actions run); given with one deploy, not in lists.
	Link string `json:"link,omitempty"`
	// Params are its parameters; given with one deploy, not in lists.
	Params map[string]string `json:"params,omitempty"`
	// Bad is the mark of its sha, when that is marked bad for its app; in
	// lists and with one deploy.
	Bad *BadSHA `json:"bad,omitempty"`
}

// Environment is one app in one environment: what runs there.
type Environment struct {
	App     string  `json:"app"`
	Env     string  `json:"env"`
	Current *Deploy `json:"current"`
	Running *Deploy `json:"running"`
	Queued  int     `json:"queued"`
	Waiting int     `json:"waiting"`
	Lock    *Lock   `json:"lock"`
	Last    *Deploy `json:"last"`             // the newest deploy or operation, whatever its state
	Freeze  string  `json:"freeze,omitempty"` // what freezes the environment now
	Repo    string  `json:"repo,omitempty"`   // GitHub owner/name, for commit links
}

// Lock is a lock as the API shows it.
type Lock struct {
	Env       string     `json:"env"`
	App       string     `json:"app,omitempty"`
	Owner     string     `json:"owner"`
	Reason    string     `json:"reason"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Freeze is a one-off freeze as the API shows it.
type Freeze struct {
	Env       string     `json:"env"`
	Owner     string     `json:"owner"`
	Reason    string     `json:"reason"`
	CreatedAt time.Time  `json:"created_at"`
	EndsAt    *time.Time `json:"ends_at,omitempty"`
}

// LogLine is one log line in SSE events.
type LogLine struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Host   string    `json:"host,omitempty"`
	Text   string    `json:"text"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (s *Server) deployJSON(d *queue.Deploy) *Deploy {
	if d == nil {
		return nil
	}
	out := &Deploy{ID: d.ID, Number: d.Number, App: d.App, Env: d.Env, Ref: d.Ref, SHA: d.SHA, PreviousSHA: d.PreviousSHA,
		State: d.State, User: d.User, Source: d.Source, Force: d.Force, Op: d.Op, Instances: d.Instances, CreatedAt: timePtr(d.CreatedAt),
		StartedAt: timePtr(d.StartedAt), FinishedAt: timePtr(d.FinishedAt), Error: d.Error, Server: d.Server,
		LogURL: fmt.Sprintf("%s/api/v1/deploys/%d/log", s.baseURL, d.ID)}
	v := s.svc.View(d)
	out.Progress, out.NeedsApproval = v.Progress, v.NeedsApproval
	if v.Waiting != nil {
		out.WaitingFor = v.Waiting.Reason
	}
	return out
}

func lockJSON(l *queue.Lock) *Lock {
	if l == nil {
		return nil
	}
	return &Lock{Env: l.Env, App: l.App, Owner: l.Owner, Reason: l.Reason, CreatedAt: l.CreatedAt.UTC(), ExpiresAt: timePtr(l.ExpiresAt)}
}

func freezeJSON(f *queue.Freeze) Freeze {
	return Freeze{Env: f.Env, Owner: f.Owner, Reason: f.Reason, CreatedAt: f.CreatedAt.UTC(), EndsAt: timePtr(f.EndsAt)}
}

// statuses maps error codes to HTTP statuses: the one table.
var statuses = map[queue.Code]int{
	queue.EInvalid:      http.StatusBadRequest,
	queue.EUnauthorized: http.StatusUnauthorized,
	queue.EForbidden:    http.StatusForbidden,
	queue.ENotFound:     http.StatusNotFound,
	queue.ELocked:       http.StatusConflict,
	queue.EConflict:     http.StatusConflict,
	queue.EChecksFailed: http.StatusUnprocessableEntity,
	queue.EFrozen:       http.StatusConflict,
	queue.EUnsupported:  http.StatusNotImplemented,
	queue.EUnavailable:  http.StatusServiceUnavailable,
	queue.EDuplicate:    http.StatusConflict,
	queue.EInternal:     http.StatusInternalServerError,
}

type errorBody struct {
	Error struct {
		Code    queue.Code `json:"code"`
		Message string     `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeError answers with err: its code's status from the table (500 for
// an error without a code, logged), 413 for a body over MaxBody, 408 for
// one that did not arrive in time, 415 for one that is not JSON, 429 for
// a follower too many. A request whose client went away is not logged as
// an error: nobody waits for its answer.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, message := queue.ErrorCode(err), queue.ErrorMessage(err)
	status := statuses[code]
	var mbe *http.MaxBytesError
	var mte *mediaTypeError
	var tme *tooManyError
	switch {
	case errors.As(err, &mbe):
		status, code = http.StatusRequestEntityTooLarge, "too_large"
		message = fmt.Sprintf("request body over %d bytes", mbe.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		status, code = http.StatusRequestTimeout, "timeout"
		message = fmt.Sprintf("the request body did not arrive within %s", s.limits.BodyTimeout)
		w.Header().Set("Connection", "close")
	case errors.As(err, &mte):
		status, code, message = http.StatusUnsupportedMediaType, "unsupported_media_type", mte.Error()
	case errors.As(err, &tme):
		status, code, message = http.StatusTooManyRequests, "too_many", tme.Error()
		w.Header().Set("Retry-After", "10")
	}
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if status == http.StatusInternalServerError {
		if r.Context().Err() != nil {
			s.log.Debug("request ended: the client went away", "method", r.Method, "path", r.URL.Path, "err", err)
			return
		}
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == queue.EUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="deployq"`)
	}
	writeErrorBody(w, status, code, message)
}

// writeErrorBody writes {"error": {"code", "message"}} with status.
func writeErrorBody(w http.ResponseWriter, status int, code queue.Code, message string) {
	var body errorBody
	body.Error.Code, body.Error.Message = code, message
	writeJSON(w, status, body)
}

// mediaTypeError refuses a body that does not say it is JSON: 415.
type mediaTypeError struct{ got string }

func (e *mediaTypeError) Error() string {
	return fmt.Sprintf("the body must be JSON (Content-Type: application/json), not %q", e.got)
}

// decode reads a JSON body strictly: a *mediaTypeError unless its
// Content-Type is application/json (a page of another site can send a
// form or text/plain without asking, never JSON), EInvalid, or a field's
// own error (ttl), or the error of a body over MaxBody or past its
// deadline.
func decode(r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return &mediaTypeError{got: ct}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var qe *queue.Error
		// too large, late, or a field that says what is wrong with it
		if errors.As(err, &mbe) || errors.As(err, &qe) || errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		return queue.Errorf(queue.EInvalid, "malformed JSON body: %v", err)
	}
	if dec.More() {
		return queue.Errorf(queue.EInvalid, "malformed JSON body: more than one value")
	}
	return nil
}
