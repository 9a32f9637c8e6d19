-- Packs: the short logs of many ended deploys compressed together, which
-- compresses far better than each alone. A packed chunk keeps its row,
-- with where its lines are in the pack instead of its data.
-- A pack's id is never used again (readers keep recent packs in memory
-- by id); body is the length of its text uncompressed, which says, with
-- its chunks' pack_len, how much of it is still in use.
CREATE TABLE log_packs (
	id   INTEGER PRIMARY KEY AUTOINCREMENT,
	body INTEGER NOT NULL DEFAULT 0,
	data BLOB NOT NULL
);
ALTER TABLE log_chunks ADD COLUMN pack INTEGER;
ALTER TABLE log_chunks ADD COLUMN pack_off INTEGER NOT NULL DEFAULT 0;
ALTER TABLE log_chunks ADD COLUMN pack_len INTEGER NOT NULL DEFAULT 0;
CREATE INDEX log_chunks_packable ON log_chunks (id) WHERE sealed = 1 AND pack IS NULL AND raw < 32768;
CREATE INDEX log_chunks_pack ON log_chunks (pack) WHERE pack IS NOT NULL;
