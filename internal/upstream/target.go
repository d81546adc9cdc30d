package upstream

import (
	"hash/fnv"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floodgate/floodgate/internal/http1"
	"github.com/floodgate/floodgate/internal/upstream/balance"
)

// Target is one backend instance and its live state: load, latency and
// health, shared by every request that uses it. A target keeps its state
// across reloads and discovery updates as long as its URL stays in the
// pool.
type Target struct {
	URL  string // as configured or discovered, e.g. http://10.0.0.7:8080
	Addr string // host:port
	TLS  bool
	id   uint64
	h1   http1.Target

	weight   atomic.Int32
	inFlight atomic.Int64
	awaiting atomic.Int64 // requests still waiting for their response head
	requests atomic.Uint64
	failures atomic.Uint64

	// latency is an EWMA of the time to the response head, in nanoseconds
	// (float64 bits); lastObs is when it was last updated.
	latency atomic.Uint64
	lastObs atomic.Int64

	// lastProgress is when the target last showed it is alive: a request
	// started on it while idle, a response head arrived, an exchange
	// ended. Hang detection compares it with in-flight requests.
	lastProgress atomic.Int64

	// breaker is passive outlier detection; nil when disabled.
	breaker *Breaker

	activeDown   atomic.Bool // the active probe says unhealthy
	activeReason atomic.Value
	needProbe    atomic.Bool // ejected by traffic: needs a successful probe after the cool-down
	ejectedAt    atomic.Int64

	lastFailure atomic.Value // kind of the last failure (string), for logs

	draining      atomic.Bool
	drainDeadline atomic.Int64

	ejections sync.Map // reason -> *atomic.Uint64, for metrics

	hist latencyHist
}

var _ balance.Endpoint = (*Target)(nil)

// TargetID returns the stable identity of a target URL: the same in every
// Floodgate instance and across restarts (affinity cookies and consistent
// hashing rely on it).
func TargetID(url string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(url))
	return h.Sum64()
}

func newTarget(url, addr string, useTLS bool, weight int, passive *BreakerConfig) *Target {
	t := &Target{URL: url, Addr: addr, TLS: useTLS, id: TargetID(url)}
	t.h1 = http1.Target{Addr: addr, TLS: useTLS}
	t.weight.Store(int32(max(weight, 1)))
	if passive != nil {
		t.breaker = NewBreaker(*passive)
	}
	return t
}

// ID implements balance.Endpoint.
func (t *Target) ID() uint64 { return t.id }

// Weight implements balance.Endpoint.
func (t *Target) Weight() int { return int(t.weight.Load()) }

// SetWeight changes the target's share of traffic at once (canaries).
func (t *Target) SetWeight(w int) { t.weight.Store(int32(min(max(w, 1), 1_000_000))) }

// InFlight implements balance.Endpoint.
func (t *Target) InFlight() int64 { return t.inFlight.Load() }

// Latency implements balance.Endpoint.
func (t *Target) Latency() time.Duration {
	return time.Duration(math.Float64frombits(t.latency.Load()))
}

// Requests and Failures count exchanges with the target.
func (t *Target) Requests() uint64 { return t.requests.Load() }
func (t *Target) Failures() uint64 { return t.failures.Load() }

// H1 is the http1 transport's view of the target.
func (t *Target) H1() http1.Target { return t.h1 }

// latencyTau is the EWMA's time constant: a sample's weight halves about
// every 0.7 s, so the estimate follows a change in a second or two without
// jumping at every outlier.
const latencyTau = float64(time.Second)

// observe folds one latency sample into the time-decayed EWMA.
func (t *Target) observe(rtt time.Duration, now time.Time) {
	nowN := now.UnixNano()
	last := t.lastObs.Swap(nowN)
	for {
		oldBits := t.latency.Load()
		old := math.Float64frombits(oldBits)
		var next float64
		if old == 0 {
			next = float64(rtt)
		} else {
			w := math.Exp(-float64(max(nowN-last, 0)) / latencyTau)
			next = old*w + float64(rtt)*(1-w)
		}
		if t.latency.CompareAndSwap(oldBits, math.Float64bits(next)) {
			break
		}
	}
	t.hist.observe(rtt)
}

// decay pulls the latency estimate of a target that has not been measured
// for a while towards zero, so that the balancer tries it again instead of
// shunning it forever for a past slowness.
func (t *Target) decay(now time.Time) {
	if now.UnixNano()-t.lastObs.Load() < int64(time.Second) {
		return
	}
	for {
		oldBits := t.latency.Load()
		next := math.Float64frombits(oldBits) / 2
		if next < float64(time.Microsecond) {
			next = 0
		}
		if t.latency.CompareAndSwap(oldBits, math.Float64bits(next)) {
			return
		}
	}
}

// Progress records that the target answered: the response head of a
// request picked with Pool.Pick arrived. Call it at most once per pick.
func (t *Target) Progress(now time.Time) {
	t.lastProgress.Store(now.UnixNano())
	t.awaiting.Add(-1)
}

// State is the target's health for display: healthy, half_open, ejected,
// unhealthy (active probe), draining.
func (t *Target) State(now time.Time) string {
	switch {
	case t.draining.Load():
		return "draining"
	case t.activeDown.Load():
		return "unhealthy"
	case t.breaker != nil && t.breaker.State() == Open:
		if t.breaker.Eligible(now) && !t.needProbe.Load() {
			return "half_open"
		}
		return "ejected"
	case t.breaker != nil && t.breaker.State() == HalfOpen:
		return "half_open"
	case t.needProbe.Load():
		return "ejected"
	}
	return "healthy"
}

// eligible reports whether new requests may be sent to the target.
func (t *Target) eligible(now time.Time) bool {
	if t.draining.Load() || t.activeDown.Load() || t.needProbe.Load() {
		return false
	}
	return t.breaker == nil || t.breaker.Eligible(now)
}

// Reason is why the target is not healthy ("" when it is).
func (t *Target) Reason() string {
	if t.activeDown.Load() {
		if r, ok := t.activeReason.Load().(string); ok {
			return "probe: " + r
		}
		return "probe failed"
	}
	if t.breaker != nil && t.breaker.State() != Closed {
		return t.breaker.Reason()
	}
	return ""
}

// EjectedUntil is when an ejection ends (zero when not ejected).
func (t *Target) EjectedUntil() time.Time {
	if t.breaker == nil {
		return time.Time{}
	}
	return t.breaker.OpenUntil()
}

func (t *Target) countEjection(reason string) {
	c, _ := t.ejections.LoadOrStore(reason, new(atomic.Uint64))
	c.(*atomic.Uint64).Add(1)
}

// Ejections returns ejection counts by reason.
func (t *Target) Ejections() map[string]uint64 {
	out := map[string]uint64{}
	t.ejections.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return out
}

// LatencyHistogram returns the target's latency histogram: cumulative
// counts by upper bound (seconds), total count and sum (seconds).
func (t *Target) LatencyHistogram() (map[float64]uint64, uint64, float64) { return t.hist.snapshot() }

// latencyHist is a fixed-bucket latency histogram updated with atomics
// (exported as a Prometheus histogram at scrape time, so the request path
// does no label lookups).
type latencyHist struct {
	counts [len(latencyBuckets) + 1]atomic.Uint64
	sumNs  atomic.Int64
}

// latencyBuckets are upper bounds in seconds.
var latencyBuckets = [...]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func (h *latencyHist) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && s > latencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
}

// snapshot returns cumulative bucket counts, total count and sum.
func (h *latencyHist) snapshot() (buckets map[float64]uint64, count uint64, sum float64) {
	buckets = make(map[float64]uint64, len(latencyBuckets))
	var cum uint64
	for i, ub := range latencyBuckets {
		cum += h.counts[i].Load()
		buckets[ub] = cum
	}
	count = cum + h.counts[len(latencyBuckets)].Load()
	return buckets, count, time.Duration(h.sumNs.Load()).Seconds()
}
