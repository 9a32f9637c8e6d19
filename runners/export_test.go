package runners

// WriteTrack writes a track file as RunGroup does, for a group a test
// made up.
func WriteTrack(path string, pgid int, start uint64, token string) error {
	return groupRecord{pgid: pgid, start: start, token: token}.write(path)
}

// StartTime is a process's start time in clock ticks after boot.
var StartTime = startTime
