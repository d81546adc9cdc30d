// Package balance chooses a backend target for each request. Every
// algorithm is a small type behind one interface, picking from a read-only
// view of the targets the pool considers eligible (healthy, not draining):
// health bookkeeping is the pool's, not the balancers'.
package balance

import (
	"net/http"
	"time"
)

// Endpoint is what a balancer reads of a target. Implementations make the
// methods cheap (atomic loads): Pick calls them on the request path.
type Endpoint interface {
	// ID identifies the target stably (across reloads and Floodgate
	// instances): a hash of its address. Consistent hashing and affinity
	// cookies use it.
	ID() uint64
	// Weight is the target's current weight (≥ 1); it can change at any
	// time (canaries shift traffic by changing weights).
	Weight() int
	// InFlight is the number of requests the target is serving now.
	InFlight() int64
	// Latency is the target's recent response latency (an EWMA), 0 when
	// nothing has been measured yet.
	Latency() time.Duration
}

// Balancer picks targets. Update and Pick may run concurrently; Update is
// called by one goroutine at a time.
type Balancer interface {
	// Update replaces the set of eligible endpoints (non-empty). The pool
	// calls it whenever the set changes; the slice is not modified after.
	Update(eps []Endpoint)
	// Pick returns the endpoint for r, avoiding those in skip (targets this
	// request already tried), or nil when every endpoint is skipped.
	Pick(r *http.Request, skip *Skip) Endpoint
}

// Skip is the small set of targets a request has already tried (retries).
// The zero value is empty; a nil *Skip skips nothing.
type Skip struct {
	n   int
	ids [8]uint64
}

// Add records an endpoint as tried. Beyond eight, the oldest are forgotten.
func (s *Skip) Add(id uint64) {
	s.ids[s.n%len(s.ids)] = id
	s.n++
}

// Has reports whether id was tried.
func (s *Skip) Has(id uint64) bool {
	if s == nil {
		return false
	}
	for i := 0; i < min(s.n, len(s.ids)); i++ {
		if s.ids[i] == id {
			return true
		}
	}
	return false
}

// Len is the number of endpoints tried.
func (s *Skip) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// KeyFunc extracts the key of a request for consistent hashing; ok is false
// when the request has none (it is then balanced another way).
type KeyFunc func(r *http.Request) (key string, ok bool)
