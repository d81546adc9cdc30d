package balance

import (
	"net/http"
	"sync/atomic"
)

// p2c is the power of two choices (Mitzenmacher, "The Power of Two Choices
// in Randomized Load Balancing", IEEE TPDS 2001): draw two distinct
// endpoints at random and send the request to the cheaper. Comparing two
// instead of all keeps a pick O(1) while the maximum load drops from
// Θ(log n / log log n) (one random choice) to Θ(log log n); and because
// every balancer instance draws independently, many gateways do not herd
// onto the same "least loaded" target the way a global least-connections
// does with stale counts.
//
// The cost is the one of Finagle's and Linkerd's peak-EWMA balancers:
//
//	cost = latency × (in-flight + 1) / weight
//
// the expected time until a new request would be served there, scaled
// down for heavier targets. An endpoint with 10× the latency of its peers
// wins a comparison only once the other holds ten times its queue (both
// counting the new request). An endpoint without a latency measurement
// yet (new, or just recovered) is priced at the average latency of the
// measured ones (1 ns when none is measured, which reduces the cost to
// (in-flight + 1) / weight): it gets traffic at once, as an average target
// would, without being flooded the way a zero latency would flood it.
//
// A pick makes one call to rnd (two 32-bit draws), three atomic loads per
// candidate (latency, in-flight, weight) and no allocation. The average,
// needed only when a drawn endpoint is unmeasured, scans at most
// avgWindow endpoints.
type p2c struct {
	eps atomic.Pointer[[]Endpoint]
	rnd func() uint64
}

var _ Balancer = (*p2c)(nil)

// NewP2C returns the default balancer: power of two choices over
// latency × (in-flight + 1) / weight. rnd supplies randomness (nil:
// math/rand/v2).
func NewP2C(rnd func() uint64) Balancer { return &p2c{rnd: orRand(rnd)} }

func (b *p2c) Update(eps []Endpoint) { b.eps.Store(&eps) }

func (b *p2c) Pick(_ *http.Request, skip *Skip) Endpoint {
	p := b.eps.Load()
	if p == nil {
		return nil
	}
	eps := *p
	n := len(eps)
	var i, j int
	switch {
	case n == 0:
		return nil
	case n == 1:
		if allowed(eps[0], skip) {
			return eps[0]
		}
		return nil
	case skip.Len() == 0:
		r := b.rnd()
		i, j = bounded(r, n), bounded32(r, n-1)
		if j >= i {
			j++ // j uniform over the n-1 others
		}
	default: // a retry: draw among the endpoints not yet tried
		if i = sampleAllowed(eps, skip, -1, b.rnd); i < 0 {
			return nil
		}
		if j = sampleAllowed(eps, skip, i, b.rnd); j < 0 {
			return eps[i]
		}
	}
	a, c := eps[i], eps[j]
	la, lc := int64(a.Latency()), int64(c.Latency())
	if la <= 0 || lc <= 0 {
		avg := averageLatency(eps, i)
		if la <= 0 {
			la = avg
		}
		if lc <= 0 {
			lc = avg
		}
	}
	if cost(a, la) <= cost(c, lc) {
		return a
	}
	return c
}

// cost is latency × (in-flight + 1) / weight in float64: the product of a
// latency in nanoseconds and a request count may exceed int64.
func cost(ep Endpoint, latency int64) float64 {
	return float64(latency) * float64(max(ep.InFlight(), 0)+1) / float64(weightOf(ep))
}

// avgWindow bounds the endpoints averageLatency reads: exact for pools of
// up to 64 targets, and an unbiased estimate (a window at a random start)
// above, so that a pick stays O(1).
const avgWindow = 64

// averageLatency is the mean latency, in nanoseconds, of the measured
// endpoints among up to avgWindow of them starting at start; 1 when none
// is measured.
func averageLatency(eps []Endpoint, start int) int64 {
	n := len(eps)
	var sum, cnt int64
	for k := range min(n, avgWindow) {
		i := start + k
		if i >= n {
			i -= n
		}
		if l := int64(eps[i].Latency()); l > 0 {
			sum += l
			cnt++
		}
	}
	if cnt == 0 {
		return 1
	}
	return sum / cnt
}
