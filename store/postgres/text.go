package postgres

import (
	"strings"
	"unicode/utf8"
)

// clean makes free text (an error, a reason, a message body) fit a text
// column, which holds UTF-8 without NUL: what does not fit becomes
// U+FFFD. A write must not fail forever over a stray byte in a runner's
// error. Log lines are bytes, and are kept as they are.
func clean(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
