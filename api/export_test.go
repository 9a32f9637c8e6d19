package api

import "net/http"

// AppendEventForTest exposes appendEvent to the external tests.
var AppendEventForTest = appendEvent

// StatusesForTest exposes the table of HTTP statuses by error code.
var StatusesForTest = statuses

// WriteErrorForTest answers r with err as every handler does.
func (s *Server) WriteErrorForTest(w http.ResponseWriter, r *http.Request, err error) {
	s.writeError(w, r, err)
}
