package token

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floodgate/floodgate/internal/store"
	"github.com/floodgate/floodgate/internal/store/storetest"
)

func newRedisStore(t *testing.T, addr string) *store.Redis {
	t.Helper()
	r, err := store.NewRedis(store.RedisOptions{Addr: addr, KeyPrefix: "floodgate:", DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Two Floodgate instances, each with its own Redis client, share one real
// redis-server: a token issued by A is valid on B, and revoked through B it
// is refused by A at once.
func TestOpaqueTokensSharedThroughRedis(t *testing.T) {
	addr := storetest.StartRedis(t)
	a := newEnv(t, Config{Kind: KindOpaque, Clients: testClients(), Store: newRedisStore(t, addr)})
	b := newEnv(t, Config{Kind: KindOpaque, Clients: testClients(), Store: newRedisStore(t, addr)})

	tok := issueCC(t, a, readerID, readerSecret, "orders:read")
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != 32 {
		t.Fatalf("opaque token %q is not 32 base64url bytes", tok)
	}
	idB, err := b.svc.Validate(bg(), tok)
	if err != nil {
		t.Fatalf("B refuses A's token: %v", err)
	}
	if idB.Subject != readerID || idB.ClientID != readerID || strings.Join(idB.Scopes, " ") != "orders:read" {
		t.Fatalf("identity on B: %+v", idB)
	}

	// The store holds the token's hash, not the token.
	sum := sha256.Sum256([]byte(tok))
	probe := newRedisStore(t, addr)
	val, ok, err := probe.Get(bg(), "tok:"+hex.EncodeToString(sum[:]))
	if err != nil || !ok {
		t.Fatalf("no tok:<sha256> entry: %v %v", ok, err)
	}
	if strings.Contains(string(val), tok) {
		t.Fatal("the store entry contains the token")
	}
	if _, ok, _ := probe.Get(bg(), "tok:"+tok); ok {
		t.Fatal("the token itself is a store key")
	}

	// Introspection on A: active.
	r := post(t, a.url(PathIntrospect), url.Values{"token": {tok}}, otherID, otherSecret)
	if r.status != http.StatusOK || r.body["active"] != true || r.str("sub") != readerID || r.str("client_id") != readerID ||
		r.str("scope") != "orders:read" || r.str("token_type") != "Bearer" || r.str("iss") != "https://floodgate.test" ||
		r.body["exp"] == nil || r.body["iat"] == nil {
		t.Fatalf("introspection: %d %s", r.status, r.raw)
	}

	// Revoked through B...
	r = post(t, b.url(PathRevoke), url.Values{"token": {tok}}, readerID, readerSecret)
	if r.status != http.StatusOK {
		t.Fatalf("revoke on B: %d %s", r.status, r.raw)
	}
	// ...refused by A at once (no polling: the very next call).
	if _, err := a.svc.Validate(bg(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("A still accepts the token revoked through B: %v", err)
	}
	r = post(t, a.url(PathIntrospect), url.Values{"token": {tok}}, otherID, otherSecret)
	if r.status != http.StatusOK || r.body["active"] != false || len(r.body) != 1 {
		t.Fatalf("introspection after revocation: %s", r.raw)
	}
	// Revoking again, or an unknown token: still 200.
	for _, tk := range []string{tok, "unknown-token", strings.Repeat("A", 43)} {
		if r := post(t, a.url(PathRevoke), url.Values{"token": {tk}}, readerID, readerSecret); r.status != http.StatusOK {
			t.Fatalf("revoke %q: %d", tk, r.status)
		}
	}
}

func TestOpaqueExpiryInRedis(t *testing.T) {
	addr := storetest.StartRedis(t)
	e := newEnv(t, Config{Kind: KindOpaque, TTL: time.Second, Clients: testClients(), Store: newRedisStore(t, addr)})
	r := post(t, e.url(PathToken), url.Values{"grant_type": {"client_credentials"}}, readerID, readerSecret)
	if r.status != http.StatusOK || r.body["expires_in"] != float64(1) {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	tok := r.str("access_token")
	if _, err := e.svc.Validate(bg(), tok); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := e.svc.Validate(bg(), tok)
		if errors.Is(err, ErrInvalidToken) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("token still valid 3s after a 1s TTL")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Redis dropped the entry itself (TTL), not just Validate's check.
	sum := sha256.Sum256([]byte(tok))
	if _, ok, _ := newRedisStore(t, addr).Get(bg(), "tok:"+hex.EncodeToString(sum[:])); ok {
		t.Fatal("expired token still in Redis")
	}
}

// JWT revocation is shared through Redis too: both instances use the same
// key file, A revokes, B refuses.
func TestJWTRevocationSharedThroughRedis(t *testing.T) {
	addr := storetest.StartRedis(t)
	key := writeKey(t, newECKey(t), "pkcs8")
	a := newEnv(t, Config{Clients: testClients(), SigningKeyFiles: []string{key}, Store: newRedisStore(t, addr)})
	b := newEnv(t, Config{Clients: testClients(), SigningKeyFiles: []string{key}, Store: newRedisStore(t, addr)})
	tok := issueCC(t, a, readerID, readerSecret, "")
	if _, err := b.svc.Validate(bg(), tok); err != nil {
		t.Fatal(err)
	}
	if r := post(t, a.url(PathRevoke), url.Values{"token": {tok}}, readerID, readerSecret); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if _, err := b.svc.Validate(bg(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("B accepts a JWT revoked through A: %v", err)
	}
}

// A store that fails makes Validate fail closed (ErrUnavailable) and the
// endpoints answer 503.
func TestStoreDownFailsClosed(t *testing.T) {
	addr := storetest.StartRedis(t)
	rs := newRedisStore(t, addr)
	e := newEnv(t, Config{Kind: KindOpaque, Clients: testClients(), Store: rs})
	tok := issueCC(t, e, readerID, readerSecret, "")
	rs.Close()
	if _, err := e.svc.Validate(bg(), tok); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Validate with the store down: %v", err)
	}
	wantOAuthError(t, post(t, e.url(PathToken), url.Values{"grant_type": {"client_credentials"}}, readerID, readerSecret),
		http.StatusServiceUnavailable, "temporarily_unavailable")
	wantOAuthError(t, post(t, e.url(PathRevoke), url.Values{"token": {tok}}, readerID, readerSecret),
		http.StatusServiceUnavailable, "temporarily_unavailable")
	wantOAuthError(t, post(t, e.url(PathIntrospect), url.Values{"token": {tok}}, readerID, readerSecret),
		http.StatusServiceUnavailable, "temporarily_unavailable")
}

func TestOpaqueMemoryConcurrent(t *testing.T) {
	e := newEnv(t, Config{Kind: KindOpaque, Clients: testClients()})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				tok := issueCC(t, e, readerID, readerSecret, "")
				if _, err := e.svc.Validate(bg(), tok); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestOpaqueExpiryWithClock(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Config{Kind: KindOpaque, TTL: time.Minute, Clients: testClients(), Now: clk.Now})
	tok := issueCC(t, e, readerID, readerSecret, "")
	clk.Advance(59 * time.Second)
	if _, err := e.svc.Validate(bg(), tok); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if _, err := e.svc.Validate(bg(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired opaque token: %v", err)
	}
}
