package api

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
)

// What one peer may hold of the server, and for how long: a body that
// stops arriving is cut, bodies from senders not known yet are read a few
// at a time, a reader that stops reading is cut, and the log followers and
// event streams are counted.

// Limits bound what peers can hold. Zero fields take their defaults.
type Limits struct {
	// BodyTimeout bounds the reading of a request body (default 10s).
	BodyTimeout time.Duration
	// WriteTimeout bounds each write of a response: a client that stops
	// reading, a log follower above all, is cut after it (default 30s).
	WriteTimeout time.Duration
	// OpenBodies caps the bodies read at once from senders not known yet:
	// webhooks, Slack, sign-in, and the API of an open server (default
	// 8). One more waits up to a second for its turn, then is answered
	// 503.
	OpenBodies int
	// Followers caps the log followers and event streams open at once
	// (default 500; over it: 503); FollowersPerDeploy caps those of one
	// deploy's log (default 50; over it: 429).
	Followers, FollowersPerDeploy int
}

func (l Limits) withDefaults() Limits {
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = 10 * time.Second
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = 30 * time.Second
	}
	if l.OpenBodies <= 0 {
		l.OpenBodies = 8
	}
	if l.Followers <= 0 {
		l.Followers = 500
	}
	if l.FollowersPerDeploy <= 0 {
		l.FollowersPerDeploy = 50
	}
	return l
}

// bodyTurnWait is how long a body of an unknown sender waits for its turn.
const bodyTurnWait = time.Second

// hasBody reports whether a request comes with a body still to read.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// deadlines gives every response WriteTimeout to be written (streams
// extend it before each write: armWrite) and every request body
// BodyTimeout to arrive. A read past it fails, and the handler answers
// 408; the connection is closed.
func (s *Server) deadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		rc.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout))
		if hasBody(r) {
			// The server clears this deadline itself once the body is
			// read to its end.
			rc.SetReadDeadline(time.Now().Add(s.limits.BodyTimeout))
		}
		next.ServeHTTP(w, r)
	})
}

// armWrite gives the next write of a stream WriteTimeout.
func (s *Server) armWrite(rc *http.ResponseController) {
	rc.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout))
}

// unknownSender lets OpenBodies bodies of senders not known yet be read
// at once: webhooks and Slack (who prove who they are by a signature over
// the whole body), sign-in, an open API. A turn ends when the body has
// been read or the handler returns.
func (s *Server) unknownSender(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hasBody(r) {
			next.ServeHTTP(w, r)
			return
		}
		wait := time.NewTimer(bodyTurnWait)
		defer wait.Stop()
		select {
		case s.bodyTurns <- struct{}{}:
		case <-wait.C:
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Connection", "close")
			writeErrorBody(w, http.StatusServiceUnavailable, queue.EUnavailable,
				"too many request bodies are being read; try again in a moment")
			return
		case <-r.Context().Done():
			return
		}
		body := &turnBody{ReadCloser: r.Body, done: func() { <-s.bodyTurns }}
		defer body.end()
		r.Body = body
		next.ServeHTTP(w, r)
	})
}

// turnBody ends its turn when it has been read to the end, or failed.
type turnBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *turnBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.end()
	}
	return n, err
}

func (b *turnBody) end() { b.once.Do(b.done) }
