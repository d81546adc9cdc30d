package balance

import (
	"net/http"
	"sync"
)

// weightedRoundRobin is nginx's smooth weighted round robin
// (ngx_http_upstream_get_peer in ngx_http_upstream_round_robin.c, 2012).
// Each pick, every endpoint's current weight grows by its weight; the
// endpoint with the largest current weight wins and is set back by the
// total. Over any window of Σw picks each endpoint is picked exactly w
// times, and the picks are interleaved rather than bunched:
//
//	weights a=5 b=1 c=1, current weights before each pick → winner
//	 5  1  1 → a     3  2  2 → a     1  3  3 → b     6 -3  4 → a
//	-1 -2  5 → c     4 -1 -1 → a     2  0  0 → a     (then 0 0 0 again)
//
// so the sequence is a a b a c a a, where a plain weighted rotation gives
// a a a a a b c and sends bursts of five to a.
//
// Weights are read at every pick, so a canary's weight change takes effect
// on the next pick. Current weights are kept per endpoint ID, so an Update
// does not restart the sequence for the endpoints that remain.
// Like nginx, a skipped (already tried) endpoint sits the round out.
//
// The state is a read-modify-write over all endpoints, so a mutex guards
// it: O(n) per pick under the lock, fine for the tens of targets weighted
// pools have.
type weightedRoundRobin struct {
	mu      sync.Mutex
	eps     []Endpoint
	current []int64 // current weight of eps[i]
}

var _ Balancer = (*weightedRoundRobin)(nil)

// NewWeightedRoundRobin returns nginx's smooth weighted round robin.
func NewWeightedRoundRobin() Balancer { return &weightedRoundRobin{} }

func (b *weightedRoundRobin) Update(eps []Endpoint) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := make(map[uint64]int64, len(b.eps))
	for i, ep := range b.eps {
		old[ep.ID()] = b.current[i]
	}
	current := make([]int64, len(eps))
	for i, ep := range eps {
		current[i] = old[ep.ID()] // 0 for a new endpoint
	}
	b.eps, b.current = eps, current
}

func (b *weightedRoundRobin) Pick(_ *http.Request, skip *Skip) Endpoint {
	b.mu.Lock()
	defer b.mu.Unlock()
	var total int64
	best := -1
	skipping := skip.Len() > 0
	for i, ep := range b.eps {
		if skipping && skip.Has(ep.ID()) {
			continue
		}
		w := weightOf(ep)
		b.current[i] += w
		total += w
		if best < 0 || b.current[i] > b.current[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	b.current[best] -= total
	return b.eps[best]
}
