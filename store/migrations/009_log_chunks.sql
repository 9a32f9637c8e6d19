-- Logs as chunks of lines: small plain chunks while a deploy writes, sealed
-- into compressed ones of about 128 kB of text. (What log_lines held is
-- moved into chunks by the code of this migration, then log_lines goes.)
CREATE TABLE log_chunks (
	id        INTEGER PRIMARY KEY,
	deploy_id INTEGER NOT NULL,
	first_seq INTEGER NOT NULL,
	last_seq  INTEGER NOT NULL,
	lines     INTEGER NOT NULL,
	raw       INTEGER NOT NULL, -- bytes of text
	sealed    INTEGER NOT NULL DEFAULT 0,
	data      BLOB NOT NULL
);
-- A deploy's chunks do not overlap: (deploy_id, first_seq) finds the one
-- that holds a line, and the last one.
CREATE UNIQUE INDEX log_chunks_first ON log_chunks (deploy_id, first_seq);
CREATE INDEX log_chunks_open ON log_chunks (deploy_id, raw) WHERE sealed = 0;
