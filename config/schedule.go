package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // zones resolve on hosts without a zoneinfo database

	"github.com/deployq/deployq/queue"
	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// freezeWindows reads freeze windows: a cron expression (when each
// starts, read in the window's zone), a duration and a reason.
func (d *decoder) freezeWindows(fcs []freezeConfig, n *yaml.Node, key string) []queue.FreezeWindow {
	var out []queue.FreezeWindow
	for i, f := range fcs {
		at := func(field string) *yaml.Node { return closest(n, i, field) }
		k := fmt.Sprintf("%s[%d]", key, i)
		loc := d.zone(f.TZ, at("tz"), k+".tz")
		sched := d.schedule(f.Cron, loc, at("cron"), k+".cron")
		if f.Duration <= 0 {
			d.fail(at("duration"), k+".duration", "a freeze window needs a duration, e.g. 62h")
		}
		out = append(out, queue.FreezeWindow{Spec: f.Cron, Schedule: sched, Duration: f.Duration, Reason: f.Reason, Location: loc})
	}
	return out
}

// zone reads an IANA zone name; none is UTC (nil).
func (d *decoder) zone(name string, n *yaml.Node, key string) *time.Location {
	if name == "" {
		return nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		d.fail(n, key, "unknown time zone %q: want an IANA name like Europe/Paris, America/New_York or UTC", name)
		return nil
	}
	return loc
}

// schedule reads a cron expression in loc (UTC when nil, whatever the
// server's zone); what is wrong with it is said in words.
func (d *decoder) schedule(spec string, loc *time.Location, n *yaml.Node, key string) queue.Schedule {
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		d.fail(n, key, "give the zone as tz (e.g. tz: Europe/Paris), not in the expression")
		return nil
	}
	if loc == nil {
		loc = time.UTC
	}
	sched, err := cron.ParseStandard("CRON_TZ=" + loc.String() + " " + spec)
	if err != nil {
		why := explainCron(spec)
		if why == "" {
			why = err.Error()
		}
		d.fail(n, key, "bad cron expression %q: %s", spec, why)
		return nil
	}
	return sched
}

// cronField is one of the five fields of a cron expression.
type cronField struct {
	noun     string // "minute", "day"
	article  string // "a", "an"
	min, max int
	names    []string // names of min, min+1, ... (months, days)
	also     string   // said after the range
}

var cronFields = []cronField{
	{noun: "minute", article: "a", max: 59},
	{noun: "hour", article: "an", max: 23},
	{noun: "day of the month", article: "a", min: 1, max: 31},
	{noun: "month", article: "a", min: 1, max: 12, names: strings.Fields("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC")},
	{noun: "day", article: "a", max: 6, names: strings.Fields("SUN MON TUE WED THU FRI SAT"), also: " (0 is Sunday)"},
}

// explainCron says in words what is wrong with a cron expression that
// did not parse, or "" when it cannot tell.
func explainCron(spec string) string {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return `empty: want e.g. "0 18 * * FRI" (minute hour day-of-month month day-of-week)`
	}
	if strings.HasPrefix(spec, "@") {
		return explainDescriptor(spec)
	}
	fields := strings.Fields(spec)
	if len(fields) != len(cronFields) {
		why := fmt.Sprintf("want 5 fields (minute hour day-of-month month day-of-week), got %d", len(fields))
		if len(fields) == 6 {
			why += " (there is no seconds field)"
		}
		return why
	}
	for i, f := range fields {
		if why := cronFields[i].explain(f); why != "" {
			return why
		}
	}
	return ""
}

func explainDescriptor(spec string) string {
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		return fmt.Sprintf("%q is not a duration (use e.g. 90s, 30m, 2h)", d)
	}
	return fmt.Sprintf("unknown descriptor %q (known: @yearly, @monthly, @weekly, @daily, @hourly, @every DURATION)", spec)
}

// explain checks one field as robfig/cron reads it: items separated by
// commas, each *, a value or a range, with an optional /step.
func (f cronField) explain(field string) string {
	for _, item := range strings.FieldsFunc(field, func(r rune) bool { return r == ',' }) {
		rangeAndStep := strings.Split(item, "/")
		if len(rangeAndStep) > 2 {
			return fmt.Sprintf("%q has more than one /", item)
		}
		if len(rangeAndStep) == 2 {
			if n, err := strconv.Atoi(rangeAndStep[1]); err != nil || n < 1 {
				return fmt.Sprintf("step %q of %q is not a whole number of 1 or more", rangeAndStep[1], item)
			}
		}
		ends := strings.Split(rangeAndStep[0], "-")
		if ends[0] == "*" || ends[0] == "?" {
			continue
		}
		if len(ends) > 2 {
			return fmt.Sprintf("%q has more than one -", item)
		}
		var vals []int
		for _, e := range ends {
			v, why := f.value(e)
			if why != "" {
				return why
			}
			vals = append(vals, v)
		}
		if len(vals) == 2 && vals[0] > vals[1] {
			return fmt.Sprintf("range %q ends before it starts (a range does not wrap around)", rangeAndStep[0])
		}
	}
	return ""
}

// value reads a number or a name of the field.
func (f cronField) value(s string) (int, string) {
	for i, name := range f.names {
		if strings.EqualFold(s, name) {
			return f.min + i, ""
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, f.notA(s)
	}
	if n < f.min || n > f.max {
		return 0, fmt.Sprintf("%s %d is out of range: use %s", f.noun, n, f.valid())
	}
	return n, ""
}

// notA says that s is not a value of the field, and what to write: the
// name it starts with (FRIDAY: FRI or 5), or what the field takes.
func (f cronField) notA(s string) string {
	if len(s) > 3 {
		for i, name := range f.names {
			if strings.EqualFold(s[:3], name) {
				return fmt.Sprintf("%q is not %s %s: use %s or %d", s, f.article, f.noun, name, f.min+i)
			}
		}
	}
	return fmt.Sprintf("%q is not %s %s: use %s", s, f.article, f.noun, f.valid())
}

// valid says what the field takes: "0-59", "SUN-SAT or 0-6 (0 is Sunday)".
func (f cronField) valid() string {
	nums := fmt.Sprintf("%d-%d", f.min, f.max)
	if len(f.names) > 0 {
		return f.names[0] + "-" + f.names[len(f.names)-1] + " or " + nums + f.also
	}
	return nums
}
