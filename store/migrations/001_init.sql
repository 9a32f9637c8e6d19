CREATE TABLE deploys (
	id                   INTEGER PRIMARY KEY AUTOINCREMENT,
	number               INTEGER NOT NULL,
	app                  TEXT NOT NULL,
	env                  TEXT NOT NULL,
	ref                  TEXT NOT NULL,
	sha                  TEXT NOT NULL,
	previous_sha         TEXT NOT NULL DEFAULT '',
	state                TEXT NOT NULL,
	user                 TEXT NOT NULL,
	source               TEXT NOT NULL,
	force                INTEGER NOT NULL DEFAULT 0,
	created_at           TEXT NOT NULL,
	started_at           TEXT,
	finished_at          TEXT,
	github_deployment_id INTEGER NOT NULL DEFAULT 0,
	chat_thread          TEXT NOT NULL DEFAULT '',
	error                TEXT NOT NULL DEFAULT '',
	UNIQUE (app, env, number)
);
-- At most one running deploy per app+env, whatever the code above does.
CREATE UNIQUE INDEX deploys_one_running ON deploys (app, env) WHERE state = 'running';
CREATE INDEX deploys_lane_state ON deploys (app, env, state, id);
CREATE INDEX deploys_state ON deploys (state, id);

CREATE TABLE log_lines (
	deploy_id INTEGER NOT NULL,
	seq       INTEGER NOT NULL,
	time      TEXT NOT NULL,
	stream    TEXT NOT NULL,
	host      TEXT NOT NULL DEFAULT '',
	text      TEXT NOT NULL,
	PRIMARY KEY (deploy_id, seq)
) WITHOUT ROWID;

CREATE TABLE locks (
	env        TEXT NOT NULL,
	app        TEXT NOT NULL DEFAULT '',
	owner      TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	expires_at TEXT,
	PRIMARY KEY (env, app)
);

CREATE TABLE audit (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	time   TEXT NOT NULL,
	user   TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL,
	detail TEXT NOT NULL DEFAULT ''
);
