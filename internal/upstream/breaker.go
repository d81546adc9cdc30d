package upstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// BreakerState is a circuit breaker's state.
type BreakerState int32

const (
	Closed   BreakerState = iota // requests flow; failures are counted
	Open                         // requests are refused until the cool-down passes
	HalfOpen                     // a few trial requests decide: success closes, failure opens again
)

func (s BreakerState) String() string {
	switch s {
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return "closed"
}

// BreakerConfig configures a Breaker. Zero fields disable what they control.
type BreakerConfig struct {
	ConsecutiveFailures int           // open after this many failures in a row (0: off)
	FailureRatio        float64       // open when failures/requests in the window exceed this (0: off)
	Window              time.Duration // rolling window for FailureRatio (10 one-second-or-more buckets)
	MinRequests         int           // requests in the window before FailureRatio applies
	Cooldown            time.Duration // first open period
	MaxCooldown         time.Duration // open periods double on each re-open, up to this (= Cooldown: constant)
	HalfOpenRequests    int           // trial requests while half-open (≥ 1)
}

// Breaker is a circuit breaker (closed / open / half-open, after Nygard's
// "Release It!"). The same type serves twice: per target it is passive
// outlier detection — a target whose breaker is open is ejected from
// balancing, with open periods growing exponentially on repeated trips —
// and per upstream it fails requests fast while the whole service is
// failing.
//
// Allow is lock-free in the closed state (the common case); transitions
// and counting take a mutex, which a request holds for a few nanoseconds.
type Breaker struct {
	cfg   BreakerConfig
	state atomic.Int32 // BreakerState

	// consecutive counts failures in a row; a success resets it without
	// the lock (the common case costs a load).
	consecutive atomic.Int32
	clean       atomic.Bool // no trips to forget: successes need no lock at all

	mu       sync.Mutex
	buckets  [10]bucket
	openedAt time.Time
	openFor  time.Duration // current open period
	trips    int           // consecutive trips without a clean close period
	closedAt time.Time
	trials   int // trial requests admitted in this half-open period
	trialOK  int
	reason   string
}

type bucket struct {
	start    int64 // unix nanos of the bucket's slot
	requests int
	failures int
}

// NewBreaker returns a closed breaker.
func NewBreaker(cfg BreakerConfig) *Breaker {
	if cfg.HalfOpenRequests < 1 {
		cfg.HalfOpenRequests = 1
	}
	if cfg.MaxCooldown < cfg.Cooldown {
		cfg.MaxCooldown = cfg.Cooldown
	}
	if cfg.Window <= 0 {
		cfg.Window = 10 * time.Second
	}
	b := &Breaker{cfg: cfg}
	b.clean.Store(true)
	return b
}

// State returns the current state (an open breaker whose cool-down has
// passed still reads Open until a request asks).
func (b *Breaker) State() BreakerState { return BreakerState(b.state.Load()) }

// Allow reports whether a request may go through now. In the half-open
// state it admits up to HalfOpenRequests trials; every admitted request
// must be followed by exactly one Record.
func (b *Breaker) Allow(now time.Time) bool {
	if BreakerState(b.state.Load()) == Closed {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch BreakerState(b.state.Load()) {
	case Closed:
		return true
	case Open:
		if now.Sub(b.openedAt) < b.openFor {
			return false
		}
		b.state.Store(int32(HalfOpen))
		b.trials, b.trialOK = 0, 0
		fallthrough
	default: // HalfOpen
		if b.trials >= b.cfg.HalfOpenRequests {
			return false
		}
		b.trials++
		return true
	}
}

// Eligible reports, without consuming a trial, whether Allow could admit a
// request now (for building the set of targets to balance over).
func (b *Breaker) Eligible(now time.Time) bool {
	switch BreakerState(b.state.Load()) {
	case Closed:
		return true
	case HalfOpen:
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.trials < b.cfg.HalfOpenRequests
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return now.Sub(b.openedAt) >= b.openFor
}

// RetryAfter is how long until an open breaker lets trials through.
func (b *Breaker) RetryAfter(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if BreakerState(b.state.Load()) != Open {
		return 0
	}
	return max(0, b.openFor-now.Sub(b.openedAt))
}

// Record counts the outcome of a request. It reports true when this
// outcome opened the breaker (the caller logs and counts the ejection).
func (b *Breaker) Record(ok bool, now time.Time) (opened bool) {
	// Fast path: a success while closed, with no failure-rate window to
	// feed and no trip history to forget: no lock, usually no store.
	if ok && b.cfg.FailureRatio == 0 && b.clean.Load() && BreakerState(b.state.Load()) == Closed {
		if b.consecutive.Load() != 0 {
			b.consecutive.Store(0)
		}
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st := BreakerState(b.state.Load())
	if st == HalfOpen {
		if !ok {
			b.open(now, "failed trial")
			return true
		}
		b.trialOK++
		if b.trialOK >= b.cfg.HalfOpenRequests {
			b.close(now)
		}
		return false
	}
	if st == Open {
		return false // a request admitted before the breaker opened
	}
	var bk *bucket
	if b.cfg.FailureRatio > 0 {
		bk = b.bucketFor(now)
		bk.requests++
	}
	if ok {
		b.consecutive.Store(0)
		if b.trips > 0 && now.Sub(b.closedAt) > 2*b.openFor {
			b.trips = 0 // a clean period: the next trip starts from the base cool-down
		}
		b.clean.Store(b.trips == 0)
		return false
	}
	if bk != nil {
		bk.failures++
	}
	n := int(b.consecutive.Add(1))
	if c := b.cfg.ConsecutiveFailures; c > 0 && n >= c {
		b.open(now, "consecutive failures")
		return true
	}
	if r := b.cfg.FailureRatio; r > 0 {
		req, fail := b.windowCounts(now)
		if req >= max(b.cfg.MinRequests, 1) && float64(fail) > r*float64(req) {
			b.open(now, "failure rate")
			return true
		}
	}
	return false
}

// Trip opens the breaker at once (hang detection, a failed active probe).
// It reports whether the breaker was not open already.
func (b *Breaker) Trip(now time.Time, reason string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if BreakerState(b.state.Load()) == Open {
		return false
	}
	b.open(now, reason)
	return true
}

// Reset closes the breaker at once (a successful active probe re-admits an
// ejected target, as Envoy's successful_active_health_check_uneject_host).
// The trip history is kept: a target that fails again soon is ejected for
// longer.
func (b *Breaker) Reset(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if BreakerState(b.state.Load()) != Closed {
		b.close(now)
	}
}

// Reason is why the breaker last opened.
func (b *Breaker) Reason() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reason
}

// OpenUntil is when an open breaker's cool-down ends (zero when not open).
func (b *Breaker) OpenUntil() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if BreakerState(b.state.Load()) != Open {
		return time.Time{}
	}
	return b.openedAt.Add(b.openFor)
}

func (b *Breaker) open(now time.Time, reason string) {
	b.openFor = b.cfg.Cooldown << min(b.trips, 20)
	if b.openFor > b.cfg.MaxCooldown || b.openFor <= 0 {
		b.openFor = b.cfg.MaxCooldown
	}
	b.trips++
	b.clean.Store(false)
	b.openedAt = now
	b.reason = reason
	b.consecutive.Store(0)
	b.buckets = [10]bucket{}
	b.state.Store(int32(Open))
}

func (b *Breaker) close(now time.Time) {
	b.state.Store(int32(Closed))
	b.closedAt = now
	b.consecutive.Store(0)
	b.buckets = [10]bucket{}
}

// bucketFor returns the bucket of now, resetting it if it held an older slot.
func (b *Breaker) bucketFor(now time.Time) *bucket {
	width := int64(b.cfg.Window) / int64(len(b.buckets))
	slot := now.UnixNano() / width
	bk := &b.buckets[slot%int64(len(b.buckets))]
	if bk.start != slot {
		*bk = bucket{start: slot}
	}
	return bk
}

func (b *Breaker) windowCounts(now time.Time) (requests, failures int) {
	width := int64(b.cfg.Window) / int64(len(b.buckets))
	slot := now.UnixNano() / width
	for _, bk := range b.buckets {
		if slot-bk.start < int64(len(b.buckets)) {
			requests += bk.requests
			failures += bk.failures
		}
	}
	return requests, failures
}
