-- Shas of an app marked bad (by hand, or when their deploy failed its
-- verification): never auto-deployed or promoted; a typed deploy needs !.
CREATE TABLE bad_shas (
	app       text COLLATE "C" NOT NULL,
	sha       text COLLATE "C" NOT NULL,
	reason    text NOT NULL DEFAULT '',
	user_name text NOT NULL,
	at        timestamptz NOT NULL,
	at_ns     smallint NOT NULL DEFAULT 0,
	PRIMARY KEY (app, sha)
);
