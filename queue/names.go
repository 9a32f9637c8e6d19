package queue

import (
	"regexp"
	"strings"
)

var (
	nameRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
	refRe   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./+-]{0,199}$`)
	shaRe   = regexp.MustCompile(`^[0-9a-f]{7,40}$`)
	fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// ValidName reports whether s can name an app or an environment: lower
// case letters, digits, '-', '_' and '.', starting with a letter or digit.
func ValidName(s string) bool { return nameRe.MatchString(s) }

// ValidRef reports whether s is a ref deployq accepts: a sha, branch or
// tag made of letters, digits and "_./+-", not starting with '-' or '.',
// without "..", "//", "@{" or a ".lock" component. Anything a shell or git
// could read as syntax is refused.
func ValidRef(s string) bool {
	if !refRe.MatchString(s) {
		return false
	}
	if strings.Contains(s, "..") || strings.Contains(s, "//") || strings.HasSuffix(s, "/") ||
		strings.HasSuffix(s, ".") {
		return false
	}
	for _, part := range strings.Split(s, "/") {
		if part == "" || strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return false
		}
	}
	return true
}

// LooksLikeSHA reports whether ref is 7 to 40 lower-case hex digits.
func LooksLikeSHA(ref string) bool { return shaRe.MatchString(ref) }

// IsFullSHA reports whether s is exactly 40 lower-case hex digits.
func IsFullSHA(s string) bool { return fullSHA.MatchString(s) }

// ShortSHA returns the first 7 characters of a sha.
func ShortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
