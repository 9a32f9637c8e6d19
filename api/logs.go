package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/deployq/deployq/queue"
)

// FormatLine renders a log line as one line of text:
// "2026-01-02T15:04:05.000Z stdout [host] text".
func FormatLine(l queue.LogLine) string {
	host := ""
	if l.Host != "" {
		host = "[" + l.Host + "] "
	}
	return fmt.Sprintf("%s %-6s %s%s\n", l.Time.UTC().Format("2006-01-02T15:04:05.000Z"), l.Stream, host, l.Text)
}

// getLog serves a deploy's log: text/plain, followed with ?follow=1, or as
// server-sent events when the client accepts text/event-stream. ?after=SEQ
// (or Last-Event-ID) starts after a line already seen.
func (s *Server) getLog(w http.ResponseWriter, r *http.Request) {
	id, ok := s.deployID(w, r)
	if !ok {
		return
	}
	after := int64(0)
	for _, v := range []string{r.URL.Query().Get("after"), r.Header.Get("Last-Event-ID")} {
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, r, queue.Errorf(queue.EInvalid, "bad line number %q", v))
			return
		}
		after = n
	}
	if _, err := s.svc.Deploy(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	sse := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	follow := sse || r.URL.Query().Get("follow") == "1" || r.URL.Query().Get("follow") == "true"
	rc := http.NewResponseController(w)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if sse {
		w.Header().Set("Content-Type", "text/event-stream")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(http.StatusOK)
	rc.Flush()

	var buf []byte
	emit := func(lines []queue.LogLine) error {
		buf = buf[:0]
		for _, l := range lines {
			if sse {
				b, _ := json.Marshal(LogLine{Seq: l.Seq, Time: l.Time.UTC(), Stream: l.Stream, Host: l.Host, Text: l.Text})
				buf = fmt.Appendf(buf, "id: %d\nevent: line\ndata: %s\n\n", l.Seq, b)
			} else {
				buf = append(buf, FormatLine(l)...)
			}
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		if follow {
			return rc.Flush()
		}
		return nil
	}
	if !follow {
		for {
			lines, err := s.svc.Log(r.Context(), id, after, 5000)
			if err != nil || len(lines) == 0 {
				return
			}
			if emit(lines) != nil {
				return
			}
			after = lines[len(lines)-1].Seq
		}
	}
	d, err := s.svc.FollowLog(r.Context(), id, after, emit)
	if err != nil {
		return
	}
	if sse {
		b, _ := json.Marshal(s.deployJSON(d))
		fmt.Fprintf(w, "event: end\ndata: %s\n\n", b)
		rc.Flush()
	}
}
