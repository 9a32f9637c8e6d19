package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
)

// The short logs of ended deploys are packed together, some 256 kB of text
// at a time, since a few kilobytes of log compress poorly alone and a
// year of deploys is mostly short logs. A background packer does it, one
// pack a transaction, woken when a deploy ends.
const (
	packBelow = 32 << 10  // sealed chunks with less text than this are packed (the index log_chunks_packable says it too)
	packBytes = 256 << 10 // the text a pack holds
)

// packer is the store's background packing of short logs.
type packer struct {
	wake chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex // the packs read lately, decompressed
	cache map[int64][]byte
	order []int64
}

func newPacker() *packer {
	return &packer{wake: make(chan struct{}, 1), stop: make(chan struct{}), cache: map[int64][]byte{}}
}

func (p *packer) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// packRest is how long the packer rests after a round: a busy hour's
// ends are looked at a few at a time, not one by one.
const packRest = 5 * time.Second

// run packs while there is a pack's worth of short logs, each time it is
// woken (at most once every packRest), until stop.
func (s *Store) runPacker() {
	p := s.packs
	defer p.wg.Done()
	rest := time.NewTimer(0)
	defer rest.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-rest.C:
		}
		select {
		case <-p.stop:
			return
		case <-p.wake:
		}
		rest.Reset(packRest)
		for {
			made, err := s.packOnce(context.Background())
			if err != nil || !made {
				break // a failed pack is tried again at the next end of a deploy
			}
			select {
			case <-p.stop:
				return
			default:
			}
		}
	}
}

// packOnce packs the oldest short sealed chunks into one pack, if they
// hold packBytes of text; it reports whether it made one.
func (s *Store) packOnce(ctx context.Context) (bool, error) {
	var waiting int
	if err := s.r.QueryRowContext(ctx, `SELECT coalesce(sum(raw), 0) FROM (SELECT raw FROM log_chunks INDEXED BY log_chunks_packable
		WHERE sealed = 1 AND pack IS NULL AND raw < 32768 ORDER BY id LIMIT 5000)`).Scan(&waiting); err != nil || waiting < packBytes {
		return false, err // not a pack's worth yet: nothing is written
	}
	made := false
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, deploy_id, first_seq, last_seq, lines, raw, data FROM log_chunks
			INDEXED BY log_chunks_packable WHERE sealed = 1 AND pack IS NULL AND raw < 32768 ORDER BY id LIMIT 5000`) // 32768: packBelow, as the index says
		if err != nil {
			return err
		}
		type member struct {
			deploy, first, last, lines, raw int64
			body                            []byte
		}
		var members []member
		var ids []int64
		raw := 0
		for rows.Next() && raw < packBytes {
			var id int64
			var m member
			var data []byte
			if err := rows.Scan(&id, &m.deploy, &m.first, &m.last, &m.lines, &m.raw, &data); err != nil {
				rows.Close()
				return err
			}
			if m.body, err = chunkBody(data); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
			members = append(members, m)
			raw += int(m.raw)
		}
		if err := rows.Close(); err != nil || raw < packBytes {
			return err // not a pack's worth yet
		}
		// A deploy's chunks in the pack become one: a row and an index
		// entry a log, not one for each few lines the runner wrote.
		slices.SortStableFunc(members, func(a, b member) int { return cmp.Or(cmp.Compare(a.deploy, b.deploy), cmp.Compare(a.first, b.first)) })
		var merged []member
		for i := 0; i < len(members); {
			m, j := members[i], i+1
			for j < len(members) && members[j].deploy == m.deploy && members[j].first == members[j-1].last+1 {
				j++
			}
			if j > i+1 {
				var lines []queue.LogLine
				m.lines, m.raw = 0, 0
				for _, part := range members[i:j] {
					l, err := decodeBody(m.deploy, part.body)
					if err != nil {
						return err
					}
					lines = append(lines, l...)
					m.lines, m.raw = m.lines+part.lines, m.raw+part.raw
				}
				m.last, m.body = members[j-1].last, encodeChunk(lines, false)[1:]
			}
			merged = append(merged, m)
			i = j
		}
		var body []byte
		offs := make([]int, len(merged))
		for i, m := range merged {
			offs[i] = len(body)
			body = append(body, m.body...)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO log_packs (body, data) VALUES (?, ?)`, len(body), compress(body))
		if err != nil {
			return err
		}
		pack, err := res.LastInsertId()
		if err != nil {
			return err
		}
		// Each chunk's row is made anew, without its data: rows deleted
		// free the pages their data filled, which an update would leave
		// mostly empty.
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `DELETE FROM log_chunks WHERE id = ?`, id); err != nil {
				return err
			}
		}
		for i, m := range merged {
			if _, err := tx.ExecContext(ctx, `INSERT INTO log_chunks (deploy_id, first_seq, last_seq, lines, raw, sealed, data, pack, pack_off, pack_len)
				VALUES (?, ?, ?, ?, ?, 1, x'', ?, ?, ?)`, m.deploy, m.first, m.last, m.lines, m.raw, pack, offs[i], len(m.body)); err != nil {
				return err
			}
		}
		made = true
		return nil
	})
	return made, err
}

// Settle packs what can be packed now and gives the free pages of the
// file back, as a server does over time: what the store holds then is
// what it keeps.
func (s *Store) Settle(ctx context.Context) error {
	for {
		made, err := s.packOnce(ctx)
		if err != nil {
			return err
		}
		if !made {
			break
		}
	}
	return s.giveBack(ctx, 0)
}

// packed returns a pack's text, uncompressed, from the few read lately.
func (s *Store) packed(ctx context.Context, pack int64) ([]byte, error) {
	p := s.packs
	p.mu.Lock()
	body, ok := p.cache[pack]
	p.mu.Unlock()
	if !ok {
		var data []byte
		err := s.r.QueryRowContext(ctx, `SELECT data FROM log_packs WHERE id = ?`, pack).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, errBadChunk
		}
		if err != nil {
			return nil, err
		}
		if body, err = chunkBody(data); err != nil {
			return nil, err
		}
		p.mu.Lock()
		p.cache[pack] = body
		p.order = append(p.order, pack)
		if len(p.order) > 8 { // a few packs: followers of recent history read the same ones
			delete(p.cache, p.order[0])
			p.order = p.order[1:]
		}
		p.mu.Unlock()
	}
	return body, nil
}

// giveBack returns up to n free pages of the file (0: all of them) to the
// file system. SQLite frees one page a step of the pragma: every step is
// taken.
func (s *Store) giveBack(ctx context.Context, n int) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `PRAGMA incremental_vacuum(`+strconv.Itoa(n)+`)`)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		return errors.Join(rows.Err(), rows.Close())
	})
}
