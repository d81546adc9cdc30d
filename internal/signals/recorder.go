package signals

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"
)

// Config sizes a Recorder. The zero value is valid and means the defaults.
type Config struct {
	// Resolution is the width of one ring slot. Default 1 s; at least
	// 10 ms. Windows are aligned to slots, so a window of w is served as
	// ceil(w/Resolution) slots ending with the current, partial one (see
	// Window.Span). Memory grows as MaxWindow/Resolution.
	Resolution time.Duration
	// MaxWindow is the longest window Snapshot serves. Default 60 s (the
	// Knative stable window). Longer requested windows are clamped.
	MaxWindow time.Duration
	// Stripes is the number of independent counter sets, a power of two.
	// Default: GOMAXPROCS rounded up to a power of two, at most 16. 1
	// disables striping.
	Stripes int
	// Quantile, when set (in (0, 1), e.g. 0.95), is an extra latency
	// percentile every Snapshot computes into Window.PQ (an autoscaling
	// latency target's percentile).
	Quantile float64
}

// Defaults.
const (
	DefaultResolution = time.Second
	DefaultMaxWindow  = 60 * time.Second
	MinResolution     = 10 * time.Millisecond
	maxStripes        = 16
	maxSlots          = 1 << 16
	// claimSpins bounds how long a writer waits for another goroutine that
	// is resetting a slot before it drops its sample (counted in Dropped).
	claimSpins = 64
)

// slot holds one stripe's counters for one time slot. 64 bytes: one cache
// line, so two stripes never share the line of their current slot.
type slot struct {
	// ep is 2e when the slot holds epoch e (slot index = unix nanos /
	// resolution) and 2e+1 while a writer resets it for epoch e. 0 = empty.
	ep atomic.Uint64
	// live / liveOff: requests that started in this slot and have not
	// finished yet, and the sum of their start offsets from the slot start
	// (ns). Start adds, Done subtracts (two's complement wrap-around); Done
	// finds the slot because a request's stripe is a hash of its start.
	live    atomic.Uint64
	liveOff atomic.Uint64
	// latSum: latencies of requests completed in this slot (ns). spill:
	// correction (two's complement) so that latSum+spill is the time
	// completed requests spent in flight inside this slot: a request that
	// started in an earlier slot subtracts what lies before this slot, and
	// adds its share to those earlier slots.
	latSum atomic.Uint64
	spill  atomic.Uint64
	_      [24]byte
}

// stripeHdr is a stripe's slot-independent state, padded to a cache line.
type stripeHdr struct {
	// ancient counts in-flight requests whose start slot was recycled
	// (touched only when a slot is recycled or such a request ends).
	ancient atomic.Int64
	_       [56]byte
}

// histStripesMax caps histogram striping: a histogram slot is 1.4 KB, so
// striping it is where memory goes (ring × stripes × 1.4 KB).
const histStripesMax = 2

// Recorder measures one service's in-flight concurrency, throughput and
// latency. All methods are safe for concurrent use; Start and Done
// are lock-free and allocation-free.
type Recorder struct {
	res      int64 // resolution, ns
	ringBits uint
	mask     int64
	nWindow  int64 // max slots in a window (MaxWindow / res)
	stripeSh uint  // 64 - log2(stripes); 64 when 1 stripe
	hdr      []stripeHdr
	slots    []slot  // stripe-major: slots[stripe<<ringBits | epoch&mask]
	hist     []hslot // hist stripe-major: hist[hstripe<<ringBits | epoch&mask]
	hmask    int
	dropped  atomic.Uint64
	cfg      Config
}

// New builds a Recorder.
func New(cfg Config) (*Recorder, error) {
	if cfg.Resolution == 0 {
		cfg.Resolution = DefaultResolution
	}
	if cfg.MaxWindow == 0 {
		cfg.MaxWindow = DefaultMaxWindow
	}
	if cfg.Stripes == 0 {
		n := runtime.GOMAXPROCS(0)
		cfg.Stripes = 1 << bits.Len(uint(n-1))
		if cfg.Stripes > maxStripes {
			cfg.Stripes = maxStripes
		}
	}
	switch {
	case cfg.Resolution < MinResolution:
		return nil, fmt.Errorf("signals: resolution %v below minimum %v", cfg.Resolution, MinResolution)
	case cfg.MaxWindow < cfg.Resolution:
		return nil, fmt.Errorf("signals: max window %v shorter than resolution %v", cfg.MaxWindow, cfg.Resolution)
	case cfg.Stripes < 1 || cfg.Stripes > 1024 || cfg.Stripes&(cfg.Stripes-1) != 0:
		return nil, fmt.Errorf("signals: stripes %d: want a power of two in [1, 1024]", cfg.Stripes)
	case cfg.Quantile < 0 || cfg.Quantile >= 1:
		return nil, fmt.Errorf("signals: quantile %g: want 0 (none) or a value in (0, 1)", cfg.Quantile)
	}
	nWindow := (int64(cfg.MaxWindow) + int64(cfg.Resolution) - 1) / int64(cfg.Resolution)
	// Two slots of margin: one for the slot being written while the oldest
	// is read, one for writers whose clock is slightly ahead.
	need := nWindow + 2
	if need > maxSlots {
		return nil, errors.New("signals: max window / resolution too large (more than 65534 slots)")
	}
	ringBits := uint(bits.Len64(uint64(need - 1)))
	r := &Recorder{
		res:      int64(cfg.Resolution),
		ringBits: ringBits,
		mask:     1<<ringBits - 1,
		nWindow:  nWindow,
		stripeSh: 64 - uint(bits.Len(uint(cfg.Stripes-1))),
		hdr:      make([]stripeHdr, cfg.Stripes),
		slots:    make([]slot, cfg.Stripes<<ringBits),
		hist:     make([]hslot, min(cfg.Stripes, histStripesMax)<<ringBits),
		hmask:    min(cfg.Stripes, histStripesMax) - 1,
		cfg:      cfg,
	}
	return r, nil
}

// Config returns the effective configuration (defaults filled in).
func (r *Recorder) Config() Config { return r.cfg }

// MaxWindow is the longest window Snapshot serves: ceil(MaxWindow /
// Resolution) slots.
func (r *Recorder) MaxWindow() time.Duration { return time.Duration(r.nWindow * r.res) }

// stripe picks a request's stripe from its start time (Fibonacci hashing),
// so Start and Done agree without the caller carrying a token and
// concurrent requests spread over stripes by their nanosecond start times.
func (r *Recorder) stripe(start int64) int {
	return int((uint64(start) * 0x9E3779B97F4A7C15) >> r.stripeSh)
}

func (r *Recorder) epoch(t int64) int64 {
	if t <= 0 {
		return 0
	}
	return t / r.res
}

// claim makes the slot whose ep is p hold epoch e. It returns ok=false if
// the slot already holds a newer epoch (the sample is too old for the ring)
// or a concurrent reset did not finish in time; reset=true if the caller
// won the slot and must zero it and then store ep = 2e.
func claim(p *atomic.Uint64, e uint64) (ok, reset bool) {
	want := e << 1
	for i := 0; ; i++ {
		cur := p.Load()
		switch {
		case cur == want:
			return true, false
		case cur>>1 > e:
			return false, false
		case cur&1 == 1:
			// Another writer resets this slot (for e or an older epoch).
			if i >= claimSpins {
				return false, false
			}
			if i >= 8 {
				runtime.Gosched()
			}
		default:
			if p.CompareAndSwap(cur, want|1) {
				return true, true
			}
		}
	}
}

// slot returns stripe st's slot for epoch e, recycling it if it holds an
// older epoch, or nil if the sample must be dropped.
func (r *Recorder) slot(st int, e int64) *slot {
	if e <= 0 {
		return nil
	}
	s := &r.slots[st<<r.ringBits|int(e&r.mask)]
	ok, reset := claim(&s.ep, uint64(e))
	if !ok {
		return nil
	}
	if reset {
		// Requests that started in the old epoch and are still in flight
		// become "ancient": they cover any window fully.
		if n := int64(s.live.Load()); n != 0 {
			r.hdr[st].ancient.Add(n)
		}
		s.live.Store(0)
		s.liveOff.Store(0)
		s.latSum.Store(0)
		s.spill.Store(0)
		s.ep.Store(uint64(e) << 1)
	}
	return s
}

func (r *Recorder) hslot(st int, e int64) *hslot {
	if e <= 0 {
		return nil
	}
	h := &r.hist[(st&r.hmask)<<r.ringBits|int(e&r.mask)]
	ok, reset := claim(&h.ep, uint64(e))
	if !ok {
		return nil
	}
	if reset {
		for i := range h.cells {
			h.cells[i].Store(0)
		}
		h.ep.Store(uint64(e) << 1)
	}
	return h
}

// Start records that a request started at now (unix nanoseconds). The
// matching Done must pass the same value as start.
func (r *Recorder) Start(now int64) {
	st := r.stripe(now)
	e := r.epoch(now)
	s := r.slot(st, e)
	if s == nil {
		// Too old for the ring: account it as ancient so Done balances.
		r.hdr[st].ancient.Add(1)
		r.dropped.Add(1)
		return
	}
	s.live.Add(1)
	s.liveOff.Add(uint64(now - e*r.res))
}

// Done records that the request started at start (the value given to
// Start) finished at now (unix nanoseconds). A now before start (clocks of
// different goroutines) is treated as now = start.
func (r *Recorder) Done(start, now int64) {
	if now < start {
		now = start
	}
	st := r.stripe(start)
	h := &r.hdr[st]
	se, ce := r.epoch(start), r.epoch(now)
	lat := now - start

	// 1. Retire the request from its start slot (first: a recycle below
	// must not count it as still in flight).
	ss := &r.slots[st<<r.ringBits|int(se&r.mask)]
	ep := ss.ep.Load()
	switch {
	case ep == uint64(se)<<1 && se > 0:
		ss.live.Add(^uint64(0))
		ss.liveOff.Add(-uint64(start - se*r.res))
	case ep>>1 > uint64(se) || se <= 0:
		// Recycled (or never recorded): it was moved to ancient.
		h.ancient.Add(-1)
	default:
		// Slot holds an older epoch: Start dropped it and counted it
		// ancient, so balance that.
		h.ancient.Add(-1)
	}

	// 2. Completion, latency and the in-flight time of this slot.
	if cs := r.slot(st, ce); cs != nil {
		cs.latSum.Add(uint64(lat))
		if se != ce {
			// Only the part after this slot's start is in flight here.
			cs.spill.Add(uint64(now-ce*r.res) - uint64(lat))
			r.spread(st, start, se, ce)
		}
	}
	// The histogram also counts completions (Window.Requests).
	if hs := r.hslot(st, ce); hs != nil {
		hs.cells[histIndex(lat)].Add(1)
	} else {
		r.dropped.Add(1)
	}
}

// spread adds the in-flight time of a request that spanned slot boundaries
// to the slots before its completion slot ce, newest first, stopping at the
// ring's edge. Cost is O(duration / resolution), paid only by long
// requests.
func (r *Recorder) spread(st int, start, se, ce int64) {
	oldest := ce - r.mask // slots older than this are gone
	for e := ce - 1; e >= se && e >= oldest; e-- {
		s := r.slot(st, e)
		if s == nil {
			return
		}
		if e == se {
			s.spill.Add(uint64((se+1)*r.res - start))
		} else {
			s.spill.Add(uint64(r.res))
		}
	}
}

// InFlight is the number of requests started and not yet done. It sums
// the ring (O(stripes × slots), ~100 ns) so that Start and Done need no
// shared in-flight counter; exact when no request starts or ends during
// the read.
func (r *Recorder) InFlight() int64 {
	var n int64
	for st := range r.hdr {
		n += r.hdr[st].ancient.Load()
		base := st << r.ringBits
		for i := 0; i <= int(r.mask); i++ {
			s := &r.slots[base+i]
			if ep := s.ep.Load(); ep != 0 && ep&1 == 0 {
				n += int64(s.live.Load())
			}
		}
	}
	return n
}

// Dropped counts samples that could not be recorded: timestamps older than
// the ring (or ≤ 0), or a slot reset that did not finish within a bounded
// spin. Expected to stay 0; useful as a health metric.
func (r *Recorder) Dropped() uint64 { return r.dropped.Load() }

// Window is what a Snapshot saw over one window.
type Window struct {
	// Span is the time actually covered: from the start of the oldest slot
	// in the window to now. It is in (w - Resolution, w] for a requested
	// window w (w rounded up to whole slots and clamped to [Resolution,
	// MaxWindow]).
	Span time.Duration
	// Requests is the number of requests completed within Span.
	Requests uint64
	// RPS is Requests / Span.
	RPS float64
	// Concurrency is the time-average number of requests in flight over
	// Span (∫ in-flight dt / Span), including requests still in flight at
	// now. By Little's law it equals RPS × mean latency in steady state.
	Concurrency float64
	// InFlight is the number of requests in flight at the time of the read.
	InFlight int64
	// Mean latency of the requests completed within Span.
	Mean time.Duration
	// Latency percentiles of the requests completed within Span, each
	// within HistogramRelativeError of the true sample (nearest rank).
	P50, P90, P99 time.Duration
	// PQ is the latency at Config.Quantile (0 when it is not set).
	PQ time.Duration
}

// Snapshot summarises the window of length window ending at now. It does
// not allocate; its cost is O(stripes × slots + histogram cells × slots).
func (r *Recorder) Snapshot(now time.Time, window time.Duration) Window {
	return r.SnapshotAt(now.UnixNano(), window)
}

// SnapshotAt is Snapshot with now in unix nanoseconds.
func (r *Recorder) SnapshotAt(now int64, window time.Duration) Window {
	n := (int64(window) + r.res - 1) / r.res
	if n < 1 {
		n = 1
	}
	if n > r.nWindow {
		n = r.nWindow
	}
	// The current slot is the one containing now-1 ns, so a now on a slot
	// boundary closes the previous slot rather than opening an empty one.
	cur := r.epoch(now - 1)
	lo := cur - n + 1
	wStart := lo * r.res
	span := now - wStart
	// oldest slot whose in-flight starts we trust; older ones are "ancient"
	// as far as any window is concerned.
	oldest := cur - r.nWindow - 1

	w := Window{Span: time.Duration(span)}
	var busy float64 // ns of in-flight time inside the window
	var latSum uint64
	for st := range r.hdr {
		h := &r.hdr[st]
		anc := h.ancient.Load()
		w.InFlight += anc
		base := st << r.ringBits
		for i := 0; i <= int(r.mask); i++ {
			s := &r.slots[base+i]
			ep := s.ep.Load()
			if ep == 0 || ep&1 == 1 {
				continue
			}
			e := int64(ep >> 1)
			live, liveOff := int64(s.live.Load()), int64(s.liveOff.Load())
			var ls, sp uint64
			if e >= lo && e <= cur {
				ls, sp = s.latSum.Load(), s.spill.Load()
			}
			if s.ep.Load() != ep {
				continue // recycled while we read it
			}
			w.InFlight += live
			if live < 0 {
				live = 0 // torn read or clock skew
			}
			switch {
			case e < oldest:
				// Not yet recycled but older than the ring margin: its
				// live requests are as good as ancient.
				anc += live
			case e < lo:
				// Started before the window: in flight for all of it.
				busy += float64(live) * float64(span)
			case e <= cur:
				// Σ (now - start) = live·(now - slotStart) - Σ offsets.
				age := float64(live)*float64(now-e*r.res) - float64(liveOff)
				if age > 0 {
					if maxAge := float64(live) * float64(span); age > maxAge {
						age = maxAge
					}
					busy += age
				}
				if b := int64(ls + sp); b > 0 {
					busy += float64(b)
				}
				latSum += ls
			}
			// e > cur: started after now (a writer's clock is ahead): 0.
		}
		if anc > 0 {
			busy += float64(anc) * float64(span)
		}
	}

	var counts [histCells]uint64
	var total uint64
	for i := range r.hist {
		hs := &r.hist[i]
		ep := hs.ep.Load()
		if ep == 0 || ep&1 == 1 {
			continue
		}
		if e := int64(ep >> 1); e < lo || e > cur {
			continue
		}
		for c := range hs.cells {
			if v := hs.cells[c].Load(); v != 0 {
				counts[c] += uint64(v)
			}
		}
	}
	if w.InFlight < 0 {
		w.InFlight = 0
	}
	for _, c := range counts {
		total += c
	}
	w.Requests = total
	if span > 0 {
		sec := float64(span) / 1e9
		w.RPS = float64(w.Requests) / sec
		w.Concurrency = busy / float64(span)
	}
	if w.Requests > 0 {
		w.Mean = time.Duration(latSum / w.Requests)
	}
	w.P50 = quantile(&counts, total, 0.50)
	w.P90 = quantile(&counts, total, 0.90)
	w.P99 = quantile(&counts, total, 0.99)
	if q := r.cfg.Quantile; q > 0 {
		w.PQ = quantile(&counts, total, q)
	}
	return w
}
