package slack

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

const maxBody = 1 << 20

// Handlers returns the HTTP endpoints of the Events API mode, by path:
// /slack/events, /slack/commands and /slack/interactive. Every request
// must carry a valid signature.
func (a *Adapter) Handlers() map[string]http.Handler {
	return map[string]http.Handler{
		"/slack/events":      a.signed(a.events),
		"/slack/commands":    a.signed(a.commands),
		"/slack/interactive": a.signed(a.interactive),
	}
}

func httpError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// signed reads the body (capped), checks the signature, and hands the
// body on; nothing is done for a request that fails.
func (a *Adapter) signed(next func(http.ResponseWriter, *http.Request, []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			httpError(w, http.StatusMethodNotAllowed, "invalid", "POST only")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			httpError(w, http.StatusRequestEntityTooLarge, "too_large", "request body too large")
			return
		case err != nil: // it did not arrive in time, or the sender went away
			httpError(w, http.StatusRequestTimeout, "timeout", "the body did not arrive")
			return
		}
		if err := Verify(r.Header, body, a.cfg.SigningSecret, a.now()); err != nil {
			a.log.Warn("slack: refused a request", "path", r.URL.Path, "err", err)
			httpError(w, http.StatusUnauthorized, "unauthorized", err.Error())
			return
		}
		if a.ctx == nil {
			httpError(w, http.StatusServiceUnavailable, "unavailable", "starting")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next(w, r, body)
	})
}

func (a *Adapter) events(w http.ResponseWriter, r *http.Request, body []byte) {
	e, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		httpError(w, http.StatusBadRequest, "invalid", "not an Events API payload")
		return
	}
	switch e.Type {
	case slackevents.URLVerification:
		var v slackevents.ChallengeResponse
		json.Unmarshal(body, &v)
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(v.Challenge))
		return
	case slackevents.CallbackEvent:
		// Answer at once (Slack waits 3 s); a redelivery has the same id.
		w.WriteHeader(http.StatusOK)
		id := eventID(body)
		a.later(func() { a.handleEvent(e, id) })
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (a *Adapter) commands(w http.ResponseWriter, r *http.Request, _ []byte) {
	cmd, err := slackgo.SlashCommandParse(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, "invalid", "not a slash command")
		return
	}
	text, _ := a.handleSlash(cmd)
	if text == "" { // a form opened, or nothing to say
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"response_type": "ephemeral", "text": clip(Escape(text), maxText)})
}

func (a *Adapter) interactive(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	var cb slackgo.InteractionCallback
	if err == nil {
		err = json.Unmarshal([]byte(form.Get("payload")), &cb)
	}
	if err != nil {
		httpError(w, http.StatusBadRequest, "invalid", "not an interaction payload")
		return
	}
	if r := a.interact(cb); r != nil {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(r)
		return
	}
	w.WriteHeader(http.StatusOK)
}
