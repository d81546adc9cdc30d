package probe

import (
	"context"
	"crypto/tls"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Target is one backend address to probe.
type Target struct {
	ID   uint64
	Addr string // host:port
	TLS  bool
}

// Checker probes a changing set of targets and reports health transitions.
//
// Scheduling uses one time.AfterFunc timer per target rather than a
// goroutine per target: between probes a target costs a timer and a small
// struct, and a goroutine exists only while its probe is in flight. Probes of
// different targets therefore run concurrently (a hung target only holds its
// own goroutine), and a target's next probe is armed only after its current
// one has finished and been reported, so probes of one target never overlap.
type Checker struct {
	cfg      Config
	onChange func(id uint64, healthy bool, reason string)
	http     *http.Transport // HTTP kind only

	mu      sync.Mutex
	targets map[uint64]*target
	runCtx  context.Context // non-nil while Run is active
	// reports orders onChange deliveries per ID. An entry outlives its
	// target while a delivery decided by it is still pending, so that a
	// target re-added under the same ID (e.g. with a new Addr) can tell that
	// a stale report may reach the caller after SetTargets returned.
	reports map[uint64]*reportSeq
	turn    sync.Cond // L = &mu; broadcast when a delivery finishes
	// probeStarted, if set (only by tests, before Run), is called as each
	// probe starts, to observe scheduling from the prober's side.
	probeStarted func(id uint64)

	// wg counts armed timers plus probes in flight, so Run can wait for
	// every goroutine it may have caused. Add is only called with mu held
	// while runCtx != nil; Run clears runCtx under mu before Wait.
	wg sync.WaitGroup
}

// target is the checker's state for one Target. Fields below the marker are
// guarded by Checker.mu.
type target struct {
	Target
	url  string    // HTTP kind: the probe URL
	grpc *grpcConn // GRPC kind: the reused ClientConn

	// --- guarded by Checker.mu ---
	removed bool
	timer   *time.Timer
	gen     uint64 // identifies the currently armed timer; stale firings compare unequal
	probing bool
	again   bool               // ProbeNow arrived while probing: probe again immediately
	cancel  context.CancelFunc // of the probe in flight, so removal aborts it

	healthy   bool
	successes int // consecutive
	failures  int // consecutive
	lastErr   string
	lastCheck time.Time

	reports *reportSeq // shared with earlier targets of the same ID
	// resync: a report from an earlier target of this ID may be delivered
	// after this target was added, so report this target's state after its
	// first probe even if it did not change.
	resync bool
}

// reportSeq hands out delivery tickets for one ID: deliveries happen in the
// order they were decided, even across targets replacing each other.
type reportSeq struct{ next, turn uint64 }

func (r *reportSeq) pending() bool { return r.next != r.turn }

// New validates cfg and returns a Checker with no targets. onChange, if not
// nil, is called from probe goroutines — concurrently for different IDs, in
// order for one ID — and never after Run has returned. It may call Status,
// ProbeNow and SetTargets. It should not block for long: the target's next
// probe waits for it.
//
// A transition that was already being delivered when SetTargets removed or
// replaced its target may still arrive after SetTargets returns; callers
// should ignore IDs they no longer have. If the ID was re-added, the new
// target reports its own state after its first probe, so the caller's view
// converges.
func New(cfg Config, onChange func(id uint64, healthy bool, reason string)) (*Checker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// Copy what the caller could mutate behind our back.
	cfg.ExpectedStatus = append([]StatusRange(nil), cfg.ExpectedStatus...)
	if len(cfg.ExpectedStatus) == 0 {
		// Redirects are not followed, and a 3xx from a health endpoint
		// usually means "alive, but asked for the wrong URL".
		cfg.ExpectedStatus = []StatusRange{{200, 399}}
	}
	if cfg.TLS != nil {
		cfg.TLS = cfg.TLS.Clone()
	}
	c := &Checker{
		cfg:      cfg,
		onChange: onChange,
		targets:  make(map[uint64]*target),
		reports:  make(map[uint64]*reportSeq),
	}
	c.turn.L = &c.mu
	if cfg.Kind == HTTP {
		c.http = newHTTPTransport(&cfg)
	}
	return c, nil
}

// SetTargets replaces the probed set. New IDs start healthy-unconfirmed —
// assumed healthy so that a fresh deployment serves at once — and, while Run
// is active, are probed immediately. IDs no longer present are forgotten:
// their timer is stopped, an in-flight probe is cancelled and its result
// discarded, and their gRPC connection is closed (see New for a transition
// already being delivered). A known ID
// whose Addr or TLS changed is treated as a new target (state reset). If an
// ID is repeated in ts, the last entry wins. It may be called before, during
// or after Run.
func (c *Checker) SetTargets(ts []Target) {
	want := make(map[uint64]Target, len(ts))
	for _, t := range ts {
		want[t.ID] = t
	}
	var closing []*grpcConn
	c.mu.Lock()
	for id, t := range c.targets {
		if w, ok := want[id]; ok && w == t.Target {
			continue
		}
		c.stopLocked(t)
		t.removed = true
		delete(c.targets, id)
		if !t.reports.pending() {
			delete(c.reports, id)
		}
		if t.grpc != nil {
			closing = append(closing, t.grpc)
		}
	}
	for id, w := range want {
		if _, ok := c.targets[id]; ok {
			continue
		}
		t := c.newTarget(w)
		t.reports = c.reports[id]
		if t.reports == nil {
			t.reports = new(reportSeq)
			c.reports[id] = t.reports
		}
		t.resync = t.reports.pending()
		c.targets[id] = t
		if c.runCtx != nil {
			c.scheduleLocked(t, 0)
		}
	}
	c.mu.Unlock()
	// Closing a ClientConn waits for its goroutines; keep that outside mu.
	for _, g := range closing {
		g.close()
	}
}

func (c *Checker) newTarget(tg Target) *target {
	t := &target{Target: tg, healthy: true}
	switch c.cfg.Kind {
	case HTTP:
		scheme := "http://"
		if tg.TLS {
			scheme = "https://"
		}
		t.url = scheme + tg.Addr + c.cfg.Path
	case GRPC:
		t.grpc = &grpcConn{}
	}
	return t
}

// Check runs one probe of tg now, outside Run's schedule and thresholds,
// and returns "" when it passes or the reason it failed, as a scheduled
// probe reports it. It is for callers that need "is it serving yet" (an
// instance that is starting) rather than continuous health; ctx and the
// configured Timeout bound it. Safe for concurrent use; tg need not be
// among the probed targets.
func (c *Checker) Check(ctx context.Context, tg Target) string {
	t := c.newTarget(tg)
	if t.grpc != nil {
		defer t.grpc.close()
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if err := c.probe(ctx, t); err != nil {
		return c.reason(ctx, err)
	}
	return ""
}

// Run probes the targets until ctx ends. Every probe and timer it started
// has stopped, and every onChange call has returned, before Run returns.
// Run may be called again after it returns (health state is kept), but not
// concurrently with itself.
func (c *Checker) Run(ctx context.Context) {
	c.mu.Lock()
	if c.runCtx != nil {
		c.mu.Unlock()
		panic("probe: Checker.Run called while already running")
	}
	c.runCtx = ctx
	for _, t := range c.targets {
		c.scheduleLocked(t, 0)
	}
	c.mu.Unlock()

	<-ctx.Done()

	c.mu.Lock()
	c.runCtx = nil
	for _, t := range c.targets {
		c.stopLocked(t) // in-flight probes are already cancelled via ctx
		t.again = false
	}
	c.mu.Unlock()
	c.wg.Wait()

	// No probe is running now, so the connections are idle.
	c.mu.Lock()
	var conns []*grpcConn
	for _, t := range c.targets {
		if t.grpc != nil {
			conns = append(conns, t.grpc)
		}
	}
	c.mu.Unlock()
	for _, g := range conns {
		g.release()
	}
	if c.http != nil {
		c.http.CloseIdleConnections()
	}
}

// Status reports a target's current health for the admin API. known is false
// if id is not a current target. lastErr is the reason of the latest probe
// ("" if it succeeded); a zero lastCheck means the target has not been
// probed yet (healthy is then the unconfirmed initial assumption).
func (c *Checker) Status(id uint64) (healthy bool, lastErr string, lastCheck time.Time, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.targets[id]
	if !ok {
		return false, "", time.Time{}, false
	}
	return t.healthy, t.lastErr, t.lastCheck, true
}

// ProbeNow schedules an immediate probe of id, e.g. to re-admit a target that
// passive checks ejected without waiting a full interval. If a probe is in
// flight, one more runs right after it (requests coalesce). It is a no-op for
// unknown targets and while Run is not active.
func (c *Checker) ProbeNow(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.targets[id]
	if !ok || c.runCtx == nil {
		return
	}
	if t.probing {
		t.again = true
		return
	}
	c.scheduleLocked(t, 0)
}

// scheduleLocked (re)arms t's timer to probe after d.
func (c *Checker) scheduleLocked(t *target, d time.Duration) {
	c.disarmLocked(t)
	t.gen++
	gen := t.gen
	c.wg.Add(1)
	t.timer = time.AfterFunc(d, func() { c.fire(t, gen) })
}

// disarmLocked stops t's timer. If Stop reports the callback will not run,
// the timer's wg count is released here; otherwise fire releases it.
func (c *Checker) disarmLocked(t *target) {
	if t.timer != nil && t.timer.Stop() {
		c.wg.Done()
	}
	t.timer = nil
}

// stopLocked disarms t and aborts its probe in flight, if any.
func (c *Checker) stopLocked(t *target) {
	c.disarmLocked(t)
	if t.cancel != nil {
		t.cancel()
	}
}

// fire runs one probe of t on the timer's goroutine, records the result,
// reports a transition and arms the next probe.
func (c *Checker) fire(t *target, gen uint64) {
	defer c.wg.Done()

	c.mu.Lock()
	runCtx := c.runCtx
	if t.removed || t.gen != gen || runCtx == nil || t.probing {
		c.mu.Unlock()
		return // stale timer, removed target, or Run ended
	}
	t.timer = nil
	t.probing = true
	t.again = false
	ctx, cancel := context.WithTimeout(runCtx, c.cfg.Timeout)
	t.cancel = cancel
	c.mu.Unlock()

	if c.probeStarted != nil {
		c.probeStarted(t.ID)
	}
	err := c.probe(ctx, t)
	var reason string
	if err != nil {
		reason = c.reason(ctx, err)
	}
	cancel()
	now := time.Now()

	c.mu.Lock()
	defer c.mu.Unlock()
	t.cancel = nil
	t.probing = false
	if t.removed || runCtx.Err() != nil {
		// The failure (if any) is our own cancellation, not the target's.
		return
	}
	changed := t.record(reason, now, c.cfg.HealthyThreshold, c.cfg.UnhealthyThreshold)
	if t.resync {
		t.resync, changed = false, true
	}
	if changed && c.onChange != nil {
		// Still "probing" while reporting, so ProbeNow only sets again.
		t.probing = true
		c.deliverLocked(t, t.healthy, reason)
		t.probing = false
	}
	// runCtx is still ours if set: Run cannot restart before this
	// goroutine's wg count is released.
	if !t.removed && c.runCtx != nil {
		d := jittered(c.cfg.Interval, c.cfg.Jitter, rand.Float64())
		if t.again {
			d = 0
		}
		c.scheduleLocked(t, d)
	}
}

// deliverLocked calls onChange for t in ticket order, without holding mu
// during the call (so onChange may call back into the Checker). The report
// is dropped if t is removed before its turn comes.
func (c *Checker) deliverLocked(t *target, healthy bool, reason string) {
	if healthy {
		reason = ""
	}
	r := t.reports
	ticket := r.next
	r.next++
	for r.turn != ticket {
		c.turn.Wait()
	}
	if !t.removed {
		c.mu.Unlock()
		c.onChange(t.ID, healthy, reason)
		c.mu.Lock()
	}
	r.turn++
	if _, ok := c.targets[t.ID]; !ok && !r.pending() && c.reports[t.ID] == r {
		delete(c.reports, t.ID) // ID gone and nothing left to deliver
	}
	c.turn.Broadcast()
}

// record applies one probe result (reason "" = success) to the consecutive
// counters and reports whether the target crossed a threshold.
func (t *target) record(reason string, now time.Time, healthyThreshold, unhealthyThreshold int) (changed bool) {
	t.lastErr, t.lastCheck = reason, now
	if reason == "" {
		t.failures = 0
		t.successes++
		if !t.healthy && t.successes >= healthyThreshold {
			t.healthy = true
			return true
		}
		return false
	}
	t.successes = 0
	t.failures++
	if t.healthy && t.failures >= unhealthyThreshold {
		t.healthy = false
		return true
	}
	return false
}

// jittered returns interval*(1 + jitter*(2u-1)) for u in [0,1), i.e. a delay
// uniformly within interval*(1±jitter). Spreading probes keeps a pool's
// targets (and several gateways probing one target) from probing in lockstep.
func jittered(interval time.Duration, jitter, u float64) time.Duration {
	d := time.Duration(float64(interval) * (1 + jitter*(2*u-1)))
	return max(d, 0)
}

// tlsFor returns the client TLS config for a target host: the configured one
// (or defaults), with ServerName defaulting to the host.
func (c *Checker) tlsFor(host string) *tls.Config {
	var cfg *tls.Config
	if c.cfg.TLS != nil {
		cfg = c.cfg.TLS.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg
}
