-- Keys of things done once (webhook deliveries, ...).
CREATE TABLE once_keys (
	key TEXT PRIMARY KEY,
	at  TEXT NOT NULL
) WITHOUT ROWID;
