// Package reqctx carries the per-request state that the gateway's layers
// share (request ID, matched route and its parameters, chosen upstream
// target, error kind) without allocating a context value per request.
//
// On HTTP/1.1 connections served by internal/http1 a State lives in the
// connection's context and is reset for each request (requests on one
// connection are sequential). On HTTP/2, where streams of one connection run
// concurrently, the gateway allocates a State per request. Either way,
// From(r.Context()) returns the request's State.
package reqctx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/floodgate/floodgate/internal/route"
)

type ctxKey struct{}

// State is the gateway's per-request bookkeeping. Strings in it may point
// into request memory (see internal/http1): valid until the request ends.
type State struct {
	// Shared marks a State owned by an HTTP/1.1 connection and reused for
	// each of its requests. A State without it belongs to one request.
	Shared    bool
	RequestID string
	Start     time.Time
	Listener  string
	RouteName string
	Match     route.Match
	Upstream  string
	Target    string // host:port of the upstream instance that served it
	ErrKind   string // upstream error kind (connect, timeout, reset, ...), "" if none
	Consumer  string // authenticated caller (consumer name or token subject), "" if none
	idBuf     [idLen]byte
}

// Reset prepares a State for the next request. Fields are cleared one by
// one (not by assigning a zero State) so that the request path does not
// copy the parameter array, which keeps goroutine stacks small.
func (s *State) Reset(now time.Time) {
	s.RequestID = ""
	s.Start = now
	s.RouteName = ""
	s.Match.Route, s.Match.NParams = 0, 0
	s.Upstream, s.Target, s.ErrKind, s.Consumer = "", "", "", ""
}

// With returns ctx carrying s.
func With(ctx context.Context, s *State) context.Context { return context.WithValue(ctx, ctxKey{}, s) }

// From returns the State in ctx, or nil.
func From(ctx context.Context) *State {
	s, _ := ctx.Value(ctxKey{}).(*State)
	return s
}

// Request IDs are 32 hex characters: a random 64-bit prefix chosen at start
// (unique across replicas with overwhelming probability) and a 64-bit
// counter. Generating one is an atomic add and a hex encode — no syscall,
// no allocation.
const idLen = 32

var idPrefix = func() [8]byte {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return b
}()

var idCounter atomic.Uint64

// NewID writes a fresh request ID into s and sets s.RequestID to it.
func (s *State) NewID() {
	var raw [16]byte
	copy(raw[:8], idPrefix[:])
	n := idCounter.Add(1)
	for i := 0; i < 8; i++ {
		raw[15-i] = byte(n >> (8 * i))
	}
	hex.Encode(s.idBuf[:], raw[:])
	s.RequestID = unsafeString(s.idBuf[:])
}

// NewID returns a fresh request ID as an allocated string.
func NewID() string {
	var s State
	s.NewID()
	return string(s.idBuf[:])
}

// ValidID reports whether a client-supplied X-Request-ID may be propagated:
// 1-128 visible ASCII characters without quotes or backslashes (so that it
// is safe in logs and JSON).
func ValidID(v string) bool {
	if len(v) == 0 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
