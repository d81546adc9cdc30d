// Package store is Floodgate's shared state layer: a small key-value store
// with per-key expiry, behind one interface with two backends.
//
//   - Memory (NewMemory) keeps the entries in this process. It is the
//     default: nothing to run, nothing to configure, and right for a single
//     Floodgate instance.
//   - Redis (NewRedis) keeps them in a Redis server, so that every Floodgate
//     instance pointed at the same server sees the same state at once: a
//     token revoked through one instance is refused by all of them.
//
// The token service (internal/policy/token) stores opaque tokens and revoked
// JWT ids here; later policies (rate limits, quotas, the response cache) are
// meant to build on the same interface, so that one "store:" setting moves
// all of Floodgate's shared state from memory to Redis.
//
// The interface is deliberately small — Set with a TTL, Get, Delete — so
// that any backend can implement it with single atomic commands and no
// transactions. Keys are opaque strings; callers namespace them with a
// prefix of their own ("tok:", "jti:", ...), and a Redis backend adds its
// KeyPrefix in front of that to share a server with other applications.
//
// Why github.com/redis/go-redis/v9: it is the Redis project's own, maintained
// Go client; it pools connections, supports TLS, ACL users (AUTH username
// password), RESP3, timeouts per dial and read, and context cancellation,
// and it has no dependencies beyond the standard library worth mentioning.
// The few commands used here (SET PX, GET, DEL, PING) exist in every Redis
// version in use and in its forks (Valkey, KeyDB, Dragonfly).
package store

import (
	"context"
	"errors"
	"time"
)

// Store is a key-value store with per-key expiry. Implementations are safe
// for concurrent use.
type Store interface {
	// Set stores value under key. A ttl > 0 makes the entry expire after
	// ttl; ttl == 0 keeps it until it is deleted; a negative ttl is an
	// error. The store keeps its own copy of value.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Get returns the value stored under key and true, or false when
	// there is none (never stored, deleted or expired). The returned
	// slice belongs to the caller.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Close releases the store's resources (connections, background
	// goroutines). Calls after Close return ErrClosed.
	Close() error
}

// Errors returned by the stores.
var (
	// ErrClosed is returned by calls on a closed store.
	ErrClosed = errors.New("store: closed")
	// ErrFull is returned by Memory.Set when the store holds its maximum
	// number of live entries. Live entries are never evicted to make room:
	// they may be security state (a revoked token id) whose loss would
	// silently undo a decision.
	ErrFull = errors.New("store: full")
	// ErrNegativeTTL is returned by Set for a negative ttl.
	ErrNegativeTTL = errors.New("store: negative ttl")
)
