// Package bulkhead bounds how many requests run at once against a
// resource (an upstream, a route), with a bounded FIFO wait queue: a
// saturated service makes a few requests wait briefly and refuses the
// rest at once, instead of piling up goroutines and memory without bound
// (the bulkhead pattern, from "Release It!").
package bulkhead

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by Acquire.
var (
	ErrFull    = errors.New("bulkhead: all slots taken and the queue is full")
	ErrTimeout = errors.New("bulkhead: timed out waiting for a slot")
)

// Bulkhead is a counting semaphore with a bounded, FIFO wait queue.
type Bulkhead struct {
	max     int64
	queue   int
	timeout time.Duration

	inUse   atomic.Int64
	waiting atomic.Int64 // waiters queued (fast path is taken only when 0)

	mu      sync.Mutex
	waiters []chan struct{}
}

// New returns a bulkhead of max concurrent holders, with up to queue
// waiters each waiting at most timeout.
func New(max, queue int, timeout time.Duration) *Bulkhead {
	if timeout <= 0 {
		timeout = time.Second
	}
	return &Bulkhead{max: int64(max), queue: queue, timeout: timeout}
}

// Acquire takes a slot, waiting in the queue if needed. On success the
// caller must call Release exactly once.
//
// Concurrency: a slot is only ever taken by a CAS that keeps inUse ≤ max.
// A waiter announces itself (waiting++) and checks for a free slot under
// the lock; Release frees its slot and then checks for waiters. With
// sequentially consistent atomics at least one of the two sees the other,
// so a slot is never left free while a request waits.
func (b *Bulkhead) Acquire(ctx context.Context) error {
	// Fast path: nobody queued (queued requests go first) and a free slot.
	if b.waiting.Load() == 0 && b.tryTake() {
		return nil
	}
	b.mu.Lock()
	b.waiting.Add(1)
	if len(b.waiters) == 0 && b.tryTake() {
		b.waiting.Add(-1)
		b.mu.Unlock()
		return nil
	}
	if len(b.waiters) >= b.queue {
		b.waiting.Add(-1)
		b.mu.Unlock()
		return ErrFull
	}
	ch := make(chan struct{}, 1)
	b.waiters = append(b.waiters, ch)
	b.mu.Unlock()

	t := time.NewTimer(b.timeout)
	defer t.Stop()
	var err error
	select {
	case <-ch:
		return nil // a slot was taken for us
	case <-t.C:
		err = ErrTimeout
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.mu.Lock()
	for i, w := range b.waiters {
		if w == ch {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			b.waiting.Add(-1)
			b.mu.Unlock()
			return err
		}
	}
	b.mu.Unlock()
	// Already dequeued: a slot was taken for us just now; give it back.
	<-ch
	b.Release()
	return err
}

// tryTake takes a free slot if there is one.
func (b *Bulkhead) tryTake() bool {
	for {
		n := b.inUse.Load()
		if n >= b.max {
			return false
		}
		if b.inUse.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release frees a slot; queued requests get freed slots in FIFO order.
func (b *Bulkhead) Release() {
	b.inUse.Add(-1)
	if b.waiting.Load() == 0 {
		return
	}
	b.mu.Lock()
	for len(b.waiters) > 0 && b.tryTake() {
		ch := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.waiting.Add(-1)
		ch <- struct{}{} // buffered: never blocks
	}
	b.mu.Unlock()
}

// InUse is the number of slots held.
func (b *Bulkhead) InUse() int64 { return b.inUse.Load() }

// Waiting is the number of queued requests.
func (b *Bulkhead) Waiting() int64 { return b.waiting.Load() }

// Max is the number of slots.
func (b *Bulkhead) Max() int64 { return b.max }

// RetryAfter suggests when a refused client should try again: the queue
// timeout, rounded up to a whole second (at least 1).
func (b *Bulkhead) RetryAfter() int {
	return max(1, int((b.timeout+time.Second-1)/time.Second))
}
