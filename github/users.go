package github

import (
	"regexp"
	"strings"

	"github.com/deployq/deployq/queue"
)

// login is what GitHub allows as a login: ASCII letters, digits and '-'
// (Enterprise adds '_' and '.'), a "[bot]" suffix for apps. Nothing that
// looks like a login in another script passes for it.
var login = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(\[bot\])?$`)

// who returns the deployq user behind a GitHub account: the person the
// config lists with the first login given (or, without any login, with
// the email), else github:login (email:address), never a bare name that a
// token or a Slack user could bear. role names the account in the error:
// EInvalid for a login GitHub would not allow, an email that is not one,
// or an identity the queue refuses (control or invisible characters, too
// long).
func who(people *queue.People, role string, logins []string, email string) (string, error) {
	if err := validEmail(role, email); err != nil {
		return "", err
	}
	for _, l := range logins {
		if l == "" {
			continue
		}
		if len(l) > queue.MaxUser || !login.MatchString(l) {
			return "", queue.Errorf(queue.EInvalid, "%s %+.40q is not a GitHub login", role, l)
		}
		user, err := people.Who(queue.FromGitHub, l)
		return user, refused(role, err)
	}
	if email == "" {
		return "", queue.Errorf(queue.EInvalid, "the payload names no %s", role)
	}
	user, err := people.Who(queue.FromEmail, email)
	return user, refused(role, err)
}

// validEmail checks an email a payload gives ("" is none): one '@', no
// spaces, what the queue accepts as an identity.
func validEmail(role, email string) error {
	if email == "" {
		return nil
	}
	at := strings.Index(email, "@")
	if at <= 0 || at != strings.LastIndex(email, "@") || strings.ContainsAny(email, " \t") || queue.ValidUser(email) != nil {
		return queue.Errorf(queue.EInvalid, "the email of the %s, %+.40q, is not an email", role, email)
	}
	return nil
}

// refused names the role in an identity the queue refuses (EInvalid).
func refused(role string, err error) error {
	if err == nil {
		return nil
	}
	return queue.Errorf(queue.EInvalid, "%s: %s", role, queue.ErrorMessage(err))
}
