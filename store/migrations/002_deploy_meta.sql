-- What adapters keep about a deploy (the chat message that shows it, ...).
CREATE TABLE deploy_meta (
	deploy_id INTEGER NOT NULL,
	key       TEXT NOT NULL,
	value     TEXT NOT NULL,
	PRIMARY KEY (deploy_id, key)
) WITHOUT ROWID;
