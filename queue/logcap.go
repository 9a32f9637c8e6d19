package queue

import (
	"fmt"
)

// logCap bounds how much of a deploy's output is kept; past it, output
// is counted, not kept, and the log says so.
type logCap struct {
	limit        int64 // 0: none
	kept         int64
	over         bool
	lines, bytes int64 // not kept
}

// bytesText formats a size for people: 512 B, 3.2 MB, 1.0 GB.
func bytesText(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1000)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/(1000*1000))
	}
	return fmt.Sprintf("%.1f GB", float64(n)/(1000*1000*1000))
}
