package queue

import (
	"fmt"
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
