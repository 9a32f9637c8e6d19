package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deployq/deployq/queue"
)

// DeployTrailer is the HTTP trailer that ends a followed text log: the
// deploy as it ended, in JSON, so that a follower needs no second request.
const DeployTrailer = "X-Deployq-Deploy"

// FormatLine renders a log line as one line of text:
// "2026-01-02T15:04:05.000Z stdout [host] text".
func FormatLine(l queue.LogLine) string {
	host := ""
	if l.Host != "" {
		host = "[" + l.Host + "] "
	}
	return fmt.Sprintf("%s %-6s %s%s\n", l.Time.UTC().Format("2006-01-02T15:04:05.000Z"), l.Stream, host, l.Text)
}

// flushBytes is how much of a log is gathered before it is written: a
// follower holds at most about this much besides a line.
const flushBytes = 32 << 10

// getLog serves a deploy's log: text/plain, followed with ?follow=1, or as
// server-sent events when the client accepts text/event-stream. ?after=SEQ
// (or Last-Event-ID) starts after a line already seen. Followers are
// counted (Limits); each write has WriteTimeout, so one that stops
// reading is cut.
func (s *Server) getLog(w http.ResponseWriter, r *http.Request) {
	id, ok := s.deployID(w, r)
	if !ok {
		return
	}
	after, err := logAfter(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.svc.Deploy(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	sse := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	follow := sse || r.URL.Query().Get("follow") == "1" || r.URL.Query().Get("follow") == "true"
	if follow {
		done, err := s.streams.open(id)
		if err != nil {
			s.refuseStream(w, r, err)
			return
		}
		defer done()
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if sse {
		w.Header().Set("Content-Type", "text/event-stream")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if follow {
			w.Header().Set("Trailer", DeployTrailer)
		}
	}
	w.WriteHeader(http.StatusOK)
	s.armWrite(rc)
	rc.Flush()
	// The last bytes (the end event, the trailer) get their own time.
	defer s.armWrite(rc)

	var buf []byte
	write := func() error {
		s.armWrite(rc)
		_, err := w.Write(buf)
		buf = buf[:0]
		return err
	}
	emit := func(lines []queue.LogLine) error {
		for _, l := range lines {
			if sse {
				buf = appendEvent(buf, l)
			} else {
				buf = append(buf, FormatLine(l)...)
			}
			if len(buf) >= flushBytes {
				if err := write(); err != nil {
					return err
				}
			}
		}
		if err := write(); err != nil {
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
	end, _ := json.Marshal(s.deployJSON(d))
	if sse {
		s.armWrite(rc)
		fmt.Fprintf(w, "event: end\ndata: %s\n\n", end)
		rc.Flush()
		return
	}
	w.Header().Set(DeployTrailer, string(end))
}

// logAfter is the line a log request starts after: ?after=SEQ, or the
// Last-Event-ID of a reconnecting event stream, which wins (EInvalid).
func logAfter(r *http.Request) (int64, error) {
	after := int64(0)
	for _, v := range []string{r.URL.Query().Get("after"), r.Header.Get("Last-Event-ID")} {
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, queue.Errorf(queue.EInvalid, "bad line number %q", v)
		}
		after = n
	}
	return after, nil
}

// appendEvent writes one SSE line event; its data is the JSON of LogLine,
// written by hand because a busy log has many lines a second.
func appendEvent(b []byte, l queue.LogLine) []byte {
	b = append(b, "id: "...)
	b = strconv.AppendInt(b, l.Seq, 10)
	b = append(b, "\nevent: line\ndata: {\"seq\":"...)
	b = strconv.AppendInt(b, l.Seq, 10)
	b = append(b, `,"time":"`...)
	b = l.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","stream":`...)
	b = appendJSONString(b, l.Stream)
	if l.Host != "" {
		b = append(b, `,"host":`...)
		b = appendJSONString(b, l.Host)
	}
	b = append(b, `,"text":`...)
	b = appendJSONString(b, l.Text)
	return append(b, "}\n\n"...)
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
