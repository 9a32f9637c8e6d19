package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
)

// Headers of a webhook delivery.
const (
	HeaderEvent     = "X-Deployq-Event"
	HeaderDelivery  = "X-Deployq-Delivery"
	HeaderTimestamp = "X-Deployq-Timestamp"
	HeaderSignature = "X-Deployq-Signature"
)

// Sign is the signature of a webhook delivery: "v1=" and the hex
// HMAC-SHA256, keyed with the sink's secret, of the timestamp (unix
// seconds, as in HeaderTimestamp), a dot, and the body.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// statusError is an answer other than 2xx.
type statusError struct {
	code       int
	retryAfter time.Duration
	body       string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.code, e.body)
}

// errGiveUp marks a message no retry delivers.
var errGiveUp = errors.New("given up")

// retry says whether a failed send is worth another try, and when: a
// 429 or a 5xx when the answer says (Retry-After) or backing off, the
// network backing off; another 4xx never.
func (n *Notifier) retry(err error, attempts int) (bool, time.Time) {
	var se *statusError
	switch {
	case errors.Is(err, errGiveUp):
		return false, time.Time{}
	case errors.As(err, &se) && (se.code == http.StatusTooManyRequests || se.code >= 500):
		if se.retryAfter > 0 {
			return true, time.Now().Add(se.retryAfter)
		}
	case errors.As(err, &se):
		return false, time.Time{}
	}
	return true, time.Now().Add(n.courier.Backoff(attempts))
}

// send delivers one outbox message to its sink.
func (n *Notifier) send(ctx context.Context, it queue.OutboxItem) error {
	s := n.sinkOf(it.Key)
	if s == nil {
		return fmt.Errorf("%w: no sink for %s in the config", errGiveUp, it.Key)
	}
	var e Event
	if err := json.Unmarshal([]byte(it.Body), &e); err != nil {
		return fmt.Errorf("%w: %v", errGiveUp, err)
	}
	switch s.Kind {
	case KindWebhook:
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		h := http.Header{HeaderEvent: {e.Event}, HeaderDelivery: {strconv.FormatInt(it.ID, 10)}, HeaderTimestamp: {ts}}
		if s.Secret != "" {
			h.Set(HeaderSignature, Sign(s.Secret, ts, []byte(it.Body)))
		}
		_, err := n.post(ctx, http.MethodPost, s.URL, h, []byte(it.Body))
		return err
	case KindMattermost:
		if s.Token != "" {
			return n.mattermostBot(ctx, s, it, e)
		}
		body, _ := json.Marshal(map[string]string{"text": mattermostText(e), "username": "deployq"})
		_, err := n.post(ctx, http.MethodPost, s.URL, nil, body)
		return err
	case KindDiscord:
		return n.discord(ctx, s, it, e)
	case KindTeams:
		body, _ := json.Marshal(teamsCard(e))
		_, err := n.post(ctx, http.MethodPost, s.URL, nil, body)
		return err
	}
	return fmt.Errorf("%w: unknown kind of sink %q", errGiveUp, s.Kind)
}

// discord posts the first event of a deploy and edits that message with
// the next ones; locks and freezes get a message each.
func (n *Notifier) discord(ctx context.Context, s *Sink, it queue.OutboxItem, e Event) error {
	content := discordText(e)
	mentions := map[string]any{"parse": []string{}}
	return n.inPlace(ctx, s, it, func() ([]byte, error) {
		u := s.URL
		if strings.Contains(u, "?") {
			u += "&wait=true"
		} else {
			u += "?wait=true"
		}
		body, _ := json.Marshal(map[string]any{"content": content, "username": "deployq", "allowed_mentions": mentions})
		return n.post(ctx, http.MethodPost, u, nil, body)
	}, func(msg string) error {
		edit, _ := json.Marshal(map[string]any{"content": content, "allowed_mentions": mentions})
		_, err := n.post(ctx, http.MethodPatch, strings.TrimSuffix(s.URL, "/")+"/messages/"+msg, nil, edit)
		return err
	})
}

// mattermostBot posts the first event of a deploy to the sink's channel
// as its bot (Mattermost's REST API, the token as a bearer) and edits
// that post with the next ones; locks and freezes get a post each.
func (n *Notifier) mattermostBot(ctx context.Context, s *Sink, it queue.OutboxItem, e Event) error {
	text := mattermostText(e)
	api := strings.TrimSuffix(s.URL, "/") + "/api/v4/posts"
	auth := http.Header{"Authorization": {"Bearer " + s.Token}}
	return n.inPlace(ctx, s, it, func() ([]byte, error) {
		body, _ := json.Marshal(map[string]string{"channel_id": s.Channel, "message": text})
		return n.post(ctx, http.MethodPost, api, auth, body)
	}, func(post string) error {
		body, _ := json.Marshal(map[string]string{"message": text})
		_, err := n.post(ctx, http.MethodPut, api+"/"+url.PathEscape(post)+"/patch", auth, body)
		return err
	})
}

// inPlace sends a deploy's first message with post, which answers with
// the message (its "id" is kept with the deploy), and the next ones with
// edit, given that id. Messages of no deploy (locks, freezes), and those
// whose answer had no id, are each posted anew.
func (n *Notifier) inPlace(ctx context.Context, s *Sink, it queue.OutboxItem, post func() ([]byte, error), edit func(id string) error) error {
	id := deployOf(it.Key)
	metaKey := "notify." + s.Name + ".message"
	if id != 0 {
		if msg, err := n.svc.Meta(ctx, id, metaKey); err == nil && msg != "" {
			return edit(msg)
		}
	}
	answer, err := post()
	if err != nil || id == 0 {
		return err
	}
	var m struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(answer, &m); err != nil || m.ID == "" {
		return nil // posted; the next event posts anew
	}
	if err := n.svc.SetMeta(context.WithoutCancel(ctx), id, metaKey, m.ID); err != nil {
		n.log.Error("notify: keeping a message's id", "sink", s.Name, "deploy", id, "err", err)
	}
	return nil
}

// post sends body as JSON and returns the answer's body (its first MiB).
func (n *Notifier) post(ctx context.Context, method, url string, h http.Header, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errGiveUp, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "deployq")
	resp, err := n.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		se := &statusError{code: resp.StatusCode, body: clip(strings.TrimSpace(string(answer)), 200)}
		if s := resp.Header.Get("Retry-After"); s != "" {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				se.retryAfter = time.Duration(f * float64(time.Second))
			}
		}
		return nil, se
	}
	return answer, nil
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

var emoji = map[string]string{
	EventQueued: "⏳", EventWaiting: "⌛", EventStarted: "🚀", EventVerifying: "🔍", EventSucceeded: "✅", EventFailed: "❌",
	EventCanceled: "🚫", EventInterrupted: "⚠️", EventSuperseded: "⏩", EventRolledBack: "↩️", EventLocked: "🔒",
	EventUnlocked: "🔓", EventFrozen: "🧊", EventUnfrozen: "☀️",
}

// mattermostText is the event in Mattermost's Markdown, with a link to
// the deploy.
func mattermostText(e Event) string {
	t := emoji[e.Event] + " " + e.Text
	if e.Deploy != nil {
		t += fmt.Sprintf(" ([#%d](%s))", e.Deploy.ID, e.Deploy.URL)
	}
	return clip(t, 4000)
}

// discordText is the event in Discord's Markdown (links in angle
// brackets: no preview), within Discord's 2,000 characters.
func discordText(e Event) string {
	t := emoji[e.Event] + " " + e.Text
	if e.Deploy != nil {
		t += fmt.Sprintf(" (<%s>)", e.Deploy.URL)
	}
	return clip(t, 2000)
}

// teamsCard is the event as a message with an Adaptive Card, the shape a
// Teams Workflows webhook takes.
func teamsCard(e Event) map[string]any {
	body := []any{map[string]any{"type": "TextBlock", "text": emoji[e.Event] + " " + e.Text, "wrap": true, "weight": "Bolder"}}
	var actions []any
	if d := e.Deploy; d != nil {
		facts := []any{
			map[string]any{"title": "App", "value": d.App},
			map[string]any{"title": "Environment", "value": d.Env},
			map[string]any{"title": "Version", "value": d.Ref + " (" + queue.ShortSHA(d.SHA) + ")"},
			map[string]any{"title": "By", "value": d.User},
			map[string]any{"title": "State", "value": d.State},
		}
		body = append(body, map[string]any{"type": "FactSet", "facts": facts})
		actions = append(actions, map[string]any{"type": "Action.OpenUrl", "title": fmt.Sprintf("Deploy #%d", d.ID), "url": d.URL})
	}
	card := map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": body}
	if actions != nil {
		card["actions"] = actions
	}
	return map[string]any{"type": "message", "attachments": []any{
		map[string]any{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": nil, "content": card},
	}}
}
