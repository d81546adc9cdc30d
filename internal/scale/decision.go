package scale

import (
	"strconv"
	"strings"
	"time"
)

// Observation is a value that may be unknown (the zero value).
type Observation struct {
	Value float64
	Known bool
}

// Known returns a known observation of v.
func Known(v float64) Observation { return Observation{Value: v, Known: true} }

// Input is what the control loop observed about one service.
type Input struct {
	Current int // replicas asked for (the provider's desired count); ≥ 0
	Ready   int // instances ready to serve; ≤ Current normally

	// Gateway-measured totals for the whole service (not per instance),
	// averaged over Policy.StableWindow: in-flight requests (including
	// requests parked for a cold start) and requests per second.
	Concurrency float64
	RPS         float64
	// The same over Policy.PanicWindow.
	PanicConcurrency float64
	PanicRPS         float64

	// Average utilisation of the ready instances, percent. Unknown ones are
	// skipped.
	CPU, Memory Observation
	// Latency at the percentile the latency target refers to; 0 = unknown.
	Latency time.Duration

	// HeldRequests are requests parked right now waiting for a ready
	// instance (scale from zero).
	HeldRequests int
	// LastRequest is when the service last received a request; zero if the
	// caller does not track it (the Autoscaler then tracks activity itself).
	LastRequest time.Time
}

// Limit says what bounded the decision below or above the metric
// recommendation.
type Limit uint8

// Limits, in the order Decide applies them.
const (
	LimitNone          Limit = iota
	LimitStarting            // no scale-down while instances are starting
	LimitStabilization       // stabilization window held the count
	LimitScaleUpRate         // a scale-up rate policy (Decision.RatePolicy)
	LimitScaleDownRate       // a scale-down rate policy (Decision.RatePolicy)
	LimitDisabled            // scaling in this direction is Disabled
	LimitCooldown            // cooldown after the last scale event
	LimitMin                 // raised to the minimum
	LimitMax                 // capped at the maximum
	LimitPanic               // no scale-down while in panic mode
)

var limitNames = [...]string{"none", "instances starting", "stabilization window",
	"scale-up policy", "scale-down policy", "scaling disabled", "cooldown", "minimum", "maximum", "panic mode"}

func (l Limit) String() string {
	if int(l) < len(limitNames) {
		return limitNames[l]
	}
	return "Limit(" + strconv.Itoa(int(l)) + ")"
}

// Decision is the outcome of one Decide call. Decide fills the fields
// without allocating; Reason formats them for humans.
type Decision struct {
	Desired int // replicas to run
	Current int // Input.Current
	Ready   int // Input.Ready

	Min, Max         int    // effective bounds after schedules
	MinFrom, MaxFrom string // schedule names that set them ("" = policy)

	// Metric that drove the recommendation, with its observed value (per
	// instance, percent, or seconds for latency), its target and the raw
	// recommendation ceil(ready × observed/target).
	Metric           Metric
	Observed, Target float64
	Recommended      int
	WithinTolerance  bool // the driving metric was within tolerance: hold
	NoMetrics        bool // no configured metric was usable: hold

	Panic        bool // panic mode: scaled at once, no scale-down
	PanicDesired int  // recommendation from the panic window

	ScaleToZero bool          // idle for IdleFor ≥ IdleAfter → 0
	IdleFor     time.Duration // time since the last request
	FromZero    bool          // cold start from 0: ≥ 1 at once
	Held        int           // Input.HeldRequests

	Limited    Limit      // what bounded the result, LimitNone if nothing
	RatePolicy RatePolicy // the limiting rate policy when Limited is a rate limit

	window time.Duration // StableWindow, for Reason
}

// Changed reports whether the decision asks for a different count.
func (d Decision) Changed() bool { return d.Desired != d.Current }

// Reason explains the decision, naming the metric, the formula inputs and
// what limited it, e.g. "concurrency 34.0/10 per instance over 1m0s on 3
// ready → 4; limited by scale-up policy 100%/15s to 6".
func (d Decision) Reason() string {
	var b strings.Builder
	switch {
	case d.FromZero:
		b.WriteString("from zero: ")
		b.WriteString(strconv.Itoa(d.Held))
		b.WriteString(" held requests, ")
		b.WriteString(fmtFloat(d.Observed))
		b.WriteString(" in flight → ")
		b.WriteString(strconv.Itoa(d.Desired))
		b.WriteString(" at once (cold start skips stabilization and rate limits)")
	case d.ScaleToZero:
		b.WriteString("idle for ")
		b.WriteString(d.IdleFor.Round(time.Millisecond).String())
		b.WriteString(" with no requests and min 0 → scale to zero")
	case d.Current == 0 && d.Desired == 0:
		b.WriteString("at zero with no demand")
	case d.NoMetrics:
		b.WriteString("no usable metric (unknown or no ready instance) → hold ")
		b.WriteString(strconv.Itoa(d.Recommended))
	default:
		b.WriteString(string(d.Metric))
		b.WriteByte(' ')
		if d.Metric == MetricLatency {
			b.WriteString(time.Duration(d.Observed * float64(time.Second)).String())
			b.WriteByte('/')
			b.WriteString(time.Duration(d.Target * float64(time.Second)).String())
		} else {
			b.WriteString(strconv.FormatFloat(d.Observed, 'f', 1, 64))
			b.WriteByte('/')
			b.WriteString(fmtFloat(d.Target))
		}
		switch d.Metric {
		case MetricConcurrency, MetricRPS:
			b.WriteString(" per instance over ")
			b.WriteString(d.window.String())
		case MetricCPU, MetricMemory:
			b.WriteString("%")
		}
		b.WriteString(" on ")
		b.WriteString(strconv.Itoa(d.Ready))
		b.WriteString(" ready → ")
		b.WriteString(strconv.Itoa(d.Recommended))
		if d.WithinTolerance {
			b.WriteString(" (within tolerance, hold)")
		}
		if d.Panic {
			b.WriteString("; PANIC: panic-window demand ")
			b.WriteString(strconv.Itoa(d.PanicDesired))
			b.WriteString(" instances, scaling at once to ")
			b.WriteString(strconv.Itoa(d.Desired))
			b.WriteString(", no scale-down until ")
			b.WriteString(d.window.String())
			b.WriteString(" without panic")
		}
	}
	if d.Limited != LimitNone {
		b.WriteString("; limited by ")
		b.WriteString(d.Limited.String())
		if d.Limited == LimitScaleUpRate || d.Limited == LimitScaleDownRate {
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(d.RatePolicy.Value))
			if d.RatePolicy.Type == Percent {
				b.WriteString("%/")
			} else {
				b.WriteString(" instances/")
			}
			b.WriteString(d.RatePolicy.Period.String())
		}
		if d.Limited == LimitMin && d.MinFrom != "" {
			b.WriteString(" of schedule " + strconv.Quote(d.MinFrom))
		}
		if d.Limited == LimitMax && d.MaxFrom != "" {
			b.WriteString(" of schedule " + strconv.Quote(d.MaxFrom))
		}
		b.WriteString(" to ")
		b.WriteString(strconv.Itoa(d.Desired))
	}
	if d.Desired == d.Current {
		b.WriteString(" (no change)")
	}
	return b.String()
}

func fmtFloat(v float64) string {
	if v == float64(int64(v)) && v < 1e15 && v > -1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
