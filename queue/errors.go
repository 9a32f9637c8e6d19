package queue

import (
	"errors"
	"fmt"
)

// Code classifies an error for callers: the HTTP API maps each code to a
// status in one table, chat adapters print the message.
type Code string

// Error codes returned across deployq.
const (
	EInvalid      Code = "invalid"       // bad input: a typo, an unknown ref
	EUnauthorized Code = "unauthorized"  // no or a bad token
	EForbidden    Code = "forbidden"     // known user, not allowed
	ENotFound     Code = "not_found"     // unknown app, env or deploy
	ELocked       Code = "locked"        // the scope is locked by someone else
	EConflict     Code = "conflict"      // the deploy is not in a state for that
	EChecksFailed Code = "checks_failed" // required checks failed
	EFrozen       Code = "frozen"        // the environment is in a freeze
	EUnsupported  Code = "unsupported"   // the runner or server cannot do that
	EUnavailable  Code = "unavailable"   // the database cannot be written now (a full disk); try again
	EDuplicate    Code = "duplicate"     // a delivery (webhook, chat command) that was done already
	EInternal     Code = "internal"      // a bug or an outside failure
)

// Error is an error with a code and a message meant for the person who
// caused it.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EInternal for an error without one and
// "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of err meant for people; internal
// errors get a generic text, their detail belongs in the server log.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	if err == nil {
		return ""
	}
	return "internal error"
}
