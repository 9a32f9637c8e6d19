package kubernetes

import (
	"strings"
	"testing"
)

// What deployq-kubernetes says on stderr is logged a line at a time, and
// a line that never ends is cut rather than held whole.
func TestStderrLogIsBounded(t *testing.T) {
	var logged []string
	s := &stderrLog{log: func(l string) { logged = append(logged, l) }}
	for i := range 7 {
		s.Write([]byte("line " + strings.Repeat("x", i) + "\n"))
	}
	if len(logged) != 7 || len(s.tail) != tailLines || s.tail[0] != "line xx" {
		t.Fatalf("logged %d lines, kept %q", len(logged), s.tail)
	}
	chunk := []byte(strings.Repeat("y", 1<<20))
	for range 16 {
		s.Write(chunk)
	}
	if len(s.partial) > maxStderrLine {
		t.Fatalf("a line without end holds %d bytes", len(s.partial))
	}
	if last := s.last(); !strings.HasPrefix(last, ": it said: line xx; ") || len(last) > maxStderrLine+200 {
		t.Fatalf("last: %.80q (%d bytes)", last, len(last))
	}
}
