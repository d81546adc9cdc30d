package jwt

import (
	"encoding/base64"
	"strings"
	"sync"
	"testing"
)

// fuzzTarget is one verifier with keys of every type, and the signing
// inputs (header.payload) of the genuine tokens.
var (
	fuzzOnce     sync.Once
	fuzzVerifier [2]*Verifier // cache off, cache on
	fuzzGenuine  map[string]bool
	fuzzSeeds    []string
)

func setupFuzz(f *testing.F) {
	k := keys(f)
	fuzzOnce.Do(func() {
		var jwkList []map[string]any
		fuzzGenuine = map[string]bool{}
		for i, alg := range allAlgs {
			kid := "k" + alg
			jwkList = append(jwkList, jwkOf(k.privFor(alg), kid, alg))
			for _, claims := range []map[string]any{std(), with(std(), "roles", []string{"a", "b"}, "org", map[string]any{"id": 1})} {
				tok := sign(f, alg, k.privFor(alg), kid, claims)
				if i%2 == 0 {
					tok = sign(f, alg, k.privFor(alg), "", claims) // no kid: try-all path
				}
				fuzzSeeds = append(fuzzSeeds, tok)
				fuzzGenuine[tok[:strings.LastIndexByte(tok, '.')]] = true
			}
		}
		file := writeFile(f, "fuzz.json", jwks(jwkList...))
		pem := writeFile(f, "fuzz.pem", pemPublic(f, k.attackerRSA))
		for i, size := range []int{-1, 64} {
			v, err := New(Config{Algorithms: allAlgs, KeyFiles: []string{file, pem}, Issuers: []string{"https://issuer.example"}, Audiences: []string{"api"}, RequireExp: true, CacheSize: size}, quiet)
			if err != nil {
				panic(err)
			}
			fuzzVerifier[i] = v
		}
	})
	// The corpus reaches the signature-valid paths.
	for _, tok := range fuzzSeeds {
		for _, v := range fuzzVerifier {
			if _, err := v.Verify(tok, t0); err != nil {
				f.Fatalf("seed refused: %v", err)
			}
		}
	}
}

// FuzzVerify: random tokens never panic, and nothing but the genuine
// header.payload pairs is ever accepted (no forgery; ECDSA signatures are
// malleable, so the signature part itself may differ).
func FuzzVerify(f *testing.F) {
	setupFuzz(f)
	enc := base64.RawURLEncoding.EncodeToString
	for _, tok := range fuzzSeeds {
		f.Add(tok)
	}
	for _, s := range []string{
		"", ".", "..", "...", "a.b.c", "e30.e30.", enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(`{}`)) + ".",
		enc([]byte(`{"alg":"HS256","kid":"kRS256"}`)) + "." + enc([]byte(`{"sub":"x"}`)) + "." + enc(make([]byte, 32)),
		enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(`{}`)) + "." + enc(make([]byte, 64)),
		enc([]byte(`{"alg":"RS256","kid":"../../etc/passwd"}`)) + ".e30." + enc(make([]byte, 256)),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		for _, v := range fuzzVerifier {
			c, err := v.Verify(tok, t0)
			if err != nil {
				if c != nil {
					t.Fatal("claims with an error")
				}
				msg := Description(err)
				for _, ch := range []byte(msg) {
					if ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\' {
						t.Fatalf("unsafe message %q", msg)
					}
				}
				continue
			}
			if !fuzzGenuine[tok[:strings.LastIndexByte(tok, '.')]] {
				t.Fatalf("forged token accepted: %q", tok)
			}
			c.Lookup("org.id")
			c.Roles()
		}
	})
}
