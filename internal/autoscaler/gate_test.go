package autoscaler

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newGate(t *testing.T, h Hold) (*gate, *atomic.Int64) {
	t.Helper()
	var wakes atomic.Int64
	g := &gate{wake: func() { wakes.Add(1) }}
	g.setHold(h)
	return g, &wakes
}

func never() bool { return false }

// waitQueued waits until n requests are held.
func waitQueued(t *testing.T, g *gate, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for g.waiting() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d held, want %d", g.waiting(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGateReleasesInOrderWithOneWakeup(t *testing.T) {
	g, wakes := newGate(t, Hold{Queue: 100, Timeout: 10 * time.Second})
	const n = 20
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, _ := g.wait(context.Background(), never)
			if res != released {
				t.Errorf("request %d: result %d", i, res)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		}()
		waitQueued(t, g, i+1) // arrival order is i
	}
	if got := g.now.Load(); got != n {
		t.Errorf("held gauge %d, want %d", got, n)
	}
	if w := wakes.Load(); w != 1 {
		t.Errorf("%d wake-ups for one burst, want 1", w)
	}
	// Release order is the queue order: each waiter's channel is closed
	// oldest first. (Goroutines then run in any order, so check the queue
	// rather than the completion order.)
	g.mu.Lock()
	q := append([]*waiter(nil), g.q...)
	g.mu.Unlock()
	g.release()
	for i, w := range q {
		select {
		case <-w.ch:
		default:
			t.Fatalf("waiter %d not released", i)
		}
	}
	wg.Wait()
	if g.now.Load() != 0 || g.waiting() != 0 {
		t.Errorf("after release: held %d, waiting %d", g.now.Load(), g.waiting())
	}
	// A new burst wakes the loop again.
	done := make(chan struct{})
	go func() { g.wait(context.Background(), never); close(done) }()
	waitQueued(t, g, 1)
	if w := wakes.Load(); w != 2 {
		t.Errorf("second burst: %d wake-ups, want 2", w)
	}
	g.release()
	<-done
}

func TestGateQueueFullTimeoutCancelAbort(t *testing.T) {
	g, _ := newGate(t, Hold{Queue: 2, Timeout: 100 * time.Millisecond})
	results := make(chan holdResult, 2)
	for i := 0; i < 2; i++ {
		go func() { r, _ := g.wait(context.Background(), never); results <- r }()
	}
	waitQueued(t, g, 2)
	if r, _ := g.wait(context.Background(), never); r != queueFull {
		t.Errorf("third request with a queue of 2: %d, want queueFull", r)
	}
	start := time.Now()
	for i := 0; i < 2; i++ {
		if r := <-results; r != expired {
			t.Errorf("result %d, want expired", r)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}
	if g.expired != 2 || g.full != 1 || g.waiting() != 0 {
		t.Errorf("counters: expired %d full %d waiting %d", g.expired, g.full, g.waiting())
	}

	// A client that leaves is taken out of the queue.
	g.setHold(Hold{Queue: 10, Timeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan holdResult, 1)
	go func() { r, _ := g.wait(ctx, never); res <- r }()
	waitQueued(t, g, 1)
	cancel()
	if r := <-res; r != canceled || g.waiting() != 0 {
		t.Errorf("canceled: %d, waiting %d", r, g.waiting())
	}

	// A failing service answers everyone at once, with the reason.
	reasons := make(chan string, 3)
	for i := 0; i < 3; i++ {
		go func() {
			r, why := g.wait(context.Background(), never)
			if r != failed {
				why = "not failed"
			}
			reasons <- why
		}()
	}
	waitQueued(t, g, 3)
	g.abort("exited with status 1")
	for i := 0; i < 3; i++ {
		if why := <-reasons; why != "exited with status 1" {
			t.Errorf("abort reason %q", why)
		}
	}
}

// An instance that becomes eligible between the handler's check and its
// enqueue must not leave the request waiting for the timeout.
func TestGateNoLostWakeup(t *testing.T) {
	g, _ := newGate(t, Hold{Queue: 10, Timeout: 10 * time.Second})
	start := time.Now()
	if r, _ := g.wait(context.Background(), func() bool { return true }); r != released {
		t.Fatalf("result %d", r)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("waited %v although an instance was eligible", d)
	}
}
