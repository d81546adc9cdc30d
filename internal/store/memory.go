package store

import (
	"context"
	"sync"
	"time"
)

// DefaultSweepInterval is how often a Memory store removes expired entries
// in the background (they are also removed lazily, when read, and when the
// store is full).
const DefaultSweepInterval = time.Minute

// Memory is an in-process Store bounded to a maximum number of entries.
//
// Expired entries are invisible at once (Get checks the expiry) and are
// removed lazily when read, in one sweep when a Set finds the store full,
// and periodically by a background goroutine that Close stops. When the
// store is still full after a sweep, Set returns ErrFull: live entries are
// never evicted (see ErrFull).
type Memory struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]memEntry
	closed  bool

	stop chan struct{}
	done chan struct{}
}

type memEntry struct {
	value   []byte
	expires time.Time // zero: never
}

// NewMemory returns a Memory store of at most maxEntries live entries
// (maxEntries <= 0 means no bound). It starts one background sweeper
// goroutine; Close stops it.
func NewMemory(maxEntries int) *Memory {
	return newMemory(maxEntries, time.Now, DefaultSweepInterval)
}

// newMemory is NewMemory with an injectable clock and sweep interval (for
// tests).
func newMemory(maxEntries int, now func() time.Time, sweepEvery time.Duration) *Memory {
	m := &Memory{
		max:     maxEntries,
		now:     now,
		entries: make(map[string]memEntry),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go m.sweeper(sweepEvery)
	return m
}

func (m *Memory) sweeper(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.mu.Lock()
			m.sweepLocked(m.now())
			m.mu.Unlock()
		}
	}
}

// sweepLocked deletes every entry expired at now. m.mu must be held.
func (m *Memory) sweepLocked(now time.Time) {
	for k, e := range m.entries {
		if e.expired(now) {
			delete(m.entries, k)
		}
	}
}

func (e memEntry) expired(now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

// Set implements Store.
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		return ErrNegativeTTL
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.now()
	e := memEntry{value: append([]byte(nil), value...)}
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if _, exists := m.entries[key]; !exists && m.max > 0 && len(m.entries) >= m.max {
		m.sweepLocked(now)
		if len(m.entries) >= m.max {
			return ErrFull
		}
	}
	m.entries[key] = e
	return nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, false, ErrClosed
	}
	e, ok := m.entries[key]
	if !ok {
		return nil, false, nil
	}
	if e.expired(now) {
		delete(m.entries, key)
		return nil, false, nil
	}
	return append([]byte(nil), e.value...), true, nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	delete(m.entries, key)
	return nil
}

// Len returns the number of entries held, expired ones not yet swept
// included.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Close stops the sweeper, waits for it to return and drops the entries.
// Calling Close again returns nil.
func (m *Memory) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.entries = nil
	m.mu.Unlock()
	close(m.stop)
	<-m.done
	return nil
}

var _ Store = (*Memory)(nil)
