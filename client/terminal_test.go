package client_test

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/deployq/deployq/client"
	"github.com/deployq/deployq/internal/proctest"
)

func TestInertEscapes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		want   string
	}{
		{"text, tabs and newlines pass", []string{"deploying\tv1.2 to staging: café 🚀\n"}, "deploying\tv1.2 to staging: café 🚀\n"},
		{"window title", []string{"\x1b]0;pwned\x07"}, `\x1b]0;pwned\x07`},
		{"clear screen and cursor moves", []string{"\x1b[2J\x1b[H\x1b[1A"}, `\x1b[2J\x1b[H\x1b[1A`},
		{"colours show as text", []string{"\x1b[31mred\x1b[0m"}, `\x1b[31mred\x1b[0m`},
		{"NUL, CR, backspace, DEL", []string{"a\x00b\rc\bd\x7f"}, `a\x00b\x0dc\x08d\x7f`},
		{"C1 control (CSI)", []string{"\u009b2J"}, `\u009b2J`},
		{"a byte that is not UTF-8", []string{"\x9b2J \xff"}, `\x9b2J \xff`},
		{"bidi override", []string{"user\u202egnp.exe"}, `user\u202egnp.exe`},
		{"a character cut between writes", []string{"caf\xc3", "\xa9 \xf0\x9f", "\x9a\x80"}, "café 🚀"},
		{"a cut character never completed", []string{"caf\xc3"}, `caf\xc3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w := client.Inert(&out)
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Fatalf("got  %q\nwant %q", out.String(), tc.want)
			}
		})
	}
}

// On a terminal the writer escapes; on a pipe it passes bytes unchanged.
func TestTerminalWriterOnlyOnATerminal(t *testing.T) {
	const log = "\x1b]0;pwned\x07\x00\n"
	ctl, term := proctest.Pty(t)
	if _, err := client.NewTerminalWriter(term).Write([]byte(log)); err != nil {
		t.Fatal(err)
	}
	term.Close()
	got, _ := io.ReadAll(ctl) // EIO once the terminal side is closed
	if string(got) != `\x1b]0;pwned\x07\x00`+"\n" {
		t.Fatalf("on a terminal: %q", got)
	}

	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := client.NewTerminalWriter(pw).Write([]byte(log)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if got, _ := io.ReadAll(r); string(got) != log {
		t.Fatalf("on a pipe: %q", got)
	}
}
