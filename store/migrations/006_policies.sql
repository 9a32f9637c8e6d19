-- One-off freezes of environments (chat: freeze ENV for 2h: reason).
CREATE TABLE freezes (
	env        TEXT PRIMARY KEY,
	owner      TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	ends_at    TEXT
);

-- Answers to deploys waiting for approval.
CREATE TABLE approvals (
	deploy_id INTEGER NOT NULL,
	user      TEXT NOT NULL,
	approve   INTEGER NOT NULL,
	reason    TEXT NOT NULL DEFAULT '',
	at        TEXT NOT NULL,
	PRIMARY KEY (deploy_id, user)
);
