package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
)

// compactPacks gives back the space that pruning freed inside packs: a
// pack no chunk uses any more goes, and one that holds lines no chunk
// uses is undone, its chunks stored alone again until the packer packs
// them anew with others (the lines a pruned log keeps are among them,
// so they are not kept twice). One pack a transaction.
func (s *Store) compactPacks(ctx context.Context, packs []int64) error {
	slices.Sort(packs)
	for _, pk := range slices.Compact(packs) {
		if err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error { return compactPack(ctx, tx, pk) }); err != nil {
			return err
		}
	}
	return nil
}

func compactPack(ctx context.Context, tx *sql.Tx, pack int64) error {
	var body, live int64
	err := tx.QueryRowContext(ctx, `SELECT body, (SELECT coalesce(sum(pack_len), 0) FROM log_chunks WHERE pack = ?1)
		FROM log_packs WHERE id = ?1`, pack).Scan(&body, &live)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil // gone already
	case err != nil:
		return err
	case live >= body:
		return nil // all in use: it stays
	}
	if live > 0 {
		if err := unpack(ctx, tx, pack); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM log_packs WHERE id = ?`, pack)
	return err
}

// unpack stores each chunk of a pack alone again, compressed.
func unpack(ctx context.Context, tx *sql.Tx, pack int64) error {
	body, err := packText(ctx, tx, pack)
	if err != nil {
		return err
	}
	type member struct{ id, deploy, first, last, lines, raw, off, len int64 }
	rows, err := tx.QueryContext(ctx, `SELECT id, deploy_id, first_seq, last_seq, lines, raw, pack_off, pack_len FROM log_chunks WHERE pack = ?`, pack)
	if err != nil {
		return err
	}
	var members []member
	for rows.Next() {
		var m member
		if err := rows.Scan(&m.id, &m.deploy, &m.first, &m.last, &m.lines, &m.raw, &m.off, &m.len); err != nil {
			rows.Close()
			return err
		}
		members = append(members, m)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, m := range members {
		if m.off < 0 || m.len < 0 || m.off+m.len > int64(len(body)) {
			return errBadChunk
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM log_chunks WHERE id = ?`, m.id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO log_chunks (deploy_id, first_seq, last_seq, lines, raw, sealed, data)
			VALUES (?, ?, ?, ?, ?, 1, ?)`, m.deploy, m.first, m.last, m.lines, m.raw, compress(body[m.off:m.off+m.len])); err != nil {
			return err
		}
	}
	return nil
}

// packText reads a pack's text, uncompressed, in a transaction.
func packText(ctx context.Context, tx *sql.Tx, pack int64) ([]byte, error) {
	var data []byte
	if err := tx.QueryRowContext(ctx, `SELECT data FROM log_packs WHERE id = ?`, pack).Scan(&data); err != nil {
		return nil, err
	}
	return chunkBody(data)
}
