package scale

import (
	"math"
	"time"
)

// Autoscaler turns observations of one service into decisions. It holds the
// state HPA and Knative keep between decisions: recent recommendations
// (stabilization), recent scale events (rate policies, cooldown), panic
// mode, and last activity (scale to zero). It does no I/O and never reads
// the clock: the same value drives the control loop and the simulator.
//
// An Autoscaler is not safe for concurrent use; the loop owns it. Calls must
// pass a non-decreasing now.
type Autoscaler struct {
	policy Policy

	recs   []timedRec   // unstabilized recommendations within the longest window
	events []scaleEvent // changes decided within the longest policy period

	lastEvent  time.Time // last change decided, for cooldowns
	panicTime  time.Time // last time the panic condition held; zero = not panicking
	maxPanic   int       // highest count decided during this panic
	lastActive time.Time // last time demand was seen (or first Decide)
}

type timedRec struct {
	t time.Time
	n int
}

type scaleEvent struct {
	t     time.Time
	delta int // + scale up, - scale down
}

// New returns an Autoscaler for p, or p's validation errors.
func New(p Policy) (*Autoscaler, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Autoscaler{
		policy: p,
		recs:   make([]timedRec, 0, 32),
		events: make([]scaleEvent, 0, 32),
	}, nil
}

// SetPolicy swaps the policy on reload, keeping history, panic and activity
// state. On a validation error the old policy stays.
func (a *Autoscaler) SetPolicy(p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	a.policy = p
	return nil
}

// Policy returns the policy in use.
func (a *Autoscaler) Policy() Policy { return a.policy }

// Panicking reports whether the last Decide left the autoscaler in panic mode.
func (a *Autoscaler) Panicking() bool { return !a.panicTime.IsZero() }

// Decide returns the desired replica count for in at now. Every call with
// Desired != Current is recorded as a scale event for the rate policies and
// cooldowns: the caller is expected to apply it.
//
// Order (see doc.go): bounds from schedules → metric recommendation → panic
// state → from zero / to zero shortcuts → hold while starting → panic or
// (stabilization → rate policies → cooldown) → min/max clamp.
func (a *Autoscaler) Decide(now time.Time, in Input) Decision {
	p := &a.policy
	cur, ready := max(in.Current, 0), max(in.Ready, 0)
	d := Decision{Current: cur, Ready: ready, Held: in.HeldRequests, window: p.StableWindow}
	a.bounds(now, &d)

	active := in.HeldRequests > 0 || in.Concurrency > 0 || in.RPS > 0 ||
		in.PanicConcurrency > 0 || in.PanicRPS > 0
	switch {
	case in.HeldRequests > 0:
		a.lastActive = now
	case !in.LastRequest.IsZero() && !in.LastRequest.After(now):
		// The caller tracks requests: idle time counts from the last one,
		// not from the last window that still averaged it in (which would
		// add StableWindow to IdleAfter).
		a.lastActive = in.LastRequest
	case active || a.lastActive.IsZero():
		a.lastActive = now
	}

	rec, ok := a.recommend(in, cur, ready, &d)
	panicking := a.updatePanic(now, in, ready, &d)

	if cur == 0 {
		return a.fromZero(now, in, rec, active, &d)
	}
	if d.Min == 0 && !panicking && !active && p.IdleAfter > 0 && now.Sub(a.lastActive) >= p.IdleAfter {
		d.ScaleToZero = true
		d.IdleFor = now.Sub(a.lastActive)
		a.recs = a.recs[:0]
		return a.finish(now, &d, 0)
	}
	if !ok {
		rec = cur
		d.NoMetrics = true
	}
	d.Recommended = rec
	// starting holds the count while instances are still starting (or
	// failing to start): their load is not visible yet, so do not scale
	// down on partial evidence.
	starting := func(n int) int {
		if ready < cur && n < cur {
			d.Limited = LimitStarting
			return cur
		}
		return n
	}

	if panicking {
		d.Panic = true
		n := max(starting(rec), d.PanicDesired)
		if n < cur {
			d.Limited = LimitPanic
		}
		n = max(n, a.maxPanic, cur)
		a.maxPanic = min(n, d.Max)
		// The history gets the stable recommendation, not the panic
		// count: once panic ends, scale-down stabilization looks at what
		// the stable window asked for, instead of holding the panic peak
		// for another window.
		a.pushRec(now, rec)
		return a.finish(now, &d, n) // still capped at the maximum
	}

	// Stabilization records the raw recommendation (as HPA does), so the
	// hold while starting does not linger in the history.
	desired := starting(a.stabilize(now, rec, cur, &d))
	desired = a.rateLimit(now, desired, cur, &d)
	return a.finish(now, &d, desired)
}

// bounds applies active schedules: the largest min and the largest max among
// active schedules that set them replace the policy's. If the result has
// min > max, max is raised to min (the schedule's explicit floor wins).
func (a *Autoscaler) bounds(now time.Time, d *Decision) {
	d.Min, d.Max = a.policy.MinReplicas, a.policy.MaxReplicas
	smin, smax := Unset, Unset
	for i := range a.policy.Schedules {
		s := &a.policy.Schedules[i]
		if !s.Active(now) {
			continue
		}
		if s.Min != Unset && s.Min > smin {
			smin, d.MinFrom = s.Min, s.Name
		}
		if s.Max != Unset && s.Max > smax {
			smax, d.MaxFrom = s.Max, s.Name
		}
	}
	if smin != Unset {
		d.Min = smin
	}
	if smax != Unset {
		d.Max = smax
	}
	if d.Max < d.Min {
		d.Max = d.Min
		d.MaxFrom = d.MinFrom
	}
}

// recommend applies the HPA formula to every target and returns the largest
// recommendation, or false if no target was usable.
func (a *Autoscaler) recommend(in Input, cur, ready int, d *Decision) (int, bool) {
	p := &a.policy
	best, found := 0, false
	r := float64(ready)
	for _, t := range p.Targets {
		var observed, target, ratio float64
		var n int
		within := false
		switch t.Metric {
		case MetricConcurrency, MetricRPS:
			total := in.Concurrency
			if t.Metric == MetricRPS {
				total = in.RPS
			}
			target = t.Value
			// The gateway measures service totals exactly, so
			// ready × (total/ready)/target = total/target: starting
			// instances are neither counted as idle nor counted twice.
			n = ceil(total / target)
			if ready == 0 {
				observed = total
				break
			}
			observed = total / r
			ratio = observed / target
			if math.Abs(ratio-1) <= p.Tolerance+1e-9 {
				n, within = cur, true
			}
		case MetricCPU, MetricMemory:
			o := in.CPU
			if t.Metric == MetricMemory {
				o = in.Memory
			}
			if !o.Known || ready == 0 || t.Value <= 0 {
				continue // unknown: skipped, the other metrics decide
			}
			observed, target = o.Value, t.Value
			ratio = observed / target
			n = ceil(r * ratio)
			if math.Abs(ratio-1) <= p.Tolerance+1e-9 {
				n, within = cur, true
			}
		case MetricLatency:
			if in.Latency <= 0 || ready == 0 || t.Latency <= 0 {
				continue
			}
			observed, target = in.Latency.Seconds(), t.Latency.Seconds()
			ratio = observed / target
			if ratio <= 1+p.Tolerance+1e-9 {
				continue // latency only ever votes to scale up
			}
			n = ceil(r * ratio)
		default:
			continue
		}
		if !found || n > best {
			best, found = n, true
			d.Metric, d.Observed, d.Target, d.WithinTolerance = t.Metric, observed, target, within
		}
	}
	d.Recommended = best
	return best, found
}

// updatePanic implements Knative's panic mode: enter when the panic-window
// demand is ≥ PanicThreshold × max(ready, 1) instances, stay while it holds
// and for StableWindow after it last held.
func (a *Autoscaler) updatePanic(now time.Time, in Input, ready int, d *Decision) bool {
	p := &a.policy
	var want float64
	has := false
	for _, t := range p.Targets {
		switch {
		case t.Metric == MetricConcurrency && t.Value > 0:
			want, has = max(want, in.PanicConcurrency/t.Value), true
		case t.Metric == MetricRPS && t.Value > 0:
			want, has = max(want, in.PanicRPS/t.Value), true
		}
	}
	d.PanicDesired = ceil(want)
	if p.PanicThreshold <= 0 || !has {
		a.panicTime, a.maxPanic = time.Time{}, 0
		return false
	}
	if want >= p.PanicThreshold*float64(max(ready, 1)) {
		if a.panicTime.IsZero() {
			a.maxPanic = 0
		}
		a.panicTime = now
	} else if !a.panicTime.IsZero() && now.Sub(a.panicTime) >= p.StableWindow {
		a.panicTime, a.maxPanic = time.Time{}, 0
	}
	return !a.panicTime.IsZero()
}

// fromZero handles Current == 0: any demand starts at least one instance at
// once, skipping stabilization, rate limits and cooldowns (a cold start must
// not wait). It is idempotent: once Current ≥ 1 the normal path, which does
// not scale down while instances start, takes over.
func (a *Autoscaler) fromZero(now time.Time, in Input, rec int, active bool, d *Decision) Decision {
	d.Recommended = rec
	if active {
		d.FromZero = true
		d.Observed = in.Concurrency
		n := max(1, rec, d.PanicDesired)
		a.pushRec(now, n)
		return a.finish(now, d, n)
	}
	return a.finish(now, d, 0) // min > 0 raises it in finish
}

// stabilize is HPA's stabilizeRecommendationWithBehaviors: scale up to the
// smallest recommendation in the up window, down to the largest in the down
// window; the current count if that is between them.
func (a *Autoscaler) stabilize(now time.Time, rec, cur int, d *Decision) int {
	up, down := a.policy.ScaleUp.StabilizationWindow, a.policy.ScaleDown.StabilizationWindow
	upCut, downCut := now.Add(-up), now.Add(-down)
	upRec, downRec := rec, rec
	for _, r := range a.recs {
		if r.t.After(upCut) {
			upRec = min(upRec, r.n)
		}
		if r.t.After(downCut) {
			downRec = max(downRec, r.n)
		}
	}
	a.pushRec(now, rec)
	n := max(cur, upRec)
	n = min(n, downRec)
	if n != rec && d.Limited == LimitNone {
		d.Limited = LimitStabilization
	}
	return n
}

// pushRec records an unstabilized recommendation and drops ones older than
// the longest stabilization window. A run of equal values keeps only its
// newest timestamp, which changes no window's min or max.
func (a *Autoscaler) pushRec(now time.Time, n int) {
	w := max(a.policy.ScaleUp.StabilizationWindow, a.policy.ScaleDown.StabilizationWindow)
	cut := now.Add(-w)
	k := 0
	for _, r := range a.recs {
		if r.t.After(cut) {
			a.recs[k] = r
			k++
		}
	}
	a.recs = a.recs[:k]
	if w <= 0 {
		return
	}
	if k > 0 && a.recs[k-1].n == n {
		a.recs[k-1].t = now
		return
	}
	a.recs = append(a.recs, timedRec{t: now, n: n})
}

// rateLimit applies the direction's rate policies (HPA's
// calculateScaleUpLimitWithScalingRules / calculateScaleDownLimitWithBehaviors)
// and cooldown.
func (a *Autoscaler) rateLimit(now time.Time, desired, cur int, d *Decision) int {
	switch {
	case desired > cur:
		r := &a.policy.ScaleUp
		if r.Select == SelectDisabled {
			d.Limited = LimitDisabled
			return cur
		}
		if a.inCooldown(now, r.Cooldown) {
			d.Limited = LimitCooldown
			return cur
		}
		if limit, pol, ok := a.limit(now, cur, r, true); ok && desired > max(limit, cur) {
			d.Limited, d.RatePolicy = LimitScaleUpRate, pol
			return max(limit, cur)
		}
	case desired < cur:
		r := &a.policy.ScaleDown
		if r.Select == SelectDisabled {
			d.Limited = LimitDisabled
			return cur
		}
		if a.inCooldown(now, r.Cooldown) {
			d.Limited = LimitCooldown
			return cur
		}
		if limit, pol, ok := a.limit(now, cur, r, false); ok && desired < min(limit, cur) {
			d.Limited, d.RatePolicy = LimitScaleDownRate, pol
			return min(limit, cur)
		}
	}
	return desired
}

func (a *Autoscaler) inCooldown(now time.Time, c time.Duration) bool {
	return c > 0 && !a.lastEvent.IsZero() && now.Sub(a.lastEvent) < c
}

// limit returns the bound the rate policies allow. Each policy starts from
// the count at the start of its period (current minus changes made within
// it); Max selects the largest change, Min the smallest.
func (a *Autoscaler) limit(now time.Time, cur int, r *Rules, up bool) (int, RatePolicy, bool) {
	if len(r.Policies) == 0 {
		return 0, RatePolicy{}, false
	}
	largestChange := r.Select != SelectMin
	var result int
	var chosen RatePolicy
	for i, pol := range r.Policies {
		added, deleted := a.changes(now, pol.Period)
		start := cur - added + deleted
		var proposed int
		switch {
		case up && pol.Type == Instances:
			proposed = start + pol.Value
		case up:
			// Rounded up so a small count can always grow (HPA).
			proposed = ceil(float64(start) * (1 + float64(pol.Value)/100))
		case pol.Type == Instances:
			proposed = start - pol.Value
		default:
			proposed = int(float64(start) * (1 - float64(pol.Value)/100))
		}
		// Going up, a larger change is a larger bound; going down, a smaller one.
		better := proposed > result
		if up != largestChange {
			better = proposed < result
		}
		if i == 0 || better {
			result, chosen = proposed, pol
		}
	}
	return result, chosen, true
}

// changes sums the replicas added and removed by events within period.
func (a *Autoscaler) changes(now time.Time, period time.Duration) (added, deleted int) {
	cut := now.Add(-period)
	for _, e := range a.events {
		if e.t.After(cut) {
			if e.delta > 0 {
				added += e.delta
			} else {
				deleted -= e.delta
			}
		}
	}
	return added, deleted
}

// finish clamps to the effective bounds, records a scale event if the count
// changes, and returns the decision.
func (a *Autoscaler) finish(now time.Time, d *Decision, n int) Decision {
	floor := d.Min
	if floor == 0 && !d.ScaleToZero && (d.Current > 0 || d.FromZero) {
		floor = 1 // min 0 is reached only by the idle rule
	}
	if n < floor {
		n, d.Limited = floor, LimitMin
	}
	if n > d.Max {
		n, d.Limited = d.Max, LimitMax
	}
	d.Desired = n
	if n != d.Current {
		a.recordEvent(now, n-d.Current)
	}
	return *d
}

func (a *Autoscaler) recordEvent(now time.Time, delta int) {
	var keep time.Duration
	for _, r := range [2]*Rules{&a.policy.ScaleUp, &a.policy.ScaleDown} {
		for _, p := range r.Policies {
			keep = max(keep, p.Period)
		}
	}
	cut := now.Add(-keep)
	k := 0
	for _, e := range a.events {
		if e.t.After(cut) {
			a.events[k] = e
			k++
		}
	}
	a.events = append(a.events[:k], scaleEvent{t: now, delta: delta})
	a.lastEvent = now
}

// ceil rounds up, forgiving float noise (3.0000000001 → 3), and saturates.
func ceil(x float64) int {
	if !(x > 0) {
		return 0
	}
	if x >= math.MaxInt32 {
		return math.MaxInt32
	}
	return int(math.Ceil(x - 1e-9))
}
