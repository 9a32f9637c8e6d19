package github

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/deployq/deployq/outbox"
	gh "github.com/google/go-github/v62/github"
)

// newCourier returns the courier of the outbox messages of prefix to
// GitHub, with GitHub's retry policy.
func newCourier(prefix string, log *slog.Logger) *outbox.Courier {
	c := outbox.New("github", prefix, log)
	c.Retry = func(err error, attempts int) (bool, time.Time) { return retryAfter(c, err, attempts) }
	return c
}

// errGiveUp marks an error no retry mends.
var errGiveUp = errors.New("given up")

// retryAfter says whether err is worth another try, and when: rate
// limits say when themselves; server errors and network failures back
// off.
func retryAfter(c *outbox.Courier, err error, attempts int) (bool, time.Time) {
	backoff := c.Backoff(attempts)
	var rl *gh.RateLimitError
	var abuse *gh.AbuseRateLimitError
	var resp *gh.ErrorResponse
	switch {
	case errors.Is(err, errGiveUp):
		return false, time.Time{}
	case errors.As(err, &rl):
		return true, rl.Rate.Reset.Time.Add(time.Second)
	case errors.As(err, &abuse):
		if d := abuse.GetRetryAfter(); d > 0 {
			return true, time.Now().Add(d)
		}
		return true, time.Now().Add(backoff)
	case errors.As(err, &resp):
		code := resp.Response.StatusCode
		if code == http.StatusTooManyRequests || code >= 500 {
			if s := resp.Response.Header.Get("Retry-After"); s != "" {
				if n, err := strconv.Atoi(s); err == nil {
					return true, time.Now().Add(time.Duration(n) * time.Second)
				}
			}
			return true, time.Now().Add(backoff)
		}
		return false, time.Time{} // a 4xx will not get better by itself
	}
	return true, time.Now().Add(backoff) // the network
}
