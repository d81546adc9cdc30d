package jwt

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestJWKSRotation walks a key rotation against a real HTTP JWKS server.
func TestJWKSRotation(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwks(jwkOf(k.rsa, "old", "")))
	v := newVerifier(t, Config{Algorithms: []string{"RS256", "ES256"}, JWKSURLs: []string{srv.URL}, MinRefresh: time.Hour, Refresh: time.Hour})
	if err := v.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("Start fetched %d times", n)
	}
	oldTok := sign(t, "RS256", k.rsa, "old", std())
	oldClaims, err := v.Verify(oldTok, t0)
	if err != nil {
		t.Fatal(err)
	}

	// 1. The issuer publishes a new key and starts using it: the first token
	// with the new kid triggers one fetch, and is accepted.
	srv.set(jwks(jwkOf(k.rsa, "old", ""), jwkOf(k.p256, "new", "ES256")), 200)
	newTok := sign(t, "ES256", k.p256, "new", std())
	if _, err := v.Verify(newTok, t0); err != nil {
		t.Fatalf("token with the new kid: %v", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("after the new kid: %d fetches, want 2", n)
	}
	// The old key is unchanged: its cached token is still served as is.
	if c, err := v.Verify(oldTok, t0); err != nil || c != oldClaims {
		t.Fatalf("old token after adding a key: %v (same claims: %v)", err, c == oldClaims)
	}

	// 2. Random kids cannot make us hammer the JWKS server: within
	// MinRefresh no further fetch happens, whatever the number of tokens.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Verify(sign(t, "ES256", k.p256, "random-"+string(rune('a'+i%26))+strings.Repeat("x", i), std()), t0)
			if !errors.Is(err, ErrUnknownKey) {
				t.Errorf("random kid: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("random kids caused %d fetches", n-2)
	}

	// 3. A failing fetch keeps the last good set.
	srv.set([]byte("oops"), http.StatusInternalServerError)
	if err := v.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("Refresh with a failing server: %v", err)
	}
	srv.set([]byte(`{"keys":[]}`), 200)
	if err := v.Refresh(context.Background()); err == nil {
		t.Fatal("an empty set was accepted")
	}
	srv.set([]byte(`{"keys":[`+strings.Repeat(" ", MaxJWKSSize)+`]}`), 200)
	if err := v.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("an oversized set: %v", err)
	}
	for _, tok := range []string{oldTok, newTok} {
		if _, err := v.Verify(tok, t0); err != nil {
			t.Fatalf("after failed fetches: %v", err)
		}
	}
	newTok2 := sign(t, "ES256", k.p256, "new", with(std(), "sub", "2")) // not cached
	if _, err := v.Verify(newTok2, t0); err != nil {
		t.Fatalf("after failed fetches, uncached: %v", err)
	}

	// 4. The old key is removed: its tokens are refused, cached or not.
	srv.set(jwks(jwkOf(k.p256, "new", "ES256")), 200)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(oldTok, t0); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("cached token of a removed key: %v", err)
	}
	if _, err := v.Verify(sign(t, "RS256", k.rsa, "old", with(std(), "sub", "fresh")), t0); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("new token of a removed key: %v", err)
	}
	if _, err := v.Verify(newTok, t0); err != nil {
		t.Fatalf("token of the remaining key: %v", err)
	}

	// 5. The same kid with a new key (a reused kid): the old signature is
	// refused, the new one accepted.
	srv.set(jwks(jwkOf(k.p256b, "new", "ES256")), 200)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(newTok, t0); !errors.Is(err, ErrSignature) {
		t.Fatalf("cached token of a replaced key: %v", err)
	}
	if _, err := v.Verify(sign(t, "ES256", k.p256b, "new", std()), t0); err != nil {
		t.Fatal(err)
	}
}

// TestJWKSRateLimitedRefresh: after MinRefresh, an unknown kid may cause
// one more fetch.
func TestJWKSRateLimitedRefresh(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwks(jwkOf(k.rsa, "a", "")))
	v := newVerifier(t, Config{Algorithms: []string{"RS256"}, JWKSURLs: []string{srv.URL}, MinRefresh: 200 * time.Millisecond})
	// Not started: the first token fetches the set lazily.
	if _, err := v.Verify(sign(t, "RS256", k.rsa, "a", std()), t0); err != nil {
		t.Fatal(err)
	}
	srv.set(jwks(jwkOf(k.rsa, "a", ""), jwkOf(k.rsa2, "b", "")), 200)
	tb := sign(t, "RS256", k.rsa2, "b", std())
	if _, err := v.Verify(tb, t0); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("within MinRefresh: %v", err)
	}
	time.Sleep(250 * time.Millisecond)
	if _, err := v.Verify(tb, t0); err != nil {
		t.Fatalf("after MinRefresh: %v", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

// TestJWKSBackgroundRefresh: a removed key disappears by the periodic
// refresh alone; 304 Not Modified keeps the set.
func TestJWKSBackgroundRefresh(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwks(jwkOf(k.rsa, "a", ""), jwkOf(k.ed, "b", "")))
	srv.mu.Lock()
	srv.etag = `"v1"`
	srv.mu.Unlock()
	v := newVerifier(t, Config{Algorithms: []string{"RS256", "EdDSA"}, JWKSURLs: []string{srv.URL}, Refresh: 30 * time.Millisecond, MinRefresh: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.Start(ctx); err == nil {
		t.Fatal("second Start accepted")
	}
	ta := sign(t, "RS256", k.rsa, "a", std())
	tb := sign(t, "EdDSA", k.ed, "b", std())
	for _, tok := range []string{ta, tb} {
		if _, err := v.Verify(tok, t0); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return srv.hits.Load() >= 3 }) // 304s
	if _, err := v.Verify(tb, t0); err != nil {
		t.Fatalf("after 304s: %v", err)
	}
	srv.mu.Lock()
	srv.body, srv.etag = jwks(jwkOf(k.rsa, "a", "")), `"v2"`
	srv.mu.Unlock()
	waitFor(t, func() bool {
		_, err := v.Verify(tb, t0)
		return errors.Is(err, ErrUnknownKey)
	})
	if _, err := v.Verify(ta, t0); err != nil {
		t.Fatal(err)
	}
	// Close stops the refresh loop.
	v.Close()
	n := srv.hits.Load()
	time.Sleep(100 * time.Millisecond)
	if m := srv.hits.Load(); m != n {
		t.Fatalf("%d fetches after Close", m-n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestJWKSStartFailure: Start reports the failure, keeps retrying in the
// background, and picks the set up once the server works.
func TestJWKSStartFailure(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, nil)
	srv.set([]byte("down"), http.StatusServiceUnavailable)
	v := newVerifier(t, Config{Algorithms: []string{"RS256"}, JWKSURLs: []string{srv.URL + "/jwks?x=1"}, MinRefresh: time.Hour})
	err := v.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), srv.URL+"/jwks") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Start: %v", err)
	}
	tok := sign(t, "RS256", k.rsa, "a", std())
	if _, err := v.Verify(tok, t0); !errors.Is(err, ErrUnknownKey) {
		t.Fatal(err)
	}
	srv.set(jwks(jwkOf(k.rsa, "a", "")), 200)
	waitFor(t, func() bool { _, err := v.Verify(tok, t0); return err == nil }) // retry after ~1 s
}

// TestJWKSKeyFiltering: only signature keys are used; symmetric keys from
// a URL are refused (anyone who can read the JWKS could forge tokens);
// invalid keys are skipped without losing the others.
func TestJWKSKeyFiltering(t *testing.T) {
	k := keys(t)
	oct := jwkOf(k.attackerSecret, "oct", "HS256")
	enc := with(jwkOf(k.rsa2, "enc", ""), "use", "enc")
	ops := with(jwkOf(k.p256b, "ops", ""), "key_ops", []string{"encrypt"})
	bad := map[string]any{"kty": "EC", "crv": "P-256", "kid": "bad", "x": b64u(make([]byte, 32)), "y": b64u(make([]byte, 32))} // not on the curve
	unknown := map[string]any{"kty": "OKP", "crv": "X25519", "kid": "x", "x": b64u(make([]byte, 32))}
	srv := newJWKSServer(t, jwks(oct, enc, ops, bad, unknown, jwkOf(k.rsa, "good", "RS256")))
	v := newVerifier(t, Config{Algorithms: []string{"RS256", "ES256", "HS256"}, JWKSURLs: []string{srv.URL}, Secrets: []Secret{{KID: "mine", Key: k.secret}}})
	if err := v.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		tok  string
		want error
	}{
		"HS256 with the URL's oct key": {sign(t, "HS256", k.attackerSecret, "oct", std()), ErrUnknownKey},
		"key with use=enc":             {sign(t, "RS256", k.rsa2, "enc", std()), ErrUnknownKey},
		"key_ops without verify":       {sign(t, "ES256", k.p256b, "ops", std()), ErrUnknownKey},
		"good key":                     {sign(t, "RS256", k.rsa, "good", std()), nil},
		"secret":                       {sign(t, "HS256", k.secret, "mine", std()), nil},
	} {
		_, err := v.Verify(c.tok, t0)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

// TestJWKSConcurrentNewKid: many requests with a just-published kid share
// one fetch and are all accepted.
func TestJWKSConcurrentNewKid(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwks(jwkOf(k.rsa, "a", "")))
	v := newVerifier(t, Config{Algorithms: []string{"RS256", "ES256"}, JWKSURLs: []string{srv.URL}, MinRefresh: time.Hour})
	if err := v.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.set(jwks(jwkOf(k.rsa, "a", ""), jwkOf(k.p256, "b", "")), 200)
	toks := make([]string, 20)
	for i := range toks {
		toks[i] = sign(t, "ES256", k.p256, "b", with(std(), "sub", string(rune('a'+i))))
	}
	var wg sync.WaitGroup
	for _, tok := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(tok, t0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}
