package config_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/deployq/deployq/config"
	"github.com/deployq/deployq/queue"
)

// What is wrong with a cron expression is said in words.
func TestCronErrorsInWords(t *testing.T) {
	for _, c := range []struct{ name, spec, why string }{
		{"DayName", "0 18 * * FRIDAY", `"FRIDAY" is not a day: use FRI or 5`},
		{"NotADay", "0 18 * * FRY", `"FRY" is not a day: use SUN-SAT or 0-6 (0 is Sunday)`},
		{"DayOutOfRange", "0 9 * * 7", `day 7 is out of range: use SUN-SAT or 0-6 (0 is Sunday)`},
		{"MonthName", "0 9 1 JANUARY *", `"JANUARY" is not a month: use JAN or 1`},
		{"Minute61", "61 18 * * FRI", `minute 61 is out of range: use 0-59`},
		{"Hour24", "0 24 * * *", `hour 24 is out of range: use 0-23`},
		{"DayOfMonth0", "0 0 0 * *", `day of the month 0 is out of range: use 1-31`},
		{"NotANumber", "0 noon * * *", `"noon" is not an hour: use 0-23`},
		{"TooFewFields", "0 18 * FRI", `want 5 fields (minute hour day-of-month month day-of-week), got 4`},
		{"Seconds", "0 0 18 * * FRI", `want 5 fields (minute hour day-of-month month day-of-week), got 6 (there is no seconds field)`},
		{"Backwards", "0 9 * * FRI-MON", `range "FRI-MON" ends before it starts (a range does not wrap around)`},
		{"StepZero", "*/0 * * * *", `step "0" of "*/0" is not a whole number of 1 or more`},
		{"Descriptor", "@fortnightly", `unknown descriptor "@fortnightly" (known: @yearly, @monthly, @weekly, @daily, @hourly, @every DURATION)`},
		{"Every", "@every 5 minutes", `"5 minutes" is not a duration (use e.g. 90s, 30m, 2h)`},
		{"Empty", "", `empty: want e.g. "0 18 * * FRI" (minute hour day-of-month month day-of-week)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			y := fmt.Sprintf("freeze:\n  - {cron: %q, duration: 1h}\n", c.spec)
			_, err := config.Parse("deployq.yaml", []byte(y), kinds)
			want := fmt.Sprintf("deployq.yaml:2: freeze[0].cron: bad cron expression %q: %s", c.spec, c.why)
			if err == nil || err.Error() != want {
				t.Fatalf("got  %v\nwant %s", err, want)
			}
		})
	}
	_, err := config.Parse("deployq.yaml", []byte("freeze:\n  - {cron: \"CRON_TZ=Europe/Paris 0 18 * * FRI\", duration: 1h}\n"), kinds)
	if want := "deployq.yaml:2: freeze[0].cron: give the zone as tz (e.g. tz: Europe/Paris), not in the expression"; err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

const zones = `freeze:
  - {cron: "0 18 * * FRI", duration: 62h, reason: weekend, tz: Europe/Paris}
  - {cron: "0 9 * * MON", duration: 1h, reason: release train}
apps:
  - name: web
    git: /srv/git/web.git
    environments:
      - name: staging
        runner: shell
        shell: {command: x}
        promote: {to: production, soak: 30m, schedule: "0 10 * * 1-5", tz: America/New_York}
      - name: production
        runner: shell
        shell: {command: x}
        freeze:
          - {cron: "0 17 * * FRI", duration: 1h, tz: Asia/Tokyo}
`

// Freeze windows and promotion schedules are read in their zone (UTC by
// default, whatever the server's), and carry it so that times are said
// in it.
func TestTimeZones(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	local := time.Local
	time.Local = tokyo // the server's zone is not the default
	defer func() { time.Local = local }()
	c, err := config.Parse("deployq.yaml", []byte(zones), kinds)
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		tm, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	paris, monday := c.Freeze[0], c.Freeze[1]
	prod, staging := c.Apps[0].Env("production"), c.Apps[0].Env("staging")
	for _, w := range []struct {
		name     string
		sched    queue.Schedule
		loc      *time.Location
		zone     string
		from, at string // UTC
	}{
		// 18:00 in Paris in November is 17:00 UTC
		{"Paris", paris.Schedule, paris.Location, "Europe/Paris", "2026-11-19 12:00", "2026-11-20 17:00"},
		// no tz: UTC, not the server's Tokyo
		{"Default", monday.Schedule, monday.Location, "", "2026-11-22 12:00", "2026-11-23 09:00"},
		// 10:00 in New York is 15:00 UTC; Friday's has passed at 16:00
		{"Promotion", staging.Promote.Schedule, staging.Promote.Location, "America/New_York", "2026-11-20 16:00", "2026-11-23 15:00"},
		{"Environment", prod.Freeze[0].Schedule, prod.Freeze[0].Location, "Asia/Tokyo", "2026-11-19 00:00", "2026-11-20 08:00"},
	} {
		if got := w.sched.Next(utc(w.from)); !got.Equal(utc(w.at)) {
			t.Errorf("%s: next after %s UTC is %s, want %s UTC", w.name, w.from, got.UTC(), w.at)
		}
		if (w.loc == nil) != (w.zone == "") || w.loc != nil && w.loc.String() != w.zone {
			t.Errorf("%s: location %v, want %q", w.name, w.loc, w.zone)
		}
	}
	// messages say times in the window's zone
	if got := queue.InZone(paris.Schedule.Next(utc("2026-11-19 12:00")), paris.Location); got != "Fri 20 Nov 18:00 CET" {
		t.Errorf("said %q", got)
	}
}

func TestUnknownZone(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"Freeze", "freeze:\n  - {cron: \"0 18 * * FRI\", duration: 1h, tz: Europe/Pariss}\n",
			`deployq.yaml:2: freeze[0].tz: unknown time zone "Europe/Pariss": want an IANA name like Europe/Paris, America/New_York or UTC`},
		{"Local", "freeze:\n  - {cron: \"0 18 * * FRI\", duration: 1h, tz: Local}\n",
			`deployq.yaml:2: freeze[0].tz: unknown time zone "Local"`},
		{"Promotion", "apps:\n  - name: web\n    environments:\n      - {name: s, runner: shell, shell: {command: x}, promote: {to: p, tz: Mars/Olympus}}\n      - {name: p, runner: shell, shell: {command: x}}\n",
			`deployq.yaml:4: apps[web].environments[s].promote.tz: unknown time zone "Mars/Olympus"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("deployq.yaml", []byte(c.yaml), kinds)
			if err == nil || len(err.Error()) < len(c.want) || err.Error()[:len(c.want)] != c.want {
				t.Fatalf("got  %v\nwant %s", err, c.want)
			}
		})
	}
}
