package jwt

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestCacheHitIsAllocationFree(t *testing.T) {
	k := keys(t)
	v := newVerifier(t, Config{Algorithms: []string{"ES256"}, KeyFiles: []string{writeFile(t, "k.json", jwks(jwkOf(k.p256, "k", "")))}, RequireExp: true, Issuers: []string{"https://issuer.example"}, Audiences: []string{"api"}, MaxAge: time.Hour})
	tok := sign(t, "ES256", k.p256, "k", std())
	c, err := v.Verify(tok, t0)
	if err != nil {
		t.Fatal(err)
	}
	// A different string with the same content hits too.
	tok2 := string([]byte(tok))
	allocs := testing.AllocsPerRun(1000, func() {
		c2, err := v.Verify(tok2, t0)
		if err != nil || c2 != c {
			t.Fatal("miss")
		}
		if len(c2.Roles()) != 0 {
			t.Fatal("roles")
		}
		if s, ok := c2.Lookup("sub"); !ok || s != "user-1" {
			t.Fatal("lookup")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per cache hit", allocs)
	}
	// Refusals of the common kinds are allocation-free too.
	allocs = testing.AllocsPerRun(100, func() {
		if _, err := v.Verify(tok2, t0.Add(2*time.Hour)); !errors.Is(err, ErrExpired) {
			t.Fatal(err)
		}
		if _, err := v.Verify("a.b", t0); !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per refusal", allocs)
	}
}

// TestCacheRechecksTime: a cached token is refused once expired, before
// nbf, or too old, at the time given to Verify.
func TestCacheRechecksTime(t *testing.T) {
	k := keys(t)
	v := newVerifier(t, Config{Algorithms: []string{"HS256"}, Secrets: []Secret{{Key: k.secret}}, Leeway: -1, MaxAge: 90 * time.Minute})
	tok := sign(t, "HS256", k.secret, "", map[string]any{"exp": t0.Add(time.Hour).Unix(), "nbf": t0.Unix(), "iat": t0.Unix()})
	if _, err := v.Verify(tok, t0); err != nil {
		t.Fatal(err)
	}
	if v.cache.len() != 1 {
		t.Fatal("not cached")
	}
	for _, c := range []struct {
		now  time.Time
		want error
	}{
		{t0.Add(-time.Second), ErrNotYetValid},
		{t0.Add(time.Hour), ErrExpired},
		{t0.Add(30 * time.Minute), nil},
	} {
		if _, err := v.Verify(tok, c.now); c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("at %v: %v, want %v", c.now.Sub(t0), err, c.want)
		}
	}
	v2 := newVerifier(t, Config{Algorithms: []string{"HS256"}, Secrets: []Secret{{Key: k.secret}}, Leeway: -1, MaxAge: 10 * time.Minute})
	if _, err := v2.Verify(tok, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Verify(tok, t0.Add(11*time.Minute)); !errors.Is(err, ErrIssuedAt) {
		t.Fatalf("cached token past MaxAge: %v", err)
	}
}

func TestCacheBounded(t *testing.T) {
	k := keys(t)
	v := newVerifier(t, Config{Algorithms: []string{"HS256"}, Secrets: []Secret{{Key: k.secret}}, CacheSize: 16})
	toks := make([]string, 200)
	for i := range toks {
		toks[i] = sign(t, "HS256", k.secret, "", with(std(), "sub", strconv.Itoa(i)))
		if _, err := v.Verify(toks[i], t0); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n > 16 {
		t.Fatalf("cache holds %d entries, limit 16", n)
	}
	// Every token still verifies (hit or miss).
	for _, tok := range toks {
		if c, err := v.Verify(tok, t0); err != nil || c.Subject == "" {
			t.Fatal(err)
		}
	}
	// Expired entries are replaced first.
	v2 := newVerifier(t, Config{Algorithms: []string{"HS256"}, Secrets: []Secret{{Key: k.secret}}, CacheSize: 4, Leeway: -1})
	short := sign(t, "HS256", k.secret, "", map[string]any{"exp": t0.Add(time.Second).Unix()})
	if _, err := v2.Verify(short, t0); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := v2.Verify(sign(t, "HS256", k.secret, "", with(std(), "sub", strconv.Itoa(i))), t0); err != nil {
			t.Fatal(err)
		}
	}
	later := t0.Add(time.Minute)
	long := sign(t, "HS256", k.secret, "", with(std(), "sub", "new"))
	if _, err := v2.Verify(long, later); err != nil {
		t.Fatal(err)
	}
	if e := v2.cache.get(short); e != nil {
		t.Fatal("expired entry was not the victim")
	}
	if e := v2.cache.get(long); e == nil {
		t.Fatal("new entry not cached")
	}
}

func TestCacheOff(t *testing.T) {
	k := keys(t)
	v := newVerifier(t, Config{Algorithms: []string{"HS256"}, Secrets: []Secret{{Key: k.secret}}, CacheSize: -1})
	tok := sign(t, "HS256", k.secret, "", std())
	c1, err1 := v.Verify(tok, t0)
	c2, err2 := v.Verify(tok, t0)
	if err1 != nil || err2 != nil || c1 == c2 {
		t.Fatalf("%v %v %v", err1, err2, c1 == c2)
	}
}

// TestCacheConcurrent runs verifications, hits, evictions and key-set
// changes at the same time (for -race).
func TestCacheConcurrent(t *testing.T) {
	k := keys(t)
	path := writeFile(t, "k.json", jwks(jwkOf(k.secret, "a", "")))
	v := newVerifier(t, Config{Algorithms: []string{"HS256"}, KeyFiles: []string{path}, CacheSize: 32})
	toks := make([]string, 64)
	for i := range toks {
		toks[i] = sign(t, "HS256", k.secret, "a", with(std(), "sub", strconv.Itoa(i)))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				tok := toks[(i*7+g)%len(toks)]
				if c, err := v.Verify(tok, t0); err != nil || c.Subject == "" {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			if err := v.Reload(); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
}
