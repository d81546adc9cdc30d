package bulkhead

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Under a burst far larger than max+queue, concurrency never exceeds max,
// exactly queue requests wait, the rest are refused at once, and every
// waiter eventually runs.
func TestCapsConcurrencyExactly(t *testing.T) {
	const max, queue, burst = 5, 10, 200
	b := New(max, queue, 5*time.Second)
	var inside, peak, ran, full atomic.Int64
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < burst; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := b.Acquire(context.Background())
			if errors.Is(err, ErrFull) {
				full.Add(1)
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-release
			ran.Add(1)
			inside.Add(-1)
			b.Release()
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for full.Load() != burst-max-queue {
		if time.Now().After(deadline) {
			t.Fatalf("refused %d, want %d (in use %d, waiting %d)", full.Load(), burst-max-queue, b.InUse(), b.Waiting())
		}
		time.Sleep(time.Millisecond)
	}
	if b.InUse() != max || b.Waiting() != queue {
		t.Fatalf("in use %d waiting %d", b.InUse(), b.Waiting())
	}
	close(release)
	wg.Wait()
	if peak.Load() != max || ran.Load() != max+queue || b.InUse() != 0 || b.Waiting() != 0 {
		t.Fatalf("peak %d ran %d inUse %d waiting %d", peak.Load(), ran.Load(), b.InUse(), b.Waiting())
	}
}

func TestQueueTimeoutAndCancel(t *testing.T) {
	b := New(1, 2, 50*time.Millisecond)
	if err := b.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.Acquire(context.Background()); !errors.Is(err, ErrTimeout) {
		t.Fatalf("want timeout, got %v", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > time.Second {
		t.Fatalf("waited %v", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	if err := b.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("want canceled, got %v", err)
	}
	if b.Waiting() != 0 || b.InUse() != 1 {
		t.Fatalf("state after abandoned waits: in use %d waiting %d", b.InUse(), b.Waiting())
	}
	b.Release()
	if b.InUse() != 0 {
		t.Fatal(b.InUse())
	}
}

// FIFO: waiters get slots in arrival order.
func TestFIFO(t *testing.T) {
	b := New(1, 10, 5*time.Second)
	b.Acquire(context.Background())
	order := make(chan int, 5)
	for i := 0; i < 5; i++ {
		go func(i int) {
			b.Acquire(context.Background())
			order <- i
			b.Release()
		}(i)
		for b.Waiting() != int64(i+1) {
			time.Sleep(time.Millisecond)
		}
	}
	b.Release()
	for i := 0; i < 5; i++ {
		if got := <-order; got != i {
			t.Fatalf("slot %d went to waiter %d", i, got)
		}
	}
}

// Many short holders racing: the count stays exact and nothing is lost.
func TestStress(t *testing.T) {
	b := New(3, 1000, 10*time.Second)
	var inside atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				if err := b.Acquire(context.Background()); err != nil {
					t.Error(err)
					return
				}
				if n := inside.Add(1); n > 3 {
					t.Errorf("concurrency %d > 3", n)
				}
				inside.Add(-1)
				b.Release()
			}
		}()
	}
	wg.Wait()
	if b.InUse() != 0 || b.Waiting() != 0 {
		t.Fatalf("leaked: in use %d waiting %d", b.InUse(), b.Waiting())
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	bh := New(1000, 0, time.Second)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		bh.Acquire(ctx)
		bh.Release()
	}
}
