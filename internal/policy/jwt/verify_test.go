package jwt

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// TestHappyPaths verifies every algorithm with keys from every kind of
// source: JWK file, JWKS file, JWKS URL, PEM public key file and PEM
// certificate file.
func TestHappyPaths(t *testing.T) {
	k := keys(t)
	for _, alg := range allAlgs {
		priv := k.privFor(alg)
		type source struct {
			name string
			cfg  Config
			kid  string
		}
		var sources []source
		jwkCfg := Config{KeyFiles: []string{writeFile(t, "key.jwk", mustJSON(jwkOf(priv, "k1", "")))}}
		jwksFile := Config{KeyFiles: []string{writeFile(t, "keys.json", jwks(jwkOf(k.rsa2, "other", ""), jwkOf(priv, "k1", alg)))}}
		sources = append(sources, source{"jwk file", jwkCfg, "k1"}, source{"jwks file", jwksFile, "k1"})
		if alg[:2] == "HS" {
			sources = append(sources,
				source{"secret", Config{Secrets: []Secret{{Key: k.secret}}}, ""},
				source{"secret with kid", Config{Secrets: []Secret{{KID: "s0", Key: k.attackerSecret}, {KID: "s1", Key: k.secret}}}, "s1"})
		} else {
			srv := newJWKSServer(t, jwks(jwkOf(priv, "k1", ""), jwkOf(k.p256b, "k2", "")))
			sources = append(sources,
				source{"jwks url", Config{JWKSURLs: []string{srv.URL}}, "k1"},
				source{"pem file", Config{KeyFiles: []string{writeFile(t, "pub.pem", pemPublic(t, priv))}}, ""},
				source{"pem file, token with kid", Config{KeyFiles: []string{writeFile(t, "pub.pem", pemPublic(t, priv))}}, "anything"},
				source{"certificate file", Config{KeyFiles: []string{writeFile(t, "cert.pem", pemCert(t, priv))}}, ""})
		}
		if alg[:2] == "RS" || alg[:2] == "PS" {
			der := x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)
			sources = append(sources, source{"pkcs1 pem file", Config{KeyFiles: []string{writeFile(t, "rsa.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: der}))}}, ""})
		}
		for _, src := range sources {
			t.Run(alg+"/"+src.name, func(t *testing.T) {
				cfg := src.cfg
				cfg.Algorithms = []string{alg}
				cfg.Issuers = []string{"https://issuer.example"}
				cfg.Audiences = []string{"api"}
				cfg.RequireExp = true
				v := newVerifier(t, cfg)
				if err := v.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				claims := with(std(), "roles", []string{"reader"}, "n", uint64(12345678901234567890))
				tok := sign(t, alg, priv, src.kid, claims)
				c, err := v.Verify(tok, t0)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Subject != "user-1" || c.Issuer != "https://issuer.example" || len(c.Audience) != 1 || c.Audience[0] != "api" ||
					c.Algorithm != alg || c.KeyID != src.kid || !c.Expiry.Equal(t0.Add(time.Hour)) || !c.IssuedAt.Equal(t0.Add(-time.Minute)) ||
					!c.NotBefore.Equal(t0.Add(-time.Minute)) || !c.HasRole("reader") {
					t.Fatalf("claims: %+v", c)
				}
				if n, ok := c.Lookup("n"); !ok || n != "12345678901234567890" {
					t.Fatalf("big number claim: %q %v", n, ok)
				}
				// The same token again (a cache hit) gives the same claims.
				if c2, err := v.Verify(tok, t0); err != nil || c2 != c {
					t.Fatalf("second Verify: %v %p %p", err, c2, c)
				}
			})
		}
	}
}

// TestRFC7515Example verifies the HS256 example of RFC 7515 appendix A.1
// (its header has CRLF whitespace and a custom claim).
func TestRFC7515Example(t *testing.T) {
	const tok = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9" +
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ" +
		".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	jwk := []byte(`{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}`)
	v := newVerifier(t, Config{Algorithms: []string{"HS256"}, KeyFiles: []string{writeFile(t, "rfc.jwk", jwk)}, Issuers: []string{"joe"}, RequireExp: true})
	c, err := v.Verify(tok, time.Unix(1300819370, 0))
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := c.Lookup("http://example.com/is_root"); !ok || s != "true" {
		t.Fatalf("is_root: %q %v", s, ok)
	}
	if _, err := v.Verify(tok, time.Unix(1300819380+30, 0)); !errors.Is(err, ErrExpired) {
		t.Fatalf("after exp+leeway: %v", err)
	}
}

func replacePart(tok string, i int, s string) string {
	parts := strings.Split(tok, ".")
	parts[i] = s
	return strings.Join(parts, ".")
}

// TestAttacks: every token must be refused with the expected sentinel.
func TestAttacks(t *testing.T) {
	k := keys(t)
	rsaPEM := pemPublic(t, k.rsa)
	jwksFile := writeFile(t, "keys.json", jwks(jwkOf(k.rsa, "rsa1", ""), jwkOf(k.p256, "ec1", "ES256"), jwkOf(k.ed, "ed1", "")))
	base := Config{
		Algorithms: []string{"RS256", "PS256", "ES256", "EdDSA"},
		Issuers:    []string{"https://issuer.example"},
		Audiences:  []string{"api"},
		RequireExp: true,
		MaxAge:     24 * time.Hour,
		KeyFiles:   []string{jwksFile},
	}
	good := sign(t, "RS256", k.rsa, "rsa1", std())
	goodEC := sign(t, "ES256", k.p256, "ec1", std())
	hdrRS := `{"alg":"RS256","kid":"rsa1"}`
	payload := string(mustJSON(std()))
	tampered := replacePart(good, 1, b64u(mustJSON(with(std(), "sub", "admin"))))
	hsWithPEM := signRaw(t, "HS256", rsaPEM, `{"alg":"HS256","kid":"rsa1"}`, payload)
	hsWithPEMNoKid := signRaw(t, "HS256", rsaPEM, `{"alg":"HS256"}`, payload)

	cases := []struct {
		name  string
		cfg   func(*Config)
		token string
		want  error
	}{
		{"alg none, empty signature", nil, b64u([]byte(`{"alg":"none"}`)) + "." + b64u([]byte(payload)) + ".", ErrAlgorithm},
		{"alg none, with signature", nil, b64u([]byte(`{"alg":"none","kid":"rsa1"}`)) + "." + b64u([]byte(payload)) + "." + b64u([]byte("x")), ErrAlgorithm},
		{"alg None", nil, b64u([]byte(`{"alg":"None"}`)) + "." + b64u([]byte(payload)) + ".", ErrAlgorithm},
		{"alg NONE", nil, b64u([]byte(`{"alg":"NONE"}`)) + "." + b64u([]byte(payload)) + ".", ErrAlgorithm},
		{"empty signature", nil, replacePart(good, 2, ""), ErrSignature},
		{"HS256 signed with the RSA public key PEM (HS not allowed)", nil, hsWithPEM, ErrAlgorithm},
		{"HS256 signed with the RSA public key PEM, kid of the RSA key (HS allowed)", func(c *Config) {
			c.Algorithms = append(c.Algorithms, "HS256")
			c.Secrets = []Secret{{KID: "hs", Key: k.secret}}
		}, hsWithPEM, ErrAlgorithm},
		{"HS256 signed with the RSA public key PEM, no kid (HS allowed)", func(c *Config) {
			c.Algorithms = append(c.Algorithms, "HS256")
			c.Secrets = []Secret{{Key: k.secret}}
		}, hsWithPEMNoKid, ErrSignature},
		{"RS256 token, route [HS256] with the RSA public key as secret", func(c *Config) {
			c.Algorithms = []string{"HS256"}
			c.KeyFiles = nil
			c.Secrets = []Secret{{Key: rsaPEM}}
		}, sign(t, "RS256", k.rsa, "", std()), ErrAlgorithm},
		{"ES256 token on an RS256-only route", func(c *Config) { c.Algorithms = []string{"RS256"} }, goodEC, ErrAlgorithm},
		{"alg in lower case", nil, signRaw(t, "RS256", k.rsa, `{"alg":"rs256","kid":"rsa1"}`, payload), ErrAlgorithm},
		{"alg with different case", nil, signRaw(t, "RS256", k.rsa, `{"alg":"Rs256","kid":"rsa1"}`, payload), ErrAlgorithm},
		{"ALG member name in upper case", nil, signRaw(t, "RS256", k.rsa, `{"ALG":"RS256","kid":"rsa1"}`, payload), ErrMalformed},
		{"unknown alg", nil, signRaw(t, "RS256", k.rsa, `{"alg":"RS1024"}`, payload), ErrAlgorithm},
		{"alg is a number", nil, signRaw(t, "RS256", k.rsa, `{"alg":256}`, payload), ErrMalformed},
		{"no alg", nil, signRaw(t, "RS256", k.rsa, `{"kid":"rsa1"}`, payload), ErrMalformed},
		{"duplicate alg", nil, signRaw(t, "RS256", k.rsa, `{"alg":"RS256","alg":"HS256","kid":"rsa1"}`, payload), ErrMalformed},
		{"crit header", nil, signRaw(t, "RS256", k.rsa, `{"alg":"RS256","kid":"rsa1","crit":["exp"],"exp":1}`, payload), ErrMalformed},
		{"b64 false with crit", nil, signRaw(t, "RS256", k.rsa, `{"alg":"RS256","kid":"rsa1","b64":false,"crit":["b64"]}`, payload), ErrMalformed},
		{"embedded attacker jwk is ignored", nil, signRaw(t, "RS256", k.attackerRSA,
			`{"alg":"RS256","kid":"attacker","jwk":`+string(mustJSON(jwkOf(k.attackerRSA, "attacker", "")))+`}`, payload), ErrUnknownKey},
		{"jku header is ignored", nil, signRaw(t, "RS256", k.attackerRSA, `{"alg":"RS256","kid":"x","jku":"http://127.0.0.1:1/keys"}`, payload), ErrUnknownKey},
		{"signed by another RSA key with a known kid", nil, sign(t, "RS256", k.attackerRSA, "rsa1", std()), ErrSignature},
		{"signed by another RSA key without kid", nil, sign(t, "RS256", k.attackerRSA, "", std()), ErrSignature},
		{"tampered payload", nil, tampered, ErrSignature},
		{"tampered header", nil, replacePart(good, 0, b64u([]byte(`{"alg":"RS256","kid":"rsa1","x":1}`))), ErrSignature},
		{"signature of another token", nil, replacePart(good, 2, strings.Split(sign(t, "RS256", k.rsa, "rsa1", with(std(), "sub", "x")), ".")[2]), ErrSignature},
		{"truncated signature", nil, replacePart(good, 2, b64u(signBytes(t, "RS256", k.rsa, []byte("x"))[:200])), ErrSignature},
		{"signature one byte longer", nil, replacePart(good, 2, b64u(append(signBytes(t, "RS256", k.rsa, []byte(good[:strings.LastIndexByte(good, '.')])), 0))), ErrSignature},
		{"ECDSA zero signature (CVE-2022-21449)", nil, replacePart(goodEC, 2, b64u(make([]byte, 64))), ErrSignature},
		{"ECDSA DER signature", nil, replacePart(goodEC, 2, b64u(append([]byte{0x30, 0x44, 0x02, 0x20}, make([]byte, 66)...))), ErrSignature},
		{"ES256 signed with P-256 key claiming ES384", func(c *Config) {
			c.Algorithms = append(c.Algorithms, "ES384")
			c.KeyFiles = append(c.KeyFiles, writeFile(t, "p384.json", jwks(jwkOf(k.p384, "ec384", ""))))
		},
			signRaw(t, "ES256", k.p256, `{"alg":"ES384","kid":"ec1"}`, payload), ErrAlgorithm},
		{"PS256 with a key restricted to ES256", nil, signRaw(t, "PS256", k.rsa, `{"alg":"PS256","kid":"ec1"}`, payload), ErrAlgorithm},
		{"EdDSA token by another Ed25519 key", nil, sign(t, "EdDSA", k.attackerEd, "ed1", std()), ErrSignature},
		{"unknown kid", nil, sign(t, "RS256", k.rsa, "nope", std()), ErrUnknownKey},
		{"kid path traversal", nil, sign(t, "RS256", k.rsa, "../../etc/passwd", std()), ErrUnknownKey},
		{"kid path traversal, any-kid PEM key", func(c *Config) { c.KeyFiles = append(c.KeyFiles, writeFile(t, "p.pem", pemPublic(t, k.attackerRSA))) },
			sign(t, "RS256", k.rsa, "../../etc/passwd", std()), ErrSignature},
		{"kid is a number", nil, signRaw(t, "RS256", k.rsa, `{"alg":"RS256","kid":1}`, payload), ErrMalformed},
		{"expired", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "exp", t0.Add(-time.Hour).Unix())), ErrExpired},
		{"not yet valid", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "nbf", t0.Add(time.Hour).Unix())), ErrNotYetValid},
		{"issued in the future", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "iat", t0.Add(time.Hour).Unix())), ErrIssuedAt},
		{"older than MaxAge", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "iat", t0.Add(-25*time.Hour).Unix())), ErrIssuedAt},
		{"no iat with MaxAge", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "iat", nil)), ErrMissingClaim},
		{"no exp", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "exp", nil)), ErrMissingClaim},
		{"exp as string", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "exp", "1900000000")), ErrMalformed},
		{"exp as bool", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "exp", true)), ErrMalformed},
		{"exp huge", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "exp", 1e300)), ErrMalformed},
		{"nbf as string", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "nbf", "0")), ErrMalformed},
		{"wrong iss", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "iss", "https://evil.example")), ErrIssuer},
		{"iss with different case", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "iss", "https://ISSUER.example")), ErrIssuer},
		{"no iss", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "iss", nil)), ErrMissingClaim},
		{"iss not a string", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "iss", []string{"https://issuer.example"})), ErrMalformed},
		{"wrong aud", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "aud", "other")), ErrAudience},
		{"aud array without match", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "aud", []string{"a", "b"})), ErrAudience},
		{"aud empty array", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "aud", []string{})), ErrAudience},
		{"aud array with a number", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "aud", []any{"api", 1})), ErrMalformed},
		{"no aud", nil, sign(t, "RS256", k.rsa, "rsa1", with(std(), "aud", nil)), ErrMissingClaim},
		{"duplicate claim", nil, signRaw(t, "RS256", k.rsa, hdrRS, `{"sub":"a","sub":"admin","exp":1900000000,"iss":"https://issuer.example","aud":"api","iat":1799999999}`), ErrMalformed},
		{"payload not an object", nil, signRaw(t, "RS256", k.rsa, hdrRS, `["sub"]`), ErrMalformed},
		{"payload invalid JSON", nil, signRaw(t, "RS256", k.rsa, hdrRS, `{"sub":"a",}`), ErrMalformed},
		{"payload invalid UTF-8", nil, signRaw(t, "RS256", k.rsa, hdrRS, "{\"sub\":\"\xff\"}"), ErrMalformed},
		{"payload not base64url (signed)", nil, signInput(t, "RS256", k.rsa, b64u([]byte(hdrRS))+".e30="), ErrMalformed},
		{"payload not base64url (unsigned)", nil, b64u([]byte(hdrRS)) + ".e30=." + strings.Split(good, ".")[2], ErrSignature},
		{"empty token", nil, "", ErrMalformed},
		{"one part", nil, "abc", ErrMalformed},
		{"two parts", nil, good[:strings.LastIndexByte(good, '.')], ErrMalformed},
		{"four parts", nil, good + ".x", ErrMalformed},
		{"five parts (JWE)", nil, good + ".x.y", ErrMalformed},
		{"empty header", nil, replacePart(good, 0, ""), ErrMalformed},
		{"empty payload", nil, replacePart(good, 1, ""), ErrMalformed},
		{"header not base64url", nil, replacePart(good, 0, "eyJhbGciOiJSUzI1NiJ9+/"), ErrMalformed},
		{"header with padding", nil, replacePart(good, 0, b64u([]byte(hdrRS))+"=="), ErrMalformed},
		{"signature not base64url", nil, replacePart(good, 2, "!!!!"), ErrMalformed},
		{"header not JSON", nil, replacePart(good, 0, b64u([]byte("alg=RS256"))), ErrMalformed},
		{"header is an array", nil, replacePart(good, 0, b64u([]byte(`["alg","RS256"]`))), ErrMalformed},
		{"header trailing data", nil, replacePart(good, 0, b64u([]byte(hdrRS+"{}"))), ErrMalformed},
		{"huge header", nil, replacePart(good, 0, b64u([]byte(`{"alg":"RS256","x":"`+strings.Repeat("a", 10000)+`"}`))), ErrMalformed},
		{"header with many members", nil, replacePart(good, 0, b64u([]byte(`{"alg":"RS256"`+manyMembers(20)+`}`))), ErrMalformed},
		{"token too large", nil, good + strings.Repeat("A", DefaultMaxTokenSize), ErrMalformed},
		{"deeply nested header", nil, replacePart(good, 0, b64u([]byte(`{"alg":"RS256","x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`))), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			cfg.Algorithms = append([]string(nil), base.Algorithms...)
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			v := newVerifier(t, cfg)
			claims, err := v.Verify(c.token, t0)
			if err == nil {
				t.Fatalf("accepted: %+v", claims)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			checkSafeMessage(t, err, c.token)
			// Refused twice the same way (nothing was cached).
			if _, err2 := v.Verify(c.token, t0); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("second try: %v", err2)
			}
		})
	}
	// The good tokens pass with the same configuration.
	v := newVerifier(t, base)
	for _, tok := range []string{good, goodEC, sign(t, "EdDSA", k.ed, "ed1", std()), sign(t, "PS256", k.rsa, "", std())} {
		if _, err := v.Verify(tok, t0); err != nil {
			t.Fatalf("good token refused: %v", err)
		}
	}
}

func manyMembers(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(`,"m`)
		b.WriteByte(byte('a' + i%26))
		b.WriteByte(byte('a' + i/26))
		b.WriteString(`":1`)
	}
	return b.String()
}

// checkSafeMessage: the error text can go into a quoted WWW-Authenticate
// parameter and reveals nothing of the token.
func checkSafeMessage(t *testing.T, err error, token string) {
	t.Helper()
	msg := Description(err)
	if msg != err.Error() {
		t.Fatalf("Description %q != Error %q", msg, err.Error())
	}
	for _, c := range []byte(msg) {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t.Fatalf("unsafe character %q in %q", c, msg)
		}
	}
	if len(msg) > 120 {
		t.Fatalf("message too long: %q", msg)
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 8 && strings.Contains(msg, part) {
			t.Fatalf("message %q contains token content", msg)
		}
	}
	if strings.Contains(msg, "/") {
		t.Fatalf("message %q contains a slash", msg)
	}
}

func TestUnknownKidMessageIsSanitised(t *testing.T) {
	k := keys(t)
	v := newVerifier(t, Config{Algorithms: []string{"RS256"}, KeyFiles: []string{writeFile(t, "k.json", jwks(jwkOf(k.rsa, "a", "")))}})
	_, err := v.Verify(sign(t, "RS256", k.rsa, `../../etc/passwd"; x=<script>`+strings.Repeat("z", 100), std()), t0)
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatal(err)
	}
	if got, want := err.Error(), "unknown signing key: kid .._.._etc_passwd___x__sc..."; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if Description(errors.New(`secret "x"`)) != "invalid token" {
		t.Fatal("Description of a foreign error")
	}
}

func TestLeewayBoundaries(t *testing.T) {
	k := keys(t)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	cases := []struct {
		name   string
		leeway time.Duration
		claims map[string]any
		now    time.Time
		want   error // nil = accepted
	}{
		{"exp: default leeway, 29s after", 0, map[string]any{"exp": t0.Unix()}, at(29 * time.Second), nil},
		{"exp: default leeway, 29.999s after", 0, map[string]any{"exp": t0.Unix()}, at(30*time.Second - time.Millisecond), nil},
		{"exp: default leeway, 30s after", 0, map[string]any{"exp": t0.Unix()}, at(30 * time.Second), ErrExpired},
		{"exp: leeway 5s, 4s after", 5 * time.Second, map[string]any{"exp": t0.Unix()}, at(4 * time.Second), nil},
		{"exp: leeway 5s, 5s after", 5 * time.Second, map[string]any{"exp": t0.Unix()}, at(5 * time.Second), ErrExpired},
		{"exp: no leeway, 1ns before", -1, map[string]any{"exp": t0.Unix()}, at(-time.Nanosecond), nil},
		{"exp: no leeway, at exp", -1, map[string]any{"exp": t0.Unix()}, t0, ErrExpired},
		{"exp: fractional", -1, map[string]any{"exp": json_("1800000000.5")}, at(400 * time.Millisecond), nil},
		{"exp: fractional, after", -1, map[string]any{"exp": json_("1800000000.5")}, at(600 * time.Millisecond), ErrExpired},
		{"nbf: default leeway, 30s before", 0, map[string]any{"exp": t0.Unix() + 100, "nbf": t0.Unix()}, at(-30 * time.Second), nil},
		{"nbf: default leeway, 31s before", 0, map[string]any{"exp": t0.Unix() + 100, "nbf": t0.Unix()}, at(-31 * time.Second), ErrNotYetValid},
		{"nbf: no leeway, at nbf", -1, map[string]any{"exp": t0.Unix() + 100, "nbf": t0.Unix()}, t0, nil},
		{"nbf: no leeway, 1ns before", -1, map[string]any{"exp": t0.Unix() + 100, "nbf": t0.Unix()}, at(-time.Nanosecond), ErrNotYetValid},
		{"iat: default leeway, 30s in the future", 0, map[string]any{"exp": t0.Unix() + 100, "iat": t0.Unix()}, at(-30 * time.Second), nil},
		{"iat: default leeway, 31s in the future", 0, map[string]any{"exp": t0.Unix() + 100, "iat": t0.Unix()}, at(-31 * time.Second), ErrIssuedAt},
		{"exp 0", 0, map[string]any{"exp": 0}, t0, ErrExpired},
		{"negative exp", 0, map[string]any{"exp": -5}, t0, ErrExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := newVerifier(t, Config{Algorithms: []string{"HS256"}, Secrets: []Secret{{Key: k.secret}}, Leeway: c.leeway, RequireExp: true})
			_, err := v.Verify(sign(t, "HS256", k.secret, "", c.claims), c.now)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// MaxAge boundaries (leeway 10s): iat + MaxAge + leeway is the last
	// accepted instant.
	v := newVerifier(t, Config{Algorithms: []string{"HS256"}, Secrets: []Secret{{Key: k.secret}}, Leeway: 10 * time.Second, MaxAge: time.Minute})
	tok := sign(t, "HS256", k.secret, "", map[string]any{"iat": t0.Unix()})
	if _, err := v.Verify(tok, at(70*time.Second)); err != nil {
		t.Fatalf("at MaxAge+leeway: %v", err)
	}
	if _, err := v.Verify(tok, at(70*time.Second+time.Nanosecond)); !errors.Is(err, ErrIssuedAt) {
		t.Fatalf("after MaxAge+leeway: %v", err)
	}
}

type json_ string

func (j json_) MarshalJSON() ([]byte, error) { return []byte(j), nil }

func TestNewErrors(t *testing.T) {
	k := keys(t)
	pemFile := writeFile(t, "pub.pem", pemPublic(t, k.rsa))
	privDER, _ := x509.MarshalPKCS8PrivateKey(k.rsa)
	privFile := writeFile(t, "priv.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	garbage := writeFile(t, "garbage.txt", []byte("hello"))
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallFile := writeFile(t, "small.pem", pemPublic(t, small))
	badJWKS := writeFile(t, "bad.json", []byte(`{"keys":[{"kty":"RSA","kid":"x","n":"!!","e":"AQAB"}]}`))
	privJWK := writeFile(t, "priv.jwk", mustJSON(with(jwkOf(k.rsa, "p", ""), "d", b64u(k.rsa.D.Bytes()))))
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no algorithms", Config{KeyFiles: []string{pemFile}}, "at least one algorithm"},
		{"none", Config{Algorithms: []string{"RS256", "none"}, KeyFiles: []string{pemFile}}, `"none" is never allowed`},
		{"unknown alg", Config{Algorithms: []string{"RS257"}, KeyFiles: []string{pemFile}}, `unknown algorithm "RS257"`},
		{"alg case", Config{Algorithms: []string{"rs256"}, KeyFiles: []string{pemFile}}, `did you mean "RS256"`},
		{"no key at all", Config{Algorithms: []string{"RS256"}}, "RS256 is allowed but no configured key"},
		{"HS without secret", Config{Algorithms: []string{"RS256", "HS256"}, KeyFiles: []string{pemFile}}, "HS256 is allowed but no configured key"},
		{"HS without secret but JWKS URL", Config{Algorithms: []string{"HS256"}, JWKSURLs: []string{"https://idp.example/jwks"}}, "HS256 is allowed but no configured key"},
		{"ES256 with only an RSA key", Config{Algorithms: []string{"RS256", "ES256"}, KeyFiles: []string{pemFile}}, "ES256 is allowed"},
		{"HS512 with a 32-byte secret", Config{Algorithms: []string{"HS512"}, Secrets: []Secret{{Key: k.secret[:32]}}}, "at least 64 bytes"},
		{"short secret", Config{Algorithms: []string{"HS256"}, Secrets: []Secret{{KID: "s", Key: []byte("password")}}}, "at least 32"},
		{"secrets without HS alg", Config{Algorithms: []string{"RS256"}, KeyFiles: []string{pemFile}, Secrets: []Secret{{Key: k.secret}}}, "no HS algorithm"},
		{"missing file", Config{Algorithms: []string{"RS256"}, KeyFiles: []string{"/nonexistent/key.pem"}}, "/nonexistent/key.pem"},
		{"private key file", Config{Algorithms: []string{"RS256"}, KeyFiles: []string{privFile}}, privFile + ": contains a private key"},
		{"garbage file", Config{Algorithms: []string{"RS256"}, KeyFiles: []string{garbage}}, garbage + ": neither PEM nor JWK"},
		{"1024-bit RSA", Config{Algorithms: []string{"RS256"}, KeyFiles: []string{smallFile}}, "at least 2048"},
		{"bad JWKS file", Config{Algorithms: []string{"RS256"}, KeyFiles: []string{badJWKS}}, badJWKS + ": key #1"},
		{"private JWK", Config{Algorithms: []string{"RS256"}, KeyFiles: []string{privJWK}}, privJWK + ": key #1 (kid \"p\"): contains a private key"},
		{"bad URL", Config{Algorithms: []string{"RS256"}, JWKSURLs: []string{"file:///etc/jwks"}}, "absolute http(s) URL"},
		{"negative refresh", Config{Algorithms: []string{"RS256"}, KeyFiles: []string{pemFile}, Refresh: -1}, "negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.cfg, quiet)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func writeFileAt(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// signInput signs an already encoded signing input.
func signInput(t *testing.T, alg string, priv any, input string) string {
	return input + "." + b64u(signBytes(t, alg, priv, []byte(input)))
}

func TestReload(t *testing.T) {
	k := keys(t)
	path := writeFile(t, "keys.json", jwks(jwkOf(k.rsa, "a", ""), jwkOf(k.rsa2, "b", "")))
	v := newVerifier(t, Config{Algorithms: []string{"RS256"}, KeyFiles: []string{path}})
	ta, tb := sign(t, "RS256", k.rsa, "a", std()), sign(t, "RS256", k.rsa2, "b", std())
	ca, err := v.Verify(ta, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tb, t0); err != nil {
		t.Fatal(err)
	}
	// Key b is removed; a stays (and its cached token too).
	writeFileAt(t, path, jwks(jwkOf(k.rsa, "a", "")))
	if err := v.Reload(); err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(ta, t0); err != nil || c != ca {
		t.Fatalf("token a after reload: %v (cached: %v)", err, c == ca)
	}
	if _, err := v.Verify(tb, t0); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("token b after its key was removed: %v", err)
	}
	// A broken file keeps the previous keys.
	writeFileAt(t, path, []byte("{"))
	if err := v.Reload(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("reload of a broken file: %v", err)
	}
	if _, err := v.Verify(ta, t0); err != nil {
		t.Fatal(err)
	}
}

// TestCandidateLimit: a token without kid is checked against at most 8 keys.
func TestCandidateLimit(t *testing.T) {
	var secrets []Secret
	for i := range 10 {
		s := make([]byte, 32)
		s[0] = byte(i + 1)
		secrets = append(secrets, Secret{Key: s})
	}
	v := newVerifier(t, Config{Algorithms: []string{"HS256"}, Secrets: secrets})
	if _, err := v.Verify(sign(t, "HS256", secrets[7].Key, "", std()), t0); err != nil {
		t.Fatalf("8th key: %v", err)
	}
	if _, err := v.Verify(sign(t, "HS256", secrets[8].Key, "", std()), t0); !errors.Is(err, ErrSignature) {
		t.Fatalf("9th key: %v", err)
	}
}
