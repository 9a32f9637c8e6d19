package queue

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of what people type that deployq keeps and shows.
const (
	MaxUser   = 100 // bytes of a user name or identity
	MaxReason = 500 // characters of a reason (a lock, a freeze, a rejection)
)

// ValidUser checks an identity where it enters: a user name, a lock's
// owner, whoever an adapter says acts. It must be printable text of at
// most MaxUser bytes: no control characters (NUL, newlines), no
// invisible formatting (right-to-left overrides and the like), no spaces
// at either end. It returns EInvalid saying why.
func ValidUser(s string) error {
	switch {
	case s == "":
		return Errorf(EInvalid, "a user is required")
	case len(s) > MaxUser:
		return Errorf(EInvalid, "user %+q… is too long (at most %d bytes)", s[:20], MaxUser)
	case !utf8.ValidString(s):
		return Errorf(EInvalid, "user %+q is not UTF-8", s)
	case strings.TrimSpace(s) != s:
		return Errorf(EInvalid, "user %+q starts or ends with a space", s)
	}
	for _, r := range s {
		if hidden(r) {
			return Errorf(EInvalid, "user %+q holds a control or invisible character (%U)", s, r)
		}
	}
	return nil
}

// CleanReason normalizes a reason where it enters: line breaks and tabs
// become spaces, other control and invisible formatting characters go,
// spaces at either end go. Longer than MaxReason characters is EInvalid.
func CleanReason(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", Errorf(EInvalid, "the reason is not UTF-8")
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case hidden(r):
		default:
			b.WriteRune(r)
		}
	}
	out := strings.TrimSpace(b.String())
	if n := utf8.RuneCountInString(out); n > MaxReason {
		return "", Errorf(EInvalid, "the reason is too long (%d characters; at most %d)", n, MaxReason)
	}
	return out, nil
}

// hidden reports control characters and invisible formatting (bidi
// overrides and isolates, zero-width characters): what would let text
// hide or disguise what it says.
func hidden(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
}

// Identity sources: where a user comes from when no person claims them.
const (
	FromGitHub = "github"
	FromSlack  = "slack"
	FromEmail  = "email"
)

// Person is someone known by several identities (config: people). Their
// name is their deployq user wherever they come from: a token of that
// name, a GitHub login, a Slack user or an email they are listed with.
type Person struct {
	Name   string
	GitHub []string // logins
	Slack  []string // user ids (U0123ABCD) or user names
	Emails []string
}

// People says who is behind an identity. Identities of different sources
// never meet: a GitHub login, a Slack user and a token's name are
// different users unless one person lists them.
type People struct {
	byID   map[string]string   // "github:octocat" (lower case) -> person
	idsOf  map[string][]string // person -> their identities, as rules name them
	people []Person
}

// NewPeople checks a list of people: valid names, each identity claimed
// by one person only.
func NewPeople(ps []Person) (*People, error) {
	p := &People{byID: map[string]string{}, idsOf: map[string][]string{}, people: ps}
	for _, x := range ps {
		if err := ValidUser(x.Name); err != nil {
			return nil, err
		}
		if strings.Contains(x.Name, ":") {
			return nil, Errorf(EInvalid, "person %q: a name has no ':' (it is kept for github:login, slack:user)", x.Name)
		}
		if _, dup := p.idsOf[x.Name]; dup {
			return nil, Errorf(EInvalid, "person %q is listed twice", x.Name)
		}
		p.idsOf[x.Name] = nil
		for _, src := range []struct {
			from string
			ids  []string
		}{{FromGitHub, x.GitHub}, {FromSlack, x.Slack}, {FromEmail, x.Emails}} {
			for _, id := range src.ids {
				key := qualified(src.from, id)
				if other, dup := p.byID[strings.ToLower(key)]; dup {
					return nil, Errorf(EInvalid, "%s is claimed by %s and %s", key, other, x.Name)
				}
				p.byID[strings.ToLower(key)] = x.Name
				p.idsOf[x.Name] = append(p.idsOf[x.Name], key)
				if src.from == FromEmail {
					p.idsOf[x.Name] = append(p.idsOf[x.Name], id) // rules name emails bare
				}
			}
		}
	}
	return p, nil
}

func qualified(from, id string) string { return from + ":" + id }

// Who returns the deployq user of an identity of a source: the person who
// lists it, else "source:id" (github:octocat), never a bare name that a
// token or a person could also bear. The result is checked (ValidUser).
func (p *People) Who(from, id string) (string, error) {
	key := qualified(from, id)
	if p != nil {
		if name, ok := p.byID[strings.ToLower(key)]; ok {
			return name, nil
		}
	}
	if err := ValidUser(key); err != nil {
		return "", fmt.Errorf("%s identity: %w", from, err)
	}
	return key, nil
}

// IdentitiesOf returns what a person is known as besides their name, for
// the rules (deployers, lockers, approvers, admins) that name them so.
func (p *People) IdentitiesOf(user string) []string {
	if p == nil {
		return nil
	}
	return p.idsOf[user]
}
