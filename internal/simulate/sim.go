package simulate

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/floodgate/floodgate/internal/scale"
)

// Second is one simulated second of one policy.
type Second struct {
	Arrivals  int32   // requests that arrived (offered load)
	Completed int32   // requests that completed
	Dropped   int32   // requests dropped (queue full or hold timeout)
	P99       float32 // p99 latency of the completed requests, seconds; 0 if none
	Replicas  float32 // mean instances running: starting, ready and draining
	Desired   int32   // replicas asked for at the end of the second
}

// Summary is one policy's outcome over the whole trace.
type Summary struct {
	Policy string `json:"policy"`
	// SLOViolationSeconds counts seconds whose completed requests had a
	// p99 above the SLO, or in which a request was dropped.
	SLOViolationSeconds int     `json:"slo_violation_seconds"`
	ReplicaSeconds      float64 `json:"replica_seconds"` // ∫ instances running dt
	ColdStarts          int     `json:"cold_starts"`     // instances started (not the warm initial ones)
	Dropped             int64   `json:"dropped"`
	Completed           int64   `json:"completed"`
	Unfinished          int64   `json:"unfinished"` // in flight when the trace ended
	MaxReplicas         int     `json:"max_replicas"`
	P50ms               float64 `json:"p50_ms"`
	P99ms               float64 `json:"p99_ms"`
	ScaleEvents         int     `json:"scale_events"` // decisions that changed the count
}

// DecisionLog is a decision that changed the replica count.
type DecisionLog struct {
	T       float64 // seconds since t = 0
	Current int
	Desired int
	Reason  string
}

// Result is one policy's run.
type Result struct {
	Summary
	Series    []Second      // one per second of the trace (the last may be partial)
	Decisions []DecisionLog // with Config.RecordDecisions
}

type instState uint8

const (
	stStopped instState = iota
	stStarting
	stReady
	stDraining
)

type instance struct {
	busy  int32
	state instState
	// readyAt is when a starting instance becomes ready. A readiness event
	// counts only if it matches: an instance cancelled while starting may
	// have had its slot reused.
	readyAt float64
}

// Run simulates one policy over the trace.
func Run(tr *Trace, cfg Config, sc Scaler) (*Result, error) {
	if err := cfg.validate(tr); err != nil {
		return nil, err
	}
	if err := sc.validate(); err != nil {
		return nil, err
	}
	s, err := newSim(tr, &cfg, &sc)
	if err != nil {
		return nil, err
	}
	s.run()
	return s.result(), nil
}

// RunAll simulates the policies side by side, concurrently, on the same
// trace, seed and model. Each policy sees the same arrivals and the same
// service time for the same request.
func RunAll(tr *Trace, cfg Config, scalers []Scaler) ([]*Result, error) {
	if err := cfg.validate(tr); err != nil {
		return nil, err
	}
	for i := range scalers {
		if err := scalers[i].validate(); err != nil {
			return nil, err
		}
	}
	out := make([]*Result, len(scalers))
	errs := make([]error, len(scalers))
	var wg sync.WaitGroup
	for i := range scalers {
		wg.Go(func() { out[i], errs[i] = Run(tr, cfg, scalers[i]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// sim is the state of one policy's run. Times are float64 seconds since
// t = 0: cheaper than time.Time on the per-request path, and converted only
// when calling Decide.
type sim struct {
	// Settings, converted to seconds.
	cfg   *Config
	sc    *Scaler
	conc  int32 // slots per instance
	hold  float64
	qmax  int
	cold  float64
	jit   float64
	slo   float64
	start time.Time
	end   float64

	// Event sources: arrivals, the heap of completions and readiness, the
	// queue (whose head times out), decision ticks and second boundaries.
	arr      arrivals
	svc      sampler
	jitRNG   *rand.Rand
	events   eventHeap
	queue    fifo
	now      float64
	nextArr  float64
	nextTick float64
	ticks    int // decision ticks so far
	sync     float64
	sec      int     // current second
	nextSec  float64 // end of the current second (or of the trace)
	done     bool

	// Instances. Stopped slots are reused; the dispatcher scans from rr.
	inst      []instance
	free      []int32
	rr        int
	starting  int
	ready     int
	draining  int
	current   int // replicas asked for by the last decision
	freeSlots int // free slots on ready instances
	busyReady int // busy slots on ready instances
	inflight  int // queued + in service (including on draining instances)

	// What the gateway measures, for Decide.
	cum     cumulative // integrals up to now
	win     windowRing
	lastReq float64 // time of the last arrival; < 0 before the first
	as      *scale.Autoscaler
	stableW float64
	panicW  float64
	cpuW    float64
	latQ    float64     // latency percentile in (0,1], 0 = no latency target
	latRing [][]float64 // per-second latencies over the stable window
	latBuf  []float64

	// Outcome.
	aRunning   float64   // ∫ instances running dt
	secStart   float64   // aRunning at the start of the current second
	secLat     []float64 // latencies completed in the current second
	secArr     int32
	secDrop    int32
	hist       histogram
	maxRunning int
	res        Result
}

func newSim(tr *Trace, cfg *Config, sc *Scaler) (*sim, error) {
	m := cfg.Model
	seed := cfg.Seed
	s := &sim{
		cfg:     cfg,
		sc:      sc,
		conc:    int32(m.Concurrency),
		hold:    m.HoldTimeout.Seconds(),
		qmax:    m.QueueLimit,
		cold:    m.ColdStart.Seconds(),
		jit:     m.ColdStartJitter.Seconds(),
		start:   cfg.Start,
		end:     tr.Duration(),
		arr:     arrivals{pts: tr.Points, linear: cfg.Interp == Linear, rng: rand.New(rand.NewPCG(seed, 1))},
		svc:     newSampler(m, rand.New(rand.NewPCG(seed, 2))),
		jitRNG:  rand.New(rand.NewPCG(seed, 3)),
		lastReq: -1,
		slo:     cfg.SLO.Seconds(),
		events:  make(eventHeap, 0, 256),
		secLat:  make([]float64, 0, 1024),
	}
	if s.start.IsZero() {
		s.start = defaultStart()
	}
	s.res.Policy = sc.Name
	s.res.Series = make([]Second, 0, int(math.Ceil(s.end)))
	s.nextSec = min(1, s.end)
	s.nextTick = math.Inf(1)
	window := 1.0
	if p := sc.Policy; p != nil {
		as, err := scale.New(*p)
		if err != nil {
			return nil, fmt.Errorf("%s policy: %w", sc.Name, err)
		}
		s.as = as
		s.sync = sc.Sync.Seconds()
		s.nextTick = s.sync
		s.stableW, s.panicW = p.StableWindow.Seconds(), p.PanicWindow.Seconds()
		s.cpuW = s.stableW
		if sc.CPUWindow > 0 {
			s.cpuW = sc.CPUWindow.Seconds()
		}
		window = max(s.stableW, s.panicW, s.cpuW)
		for _, t := range p.Targets {
			if t.Metric == scale.MetricLatency {
				q := sc.LatencyPercentile
				if q == 0 {
					q = 99
				}
				s.latQ = q / 100
				s.latRing = make([][]float64, int(math.Ceil(s.stableW)))
			}
		}
	}
	s.win = newWindowRing(window)
	s.nextArr = s.arr.next(0)
	for range initialReplicas(sc, m, tr.Points[0].RPS) {
		i := s.newInstance()
		s.inst[i].state = stReady
		s.ready++
		s.freeSlots += int(s.conc)
	}
	s.current = s.ready
	s.maxRunning = s.ready
	return s, nil
}

// Event sources, in the order simultaneous events are handled: a second
// closes before anything else happens at its boundary, so that the tick at
// that instant sees it.
const (
	srcSecond = iota
	srcExpire
	srcEvent
	srcTick
	srcArrival
)

func (s *sim) run() {
	for !s.done {
		t, src := s.nextSec, srcSecond
		if s.queue.n > 0 {
			if x := s.queue.front().arr + s.hold; x < t {
				t, src = x, srcExpire
			}
		}
		if len(s.events) > 0 && s.events[0].t < t {
			t, src = s.events[0].t, srcEvent
		}
		if s.nextTick < t {
			t, src = s.nextTick, srcTick
		}
		if s.nextArr < t {
			t, src = s.nextArr, srcArrival
		}
		s.advance(t)
		switch src {
		case srcSecond:
			s.closeSecond()
		case srcExpire:
			s.queue.pop()
			s.inflight--
			s.drop()
		case srcEvent:
			if e := s.events.pop(); e.ready() {
				s.becomeReady(e)
			} else {
				s.complete(e)
			}
		case srcTick:
			s.decide()
			s.ticks++
			s.nextTick = float64(s.ticks+1) * s.sync // no drift from repeated addition
		case srcArrival:
			s.arrive()
		}
	}
}

// advance integrates the piecewise-constant signals up to t.
func (s *sim) advance(t float64) {
	dt := t - s.now
	if dt > 0 {
		s.cum.inflight += float64(s.inflight) * dt
		s.cum.busy += float64(s.busyReady) * dt
		s.cum.capacity += float64(s.ready) * float64(s.conc) * dt
		s.aRunning += float64(s.starting+s.ready+s.draining) * dt
	}
	s.now = t
}

func (s *sim) arrive() {
	t := s.now
	s.cum.arrivals++
	s.secArr++
	s.lastReq = t
	svc := s.svc.next()
	s.nextArr = s.arr.next(t)
	switch {
	case s.freeSlots > 0:
		s.inflight++
		s.dispatch(t, svc)
	case s.queue.n >= s.qmax:
		s.drop()
	default:
		s.queue.push(waiting{arr: t, svc: svc})
		s.inflight++
	}
	// Floodgate's loop wakes at once for a request held at zero replicas
	// rather than waiting for its next tick.
	if s.sc.WakeOnHeld && s.as != nil && s.current == 0 && s.ready == 0 {
		s.decide()
	}
}

func (s *sim) drop() {
	s.secDrop++
	s.res.Dropped++
}

// dispatch starts a request on a free slot of a ready instance (there must
// be one), round-robin over the instances as a load balancer would.
func (s *sim) dispatch(arr, svc float64) {
	n := len(s.inst)
	for range n {
		j := s.rr
		if s.rr++; s.rr == n {
			s.rr = 0
		}
		in := &s.inst[j]
		if in.state == stReady && in.busy < s.conc {
			in.busy++
			s.busyReady++
			s.freeSlots--
			s.events.push(event{t: s.now + svc, lat: float32(s.now + svc - arr), inst: int32(j)})
			return
		}
	}
	panic("simulate: dispatch without a free slot") // an accounting bug, not bad input
}

// drainQueue gives free slots to waiting requests, oldest first.
func (s *sim) drainQueue() {
	for s.freeSlots > 0 && s.queue.n > 0 {
		w := s.queue.pop()
		s.dispatch(w.arr, w.svc)
	}
}

func (s *sim) complete(e event) {
	in := &s.inst[e.inst]
	in.busy--
	s.inflight--
	lat := float64(e.lat)
	s.secLat = append(s.secLat, lat)
	s.hist.add(lat)
	switch in.state {
	case stReady:
		s.busyReady--
		s.freeSlots++
		s.drainQueue()
	case stDraining:
		if in.busy == 0 {
			s.draining--
			s.stop(e.inst)
		}
	}
}

func (s *sim) becomeReady(e event) {
	in := &s.inst[e.inst]
	if in.state != stStarting || in.readyAt != e.t {
		return // cancelled while starting
	}
	in.state = stReady
	s.starting--
	s.ready++
	s.freeSlots += int(s.conc)
	s.drainQueue()
}

// newInstance takes a stopped slot or appends one.
func (s *sim) newInstance() int32 {
	var i int32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		s.inst = append(s.inst, instance{})
		i = int32(len(s.inst) - 1)
	}
	s.inst[i].busy = 0
	return i
}

func (s *sim) stop(i int32) {
	s.inst[i].state = stStopped
	s.free = append(s.free, i)
}

// scaleTo applies a decision as a provider would: start instances (ready
// after the cold start), or cancel starting ones first and drain the least
// busy ready ones (they finish their requests and take no new ones).
func (s *sim) scaleTo(n int) {
	for s.current < n {
		i := s.newInstance()
		s.inst[i].state = stStarting
		s.starting++
		s.current++
		s.res.ColdStarts++
		d := s.cold
		if s.jit > 0 {
			d += s.jit * s.jitRNG.Float64()
		}
		s.inst[i].readyAt = s.now + d
		s.events.push(event{t: s.now + d, lat: -1, inst: i})
	}
	for s.current > n {
		s.current--
		if i := s.pick(stStarting); i >= 0 {
			s.starting--
			s.stop(i)
			continue
		}
		i := s.pick(stReady)
		if i < 0 {
			break // cannot happen: current = starting + ready
		}
		in := &s.inst[i]
		s.ready--
		s.freeSlots -= int(s.conc - in.busy)
		s.busyReady -= int(in.busy)
		if in.busy == 0 {
			s.stop(i)
			continue
		}
		in.state = stDraining
		s.draining++
	}
	s.maxRunning = max(s.maxRunning, s.starting+s.ready+s.draining)
}

// pick returns the instance to remove in state st: the starting one that
// would be ready last, or the least busy ready one; -1 if none.
func (s *sim) pick(st instState) int32 {
	best := int32(-1)
	for i := range s.inst {
		in := &s.inst[i]
		if in.state != st {
			continue
		}
		if best < 0 ||
			(st == stStarting && in.readyAt > s.inst[best].readyAt) ||
			(st == stReady && in.busy < s.inst[best].busy) {
			best = int32(i)
		}
	}
	return best
}

// decide builds the Input the real control loop would and applies the
// decision.
func (s *sim) decide() {
	t := s.now
	in := scale.Input{
		Current: s.current,
		Ready:   s.ready,
	}
	in.Concurrency, in.RPS = s.loadOver(s.stableW)
	in.PanicConcurrency, in.PanicRPS = s.loadOver(s.panicW)
	if s.ready > 0 {
		in.CPU = s.cpuOver(s.cpuW)
	} else {
		in.HeldRequests = s.queue.n
	}
	if s.latQ > 0 {
		in.Latency = s.latency()
	}
	if s.lastReq >= 0 {
		in.LastRequest = s.timeAt(s.lastReq)
	}
	d := s.as.Decide(s.timeAt(t), in)
	if d.Changed() {
		s.res.ScaleEvents++
		if s.cfg.RecordDecisions {
			s.res.Decisions = append(s.res.Decisions, DecisionLog{T: t, Current: d.Current, Desired: d.Desired, Reason: d.Reason()})
		}
	}
	s.scaleTo(d.Desired)
}

func (s *sim) timeAt(t float64) time.Time {
	return s.start.Add(time.Duration(math.Round(t * 1e9)))
}

// span is the averaging span of a window at now: the window, or the time
// simulated so far when shorter (a freshly started gateway averages over
// what it has seen).
func (s *sim) span(w float64) float64 { return min(w, s.now) }

// loadOver returns the mean in-flight requests and the arrival rate over
// the last w seconds.
func (s *sim) loadOver(w float64) (conc, rps float64) {
	sp := s.span(w)
	if sp <= 0 {
		return float64(s.inflight), 0
	}
	d := s.cum.sub(s.win.at(s.now-sp, s.now, s.cum))
	return d.inflight / sp, d.arrivals / sp
}

// cpuOver is the busy fraction of the ready instances' slots over the last
// w seconds, in percent: a CPU-like utilisation.
func (s *sim) cpuOver(w float64) scale.Observation {
	sp := s.span(w)
	if sp <= 0 {
		return scale.Known(100 * float64(s.busyReady) / float64(s.ready*int(s.conc)))
	}
	d := s.cum.sub(s.win.at(s.now-sp, s.now, s.cum))
	if d.capacity <= 0 {
		return scale.Observation{}
	}
	return scale.Known(100 * d.busy / d.capacity)
}

// latency is the latency percentile of requests completed in the last
// stable window (whole seconds plus the current one).
func (s *sim) latency() time.Duration {
	buf := append(s.latBuf[:0], s.secLat...)
	for _, l := range s.latRing {
		buf = append(buf, l...)
	}
	s.latBuf = buf
	return time.Duration(percentile(buf, s.latQ) * 1e9)
}

// closeSecond ends the current second: its p99 and SLO verdict, its series
// entry, and the window sample.
func (s *sim) closeSecond() {
	length := s.now - float64(s.sec)
	p99 := percentile(s.secLat, 0.99) // before the latency ring copies secLat; order is irrelevant there
	sec := Second{
		Arrivals:  s.secArr,
		Completed: int32(len(s.secLat)),
		Dropped:   s.secDrop,
		P99:       float32(p99),
		Desired:   int32(s.current),
	}
	if length > 0 {
		sec.Replicas = float32((s.aRunning - s.secStart) / length)
	}
	if s.secDrop > 0 || p99 > s.slo {
		s.res.SLOViolationSeconds++
	}
	s.res.Series = append(s.res.Series, sec)
	if s.latRing != nil {
		k := s.sec % len(s.latRing)
		s.latRing[k] = append(s.latRing[k][:0], s.secLat...)
	}
	s.secLat, s.secArr, s.secDrop, s.secStart = s.secLat[:0], 0, 0, s.aRunning
	if s.now >= s.end {
		s.done = true
		return
	}
	s.sec++
	s.win.record(s.sec, s.cum)
	s.nextSec = min(float64(s.sec+1), s.end)
}

func (s *sim) result() *Result {
	r := &s.res
	// Rounded to hide the float noise of summing millions of intervals.
	r.ReplicaSeconds = math.Round(s.aRunning*1e6) / 1e6
	r.Completed = s.hist.n
	r.Unfinished = int64(s.inflight)
	r.MaxReplicas = s.maxRunning
	r.P50ms = s.hist.quantile(0.50) * 1e3
	r.P99ms = s.hist.quantile(0.99) * 1e3
	return r
}

// arrivals generates a Poisson process whose rate follows the trace,
// segment by segment. Because the process is memoryless, a draw that
// overshoots a segment's end can be discarded and redrawn from the boundary
// at the next segment's rate without bias.
type arrivals struct {
	pts    []Point
	i      int // current segment [pts[i].T, pts[i+1].T)
	linear bool
	rng    *rand.Rand
}

// next returns the first arrival after t, or +Inf after the trace.
func (a *arrivals) next(t float64) float64 {
	for a.i+1 < len(a.pts) {
		p, q := a.pts[a.i], a.pts[a.i+1]
		t = max(t, p.T)
		e := a.rng.ExpFloat64()
		dt, ok := 0.0, false
		if !a.linear {
			if p.RPS > 0 {
				dt, ok = e/p.RPS, true
			}
		} else {
			// Rate r(t+x) = r0 + b·x; solve ∫₀^dt r = e:
			// dt = 2e / (r0 + √(r0² + 2be)), stable for either sign of b.
			b := (q.RPS - p.RPS) / (q.T - p.T)
			r0 := p.RPS + b*(t-p.T)
			if disc := r0*r0 + 2*b*e; disc >= 0 {
				if den := r0 + math.Sqrt(disc); den > 0 {
					dt, ok = 2*e/den, true
				}
			}
		}
		if ok && t+dt < q.T {
			return t + dt
		}
		a.i++
		t = q.T
	}
	return math.Inf(1)
}
