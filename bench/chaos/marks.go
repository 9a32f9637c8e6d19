package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// mark is a line a deploy's command appended to the marks file:
// "TIME start|end|term ID APP ENV SERVER" (term: a SIGTERM ended it).
type mark struct {
	at     time.Time
	kind   string
	id     int64
	lane   lane
	server string
}

// cmdRun is what the marks say of one deploy: when its command started, and
// when it ended (end, or term), as many times as it did.
type cmdRun struct {
	starts, ends []mark
}

// marks is the marks file, read.
type marks struct {
	runs map[int64]*cmdRun
	bad  []string // lines that do not read as a mark
}

func readMarks(path string) (*marks, error) {
	ms := &marks{runs: map[int64]*cmdRun{}}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return ms, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m, err := parseMark(sc.Text())
		if err != nil {
			ms.bad = append(ms.bad, sc.Text())
			continue
		}
		r := ms.runs[m.id]
		if r == nil {
			r = &cmdRun{}
			ms.runs[m.id] = r
		}
		if m.kind == "start" {
			r.starts = append(r.starts, m)
		} else {
			r.ends = append(r.ends, m)
		}
	}
	return ms, sc.Err()
}

func parseMark(line string) (mark, error) {
	f := strings.Fields(line)
	if len(f) != 6 || (f[1] != "start" && f[1] != "end" && f[1] != "term") {
		return mark{}, fmt.Errorf("not a mark: %q", line)
	}
	at, err := unixTime(f[0])
	if err != nil {
		return mark{}, err
	}
	id, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return mark{}, err
	}
	return mark{at: at, kind: f[1], id: id, lane: lane{app: f[3], env: f[4]}, server: f[5]}, nil
}

// unixTime reads date +%s.%N.
func unixTime(s string) (time.Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	frac = (frac + "000000000")[:9]
	nsec, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(secs, nsec), nil
}
