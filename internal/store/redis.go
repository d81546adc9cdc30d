package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisOptions configures a Redis store. Only Addr is required.
type RedisOptions struct {
	// Addr is the server's host:port.
	Addr string
	// Username and Password authenticate the connections (AUTH; Username
	// only for Redis 6 ACL users). Never logged nor put in errors.
	Username string
	Password string
	// DB is the logical database number (SELECT).
	DB int
	// KeyPrefix is put in front of every key, so that Floodgate can share
	// a server with other applications ("floodgate:" for example). Every
	// instance that must share state needs the same prefix.
	KeyPrefix string
	// DialTimeout bounds connecting, and the Ping at NewRedis (default 5s).
	DialTimeout time.Duration
	// Lazy skips the Ping at NewRedis: the first command connects. A
	// gateway must start (and serve what does not need Redis) while Redis
	// is down; commands then fail until it is back.
	Lazy bool
	// ReadTimeout bounds waiting for a reply (default 3s).
	ReadTimeout time.Duration
	// PoolSize is the maximum number of connections (default 10 per CPU).
	PoolSize int
	// TLS, when set, connects with TLS using this configuration.
	TLS *tls.Config
}

// Redis is a Store kept in a Redis server, shared by every Floodgate
// instance that uses the same server, DB and KeyPrefix. Each operation is a
// single command (SET key value PX ttl, GET, DEL), so it is atomic on the
// server and visible to all instances as soon as it returns.
type Redis struct {
	client *redis.Client
	prefix string
	closed atomic.Bool
}

// NewRedis connects to the server described by opts and checks it with a
// PING, so that a wrong address, password or TLS setting is reported at
// start-up rather than on the first request.
func NewRedis(opts RedisOptions) (*Redis, error) {
	if opts.Addr == "" {
		return nil, errors.New("store: redis: no address")
	}
	dial := opts.DialTimeout
	if dial <= 0 {
		dial = 5 * time.Second
	}
	client := redis.NewClient(&redis.Options{
		Addr:        opts.Addr,
		Username:    opts.Username,
		Password:    opts.Password,
		DB:          opts.DB,
		DialTimeout: dial,
		ReadTimeout: opts.ReadTimeout,
		PoolSize:    opts.PoolSize,
		TLSConfig:   opts.TLS,
		// RESP2 and no CLIENT SETINFO / MAINT_NOTIFICATIONS handshake:
		// the commands used here need nothing newer, and this keeps any
		// Redis-compatible server (old versions, forks) working without
		// handshake errors in the logs.
		Protocol:                 2,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	if opts.Lazy {
		return &Redis{client: client, prefix: opts.KeyPrefix}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), dial)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("store: redis at %s: ping failed (check the address, credentials, DB and TLS settings): %w", opts.Addr, err)
	}
	return &Redis{client: client, prefix: opts.KeyPrefix}, nil
}

// Set implements Store.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		return ErrNegativeTTL
	}
	if r.closed.Load() {
		return ErrClosed
	}
	// Redis expiries are whole milliseconds: round up, so that a short
	// ttl never becomes "no expiry" or expires early.
	if rem := ttl % time.Millisecond; rem != 0 {
		ttl += time.Millisecond - rem
	}
	if err := r.client.Set(ctx, r.prefix+key, value, ttl).Err(); err != nil {
		return fmt.Errorf("store: redis set: %w", err)
	}
	return nil
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if r.closed.Load() {
		return nil, false, ErrClosed
	}
	v, err := r.client.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: redis get: %w", err)
	}
	return v, true, nil
}

// Delete implements Store.
func (r *Redis) Delete(ctx context.Context, key string) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if err := r.client.Del(ctx, r.prefix+key).Err(); err != nil {
		return fmt.Errorf("store: redis delete: %w", err)
	}
	return nil
}

// Close closes the connection pool. Calling Close again returns nil.
func (r *Redis) Close() error {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	return r.client.Close()
}

var _ Store = (*Redis)(nil)
