package discovery

import (
	"context"
	"slices"
	"sync"
)

// Dynamic is a source that Go code drives, such as the autoscaler's process
// pool or a Kubernetes EndpointSlice watcher. Set replaces the list; every
// running Run (there may be several, e.g. one per pool sharing the source)
// reports it.
//
// Subscribers that are slow to consume updates are never queued for: each
// sees the latest list when it gets round to it, so a burst of Sets costs a
// slow subscriber one update, not one per Set. The zero value is ready to
// use. A Dynamic must not be copied after first use.
type Dynamic struct {
	mu   sync.Mutex
	eps  []Endpoint // canonical, replaced (never modified) by Set
	set  bool       // Set has been called: until then there is no list to report
	subs map[chan struct{}]struct{}
}

// NewDynamic returns a Dynamic source with no list yet: Run reports nothing
// until the first Set.
func NewDynamic() *Dynamic {
	return &Dynamic{}
}

// Set replaces the list. Setting the list in force again is a no-op.
func (d *Dynamic) Set(eps []Endpoint) {
	eps = normalize(eps)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.set && slices.Equal(eps, d.eps) {
		return
	}
	d.eps, d.set = eps, true
	for ch := range d.subs {
		select {
		case ch <- struct{}{}:
		default: // already signalled; the subscriber will read the latest list
		}
	}
}

// Run implements Source. Several Runs may be active at once.
func (d *Dynamic) Run(ctx context.Context, update func([]Endpoint), _ func(error)) {
	ch := make(chan struct{}, 1)
	d.mu.Lock()
	if d.subs == nil {
		d.subs = make(map[chan struct{}]struct{})
	}
	d.subs[ch] = struct{}{}
	if d.set {
		ch <- struct{}{} // report the list already in force
	}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.subs, ch)
		d.mu.Unlock()
	}()

	forward(ctx, ch, func() []Endpoint {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.eps // never mutated in place: Set replaces the slice
	}, update)
}
