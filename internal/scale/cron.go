package scale

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// cronExpr is a compiled standard 5-field cron expression
// (minute hour day-of-month month day-of-week). Each field is a bit set,
// so matching is a few AND operations and allocation-free.
type cronExpr struct {
	minute, hour, dom, month, dow uint64
	domStar, dowStar              bool // the field was "*" (or "?"): see matchDay
}

type cronField struct {
	name     string
	min, max int
	names    map[string]int
}

var (
	monthNames = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
	dowNames = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

	cronFields = [5]cronField{
		{name: "minute", min: 0, max: 59},
		{name: "hour", min: 0, max: 23},
		{name: "day-of-month", min: 1, max: 31},
		{name: "month", min: 1, max: 12, names: monthNames},
		{name: "day-of-week", min: 0, max: 7, names: dowNames}, // 7 = Sunday
	}

	cronMacros = map[string]string{
		"@yearly":   "0 0 1 1 *",
		"@annually": "0 0 1 1 *",
		"@monthly":  "0 0 1 * *",
		"@weekly":   "0 0 * * 0",
		"@daily":    "0 0 * * *",
		"@midnight": "0 0 * * *",
		"@hourly":   "0 * * * *",
	}
)

// maxDaysInMonth is the largest day-of-month each month can have (Feb 29).
var maxDaysInMonth = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// parseCron compiles a standard 5-field cron expression. It accepts
// "*", "?" (same as "*"), numbers, names (jan-dec, sun-sat), ranges "a-b",
// steps "*/s", "a-b/s", "a/s" (a to the field maximum), comma lists, and
// the macros @yearly @annually @monthly @weekly @daily @midnight @hourly.
// Seconds and year fields are not supported on purpose: a scaling schedule
// has minute resolution.
func parseCron(expr string) (cronExpr, error) {
	var c cronExpr
	src := strings.TrimSpace(expr)
	if m, ok := cronMacros[strings.ToLower(src)]; ok {
		src = m
	} else if strings.HasPrefix(src, "@") {
		return c, fmt.Errorf("cron %q: unknown macro", expr)
	}
	parts := strings.Fields(src)
	if len(parts) != 5 {
		return c, fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", expr, len(parts))
	}
	sets := [5]*uint64{&c.minute, &c.hour, &c.dom, &c.month, &c.dow}
	for i, p := range parts {
		set, err := parseCronField(p, cronFields[i])
		if err != nil {
			return cronExpr{}, fmt.Errorf("cron %q: %s: %w", expr, cronFields[i].name, err)
		}
		*sets[i] = set
	}
	c.domStar = parts[2] == "*" || parts[2] == "?"
	c.dowStar = parts[4] == "*" || parts[4] == "?"
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow = c.dow&^(1<<7) | 1
	}
	if !c.domStar && c.dowStar && !c.domMonthPossible() {
		return cronExpr{}, fmt.Errorf("cron %q: day-of-month never occurs in the selected months", expr)
	}
	return c, nil
}

func (c cronExpr) domMonthPossible() bool {
	for m := 1; m <= 12; m++ {
		if c.month&(1<<m) == 0 {
			continue
		}
		if c.dom&(uint64(1)<<(maxDaysInMonth[m]+1)-1) != 0 {
			return true
		}
	}
	return false
}

func parseCronField(s string, f cronField) (uint64, error) {
	var set uint64
	for _, item := range strings.Split(s, ",") {
		if item == "" {
			return 0, fmt.Errorf("empty list item in %q", s)
		}
		rng, stepStr, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("invalid step %q", stepStr)
			}
			step = n
		}
		var lo, hi int
		switch {
		case rng == "*" || rng == "?":
			lo, hi = f.min, f.max
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = cronValue(a, f); err != nil {
				return 0, err
			}
			if hi, err = cronValue(b, f); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("range %q: start is after end", rng)
			}
		default:
			v, err := cronValue(rng, f)
			if err != nil {
				return 0, err
			}
			lo, hi = v, v
			if hasStep {
				hi = f.max
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

func cronValue(s string, f cronField) (int, error) {
	if v, ok := f.names[strings.ToLower(s)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("invalid value %q", s)
	}
	if v < f.min || v > f.max {
		return 0, fmt.Errorf("value %d out of range %d-%d", v, f.min, f.max)
	}
	return v, nil
}

// matchDay reports whether the civil date (given in UTC, used only as a
// calendar) matches the month, day-of-month and day-of-week fields. As in
// Vixie cron, when both day fields are restricted a day matches if either
// matches; otherwise both must.
func (c cronExpr) matchDay(day time.Time) bool {
	if c.month&(1<<int(day.Month())) == 0 {
		return false
	}
	domOK := c.dom&(1<<day.Day()) != 0
	dowOK := c.dow&(1<<int(day.Weekday())) != 0
	if !c.domStar && !c.dowStar {
		return domOK || dowOK
	}
	return domOK && dowOK
}

// prev returns the latest fire time f ≤ t, searching back no further than
// (roughly) notBefore, and whether one was found. Fire times are wall-clock
// times in loc converted with time.Date, so a time inside a DST gap
// (02:30 on a spring-forward day in Europe/Paris) fires when time.Date maps
// it (03:30 summer time), and an ambiguous time (the repeated 02:30 in
// autumn) fires once, at the instant time.Date picks.
func (c cronExpr) prev(t, notBefore time.Time, loc *time.Location) (time.Time, bool) {
	lt := t.In(loc)
	y, mo, d := lt.Date()
	ny, nmo, nd := notBefore.In(loc).Date()
	// One spare day covers offsets between loc's civil day and instants.
	stop := time.Date(ny, nmo, nd-1, 0, 0, 0, 0, time.UTC)
	for i := 0; ; i++ {
		day := time.Date(y, mo, d-i, 0, 0, 0, 0, time.UTC)
		if day.Before(stop) {
			return time.Time{}, false
		}
		if !c.matchDay(day) {
			continue
		}
		maxH, maxM := 23, 59
		if i == 0 {
			maxH, maxM = lt.Hour(), lt.Minute()
		}
		hours := c.hour & (uint64(1)<<(maxH+1) - 1)
		for hours != 0 {
			h := bits.Len64(hours) - 1
			hours &^= 1 << h
			lim := 59
			if i == 0 && h == maxH {
				lim = maxM
			}
			mins := c.minute & (uint64(1)<<(lim+1) - 1)
			for mins != 0 {
				m := bits.Len64(mins) - 1
				mins &^= 1 << m
				f := time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, loc)
				if !f.After(t) {
					return f, true
				}
			}
		}
	}
}
