-- Shas of an app marked bad (by hand, or when their deploy failed its
-- verification): never auto-deployed or promoted; a typed deploy needs !.
CREATE TABLE bad_shas (
	app       TEXT NOT NULL,
	sha       TEXT NOT NULL,
	reason    TEXT NOT NULL DEFAULT '',
	user_name TEXT NOT NULL,
	at        TEXT NOT NULL,
	PRIMARY KEY (app, sha)
);
