package balance

import (
	"net/http"
	"sync/atomic"
)

// leastConn picks the endpoint with the fewest in-flight requests per unit
// of weight, InFlight()/Weight(), the "weighted least connections" of LVS
// and HAProxy's leastconn. It adapts to slow targets without measuring
// latency: a slow target keeps its requests longer and so looks busier.
//
// Ties (common at low load, when every count is 0) are broken uniformly at
// random by reservoir sampling, so that idle pools do not send everything
// to the first endpoint. The random stream for one pick comes from one
// injected number expanded with SplitMix64.
//
// A pick scans all endpoints: O(n) atomic loads, about 1–2 ns each, which
// for the ≤ 64 targets of a typical pool is cheaper than maintaining a
// heap that every request start and finish would have to update under a
// lock. Pools of hundreds of targets should prefer P2C, which samples two.
type leastConn struct {
	eps atomic.Pointer[[]Endpoint]
	rnd func() uint64
}

var _ Balancer = (*leastConn)(nil)

// NewLeastConn returns a weighted least-connections balancer with random
// tie-breaking; rnd supplies randomness (nil: math/rand/v2).
func NewLeastConn(rnd func() uint64) Balancer { return &leastConn{rnd: orRand(rnd)} }

func (b *leastConn) Update(eps []Endpoint) { b.eps.Store(&eps) }

func (b *leastConn) Pick(_ *http.Request, skip *Skip) Endpoint {
	p := b.eps.Load()
	if p == nil {
		return nil
	}
	eps := *p
	if len(eps) == 1 {
		if allowed(eps[0], skip) {
			return eps[0]
		}
		return nil
	}
	var (
		best          Endpoint
		bestIn, bestW int64
		ties          int // endpoints seen at the best load so far
		state         = b.rnd()
		skipping      = skip.Len() > 0
	)
	for _, ep := range eps {
		if skipping && skip.Has(ep.ID()) {
			continue
		}
		in, w := max(ep.InFlight(), 0), weightOf(ep)
		switch {
		case best == nil:
			ties = 1
		default:
			// in/w vs bestIn/bestW without division; both products stay
			// far below 2⁶³ for any realistic count and weight.
			l, r := in*bestW, bestIn*w
			if l > r {
				continue
			}
			if l < r {
				ties = 1
				break
			}
			// A tie: the k-th tied endpoint replaces the choice with
			// probability 1/k, so that each of the n endpoints tied at
			// the end is chosen with probability 1/n (reservoir
			// sampling).
			ties++
			if bounded(splitmix64(&state), ties) != 0 {
				continue
			}
		}
		best, bestIn, bestW = ep, in, w
	}
	return best
}
