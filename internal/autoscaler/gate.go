package autoscaler

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floodgate/floodgate/internal/httperr"
	"github.com/floodgate/floodgate/internal/reqctx"
	"github.com/floodgate/floodgate/internal/upstream"
)

// Hold settings: how many requests may wait for a ready instance and for
// how long.
type Hold struct {
	Queue   int           // requests held at most; default 1000
	Timeout time.Duration // longest wait; default 30s
}

// Defaults of Hold.
const (
	DefaultHoldQueue   = 1000
	DefaultHoldTimeout = 30 * time.Second
)

func (h Hold) withDefaults() Hold {
	if h.Queue <= 0 {
		h.Queue = DefaultHoldQueue
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultHoldTimeout
	}
	return h
}

// gate parks requests while a service has no eligible instance, in a
// bounded FIFO queue, and releases them in arrival order when one becomes
// eligible. The first request of a burst (the one that finds the queue
// empty) wakes the control loop; the others do not.
type gate struct {
	wake func()
	now  atomic.Int64 // requests held right now

	mu      sync.Mutex
	hold    Hold
	q       []*waiter
	wakeups uint64 // bursts that woke the loop
	held    uint64 // requests ever held
	expired uint64 // requests answered 503 after the hold timeout
	full    uint64 // requests refused because the queue was full
}

type waiter struct {
	ch     chan struct{} // closed on release or abort
	reason string        // set before ch closes by abort: the service failed
}

func (g *gate) setHold(h Hold) {
	g.mu.Lock()
	g.hold = h.withDefaults()
	g.mu.Unlock()
}

// release lets every held request go, oldest first.
func (g *gate) release() {
	g.mu.Lock()
	q := g.q
	g.q = nil
	g.mu.Unlock()
	for _, w := range q {
		close(w.ch)
	}
}

// abort answers every held request with 503: the service cannot start
// instances, waiting longer helps nobody.
func (g *gate) abort(reason string) {
	g.mu.Lock()
	q := g.q
	g.q = nil
	g.mu.Unlock()
	for _, w := range q {
		w.reason = reason
		close(w.ch)
	}
}

// waiting is the number of requests held now.
func (g *gate) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.q)
}

type holdResult int

const (
	released holdResult = iota
	queueFull
	expired
	canceled
	failed
)

// wait parks the request until release, the hold timeout, or the client
// leaving. eligible is re-checked after enqueueing so that a release that
// raced the enqueue is not missed.
func (g *gate) wait(ctx context.Context, eligible func() bool) (holdResult, string) {
	w := &waiter{ch: make(chan struct{})}
	g.mu.Lock()
	if len(g.q) >= g.hold.Queue {
		g.full++
		g.mu.Unlock()
		return queueFull, ""
	}
	g.q = append(g.q, w)
	g.held++
	first := len(g.q) == 1
	if first {
		g.wakeups++
	}
	timeout := g.hold.Timeout
	g.mu.Unlock()
	g.now.Add(1)
	defer g.now.Add(-1)
	if first {
		g.wake()
	}
	if eligible() {
		g.release()
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.ch:
	case <-t.C:
		if g.remove(w) {
			g.mu.Lock()
			g.expired++
			g.mu.Unlock()
			return expired, ""
		}
		<-w.ch // released or aborted at the same moment
	case <-ctx.Done():
		if g.remove(w) {
			return canceled, ""
		}
		<-w.ch
	}
	if w.reason != "" {
		return failed, w.reason
	}
	return released, ""
}

// remove takes w out of the queue; false if it was released already.
func (g *gate) remove(w *waiter) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, x := range g.q {
		if x == w {
			g.q = append(g.q[:i], g.q[i+1:]...)
			return true
		}
	}
	return false
}

// handler is the data-plane wrapper of one route to a managed upstream: it
// records the request in the service's signals and holds it while the pool
// has no eligible instance.
type handler struct {
	svc  *Service
	pool *upstream.Pool
	next http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := h.svc.rec.Load() // the same recorder for Start and Done across a reload
	start := time.Now().UnixNano()
	rec.Start(start)
	defer func() { rec.Done(start, time.Now().UnixNano()) }()
	if len(h.pool.Eligible()) == 0 && !h.hold(w, r) {
		return
	}
	h.next.ServeHTTP(w, r)
}

// retryAfter is the Retry-After of a 503 from the gate, in seconds.
const retryAfter = 1

// hold parks r until an instance is eligible; false if it answered.
func (h *handler) hold(w http.ResponseWriter, r *http.Request) bool {
	if st := h.svc.proc().Status(); st.Failed && st.Ready == 0 {
		unavailable(w, r, "service "+h.svc.name+" is failing: "+st.Reason)
		return false
	}
	res, reason := h.svc.gate.wait(r.Context(), func() bool { return len(h.pool.Eligible()) > 0 })
	switch res {
	case released:
		return true
	case failed:
		unavailable(w, r, "service "+h.svc.name+" is failing: "+reason)
	case queueFull:
		unavailable(w, r, "service "+h.svc.name+" is starting and its hold queue is full")
	case expired:
		msg := "no instance of service " + h.svc.name + " became ready in time"
		if st := h.svc.proc().Status(); st.Failed {
			msg += ": " + st.Reason
		}
		unavailable(w, r, msg)
	case canceled:
		// The client left; nothing to answer.
	}
	return false
}

func unavailable(w http.ResponseWriter, r *http.Request, msg string) {
	id := ""
	if st := reqctx.From(r.Context()); st != nil {
		id = st.RequestID
	}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	httperr.Write(w, http.StatusServiceUnavailable, msg, id)
}
