package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for the Memory store.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestMemorySetGetDelete(t *testing.T) {
	m := NewMemory(0)
	defer m.Close()
	testBasics(t, m)
}

// testBasics is the behavior every Store shares.
func testBasics(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	if _, ok, err := s.Get(ctx, "missing"); ok || err != nil {
		t.Fatalf("Get(missing) = %v, %v; want false, nil", ok, err)
	}
	v := []byte("value-1")
	if err := s.Set(ctx, "k", v, time.Minute); err != nil {
		t.Fatal(err)
	}
	v[0] = 'X' // the store keeps its own copy
	got, ok, err := s.Get(ctx, "k")
	if err != nil || !ok || string(got) != "value-1" {
		t.Fatalf("Get(k) = %q, %v, %v; want value-1", got, ok, err)
	}
	got[0] = 'Y' // and hands out copies
	if got, _, _ := s.Get(ctx, "k"); string(got) != "value-1" {
		t.Fatalf("stored value changed through a returned slice: %q", got)
	}
	if err := s.Set(ctx, "k", []byte("value-2"), 0); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.Get(ctx, "k"); string(got) != "value-2" {
		t.Fatalf("overwrite: got %q", got)
	}
	if err := s.Set(ctx, "empty", nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.Get(ctx, "empty"); !ok || err != nil || len(got) != 0 {
		t.Fatalf("empty value: %q, %v, %v", got, ok, err)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, "k"); ok {
		t.Fatal("deleted key still there")
	}
	if err := s.Delete(ctx, "never-there"); err != nil {
		t.Fatalf("Delete(missing) = %v", err)
	}
	if err := s.Set(ctx, "neg", []byte("x"), -time.Second); !errors.Is(err, ErrNegativeTTL) {
		t.Fatalf("negative ttl: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Set(ctx, "k", nil, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
	if _, _, err := s.Get(ctx, "k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := s.Delete(ctx, "k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Delete after Close: %v", err)
	}
}

func TestMemoryTTL(t *testing.T) {
	clk := newFakeClock()
	m := newMemory(0, clk.Now, time.Hour)
	defer m.Close()
	ctx := context.Background()
	m.Set(ctx, "short", []byte("a"), 10*time.Second)
	m.Set(ctx, "long", []byte("b"), time.Hour)
	m.Set(ctx, "forever", []byte("c"), 0)

	clk.Advance(10*time.Second - time.Nanosecond)
	if _, ok, _ := m.Get(ctx, "short"); !ok {
		t.Fatal("entry gone before its ttl")
	}
	clk.Advance(time.Nanosecond)
	if _, ok, _ := m.Get(ctx, "short"); ok {
		t.Fatal("entry visible at its expiry")
	}
	if m.Len() != 2 {
		t.Fatalf("expired entry not removed when read: Len = %d", m.Len())
	}
	clk.Advance(100 * time.Hour)
	if _, ok, _ := m.Get(ctx, "long"); ok {
		t.Fatal("long entry visible after expiry")
	}
	if _, ok, _ := m.Get(ctx, "forever"); !ok {
		t.Fatal("ttl 0 entry expired")
	}
	// Overwriting resets the ttl.
	m.Set(ctx, "k", []byte("1"), time.Second)
	clk.Advance(900 * time.Millisecond)
	m.Set(ctx, "k", []byte("2"), time.Second)
	clk.Advance(900 * time.Millisecond)
	if v, ok, _ := m.Get(ctx, "k"); !ok || string(v) != "2" {
		t.Fatalf("overwritten entry: %q %v", v, ok)
	}
}

func TestMemoryPeriodicSweep(t *testing.T) {
	clk := newFakeClock()
	m := newMemory(0, clk.Now, 5*time.Millisecond)
	defer m.Close()
	ctx := context.Background()
	for i := range 100 {
		m.Set(ctx, fmt.Sprint(i), []byte("x"), time.Second)
	}
	m.Set(ctx, "keep", []byte("x"), 0)
	clk.Advance(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for m.Len() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("sweeper left %d entries, want 1", m.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMemoryBound(t *testing.T) {
	clk := newFakeClock()
	m := newMemory(3, clk.Now, time.Hour)
	defer m.Close()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if err := m.Set(ctx, k, []byte(k), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Set(ctx, "d", []byte("d"), time.Minute); !errors.Is(err, ErrFull) {
		t.Fatalf("Set beyond the bound = %v, want ErrFull", err)
	}
	// Overwriting an existing key is allowed when full.
	if err := m.Set(ctx, "a", []byte("a2"), time.Minute); err != nil {
		t.Fatalf("overwrite when full: %v", err)
	}
	// Live entries were not evicted.
	for _, k := range []string{"a", "b", "c"} {
		if _, ok, _ := m.Get(ctx, k); !ok {
			t.Fatalf("%s evicted", k)
		}
	}
	// Deleting makes room.
	m.Delete(ctx, "b")
	if err := m.Set(ctx, "d", []byte("d"), 2*time.Minute); err != nil {
		t.Fatalf("Set after Delete: %v", err)
	}
	// Expired entries make room (swept on the full Set, no Get needed).
	clk.Advance(time.Minute)
	if err := m.Set(ctx, "e", []byte("e"), time.Minute); err != nil {
		t.Fatalf("Set with expired entries to sweep: %v", err)
	}
	if m.Len() != 2 { // d and e
		t.Fatalf("Len = %d, want 2", m.Len())
	}
}

func TestMemoryConcurrent(t *testing.T) {
	m := newMemory(500, time.Now, time.Millisecond)
	defer m.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	var full atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := fmt.Sprintf("k%d", (g*7919+i)%1000)
				switch i % 4 {
				case 0, 1:
					if err := m.Set(ctx, k, []byte(k), time.Duration(i%5)*time.Millisecond); errors.Is(err, ErrFull) {
						full.Add(1)
					} else if err != nil {
						t.Error(err)
						return
					}
				case 2:
					if v, ok, err := m.Get(ctx, k); err != nil || (ok && string(v) != k) {
						t.Errorf("Get(%s) = %q, %v, %v", k, v, ok, err)
						return
					}
				case 3:
					m.Delete(ctx, k)
				}
			}
		}()
	}
	wg.Wait()
	if n := m.Len(); n > 500 {
		t.Fatalf("Len = %d beyond the bound", n)
	}
	t.Logf("ErrFull returned %d times", full.Load())
}

func TestMemoryCanceledContext(t *testing.T) {
	m := NewMemory(0)
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Set(ctx, "k", nil, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Set with canceled ctx: %v", err)
	}
}
