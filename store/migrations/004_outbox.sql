-- Messages to outside services (GitHub statuses, ...), delivered in order
-- per key, retried until they go.
CREATE TABLE outbox (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	key        TEXT NOT NULL,
	body       TEXT NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	next_at    TEXT NOT NULL,
	last_error TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL
);
CREATE INDEX outbox_key ON outbox (key, id);
