-- Why a waiting deploy waits: the rule that holds it, its words, and when
-- the queue looks again by itself.
ALTER TABLE deploys ADD COLUMN wait_rule TEXT NOT NULL DEFAULT '';
ALTER TABLE deploys ADD COLUMN wait_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE deploys ADD COLUMN wait_until TEXT;

-- A row Health writes to see whether the database can be written again.
CREATE TABLE health (
	id         INTEGER PRIMARY KEY,
	checked_at TEXT NOT NULL
);
