package queue

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Age formats a duration for people: 45s, 12m, 3h5m, 2d4h.
func Age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour && int(d.Minutes())%60 == 0:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	case int(d.Hours())%24 == 0:
		return fmt.Sprintf("%dd", int(d.Hours())/24)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// Size formats a number of bytes for people: 512 B, 3.2 kB, 41.0 MB.
func Size(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1e6:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1e9:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f GB", float64(n)/1e9)
}

// checkList names checks with their links: "ci/build (https://...), lint".
func checkList(cs []Check) string {
	var parts []string
	for _, c := range cs {
		if c.URL != "" {
			parts = append(parts, c.Name+" ("+c.URL+")")
		} else {
			parts = append(parts, c.Name)
		}
	}
	return strings.Join(parts, ", ")
}

func orNobody(l []string) string {
	if len(l) == 0 {
		return "nobody"
	}
	return strings.Join(l, ", ")
}

func orDeployers(l []string) string {
	if len(l) == 0 {
		return "the deployers"
	}
	return strings.Join(l, ", ")
}

// withSummary adds what the runner said of how it stopped (say, what it
// undid) to why it stopped.
func withSummary(why, summary string) string {
	if summary == "" {
		return why
	}
	return why + "; " + summary
}

func numbered(id int64) string { return fmt.Sprintf("#%d", id) }

// ParseDuration reads a duration as Go writes it (90s, 30m, 2h) or with
// days before it (90d, 2d12h); it is never negative nor over 100 years.
func ParseDuration(s string) (time.Duration, error) {
	in := s
	s = strings.ToLower(strings.TrimSpace(s))
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("bad duration %q", in)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		if rest, err = time.ParseDuration(s); err != nil || rest < 0 || rest > 100*365*24*time.Hour {
			return 0, fmt.Errorf("bad duration %q", in)
		}
	} else if days == 0 && in == "" {
		return 0, fmt.Errorf("empty duration")
	}
	return days + rest, nil
}
