package queue

import (
	"context"
	"time"
)

// Outbox is the part of the Store that keeps outgoing messages.
type Outbox interface {
	OutboxAdd(ctx context.Context, key, body string) error
	// OutboxDue takes the due messages and claims them for a minute (see
	// Store.OutboxDue).
	OutboxDue(ctx context.Context, prefix string, now time.Time, limit int) ([]OutboxItem, error)
	// OutboxNext says when the next message of the keys that begin with
	// prefix comes due (false: none waits).
	OutboxNext(ctx context.Context, prefix string) (time.Time, bool, error)
	OutboxDone(ctx context.Context, id int64) error
	OutboxRetry(ctx context.Context, id int64, next time.Time, lastErr string) error
}

// Outbox gives adapters the store's outbox: messages to outside services
// that must not be lost, delivered in order per key.
func (s *Service) Outbox() Outbox { return s.store }

// Once records key (a webhook delivery id, ...) and reports whether this
// is the first time; it survives restarts.
func (s *Service) Once(ctx context.Context, key string) (bool, error) {
	return s.store.Once(ctx, key)
}

// Seen reports whether key was recorded, by Once or with what a context
// from WithOnce caused: a delivery done already.
func (s *Service) Seen(ctx context.Context, key string) (bool, error) {
	return s.store.Seen(ctx, key)
}

// SetMeta keeps a value an adapter attaches to a deploy, such as the chat
// message that shows it; keys are namespaced by adapter ("slack.message").
func (s *Service) SetMeta(ctx context.Context, id int64, key, value string) error {
	return s.store.SetMeta(ctx, id, key, value)
}

// Meta returns a value set with SetMeta, "" if none.
func (s *Service) Meta(ctx context.Context, id int64, key string) (string, error) {
	return s.store.Meta(ctx, id, key)
}

// AuditLog returns the newest audit entries.
func (s *Service) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	return s.store.AuditLog(ctx, limit)
}
