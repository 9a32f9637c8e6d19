package client

import (
	"fmt"
	"io"
	"os"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"
)

// TerminalWriter is how the CLI shows what a server sent (deploy logs,
// names, lock reasons, error messages). On a terminal it renders inert
// everything the terminal would act on: control characters (ESC, NUL,
// BEL, CR, backspace, DEL) are shown as \x1b, C1 controls and
// bidirectional controls as \u009b or \u202e, and bytes that are not
// UTF-8 as \x9b; newlines and tabs pass. So a log can neither move the
// cursor, clear the screen, retitle the window nor reorder what is shown,
// and colour codes show as text. Anywhere else (a file, a pipe) it passes
// the bytes as they came, so that `deployq logs 7 > log` keeps the log as
// it is and `deployq logs 7 | less -R` shows its colours.
type TerminalWriter struct {
	w     io.Writer
	inert bool

	mu   sync.Mutex
	tail []byte // the start of a character cut by the end of a write
	buf  []byte
}

// NewTerminalWriter returns a writer to f that renders control characters
// inert if f is a terminal, and passes bytes unchanged if it is not.
func NewTerminalWriter(f *os.File) *TerminalWriter {
	return &TerminalWriter{w: f, inert: term.IsTerminal(int(f.Fd()))}
}

// Inert returns a writer to w that always renders control characters
// inert, as on a terminal.
func Inert(w io.Writer) *TerminalWriter { return &TerminalWriter{w: w, inert: true} }

// Write writes p, escaped on a terminal. A character cut by the end of p
// is held until the next Write (or Flush) completes it.
func (w *TerminalWriter) Write(p []byte) (int, error) {
	if !w.inert {
		return w.w.Write(p)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	in := p
	if len(w.tail) > 0 {
		in = append(w.tail, p...)
	}
	var tail []byte
	w.buf, tail = appendInert(w.buf[:0], in)
	w.tail = append([]byte(nil), tail...)
	if _, err := w.w.Write(w.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes what Write held back: the start of a character that no
// later write completed, shown as the bytes it is.
func (w *TerminalWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.tail) == 0 {
		return nil
	}
	w.buf = w.buf[:0]
	for _, c := range w.tail {
		w.buf = fmt.Appendf(w.buf, `\x%02x`, c)
	}
	w.tail = nil
	_, err := w.w.Write(w.buf)
	return err
}

// appendInert appends p to b with what a terminal would act on escaped.
// It returns the start of a character cut by the end of p, not appended.
func appendInert(b, p []byte) (_, tail []byte) {
	for len(p) > 0 {
		c := p[0]
		if c < utf8.RuneSelf {
			if c == '\n' || c == '\t' || (c >= ' ' && c != 0x7f) {
				b = append(b, c)
			} else {
				b = fmt.Appendf(b, `\x%02x`, c)
			}
			p = p[1:]
			continue
		}
		if !utf8.FullRune(p) {
			return b, p
		}
		r, n := utf8.DecodeRune(p)
		switch {
		case r == utf8.RuneError && n == 1:
			b = fmt.Appendf(b, `\x%02x`, c)
		case r <= 0x9f || unicode.Is(unicode.Bidi_Control, r): // C1 controls, bidi
			b = fmt.Appendf(b, `\u%04x`, r)
		default:
			b = append(b, p[:n]...)
		}
		p = p[n:]
	}
	return b, nil
}
