package balance

import (
	"net/http"
	"sync/atomic"
)

// roundRobin rotates through the eligible endpoints in order, ignoring
// weights and load: the baseline, and the right choice for identical
// targets with uniform requests. It is lock-free: a shared atomic counter
// selects the slot, and the endpoint set is swapped whole by Update.
type roundRobin struct {
	eps  atomic.Pointer[[]Endpoint]
	next atomic.Uint64
}

var _ Balancer = (*roundRobin)(nil)

// NewRoundRobin returns a lock-free round-robin balancer: endpoint i of n
// serves picks i, i+n, i+2n, … A skipped endpoint passes its turn to the
// next eligible one (which then serves two turns in a row: retries are
// rare, and skipping must not cost a second counter increment).
func NewRoundRobin() Balancer { return &roundRobin{} }

func (b *roundRobin) Update(eps []Endpoint) { b.eps.Store(&eps) }

func (b *roundRobin) Pick(_ *http.Request, skip *Skip) Endpoint {
	p := b.eps.Load()
	if p == nil || len(*p) == 0 {
		return nil
	}
	eps := *p
	i := int((b.next.Add(1) - 1) % uint64(len(eps)))
	if i = firstAllowed(eps, i, skip); i < 0 {
		return nil
	}
	return eps[i]
}
