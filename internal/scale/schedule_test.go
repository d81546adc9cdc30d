package scale

import (
	"strings"
	"testing"
	"time"
)

func TestParseCron(t *testing.T) {
	valid := []string{
		"* * * * *", "0 8 * * 1-5", "*/15 * * * *", "0 0 1 1 *", "5/10 1-23/2 1,15 jan-mar mon-fri",
		"0 0 * * 7", "0 0 ? * SUN", "@daily", "@Hourly", "@weekly", "@monthly", "@yearly", "@annually", "@midnight",
		"0 0 29 2 *", "  0 8 * * 1-5  ",
	}
	for _, e := range valid {
		if _, err := parseCron(e); err != nil {
			t.Errorf("%q: %v", e, err)
		}
	}
	invalid := []struct{ expr, msg string }{
		{"", "want 5 fields"},
		{"* * * *", "got 4"},
		{"* * * * * *", "got 6"},
		{"60 * * * *", "minute: value 60 out of range 0-59"},
		{"* 24 * * *", "hour: value 24 out of range 0-23"},
		{"* * 0 * *", "day-of-month: value 0 out of range 1-31"},
		{"* * * 13 *", "month: value 13 out of range 1-12"},
		{"* * * * 8", "day-of-week: value 8 out of range 0-7"},
		{"*/0 * * * *", `minute: invalid step "0"`},
		{"*/x * * * *", `invalid step "x"`},
		{"5-1 * * * *", `range "5-1": start is after end`},
		{"a * * * *", `minute: invalid value "a"`},
		{"1-b * * * *", `invalid value "b"`},
		{"1, * * * *", "empty list item"},
		{"* * * foo *", `month: invalid value "foo"`},
		{"@every 5m", "unknown macro"},
		{"0 0 30 2 *", "day-of-month never occurs"},
		{"0 0 31 4,6 *", "day-of-month never occurs"},
	}
	for _, tc := range invalid {
		_, err := parseCron(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: got %v, want %q", tc.expr, err, tc.msg)
		}
	}
}

func TestCronDayMatching(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		expr string
		day  time.Time
		want bool
	}{
		{"0 0 1 * 1", day(2026, 3, 2), true},    // Monday, not the 1st: either matches
		{"0 0 1 * 1", day(2026, 3, 1), true},    // the 1st, a Sunday
		{"0 0 1 * 1", day(2026, 3, 3), false},   // neither
		{"0 0 1 * *", day(2026, 3, 2), false},   // dow "*": only dom
		{"0 0 * * 1", day(2026, 3, 1), false},   // dom "*": only dow
		{"0 0 * * 7", day(2026, 3, 1), true},    // 7 is Sunday
		{"0 0 * * 0", day(2026, 3, 1), true},    // 0 is Sunday
		{"0 0 * feb *", day(2026, 3, 1), false}, // month
	}
	for _, tc := range tests {
		c, err := parseCron(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.matchDay(tc.day); got != tc.want {
			t.Errorf("%q on %s: got %v", tc.expr, tc.day.Format("Mon 2006-01-02"), got)
		}
	}
}

func TestScheduleActive(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	business, err := ParseSchedule("business", "0 8 * * 1-5", "Europe/Paris", 10*time.Hour, 5, Unset)
	if err != nil {
		t.Fatal(err)
	}
	gap, err := ParseSchedule("gap", "30 2 * * *", "Europe/Paris", time.Hour, 2, Unset)
	if err != nil {
		t.Fatal(err)
	}
	every15, err := ParseSchedule("q", "*/15 * * * *", "", 5*time.Minute, Unset, 3)
	if err != nil {
		t.Fatal(err)
	}
	p := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, paris) }
	utc := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, time.UTC) }
	tests := []struct {
		name string
		s    Schedule
		at   time.Time
		want bool
	}{
		{"monday 08:30 Paris", business, p(2026, 3, 2, 8, 30), true},
		{"sunday 08:30 Paris", business, p(2026, 3, 1, 8, 30), false},
		{"monday 07:59", business, p(2026, 3, 2, 7, 59), false},
		{"monday 08:00 exactly", business, p(2026, 3, 2, 8, 0), true},
		{"monday 17:59", business, p(2026, 3, 2, 17, 59), true},
		{"monday 18:00 ends", business, p(2026, 3, 2, 18, 0), false},
		{"friday 17:00", business, p(2026, 3, 6, 17, 0), true},
		{"saturday 09:00", business, p(2026, 3, 7, 9, 0), false},
		// Winter: 08:00 Paris is 07:00 UTC; summer (after 29 March): 06:00 UTC.
		{"winter 07:30Z", business, utc(2026, 3, 27, 7, 30), true},
		{"winter 06:30Z", business, utc(2026, 3, 27, 6, 30), false},
		{"summer 06:30Z", business, utc(2026, 3, 30, 6, 30), true},
		{"summer 16:30Z (18:30 Paris)", business, utc(2026, 3, 30, 16, 30), false},
		// DST gap: 02:30 does not exist on 29 March 2026; it fires at 03:30 CEST.
		{"gap day before the mapped fire", gap, p(2026, 3, 29, 3, 10), false},
		{"gap day after the mapped fire", gap, p(2026, 3, 29, 3, 40), true},
		{"normal day 02:45", gap, p(2026, 3, 28, 2, 45), true},
		{"every 15 min, at :16", every15, utc(2026, 3, 2, 10, 16), true},
		{"every 15 min, at :20", every15, utc(2026, 3, 2, 10, 20), false},
		{"zero schedule is never active", Schedule{}, utc(2026, 3, 2, 10, 16), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Active(tc.at); got != tc.want {
				start, ok := tc.s.LastStart(tc.at)
				t.Fatalf("Active(%v) = %v, want %v (last start %v %v)", tc.at, got, tc.want, start, ok)
			}
		})
	}
}

// On 25 October 2026 02:30 happens twice in Paris; the schedule fires once,
// so it is active for exactly its hour that night.
func TestScheduleFoldFiresOnce(t *testing.T) {
	s, err := ParseSchedule("gap", "30 2 * * *", "Europe/Paris", time.Hour, 2, Unset)
	if err != nil {
		t.Skip(err)
	}
	active := 0
	for at := time.Date(2026, 10, 24, 22, 0, 0, 0, time.UTC); at.Before(time.Date(2026, 10, 25, 4, 0, 0, 0, time.UTC)); at = at.Add(time.Minute) {
		if s.Active(at) {
			active++
		}
	}
	if active != 60 {
		t.Fatalf("active %d minutes, want 60", active)
	}
}

func TestParseScheduleErrors(t *testing.T) {
	tests := []struct {
		name     string
		cron     string
		zone     string
		d        time.Duration
		min, max int
		msgs     []string
	}{
		{"bad cron", "0 25 * * *", "UTC", time.Hour, 1, Unset, []string{`schedule "bad cron": cron "0 25 * * *": hour: value 25 out of range`}},
		{"bad zone", "0 8 * * *", "Mars/Olympus", time.Hour, 1, Unset, []string{`zone "Mars/Olympus": unknown time zone`}},
		{"local zone", "0 8 * * *", "Local", time.Hour, 1, Unset, []string{`zone "Local"`}},
		{"zero duration", "0 8 * * *", "UTC", 0, 1, Unset, []string{"duration 0s: must be positive"}},
		{"negative duration", "0 8 * * *", "UTC", -time.Hour, 1, Unset, []string{"duration -1h0m0s"}},
		{"min > max", "0 8 * * *", "UTC", time.Hour, 5, 2, []string{"min 5 > max 2"}},
		{"nothing set", "0 8 * * *", "UTC", time.Hour, Unset, Unset, []string{"both unset"}},
		{"negative min", "0 8 * * *", "UTC", time.Hour, -3, Unset, []string{"min -3"}},
		{"zero max", "0 8 * * *", "UTC", time.Hour, Unset, 0, []string{"max 0: must be ≥ 1"}},
		{"", "x", "Nowhere/Zone", 0, 1, Unset, []string{"schedule: cron", "Nowhere/Zone", "duration"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSchedule(tc.name, tc.cron, tc.zone, tc.d, tc.min, tc.max)
			if err == nil {
				t.Fatal("no error")
			}
			for _, m := range tc.msgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("%q lacks %q", err, m)
				}
			}
		})
	}
	s, err := ParseSchedule("ok", "0 8 * * 1-5", "utc", time.Hour, 0, Unset)
	if err != nil || s.Zone != time.UTC || s.Cron != "0 8 * * 1-5" {
		t.Fatal(s, err)
	}
}
