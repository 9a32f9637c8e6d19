package store

import (
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/klauspost/compress/zstd"
)

// A log chunk holds consecutive lines of one deploy's log in one value:
// a format byte, then the lines, each as its seq and time (as changes
// from the line before), its stream, its host and its text. A sealed
// chunk is compressed with zstd; the lines of a deploy still writing wait
// in small plain chunks until there are enough of them to seal together.
const (
	chunkPlain = 1 // the lines as they are
	chunkZstd  = 2 // the lines, compressed with zstd

	// sealBytes is how much text a sealed chunk holds: big enough to
	// compress well, small enough that reading a few lines of a long log
	// decodes little.
	sealBytes = 128 << 10
)

var streamCodes = map[string]byte{queue.StreamStdout: 0, queue.StreamStderr: 1, queue.StreamSystem: 2}
var streamNames = []string{queue.StreamStdout, queue.StreamStderr, queue.StreamSystem}

var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(packBytes*2)) // no input is longer
	zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(64<<20))
	zmu     sync.Mutex // one encoding at a time: the writer is one goroutine anyway
)

// encodeChunk encodes lines (of one deploy, in seq order), compressed if
// seal is set.
func encodeChunk(lines []queue.LogLine, seal bool) []byte {
	buf := make([]byte, 1, 64+textBytes(lines)+16*len(lines))
	buf[0] = chunkPlain
	var seq, at int64
	for _, l := range lines {
		buf = binary.AppendUvarint(buf, uint64(l.Seq-seq))
		t := l.Time.UnixNano()
		buf = binary.AppendVarint(buf, t-at)
		seq, at = l.Seq, t
		code, ok := streamCodes[l.Stream]
		if !ok {
			code = 3
		}
		buf = append(buf, code)
		if code == 3 {
			buf = appendString(buf, l.Stream)
		}
		buf = appendString(buf, l.Host)
		buf = appendString(buf, l.Text)
	}
	if !seal {
		return buf
	}
	return compress(buf[1:])
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func textBytes(lines []queue.LogLine) int {
	n := 0
	for _, l := range lines {
		n += len(l.Text)
	}
	return n
}

var errBadChunk = errors.New("store: a log chunk cannot be read")

// decodeChunk decodes a chunk of deploy id's log.
func decodeChunk(id int64, data []byte) ([]queue.LogLine, error) {
	body, err := chunkBody(data)
	if err != nil {
		return nil, err
	}
	return decodeBody(id, body)
}

// chunkBody returns the lines of a chunk as encoded, uncompressed.
func chunkBody(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, errBadChunk
	}
	switch data[0] {
	case chunkPlain:
		return data[1:], nil
	case chunkZstd:
		body, err := zdec.DecodeAll(data[1:], nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadChunk, err)
		}
		return body, nil
	}
	return nil, fmt.Errorf("%w: format %d", errBadChunk, data[0])
}

// compress zstd-compresses b behind the format byte.
func compress(b []byte) []byte {
	zmu.Lock()
	defer zmu.Unlock()
	return zenc.EncodeAll(b, []byte{chunkZstd})
}

// decodeBody decodes encoded lines of deploy id's log.
func decodeBody(id int64, body []byte) ([]queue.LogLine, error) {
	var out []queue.LogLine
	var seq, at int64
	for len(body) > 0 {
		d, n := binary.Uvarint(body)
		if n <= 0 {
			return nil, errBadChunk
		}
		body = body[n:]
		dt, n := binary.Varint(body)
		if n <= 0 || len(body) < n+1 {
			return nil, errBadChunk
		}
		body = body[n:]
		seq, at = seq+int64(d), at+dt
		l := queue.LogLine{DeployID: id, Seq: seq, Time: time.Unix(0, at).UTC()}
		code := body[0]
		body = body[1:]
		var ok bool
		if code < 3 {
			l.Stream = streamNames[code]
		} else if l.Stream, body, ok = readString(body); !ok {
			return nil, errBadChunk
		}
		if l.Host, body, ok = readString(body); !ok {
			return nil, errBadChunk
		}
		if l.Text, body, ok = readString(body); !ok {
			return nil, errBadChunk
		}
		out = append(out, l)
	}
	return out, nil
}

func readString(b []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}

// chunkPart is a chunk as read from its row: its data, or where its lines
// are in a pack.
type chunkPart struct {
	data     []byte
	pack     sql.NullInt64
	off, len int
}

// lines decodes the part's lines; a packed part's pack is read with
// packBody (the whole pack, uncompressed).
func (p chunkPart) lines(id int64, packBody func(pack int64) ([]byte, error)) ([]queue.LogLine, error) {
	if !p.pack.Valid {
		return decodeChunk(id, p.data)
	}
	body, err := packBody(p.pack.Int64)
	if err != nil {
		return nil, err
	}
	if p.off < 0 || p.len < 0 || p.off+p.len > len(body) {
		return nil, errBadChunk
	}
	return decodeBody(id, body[p.off:p.off+p.len])
}
