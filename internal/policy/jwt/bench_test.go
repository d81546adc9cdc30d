package jwt

import (
	"strconv"
	"testing"
	"time"
)

// benchVerifier returns a verifier for alg (cache as given) and a token of
// realistic size (~ what an IdP issues: iss, sub, aud, exp, nbf, iat, jti,
// scope, roles, email, name).
func benchVerifier(b *testing.B, alg string, cacheSize int) (*Verifier, string) {
	k := keys(b)
	priv := k.privFor(alg)
	v := newVerifier(b, Config{
		Algorithms: []string{alg},
		KeyFiles:   []string{writeFile(b, "k.json", jwks(jwkOf(k.rsa2, "other", ""), jwkOf(priv, "k1", alg)))},
		Issuers:    []string{"https://issuer.example"},
		Audiences:  []string{"api"},
		RequireExp: true,
		MaxAge:     24 * time.Hour,
		CacheSize:  cacheSize,
	})
	claims := with(std(),
		"jti", "7d2c1a0e-5b3f-4b8e-9a61-0f1e2d3c4b5a",
		"scope", "openid profile email orders:read orders:write",
		"roles", []string{"customer", "beta"},
		"email", "jane.doe@example.com",
		"name", "Jane Doe",
		"realm_access", map[string]any{"roles": []string{"offline_access"}},
	)
	tok := sign(b, alg, priv, "k1", claims)
	if _, err := v.Verify(tok, t0); err != nil {
		b.Fatal(err)
	}
	return v, tok
}

func benchUncached(b *testing.B, alg string) {
	v, tok := benchVerifier(b, alg, -1)
	b.SetBytes(int64(len(tok)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// Full verification (cache off): parsing, signature, claims.
func BenchmarkVerifyRS256(b *testing.B) { benchUncached(b, "RS256") }
func BenchmarkVerifyPS256(b *testing.B) { benchUncached(b, "PS256") }
func BenchmarkVerifyES256(b *testing.B) { benchUncached(b, "ES256") }
func BenchmarkVerifyEdDSA(b *testing.B) { benchUncached(b, "EdDSA") }
func BenchmarkVerifyHS256(b *testing.B) { benchUncached(b, "HS256") }

// BenchmarkVerifyCached is the hit path: a token already verified (the
// usual case: clients reuse a token for its lifetime). 0 allocs/op.
func BenchmarkVerifyCached(b *testing.B) {
	v, tok := benchVerifier(b, "RS256", 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCachedParallel: all cores on the same token (one hot
// cache slot: lock-free reads, no shared writes).
func BenchmarkVerifyCachedParallel(b *testing.B) {
	v, tok := benchVerifier(b, "RS256", 0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(tok, t0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyCachedManyTokens: hits spread over 1000 tokens (memory
// traffic of a realistic working set).
func BenchmarkVerifyCachedManyTokens(b *testing.B) {
	k := keys(b)
	v, _ := benchVerifier(b, "HS256", 0)
	toks := make([]string, 1000)
	for i := range toks {
		toks[i] = sign(b, "HS256", k.secret, "k1", with(std(), "sub", "user-"+strconv.Itoa(i)))
		if _, err := v.Verify(toks[i], t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := v.Verify(toks[i%len(toks)], t0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRefuseGarbage: the cost of a junk token (no signature check).
func BenchmarkRefuseGarbage(b *testing.B) {
	v, tok := benchVerifier(b, "RS256", 0)
	bad := "x" + tok[1:]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(bad, t0); err == nil {
			b.Fatal("accepted")
		}
	}
}
