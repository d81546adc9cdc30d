package scale

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Unset marks a schedule's Min or Max as "not overridden".
const Unset = -1

// Schedule overrides the replica bounds while it is active: from each fire
// time of its cron expression (evaluated in Zone) for Duration. Build one
// with ParseSchedule; the zero value is not a valid schedule.
type Schedule struct {
	Name     string         // for reasons and errors, e.g. "business-hours"
	Cron     string         // the expression as written, e.g. "0 8 * * 1-5"
	Zone     *time.Location // IANA zone the cron fields are read in
	Duration time.Duration  // how long each activation lasts; > 0
	Min      int            // minimum replicas while active, or Unset
	Max      int            // maximum replicas while active, or Unset

	expr cronExpr
	ok   bool // built by ParseSchedule
}

// ParseSchedule builds a Schedule. cron is a standard 5-field expression
// (see doc.go), zone an IANA name such as "Europe/Paris" ("" or "UTC" mean
// UTC, "Local" is refused so a config means the same on every host),
// duration must be positive, and min/max are replica counts ≥ 0 or Unset
// (at least one must be set; if both are set min ≤ max, and max ≥ 1).
// Errors name the offending part, e.g.
// `schedule "nights": zone "Europe/Pariss": unknown time zone`.
func ParseSchedule(name, cron, zone string, duration time.Duration, min, max int) (Schedule, error) {
	s := Schedule{Name: name, Cron: cron, Duration: duration, Min: min, Max: max}
	wrap := func(err error) error {
		if name == "" {
			return fmt.Errorf("schedule: %w", err)
		}
		return fmt.Errorf("schedule %q: %w", name, err)
	}
	var errs []error
	expr, err := parseCron(cron)
	if err != nil {
		errs = append(errs, wrap(err))
	}
	s.expr = expr
	switch {
	case zone == "" || strings.EqualFold(zone, "UTC"):
		s.Zone = time.UTC
	case zone == "Local":
		errs = append(errs, wrap(fmt.Errorf("zone %q: use an IANA name such as Europe/Paris", zone)))
	default:
		loc, err := time.LoadLocation(zone)
		if err != nil {
			errs = append(errs, wrap(fmt.Errorf("zone %q: unknown time zone", zone)))
		}
		s.Zone = loc
	}
	if duration <= 0 {
		errs = append(errs, wrap(fmt.Errorf("duration %v: must be positive", duration)))
	}
	if min != Unset && min < 0 {
		errs = append(errs, wrap(fmt.Errorf("min %d: must be ≥ 0", min)))
	}
	if max != Unset && max < 1 {
		errs = append(errs, wrap(fmt.Errorf("max %d: must be ≥ 1", max)))
	}
	if min == Unset && max == Unset {
		errs = append(errs, wrap(errors.New("min and max are both unset: the schedule would do nothing")))
	}
	if min != Unset && max != Unset && min > max {
		errs = append(errs, wrap(fmt.Errorf("min %d > max %d", min, max)))
	}
	if len(errs) > 0 {
		return Schedule{}, errors.Join(errs...)
	}
	s.ok = true
	return s, nil
}

// Active reports whether t falls in [f, f+Duration) for some fire time f.
// Only the latest fire time ≤ t matters: an earlier one ends earlier.
func (s Schedule) Active(t time.Time) bool {
	start, ok := s.LastStart(t)
	return ok && t.Before(start.Add(s.Duration))
}

// LastStart returns the latest fire time ≤ t within the last Duration
// (plus a day of slack), or false if there is none.
func (s Schedule) LastStart(t time.Time) (time.Time, bool) {
	if !s.ok {
		return time.Time{}, false
	}
	return s.expr.prev(t, t.Add(-s.Duration), s.Zone)
}
