package scale

import (
	"errors"
	"fmt"
	"time"
)

// Metric names a scaling signal. The names are the configuration spelling.
type Metric string

// Metrics the autoscaler understands.
const (
	MetricConcurrency Metric = "concurrency" // in-flight requests per ready instance
	MetricRPS         Metric = "rps"         // requests per second per ready instance
	MetricCPU         Metric = "cpu"         // average CPU utilisation of ready instances, percent
	MetricMemory      Metric = "memory"      // average memory utilisation of ready instances, percent
	MetricLatency     Metric = "latency"     // observed latency at the caller's percentile vs a target
)

// Target is one metric and its per-instance target.
type Target struct {
	Metric Metric
	// Value is the target for concurrency (requests in flight per
	// instance), rps (requests/s per instance), cpu and memory (percent of
	// the instance's request or limit, e.g. 70). Must be > 0. Unused for
	// latency.
	Value float64
	// Latency is the latency target for MetricLatency (e.g. 250ms for the
	// p95 the caller measures). Must be > 0 for latency, unused otherwise.
	Latency time.Duration
}

// PolicyType is how a rate policy limits change: by a percentage of the
// replicas at the start of the period, or by a number of instances.
type PolicyType string

// Rate policy types (HPA: Percent, Pods).
const (
	Percent   PolicyType = "Percent"
	Instances PolicyType = "Instances"
)

// Select chooses between several rate policies, as HPA's selectPolicy.
type Select string

// Select values. The empty string means SelectMax.
const (
	SelectMax      Select = "Max"      // the policy allowing the largest change
	SelectMin      Select = "Min"      // the policy allowing the smallest change
	SelectDisabled Select = "Disabled" // no change in this direction at all
)

// RatePolicy limits how much the replica count may change within Period,
// counting the changes already made in that period (HPA's HPAScalingPolicy).
type RatePolicy struct {
	Type   PolicyType
	Value  int           // percent (e.g. 100) or instances (e.g. 4); > 0
	Period time.Duration // look-back period, e.g. 15s; > 0
}

// Rules is the behaviour in one direction (HPA's HPAScalingRules).
type Rules struct {
	// StabilizationWindow: scale-up uses the minimum, scale-down the maximum
	// recommendation seen in this window, so a short spike or dip does not
	// move the count. 0 means react to the latest recommendation. ≥ 0.
	StabilizationWindow time.Duration
	// Select picks among Policies; "" means SelectMax.
	Select Select
	// Policies limit the rate of change; none means unlimited.
	Policies []RatePolicy
	// Cooldown: no change in this direction until this long after the last
	// scale event in either direction. 0 disables. Panic and cold starts
	// ignore the scale-up cooldown. ≥ 0.
	Cooldown time.Duration
}

// Policy is the compiled scaling policy of one service. Start from
// DefaultPolicy or HPADefaults and override fields; Validate before use.
type Policy struct {
	MinReplicas int // ≥ 0; 0 enables scale to zero after IdleAfter
	MaxReplicas int // ≥ 1 and ≥ MinReplicas

	Targets []Target // at least one; the largest recommendation wins

	// Tolerance: no change while |observed/target − 1| ≤ Tolerance. [0, 1).
	Tolerance float64

	// StableWindow is the window the caller averages Input.Concurrency and
	// Input.RPS over, and how long panic mode lasts after the last panic
	// condition. > 0.
	StableWindow time.Duration
	// PanicWindow is the short window the caller averages
	// Input.PanicConcurrency and Input.PanicRPS over. 0 < PanicWindow ≤
	// StableWindow.
	PanicWindow time.Duration
	// PanicThreshold: panic when the panic-window demand is ≥ this many times
	// the ready capacity. 0 disables panic mode; otherwise > 1.
	PanicThreshold float64

	// IdleAfter: with MinReplicas 0, scale to zero after this long without
	// requests. Must be > 0 when MinReplicas is 0 (or a schedule sets min 0).
	IdleAfter time.Duration

	ScaleUp, ScaleDown Rules

	// Schedules override MinReplicas/MaxReplicas while active: the largest
	// min and the largest max among active schedules that set them.
	Schedules []Schedule
}

// Floodgate's defaults. The gateway measures load exactly and every second,
// so it can afford faster reactions than HPA's 15 s / 300 s.
const (
	DefaultTolerance      = 0.1
	DefaultStableWindow   = 60 * time.Second
	DefaultPanicWindow    = 6 * time.Second
	DefaultPanicThreshold = 2.0
	DefaultIdleAfter      = 5 * time.Minute
	DefaultScaleDownDelay = 30 * time.Second // scale-down stabilization window
	DefaultConcurrency    = 10.0             // in-flight requests per instance
)

// DefaultPolicy returns Floodgate's defaults: 1..10 replicas, concurrency 10
// per instance, tolerance 0.1, stable/panic windows 60 s/6 s, panic at 2×,
// scale up immediately by max(100 %, 4 instances) per 5 s, scale down after
// 30 s of stabilization by at most 50 % per 15 s, idle 5 min before zero
// (only when MinReplicas is set to 0).
func DefaultPolicy() Policy {
	return Policy{
		MinReplicas:    1,
		MaxReplicas:    10,
		Targets:        []Target{{Metric: MetricConcurrency, Value: DefaultConcurrency}},
		Tolerance:      DefaultTolerance,
		StableWindow:   DefaultStableWindow,
		PanicWindow:    DefaultPanicWindow,
		PanicThreshold: DefaultPanicThreshold,
		IdleAfter:      DefaultIdleAfter,
		ScaleUp: Rules{
			Select: SelectMax,
			Policies: []RatePolicy{
				{Type: Percent, Value: 100, Period: 5 * time.Second},
				{Type: Instances, Value: 4, Period: 5 * time.Second},
			},
		},
		ScaleDown: Rules{
			StabilizationWindow: DefaultScaleDownDelay,
			Select:              SelectMax,
			Policies:            []RatePolicy{{Type: Percent, Value: 50, Period: 15 * time.Second}},
		},
	}
}

// HPADefaults returns Kubernetes HPA's default behaviour (autoscaling/v2):
// tolerance 0.1; scale up with no stabilization by max(100 %, 4 pods) per
// 15 s; scale down after 300 s stabilization by up to 100 % per 15 s; no
// panic mode, no scale to zero. Targets and bounds are DefaultPolicy's so a
// simulator compares behaviour only. The 15 s sync period is the caller's.
func HPADefaults() Policy {
	p := DefaultPolicy()
	p.PanicThreshold = 0
	p.ScaleUp = Rules{
		Select: SelectMax,
		Policies: []RatePolicy{
			{Type: Percent, Value: 100, Period: 15 * time.Second},
			{Type: Instances, Value: 4, Period: 15 * time.Second},
		},
	}
	p.ScaleDown = Rules{
		StabilizationWindow: 300 * time.Second,
		Select:              SelectMax,
		Policies:            []RatePolicy{{Type: Percent, Value: 100, Period: 15 * time.Second}},
	}
	return p
}

// FieldError is one validation problem; Field is the config path, e.g.
// "targets[1].value" or "scaleDown.policies[0].period".
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate reports every problem in p as *FieldError values joined with
// errors.Join (nil if none). Use errors.As, or Unwrap() []error, to list them.
func (p Policy) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if p.MinReplicas < 0 {
		add("minReplicas", "%d: must be ≥ 0", p.MinReplicas)
	}
	if p.MaxReplicas < 1 {
		add("maxReplicas", "%d: must be ≥ 1", p.MaxReplicas)
	}
	if p.MinReplicas > p.MaxReplicas {
		add("minReplicas", "%d is greater than maxReplicas %d", p.MinReplicas, p.MaxReplicas)
	}
	if len(p.Targets) == 0 {
		add("targets", "at least one target is required")
	}
	seen := map[Metric]bool{}
	for i, t := range p.Targets {
		f := fmt.Sprintf("targets[%d]", i)
		switch t.Metric {
		case MetricConcurrency, MetricRPS, MetricCPU, MetricMemory:
			if !(t.Value > 0) {
				add(f+".value", "%v: %s target must be > 0", t.Value, t.Metric)
			}
		case MetricLatency:
			if t.Latency <= 0 {
				add(f+".latency", "%v: latency target must be > 0", t.Latency)
			}
		default:
			add(f+".metric", "unknown metric %q (want concurrency, rps, cpu, memory or latency)", t.Metric)
			continue
		}
		if seen[t.Metric] {
			add(f+".metric", "duplicate metric %q", t.Metric)
		}
		seen[t.Metric] = true
	}
	if !(p.Tolerance >= 0 && p.Tolerance < 1) {
		add("tolerance", "%v: must be in [0, 1)", p.Tolerance)
	}
	if p.StableWindow <= 0 {
		add("stableWindow", "%v: must be > 0", p.StableWindow)
	}
	if p.PanicWindow <= 0 {
		add("panicWindow", "%v: must be > 0", p.PanicWindow)
	} else if p.StableWindow > 0 && p.PanicWindow > p.StableWindow {
		add("panicWindow", "%v: must not exceed stableWindow %v", p.PanicWindow, p.StableWindow)
	}
	if p.PanicThreshold != 0 && !(p.PanicThreshold > 1) {
		add("panicThreshold", "%v: must be > 1, or 0 to disable panic mode", p.PanicThreshold)
	}
	zeroMin := p.MinReplicas == 0
	for i, s := range p.Schedules {
		f := fmt.Sprintf("schedules[%d]", i)
		if !s.ok {
			add(f, "not built by ParseSchedule")
			continue
		}
		if s.Min == 0 {
			zeroMin = true
		}
	}
	if p.IdleAfter < 0 {
		add("idleAfter", "%v: must be ≥ 0", p.IdleAfter)
	} else if zeroMin && p.IdleAfter == 0 {
		add("idleAfter", "must be > 0 when the minimum can be 0 (scale to zero)")
	}
	p.ScaleUp.validate("scaleUp", add)
	p.ScaleDown.validate("scaleDown", add)
	return errors.Join(errs...)
}

func (r Rules) validate(prefix string, add func(field, format string, args ...any)) {
	if r.StabilizationWindow < 0 {
		add(prefix+".stabilizationWindow", "%v: must be ≥ 0", r.StabilizationWindow)
	}
	if r.Cooldown < 0 {
		add(prefix+".cooldown", "%v: must be ≥ 0", r.Cooldown)
	}
	switch r.Select {
	case "", SelectMax, SelectMin, SelectDisabled:
	default:
		add(prefix+".select", "unknown value %q (want Max, Min or Disabled)", r.Select)
	}
	for i, rp := range r.Policies {
		f := fmt.Sprintf("%s.policies[%d]", prefix, i)
		if rp.Type != Percent && rp.Type != Instances {
			add(f+".type", "unknown type %q (want Percent or Instances)", rp.Type)
		}
		if rp.Value <= 0 {
			add(f+".value", "%d: must be > 0", rp.Value)
		}
		if rp.Period <= 0 {
			add(f+".period", "%v: must be > 0", rp.Period)
		}
	}
}
